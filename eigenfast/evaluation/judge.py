"""The NL_ASSERTION judge interface. A judge is an LLM behind a chat backend (a later issue); without one the
component is reported as `unjudged` and never counted as a pass.

`judge_messages` and `parse_verdicts` hold the prompt contract of tau²'s judge (a JSON object with one
`{expectedOutcome, reasoning, metExpectation}` result per assertion), so any chat backend can implement `Judge`.
"""

from __future__ import annotations

import json
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
    """The conversation as tau²'s judge sees it: one `role: content` line per message (tool results too)."""
    return "\n".join(f"{m.role}: {m.content}" for m in messages)


JUDGE_INSTRUCTIONS = """You grade a recorded customer-service conversation between an agent and a customer.
You get the conversation and a list of expected outcomes. Decide for each outcome, on its own, whether the
agent's behaviour in the conversation satisfies it.

Answer with one JSON object and nothing else:
{"results": [{"expectedOutcome": "<the outcome, copied from the list>",
              "reasoning": "<one or two sentences>",
              "metExpectation": true or false}, ...]}
Give exactly one result per expected outcome, in the order they were listed."""


def judge_messages(transcript_text: str, assertions: list[str]) -> list[dict[str, str]]:
    """Chat messages for an LLM judge (system instructions, then the conversation and the outcomes)."""
    outcomes = "\n".join(f"- {a}" for a in assertions)
    return [{"role": "system", "content": JUDGE_INSTRUCTIONS},
            {"role": "user", "content": f"conversation:\n{transcript_text}\n\nexpectedOutcomes:\n{outcomes}"}]


def parse_verdicts(text: str, assertions: list[str]) -> list[NLVerdict]:
    """The judge's JSON answer as verdicts; raises ValueError naming what is wrong with it."""
    start, end = text.find("{"), text.rfind("}")
    try:
        data = json.loads(text[start:end + 1]) if start >= 0 else None
    except json.JSONDecodeError as exc:
        raise ValueError(f"judge answer is not JSON: {exc}") from None
    results = data.get("results") if isinstance(data, dict) else None
    if not isinstance(results, list) or len(results) != len(assertions):
        raise ValueError(f"judge answer must hold {len(assertions)} results, got {text[:200]!r}")
    verdicts = []
    for assertion, result in zip(assertions, results, strict=True):
        met = result.get("metExpectation") if isinstance(result, dict) else None
        if not isinstance(met, bool):
            raise ValueError(f"judge result for {assertion!r} lacks a boolean metExpectation")
        verdicts.append(NLVerdict(assertion=assertion, met=met, reasoning=str(result.get("reasoning", ""))))
    return verdicts


__all__ = ["JUDGE_INSTRUCTIONS", "Judge", "NLVerdict", "judge_messages", "parse_verdicts", "transcript"]
