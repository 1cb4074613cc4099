"""A small OpenAI-compatible chat-completions server over any token-in/token-out backend (aiohttp).

It serves `POST /v1/chat/completions` (non-streaming, with tools, tool calls, logprobs and vLLM's
`return_token_ids` extension) and `GET /v1/models`. It exists so the `openai` backend can be tested end to end
on loopback, and so a local checkpoint can be shared by several rollout processes:

    python -m eigenfast.llm.server --model hf:PATH --port 8000 [--name NAME] [--api-key KEY]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import threading
import time
import uuid
from collections.abc import Iterable
from typing import Any

from eigenfast.llm.base import ChatBackend, ChatRequest, SamplingParams
from eigenfast.llm.codec import parse_completion
from eigenfast.llm.template import render_ids


def _error(status: int, message: str, type_: str, code: str | None = None):
    from aiohttp import web

    return web.json_response({"error": {"message": message, "type": type_, "code": code}}, status=status)


def _messages_for_template(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Wire messages -> template messages: tool-call arguments arrive as JSON strings."""
    out = []
    for m in messages:
        if m.get("tool_calls"):
            calls = []
            for c in m["tool_calls"]:
                fn = dict(c.get("function") or {})
                if isinstance(fn.get("arguments"), str):
                    try:
                        fn["arguments"] = json.loads(fn["arguments"] or "{}")
                    except json.JSONDecodeError:
                        pass  # the template renders strings verbatim
                calls.append({**c, "function": fn})
            m = {**m, "tool_calls": calls}
        if m.get("content") is None:
            m = {**m, "content": ""}
        out.append(m)
    return out


def build_app(backend: ChatBackend, name: str, *, api_key: str | None = None, middlewares: Iterable[Any] = ()):
    from aiohttp import web

    async def models(request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": name, "object": "model", "owned_by": "eigenfast"}]})

    async def chat(request: web.Request) -> web.Response:
        if api_key and request.headers.get("Authorization") != f"Bearer {api_key}":
            return _error(401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key")
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return _error(400, "request body is not valid JSON", "invalid_request_error")
        if body.get("model") != name:
            return _error(404, f"The model `{body.get('model')}` does not exist.", "invalid_request_error",
                          "model_not_found")
        if body.get("stream"):
            return _error(400, "stream=true is not supported by this server", "invalid_request_error")
        if not isinstance(body.get("messages"), list) or not body["messages"]:
            return _error(400, "'messages' must be a non-empty list", "invalid_request_error")
        try:
            params = SamplingParams(temperature=float(body.get("temperature", 1.0)),
                                    top_p=float(body.get("top_p", 1.0)),
                                    max_new_tokens=int(body.get("max_completion_tokens") or body.get("max_tokens") or 512),
                                    logprobs=bool(body.get("logprobs", False)))
        except (TypeError, ValueError) as exc:
            return _error(400, f"bad sampling parameter: {exc}", "invalid_request_error")
        tools = body.get("tools") or None
        messages = _messages_for_template(body["messages"])
        tok = getattr(backend, "tokenizer", None)
        try:  # render here so the reply can report exactly the ids the model was conditioned on
            prompt_ids = render_ids(tok, messages, tools, add_generation_prompt=True) if tok is not None else None
        except Exception as exc:  # a template error is the request's fault (bad roles, missing content, ...)
            return _error(400, f"cannot render the conversation with the chat template: {exc}", "invalid_request_error")
        req = ChatRequest(messages=messages, tools=tools, params=params, seed=body.get("seed"), prompt_ids=prompt_ids)
        try:
            out = await backend.complete(req)
        except Exception as exc:  # the client sees a 500 and may retry
            return _error(500, f"generation failed: {exc}", "server_error")
        message: dict[str, Any] = {"role": "assistant", "content": out.text}
        finish = out.finish_reason
        if tools and "<tool_call>" in out.text:
            turn = parse_completion(out.text, None, id_prefix=f"call_{uuid.uuid4().hex[:12]}")
            if turn.tool_calls and not turn.errors:  # otherwise the raw text goes back, as vLLM's parsers do
                message = {"role": "assistant", "content": turn.content or None, "tool_calls": [
                    {"id": c.id, "type": "function",
                     "function": {"name": c.name, "arguments": json.dumps(c.arguments, ensure_ascii=False)}}
                    for c in turn.tool_calls]}
                finish = "tool_calls" if finish == "stop" else finish
        choice: dict[str, Any] = {"index": 0, "message": message, "finish_reason": finish}
        if params.logprobs and out.logprobs is not None and out.token_ids is not None and tok is not None:
            choice["logprobs"] = {"content": [
                {"token": (s := tok.decode([t])), "logprob": lp, "bytes": list(s.encode()), "top_logprobs": []}
                for t, lp in zip(out.token_ids, out.logprobs, strict=True)]}
        resp: dict[str, Any] = {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion",
                                "created": int(time.time()), "model": name, "choices": [choice],
                                "usage": {"prompt_tokens": len(out.prompt_ids or []),
                                          "completion_tokens": len(out.token_ids or []),
                                          "total_tokens": len(out.prompt_ids or []) + len(out.token_ids or [])}}
        if body.get("return_token_ids") and out.token_ids is not None:
            choice["token_ids"] = out.token_ids
            resp["prompt_token_ids"] = out.prompt_ids
        return web.json_response(resp)

    app = web.Application(middlewares=list(middlewares))
    app.router.add_get("/v1/models", models)
    app.router.add_post("/v1/chat/completions", chat)
    return app


class ServerThread:
    """Run an app on loopback in a background thread (its own event loop); `url` ends in /v1."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0):
        self._app, self._host, self._port = app, host, port
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.url = ""

    def _run(self) -> None:
        from aiohttp import web

        asyncio.set_event_loop(self._loop)
        self._runner = web.AppRunner(self._app)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, self._host, self._port)
        self._loop.run_until_complete(site.start())
        port = self._runner.addresses[0][1]
        self.url = f"http://{self._host}:{port}/v1"
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self._runner.cleanup())

    def __enter__(self) -> ServerThread:
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("server did not start within 30 s")
        return self

    def __exit__(self, *exc: Any) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


def main(argv: list[str] | None = None) -> int:
    from aiohttp import web

    from eigenfast.llm.spec import load_backend

    ap = argparse.ArgumentParser(description="serve a model with the OpenAI chat-completions protocol")
    ap.add_argument("--model", required=True, help="backend spec, e.g. hf:PATH")
    ap.add_argument("--name", default=None, help="model name clients must send (default: the spec)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    ap.add_argument("--api-key", default=None)
    args = ap.parse_args(argv)
    backend = load_backend(args.model)
    app = build_app(backend, args.name or args.model, api_key=args.api_key)

    async def serve() -> None:
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, args.host, args.port)
        await site.start()
        port = runner.addresses[0][1]
        print(f"listening on http://{args.host}:{port}/v1", flush=True)
        await asyncio.Event().wait()

    asyncio.run(serve())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
