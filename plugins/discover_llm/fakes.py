"""Local stand-ins for an OpenAI Chat Completions server and an Ollama chat server (127.0.0.1, a thread): for tests
and benchmarks, never used by the label sources.

Each server answers from a script: a queue of :class:`Reply` s, then ``default``
(a callable of the request's JSON body). It records every request it got
(path, headers, body), so tests count requests from the server's side.

Broken answers for the limits: ``Reply(raw=...)`` sends bytes as they are (cut-short
or non-JSON bodies), ``Reply(body=...)`` any JSON, :func:`huge_reply` an answer of
any size generated while it is written, ``length=False`` no Content-Length (the body
ends when the connection closes).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterator


@dataclass
class Reply:
    """One answer: an HTTP status with headers and a JSON body, or the model's text (``content``), or ``raw``
    bytes as they are; ``fill`` bytes of labels are written in place of :data:`FILL` in ``content``."""

    status: int = 200
    content: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    delay: float = 0.0
    raw: bytes | None = None
    length: bool = True
    fill: int = 0


FILL = "@@FILL@@"
_PIECE = json.dumps('"filler label", ')[1:-1].encode()  # as it reads inside the JSON string `content`
_CHUNK = 64 * 1024


def labels_reply(labels: list[str], **kw) -> Reply:
    return Reply(content=json.dumps({"labels": labels}), **kw)


def huge_reply(size: int, **kw) -> Reply:
    """A valid label list of about ``size`` bytes, generated while it is written (never held whole)."""
    return Reply(content='{"labels": [' + FILL + '"last label"]}', fill=size, **kw)


def _body(data: bytes, fill: int) -> tuple[int, Iterator[bytes]]:
    """The length of a body and its chunks: ``data`` with :data:`FILL` replaced by ``fill`` bytes of labels."""
    if not fill:
        return len(data), iter([data])
    head, tail = data.split(FILL.encode())
    count = fill // len(_PIECE)
    per_chunk = max(1, _CHUNK // len(_PIECE))

    def chunks():
        yield head
        for start in range(0, count, per_chunk):
            yield _PIECE * min(per_chunk, count - start)
        yield tail

    return len(head) + count * len(_PIECE) + len(tail), chunks()


class FakeServer:
    """Base: a threaded HTTP server on 127.0.0.1 with a scripted reply queue and a request log."""

    path = "/"

    def __init__(self, default: Callable[[dict], Reply] | None = None):
        self.script: list[Reply] = []
        self.default = default or (lambda body: labels_reply([f"thing {i}" for i in range(120)]))
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = {"_unparsed": raw.decode("utf-8", "replace")}
                with server._lock:
                    server.requests.append({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body})
                    reply = server.script.pop(0) if server.script else server.default(body)
                if reply.delay:
                    time.sleep(reply.delay)
                if self.path.rstrip("/") != server.path:
                    reply = Reply(404, body={"error": f"no route {self.path}"})
                payload = reply.body if reply.body is not None or reply.content is None else None
                if payload is None and reply.content is not None and reply.status == 200:
                    payload = server.answer(body, reply.content)
                data = reply.raw if reply.raw is not None else json.dumps({} if payload is None else payload).encode()
                size, chunks = _body(data, reply.fill)
                try:
                    self.send_response(reply.status)
                    self.send_header("content-type", "application/json")
                    if reply.length:
                        self.send_header("content-length", str(size))
                    for k, v in reply.headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    for chunk in chunks:
                        self.wfile.write(chunk)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def answer(self, body: dict, content: str) -> dict:
        raise NotImplementedError

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def count(self) -> int:
        with self._lock:
            return len(self.requests)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


class FakeOpenAI(FakeServer):
    """``POST /v1/chat/completions`` as OpenAI answers it."""

    path = "/v1/chat/completions"

    def answer(self, body, content):
        return {"id": f"chatcmpl-{self.count}", "object": "chat.completion", "created": int(time.time()),
                "model": f"{body.get('model', '?')}-served",
                "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                             "message": {"role": "assistant", "content": content, "refusal": None}}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20}}

    @property
    def base_url(self) -> str:
        return self.url + "/v1"


class FakeOllama(FakeServer):
    """``POST /api/chat`` (non-streaming) as Ollama answers it."""

    path = "/api/chat"

    def answer(self, body, content):
        return {"model": body.get("model", "?"), "created_at": "2026-01-01T00:00:00Z",
                "message": {"role": "assistant", "content": content}, "done": True, "done_reason": "stop"}


def openai_error(status: int, message: str, **headers) -> Reply:
    return Reply(status, body={"error": {"message": message, "type": "error", "code": None}},
                 headers={k.replace("_", "-"): v for k, v in headers.items()})


def ollama_error(status: int, message: str, **headers) -> Reply:
    return Reply(status, body={"error": message}, headers={k.replace("_", "-"): v for k, v in headers.items()})
