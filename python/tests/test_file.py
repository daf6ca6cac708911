"""tqf.open: tensors, quantized views, metadata and inspect/verify, checked
against the `tqf` command (unpack, inspect --json, verify)."""
import gc
import json

import numpy as np
import pytest

import tqf
from helpers import read_gguf

QUANTS = ["channel", "block32", "tensor-minmax", "raw"]
CODECS = ["raw", "dict4", "rans", "rans-alias"]


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("quant", QUANTS)
def test_get_tensor_equals_unpack_f32_bit_for_bit(cli, packed, tmp_path, quant, codec):
    path = packed(quant, codec)
    gguf = tmp_path / "unpacked.gguf"
    cli("unpack", path, "-o", gguf, "--dtype", "f32")
    _, want = read_gguf(gguf)
    with tqf.open(path) as f:
        assert sorted(f.keys()) == sorted(want)
        for name in f.keys():
            got = f.get_tensor(name)
            assert got.dtype == np.float32 and got.flags.owndata
            assert got.shape == want[name].shape, name
            # Bit for bit: compare the float32 patterns, not the values.
            assert np.array_equal(got.view(np.uint32), want[name].view(np.uint32)), name


def test_inspect_equals_cli_json(cli, packed):
    for quant, codec in [("channel", "rans-alias"), ("block32", "dict4"), ("raw", "raw")]:
        path = packed(quant, codec)
        want = json.loads(cli("inspect", path, "--json", "--tensors").stdout)
        with tqf.open(path) as f:
            assert f.inspect() == want


def _dequantize(q):
    codes = q.codes.astype(np.float32)
    if q.scheme == "channel":
        return q.scales.reshape(-1, *([1] * (codes.ndim - 1))) * codes
    if q.scheme == "block":
        rows = codes.reshape(q.scales.shape[0], -1)
        per = np.repeat(q.scales, q.quant_block, axis=1)[:, : rows.shape[1]]
        return (per * rows).reshape(codes.shape)
    if q.scheme == "tensor-minmax":
        return q.scales[0] * (codes - q.scales[1])
    return q.codes


@pytest.mark.parametrize("quant", ["channel", "block32", "tensor-minmax"])
def test_get_quantized_codes_and_scales_give_get_tensor(packed, quant):
    with tqf.open(packed(quant, "raw")) as raw, tqf.open(packed(quant, "rans-alias")) as coded:
        for name in raw.keys():
            q = raw.get_quantized(name)
            c = coded.get_quantized(name)
            assert q.shape == raw.get_tensor(name).shape == tuple(q.codes.shape)
            assert q.codec == "raw" and q.zero_copy
            assert not q.codes.flags.owndata and not q.codes.flags.writeable
            if q.dtype == "i8":
                assert q.scheme == {"channel": "channel", "block32": "block"}.get(quant, quant)
                assert q.codes.dtype == np.int8 and q.scales.dtype == np.float32
                assert c.codec == "rans-alias" and not c.zero_copy and c.codes.flags.writeable
            else:  # 1-D tensors (norms) are stored f32, raw, unquantized
                assert q.scheme == "none" and q.codes.dtype == np.float32 and q.scales.size == 0
            # Another codec stores the same codes and scales.
            assert np.array_equal(q.codes, c.codes) and np.array_equal(q.scales, c.scales)
            want = raw.get_tensor(name)
            assert np.array_equal(_dequantize(q).view(np.uint32), want.view(np.uint32)), name


def test_zero_copy_views_share_the_mapping(packed):
    with tqf.open(packed("channel", "raw")) as f:
        name = "blk.0.attn_q.weight"
        a, b = f.get_quantized(name).codes, f.get_quantized(name).codes
        assert np.shares_memory(a, b)  # both view the same mapped bytes: nothing copied


