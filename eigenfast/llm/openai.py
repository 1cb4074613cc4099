"""`openai`: any OpenAI-compatible chat-completions server (vLLM, SGLang, a hosted API), over async httpx.

Requests run under a concurrency limit and retry with exponential backoff (honouring `Retry-After`) on 429,
5xx, timeouts and dropped connections. Authentication failures and unknown models fail at once with a clear
`BackendError`. Tools go to the server natively; logprobs are requested and silently dropped if the server
refuses them; token ids are asked for with vLLM's `return_token_ids` extension and used when returned.
"""

from __future__ import annotations

import asyncio
import os
import random
from typing import Any

from eigenfast.llm.base import BackendError, ChatRequest, Completion
from eigenfast.llm.codec import to_openai_wire

_RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}


class OpenAIBackend:
    tokenizer = None

    def __init__(self, model: str, base_url: str, *, api_key: str | None = None, concurrency: int = 16,
                 timeout: float = 120.0, max_retries: int = 5, backoff: float = 0.5, max_backoff: float = 20.0,
                 logprobs: bool = True, token_ids: bool = True):
        import httpx

        self.name = f"openai:{model}@{base_url}"
        self.model = model
        self.base_url = base_url.rstrip("/")
        key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._client = httpx.AsyncClient(base_url=self.base_url, headers=headers,
                                         timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)))
        self._limit = asyncio.Semaphore(concurrency)
        self.max_retries, self.backoff, self.max_backoff = max_retries, backoff, max_backoff
        self._logprobs_ok, self._token_ids_ok = logprobs, token_ids
        self.retries = 0  # how many requests were retried, for diagnostics

    def _body(self, req: ChatRequest) -> dict[str, Any]:
        p = req.params
        body: dict[str, Any] = {"model": self.model, "messages": to_openai_wire(req.messages),
                                "max_tokens": p.max_new_tokens, "temperature": p.temperature, "top_p": p.top_p}
        if req.tools:
            body["tools"] = req.tools
        if req.seed is not None:
            body["seed"] = req.seed
        if p.logprobs and self._logprobs_ok:
            body["logprobs"] = True
        if self._token_ids_ok:
            body["return_token_ids"] = True
        return body

    async def complete(self, request: ChatRequest) -> Completion:
        async with self._limit:
            data = await self._post(request)
        try:
            return self._parse(data)
        except (KeyError, IndexError, TypeError) as exc:
            raise BackendError(f"{self.name}: malformed chat-completions reply ({exc!r}): {str(data)[:300]}") from None

    async def _post(self, request: ChatRequest) -> dict[str, Any]:
        import httpx

        attempt = 0
        while True:
            body = self._body(request)
            try:
                resp = await self._client.post("/chat/completions", json=body)
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                problem, status, retry_after = f"{type(exc).__name__}: {exc}", None, None
            else:
                if resp.status_code == 200:
                    return resp.json()
                status, problem = resp.status_code, _error_text(resp)
                retry_after = resp.headers.get("retry-after")
                if status in (401, 403):
                    raise BackendError(f"{self.name}: authentication failed (HTTP {status}): {problem}; "
                                       "check the api_key option or OPENAI_API_KEY")
                if status == 404:
                    raise BackendError(f"{self.name}: model {self.model!r} not found or wrong base URL "
                                       f"(HTTP 404): {problem}")
                if status == 400 and self._drop_unsupported(problem):
                    continue  # retry at once without the option the server refused
                if status not in _RETRY_STATUS:
                    raise BackendError(f"{self.name}: HTTP {status}: {problem}")
            if attempt >= self.max_retries:
                where = f"HTTP {status}" if status else "connection"
                raise BackendError(f"{self.name}: gave up after {attempt + 1} attempts ({where}): {problem}")
            self.retries += 1
            await asyncio.sleep(self._delay(attempt, retry_after))
            attempt += 1

    def _drop_unsupported(self, problem: str) -> bool:
        text = problem.lower()
        if self._token_ids_ok and "return_token_ids" in text:
            self._token_ids_ok = False
            return True
        if self._logprobs_ok and "logprobs" in text:
            self._logprobs_ok = False
            return True
        return False

    def _delay(self, attempt: int, retry_after: str | None) -> float:
        if retry_after:
            try:
                return min(float(retry_after), self.max_backoff)
            except ValueError:
                pass
        return min(self.backoff * 2**attempt, self.max_backoff) * (0.5 + random.random() / 2)

    def _parse(self, data: dict[str, Any]) -> Completion:
        choice = data["choices"][0]
        msg = choice["message"]
        lp = (choice.get("logprobs") or {}).get("content")
        finish = "length" if choice.get("finish_reason") == "length" else "stop"
        ids = choice.get("token_ids")
        return Completion(text=msg.get("content") or "", finish_reason=finish,
                          token_ids=list(ids) if ids else None,
                          logprobs=[float(t["logprob"]) for t in lp] if lp else None,
                          prompt_ids=data.get("prompt_token_ids") or None,
                          tool_calls=msg.get("tool_calls") or None)

    async def close(self) -> None:
        await self._client.aclose()


def _error_text(resp: Any) -> str:
    try:
        err = resp.json().get("error")
        return str(err.get("message", err)) if isinstance(err, dict) else str(err)
    except Exception:
        return resp.text[:300] or resp.reason_phrase
