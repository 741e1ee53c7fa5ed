#!/usr/bin/env python3
"""Records llama.cpp's tokenizer output as goldens for ember's tokenizer tests.

Reference: llama.cpp through llama-cpp-python (built from source into .ref/venv).
For every GGUF vocabulary given, and every input string below, it records:
  ids          llama_tokenize(add_special=True,  parse_special=False)
  ids_special  llama_tokenize(add_special=True,  parse_special=True)
  decoded          llama_detokenize(ids,         remove_special=False, unparse_special=False)
  decoded_special  llama_detokenize(ids_special, remove_special=False, unparse_special=True)
Bytes (inputs and decoded text) are stored as hex, since some are not valid UTF-8.

With --chat-out it also renders chat templates with jinja2 (as Hugging Face does) for
ember's chat formatting tests: the default model's own template (ChatML) and the Llama 3
and Llama 2 chat templates below, without the leading BOS (ember leaves it to the tokenizer:
bos_token "" for Llama 3; the Llama 2 template here writes bos_token only from the second
user turn on).

Usage (from the repository root):
  .ref/venv/bin/python scripts/golden/make_tokenizer_goldens.py \
      --model models/SmolLM2-135M-Instruct.Q4_1.gguf --out tests/data/tokenizer/smollm2.json
  .ref/venv/bin/python scripts/golden/make_tokenizer_goldens.py \
      --model tests/data/tokenizer/tiny_llama3.gguf --out tests/data/tokenizer/tiny_llama3.json
"""
import argparse
import ctypes
import hashlib
import json
import os
import sys

import llama_cpp


