#!/usr/bin/env python3
"""Models from a URL, end to end: a real nginx serves packed sample models,
tests/remote/fault_proxy.py sits in front of it to misbehave, and the real
`tqf` command reads them. Run by ctest (tests/CMakeLists.txt), one test
class per ctest test:

  remote_test.py TQF SHARED_DIR CLASS

Fails (never skips) when nginx is missing: scripts/install-deps.sh installs
nginx-light. Every tqf run has a timeout, so a hang fails the test.
"""
import ctypes
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
TQF = SHARED = None
TIMEOUT = 120  # seconds for any one tqf command
PROMPT = "Once upon a time"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, what):
    for _ in range(200):
        if proc.poll() is not None:
            raise RuntimeError("%s exited with %d" % (what, proc.returncode))
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("%s did not start listening on port %d" % (what, port))


class Servers:
    """nginx on a free port serving ROOT, and the fault proxy in front of it."""

    def __init__(self, root, prefix):
        nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx")
                                          else None)
        if nginx is None:
            raise RuntimeError("nginx not found: the remote tests need a real nginx "
                               "(apt-get install nginx-light; scripts/install-deps.sh)")
        self.prefix = prefix
        self.port = free_port()
        with open(os.path.join(HERE, "nginx.conf.in")) as f:
            conf = f.read()
        for k, v in {"@ROOT@": root, "@PREFIX@": prefix, "@PORT@": str(self.port),
                     "@LIMIT_RATE@": "0"}.items():
            conf = conf.replace(k, v)
        # A TLS server with a self-signed certificate: tqf must refuse it.
        self.tls_port = free_port()
        cert, key = os.path.join(prefix, "cert.pem"), os.path.join(prefix, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-subj", "/CN=127.0.0.1", "-keyout", key, "-out", cert],
                       check=True, capture_output=True, timeout=60)
        with open(os.path.join(prefix, "extra.conf"), "w") as f:
            f.write("server { listen 127.0.0.1:%d ssl; root %s; ssl_certificate %s; "
                    "ssl_certificate_key %s; }\n" % (self.tls_port, root, cert, key))
        conf_path = os.path.join(prefix, "nginx.conf")
        with open(conf_path, "w") as f:
            f.write(conf)
        self.nginx = subprocess.Popen([nginx, "-p", prefix, "-c", conf_path, "-e",
                                       os.path.join(prefix, "error.log")])
        wait_port(self.port, self.nginx, "nginx")
        port_file = os.path.join(prefix, "proxy.port")
        self.proxy = subprocess.Popen([sys.executable, os.path.join(HERE, "fault_proxy.py"),
                                       str(self.port), port_file])
        for _ in range(200):
            if os.path.exists(port_file):
                break
            time.sleep(0.05)
        with open(port_file) as f:
            self.proxy_port = int(f.read())
        wait_port(self.proxy_port, self.proxy, "fault proxy")

    def stop(self):
        for p in (self.proxy, self.nginx):
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()

    def control(self, path):
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (self.proxy_port, path)) as r:
            return json.loads(r.read())

    def fault(self, kind, skip=0, times=-1):
        self.control("/__fault?kind=%s&skip=%d&times=%d" % (kind, skip, times))


ENV = {}  # set up once per process: the servers and the packed model