def test_arrays_outlive_the_with_block(packed):
    with tqf.open(packed("channel", "raw")) as f:
        names = f.keys()
        views = {n: f.get_quantized(n).codes for n in names}
        copies = {n: v.copy() for n, v in views.items()}
        values = {n: f.get_tensor(n) for n in names}
        expected = {n: v.copy() for n, v in values.items()}
    assert f.closed
    del f
    gc.collect()
    for n in names:  # the views keep the mapping; decoded arrays own their memory
        assert np.array_equal(views[n], copies[n]), n
        assert np.array_equal(values[n], expected[n]), n
        assert views[n].sum() == copies[n].sum()


def test_closed_file_refuses_calls(model_path):
    f = tqf.open(model_path)
    f.close()
    for call in (f.keys, f.inspect, f.verify, f.metadata, lambda: f.get_tensor("output.weight")):
        with pytest.raises(tqf.InvalidArgumentError, match="closed"):
            call()
    with pytest.raises(ValueError):  # InvalidArgumentError is a ValueError
        f.get_quantized("output.weight")
    assert "closed" in repr(f)


def test_mapping_like_access(model_path):
    with tqf.open(model_path) as f:
        keys = f.keys()
        assert list(f) == keys and len(f) == len(keys) > 0
        assert "token_embd.weight" in f and "nope" not in f and 3 not in f
        assert f.path == str(model_path)


def test_verify_reports_ok_like_the_cli(cli, model_path):
    cli("verify", model_path)
    with tqf.open(model_path) as f:
        for threads in (None, 1, 2):
            r = f.verify(threads=threads)
            assert r["ok"] and r["problems"] == []
            assert r["tensors_checked"] == len(f.keys())
            assert r["blocks_checked"] >= r["tensors_checked"]


def test_metadata_hparams_tokenizer_match_the_source(stories_src, packed):
    kv, _ = read_gguf(stories_src)
    with tqf.open(packed()) as f:
        meta, h, tok, info = f.metadata(), f.hparams, f.tokenizer, f.inspect()
    assert meta == info["metadata"]
    assert meta["source.format"] == "gguf" and meta["general.name"] == kv["general.name"]
    for key in ("dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "head_dim",
                "vocab_size", "context_length", "tied_embeddings", "architecture"):
        assert h[key] == info["model"][key], key
    assert h["dim"] == kv["llama.embedding_length"]
    assert h["n_layers"] == kv["llama.block_count"]
    assert h["context_length"] == kv["llama.context_length"]
    assert h["norm_eps"] == np.float32(kv["llama.attention.layer_norm_rms_epsilon"])
    assert tok["tokens"] == kv["tokenizer.ggml.tokens"]
    assert tok["scores"] == [float(np.float32(s)) for s in kv["tokenizer.ggml.scores"]]
    assert tok["bos_id"] == kv["tokenizer.ggml.bos_token_id"] == info["tokenizer"]["bos_id"]
    assert tok["eos_id"] == kv["tokenizer.ggml.eos_token_id"]
    assert tok["vocab_size"] == info["tokenizer"]["tokens"] == len(tok["tokens"])


def test_metadata_round_trips_through_unpack_and_pack(cli, packed, tmp_path):
    """.tqf -> `tqf unpack` -> GGUF -> tqf.pack -> .tqf: the model description
    comes back unchanged (source.format aside, which names the last import)."""
    first = packed()
    gguf = tmp_path / "back.gguf"
    cli("unpack", first, "-o", gguf)
    second = tmp_path / "again.tqf"
    tqf.pack(gguf, second)
    with tqf.open(first) as a, tqf.open(second) as b:
        assert a.hparams == b.hparams
        assert a.tokenizer == b.tokenizer
        assert a.metadata() == b.metadata()
        assert a.keys() == b.keys()
        for name in a.keys():  # channel quantization of already-quantized values
            np.testing.assert_allclose(a.get_tensor(name), b.get_tensor(name), rtol=0,
                                       atol=float(np.abs(a.get_tensor(name)).max()) / 127)
