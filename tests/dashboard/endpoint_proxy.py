"""A chain endpoint for the dashboard tests: a JSON-RPC URL with a password
and an API key in it, on 127.0.0.1, that forwards to anvil or answers garbage.

anvil answers 404 on any path but ``/``, so the proxy serves every path and
forwards the request body alone (basic auth arrives as a header and is
dropped).
"""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

PASSWORD = "s3cret"
API_KEY = "key123"
SECRETS = (PASSWORD, API_KEY)

# What a broken endpoint answers: HTTP status and body, given the JSON-RPC request.
Answer = Callable[[dict[str, Any]], tuple[int, bytes]]


def _result(value: Any) -> Answer:
    return lambda request: (200, json.dumps({"jsonrpc": "2.0", "id": request["id"], "result": value}).encode())


GARBAGE: dict[str, Answer] = {
    "html": lambda request: (200, b"<html><body>502 Bad Gateway</body></html>"),
    "empty": lambda request: (200, b""),
    "not an object": lambda request: (200, b"[1, 2]"),
    "no result": lambda request: (200, json.dumps({"jsonrpc": "2.0", "id": request["id"]}).encode()),
    "bad hex": _result("0xzz"),
    "wrong type": _result({"a": [1]}),
    "server error": lambda request: (500, b"internal error"),
}


class EndpointProxy:
    """Serves ``http://user:s3cret@127.0.0.1:PORT/v3/key123``; forwards to ``target`` unless ``answer`` is set.

    Use as a context manager.
    """

    def __init__(self, target: str) -> None:
        self.target = target
        self.answer: Answer | None = None
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status, reply = proxy._reply(body)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://user:{PASSWORD}@127.0.0.1:{self.server.server_port}/v3/{API_KEY}"
        self.redacted = f"http://***@127.0.0.1:{self.server.server_port}/***"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def _reply(self, body: bytes) -> tuple[int, bytes]:
        if self.answer is not None:
            return self.answer(json.loads(body))
        forwarded = urllib.request.Request(self.target, data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(forwarded, timeout=30) as response:
            return response.status, response.read()

    def __enter__(self) -> EndpointProxy:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=10)