def base_cases():
    """(name, bytes) pairs: the inputs every vocabulary is tested on."""
    cases = [
        ("empty", b""),
        ("hello", "Hello world".encode()),
        ("sentence", "The quick brown fox jumps over the lazy dog.".encode()),
        ("leading_space", " Hello".encode()),
        ("two_leading_spaces", "  Hello".encode()),
        ("contractions", "I'm sure you've seen it; they'll say it's what we'd done. DON'T!".encode()),
        ("contractions_upper", "IT'S YOU'RE WE'VE I'M HE'LL SHE'D".encode()),
        ("punctuation", "Wait... what?! (really) [yes] {no} <maybe> \"quoted\" 'single'".encode()),
        ("spaced_punct", "Hello , world . Is it ? Yes ! don 't 're ' s".encode()),
        ("numbers", "1 12 123 1234 12345 123456 3.14159 -42 1,000,000 2024-05-17".encode()),
        ("numbers_words", "abc123def 45x 6th 7-8 9.0e10".encode()),
        ("chinese_medical", "患者男性，65岁，因反复胸痛3年，加重2天入院。诊断：急性冠脉综合征。".encode()),
        ("chinese_mixed", "高血压(hypertension)患者应每日服用阿司匹林100mg。".encode()),
        ("japanese", "日本語のテキストです。カタカナとひらがな".encode()),
        ("korean", "안녕하세요 세계".encode()),
        ("arabic", "مرحبا بالعالم".encode()),
        ("russian", "Привет, мир! Как дела?".encode()),
        ("greek_accents", "Ελληνικά café naïve résumé Ångström".encode()),
        ("emoji", "I love 🦙 and 🐍! 👍🏽 👨‍👩‍👧 🇫🇷".encode()),
        ("emoji_only", "😀😃😄😁".encode()),
        ("code_python", "def f(x):\n    return x**2 + 1  # square\n\nprint(f(3))\n".encode()),
        ("code_c", "int main(void) {\n\tprintf(\"%d\\n\", a[i++]);\n\treturn 0;\n}\n".encode()),
        ("code_json", '{"key": [1, 2, 3], "nested": {"a": null, "b": true}}'.encode()),
        ("url_email", "See https://example.com/path?q=1&r=2#frag or mail me@example.org".encode()),
        ("whitespace_runs", "a  b   c    d\t\te\n\nf \n g".encode()),
        ("whitespace_only", "   \t\n  ".encode()),
        ("newlines", "\n\n\nline\r\nwindows\rmac\n".encode()),
        ("trailing_spaces", "end with spaces   ".encode()),
        ("unicode_spaces", "no\u00a0break\u2003em\u3000ideo\u2028sep".encode()),
        ("math_symbols", "∑ x² ≤ √y ± ∞ → ∀ε>0 ∃δ".encode()),
        ("currency", "$100 €50 £20 ¥1000 ₹500".encode()),
        ("mixed_scripts", "English中文Русский日本語العربية".encode()),
        ("repeated_char", ("a" * 50 + " " + "!" * 20).encode()),
        ("long_word", "Pneumonoultramicroscopicsilicovolcanoconiosis antidisestablishmentarianism".encode()),
        # Letters and digits assigned in Unicode 15 / 15.1 (CJK Ext H and I, Kawi digits).
        ("unicode15", "\U00031350\U00031351 \U0002EBF0x \U00011F50\U00011F51 ok".encode()),
        ("control_chars", "tab\there\x01\x02bell\x07".encode()),
        ("invalid_utf8_lone_cont", b"abc\x80def"),
        ("invalid_utf8_truncated", b"caf\xc3"),
        ("invalid_utf8_bad_lead", b"x\xff\xfey"),
        ("invalid_utf8_mixed", b"\xe4\xb8\xad\xe6\x96\x87\xe6\x96 ok \xf0\x9f\x98"),
        ("invalid_utf8_overlong", b"over\xc0\xaflong"),
        ("invalid_utf8_surrogate", b"sur\xed\xa0\x80rogate"),
    ]
    # A 2,000-character text mixing the above.
    para = ("Clinical note: the patient (age 65) reports chest pain radiating to the left arm. "
            "心电图显示ST段抬高。 Troponin I = 2.3 ng/mL; BP 150/95 mmHg. "
            "Plan: aspirin 300 mg, heparin 5000 IU, PCI within 90 min. 👍\n")
    long_text = (para * (2000 // len(para) + 1))[:2000]
    cases.append(("long_2000", long_text.encode()))
    return cases


def special_cases(texts):
    """One case per special token text, alone and inside text."""
    out = []
    for i, t in enumerate(texts):
        out.append((f"special_{i}_alone", t.encode()))
        out.append((f"special_{i}_inside", f"before {t} after{t}x".encode()))
    if len(texts) >= 2:
        out.append(("specials_adjacent", ("".join(texts[:3]) + " text " + texts[1]).encode()))
    return out


class Ref:
    def __init__(self, path):
        self.llm = llama_cpp.Llama(model_path=path, vocab_only=True, verbose=False)
        self.vocab = llama_cpp.llama_model_get_vocab(self.llm.model)

    def tokenize(self, data: bytes, parse_special: bool):
        n = len(data) + 16
        buf = (llama_cpp.llama_token * n)()
        k = llama_cpp.llama_tokenize(self.vocab, data, len(data), buf, n, True, parse_special)
        if k < 0:
            n = -k
            buf = (llama_cpp.llama_token * n)()
            k = llama_cpp.llama_tokenize(self.vocab, data, len(data), buf, n, True, parse_special)
        assert k >= 0, k
        return list(buf[:k])

    def detokenize(self, ids, unparse_special: bool) -> bytes:
        arr = (llama_cpp.llama_token * max(1, len(ids)))(*ids)
        n = 64 + 16 * len(ids)
        while True:
            out = ctypes.create_string_buffer(n)
            k = llama_cpp.llama_detokenize(self.vocab, arr, len(ids), out, n, False, unparse_special)
            if k >= 0:
                return out.raw[:k]
            n = -k + 16

    def special_texts(self):
        n = llama_cpp.llama_vocab_n_tokens(self.vocab)
        texts = []
        for i in range(n):
            attr = llama_cpp.llama_vocab_get_attr(self.vocab, i)
            if attr & (llama_cpp.LLAMA_TOKEN_ATTR_CONTROL | llama_cpp.LLAMA_TOKEN_ATTR_USER_DEFINED):
                texts.append(llama_cpp.llama_vocab_get_text(self.vocab, i).decode("utf-8", "replace"))
        return texts


LLAMA3_TEMPLATE = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'"
    "+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
    "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}")

LLAMA2_TEMPLATE = (
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}"
    "{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}"
    "{% set system_message = false %}{% endif %}{% for message in loop_messages %}"
    "{% if loop.index0 == 0 and system_message != false %}"
    "{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}"
    "{% else %}{% set content = message['content'] %}{% endif %}"
    "{% if message['role'] == 'user' %}{{ (bos_token if loop.index0 > 0 else '') + '[INST] ' + content.strip() + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}")

