"""Errors: every failure is a tqf.Error subclass (never a crash) whose text is
what the `tqf` command prints; damaged and truncated files, files changed
while mapped, and bad arguments."""
import faulthandler
import os
import shutil

import numpy as np
import pytest

import tqf

CLASSES = {  # tqf::StatusCode -> class
    1: tqf.CorruptionError, 2: tqf.NotSupportedError, 3: tqf.InvalidArgumentError,
    4: tqf.IOError, 5: tqf.NotFoundError, 6: tqf.ChecksumMismatchError,
    7: tqf.ResourceExhaustedError, 8: tqf.CancelledError,
}


def test_error_classes():
    for code, cls in CLASSES.items():
        assert issubclass(cls, tqf.Error) and cls.__module__ == "tqf", cls
    assert issubclass(tqf.InvalidArgumentError, ValueError)
    assert issubclass(tqf.IOError, OSError) and tqf.IOError is not OSError
    assert tqf.Error.__doc__ and tqf.CorruptionError.__doc__


def cli_message(cli, path, command="inspect"):
    """What `tqf inspect` (or `tqf verify`) prints after its prefix when it
    cannot open `path`, or None if it opens it."""
    proc = cli(command, path, *(["--json"] if command == "inspect" else []), check=False)
    err = proc.stderr.decode()
    prefix = f"tqf {command}: "
    if proc.returncode == 0 or err.startswith(f"{prefix}{path}: "):  # opened (verify: problems)
        return None
    assert proc.returncode == 1 and err.startswith(prefix) and err.count("\n") == 1, err
    return err[len(prefix):-1]


def open_error(path):
    with pytest.raises(tqf.Error) as info:
        tqf.open(path)
    e = info.value
    assert type(e) is CLASSES[e.code], (type(e), e.code)
    assert str(e).endswith(e.message)
    return e


def test_missing_file(cli, tmp_path):
    e = open_error(tmp_path / "missing.tqf")
    assert isinstance(e, tqf.NotFoundError)
    assert str(e) == cli_message(cli, tmp_path / "missing.tqf")


def test_not_a_tqf_file(cli, stories_src, tmp_path):
    for path in (stories_src, tmp_path):  # a GGUF; a directory
        e = open_error(path)
        assert str(e) == cli_message(cli, path)
    empty = tmp_path / "empty.tqf"
    empty.write_bytes(b"")
    assert str(open_error(empty)) == cli_message(cli, empty)


def test_truncated_files_raise_what_the_cli_prints(cli, model_path, tmp_path):
    data = model_path.read_bytes()
    cuts = sorted({0, 1, 8, 63, 64, 4095, 4096, 4097, len(data) // 2, len(data) - 65,
                   len(data) - 64, len(data) - 8, len(data) - 1})
    for n in cuts:
        path = tmp_path / f"cut{n}.tqf"
        path.write_bytes(data[:n])
        e = open_error(path)
        assert isinstance(e, (tqf.CorruptionError, tqf.ChecksumMismatchError)), (n, e)
        assert str(e) == cli_message(cli, path), n


