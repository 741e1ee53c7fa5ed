#!/usr/bin/env python3
"""Golden data for tests/kernels/quant_test.cpp, written to tests/data/quant/.

Dequantisation goldens come from the `gguf` PyPI package (gguf.quants.dequantize) on seeded random
block bytes whose f16 scale fields are overwritten with sane values. The q8_0 reference
quantisation golden comes from gguf.quants.quantize (a port of ggml's quantize_row_q8_0_ref).

With --llama LIB_DIR (the llama_cpp/lib folder of a llama-cpp-python install), it also records
llama.cpp's own CPU-backend activation quantisation (type_traits_cpu[t].from_float, i.e. the
SIMD path this machine's llama.cpp build uses) for q8_0, q8_1 and q8_K, and llama.cpp's vec_dot
for every weight type against it.

File format (little-endian), one file per golden:
  char[4] "EMQG"; u32 kind; u32 type; u32 n_elems; u32 n_bytes; then
  kind 0 (dequantize): n_bytes block bytes, then n_elems f32 expected values
  kind 1 (quantize):   n_elems f32 inputs, then n_bytes expected block bytes
  kind 2 (vec_dot):    n_bytes weight block bytes, n_elems f32 activations, u32 act_type,
                       u32 act_bytes, act_bytes llama.cpp-quantised activation, f32 llama.cpp dot

Usage: .ref/venv/bin/python scripts/golden/make_quant_goldens.py [--llama .ref/venv/lib/python3.11/site-packages/llama_cpp/lib]
"""
import argparse
import ctypes
import os
import struct
import sys

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import quants

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "data", "quant")

# name: (type, block elems, block bytes, [(f16 field offset, positive?)], n_blocks)
TYPES = {
    "f16": (T.F16, 1, 2, [], 512),
    "bf16": (T.BF16, 1, 2, [], 512),
    "q4_0": (T.Q4_0, 32, 18, [(0, False)], 16),
    "q4_1": (T.Q4_1, 32, 20, [(0, True), (2, False)], 16),
    "q5_0": (T.Q5_0, 32, 22, [(0, False)], 16),
    "q5_1": (T.Q5_1, 32, 24, [(0, True), (2, False)], 16),
    "q8_0": (T.Q8_0, 32, 34, [(0, False)], 16),
    "q4_K": (T.Q4_K, 256, 144, [(0, True), (2, True)], 4),
    "q5_K": (T.Q5_K, 256, 176, [(0, True), (2, True)], 4),
    "q6_K": (T.Q6_K, 256, 210, [(208, False)], 4),
}

ACT_OF = {"f32": 0, "f16": 1, "bf16": 30, "q4_0": 8, "q4_1": 9, "q5_0": 8, "q5_1": 9, "q8_0": 8,
          "q4_K": 15, "q5_K": 15, "q6_K": 15}
ACT_BLOCK = {0: (1, 4), 1: (1, 2), 30: (1, 2), 8: (32, 34), 9: (32, 36), 15: (256, 292)}


def header(kind, qtype, n_elems, n_bytes):
    return b"EMQG" + struct.pack("<IIII", kind, int(qtype), n_elems, n_bytes)


def sane_f16(rng, positive, tiny=False):
    mag = 2.0 ** rng.uniform(-24, -15) if tiny else 2.0 ** rng.uniform(-10, -2)
    v = mag if positive or rng.random() < 0.5 else -mag
    return np.array([v], dtype=np.float16).view(np.uint8)


def make_blocks(rng, name):
    qtype, belems, bbytes, fields, nblocks = TYPES[name]
    raw = rng.integers(0, 256, size=(nblocks, bbytes), dtype=np.uint8)
    if name == "f16":
        raw = raw.reshape(-1).view(np.uint16).copy()
        raw[:8] = [0x0000, 0x8000, 0x7C00, 0xFC00, 0x0001, 0x83FF, 0x7BFF, 0x0400]
        nan = (raw & 0x7C00) == 0x7C00
        raw[8:][nan[8:] & ((raw[8:] & 0x3FF) != 0)] &= 0xBFFF  # keep NaN out of the random part
        return raw.view(np.uint8).reshape(nblocks, bbytes)
    if name == "bf16":
        raw = raw.reshape(-1).view(np.uint16).copy()
        raw[:6] = [0x0000, 0x8000, 0x7F80, 0xFF80, 0x0001, 0x7FC0]
        return raw.view(np.uint8).reshape(nblocks, bbytes)
    for b in range(nblocks):
        for off, positive in fields:
            raw[b, off:off + 2] = sane_f16(rng, positive, tiny=(b == 1))
    return raw


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)
    print(f"wrote {os.path.relpath(path)} ({len(data)} bytes)")


class TraitsCpu(ctypes.Structure):
    _fields_ = [("from_float", ctypes.c_void_p), ("vec_dot", ctypes.c_void_p),
                ("vec_dot_type", ctypes.c_int), ("nrows", ctypes.c_int64)]


