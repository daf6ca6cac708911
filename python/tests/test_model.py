"""tqf.Model: tokenizer, generation (equal to `tqf run` for the same seed),
streaming, logits, perplexity (equal to `tqf eval --ppl`), stats, threads
sharing one model, the GIL released, and `attach` to a running `tqf serve`."""
import json
import os
import signal
import subprocess
import threading
import time

import numpy as np
import pytest

import tqf
from helpers import assert_releases_gil

PROMPT = "Once upon a time"


def run_cli(cli, path, prompt, n, seed, temp=None, top_p=None):
    args = ["run", path, "-p", prompt, "-n", n, "--seed", seed]
    if temp is not None:
        args += ["--temp", temp]
    if top_p is not None:
        args += ["--top-p", top_p]
    out = cli(*args).stdout.decode("utf-8", "replace")
    assert out.endswith("\n")
    return out[:-1]


@pytest.mark.parametrize("seed,temp,top_p", [(1, None, None), (42, None, None), (7, 1.0, 1.0),
                                             (123456789, 0.5, 0.5), (3, 0, None)])
def test_generate_equals_tqf_run(cli, model_path, model, seed, temp, top_p):
    kwargs = dict(max_tokens=60, seed=seed)
    if temp is not None:
        kwargs["temperature"] = temp
    if top_p is not None:
        kwargs["top_p"] = top_p
    want = run_cli(cli, model_path, PROMPT, 60, seed, temp, top_p)
    assert PROMPT + model.generate(PROMPT, **kwargs) == want
    assert PROMPT + "".join(model.stream(PROMPT, **kwargs)) == want
    assert model.stats()["last_generation"]["seed"] == seed


def test_generation_is_the_same_for_every_codec_budget_and_thread_count(cli, packed):
    want = None
    for codec in ("raw", "rans", "rans-alias"):
        for kwargs in (dict(), dict(mem_budget=0), dict(mem_budget=1 << 20, threads=1),
                       dict(threads=2, prefetch=False)):
            m = tqf.Model(packed("channel", codec), **kwargs)
            got = m.generate(PROMPT, max_tokens=40, seed=5)
            want = want or got
            assert got == want, (codec, kwargs)


def test_stream_yields_pieces_and_tokens(model):
    s = model.stream(PROMPT, max_tokens=30, seed=11)
    pieces = list(s)
    assert len(pieces) >= 1 and all(isinstance(p, str) and p for p in pieces)
    assert len(s.tokens) == model.stats()["last_generation"]["generated_tokens"] <= 30
    assert "".join(pieces) == model.detokenize(s.tokens)
    with pytest.raises(StopIteration):
        next(s)
    early = model.stream(PROMPT, max_tokens=30, seed=11)
    assert next(early) == pieces[0]
    early.close()
    assert list(early) == []


def test_a_stream_continues_after_other_calls(model):
    """Other calls between two steps overwrite the KV cache; the stream
    rebuilds it and goes on with exactly the text it would have produced."""
    want = model.generate(PROMPT, max_tokens=40, seed=2, stop_at_eos=False)
    replays = model.stats()["stream_replays"]
    s = model.stream(PROMPT, max_tokens=40, seed=2, stop_at_eos=False)
    got = next(s) + next(s)
    model.logits([1, 2, 3])
    got += next(s)  # replays (1)
    model.generate("The dog", max_tokens=5, seed=1)
    other = model.stream("The cat", max_tokens=40, seed=3)
    got += next(s)  # replays (2)
    next(other)  # replays "The cat" (3)
    got += "".join(s)  # replays (4), then runs uninterrupted
    assert got == want
    assert model.stats()["stream_replays"] - replays == 4


def test_tokenize_equals_tqf_tokenize(cli, model_path, model):
    for text in (PROMPT, "Lily and Ben went to the park. They saw a big dog!", "héllo wörld",
                 "a\nb\tc"):
        want = [int(t) for t in cli("tokenize", model_path, text).stdout.split()]
        assert model.tokenize(text) == want, text
        assert model.detokenize(want) == text
        no_bos = [int(t) for t in cli("tokenize", model_path, text, "--no-bos").stdout.split()]
        assert model.tokenize(text, add_bos=False) == no_bos
        assert model.tokenize(text.encode()) == want
    assert model.bos_id == model.tokenize("")[0] == 1 and model.eos_id == 2


def test_logits_agree_with_greedy_generation(model):
    ids = model.tokenize(PROMPT)
    logits = model.logits(ids)
    assert logits.shape == (len(ids), model.vocab_size) and logits.dtype == np.float32
    assert logits.flags.owndata or logits.base is not None
    greedy = model.stream(PROMPT, max_tokens=5, temperature=0)
    list(greedy)
    assert greedy.tokens[0] == int(np.argmax(logits[-1]))
    # Row i of a longer run predicts token i + 1 exactly as a shorter run did.
    longer = model.logits(ids + greedy.tokens)
    assert np.array_equal(longer[: len(ids)], logits)
    for i, tok in enumerate(greedy.tokens[1:]):
        assert int(np.argmax(longer[len(ids) + i])) == tok
    assert np.array_equal(model.logits(np.array(ids)), logits)


