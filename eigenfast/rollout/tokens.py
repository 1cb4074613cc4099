"""The agent's token stream: exactly the ids the model was conditioned on and sampled, by owner.

Each agent prompt is the previous stream (sampled ids kept verbatim) plus the ids of the text the chat template
adds after the last agent turn. So the stream equals the template's rendering of the whole conversation, with
two documented differences, both confined to agent turns:

1. an agent turn holds the ids the model *sampled*, which may be a non-canonical tokenisation of its text, and
   its text may differ from the template's re-rendering of the parsed message (whitespace around content,
   JSON spacing inside `<tool_call>`, malformed calls);
2. a turn cut off by the token limit has no stop token; the stop token is then appended as a `system` segment,
   so the next turn starts where the template expects it.

Non-agent segments are always the template's own text, tokenised once and never re-tokenised later.

Fast path: the text after the last agent turn is found by rendering only [system, last agent turn, newer
messages] instead of the whole conversation, so a turn costs O(1) in the conversation's length instead of
O(n). This assumes what common templates (Qwen2.5/Hermes, Llama 3, Mistral) satisfy: a turn's rendering
depends only on its neighbours. `verify=True` also renders the whole conversation (the reference) and raises
`TemplateDriftError` if the two disagree; tests run with it on.
"""

from __future__ import annotations

from typing import Any

from eigenfast.llm.template import encode, render_text
from eigenfast.records import Owner, TokenSegment


class TemplateDriftError(ValueError):
    """The chat template renders earlier turns differently once later turns are added."""


def _cut_after(text: str, stop: str) -> str:
    """`text` up to and including its last stop token: what an agent turn's sampled ids end with."""
    cut = text.rfind(stop)
    return text[: cut + len(stop)] if cut >= 0 else text


class TokenStream:
    def __init__(self, tokenizer: Any, tools: list[dict[str, Any]] | None, stop_id: int, *, verify: bool = False):
        self.tokenizer, self.tools, self.stop_id, self.verify = tokenizer, tools, stop_id, verify
        self.segments: list[TokenSegment] = []
        self.length = 0
        self._stop_text = tokenizer.decode([stop_id], skip_special_tokens=False)
        self._rendered = ""  # reference path: template text up to the last agent turn's stop token

    def prompt(self, messages: list[dict[str, Any]], owner: Owner) -> list[int]:
        """Extend the stream with the template's text for `messages` beyond the last agent turn; return all ids."""
        delta = self._delta(messages)
        if self.verify:
            full = render_text(self.tokenizer, messages, self.tools, add_generation_prompt=True)
            if not full.startswith(self._rendered) or full[len(self._rendered):] != delta:
                raise TemplateDriftError("the chat template does not render turns independently of earlier ones; "
                                         "token-in/token-out needs a prefix-stable template")
        if delta:
            self._append(owner, encode(self.tokenizer, delta), None)
        return self.ids()

    def _delta(self, messages: list[dict[str, Any]]) -> str:
        if not self.segments:
            return render_text(self.tokenizer, messages, self.tools, add_generation_prompt=True)
        last = max(i for i, m in enumerate(messages) if m["role"] == "assistant")
        base = messages[:1] if messages[0]["role"] == "system" else []
        context = render_text(self.tokenizer, base + messages[last:], self.tools, add_generation_prompt=True)
        head = _cut_after(render_text(self.tokenizer, base + [messages[last]], self.tools,
                                      add_generation_prompt=False), self._stop_text)
        if not context.startswith(head):
            raise TemplateDriftError("the chat template renders an agent turn differently once later turns follow")
        return context[len(head):]

    def sampled(self, messages_with_reply: list[dict[str, Any]], ids: list[int], logprobs: list[float] | None,
                stopped: bool) -> None:
        """Record the agent's sampled ids; `messages_with_reply` ends with the parsed agent message."""
        self._append("agent", list(ids), list(logprobs) if logprobs is not None else None)
        if not stopped:
            self._append("system", [self.stop_id], None)
        if self.verify:
            self._rendered = _cut_after(render_text(self.tokenizer, messages_with_reply, self.tools,
                                                    add_generation_prompt=False), self._stop_text)

    def ids(self) -> list[int]:
        return [t for s in self.segments for t in s.token_ids]

    def _append(self, owner: Owner, ids: list[int], logprobs: list[float] | None) -> None:
        if ids:
            self.segments.append(TokenSegment(owner=owner, token_ids=ids, logprobs=logprobs))
            self.length += len(ids)