def load_llama(lib_dir):
    ctypes.CDLL(os.path.join(lib_dir, "libggml-base.so"), mode=ctypes.RTLD_GLOBAL)
    cpu = ctypes.CDLL(os.path.join(lib_dir, "libggml-cpu.so"), mode=ctypes.RTLD_GLOBAL)
    cpu.ggml_cpu_init.restype = None
    cpu.ggml_cpu_init()
    cpu.ggml_get_type_traits_cpu.restype = ctypes.POINTER(TraitsCpu)
    cpu.ggml_get_type_traits_cpu.argtypes = [ctypes.c_int]
    return cpu


FROM_FLOAT = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64)
VEC_DOT = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p,
                           ctypes.c_size_t, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)


def llama_quantize(cpu, act_type, x):
    belems, bbytes = ACT_BLOCK[act_type]
    out = np.zeros(len(x) // belems * bbytes, dtype=np.uint8)
    fn = FROM_FLOAT(cpu.ggml_get_type_traits_cpu(act_type).contents.from_float)
    fn(x.ctypes.data, out.ctypes.data, len(x))
    return out


def activations(rng, n):
    x = rng.standard_normal(n).astype(np.float32)
    x[: n // 64] *= 8.0  # a few outliers, as real activations have
    return x


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--llama", help="llama_cpp/lib folder holding libggml-base.so and libggml-cpu.so")
    args = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(20261124)

    weights = {}
    for name, (qtype, belems, bbytes, _, nblocks) in TYPES.items():
        blocks = make_blocks(rng, name)
        weights[name] = blocks
        expect = quants.dequantize(blocks.reshape(-1), qtype).astype(np.float32).reshape(-1)
        assert expect.size == nblocks * belems
        write(os.path.join(OUT, f"dequant_{name}.bin"),
              header(0, qtype, expect.size, blocks.size) + blocks.tobytes() + expect.tobytes())

    x = activations(rng, 32 * 16)
    x[32:64] = 0.0  # an all-zero block
    x[64:96] = np.arange(32, dtype=np.float32) - 15.5
    # amax 127 makes the multiplier exactly 1, so these are exact ties: ties-to-even (x86 path)
    # and ties-away (reference) give different bytes.
    x[96:128] = np.concatenate([[127.0], np.arange(31) - 15 + 0.5]).astype(np.float32)
    q = quants.quantize(x, T.Q8_0).reshape(-1)
    write(os.path.join(OUT, "quant_q8_0_ref.bin"),
          header(1, T.Q8_0, x.size, q.size) + x.tobytes() + q.tobytes())

    if not args.llama:
        print("no --llama: skipped llama.cpp activation/vec_dot goldens")
        return
    cpu = load_llama(args.llama)
    xk = activations(rng, 256 * 4)
    xk[256:512] = 0.0
    xk[512:768] = np.concatenate([[-127.0], (np.arange(255) % 61) - 30 + 0.5]).astype(np.float32)  # ties
    for act_type, tag, xs in ((8, "q8_0", x), (9, "q8_1", x), (15, "q8_K", xk)):
        q = llama_quantize(cpu, act_type, xs)
        write(os.path.join(OUT, f"quant_{tag}_llama.bin"),
              header(1, act_type, xs.size, q.size) + xs.tobytes() + q.tobytes())

    dot_types = dict(TYPES, f32=(T.F32, 1, 4, [], 512))
    for name, (qtype, belems, bbytes, _, nblocks) in dot_types.items():
        traits = cpu.ggml_get_type_traits_cpu(int(qtype)).contents
        act_type = traits.vec_dot_type
        assert act_type == ACT_OF[name], (name, act_type)
        w = np.ascontiguousarray(weights[name].reshape(-1)) if name in weights else None
        n = nblocks * belems
        if name == "f32":
            w = np.ascontiguousarray(rng.standard_normal(n).astype(np.float32).view(np.uint8))
        if name == "f16":  # NaN-free, inf-free weights for the dot
            w = np.ascontiguousarray(rng.standard_normal(n).astype(np.float16).view(np.uint8))
        if name == "bf16":
            w = np.ascontiguousarray((rng.standard_normal(n).astype(np.float32).view(np.uint32) >> 16)
                                     .astype(np.uint16).view(np.uint8))
        a = activations(rng, n)
        qa = llama_quantize(cpu, act_type, a)
        s = np.zeros(1, dtype=np.float32)
        VEC_DOT(traits.vec_dot)(n, s.ctypes.data, 0, w.ctypes.data, 0, qa.ctypes.data, 0, 1)
        write(os.path.join(OUT, f"vec_dot_{name}_llama.bin"),
              header(2, qtype, n, w.size) + w.tobytes() + a.tobytes() +
              struct.pack("<II", act_type, qa.size) + qa.tobytes() + s.tobytes())


if __name__ == "__main__":
    sys.exit(main())
