#!/usr/bin/env python3
"""A fault-injecting HTTP proxy for the remote-model tests.

Forwards GET requests (with their Range header) to an upstream server (the
tests' nginx) and, when told, damages the reply: the hostile or flaky
server a remote reader must survive. Control endpoints (not forwarded):

  /__fault?kind=K&skip=S&times=T   the next T data requests after S more
                                   (T=-1: all of them) get fault K
  /__stats                         {"requests": n, "bytes": n} (body bytes sent)
  /__reset                         no fault, counters zero

Faults: drop (half the body, then the connection closes), truncate (a
complete reply with half the body), flip (one body byte inverted), delay
(no reply for 60 s), ignore_range (200 with the whole file), wrong_range
(the range shifted by one byte), etag (another ETag), status503, huge_size
(Content-Range claims a 4 EiB file), redirect_file (302 to file:///etc/passwd).

Usage: fault_proxy.py UPSTREAM_PORT PORT_FILE   (listens on 127.0.0.1, a free
port written to PORT_FILE once it accepts connections).
"""
import http.client
import http.server
import json
import sys
import threading
import time
import urllib.parse


class State:
    lock = threading.Lock()
    kind = None
    skip = 0
    times = 0
    requests = 0
    bytes = 0

    @classmethod
    def take_fault(cls):
        with cls.lock:
            cls.requests += 1
            if cls.kind is None or cls.times == 0:
                return None
            if cls.skip > 0:
                cls.skip -= 1
                return None
            if cls.times > 0:
                cls.times -= 1
            return cls.kind


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    upstream = 0

    def log_message(self, *args):
        pass

    def reply(self, status, headers, body):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)
        with State.lock:
            State.bytes += len(body)

    def control(self, path, query):
        q = {k: v[0] for k, v in urllib.parse.parse_qs(query).items()}
        with State.lock:
            if path == "/__fault":
                State.kind = q["kind"]
                State.skip = int(q.get("skip", 0))
                State.times = int(q.get("times", -1))
            elif path == "/__reset":
                State.kind, State.skip, State.times = None, 0, 0
                State.requests = State.bytes = 0
            body = json.dumps({"requests": State.requests, "bytes": State.bytes}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path.startswith("/__"):
            return self.control(url.path, url.query)
        fault = State.take_fault()
        if fault == "delay":
            time.sleep(60)
            return
        if fault == "redirect_file":
            return self.reply(302, [("Location", "file:///etc/passwd"), ("Content-Length", "0")],
                              b"")
        if fault == "status503":
            return self.reply(503, [("Content-Length", "0")], b"")
        rng = self.headers.get("Range")
        up = http.client.HTTPConnection("127.0.0.1", self.upstream, timeout=30)
        up.request("GET", url.path, headers={} if fault == "ignore_range" or not rng
                   else {"Range": self.shift(rng) if fault == "wrong_range" else rng})
        r = up.getresponse()
        body = r.read()
        up.close()
        keep = ("Content-Range", "ETag", "Last-Modified", "Content-Type")
        headers = [(k, v) for k, v in r.getheaders() if k in keep]
        if fault == "etag":
            headers = [(k, v + "x" if k == "ETag" else v) for k, v in headers]
        if fault == "huge_size":
            headers = [(k, v.rsplit("/", 1)[0] + "/4611686018427387904" if k == "Content-Range"
                        else v) for k, v in headers]
        if fault == "flip" and body:
            body = body[:len(body) // 2] + bytes([body[len(body) // 2] ^ 0xFF]) + \
                body[len(body) // 2 + 1:]
        if fault == "truncate":
            body = body[:len(body) // 2]
        if fault == "drop":
            self.send_response(r.status)
            for k, v in headers + [("Content-Length", str(len(body)))]:
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body[:len(body) // 2])
            self.close_connection = True
            return
        self.reply(r.status, headers + [("Content-Length", str(len(body)))], body)

    @staticmethod
    def shift(rng):
        first, last = rng[len("bytes="):].split("-")
        if not first:  # a suffix range: ask for one byte fewer
            return "bytes=-%d" % (int(last) - 1)
        return "bytes=%d-%d" % (int(first) + 1, int(last) + 1)


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # A client that hangs up on a fault (the point of most faults) is no error.
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


def main():
    Handler.upstream = int(sys.argv[1])
    server = Server(("127.0.0.1", 0), Handler)
    with open(sys.argv[2] + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    import os
    os.rename(sys.argv[2] + ".tmp", sys.argv[2])
    server.serve_forever()


if __name__ == "__main__":
    main()
