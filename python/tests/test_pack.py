"""tqf.pack: the same file as `tqf pack`, progress, cancellation, the
not-yet-available sub-8-bit options, and the GIL released while it runs."""
import os
import pytest

import tqf
from helpers import assert_releases_gil


@pytest.mark.parametrize("quant,codec", [("channel", None), ("block32", "rans"),
                                         ("tensor-minmax", "dict4"), ("raw", "raw")])
def test_pack_writes_the_same_bytes_as_the_cli(cli, stories_src, tmp_path, quant, codec):
    ours, theirs = tmp_path / "py.tqf", tmp_path / "cli.tqf"
    report = tqf.pack(stories_src, ours, quant=quant, codec=codec)
    cli("pack", stories_src, "-o", theirs, "--quant", quant, *(["--codec", codec] if codec else []),
        "--quiet")
    assert ours.read_bytes() == theirs.read_bytes()
    assert report["file_bytes"] == os.path.getsize(ours)
    assert report["format"] == "gguf"
    with tqf.open(ours) as f:
        assert [t["name"] for t in report["tensors"]] == f.keys()
        assert f.verify()["ok"]


def test_pack_accepts_pathlike_and_str(stories_src, tmp_path):
    tqf.pack(str(stories_src), str(tmp_path / "a.tqf"))
    tqf.pack(stories_src, os.fsencode(tmp_path / "b.tqf"))
    assert (tmp_path / "a.tqf").read_bytes() == (tmp_path / "b.tqf").read_bytes()


def test_progress_reports_both_phases(stories_src, tmp_path):
    calls = []
    tqf.pack(stories_src, tmp_path / "p.tqf", progress=lambda *a: calls.append(a))
    phases = [c[0] for c in calls]
    assert phases == sorted(phases)  # "analyse" then "encode"
    for phase in ("analyse", "encode"):
        done = [d for p, d, _ in calls if p == phase]
        total = {t for p, _, t in calls if p == phase}
        assert len(total) == 1 and done == list(range(1, total.pop() + 1)), phase


def test_exception_in_progress_stops_the_pack_and_leaves_nothing(stories_src, tmp_path):
    out = tmp_path / "cancelled.tqf"

    def progress(phase, done, total):
        if phase == "encode" and done == 3:
            raise KeyError("stop here")

    with pytest.raises(KeyError, match="stop here"):
        tqf.pack(stories_src, out, progress=progress)
    assert os.listdir(tmp_path) == []  # no output, no temporary file


def test_low_bit_schemes_bits_and_calibration(stories_src, tmp_path):
    out = tmp_path / "q.tqf"
    r = tqf.pack(stories_src, out, quant="q3a-g16")
    assert 2.5 < r["bits_per_weight"] < 4.0
    with tqf.open(out) as f:
        info = f.inspect()
    assert info["format_version"] == "1.2"
    assert abs(info["weight_bits"]["bits_per_weight"] - r["bits_per_weight"]) < 1e-6
    # A bit budget, calibrated on tokens the model samples itself.
    phases = set()
    r = tqf.pack(stories_src, out, bits=3.5, calib=512,
                 progress=lambda phase, done, total: phases.add(phase))
    assert r["bits_per_weight"] <= 3.5
    assert "3.500 bits per weight asked" in r["bits_choice"]
    assert {"calib-gen", "calib", "costs", "encode"} <= phases
    # Calibration text by path.
    text = tmp_path / "calib.txt"
    text.write_text("Once upon a time there was a little dog. " * 40)
    r = tqf.pack(stories_src, out, quant="ec3", calib=text)
    assert r["bits_per_weight"] < 3.6
    # Distillation after quantization (`tqf pack --finetune`).
    phases.clear()
    r = tqf.pack(stories_src, out, quant="ec3", calib=text, finetune=3, finetune_tokens=2048,
                 finetune_batch=2, finetune_lr=0.02, finetune_average=0.0,
                 progress=lambda phase, done, total: phases.add(phase))
    assert "3 steps of 2 sequences over" in r["finetune"]
    assert "averaged" not in r["finetune"]
    assert {"finetune-gen", "finetune"} <= phases
    with pytest.raises(tqf.InvalidArgumentError):
        tqf.pack(stories_src, out, quant="ec3", finetune=3)
    with pytest.raises(tqf.InvalidArgumentError, match="finetune_batch"):
        tqf.pack(stories_src, out, quant="ec3", calib=text, finetune=3, finetune_batch=0)
    with pytest.raises(tqf.InvalidArgumentError, match="finetune_average"):
        tqf.pack(stories_src, out, quant="ec3", calib=text, finetune=3, finetune_average=1.0)
    with pytest.raises(tqf.InvalidArgumentError, match="finetune_lr"):
        tqf.pack(stories_src, out, quant="ec3", calib=text, finetune=3, finetune_lr=0.0)
    with pytest.raises(tqf.InvalidArgumentError):
        tqf.pack(stories_src, out, bits=0.5)
    with pytest.raises(tqf.InvalidArgumentError):
        tqf.pack(stories_src, out, bits=4, quant="q4-g32")
    with pytest.raises(tqf.InvalidArgumentError):
        tqf.pack(stories_src, out, calib=0)
    with pytest.raises(TypeError):
        tqf.pack(stories_src, out, calib=True)
    with pytest.raises(tqf.Error, match="missing.txt"):
        tqf.pack(stories_src, out, quant="q4-g32", calib=tmp_path / "missing.txt")


def test_bad_pack_arguments(stories_src, tmp_path):
    out = tmp_path / "x.tqf"
    for kwargs, exc in [(dict(quant="int3"), tqf.InvalidArgumentError),
                        (dict(codec="zip"), tqf.InvalidArgumentError),
                        (dict(block_size=0), tqf.InvalidArgumentError),
                        (dict(threads=-1), tqf.InvalidArgumentError),
                        (dict(progress=5), TypeError)]:
        with pytest.raises(exc):
            tqf.pack(stories_src, out, **kwargs)
    with pytest.raises(tqf.InvalidArgumentError, match="overwrite"):
        tqf.pack(stories_src, stories_src)
    link = tmp_path / "same.gguf"
    os.link(stories_src, link) if os.stat(stories_src).st_dev == os.stat(tmp_path).st_dev else \
        os.symlink(stories_src, link)
    with pytest.raises(tqf.InvalidArgumentError, match="same file"):
        tqf.pack(stories_src, link)
    with pytest.raises(tqf.NotFoundError):
        tqf.pack(tmp_path / "missing.gguf", out)
    with pytest.raises(TypeError):
        tqf.pack(stories_src, out, "channel")  # options are keyword-only
    assert not out.exists()


def test_pack_releases_the_gil(shared, tmp_path):
    """Packing GPT-2's attention matrices (29M weights) in a thread leaves the
    interpreter free meanwhile."""
    src = shared / "models/gpt2-attention/gpt2-small-attention.safetensors"
    out = tmp_path / "g.tqf"
    assert_releases_gil(lambda: tqf.pack(src, out), min_seconds=0.1)
    assert out.exists()
