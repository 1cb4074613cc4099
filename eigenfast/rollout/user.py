"""User simulators: `llm` (tau²-style guidelines + the task's scenario, roles flipped), `scripted` and `replay`.

A simulator answers the conversation so far with one user message, which may hold user-side tool calls
(telecom). A message containing a stop marker ends the episode (USER_STOP).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from eigenfast.llm.base import DEFAULT_PARAMS, ChatBackend, ChatRequest, SamplingParams
from eigenfast.llm.codec import parse_completion, to_chat_messages
from eigenfast.records import Message, StructuredInstructions, Task, ToolCall

STOP_MARKERS = ("###STOP###", "###TRANSFER###", "###OUT-OF-SCOPE###")


def is_user_stop(message: Message) -> bool:
    return bool(message.content) and any(s in message.content for s in STOP_MARKERS)


class UserSimulator(Protocol):
    async def respond(self, messages: list[Message], *, seed: int | None) -> tuple[Message, list[tuple[str, str]]]:
        """The next user message and its format errors (call id, text), if it made malformed tool calls."""
        ...


UserFactory = Callable[[Task], UserSimulator]


# ------------------------------------------------------------------------------------------------- llm
def scenario_text(task: Task) -> str:
    """The task's user scenario as the simulator reads it: persona, then instructions."""
    us = task.user_scenario
    parts = []
    if isinstance(us.persona, str) and us.persona:
        parts.append(f"Persona:\n{us.persona}")
    ins = us.instructions
    if isinstance(ins, StructuredInstructions):
        labels = [("domain", "Domain"), ("reason_for_call", "Reason for call"), ("known_info", "Known info"),
                  ("unknown_info", "Unknown info"), ("task_instructions", "Task instructions")]
        body = "\n".join(f"{label}:\n{getattr(ins, key)}" for key, label in labels
                         if isinstance(getattr(ins, key), str) and getattr(ins, key))
        parts.append(f"Instructions:\n{body}")
    else:
        parts.append(f"Instructions:\n{ins}")
    return "\n\n".join(parts)


def load_guidelines(data_dir: str | Path, with_tools: bool) -> str:
    name = "simulation_guidelines_tools.md" if with_tools else "simulation_guidelines.md"
    path = Path(data_dir) / "user_simulator" / name
    try:
        return path.read_text()
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: user-simulator guidelines not found (is --data-dir the tau2 folder?)") from None


def user_view(messages: list[Message]) -> list[Message]:
    """The conversation with roles flipped: the agent's words arrive as `user`, the simulator's own as
    `assistant`; the agent's tool traffic is hidden, the user's own tool results are shown."""
    out = []
    for m in messages:
        if m.role == "assistant":
            if m.content:
                out.append(Message(role="user", content=m.content))
        elif m.role == "user":
            out.append(Message(role="assistant", content=m.content, tool_calls=m.tool_calls))
        elif m.role == "tool" and m.requestor == "user":
            out.append(Message(role="tool", content=m.content, tool_call_id=m.tool_call_id))
    return out


class LLMUser:
    def __init__(self, backend: ChatBackend, *, system_prompt: str, tools: list[dict[str, Any]] | None,
                 params: SamplingParams = DEFAULT_PARAMS):
        self.backend, self.tools, self.params = backend, tools or None, params
        self.system = Message(role="system", content=system_prompt)
        self.turns = 0
        self.session = uuid.uuid4().hex  # lets a backend keep this conversation's KV between turns

    async def respond(self, messages: list[Message], *, seed: int | None) -> tuple[Message, list[tuple[str, str]]]:
        self.turns += 1
        view = to_chat_messages([self.system, *user_view(messages)])
        out = await self.backend.complete(ChatRequest(messages=view, tools=self.tools, params=self.params, seed=seed,
                                                      session=self.session))
        if not self.tools:
            return Message(role="user", content=out.text.strip()), []
        parsed = parse_completion(out.text, self.tools, id_prefix=f"u{self.turns}",
                                  truncated=out.finish_reason == "length")
        calls = [ToolCall(id=c.id, name=c.name, arguments=c.arguments, requestor="user") for c in parsed.tool_calls]
        return Message(role="user", content=parsed.content or None, tool_calls=calls or None), parsed.errors


def llm_user_factory(backend: ChatBackend, data_dir: str | Path, user_tools: list[dict[str, Any]],
                     params: SamplingParams = DEFAULT_PARAMS) -> UserFactory:
    guidelines = load_guidelines(data_dir, with_tools=bool(user_tools))

    def make(task: Task) -> LLMUser:
        prompt = f"{guidelines}\n\n<scenario>\n{scenario_text(task)}\n</scenario>"
        return LLMUser(backend, system_prompt=prompt, tools=user_tools, params=params)

    return make


# -------------------------------------------------------------------------------------------- scripted
class ScriptedUser:
    """Says the given lines in order, then `###STOP###`."""

    def __init__(self, lines: list[str]):
        self.lines = list(lines)
        self.i = 0

    async def respond(self, messages: list[Message], *, seed: int | None) -> tuple[Message, list[tuple[str, str]]]:
        line = self.lines[self.i] if self.i < len(self.lines) else "###STOP###"
        self.i += 1
        return Message(role="user", content=line), []


def task_script(task: Task) -> list[str]:
    """A task's script: `user_script` (a list of lines) when the task carries one, else its instructions."""
    script = task.extras.get("user_script")
    if isinstance(script, list) and all(isinstance(s, str) for s in script):
        return script
    return [scenario_text(task)]


def scripted_user_factory() -> UserFactory:
    return lambda task: ScriptedUser(task_script(task))


# ---------------------------------------------------------------------------------------------- replay
class ReplayUser:
    """Replays the user turns of a recorded conversation (tool calls included), then `###STOP###`."""

    def __init__(self, recorded: list[Message]):
        self.turns = [m for m in recorded if m.role == "user"]
        self.i = 0

    async def respond(self, messages: list[Message], *, seed: int | None) -> tuple[Message, list[tuple[str, str]]]:
        msg = self.turns[self.i] if self.i < len(self.turns) else Message(role="user", content="###STOP###")
        self.i += 1
        return msg, []


def replay_user_factory(recorded: dict[str, list[Message]]) -> UserFactory:
    """`recorded` maps task id -> a recorded conversation (e.g. from an episodes file)."""

    def make(task: Task) -> ReplayUser:
        if task.id not in recorded:
            raise KeyError(f"replay user: no recorded conversation for task {task.id!r}")
        return ReplayUser(recorded[task.id])

    return make