def test_byte_flips_never_crash(cli, model_path, tmp_path):
    """Flip one byte at many places: open, decode and verify either work or
    raise a tqf.Error, exactly when and as `tqf verify` fails (which opens
    with checksums checked too)."""
    data = bytearray(model_path.read_bytes())
    step = max(1, len(data) // 97)
    positions = list(range(0, 64)) + list(range(64, len(data), step)) + list(range(len(data) - 64, len(data)))
    path = tmp_path / "flip.tqf"
    outcomes = set()
    for pos in positions:
        flipped = bytearray(data)
        flipped[pos] ^= 0x5A
        path.write_bytes(flipped)
        want = cli_message(cli, path, "verify")
        try:
            f = tqf.open(path)
        except tqf.Error as e:
            assert str(e) == want, pos
            outcomes.add(type(e).__name__)
            continue
        assert want is None, pos
        with f:
            report = f.verify()
            for name in f.keys():
                try:
                    f.get_tensor(name)
                except tqf.Error as e:
                    outcomes.add(type(e).__name__)
                    assert not report["ok"]
            outcomes.add("ok" if report["ok"] else "verify-problems")
    # Every path was taken: refused at open (structure, checksums), found by verify.
    assert {"CorruptionError", "ChecksumMismatchError", "verify-problems"} <= outcomes


def test_damaged_stream_checksums(cli, packed, tmp_path):
    src = packed("channel", "raw")
    path = tmp_path / "damaged.tqf"
    shutil.copy(src, path)
    with tqf.open(src) as f:
        info = f.inspect()
    streams = next(s for s in info["sections"] if s["kind"] == "streams")
    data = bytearray(path.read_bytes())
    data[streams["offset"] + streams["size"] // 2] ^= 0xFF
    path.write_bytes(data)

    proc = cli("verify", path, check=False)
    assert proc.returncode == 1
    with tqf.open(path) as f:  # Open checks structure only: it succeeds
        report = f.verify(threads=1)
        assert not report["ok"] and len(report["problems"]) == 1
        problem = report["problems"][0]
        assert problem["where"].startswith("tensor '")
        assert f"tqf verify: {path}: {problem['message']}\n".encode() in proc.stderr
        bad = problem["where"].split("'")[1]
        with pytest.raises(tqf.ChecksumMismatchError, match=bad):
            f.get_tensor(bad)
        with pytest.raises(tqf.ChecksumMismatchError):  # the view is checked before it is made
            f.get_quantized(bad)
        good = [n for n in f.keys() if n != bad]
        for name in good:
            f.get_tensor(name)
    with tqf.open(path, verify_checksums=False) as f:  # raw codec: the flipped byte shows
        with tqf.open(src) as ok:
            assert not np.array_equal(f.get_quantized(bad).codes, ok.get_quantized(bad).codes)


def test_file_changed_while_mapped_raises_ioerror(packed, tmp_path):
    """The SIGBUS handler installed at import turns a fault on a truncated
    mapping into tqf.IOError. (pytest enables faulthandler after conftest
    imported tqf, so faulthandler would see the fault first and print a
    "Fatal Python error" traceback before passing it on: it is switched
    off around the fault.)"""
    path = tmp_path / "shrinking.tqf"
    shutil.copy(packed("channel", "rans-alias"), path)
    was_enabled = faulthandler.is_enabled()
    faulthandler.disable()
    try:
        with tqf.open(path) as f:
            names = f.keys()
            f.get_tensor(names[-1])
            os.truncate(path, 4096)  # rewritten in place under the mapping
            with pytest.raises(tqf.IOError, match="changed while in use"):
                for name in names:
                    f.get_tensor(name)
    finally:
        if was_enabled:
            faulthandler.enable()


def test_bad_arguments(model_path, tmp_path):
    with tqf.open(model_path) as f:
        with pytest.raises(tqf.NotFoundError, match="nope"):
            f.get_tensor("nope")
        with pytest.raises(TypeError):
            f.get_tensor(3)
        with pytest.raises(tqf.InvalidArgumentError):
            f.get_tensor("output.weight", threads=-1)
        with pytest.raises(tqf.InvalidArgumentError):
            f.verify(threads=-2)
    with pytest.raises(TypeError):
        tqf.open(None)
    with pytest.raises(tqf.InvalidArgumentError, match="NUL"):
        tqf.open("a\0b")
    with pytest.raises(tqf.InvalidArgumentError):
        tqf.open("")


def test_bad_model_arguments(model_path, model):
    bad = [
        dict(mem_budget=-1), dict(threads=-1), dict(ctx_size=0), dict(ctx_size=1 << 30),
        dict(attach="x", mem_budget=0),
    ]
    for kwargs in bad:
        with pytest.raises(tqf.InvalidArgumentError):
            tqf.Model(model_path, **kwargs)
    with pytest.raises(tqf.InvalidArgumentError, match="no model file"):
        tqf.Model()
    with pytest.raises(tqf.CorruptionError):
        tqf.Model(__file__)
    with pytest.raises(tqf.NotFoundError):
        tqf.Model(model_path, attach="tqf-python-test-no-such-service")
    for kwargs in (dict(temperature=-1), dict(temperature=float("nan")), dict(top_p=0),
                   dict(top_p=1.5), dict(max_tokens=-1), dict(seed=-1), dict(seed=1 << 64)):
        with pytest.raises(tqf.InvalidArgumentError):
            model.generate("Once", **kwargs)
        with pytest.raises(tqf.InvalidArgumentError):
            model.stream("Once", **kwargs)
    with pytest.raises(TypeError):
        model.generate("Once", seed="7")
    with pytest.raises(tqf.InvalidArgumentError, match="context"):
        model.generate("Once upon a time " * 1000)
    with pytest.raises(tqf.InvalidArgumentError):
        model.logits([])
    with pytest.raises(tqf.InvalidArgumentError):
        model.logits([model.vocab_size])  # out of range
    with pytest.raises(tqf.InvalidArgumentError):
        model.logits([1] * (model.ctx_size + 1))
    with pytest.raises(TypeError):
        model.logits(["a"])
    with pytest.raises(tqf.InvalidArgumentError):
        model.perplexity("Once upon a time", ctx=0)
    with pytest.raises(tqf.InvalidArgumentError):
        model.perplexity("Once upon a time", ctx=2, stride=5)
    with pytest.raises(TypeError):
        model.tokenize(5)