CONVERSATIONS = [
    ("single_user", [{"role": "user", "content": "Hello!"}]),
    ("system_user", [{"role": "system", "content": "You are terse."},
                     {"role": "user", "content": "What is 2+2?"}]),
    ("multi_turn", [{"role": "user", "content": "Hi"},
                    {"role": "assistant", "content": "Hello, how can I help?"},
                    {"role": "user", "content": " 患者胸痛怎么办？ "}]),
]


def make_chat_goldens(model_template, out_path):
    import jinja2.sandbox
    env = jinja2.sandbox.ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    templates = [("chatml_smollm2", model_template), ("llama3", LLAMA3_TEMPLATE),
                 ("llama2", LLAMA2_TEMPLATE)]
    out = {"generator": "scripts/golden/make_tokenizer_goldens.py --chat-out",
           "reference": "jinja2 " + jinja2.__version__, "templates": {}, "cases": []}
    for tname, tmpl in templates:
        out["templates"][tname] = tmpl
        t = env.from_string(tmpl)
        for cname, msgs in CONVERSATIONS:
            for add_gen in (False, True):
                text = t.render(messages=msgs, add_generation_prompt=add_gen,
                                bos_token="<s>" if tname == "llama2" else "",
                                eos_token="</s>" if tname == "llama2" else "")
                out["cases"].append({"template": tname, "conversation": cname,
                                     "messages": msgs, "add_assistant_prompt": add_gen,
                                     "expected": text})
    with open(out_path, "w") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"{out_path}: {len(out['cases'])} chat cases", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--chat-out", help="also write chat template goldens here")
    args = ap.parse_args()
    if args.chat_out:
        from gguf import GGUFReader
        tmpl = GGUFReader(args.model).fields["tokenizer.chat_template"].contents()
        make_chat_goldens(tmpl, args.chat_out)

    ref = Ref(args.model)
    v = ref.vocab
    specials = ref.special_texts()
    cases = base_cases() + special_cases(specials[:24])
    records = []
    for name, data in cases:
        ids = ref.tokenize(data, False)
        ids_sp = ref.tokenize(data, True)
        records.append({
            "name": name,
            "text_hex": data.hex(),
            "ids": ids,
            "ids_special": ids_sp,
            "decoded_hex": ref.detokenize(ids, False).hex(),
            "decoded_special_hex": ref.detokenize(ids_sp, True).hex(),
        })
    with open(args.model, "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    doc = {
        "generator": "scripts/golden/make_tokenizer_goldens.py",
        "reference": f"llama.cpp via llama-cpp-python {llama_cpp.__version__}",
        "model_file": os.path.basename(args.model),
        "model_sha256": sha,
        "n_vocab": llama_cpp.llama_vocab_n_tokens(v),
        "bos": llama_cpp.llama_vocab_bos(v),
        "eos": llama_cpp.llama_vocab_eos(v),
        "eot": llama_cpp.llama_vocab_eot(v),
        "add_bos": bool(llama_cpp.llama_vocab_get_add_bos(v)),
        "add_eos": bool(llama_cpp.llama_vocab_get_add_eos(v)),
        "special_texts": specials,
        "cases": records,
    }
    with open(args.out, "w") as f:
        json.dump(doc, f, ensure_ascii=False, indent=0)
        f.write("\n")
    print(f"{args.out}: {len(records)} cases", file=sys.stderr)


if __name__ == "__main__":
    main()
