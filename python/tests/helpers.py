"""Helpers of the tqf Python tests: a minimal GGUF v3 reader (key-values and
F32/F16 tensors, enough to compare `tqf unpack` output with the module) and a
check that a call releases the GIL."""
import struct
import threading
import time

import numpy as np

_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?",
            10: "<Q", 11: "<q", 12: "<d"}
_TENSOR_TYPES = {0: np.float32, 1: np.float16}


class _Cursor:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def take(self, fmt):
        (v,) = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return v

    def string(self):
        n = self.take("<Q")
        s = self.data[self.pos:self.pos + n]
        self.pos += n
        return s.decode("utf-8", "surrogateescape")

    def value(self, vtype):
        if vtype == 8:
            return self.string()
        if vtype == 9:
            etype, n = self.take("<I"), self.take("<Q")
            return [self.value(etype) for _ in range(n)]
        return self.take(_SCALARS[vtype])


def read_gguf(path):
    """Returns (kv dict, {name: numpy array shaped outermost first})."""
    data = open(path, "rb").read()
    c = _Cursor(data)
    assert data[:4] == b"GGUF", path
    c.pos = 4
    assert c.take("<I") == 3
    n_tensors, n_kv = c.take("<Q"), c.take("<Q")
    kv = {}
    for _ in range(n_kv):
        key = c.string()
        kv[key] = c.value(c.take("<I"))
    infos = []
    for _ in range(n_tensors):
        name = c.string()
        dims = [c.take("<Q") for _ in range(c.take("<I"))]
        infos.append((name, dims, c.take("<I"), c.take("<Q")))
    align = kv.get("general.alignment", 32)
    start = (c.pos + align - 1) // align * align
    tensors = {}
    for name, dims, ttype, offset in infos:
        dtype = _TENSOR_TYPES[ttype]
        count = int(np.prod(dims)) if dims else 1
        arr = np.frombuffer(data, dtype=dtype, count=count, offset=start + offset)
        tensors[name] = arr.reshape(list(reversed(dims)))  # GGUF lists ne[0] (innermost) first
    return kv, tensors


def assert_releases_gil(fn, min_seconds=0.05):
    """Runs fn() in a thread and counts, on this thread, while it runs. A
    call that holds the GIL lets this thread run only around it (a sorted()
    of 3M floats, 0.9 s: 80k counts, all in its last 50 ms); one that
    releases it lets it count all along (1-2M counts per second here; the
    check asks for 100k, to hold on a loaded machine).
    Returns fn's result."""
    started = threading.Event()
    result = {}

    def work():
        started.set()
        t0 = time.perf_counter()
        result["value"] = fn()
        result["seconds"] = time.perf_counter() - t0

    worker = threading.Thread(target=work)
    worker.start()
    started.wait()
    ticks = 0
    while worker.is_alive():
        ticks += 1
    worker.join()
    seconds = result["seconds"]
    assert seconds >= min_seconds, f"the call took {seconds:.3f} s: too short to tell"
    assert ticks > 100000 * seconds, f"{ticks} counts while the call ran {seconds:.3f} s: GIL held?"
    return result["value"]
