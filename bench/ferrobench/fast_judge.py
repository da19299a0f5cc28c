"""A fast fake OpenAI-compatible judge for the evaluation bench, as a process of its own.

The test suite's `tests/compat/fake_openai.py` (a thread per connection, in the bench's own
process) answers about 600 calls a second on this machine: at 50 ms a call and 30 calls in
flight, a bench needs exactly that, so it was the bench's limit rather than either side's.
This one is an aiohttp server on its own event loop: every call waits `--delay` seconds
without holding a thread and answers the verdict the judges ask for
(`{"result": "yes", "rationale": ...}` as the assistant message's content).

    python -m ferrobench.fast_judge --port P --delay 0.05 --api-key KEY

`GET /calls` answers how many chat completions it has served.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid

from aiohttp import web

USAGE = {"prompt_tokens": 42, "completion_tokens": 7, "total_tokens": 49}
CONTENT = json.dumps({"rationale": "the fake judge agrees", "result": "yes"})


def make_app(delay: float, api_key: str) -> web.Application:
    served = {"calls": 0}

    async def completions(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {api_key}":
            return web.json_response({"error": {"message": "bad api key", "type": "invalid_request_error"}}, status=401)
        body = await request.json()
        if delay:
            await asyncio.sleep(delay)
        served["calls"] += 1
        return web.json_response({
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "fake-model"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": CONTENT}, "finish_reason": "stop"}],
            "usage": USAGE,
        })

    async def calls(_: web.Request) -> web.Response:
        return web.json_response(served)

    app = web.Application()
    app.router.add_post("/v1/chat/completions", completions)
    app.router.add_get("/calls", calls)
    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--delay", type=float, default=0.05)
    parser.add_argument("--api-key", required=True)
    args = parser.parse_args()
    web.run_app(make_app(args.delay, args.api_key), host="127.0.0.1", port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
