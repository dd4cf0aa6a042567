"""A tiny range-serving HTTP server on 127.0.0.1 for HTTPS-style roots (plain http: TLS is not what is tested),
with failure modes: ``fail`` answers 500, ``slow`` sleeps before answering, ``flaky`` fails the first N requests."""

from __future__ import annotations

import hashlib
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class RangeServer:
    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.mode = "ok"
        self.delay = 0.0
        self.flaky = 0
        self.requests = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _answer(self, body: bool) -> None:
                owner.requests += 1
                if owner.mode == "slow":
                    time.sleep(owner.delay)
                if owner.mode == "fail" or (owner.mode == "flaky" and owner.flaky > 0):
                    owner.flaky -= 1
                    self.send_response(500)
                    self.send_header("Content-Length", "13")
                    self.end_headers()
                    if body:
                        self.wfile.write(b"server broken")
                    return
                data = owner.files.get(self.path.split("?")[0])
                if data is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                start, end = 0, len(data) - 1
                ranged = self.headers.get("Range")
                if ranged and ranged.startswith("bytes="):
                    a, _, b = ranged[6:].partition("-")
                    start, end = int(a or 0), min(int(b) if b else len(data) - 1, len(data) - 1)
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(end - start + 1))
                self.send_header("Accept-Ranges", "bytes")
                self.send_header("ETag", '"' + hashlib.md5(data).hexdigest() + '"')
                self.end_headers()
                if body:
                    self.wfile.write(data[start : end + 1])

            def do_HEAD(self) -> None:
                self._answer(False)

            def do_GET(self) -> None:
                self._answer(True)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
