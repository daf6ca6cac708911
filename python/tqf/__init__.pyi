# Type stubs for the tqf package (the extension module tqf._tqf, re-exported).
import builtins
import os
from typing import Any, Callable, Iterator, Optional, Sequence, Union

import numpy as np
import numpy.typing as npt

__version__: str

_Path = Union[str, bytes, os.PathLike[str], os.PathLike[bytes]]
_Text = Union[str, bytes]

class Error(Exception):
    """Base of every tqf error; str(e) is the message `tqf CMD:` prints."""
    code: int  # the tqf::StatusCode number
    message: str  # the message without the code name

class CorruptionError(Error): ...
class NotSupportedError(Error): ...
class InvalidArgumentError(Error, ValueError): ...
class IOError(Error, builtins.OSError): ...
class NotFoundError(Error): ...
class ChecksumMismatchError(Error): ...
class ResourceExhaustedError(Error): ...
class CancelledError(Error): ...

class QuantizedTensor:
    """A tensor as stored (File.get_quantized)."""
    @property
    def name(self) -> str: ...
    @property
    def shape(self) -> tuple[int, ...]: ...
    @property
    def dtype(self) -> str:
        """Stored element type: "i8", "f32", "f16" or "bf16"."""
    @property
    def codes(self) -> npt.NDArray[np.generic]:
        """int8 codes (i8), the values (f32/f16) or uint16 bit patterns (bf16), shaped
        like the tensor; a read-only view into the mapping when zero_copy."""
    @property
    def scales(self) -> npt.NDArray[np.float32]:
        """(rows,) for channel, (rows, blocks) for block, [scale, zero_point] for
        tensor-minmax, empty when unquantized."""
    @property
    def scheme(self) -> str:
        """"none", "tensor-minmax", "channel" or "block"."""
    @property
    def quant_block(self) -> int: ...
    @property
    def codec(self) -> str: ...
    @property
    def zero_copy(self) -> bool: ...

class File:
    """An open .tqf (tqf.open); a context manager. Arrays outlive it."""
    def keys(self) -> list[str]: ...
    def __len__(self) -> int: ...
    def __iter__(self) -> Iterator[str]: ...
    def __contains__(self, name: object) -> bool: ...
    def get_tensor(self, name: _Text, threads: Optional[int] = None) -> npt.NDArray[np.float32]:
        """Dequantized float32, equal bit for bit to `tqf unpack --dtype f32`."""
    def get_quantized(self, name: _Text, threads: Optional[int] = None) -> QuantizedTensor: ...
    def inspect(self) -> dict[str, Any]:
        """The dict `tqf inspect FILE --json` prints."""
    def verify(self, threads: Optional[int] = None) -> dict[str, Any]:
        """{'ok', 'tensors_checked', 'blocks_checked', 'bytes_decoded', 'problems'}."""
    def metadata(self) -> dict[str, str]: ...
    @property
    def hparams(self) -> dict[str, Any]: ...
    @property
    def tokenizer(self) -> dict[str, Any]: ...
    @property
    def path(self) -> str: ...
    @property
    def closed(self) -> bool: ...
    def close(self) -> None: ...
    def __enter__(self) -> File: ...
    def __exit__(self, *args: object) -> bool: ...

def open(path: _Path, verify_checksums: bool = True) -> File:
    """Maps a .tqf and checks its structure."""

class GenerationStream(Iterator[str]):
    """Generated text, piece by piece (Model.stream)."""
    def __iter__(self) -> GenerationStream: ...
    def __next__(self) -> str: ...
    def close(self) -> None: ...
    @property
    def tokens(self) -> list[int]: ...

class Model:
    """A .tqf run on the CPU; one call at a time runs it, others wait without the GIL."""
    def __init__(
        self,
        path: Optional[_Path] = None,
        mem_budget: Optional[int] = None,
        threads: Optional[int] = None,
        attach: Optional[str] = None,
        ctx_size: Optional[int] = None,
        prefetch: bool = True,
    ) -> None: ...
    def tokenize(
        self, text: _Text, add_bos: Optional[bool] = None, parse_special: bool = False
    ) -> list[int]: ...
    def detokenize(self, ids: Sequence[int], render_special: bool = False) -> str: ...
    def generate(
        self,
        prompt: _Text,
        max_tokens: int = 128,
        temperature: float = 0.8,
        top_p: float = 0.9,
        seed: Optional[int] = None,
        stop_at_eos: bool = True,
    ) -> str:
        """The new text; with a seed, what `tqf run --seed` prints after the prompt."""
    def stream(
        self,
        prompt: _Text,
        max_tokens: int = 128,
        temperature: float = 0.8,
        top_p: float = 0.9,
        seed: Optional[int] = None,
        stop_at_eos: bool = True,
    ) -> GenerationStream: ...
    def logits(self, ids: Sequence[int]) -> npt.NDArray[np.float32]:
        """(len(ids), vocab_size) float32; row i predicts the token after ids[i]."""
    def perplexity(
        self,
        text: _Text,
        ctx: Optional[int] = None,
        stride: Optional[int] = None,
        max_tokens: Optional[int] = None,
    ) -> dict[str, Any]:
        """As `tqf eval --ppl`: {'perplexity', 'mean_nll', 'nll_sum', ...}."""
    def stats(self) -> dict[str, Any]: ...
    @property
    def hparams(self) -> dict[str, Any]: ...
    @property
    def ctx_size(self) -> int: ...
    @property
    def vocab_size(self) -> int: ...
    @property
    def bos_id(self) -> int: ...
    @property
    def eos_id(self) -> int: ...
    @property
    def path(self) -> str: ...

def pack(
    src: _Path,
    dst: _Path,
    *,
    quant: str = "channel",
    codec: Optional[str] = None,
    bits: Optional[float] = None,
    calib: Union[str, bytes, "os.PathLike[str]", int, None] = None,
    progress: Optional[Callable[[str, int, int], object]] = None,
    tokenizer: Optional[_Path] = None,
    block_size: int = 65536,
    threads: Optional[int] = None,
    allow_nonfinite: bool = False,
    finetune: int = 0,
    finetune_tokens: int = 262144,
    finetune_lr: Optional[float] = None,
    finetune_batch: Optional[int] = None,
    finetune_average: Optional[float] = None,
) -> dict[str, Any]:
    """As `tqf pack`: bits = --bits, calib = --calib FILE or --calib-generate N,
    finetune = --finetune N, finetune_tokens = --finetune-tokens N,
    finetune_lr = --finetune-lr X, finetune_batch = --finetune-batch N,
    finetune_average = --finetune-average D (None: the library's defaults)."""
