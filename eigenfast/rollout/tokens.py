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
"""

from __future__ import annotations

from typing import Any

from eigenfast.llm.template import encode, render_text
from eigenfast.records import Owner, TokenSegment


class TemplateDriftError(ValueError):
    """The chat template re-renders earlier turns differently once later turns are added."""


class TokenStream:
    def __init__(self, tokenizer: Any, tools: list[dict[str, Any]] | None, stop_id: int):
        self.tokenizer, self.tools, self.stop_id = tokenizer, tools, stop_id
        self.segments: list[TokenSegment] = []
        self.length = 0
        self._stop_text = tokenizer.decode([stop_id], skip_special_tokens=False)
        self._rendered = ""  # template text of the conversation up to the last agent turn (no gen prompt)

    def prompt(self, messages: list[dict[str, Any]], owner: Owner) -> list[int]:
        """Extend the stream with the template's text for `messages` beyond the last agent turn; return all ids."""
        full = render_text(self.tokenizer, messages, self.tools, add_generation_prompt=True)
        if not full.startswith(self._rendered):
            raise TemplateDriftError("the chat template does not render the conversation prefix-stably; "
                                     "token-in/token-out needs a template whose earlier turns do not change")
        delta = full[len(self._rendered):]
        if delta:
            self._append(owner, encode(self.tokenizer, delta), None)
        return self.ids()

    def sampled(self, messages_with_reply: list[dict[str, Any]], ids: list[int], logprobs: list[float] | None,
                stopped: bool) -> None:
        """Record the agent's sampled ids; `messages_with_reply` ends with the parsed agent message."""
        self._append("agent", list(ids), list(logprobs) if logprobs is not None else None)
        if not stopped:
            self._append("system", [self.stop_id], None)
        rendered = render_text(self.tokenizer, messages_with_reply, self.tools, add_generation_prompt=False)
        # The stream holds the turn up to its stop token; what the template writes after it (e.g. "\n") is
        # the start of the next delta.
        cut = rendered.rfind(self._stop_text)
        self._rendered = rendered[: cut + len(self._stop_text)] if cut >= 0 else rendered

    def ids(self) -> list[int]:
        return [t for s in self.segments for t in s.token_ids]

    def _append(self, owner: Owner, ids: list[int], logprobs: list[float] | None) -> None:
        if ids:
            self.segments.append(TokenSegment(owner=owner, token_ids=ids, logprobs=logprobs))
            self.length += len(ids)
