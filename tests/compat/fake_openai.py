"""A minimal OpenAI-compatible chat-completions server for the LLM-judge tests.

It is a real HTTP server (``http.server.ThreadingHTTPServer``) on 127.0.0.1 that answers
``POST /v1/chat/completions`` the way the OpenAI API does, so that the unchanged mlflow client's
built-in judges (``Guidelines``, ``Correctness``, ``RelevanceToQuery``, ``Safety``…) can run
without any network access. The judge's verdict is chosen by a ``responder`` function given the
request's text; the server records every request it receives.

For the LLM-call tracing tests it also answers as a chat model: a ``completer`` gives the
assistant message itself (text and/or ``tool_calls``), and ``"stream": true`` is answered with
server-sent events (the text and each tool call's arguments split over several chunks, the usage
in a last chunk when ``stream_options.include_usage`` asks for it). ``delay`` holds every answer
back that many seconds (the benchmark's slow judge).

mlflow 3.17.2 reaches it through its gateway adapter (no litellm needed): a judge model URI
``openai:/<model>`` plus the environment variables ``OPENAI_API_KEY`` and ``OPENAI_API_BASE``
(``<base>/chat/completions`` is the endpoint). The judge sends a ``response_format`` JSON schema
asking for ``{"result": ..., "rationale": ...}`` and parses the assistant message's ``content``
as that JSON object.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

# (prompt text, request body) -> (result, rationale)
Responder = Callable[[str, dict], tuple[str, str]]
# request body -> the assistant message ({"role": "assistant", "content": ..., "tool_calls": [...]})
Completer = Callable[[dict], dict]
USAGE = {"prompt_tokens": 42, "completion_tokens": 7, "total_tokens": 49}


@dataclass
class ChatRequest:
    path: str
    headers: dict
    body: dict

    @property
    def text(self) -> str:
        """All message contents of the request, joined."""
        parts = []
        for message in self.body.get("messages", []):
            content = message.get("content")
            if isinstance(content, str):
                parts.append(content)
            elif isinstance(content, list):
                parts.extend(p.get("text", "") for p in content if isinstance(p, dict))
        return "\n".join(parts)


@dataclass
class FakeOpenAI:
    responder: Responder | None = None
    completer: Completer | None = None
    delay: float = 0.0
    api_key: str = "sk-ferroflow-test"
    requests: list[ChatRequest] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        """What ``OPENAI_API_BASE`` is set to."""
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> "FakeOpenAI":
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep pytest output quiet
                pass

            def _reply(self, status: int, payload: dict) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    self._reply(400, {"error": {"message": "body is not JSON", "type": "invalid_request_error"}})
                    return
                request = ChatRequest(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                with fake._lock:
                    fake.requests.append(request)
                if self.path.rstrip("/") not in ("/v1/chat/completions", "/v1/responses"):
                    self._reply(404, {"error": {"message": f"no route {self.path}", "type": "invalid_request_error"}})
                    return
                if request.headers.get("authorization") != f"Bearer {fake.api_key}":
                    self._reply(401, {"error": {"message": "bad api key", "type": "invalid_request_error"}})
                    return
                if self.path.rstrip("/") == "/v1/responses":
                    self._responses(body)
                    return
                try:
                    if fake.completer is not None:
                        message = fake.completer(body)
                    else:
                        result, rationale = fake.responder(request.text, body)
                        content = json.dumps({"rationale": rationale, "result": result})
                        message = {"role": "assistant", "content": content}
                except Exception as e:  # a test bug: answer something the judge reports as an error
                    self._reply(500, {"error": {"message": f"responder failed: {e!r}", "type": "server_error"}})
                    return
                if fake.delay:
                    time.sleep(fake.delay)
                head = {
                    "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
                    "created": int(time.time()),
                    "model": body.get("model", "fake-model"),
                }
                finish = "tool_calls" if message.get("tool_calls") else "stop"
                if body.get("stream"):
                    self._stream(head, message, finish, bool((body.get("stream_options") or {}).get("include_usage")))
                    return
                self._reply(
                    200,
                    {
                        **head,
                        "object": "chat.completion",
                        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                        "usage": USAGE,
                    },
                )

            def _responses(self, body: dict) -> None:
                """The Responses API, not streamed: the completer's text as one output message."""
                message = fake.completer({"messages": [{"role": "user", "content": body.get("input")}]})
                self._reply(
                    200,
                    {
                        "id": f"resp_{uuid.uuid4().hex[:24]}",
                        "object": "response",
                        "created_at": int(time.time()),
                        "model": body.get("model", "fake-model"),
                        "status": "completed",
                        "output": [
                            {
                                "type": "message",
                                "id": "msg_1",
                                "role": "assistant",
                                "status": "completed",
                                "content": [{"type": "output_text", "text": message.get("content") or "", "annotations": []}],
                            }
                        ],
                        "usage": {
                            "input_tokens": 42,
                            "input_tokens_details": {"cached_tokens": 0},
                            "output_tokens": 7,
                            "output_tokens_details": {"reasoning_tokens": 0},
                            "total_tokens": 49,
                        },
                    },
                )

            def _stream(self, head: dict, message: dict, finish: str, include_usage: bool) -> None:
                def chunk(delta: dict, finish_reason=None, **extra) -> dict:
                    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish_reason}]
                    return {**head, "object": "chat.completion.chunk", "choices": choices, **extra}

                chunks = [chunk({"role": "assistant", "content": ""})]
                text = message.get("content") or ""
                half = len(text) // 2
                for part in (text[:half], text[half:]):
                    if part:
                        chunks.append(chunk({"content": part}))
                for index, call in enumerate(message.get("tool_calls") or []):
                    arguments = call["function"]["arguments"]
                    half = len(arguments) // 2
                    first = {"index": index, "id": call["id"], "type": "function"}
                    first["function"] = {"name": call["function"]["name"], "arguments": arguments[:half]}
                    chunks.append(chunk({"tool_calls": [first]}))
                    rest = {"index": index, "function": {"arguments": arguments[half:]}}
                    chunks.append(chunk({"tool_calls": [rest]}))
                chunks.append(chunk({}, finish))
                if include_usage:
                    chunks.append(chunk(None, usage=USAGE))
                data = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
                raw = data.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-openai", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def chat_requests(self) -> list[ChatRequest]:
        with self._lock:
            return [r for r in self.requests if r.path.rstrip("/") == "/v1/chat/completions"]
