"""Tokenizes llama.cpp's own tokenizer test strings (models/ggml-vocab-*.gguf.inp,
expected ids in .out, from the llama.cpp checkout) with tqf and with
llama.cpp, and checks every result against the expected ids.

usage: compare_tokenizers.py TQF VOCAB.gguf [MODEL LLAMA_TOKENIZE EXPORTED.gguf]
  TQF VOCAB.gguf    `tqf tokenize VOCAB.gguf` (llama.cpp's vocabulary file) must
                    give the .out ids
  MODEL             a .tqf with the same vocabulary (made from Hugging Face's
                    tokenizer.json): `tqf tokenize MODEL` must give them too
  LLAMA_TOKENIZE EXPORTED.gguf
                    llama.cpp's llama-tokenize on tqf's export of MODEL must
                    give them too (tqf's tokenizer.ggml.* metadata is complete)
Prints one line per tokenizer: cases matching out of all, and the first
mismatch. Exit 1 on any mismatch or error.
"""
import ast
import subprocess
import sys

SEP = "\n__ggml_vocab_test__\n"


def cases(vocab):
    """The test strings (each followed by SEP in .inp) and their ids (.out lines)."""
    inp = open(vocab + ".inp", encoding="utf-8", newline="").read()
    out = open(vocab + ".out", encoding="utf-8").read().split("\n")
    texts = inp.split(SEP)[:-1]
    return texts, [[int(x) for x in line.split()] for line in out[: len(texts)]]


def tqf_ids(tqf, model, text):
    r = subprocess.run([tqf, "tokenize", model, "-", "--no-bos"], input=text.encode("utf-8"),
                       capture_output=True, check=True)
    return [int(x) for x in r.stdout.split()]


def llama_ids(tool, model, text):
    r = subprocess.run([tool, "-m", model, "--stdin", "--ids", "--no-bos", "--log-disable"],
                       input=text.encode("utf-8"), capture_output=True, check=True)
    return ast.literal_eval(r.stdout.decode().strip().splitlines()[-1])


def check(name, texts, want, tokenize):
    bad = []
    for text, ids in zip(texts, want):
        try:
            got = tokenize(text)
        except subprocess.CalledProcessError as e:
            got = "error: " + e.stderr.decode(errors="replace").strip()
        if got != ids:
            bad.append((text, ids, got))
    print("%s %-44s %d/%d cases give llama.cpp's expected ids%s" %
          ("ok  " if not bad else "FAIL", name, len(texts) - len(bad), len(texts),
           "" if not bad else "; first mismatch %r: want %s, got %s" % bad[0]))
    return not bad


def main():
    tqf, vocab = sys.argv[1], sys.argv[2]
    texts, want = cases(vocab)
    ok = check("tqf on llama.cpp's vocab GGUF", texts, want, lambda t: tqf_ids(tqf, vocab, t))
    if len(sys.argv) == 6:
        model, tool, exported = sys.argv[3:6]
        ok &= check("tqf on a .tqf from tokenizer.json", texts, want,
                    lambda t: tqf_ids(tqf, model, t))
        ok &= check("llama.cpp on tqf's export", texts, want,
                    lambda t: llama_ids(tool, exported, t))
    sys.exit(0 if ok else 1)


main()
