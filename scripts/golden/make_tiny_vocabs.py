#!/usr/bin/env python3
"""Writes tiny vocabulary-only GGUF files for ember's tokenizer tests.

The vocabularies are trained here, deterministically, on the small corpus below:
  tiny_llama3.gguf    byte-level BPE (model gpt2), pre-tokenizer "llama-bpe", with a few
                      whole-word tokens that no merge reaches (exercises ignore_merges)
  tiny_qwen2.gguf     byte-level BPE (model gpt2), pre-tokenizer "qwen2"
  tiny_gpt2.gguf      byte-level BPE (model gpt2), pre-tokenizer "gpt-2"
  tiny_default.gguf   byte-level BPE (model gpt2), pre-tokenizer "default"
  tiny_spm.gguf       SentencePiece-style (model llama): scores, <0xXX> byte fallback,
                      add_space_prefix true (the default)
  tiny_spm_noprefix.gguf  the same vocabulary with add_space_prefix false
Then scripts/golden/make_tokenizer_goldens.py records llama.cpp's ids on each file.

Usage (from the repository root): .ref/venv/bin/python scripts/golden/make_tiny_vocabs.py
"""
import collections
import os
import re

import gguf

OUT_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "data", "tokenizer")

CORPUS = """
The quick brown fox jumps over the lazy dog. I'm sure you've seen it; they'll say it's done.
Hello world! Hello there, how are you? The patient reports chest pain and shortness of breath.
Clinical note: the patient (age 65) was admitted with hypertension and diabetes mellitus.
Treatment: aspirin 100 mg daily, metoprolol 50 mg twice daily, and atorvastatin 40 mg.
def main():
    for i in range(10):
        print(i, i * i)
    return 0
int main(void) { return printf("%d\\n", 42); }
The numbers 1 12 123 1234 12345 and 3.14159 appear in the text, as do 2024-05-17 and 1,000,000.
Speech and language processing; tokenization splits text into words and subwords.
"""


def bytes_to_unicode():
    """GPT-2's byte -> printable character table."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def train_bpe(words, n_merges):
    """Classic BPE: repeatedly merge the most frequent adjacent pair (ties: smallest pair)."""
    seqs = collections.Counter(tuple(w) for w in words)
    merges = []
    for _ in range(n_merges):
        pairs = collections.Counter()
        for seq, f in seqs.items():
            for a, b in zip(seq, seq[1:]):
                pairs[(a, b)] += f
        if not pairs:
            break
        best = min(pairs.items(), key=lambda kv: (-kv[1], kv[0]))[0]
        merges.append(best)
        new = collections.Counter()
        for seq, f in seqs.items():
            out = []
            i = 0
            while i < len(seq):
                if i + 1 < len(seq) and (seq[i], seq[i + 1]) == best:
                    out.append(seq[i] + seq[i + 1])
                    i += 2
                else:
                    out.append(seq[i])
                    i += 1
            new[tuple(out)] += f
        seqs = new
    return merges


def add_hparams(w):
    # llama.cpp reads the architecture's hyper-parameters even for vocab_only loads.
    w.add_context_length(512)
    w.add_embedding_length(64)
    w.add_block_count(1)
    w.add_feed_forward_length(128)
    w.add_head_count(4)
    w.add_head_count_kv(4)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_dimension_count(16)


def write_bpe(path, pre, specials, bos, eos, extra_words=()):
    b2u = bytes_to_unicode()
    words = [''.join(b2u[b] for b in w.encode()) for w in re.findall(r" ?\S+|\s+", CORPUS)]
    merges = train_bpe(words, 350)
    tokens = [b2u[b] for b in range(256)]
    seen = set(tokens)
    for a, b in merges:
        if a + b not in seen:
            tokens.append(a + b)
            seen.add(a + b)
    for wtext in extra_words:  # whole words with no merge path to them
        t = ''.join(b2u[b] for b in wtext.encode())
        if t not in seen:
            tokens.append(t)
            seen.add(t)
    types = [gguf.TokenType.NORMAL] * len(tokens)
    for s in specials:
        tokens.append(s)
        types.append(gguf.TokenType.CONTROL)
    w = gguf.GGUFWriter(path, "llama")
    add_hparams(w)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre(pre)
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges([f"{a} {b}" for a, b in merges])
    w.add_bos_token_id(tokens.index(bos))
    w.add_eos_token_id(tokens.index(eos))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    print(f"{path}: {len(tokens)} tokens, {len(merges)} merges")


def write_spm(path, add_space_prefix):
    text = CORPUS.replace(" ", "\u2581")
    words = re.findall("\u2581?[^\u2581\n]+|\n", text)
    chars = sorted(set(c for c in text if c != "\n"))
    merges = train_bpe(words, 300)
    tokens, scores, types = [], [], []

    def add(t, score, ty):
        tokens.append(t)
        scores.append(score)
        types.append(ty)

    add("<unk>", 0.0, gguf.TokenType.UNKNOWN)
    add("<s>", 0.0, gguf.TokenType.CONTROL)
    add("</s>", 0.0, gguf.TokenType.CONTROL)
    for b in range(256):
        add(f"<0x{b:02X}>", 0.0, gguf.TokenType.BYTE)
    seen = set(tokens)
    # Merged pieces score by merge order (earlier = higher), as SentencePiece BPE models do.
    for i, (a, b) in enumerate(merges):
        if a + b not in seen:
            add(a + b, -float(i), gguf.TokenType.NORMAL)
            seen.add(a + b)
    for c in chars:  # single characters: lowest scores; anything else falls back to bytes
        if c not in seen:
            add(c, -1000.0, gguf.TokenType.NORMAL)
            seen.add(c)
    add("<|user|>", 0.0, gguf.TokenType.USER_DEFINED)
    w = gguf.GGUFWriter(path, "llama")
    add_hparams(w)
    w.add_tokenizer_model("llama")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)
    w.add_add_bos_token(True)
    w.add_add_eos_token(False)
    if not add_space_prefix:
        w.add_add_space_prefix(False)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    print(f"{path}: {len(tokens)} tokens")


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    write_bpe(os.path.join(OUT_DIR, "tiny_llama3.gguf"), "llama-bpe",
              ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>",
               "<|end_header_id|>", "<|eot_id|>"],
              "<|begin_of_text|>", "<|end_of_text|>",
              extra_words=[" pneumonia", " hypertension", "Hello"])
    write_bpe(os.path.join(OUT_DIR, "tiny_qwen2.gguf"), "qwen2",
              ["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
              "<|endoftext|>", "<|im_end|>")
    write_bpe(os.path.join(OUT_DIR, "tiny_gpt2.gguf"), "gpt-2",
              ["<|endoftext|>"], "<|endoftext|>", "<|endoftext|>")
    write_bpe(os.path.join(OUT_DIR, "tiny_default.gguf"), "default",
              ["<|endoftext|>"], "<|endoftext|>", "<|endoftext|>")
    write_spm(os.path.join(OUT_DIR, "tiny_spm.gguf"), True)
    write_spm(os.path.join(OUT_DIR, "tiny_spm_noprefix.gguf"), False)


if __name__ == "__main__":
    main()
