#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (fuzz/corpus/<target>/).

Seeds are tiny files made here from scratch (no shared model data is
copied): a GGUF and a safetensors model of a few tensors, JSON documents,
random bytes, and .tqf files packed from the GGUF by the tqf tool with each
codec and quantizer. Run again after a format change:
    scripts/gen_fuzz_seeds.py build/bin/tqf
"""
import json
import os
import random
import struct
import subprocess
import sys
import tempfile

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fuzz", "corpus")


def out(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def gguf_string(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def gguf_kv(key, vtype, payload):
    return gguf_string(key) + struct.pack("<I", vtype) + payload


def tiny_gguf():
    """A 2-layer llama of dim 8 with a 6-token SentencePiece vocabulary."""
    rng = random.Random(1)
    dim, hidden, layers, heads, kv, vocab = 8, 12, 2, 2, 1, 6
    toks = ["<unk>", "<s>", "</s>", "\u2581a", "b", "<0x41>"]
    kvs = [
        gguf_kv("general.architecture", 8, gguf_string("llama")),
        gguf_kv("llama.embedding_length", 4, struct.pack("<I", dim)),
        gguf_kv("llama.feed_forward_length", 4, struct.pack("<I", hidden)),
        gguf_kv("llama.block_count", 4, struct.pack("<I", layers)),
        gguf_kv("llama.attention.head_count", 4, struct.pack("<I", heads)),
        gguf_kv("llama.attention.head_count_kv", 4, struct.pack("<I", kv)),
        gguf_kv("llama.context_length", 4, struct.pack("<I", 32)),
        gguf_kv("llama.attention.layer_norm_rms_epsilon", 6, struct.pack("<f", 1e-5)),
        gguf_kv("tokenizer.ggml.model", 8, gguf_string("llama")),
        gguf_kv("tokenizer.ggml.tokens", 9,
                struct.pack("<IQ", 8, len(toks)) + b"".join(gguf_string(t) for t in toks)),
        gguf_kv("tokenizer.ggml.scores", 9,
                struct.pack("<IQ", 6, len(toks)) + b"".join(struct.pack("<f", -i) for i in range(len(toks)))),
        gguf_kv("tokenizer.ggml.bos_token_id", 4, struct.pack("<I", 1)),
        gguf_kv("tokenizer.ggml.eos_token_id", 4, struct.pack("<I", 2)),
    ]
    tensors = [("token_embd.weight", [dim, vocab], 0), ("output_norm.weight", [dim], 0),
               ("extra.q8_0.weight", [32, 2], 8)]
    for l in range(layers):
        p = "blk.%d." % l
        tensors += [(p + "attn_norm.weight", [dim], 0), (p + "ffn_norm.weight", [dim], 0),
                    (p + "attn_q.weight", [dim, dim], 1), (p + "attn_k.weight", [dim, dim // heads * kv], 1),
                    (p + "attn_v.weight", [dim, dim // heads * kv], 0), (p + "attn_output.weight", [dim, dim], 0),
                    (p + "ffn_gate.weight", [dim, hidden], 0), (p + "ffn_up.weight", [dim, hidden], 1),
                    (p + "ffn_down.weight", [hidden, dim], 0)]
    infos, blobs, off = b"", [], 0
    for name, ne, ttype in tensors:
        n = 1
        for d in ne:
            n *= d
        if ttype == 0:
            blob = b"".join(struct.pack("<f", rng.gauss(0, 0.3)) for _ in range(n))
        elif ttype == 1:
            blob = b"".join(struct.pack("<e", rng.gauss(0, 0.3)) for _ in range(n))
        else:  # Q8_0: blocks of 32 = f16 scale + 32 int8
            blob = b""
            for _ in range(n // 32):
                blob += struct.pack("<e", 0.01) + bytes(rng.randrange(256) for _ in range(32))
        infos += gguf_string(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", d) for d in ne)
        infos += struct.pack("<IQ", ttype, off)
        pad = (-len(blob)) % 32
        blobs.append(blob + b"\0" * pad)
        off += len(blob) + pad
    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs)) + b"".join(kvs) + infos
    head += b"\0" * ((-len(head)) % 32)
    return head + b"".join(blobs)


def tiny_safetensors():
    rng = random.Random(2)
    entries, data = {}, b""
    for name, dtype, shape, fmt in [("a.weight", "F32", [4, 4], "<f"), ("b.weight", "F16", [2, 8], "<e"),
                                    ("c.bias", "F32", [4], "<f")]:
        n = 1
        for d in shape:
            n *= d
        blob = b"".join(struct.pack(fmt, rng.gauss(0, 1)) for _ in range(n))
        entries[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(blob)]}
        data += blob
    bf = bytes(8 * 2)
    entries["d.weight"] = {"dtype": "BF16", "shape": [2, 4], "data_offsets": [len(data), len(data) + len(bf)]}
    data += bf
    entries["__metadata__"] = {"format": "pt"}
    header = json.dumps(entries).encode()
    header += b" " * ((-len(header)) % 8)
    return struct.pack("<Q", len(header)) + header + data


def main():
    tqf = sys.argv[1] if len(sys.argv) > 1 else "build/bin/tqf"
    gguf = tiny_gguf()
    out("gguf", "tiny_llama.gguf", gguf)
    out("gguf", "truncated.gguf", gguf[:200])
    st = tiny_safetensors()
    out("safetensors", "tiny.safetensors", st)
    out("safetensors", "truncated.safetensors", st[:40])
    for i, doc in enumerate(['{"a": [1, 2.5e3, -0.0, true, false, null], "b": {"c": "\\u00e9\\ud83d\\ude00"}}',
                             '[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]', '"\\', '{"model": {"vocab": {"a": 0}, "merges": ["a b"]}}']):
        out("json", "doc%d.json" % i, doc.encode())
    # eval_data: first byte picks the parser (0 CSV, 1 ARC jsonl, 2 HellaSwag).
    out("eval_data", "mmlu.csv", b"\x00" + b'question,a,b,c,d,answer\r\n"What is ""2+2""?\nReally",3,4,5,6,1\r\n')
    arc = {"id": "q1", "question": "Which is a plant?", "answerKey": "B",
           "choices": {"text": ["rock", "tree", "car", "cup"], "label": ["A", "B", "C", "D"]}}
    out("eval_data", "arc.jsonl", b"\x01" + (json.dumps(arc) + "\r\n").encode() +
        json.dumps(dict(arc, answerKey="2", choices={"text": ["x", "y"], "label": ["1", "2"]})).encode())
    out("eval_data", "hellaswag.txt", b"\x02" + b"A man is sitting on a roof. he\n2\nfalls.\nsings.\nstarts pulling up roofing.\nsleeps.\n")
    # codec_decode: [codec u8][mode u8][out_size u32][dict_len u16][dict][stream]
    # (codec = index in AllCodecs: raw, dict4, rans, rans-alias). Seeds for
    # rans-alias: tables built from Laplace-like bytes (mode 0), and a flat
    # 2^12 table given as stored bytes (mode 1).
    rng = random.Random(5)
    for n in [3, 130, 700, 5000]:
        train = bytes((int(rng.expovariate(1 / 6.0)) * rng.choice([1, -1])) & 0xFF for _ in range(n))
        stream = bytes(rng.randrange(256) for _ in range(300))
        out("codec_decode", "rans-alias_built_%d" % n,
            struct.pack("<BBIH", 3, 0, 4 * n, len(train)) + train + stream)
    flat = bytes([12, 0]) + bytes([16]) * 256
    stream = bytes(rng.randrange(256) for _ in range(600))
    out("codec_decode", "rans-alias_parsed_1000", struct.pack("<BBIH", 3, 1, 1000, len(flat)) + flat + stream)
    rng = random.Random(3)
    for i, n in enumerate([0, 1, 5, 100, 4000]):
        out("write_read", "bytes%d" % i, bytes(rng.randrange(256) for _ in range(n)))
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "tiny.gguf")
        with open(src, "wb") as f:
            f.write(gguf)
        for codec in ["raw", "dict4", "rans", "rans-alias"]:
            for quant in ["channel", "tensor-minmax", "block32", "raw"]:
                dst = os.path.join(tmp, "t.tqf")
                subprocess.run([tqf, "pack", src, "-o", dst, "--codec", codec, "--quant", quant,
                                "--block-size", "64", "--quiet"], check=True)
                with open(dst, "rb") as f:
                    data = f.read()
                out("open_verify", "tiny_%s_%s.tqf" % (codec, quant), data)
                if quant == "channel":
                    out("open_fixup", "tiny_%s_%s.tqf" % (codec, quant), data)


if __name__ == "__main__":
    main()
