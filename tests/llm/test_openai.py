"""The `openai` backend against a real aiohttp server on loopback serving the tiny model."""

import asyncio
import json
import os
import signal
import subprocess
import sys
import time

import pytest
from aiohttp import web

from eigenfast.llm.base import BackendError, ChatRequest, SamplingParams
from eigenfast.llm.hf import HFBackend
from eigenfast.llm.openai import OpenAIBackend
from eigenfast.llm.scripted import ScriptedBackend
from eigenfast.llm.server import ServerThread, build_app

TOOLS = [{"type": "function", "function": {"name": "get_user", "description": "look up a user", "parameters": {
    "type": "object", "properties": {"user_id": {"type": "string"}}, "required": ["user_id"]}}}]
MSGS = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello"}]


@pytest.fixture(scope="module")
def hf(tiny_path):
    return HFBackend(str(tiny_path))


def _faults(plan):
    """Middleware answering the first requests with the given HTTP statuses (a flaky gateway)."""
    @web.middleware
    async def mw(request, handler):
        if plan:
            status = plan.pop(0)
            return web.json_response({"error": {"message": f"injected {status}"}}, status=status,
                                     headers={"Retry-After": "0"} if status == 429 else None)
        return await handler(request)
    return mw


def _complete(backend, req):
    async def go():
        try:
            return await backend.complete(req)
        finally:
            await backend.close()
    return asyncio.run(go())


def test_text_completion_matches_the_model_with_logprobs_and_ids(hf):
    req = ChatRequest(messages=MSGS, params=SamplingParams(max_new_tokens=10), seed=7)
    direct = asyncio.run(hf.complete(req))
    with ServerThread(build_app(hf, "tiny")) as srv:
        out = _complete(OpenAIBackend("tiny", srv.url), req)
    assert out.text == direct.text and out.token_ids == direct.token_ids and out.prompt_ids == direct.prompt_ids
    assert out.logprobs == pytest.approx(direct.logprobs, abs=1e-6)
    assert out.finish_reason == direct.finish_reason == "length"