def setUpModule():
    tmp = tempfile.mkdtemp(prefix="tqf-remote-")
    os.chmod(tmp, 0o755)  # nginx started by root serves as "nobody"
    www = os.path.join(tmp, "www")
    os.makedirs(www)
    model = os.path.join(www, "s.tqf")
    subprocess.run([TQF, "pack", os.path.join(SHARED, "models/stories260K/stories260K.gguf"),
                    "-o", model], check=True, timeout=TIMEOUT, stdout=subprocess.DEVNULL)
    os.symlink(model, os.path.join(www, "same-bytes-other-name.tqf"))
    # A hostile file: its footer claims a 1 TiB header (footer bytes 8..15),
    # with the footer's checksum (XXH3-64 of its first 48 bytes) made good.
    xxh = ctypes.CDLL("libxxhash.so.0")
    xxh.XXH3_64bits.restype = ctypes.c_uint64
    xxh.XXH3_64bits.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
    data = bytearray(read(model))
    foot = len(data) - 64
    data[foot + 8:foot + 16] = (1 << 40).to_bytes(8, "little")
    data[foot + 48:foot + 56] = xxh.XXH3_64bits(bytes(data[foot:foot + 48]), 48).to_bytes(8, "little")
    with open(os.path.join(www, "giant-header.tqf"), "wb") as f:
        f.write(data)
    prefix = os.path.join(tmp, "nginx")
    os.makedirs(prefix)
    ENV.update(tmp=tmp, model=model, servers=Servers(www, prefix))


def tearDownModule():
    if "servers" in ENV:
        ENV["servers"].stop()
    shutil.rmtree(ENV.get("tmp", "/nonexistent"), ignore_errors=True)


def tqf(*args, timeout=TIMEOUT, env=None):
    return subprocess.run([TQF] + [str(a) for a in args], capture_output=True, text=True,
                          timeout=timeout, env=None if env is None else dict(os.environ, **env))


def read(path):
    with open(path, "rb") as f:
        return f.read()


def direct(name="s.tqf"):
    return "http://127.0.0.1:%d/%s" % (ENV["servers"].port, name)


def proxied(name="s.tqf"):
    # Credentials in every proxied URL: no message may print them.
    return "http://tester:s3cret@127.0.0.1:%d/%s" % (ENV["servers"].proxy_port, name)


class RemoteBase(unittest.TestCase):
    def setUp(self):
        ENV["servers"].control("/__reset")

    def assertOk(self, r):
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("s3cret", r.stdout + r.stderr)

    def assertFails(self, r, *words):
        """Exit 1 with a message naming the URL (redacted) and each of `words`."""
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertNotIn("s3cret", r.stdout + r.stderr)
        self.assertIn("***@127.0.0.1", r.stderr)
        for w in words:
            self.assertIn(w, r.stderr)


