#!/usr/bin/env python3
"""Write the tiny random-weight GGUF models under tests/data/models/.

They cover model shapes that no shipped model has: GQA ratios 1, 2, 4 and 8, a separate
output.weight next to tied embeddings, the Qwen2 architecture (QKV bias, NeoX rope), and the
weight types F32, F16, BF16, Q8_0, Q4_0, Q4_K and Q6_K for the matmul weights.

Everything is deterministic: each model has its own numpy seed, and the tokenizer is a byte-level
BPE trained here on a fixed text, so re-running the script rewrites byte-identical files (for a
given version of the `gguf` package; the version used is printed and recorded by
make_model_goldens.py).

Weights are drawn so that the models are numerically "interesting": logits spread by a few units
(greedy picks are not near-ties everywhere), attention neither uniform nor one-hot. Q8_0, Q4_0 and
BF16 are quantized from float weights with gguf.quants.quantize; gguf has no quantizer for Q4_K
and Q6_K, so those blocks are random bytes with small, sane f16 super-block scales (see
random_q4_k / random_q6_k). F16 weights are plain numpy float16.

Usage: make_tiny_models.py [--out DIR]   (default: tests/data/models next to this repo)
"""

from __future__ import annotations

import argparse
import collections
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import gguf
from gguf import GGMLQuantizationType as QT

REPO_ROOT = Path(__file__).resolve().parents[2]

# ----------------------------------------------------------------------------------------------
# Tokenizer: GPT-2 style byte-level BPE.
# ----------------------------------------------------------------------------------------------