def test_tool_calls_travel_natively(tiny_tokenizer):
    seen = {}

    def reply(req):
        seen["tools"], seen["messages"] = req.tools, req.messages
        return 'Sure.\n<tool_call>\n{"name": "get_user", "arguments": {"user_id": "u7"}}\n</tool_call>'

    history = MSGS + [{"role": "assistant", "content": "", "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "get_user", "arguments": {"user_id": "u1"}}}]},
        {"role": "tool", "content": "{}", "tool_call_id": "c1"}]
    with ServerThread(build_app(ScriptedBackend(reply, tiny_tokenizer), "tiny")) as srv:
        out = _complete(OpenAIBackend("tiny", srv.url), ChatRequest(messages=history, tools=TOOLS))
    assert seen["tools"] == TOOLS
    assert seen["messages"][2]["tool_calls"][0]["function"]["arguments"] == {"user_id": "u1"}  # decoded on the server
    assert out.text == "Sure."
    (call,) = out.tool_calls
    assert call["function"]["name"] == "get_user" and json.loads(call["function"]["arguments"]) == {"user_id": "u7"}


def test_auth_and_model_errors_are_clear_and_not_retried(hf):
    with ServerThread(build_app(hf, "tiny", api_key="sekret")) as srv:
        bad_key = OpenAIBackend("tiny", srv.url, api_key="wrong")
        with pytest.raises(BackendError, match="authentication failed"):
            _complete(bad_key, ChatRequest(messages=MSGS))
        assert bad_key.retries == 0
        with pytest.raises(BackendError, match="model 'nope' not found"):
            _complete(OpenAIBackend("nope", srv.url, api_key="sekret"), ChatRequest(messages=MSGS))
        ok = _complete(OpenAIBackend("tiny", srv.url, api_key="sekret"),
                       ChatRequest(messages=MSGS, params=SamplingParams(max_new_tokens=2)))
        assert len(ok.token_ids) == 2


def test_retries_on_429_and_5xx_then_gives_up(hf):
    with ServerThread(build_app(hf, "tiny", middlewares=[_faults([429, 503, 500])])) as srv:
        client = OpenAIBackend("tiny", srv.url, backoff=0.01)
        out = _complete(client, ChatRequest(messages=MSGS, params=SamplingParams(max_new_tokens=3)))
        assert client.retries == 3 and len(out.token_ids) == 3
    with ServerThread(build_app(hf, "tiny", middlewares=[_faults([502] * 10)])) as srv:
        client = OpenAIBackend("tiny", srv.url, backoff=0.01, max_retries=2)
        with pytest.raises(BackendError, match=r"gave up after 3 attempts \(HTTP 502\)"):
            _complete(client, ChatRequest(messages=MSGS))


def test_concurrency_limit_is_respected(tiny_tokenizer):
    live, peak = [0], [0]

    class Slow(ScriptedBackend):
        async def complete(self, request):
            live[0] += 1
            peak[0] = max(peak[0], live[0])
            await asyncio.sleep(0.05)
            live[0] -= 1
            return await super().complete(request)

    with ServerThread(build_app(Slow(lambda r: "ok", tiny_tokenizer), "tiny")) as srv:
        client = OpenAIBackend("tiny", srv.url, concurrency=3)

        async def go():
            try:
                return await asyncio.gather(*(client.complete(ChatRequest(messages=MSGS)) for _ in range(9)))
            finally:
                await client.close()
        outs = asyncio.run(go())
    assert [o.text for o in outs] == ["ok"] * 9 and peak[0] == 3


def test_server_killed_mid_run(tiny_path):
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    proc = subprocess.Popen([sys.executable, "-m", "eigenfast.llm.server", "--model", f"hf:{tiny_path}",
                             "--name", "tiny", "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True, env=env)
    try:
        line = proc.stdout.readline()
        assert line.startswith("listening on "), line
        url = line.split()[-1]
        client = OpenAIBackend("tiny", url, backoff=0.05, max_retries=2, timeout=30)

        async def go():
            first = await client.complete(ChatRequest(messages=MSGS, params=SamplingParams(max_new_tokens=4)))
            long = [asyncio.ensure_future(client.complete(
                ChatRequest(messages=MSGS, params=SamplingParams(max_new_tokens=4000)))) for _ in range(3)]
            await asyncio.sleep(0.5)
            os.kill(proc.pid, signal.SIGKILL)
            t0 = time.monotonic()
            results = await asyncio.gather(*long, return_exceptions=True)
            await client.close()
            return first, results, time.monotonic() - t0

        first, results, waited = asyncio.run(go())
    finally:
        proc.kill()
        proc.wait()
    assert len(first.token_ids) == 4
    assert all(isinstance(r, BackendError) and "gave up after 3 attempts (connection)" in str(r) for r in results)
    assert waited < 20


def test_options_a_server_refuses_are_dropped_once(hf):
    """Hosted APIs reject vLLM's `return_token_ids` (and some reject logprobs) with a 400 naming the field."""
    seen = []

    @web.middleware
    async def strict(request, handler):
        body = await request.json()
        seen.append(sorted(k for k in ("return_token_ids", "logprobs") if k in body))
        for key in ("return_token_ids", "logprobs"):
            if key in body:
                return web.json_response({"error": {"message": f"Unrecognized request argument supplied: {key}"}},
                                         status=400)
        return await handler(request)

    with ServerThread(build_app(hf, "tiny", middlewares=[strict])) as srv:
        client = OpenAIBackend("tiny", srv.url)

        async def go():
            try:
                return [await client.complete(ChatRequest(messages=MSGS, params=SamplingParams(max_new_tokens=2)))
                        for _ in range(2)]
            finally:
                await client.close()
        outs = asyncio.run(go())
    assert seen == [["logprobs", "return_token_ids"], ["logprobs"], [], []]
    assert all(o.token_ids is None and o.logprobs is None and o.text for o in outs)