class Identical(RemoteBase):
    """A URL gives byte-identical output to the local file."""

    def test_inspect_json(self):
        local = tqf("inspect", "--json", ENV["model"])
        remote = tqf("inspect", "--json", direct())
        self.assertOk(remote)
        self.assertEqual(local.stdout, remote.stdout)

    def test_verify(self):
        r = tqf("verify", direct())
        self.assertOk(r)
        self.assertIn("OK (48 tensors, 48 blocks", r.stdout)

    def test_run_greedy(self):
        local = tqf("run", ENV["model"], "-p", PROMPT, "-n", 60, "--temp", 0)
        self.assertOk(local)
        for budget in ([], ["--mem-budget", "0"], ["--mem-budget", "100K"]):
            remote = tqf("run", direct(), "-p", PROMPT, "-n", 60, "--temp", 0, *budget)
            self.assertOk(remote)
            self.assertEqual(local.stdout, remote.stdout, budget)

    def test_eval_perplexity(self):
        text = os.path.join(SHARED, "eval/text/tinystories-valid-subset.txt")

        def scores(model):
            r = tqf("eval", model, "--ppl", text, "--ppl-tokens", 1500, "--json")
            self.assertOk(r)
            task = json.loads(r.stdout)["models"][0]["tasks"][0]
            del task["seconds"]
            return task

        self.assertEqual(scores(ENV["model"]), scores(direct()))

    def test_serve_and_attach(self):
        name = "tqf-remote-test-%d" % os.getpid()
        serve = subprocess.Popen([TQF, "serve", direct(), "--name", name],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            for _ in range(100):
                if tqf("serve", "--status", name).returncode == 0:
                    break
                time.sleep(0.1)
            local = tqf("run", ENV["model"], "-p", PROMPT, "-n", 30, "--temp", 0)
            attached = tqf("run", "--attach", name, "-p", PROMPT, "-n", 30, "--temp", 0)
            self.assertOk(attached)
            self.assertEqual(local.stdout, attached.stdout)
        finally:
            serve.terminate()
            serve.communicate(timeout=30)

    def test_open_costs_few_requests(self):
        log = os.path.join(ENV["servers"].prefix, "ranges.log")
        with open(log) as f:
            before = len(f.readlines())
        self.assertOk(tqf("inspect", direct()))
        with open(log) as f:
            lines = f.read().splitlines()[before:]
        # The file's tail, then preamble + header, then the small sections.
        self.assertLessEqual(len(lines), 5, lines)
        self.assertTrue(all(" 206 " in l for l in lines), lines)


class Faults(RemoteBase):
    """A flaky or hostile server: a clean retry, or a clean error naming it."""

    def run_model(self, *extra, url=None):
        return tqf("run", url or proxied(), "-p", PROMPT, "-n", 20, "--temp", 0, *extra)

    def expected(self):
        return tqf("run", ENV["model"], "-p", PROMPT, "-n", 20, "--temp", 0).stdout

    def test_transient_faults_are_retried(self):
        want = self.expected()
        for kind in ("drop", "truncate", "status503", "flip"):
            # skip=3: past Open, into the blocks (flip: a block's checksum fails once).
            ENV["servers"].control("/__reset")
            ENV["servers"].fault(kind, skip=3, times=1)
            r = self.run_model("--http-stats")
            self.assertOk(r)
            self.assertEqual(r.stdout, want, kind)
            self.assertRegex(r.stderr, r"[1-9]\d* retries" if kind != "flip" else "requests", kind)

    def test_corrupt_blocks_are_refused(self):
        ENV["servers"].fault("flip", skip=3)
        r = self.run_model()
        self.assertFails(r, "checksum", "the server sends corrupted bytes")

    def test_corrupt_header_is_refused(self):
        ENV["servers"].fault("flip", skip=0)
        self.assertFails(tqf("inspect", proxied()), "checksum")

    def test_server_ignoring_range(self):
        ENV["servers"].fault("ignore_range")
        self.assertFails(tqf("inspect", proxied()), "ignored the Range request")

    def test_wrong_range(self):
        ENV["servers"].fault("wrong_range", skip=1)
        self.assertFails(tqf("inspect", proxied()), "another range")

    def test_file_changed_between_requests(self):
        ENV["servers"].fault("etag", skip=3)
        self.assertFails(self.run_model(), "changed since it was opened", "ETag")

    def test_persistent_errors_give_up(self):
        ENV["servers"].fault("status503", skip=3)
        self.assertFails(self.run_model("--http-retries", 2), "HTTP 503", "gave up after 3")

    def test_stalled_server_times_out(self):
        ENV["servers"].fault("delay", skip=3)
        start = time.time()
        r = self.run_model("--http-timeout", 1, "--http-retries", 1)
        self.assertFails(r, "gave up after 2")
        self.assertLess(time.time() - start, 60)

    def test_hostile_size(self):
        ENV["servers"].fault("huge_size", times=1)
        r = tqf("verify", proxied())
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertNotIn("s3cret", r.stderr)
        self.assertIn("is not the file's last 262144 bytes", r.stderr)

    def test_redirect_to_file_is_refused(self):
        ENV["servers"].fault("redirect_file")
        r = tqf("inspect", proxied())
        self.assertFails(r)
        self.assertNotIn("root:", r.stdout + r.stderr)

    def test_footer_claiming_a_giant_header(self):
        ENV["servers"].control("/__reset")
        r = tqf("inspect", proxied("giant-header.tqf"))
        self.assertFails(r, "header of 1099511627776 bytes; a remote reader fetches at most")
        # Refused before fetching it: Open's first two round trips only.
        self.assertLess(ENV["servers"].control("/__stats")["bytes"], 300_000)

    def test_tls_is_verified_by_default(self):
        r = tqf("inspect", "https://tester:s3cret@127.0.0.1:%d/s.tqf" % ENV["servers"].tls_port,
                "--http-retries", 0)
        self.assertFails(r, "certificate")

    def test_not_found_and_refused(self):
        self.assertFails(tqf("inspect", proxied("missing.tqf")), "not found")
        port = free_port()
        r = tqf("inspect", "http://tester:s3cret@127.0.0.1:%d/s.tqf" % port, "--http-retries", 0)
        self.assertEqual(r.returncode, 1)
        self.assertNotIn("s3cret", r.stderr)


class Loading(RemoteBase):
    """libcurl is loaded for the first URL only: local files never map it."""

    def test_local_files_never_load_libcurl(self):
        # ld.so's LD_DEBUG=libs names every library it loads, dlopen'ed ones included.
        r = tqf("run", ENV["model"], "-p", PROMPT, "-n", 4, "--temp", 0,
                env={"LD_DEBUG": "libs"})
        self.assertOk(r)
        self.assertNotIn("libcurl", r.stderr)
        r = tqf("inspect", proxied(), env={"LD_DEBUG": "libs"})
        self.assertOk(r)
        self.assertIn("libcurl.so.4", r.stderr)

    def test_missing_libcurl_is_a_clear_error(self):
        r = tqf("inspect", proxied(), env={"TQF_LIBCURL": "/nonexistent/libcurl.so.4"})
        self.assertFails(r, "needs libcurl", "/nonexistent/libcurl.so.4")
        # A library without curl's functions: named, with the first one missing.
        r = tqf("inspect", proxied(), env={"TQF_LIBCURL": "libz.so.1"})
        self.assertFails(r, "libz.so.1 has no curl_global_init")


class Python(RemoteBase):
    """`import tqf` reads a URL as a local file: tensors, metadata and generation."""

    SCRIPT = r"""
import json, sys
import numpy as np
import tqf
local, url = sys.argv[1], sys.argv[2]
a, b = tqf.open(local), tqf.open(url)
assert a.keys() == b.keys(), "tensor names differ"
for name in a.keys():
    x, y = a.get_tensor(name), b.get_tensor(name)
    assert x.dtype == y.dtype and x.shape == y.shape, name
    assert np.array_equal(x, y), name
assert a.metadata() == b.metadata(), "metadata differs"
b.verify()
texts = [tqf.Model(p, mem_budget=0).generate("Once upon a time", max_tokens=20, temperature=0)
         for p in (local, url)]
assert texts[0] == texts[1], texts
print(json.dumps({"tensors": len(a.keys()), "text": texts[1]}))
"""

    def run_python(self, *args):
        return subprocess.run([sys.executable, "-c", self.SCRIPT] + list(args),
                              capture_output=True, text=True, timeout=TIMEOUT)

    def test_same_tensors_and_text(self):
        r = self.run_python(ENV["model"], proxied())
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("s3cret", r.stdout + r.stderr)
        out = json.loads(r.stdout)
        self.assertGreater(out["tensors"], 10)
        self.assertTrue(out["text"])

    def test_errors_are_python_exceptions(self):
        r = self.run_python(ENV["model"], proxied("missing.tqf"))
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("NotFoundError", r.stderr)
        self.assertIn("***@127.0.0.1", r.stderr)
        self.assertNotIn("s3cret", r.stderr)


class Cache(RemoteBase):
    """--cache-dir: verified blocks reused across runs, processes and URLs."""

    def run_model(self, cache, url=None, *extra):
        return tqf("run", "--cache-dir", cache, url or proxied(), "-p", PROMPT, "-n", 30,
                   "--temp", 0, "--mem-budget", 0, *extra)

    def open_bytes(self):
        ENV["servers"].control("/__reset")
        self.assertOk(tqf("inspect", proxied()))
        return ENV["servers"].control("/__stats")["bytes"]

    def test_second_run_fetches_no_stream_bytes(self):
        cache = tempfile.mkdtemp(dir=ENV["tmp"])
        open_bytes = self.open_bytes()
        ENV["servers"].control("/__reset")
        first = self.run_model(cache)
        self.assertOk(first)
        first_bytes = ENV["servers"].control("/__stats")["bytes"]
        self.assertGreater(first_bytes, open_bytes)
        for url in (proxied(), proxied("same-bytes-other-name.tqf")):
            ENV["servers"].control("/__reset")
            again = self.run_model(cache, url)
            self.assertOk(again)
            self.assertEqual(again.stdout, first.stdout)
            # Only what Open reads (footer, header, small sections): no stream bytes.
            self.assertEqual(ENV["servers"].control("/__stats")["bytes"], open_bytes, url)

    def test_bad_cache_entry_is_refetched(self):
        cache = tempfile.mkdtemp(dir=ENV["tmp"])
        first = self.run_model(cache)
        self.assertOk(first)
        entries = sorted(os.path.join(d, f) for d, _, fs in os.walk(cache) for f in fs)
        self.assertGreater(len(entries), 10)
        victim = max(entries, key=os.path.getsize)
        good = read(victim)
        with open(victim, "r+b") as f:
            f.seek(7)
            b = f.read(1)
            f.seek(7)
            f.write(bytes([b[0] ^ 1]))
        open_bytes = self.open_bytes()
        ENV["servers"].control("/__reset")
        again = self.run_model(cache)
        self.assertOk(again)
        self.assertEqual(again.stdout, first.stdout)
        # The bad entry was dropped, its bytes fetched again (those not
        # already in memory from Open's reads), and the entry rewritten.
        refetched = ENV["servers"].control("/__stats")["bytes"] - open_bytes
        self.assertGreater(refetched, 0)
        self.assertLess(refetched, 4 * len(good))
        self.assertEqual(read(victim), good)

    def test_size_limit(self):
        cache = tempfile.mkdtemp(dir=ENV["tmp"])
        limit = 100_000
        r = self.run_model(cache, None, "--cache-max-bytes", limit)
        self.assertOk(r)
        total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(cache) for f in fs)
        self.assertGreater(total, 0)
        self.assertLessEqual(total, limit)