# Fixed training text for the merges. Any text would do; this one has common English pairs.
BPE_TRAINING_TEXT = (
    "the quick brown fox jumps over the lazy dog. the rain in spain stays mainly in the plain. "
    "in the beginning there was the word, and the word was with the people of the land. "
    "she sells sea shells on the sea shore; the shells that she sells are sea shells for sure. "
    "to be or not to be, that is the question. all that glitters is not gold. "
    "the cat sat on the mat and the dog sat on the log. then they went to the station together."
)

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|pad|>"]


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable unicode character map (a published fact of the format)."""
    printable = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
                 + list(range(ord("®"), ord("ÿ") + 1)))
    mapping = {}
    extra = 0
    for b in range(256):
        if b in printable:
            mapping[b] = chr(b)
        else:
            mapping[b] = chr(256 + extra)
            extra += 1
    return mapping


def train_bpe(text: str, n_merges: int) -> list[tuple[str, str]]:
    """Greedy byte-level BPE on `text` split at spaces (space attached to the following word,
    as the GPT-2 pre-tokenizer does). Ties are broken by the lexicographically smallest pair so
    the result is deterministic."""
    b2u = bytes_to_unicode()
    words: collections.Counter[tuple[str, ...]] = collections.Counter()
    pieces = text.split(" ")
    for i, w in enumerate(pieces):
        if not w:
            continue
        w = (" " + w) if i > 0 else w
        words[tuple(b2u[b] for b in w.encode("utf-8"))] += 1
    merges: list[tuple[str, str]] = []
    for _ in range(n_merges):
        pairs: collections.Counter[tuple[str, str]] = collections.Counter()
        for w, c in words.items():
            for a, b in zip(w, w[1:]):
                pairs[(a, b)] += c
        if not pairs:
            break
        best = min(pairs.items(), key=lambda kv: (-kv[1], kv[0]))[0]
        merges.append(best)
        new_words: collections.Counter[tuple[str, ...]] = collections.Counter()
        for w, c in words.items():
            out: list[str] = []
            i = 0
            while i < len(w):
                if i + 1 < len(w) and (w[i], w[i + 1]) == best:
                    out.append(w[i] + w[i + 1])
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            new_words[tuple(out)] += c
        words = new_words
    if len(merges) < n_merges:
        raise SystemExit(f"BPE training text too short for {n_merges} merges (got {len(merges)})")
    return merges


@dataclass
class Vocab:
    tokens: list[str]
    types: list[int]
    merges: list[str]
    bos_id: int
    eos_id: int
    pad_id: int
    im_start_id: int
    im_end_id: int


def make_vocab(n_vocab: int) -> Vocab:
    """Token ids: 0..255 the 256 bytes (in byte order, GPT-2 unicode form), then the merged
    tokens in merge order, then the special tokens."""
    n_merges = n_vocab - 256 - len(SPECIAL_TOKENS)
    assert n_merges > 0
    b2u = bytes_to_unicode()
    tokens = [b2u[b] for b in range(256)]
    merges = train_bpe(BPE_TRAINING_TEXT, n_merges)
    for a, b in merges:
        tokens.append(a + b)
    assert len(set(tokens)) == len(tokens), "duplicate token from BPE training"
    first_special = len(tokens)
    tokens += SPECIAL_TOKENS
    types = [int(gguf.TokenType.NORMAL)] * first_special + [int(gguf.TokenType.CONTROL)] * len(SPECIAL_TOKENS)
    assert len(tokens) == n_vocab
    return Vocab(tokens=tokens, types=types, merges=[f"{a} {b}" for a, b in merges],
                 bos_id=first_special, eos_id=first_special, im_start_id=first_special + 1,
                 im_end_id=first_special + 2, pad_id=first_special + 3)


CHAT_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] "
    "+ '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}"
    "{% endif %}"
)

# ----------------------------------------------------------------------------------------------
# Weights
# ----------------------------------------------------------------------------------------------

QK_K = 256


def random_q4_k(rows: int, cols: int, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Random Q4_K blocks whose dequantized values have mean ~0 and std ~sigma.

    Block (144 bytes): f16 d, f16 dmin, 12 bytes of packed 6-bit (scale, min) for 8 sub-blocks
    of 32, 128 bytes of 4-bit quants. Value = d*sc*q - dmin*m. We pick sc in [32, 63], the
    quants uniform in [0, 15] (mean 7.5, std ~4.6), and m so that dmin*m ~ d*sc*7.5."""
    assert cols % QK_K == 0
    nb = rows * cols // QK_K
    d = np.float16(sigma / (4.6 * 48.0))
    dmin = np.float16(float(d) * 8.0)
    sc = rng.integers(32, 64, size=(nb, 8), dtype=np.int64)
    m = np.clip(np.rint(sc * float(d) * 7.5 / float(dmin)), 0, 63).astype(np.int64)
    packed = np.zeros((nb, 12), dtype=np.uint8)
    for j in range(4):
        packed[:, j] = (sc[:, j] | ((sc[:, j + 4] >> 4) << 6)).astype(np.uint8)
        packed[:, 4 + j] = (m[:, j] | ((m[:, j + 4] >> 4) << 6)).astype(np.uint8)
        packed[:, 8 + j] = ((sc[:, j + 4] & 0xF) | ((m[:, j + 4] & 0xF) << 4)).astype(np.uint8)
    dd = np.full((nb, 1), d, dtype=np.float16).view(np.uint8)
    dm = np.full((nb, 1), dmin, dtype=np.float16).view(np.uint8)
    qs = rng.integers(0, 256, size=(nb, 128), dtype=np.uint8)
    blocks = np.concatenate([dd, dm, packed, qs], axis=1)
    assert blocks.shape[1] == 144
    out = blocks.reshape(rows, cols // QK_K * 144)
    # Self-check of the packing: the scales we meant are the ones gguf reads back.
    sc_back, m_back = gguf.quants.Q4_K.get_scale_min(packed)
    assert np.array_equal(sc_back, sc) and np.array_equal(m_back, m)
    return out


def random_q6_k(rows: int, cols: int, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Random Q6_K blocks with dequantized std ~sigma.

    Block (210 bytes): 128 bytes low 4 bits, 64 bytes high 2 bits, 16 int8 scales (one per 16
    values), f16 d. Value = d*scale*(q-32) with q uniform in [0, 63] (std of q-32 ~18.5); scales
    have random sign and magnitude in [16, 63]."""
    assert cols % QK_K == 0
    nb = rows * cols // QK_K
    ql = rng.integers(0, 256, size=(nb, 128), dtype=np.uint8)
    qh = rng.integers(0, 256, size=(nb, 64), dtype=np.uint8)
    mag = rng.integers(16, 64, size=(nb, 16))
    sign = rng.choice(np.array([-1, 1]), size=(nb, 16))
    scales = (mag * sign).astype(np.int8).view(np.uint8)
    d = np.float16(sigma / (18.5 * 42.0))
    dd = np.full((nb, 1), d, dtype=np.float16).view(np.uint8)
    blocks = np.concatenate([ql, qh, scales, dd], axis=1)
    assert blocks.shape[1] == 210
    return blocks.reshape(rows, cols // QK_K * 210)


def encode(w: np.ndarray, qtype: QT, sigma: float, rng: np.random.Generator) -> tuple[np.ndarray, QT]:
    """Return (array, ggml type) ready for GGUFWriter.add_tensor(raw_dtype=...).
    `w` is the float32 weight (rows = output features, cols = input features) and is used by
    every type except the K-quants, which get fresh random blocks of the same std instead."""
    rows, cols = w.shape
    if qtype == QT.F32:
        return w.astype(np.float32), QT.F32
    if qtype == QT.F16:
        return w.astype(np.float16), QT.F16
    if qtype in (QT.BF16, QT.Q8_0, QT.Q4_0):
        return gguf.quants.quantize(w.astype(np.float32), qtype), qtype
    if qtype == QT.Q4_K:
        return random_q4_k(rows, cols, sigma, rng), qtype
    if qtype == QT.Q6_K:
        return random_q6_k(rows, cols, sigma, rng), qtype
    raise ValueError(f"unsupported type {qtype!r}")


# llama_ftype values (llama.h) for general.file_type.
FILE_TYPE = {QT.F32: 0, QT.F16: 1, QT.Q4_0: 2, QT.Q8_0: 7, QT.Q4_K: 15, QT.Q6_K: 18, QT.BF16: 32}


@dataclass
class TinySpec:
    name: str
    arch: str                 # "llama" or "qwen2"
    wtype: QT                 # type of the attention / FFN matmul weights
    embd_type: QT             # type of token_embd.weight (and of output.weight when tied)
    n_embd: int
    n_head: int
    n_head_kv: int
    n_ff: int
    n_vocab: int
    seed: int
    n_layer: int = 2
    n_ctx: int = 256
    rope_base: float = 10000.0
    rms_eps: float = 1e-5
    output_type: QT | None = None   # set -> separate output.weight of this type; None -> tied
    qkv_bias: bool = False
    add_bos: bool = True
    extra: dict = field(default_factory=dict)

    @property
    def head_dim(self) -> int:
        return self.n_embd // self.n_head


SPECS = [
    TinySpec("tiny-llama-f32-gqa1", "llama", QT.F32, QT.F32, n_embd=64, n_head=4, n_head_kv=4,
             n_ff=128, n_vocab=301, seed=1001),
    TinySpec("tiny-llama-f16-gqa4", "llama", QT.F16, QT.F16, n_embd=64, n_head=4, n_head_kv=1,
             n_ff=128, n_vocab=320, seed=1002, rope_base=100000.0),
    TinySpec("tiny-llama-bf16-gqa8", "llama", QT.BF16, QT.BF16, n_embd=128, n_head=8, n_head_kv=1,
             n_ff=128, n_vocab=320, seed=1003, rms_eps=1e-6),
    TinySpec("tiny-llama-q8_0-gqa2", "llama", QT.Q8_0, QT.Q8_0, n_embd=64, n_head=2, n_head_kv=1,
             n_ff=128, n_vocab=320, seed=1004),
    TinySpec("tiny-llama-q4_0-gqa2", "llama", QT.Q4_0, QT.Q4_0, n_embd=64, n_head=4, n_head_kv=2,
             n_ff=160, n_vocab=320, seed=1005, add_bos=False),
    # Laid out like a real Q4_K_M file: Q4_K matmuls and embeddings, separate Q6_K output.weight.
    TinySpec("tiny-llama-q4_k-gqa4-output", "llama", QT.Q4_K, QT.Q4_K, n_embd=256, n_head=8,
             n_head_kv=2, n_ff=256, n_vocab=320, seed=1006, output_type=QT.Q6_K),
    TinySpec("tiny-llama-q6_k-gqa8", "llama", QT.Q6_K, QT.Q6_K, n_embd=256, n_head=8, n_head_kv=1,
             n_ff=256, n_vocab=320, seed=1007, rope_base=500000.0),
    # Qwen2: NeoX-style rope in llama.cpp, bias on Q, K and V, no BOS.
    TinySpec("tiny-qwen2-f16-bias-gqa2", "qwen2", QT.F16, QT.F16, n_embd=64, n_head=4, n_head_kv=2,
             n_ff=128, n_vocab=333, seed=1008, rope_base=1000000.0, rms_eps=1e-6, qkv_bias=True,
             add_bos=False),
]


def build_model(spec: TinySpec, out_dir: Path) -> Path:
    rng = np.random.default_rng(spec.seed)
    vocab = make_vocab(spec.n_vocab)
    hd = spec.head_dim
    n_embd, n_ff = spec.n_embd, spec.n_ff
    n_q, n_kv = spec.n_head * hd, spec.n_head_kv * hd

    path = out_dir / f"{spec.name}.gguf"
    w = gguf.GGUFWriter(str(path), spec.arch)
    w.add_name(spec.name)
    w.add_description("random-weight test model for ember (scripts/golden/make_tiny_models.py)")
    w.add_file_type(FILE_TYPE[spec.wtype])
    if spec.wtype not in (QT.F32, QT.F16, QT.BF16):
        w.add_quantization_version(gguf.GGML_QUANT_VERSION)
    w.add_context_length(spec.n_ctx)
    w.add_embedding_length(n_embd)
    w.add_block_count(spec.n_layer)
    w.add_feed_forward_length(n_ff)
    w.add_head_count(spec.n_head)
    w.add_head_count_kv(spec.n_head_kv)
    w.add_rope_freq_base(spec.rope_base)
    w.add_layer_norm_rms_eps(spec.rms_eps)
    w.add_rope_dimension_count(hd)
    w.add_vocab_size(spec.n_vocab)

    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("default")
    w.add_token_list(vocab.tokens)
    w.add_token_types(vocab.types)
    w.add_token_merges(vocab.merges)
    w.add_bos_token_id(vocab.bos_id)
    w.add_eos_token_id(vocab.eos_id)
    w.add_pad_token_id(vocab.pad_id)
    w.add_add_bos_token(spec.add_bos)
    w.add_add_eos_token(False)
    w.add_chat_template(CHAT_TEMPLATE)

    def add(name: str, weight: np.ndarray, qtype: QT, sigma: float) -> None:
        arr, raw = encode(weight, qtype, sigma, rng)
        w.add_tensor(name, arr, raw_dtype=raw)

    def mat(rows: int, cols: int, sigma: float) -> np.ndarray:
        return (rng.standard_normal((rows, cols)) * sigma).astype(np.float32)

    def norm(n: int) -> np.ndarray:
        return (1.0 + 0.1 * rng.standard_normal(n)).astype(np.float32)

    # Embedding std chosen so tied logits (rmsnorm(h) . E_row) have std ~3.5.
    e_sigma = 3.5 / np.sqrt(n_embd)
    add("token_embd.weight", mat(spec.n_vocab, n_embd, e_sigma), spec.embd_type, e_sigma)
    for il in range(spec.n_layer):
        p = f"blk.{il}."
        w.add_tensor(p + "attn_norm.weight", norm(n_embd))
        s_in = 1.0 / np.sqrt(n_embd)
        add(p + "attn_q.weight", mat(n_q, n_embd, 1.5 * s_in), spec.wtype, 1.5 * s_in)
        add(p + "attn_k.weight", mat(n_kv, n_embd, 1.5 * s_in), spec.wtype, 1.5 * s_in)
        add(p + "attn_v.weight", mat(n_kv, n_embd, s_in), spec.wtype, s_in)
        if spec.qkv_bias:
            w.add_tensor(p + "attn_q.bias", (0.5 * rng.standard_normal(n_q)).astype(np.float32))
            w.add_tensor(p + "attn_k.bias", (0.5 * rng.standard_normal(n_kv)).astype(np.float32))
            w.add_tensor(p + "attn_v.bias", (0.5 * rng.standard_normal(n_kv)).astype(np.float32))
        # Output projections get gain 3 so that the residual stream is dominated by what the
        # layers compute rather than by the token's own embedding; with tied embeddings the
        # latter makes every model predict its input token again and greedy runs go constant.
        s_o = 3.0 / np.sqrt(n_q)
        add(p + "attn_output.weight", mat(n_embd, n_q, s_o), spec.wtype, s_o)
        w.add_tensor(p + "ffn_norm.weight", norm(n_embd))
        add(p + "ffn_gate.weight", mat(n_ff, n_embd, s_in), spec.wtype, s_in)
        add(p + "ffn_up.weight", mat(n_ff, n_embd, s_in), spec.wtype, s_in)
        s_d = 3.0 / np.sqrt(n_ff)
        add(p + "ffn_down.weight", mat(n_embd, n_ff, s_d), spec.wtype, s_d)
    w.add_tensor("output_norm.weight", norm(n_embd))
    if spec.output_type is not None:
        add("output.weight", mat(spec.n_vocab, n_embd, e_sigma), spec.output_type, e_sigma)

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def check_model(path: Path) -> None:
    """Read the file back; print tensor types and the std of the dequantized matmul weights."""
    r = gguf.GGUFReader(str(path))
    stds = []
    for t in r.tensors:
        if t.name.endswith("attn_q.weight") and t.name.startswith("blk.0."):
            deq = gguf.quants.dequantize(np.asarray(t.data), t.tensor_type)
            stds.append(f"{t.name} {t.tensor_type.name} std={deq.std():.4f}")
    types = collections.Counter(t.tensor_type.name for t in r.tensors)
    print(f"  {path.name}: {path.stat().st_size} bytes, {len(r.tensors)} tensors {dict(types)}; {'; '.join(stds)}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=REPO_ROOT / "tests" / "data" / "models")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"gguf package {getattr(gguf, '__version__', None) or _gguf_version()}, numpy {np.__version__}")
    total = 0
    for spec in SPECS:
        path = build_model(spec, args.out)
        check_model(path)
        total += path.stat().st_size
    print(f"wrote {len(SPECS)} models, {total} bytes in all, to {args.out}")
    return 0


def _gguf_version() -> str:
    try:
        from importlib.metadata import version
        return version("gguf")
    except Exception:  # noqa: BLE001 - informational only
        return "unknown"


if __name__ == "__main__":
    sys.exit(main())