def test_perplexity_equals_tqf_eval(cli, model_path, model, shared):
    path = shared / "eval/text/tinystories-valid-subset.txt"
    report = json.loads(cli("eval", model_path, "--ppl", path, "--ppl-tokens", 1500, "--ctx", 256,
                            "--json").stdout)
    want = report["models"][0]["tasks"][0]
    raw = path.read_bytes().removeprefix(b"\xef\xbb\xbf")
    text = raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    got = model.perplexity(text, ctx=256, max_tokens=1500)
    for key in ("text_tokens", "scored", "windows", "ctx", "stride", "bos"):
        assert got[key] == want[key], key
    assert got["nll_sum"] == want["nll_sum"] and got["perplexity"] == want["ppl"]
    assert got["mean_nll"] == want["mean_nll"]
    assert model.perplexity(text.decode(), ctx=256, max_tokens=1500)["nll_sum"] == got["nll_sum"]


def test_stats(model):
    model.generate(PROMPT, max_tokens=10, seed=9, stop_at_eos=False)
    st = model.stats()
    g = st["last_generation"]
    assert g["seed"] == 9 and g["generated_tokens"] == 10 and g["generate_passes"] == 9
    assert g["prompt_tokens"] == len(model.tokenize(PROMPT))
    assert st["ctx_size"] == model.ctx_size == 2048 and st["attach"] is None
    assert st["threads"] >= 1 and st["kernels"] and st["resident_bytes"] > 0
    assert st["forward"]["tokens"] > 0 and st["layers"]["acquires"] > 0
    assert model.hparams["n_layers"] == 5 and model.path.endswith(".tqf")


def test_threads_share_one_model(model):
    """Calls from several threads take turns on the model (streams replaying
    when others ran in between): each gets exactly what it gets alone."""
    seeds = list(range(8))
    want_text = {s: model.generate(PROMPT, max_tokens=40, seed=s) for s in seeds}
    ids = model.tokenize("Lily and Ben went to the park.")
    want_logits = model.logits(ids)
    want_ppl = model.perplexity("Lily and Ben went to the park. " * 20, ctx=64)["nll_sum"]
    errors, results = [], []

    def worker(k):
        try:
            for s in seeds:
                if (s + k) % 3 == 0:
                    results.append(("gen", s, model.generate(PROMPT, max_tokens=40, seed=s)))
                elif (s + k) % 3 == 1:
                    results.append(("stream", s, "".join(model.stream(PROMPT, max_tokens=40,
                                                                      seed=s))))
                else:
                    results.append(("logits", s, model.logits(ids)))
                    results.append(("ppl", s, model.perplexity(
                        "Lily and Ben went to the park. " * 20, ctx=64)["nll_sum"]))
                model.tokenize(PROMPT)
                model.stats()
        except Exception as e:  # noqa: BLE001  (reported below)
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(results) == 4 * 8 + sum((s + k) % 3 == 2 for s in seeds for k in range(4))
    for kind, s, value in results:
        if kind == "gen" or kind == "stream":
            assert value == want_text[s], (kind, s)
        elif kind == "logits":
            assert np.array_equal(value, want_logits)
        else:
            assert value == want_ppl


def test_generation_releases_the_gil(model_path):
    m = tqf.Model(model_path, threads=1)
    text = assert_releases_gil(
        lambda: m.generate(PROMPT, max_tokens=1500, seed=1, stop_at_eos=False), min_seconds=0.05)
    assert len(text) > 1000
    ids = m.tokenize(PROMPT + text)[:1500]
    assert_releases_gil(lambda: m.logits(ids), min_seconds=0.02)


@pytest.fixture
def service(cli, model_path):
    """A `tqf serve` of the model, stopped (SIGTERM) afterwards."""
    name = f"tqf-py-test-{os.getpid()}"
    proc = subprocess.Popen([str(cli.path), "serve", str(model_path), "--name", name],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while True:
        status = cli("serve", "--status", name, check=False)
        if status.returncode == 0 and b"running" in status.stdout:
            break
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline, "tqf serve did not start"
        time.sleep(0.05)
    yield name
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0


def test_attach_to_tqf_serve(cli, model_path, model, service):
    attached = tqf.Model(attach=service)
    assert attached.path == str(model_path) or os.path.samefile(attached.path, model_path)
    assert attached.stats()["attach"] == service
    for seed in (1, 2):
        want = model.generate(PROMPT, max_tokens=40, seed=seed)
        assert attached.generate(PROMPT, max_tokens=40, seed=seed) == want
    assert np.array_equal(attached.logits([1, 403, 407]), model.logits([1, 403, 407]))
    assert attached.stats()["layers"]["acquires"] > 0
    same_file = tqf.Model(model_path, attach=service)
    assert same_file.generate(PROMPT, max_tokens=10, seed=1) == model.generate(
        PROMPT, max_tokens=10, seed=1)


def test_a_signal_handler_reentering_the_model_is_refused(model_path):
    """Python runs signal handlers between tokens, on the thread that holds
    the model: a handler that calls into the same model gets an error (a
    mutex would deadlock), and generation stops with it."""
    m = tqf.Model(model_path, threads=1)
    calls = []

    def handler(signum, frame):
        calls.append(signum)
        m.generate(PROMPT, max_tokens=2)

    old = signal.signal(signal.SIGALRM, handler)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.01)  # 1900 tokens take about a second
        with pytest.raises(tqf.InvalidArgumentError, match="already running the model"):
            m.generate(PROMPT, max_tokens=1900, seed=1, stop_at_eos=False)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert calls == [signal.SIGALRM]
    assert m.generate(PROMPT, max_tokens=5, seed=1)  # the model is usable afterwards
