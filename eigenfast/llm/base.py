"""The one protocol every chat backend speaks, and the records that cross it.

A backend takes one request at a time (`await backend.complete(req)`); batching is the backend's business,
so the orchestrator can simply run many episodes as asyncio tasks. Token-in/token-out backends (`hf`, `vllm`)
expose their `tokenizer` and accept `prompt_ids`, returning the sampled ids and their logprobs; `openai` works
on messages and returns text and native tool calls (plus ids/logprobs when the server offers them).
"""

from __future__ import annotations

from typing import Any, Literal, Protocol, runtime_checkable

import msgspec

FinishReason = Literal["stop", "length"]


class SamplingParams(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    # temperature 0 means greedy. Logprobs are of the sampled token under softmax(logits / temperature)
    # (before top-p truncation), the distribution a trainer recomputes; with greedy decoding, temperature 1.
    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = 512
    logprobs: bool = True


DEFAULT_PARAMS = SamplingParams()


class ChatRequest(msgspec.Struct, kw_only=True):
    messages: list[dict[str, Any]]  # OpenAI chat format; tool-call arguments as dicts
    tools: list[dict[str, Any]] | None = None
    params: SamplingParams = DEFAULT_PARAMS
    prompt_ids: list[int] | None = None  # token-in backends generate from exactly these ids when given
    seed: int | None = None
    # Identifies a conversation across turns (e.g. one episode's agent), so a backend may reuse its KV cache.
    session: str | None = None


class Completion(msgspec.Struct, kw_only=True, omit_defaults=True):
    text: str  # without the stop token
    finish_reason: FinishReason = "stop"
    token_ids: list[int] | None = None  # exactly the sampled ids, stop token included
    logprobs: list[float] | None = None  # one per sampled id
    prompt_ids: list[int] | None = None  # the ids the model was conditioned on
    tool_calls: list[dict[str, Any]] | None = None  # native calls from an OpenAI-compatible server


class BackendError(RuntimeError):
    """The backend could not produce a completion (server down, bad credentials, unknown model...)."""


@runtime_checkable
class ChatBackend(Protocol):
    name: str
    # The tokenizer whose chat template defines the token stream; None for message-level backends.
    tokenizer: Any | None

    async def complete(self, request: ChatRequest) -> Completion: ...

    async def close(self) -> None: ...
