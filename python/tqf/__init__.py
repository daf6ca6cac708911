"""tqf: compressed single-file LLaMA models (.tqf) from Python.

Read a file like safetensors' ``safe_open``::

    import tqf
    with tqf.open("model.tqf") as f:
        w = f.get_tensor("blk.0.attn_q.weight")      # float32 numpy array
        q = f.get_quantized("blk.0.attn_q.weight")   # int8 codes + scales

pack a model (``tqf.pack(src, dst, quant="channel")``), and run one
(``tqf.Model(path).generate("Once upon a time", seed=1)``).

Every failure of the library raises a subclass of :class:`tqf.Error`, one per
status code (``CorruptionError``, ``NotFoundError``, ``InvalidArgumentError``
(also a ``ValueError``), ``IOError`` (also an ``OSError``),
``ChecksumMismatchError``, ``NotSupportedError``, ``ResourceExhaustedError``,
``CancelledError``); ``str(e)`` is the message the ``tqf`` command prints.

Long calls (decoding, verify, pack, generation, logits, perplexity) release the
GIL. Importing tqf installs no SIGINT/SIGTERM handlers; it installs tqf's
SIGBUS handler, so a file truncated while mapped raises ``tqf.IOError`` from a
decode instead of killing the interpreter. Zero-copy arrays read the mapping
directly: truncating the file under one is a fault like with numpy.memmap.
"""

import os as _os

# libgomp's default wait policy spins between parallel regions; on a machine
# whose cores are busy with anything else the library's many short regions
# then crawl (get_tensor over GPT-2's attention matrices measured 10x slower).
# libgomp reads the policy from the environment once, when it loads: as the
# `tqf` command does, default to passive waits while the extension (and with
# it libgomp) loads, then leave the environment as it was. A user's own
# OMP_WAIT_POLICY is respected; a libgomp already loaded keeps its policy.
_default_wait_policy = "OMP_WAIT_POLICY" not in _os.environ
if _default_wait_policy:
    _os.environ["OMP_WAIT_POLICY"] = "passive"
try:
    from tqf._tqf import (  # noqa: F401  (re-exported)
        ChecksumMismatchError,
        CancelledError,
        CorruptionError,
        Error,
        File,
        GenerationStream,
        InvalidArgumentError,
        IOError,
        Model,
        NotFoundError,
        NotSupportedError,
        QuantizedTensor,
        ResourceExhaustedError,
        __version__,
        open,
        pack,
    )
finally:
    if _default_wait_policy:
        del _os.environ["OMP_WAIT_POLICY"]

__all__ = [
    "CancelledError",
    "ChecksumMismatchError",
    "CorruptionError",
    "Error",
    "File",
    "GenerationStream",
    "InvalidArgumentError",
    "Model",
    "NotFoundError",
    "NotSupportedError",
    "QuantizedTensor",
    "ResourceExhaustedError",
    "pack",
]
# IOError and open are left out of __all__ on purpose: `from tqf import *` must
# not shadow the builtins of those names. Use tqf.open and tqf.IOError.
