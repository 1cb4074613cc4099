"""The NL_ASSERTION judge interface. A judge is an LLM behind a chat backend (a later issue); without one the
component is reported as `unjudged` and never counted as a pass."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import msgspec

from eigenfast.records import Message


class NLVerdict(msgspec.Struct, kw_only=True):
    assertion: str
    met: bool
    reasoning: str = ""


@runtime_checkable
class Judge(Protocol):
    def judge(self, transcript: str, assertions: list[str]) -> list[NLVerdict]:
        """One verdict per assertion, in order, on a transcript of `role: content` lines."""
        ...


def transcript(messages: list[Message]) -> str:
    """The conversation as tau²'s judge sees it: one `role: content` line per message that has text."""
    return "\n".join(f"{m.role}: {m.content}" for m in messages if m.content)


__all__ = ["Judge", "NLVerdict", "transcript"]
