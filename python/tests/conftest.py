"""Fixtures of the tqf Python tests: the `tqf` command, the shared models, and
.tqf files packed once per session.

Run by ctest (python/CMakeLists.txt), which sets PYTHONPATH to the build
tree's package, TQF_CLI to build/bin/tqf and TQF_SHARED_DIR to ../shared.
Nothing is skipped: a missing numpy, pytest, model or command is a failure.
"""
import os
import pathlib
import subprocess

import numpy  # noqa: F401  (a missing numpy must fail here, loudly)
import pytest

import tqf

STORIES = "models/stories260K/stories260K.gguf"
PROMPT = "Once upon a time"


def _env_path(name):
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set (run these tests through ctest)", pytrace=False)
    return pathlib.Path(value)


@pytest.fixture(scope="session")
def cli():
    """Runs `tqf ARGS...`; returns the CompletedProcess (bytes out/err)."""
    exe = _env_path("TQF_CLI")
    assert exe.is_file(), exe

    def run(*args, check=True):
        proc = subprocess.run([str(exe), *map(str, args)], capture_output=True, timeout=600)
        if check and proc.returncode != 0:
            raise AssertionError(f"tqf {args} exited {proc.returncode}: {proc.stderr.decode()}")
        return proc

    run.path = exe
    return run


@pytest.fixture(scope="session")
def shared():
    d = _env_path("TQF_SHARED_DIR")
    assert (d / STORIES).is_file(), f"shared models missing under {d}"
    return d


@pytest.fixture(scope="session")
def stories_src(shared):
    return shared / STORIES


@pytest.fixture(scope="session")
def packed(cli, stories_src, tmp_path_factory):
    """packed(quant, codec): stories260K packed by the `tqf` command (cached)."""
    cache = {}
    d = tmp_path_factory.mktemp("packed")

    def get(quant="channel", codec="rans-alias"):
        key = (quant, codec)
        if key not in cache:
            out = d / f"stories-{quant}-{codec}.tqf"
            cli("pack", stories_src, "-o", out, "--quant", quant, "--codec", codec, "--quiet")
            cache[key] = out
        return cache[key]

    return get


@pytest.fixture(scope="session")
def model_path(packed):
    return packed("channel", "rans-alias")


@pytest.fixture(scope="session")
def model(model_path):
    return tqf.Model(model_path)
