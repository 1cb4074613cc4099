"""The LLM agent: tau²'s instructions plus the domain policy, one backend call per turn, the codec on its output.

It keeps the token stream when the backend is token-in/token-out, and turns malformed output into recorded
format errors (never exceptions).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from eigenfast.llm.base import DEFAULT_PARAMS, ChatBackend, ChatRequest, Completion, SamplingParams
from eigenfast.llm.codec import ParsedTurn, parse_completion, parse_native, to_chat_messages
from eigenfast.records import Message, Owner, TokenSegment
from eigenfast.rollout.tokens import TokenStream

AGENT_INSTRUCTIONS = """\
You are a customer service agent. Help the user while following the <policy> below exactly.
Each turn, do exactly one of these:
- write a message to the user, or
- call one or more tools.
Never do both in the same turn. Tool arguments must be valid JSON."""


def agent_system_prompt(policy: str) -> str:
    return f"<instructions>\n{AGENT_INSTRUCTIONS}\n</instructions>\n<policy>\n{policy}\n</policy>"


def agent_view(messages: list[Message]) -> list[Message]:
    """What the agent sees: everything except the user's own tool calls and their results (telecom)."""
    out = []
    for m in messages:
        if m.role == "tool" and m.requestor == "user":
            continue
        if m.role == "user" and m.tool_calls:
            if not m.content:
                continue
            m = Message(role="user", content=m.content)
        out.append(m)
    return out


@dataclass
class AgentTurn:
    message: Message
    errors: list[tuple[str, str]]
    completion: Completion


@dataclass
class AgentState:
    """Per-episode state: the token stream (token-in backends) or the server-reported ids (openai)."""

    stream: TokenStream | None
    session: str = field(default_factory=lambda: uuid.uuid4().hex)
    server_ids: list[int] = field(default_factory=list)
    server_segments: list[TokenSegment] = field(default_factory=list)
    drift: bool = False

    def segments(self) -> list[TokenSegment]:
        if self.stream is not None:
            return self.stream.segments
        return [] if self.drift else self.server_segments


class LLMAgent:
    def __init__(self, backend: ChatBackend, *, policy: str, tools: list[dict[str, Any]],
                 params: SamplingParams = DEFAULT_PARAMS, verify_tokens: bool = False):
        # verify_tokens: also render the whole conversation each turn and check the fast delta against it.
        self.backend, self.tools, self.params, self.verify_tokens = backend, tools, params, verify_tokens
        self.system = Message(role="system", content=agent_system_prompt(policy))

    def new_state(self) -> AgentState:
        tok = self.backend.tokenizer
        if tok is None:
            return AgentState(None)
        stop = int(tok.eos_token_id)
        return AgentState(TokenStream(tok, self.tools, stop, verify=self.verify_tokens))

    async def act(self, state: AgentState, messages: list[Message], *, seed: int | None, turn: int) -> AgentTurn:
        view = to_chat_messages([self.system, *agent_view(messages)])
        owner: Owner = "system" if not state.segments() else ("tool" if view[-1]["role"] == "tool" else "user")
        prompt_ids = state.stream.prompt(view, owner) if state.stream is not None else None
        req = ChatRequest(messages=view, tools=self.tools, params=self.params, prompt_ids=prompt_ids, seed=seed,
                          session=state.session)
        out = await self.backend.complete(req)
        parsed = self._parse(out, turn)
        msg = Message(role="assistant", content=parsed.content or None, tool_calls=parsed.tool_calls or None,
                      turn_idx=turn)
        if state.stream is not None:
            if out.token_ids is None:
                raise ValueError(f"{self.backend.name}: a token-in backend returned no token ids")
            state.stream.sampled(view + to_chat_messages([msg]), out.token_ids, out.logprobs,
                                 stopped=out.finish_reason == "stop")
        elif out.prompt_ids is not None and out.token_ids is not None and not state.drift:
            self._track_server_ids(state, out, owner)
        return AgentTurn(msg, parsed.errors, out)

    def _parse(self, out: Completion, turn: int) -> ParsedTurn:
        if out.tool_calls:
            return parse_native(out.text, out.tool_calls, self.tools, id_prefix=f"t{turn}")
        return parse_completion(out.text, self.tools, id_prefix=f"t{turn}", truncated=out.finish_reason == "length")

    @staticmethod
    def _track_server_ids(state: AgentState, out: Completion, owner: Owner) -> None:
        """A server that reports its prompt ids must have kept our earlier ids verbatim, else mark drift."""
        prompt = list(out.prompt_ids or [])
        if prompt[: len(state.server_ids)] != state.server_ids:
            state.drift = True
            return
        delta = prompt[len(state.server_ids):]
        if delta:
            state.server_segments.append(TokenSegment(owner=owner, token_ids=delta))
        ids = list(out.token_ids or [])
        state.server_segments.append(TokenSegment(owner="agent", token_ids=ids, logprobs=out.logprobs))
        state.server_ids = prompt + ids
