"""`ScriptedBackend`: replies come from a function, tokenised canonically; returns instantly.

It is the "instant backend" for measuring the orchestrator's own overhead, and the canonical-output backend for
proving the token stream equals the chat template's rendering when the model writes canonical text.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from eigenfast.llm.base import ChatRequest, Completion
from eigenfast.llm.template import encode


class ScriptedBackend:
    def __init__(self, reply: Callable[[ChatRequest], str], tokenizer: Any = None, *, name: str = "scripted"):
        self.name = name
        self.reply = reply
        self.tokenizer = tokenizer
        self.calls = 0

    async def complete(self, request: ChatRequest) -> Completion:
        self.calls += 1
        text = self.reply(request)
        if self.tokenizer is None:
            return Completion(text=text)
        ids = encode(self.tokenizer, text) + [int(self.tokenizer.eos_token_id)]
        return Completion(text=text, token_ids=ids, logprobs=[0.0] * len(ids), prompt_ids=request.prompt_ids)

    async def close(self) -> None:
        return None
