"""A loopback stand-in for an LLM provider: it speaks the OpenAI chat-completions protocol
over real HTTP (``POST /v1/chat/completions``) and answers from a script.

Each scripted ``Reply`` is used for one request, in order (the last one repeats): a status,
a message content, a delay before answering, extra headers. Every request body is kept, so
tests can read the prompt each round sent. The server listens on 127.0.0.1 only and stops
with its context.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Reply:
    content: str = ""
    status: int = 200
    delay_s: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    prompt_tokens: int = 120
    completion_tokens: int = 80
    raw: bytes | None = None
    """A body sent as it is, instead of a chat completion (a broken or hostile server)."""
    drip_s: float = 0.0
    """Send the body one byte at a time, this long apart (a provider that crawls)."""
    model: str | None = None
    """The model name the answer gives (else the one asked for)."""
    echo_key: bool = False
    """Put the request's Authorization header into an error's message."""
    finish_reason: str = "stop"
    """Why the model stopped (``length``: cut off at its token limit)."""


@dataclass
class StandIn:
    script: list[Reply]
    url: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)
    known_models: set[str] | None = None
    """Models the server serves (others get a 404); ``None``: any model."""

    def next_reply(self, body: dict[str, Any]) -> Reply:
        self.requests.append(body)
        model = body.get("model")
        if self.known_models is not None and model not in self.known_models:
            return Reply(status=404, content=f"The model `{model}` does not exist.")
        index = min(len(self.requests), len(self.script)) - 1
        return self.script[index]

    def user_messages(self, request: int) -> list[str]:
        """The contents of request ``request``'s (0-based) user messages."""
        messages = self.requests[request]["messages"]
        return [m["content"] for m in messages if m["role"] == "user"]


def _handler(standin: StandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_: Any) -> None:
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            if self.path != "/v1/chat/completions":
                self._send(404, {"error": {"message": f"no route {self.path}"}})
                return
            reply = standin.next_reply(body)
            if reply.delay_s:
                time.sleep(reply.delay_s)
            if reply.raw is not None:
                self._send_bytes(reply.status, reply.raw, reply.headers, reply.drip_s)
                return
            if reply.status != 200:
                message = reply.content or "scripted failure"
                if reply.echo_key:
                    message += f" (you sent {self.headers.get('Authorization')})"
                error = {"message": message, "type": "error"}
                self._send(reply.status, {"error": error}, reply.headers)
                return
            self._send(
                200,
                {
                    "id": f"chatcmpl-{len(standin.requests)}",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": reply.model or body.get("model", "standin"),
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": reply.content},
                            "finish_reason": reply.finish_reason,
                        }
                    ],
                    "usage": {
                        "prompt_tokens": reply.prompt_tokens,
                        "completion_tokens": reply.completion_tokens,
                        "total_tokens": reply.prompt_tokens + reply.completion_tokens,
                    },
                },
                reply.headers,
                reply.drip_s,
            )

        def _send(
            self,
            status: int,
            body: Any,
            headers: dict[str, str] | None = None,
            drip_s: float = 0.0,
        ) -> None:
            self._send_bytes(status, json.dumps(body).encode(), headers or {}, drip_s)

        def _send_bytes(
            self, status: int, data: bytes, headers: dict[str, str], drip_s: float
        ) -> None:
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                if not drip_s:
                    self.wfile.write(data)
                for index in range(len(data) if drip_s else 0):
                    self.wfile.write(data[index : index + 1])
                    self.wfile.flush()
                    time.sleep(drip_s)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test)

    return Handler


@contextmanager
def serve(*script: Reply, known_models: set[str] | None = None) -> Iterator[StandIn]:
    """The stand-in, answering ``script``, for the block."""
    standin = StandIn(list(script) or [Reply()], known_models=known_models)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(standin))
    server.daemon_threads = True
    standin.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield standin
    finally:
        server.shutdown()
        server.server_close()