class Fetch(RemoteBase):
    """tqf fetch: a verified, atomic, resumable download."""

    def test_fetch_is_byte_identical(self):
        out = os.path.join(ENV["tmp"], "fetched.tqf")
        r = tqf("fetch", proxied(), "-o", out)
        self.assertOk(r)
        self.assertEqual(read(out), read(ENV["model"]))
        self.assertFalse(os.path.exists(out + ".part"))

    def test_resume_keeps_good_pieces(self):
        out = os.path.join(ENV["tmp"], "resumed.tqf")
        data = bytearray(read(ENV["model"]))
        data[len(data) // 3] ^= 0xFF  # one damaged block; the rest is kept
        with open(out + ".part", "wb") as f:
            f.write(data)
        r = tqf("fetch", proxied(), "-o", out, "--http-stats")
        self.assertOk(r)
        self.assertEqual(read(out), read(ENV["model"]))
        fetched = ENV["servers"].control("/__stats")["bytes"]
        self.assertLess(fetched, len(data), "a resumed fetch downloads less than the file")

    def test_corrupt_server_leaves_no_file(self):
        out = os.path.join(ENV["tmp"], "never.tqf")
        ENV["servers"].fault("flip", skip=3)
        self.assertFails(tqf("fetch", proxied(), "-o", out), "checksum")
        self.assertFalse(os.path.exists(out))


if __name__ == "__main__":
    TQF, SHARED = os.path.abspath(sys.argv[1]), sys.argv[2]
    unittest.main(argv=[sys.argv[0]] + sys.argv[3:], verbosity=2)
