#!/usr/bin/env python3
"""Writes the seed corpus for tests/fuzz/fuzz_gguf into tests/fuzz/corpus/.

Valid files are written with the `gguf` PyPI package (gguf-py, llama.cpp's own writer);
broken ones are byte edits of a valid file at offsets found with gguf-py's reader, one
defect each (bad magic, bad version, absurd counts and lengths, bad types, misaligned or
overlapping tensors, truncation). Two tiny llama models (one byte-level BPE vocabulary,
one SentencePiece vocabulary) make the fuzzer reach the model-config, tensor-check and
tokenizer code behind the parser.

Usage: .ref/venv/bin/python scripts/make-fuzz-corpus.py  (needs numpy and gguf)
The corpus is committed; keep it under 200 KB.
"""

import os
import struct
import sys
import tempfile

import numpy as np
import gguf
from gguf import GGMLQuantizationType as Q, GGUFValueType as V

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fuzz", "corpus")
RNG = np.random.default_rng(1234)


def write(path, fill, arch="llama"):
    w = gguf.GGUFWriter(path, arch)
    fill(w)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def raw_blocks(n_rows, n_cols, qtype):
    """Random bytes shaped as `n_rows` rows of `n_cols` elements of quant type `qtype`."""
    block, size = gguf.GGML_QUANT_SIZES[qtype]
    return RNG.integers(0, 256, size=(n_rows, n_cols // block * size), dtype=np.uint8)


def fill_types(w):
    w.add_uint8("t.u8", 200)
    w.add_int8("t.i8", -100)
    w.add_uint16("t.u16", 60000)
    w.add_int16("t.i16", -30000)
    w.add_uint32("t.u32", 4000000000)
    w.add_int32("t.i32", -2000000000)
    w.add_uint64("t.u64", 2**63 + 5)
    w.add_int64("t.i64", -(2**62))
    w.add_float32("t.f32", 1.5)
    w.add_float64("t.f64", -2.25)
    w.add_bool("t.bool", True)
    w.add_string("t.str", "hello")
    w.add_key_value("t.a_u8", [1, 2, 3], V.ARRAY, sub_type=V.UINT8)
    w.add_key_value("t.a_i32", [-1, 2], V.ARRAY, sub_type=V.INT32)
    w.add_key_value("t.a_f32", [0.5, -0.25], V.ARRAY, sub_type=V.FLOAT32)
    w.add_key_value("t.a_bool", [True, False], V.ARRAY, sub_type=V.BOOL)
    w.add_key_value("t.a_str", ["a", "bc", ""], V.ARRAY, sub_type=V.STRING)
    w.add_key_value("t.a_arr", [[1, 2], [3]], V.ARRAY)
    w.add_tensor("a", RNG.standard_normal((2, 4)).astype(np.float32))
    w.add_tensor("b", RNG.standard_normal((8,)).astype(np.float16))
    w.add_tensor("c", raw_blocks(1, 32, Q.Q4_1), raw_dtype=Q.Q4_1)
    w.add_tensor("d", raw_blocks(2, 32, Q.Q8_0), raw_dtype=Q.Q8_0)


def fill_align64(w):
    w.add_custom_alignment(64)
    w.add_tensor("x", RNG.standard_normal((3,)).astype(np.float32))
    w.add_tensor("y", RNG.standard_normal((5,)).astype(np.float32))


def fill_tiny_llama(w, spm):
    n_embd, n_head, n_head_kv, n_ff, n_layer = 8, 2, 1, 16, 1
    head_dim = n_embd // n_head
    w.add_name("tiny")
    w.add_context_length(64)
    w.add_embedding_length(n_embd)
    w.add_block_count(n_layer)
    w.add_feed_forward_length(n_ff)
    w.add_head_count(n_head)
    w.add_head_count_kv(n_head_kv)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_freq_base(10000.0)
    if spm:
        tokens = ["<unk>", "<s>", "</s>", "\u2581", "a", "b", "\u2581a", "<0x41>"]
        w.add_tokenizer_model("llama")
        w.add_token_list(tokens)
        w.add_token_scores([0.0, 0.0, 0.0, -1.0, -2.0, -3.0, -0.5, 0.0])
        w.add_token_types([2, 3, 3, 1, 1, 1, 1, 6])
    else:
        tokens = ["H", "e", "l", "o", "\u0120", "w", "He", "ll", "llo", "<|im_end|>",
                  "!", ",", "1", "2", "3", "<|endoftext|>"]
        w.add_tokenizer_model("gpt2")
        w.add_tokenizer_pre("smollm")
        w.add_token_list(tokens)
        w.add_token_types([1] * 9 + [3] + [1] * 5 + [3])
        w.add_token_merges(["H e", "l l", "ll o"])
        w.add_bos_token_id(15)
        w.add_eos_token_id(9)
    n_vocab = len(tokens)
    f16 = lambda *shape: (RNG.standard_normal(shape) * 0.1).astype(np.float16)  # noqa: E731
    f32 = lambda *shape: np.ones(shape, dtype=np.float32)  # noqa: E731
    # numpy shapes are outermost first: [rows, row length].
    w.add_tensor("token_embd.weight", f16(n_vocab, n_embd))
    w.add_tensor("output_norm.weight", f32(n_embd))
    w.add_tensor("blk.0.attn_norm.weight", f32(n_embd))
    w.add_tensor("blk.0.attn_q.weight", f16(n_head * head_dim, n_embd))
    w.add_tensor("blk.0.attn_k.weight", f16(n_head_kv * head_dim, n_embd))
    w.add_tensor("blk.0.attn_v.weight", f16(n_head_kv * head_dim, n_embd))
    w.add_tensor("blk.0.attn_output.weight", f16(n_embd, n_head * head_dim))
    w.add_tensor("blk.0.ffn_norm.weight", f32(n_embd))
    w.add_tensor("blk.0.ffn_gate.weight", f16(n_ff, n_embd))
    w.add_tensor("blk.0.ffn_up.weight", f16(n_ff, n_embd))
    w.add_tensor("blk.0.ffn_down.weight", f16(n_embd, n_ff))


def fill_empty(w):
    pass


def patch(data, offset, fmt, value):
    out = bytearray(data)
    struct.pack_into("<" + fmt, out, offset, value)
    return bytes(out)


def broken_variants(data, path):
    """One defect per file, at offsets read back with gguf-py."""
    r = gguf.GGUFReader(path)
    kv = {name: f for name, f in r.fields.items()}

    def value_offset(name):
        # key record: u64 length, key bytes, u32 type, value
        return kv[name].offset + 8 + len(name) + 4

    def type_offset(name):
        return kv[name].offset + 8 + len(name)

    t = {x.name: x for x in r.tensors}

    def tinfo(name):
        # tensor record: u64 length, name, u32 n_dims, u64 dims[n_dims], u32 type, u64 offset
        base = t[name].field.offset + 8 + len(name)
        n_dims = struct.unpack_from("<I", data, base)[0]
        return base, base + 4 + 8 * n_dims, base + 4 + 8 * n_dims + 4  # n_dims, type, offset

    v = {
        "bad-magic": patch(data, 0, "I", 0x46554746),
        "version-1": patch(data, 4, "I", 1),
        "version-4": patch(data, 4, "I", 4),
        "version-2": patch(data, 4, "I", 2),  # valid: v2 reads the same as v3
        "huge-tensor-count": patch(data, 8, "Q", 2**62),
        "huge-kv-count": patch(data, 16, "Q", 2**40),
        "huge-key-length": patch(data, kv["t.str"].offset, "Q", 2**63),
        "huge-string-length": patch(data, value_offset("t.str"), "Q", 2**64 - 8),
        "huge-array-length": patch(data, value_offset("t.a_u8") + 4, "Q", 2**61),
        "bool-2": patch(data, value_offset("t.bool"), "B", 2),
        "unknown-value-type": patch(data, type_offset("t.u32"), "I", 13),
        "unknown-array-type": patch(data, value_offset("t.a_i32"), "I", 42),
        "unknown-tensor-type": patch(data, tinfo("a")[1], "I", 200),
        "unsupported-tensor-type": patch(data, tinfo("a")[1], "I", 22),
        "ndims-5": patch(data, tinfo("b")[0], "I", 5),
        "ndims-0": patch(data, tinfo("b")[0], "I", 0),
        "misaligned-offset": patch(data, tinfo("c")[2], "Q", struct.unpack_from("<Q", data, tinfo("c")[2])[0] + 4),
        "overlap": patch(data, tinfo("c")[2], "Q", struct.unpack_from("<Q", data, tinfo("b")[2])[0]),
        "offset-past-end": patch(data, tinfo("d")[2], "Q", 2**64 - 32),
        "truncated-header": data[:30],
        "truncated-kv": data[: value_offset("t.a_str") + 10],
        "truncated-tensor-info": data[: tinfo("b")[1]],
        # The writer pads the last tensor; cut inside its data, not the padding.
        "truncated-data": data[: t["d"].data_offset + t["d"].n_bytes - 1],
        "duplicate-key": patch(data, kv["t.i8"].offset + 8, "4s", b"t.u8"),
    }
    return v


def main():
    os.makedirs(OUT, exist_ok=True)
    for name in os.listdir(OUT):
        os.remove(os.path.join(OUT, name))
    with tempfile.TemporaryDirectory() as tmp:
        seeds = {}
        for name, fill, arch in [("valid-types", fill_types, "test"),
                                 ("valid-align64", fill_align64, "test"),
                                 ("valid-no-tensors", fill_empty, "test"),
                                 ("tiny-llama-bpe", lambda w: fill_tiny_llama(w, False), "llama"),
                                 ("tiny-llama-spm", lambda w: fill_tiny_llama(w, True), "llama")]:
            p = os.path.join(tmp, name + ".gguf")
            write(p, fill, arch)
            seeds[name] = open(p, "rb").read()
        types_path = os.path.join(tmp, "valid-types.gguf")
        for name, data in broken_variants(seeds["valid-types"], types_path).items():
            seeds["broken-" + name if not name.startswith("version-2") else "valid-" + name] = data
        total = 0
        for name, data in sorted(seeds.items()):
            with open(os.path.join(OUT, name + ".gguf"), "wb") as f:
                f.write(data)
            total += len(data)
        print(f"wrote {len(seeds)} files, {total} bytes, to {os.path.relpath(OUT, ROOT)}")
        if total > 200 * 1024:
            sys.exit("corpus is larger than 200 KB")


if __name__ == "__main__":
    main()
