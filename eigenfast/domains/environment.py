"""One episode's world: the agent's and the user's DB stores, their toolkits, and tau²'s set-up rules.

Set-up follows tau²-bench's `Environment.set_state`: merge `initialization_data` into the DBs, run the
`initialization_actions` (each followed by the domain's sync), replay the state-changing tool calls of a
message history (their results must equal the recorded ones), then sync once more. Tool calls from a model go
through `call_tool`, which never raises: every failure is the error observation the model would see.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import msgspec

from eigenfast.domains.store import Store
from eigenfast.domains.toolkit import Toolkit, ToolResult, coerce_arguments
from eigenfast.records import Message, ToolCall

if TYPE_CHECKING:
    from eigenfast.domains.loader import Domain


class ReplayMismatch(ValueError):
    """A replayed tool call returned something other than what the trajectory recorded."""


class Environment:
    def __init__(self, domain: Domain, agent_db: Store, user_db: Store | None):
        spec = domain.spec
        self.domain = domain
        self.agent_db = agent_db
        self.user_db = user_db
        self.agent_tools: Toolkit = spec.agent_tools(agent_db)
        self.user_tools: Toolkit | None = spec.user_tools(user_db) if spec.user_tools is not None else None
        self._sync = spec.sync

    # ------------------------------------------------------------------------------------------- calls
    def toolkit(self, requestor: str) -> Toolkit | None:
        return self.user_tools if requestor == "user" else self.agent_tools

    def call(self, name: str, arguments: Any, requestor: str = "assistant") -> ToolResult:
        """Run one tool call as tau² does (`get_response`): sync after a success; never raises."""
        if requestor not in ("assistant", "user"):
            return ToolResult(f"Error: Invalid requestor: {requestor}", error=True)
        kit = self.toolkit(requestor)
        if kit is None:
            return ToolResult("Error: User tools not available", error=True)
        result = kit.call(name, arguments)
        if not result.error:
            try:
                self.sync()
            except Exception as exc:  # tau² reports a failing sync as the call's error
                return ToolResult(f"Error: {exc}", error=True)
        return result

    def call_tool(self, call: ToolCall) -> Message:
        result = self.call(call.name, call.arguments, call.requestor)
        return Message(role="tool", content=result.content, error=result.error, tool_call_id=call.id,
                       requestor=call.requestor)

    def call_raw(self, name: str, arguments: dict[str, Any], requestor: str = "assistant") -> Any:
        """A tool call that raises on failure and skips the sync: how tau² replays gold actions."""
        kit = self.toolkit(requestor)
        if kit is None:
            raise ValueError("User tools not available")
        spec = kit.specs().get(name)
        if spec is None:
            raise ValueError(f"Tool '{name}' not found.")
        return spec.fn(kit, **coerce_arguments(spec, arguments))

    def run_function(self, env_type: str, func_name: str, arguments: dict[str, Any] | None = None) -> Any:
        """Run a named helper (initialization action or assertion) on one side, then sync; raises on failure."""
        kit = self.toolkit(env_type)
        if kit is None:
            raise ValueError(f"{self.domain.name}: no {env_type} toolkit for function {func_name!r}")
        value = kit.call_function(func_name, arguments)
        self.sync()
        return value

    def sync(self) -> None:
        if self._sync is not None:
            self._sync(self.agent_db, self.user_db)

    def has_tool(self, name: str) -> bool:
        return self.agent_tools.has_tool(name) or (self.user_tools is not None and self.user_tools.has_tool(name))

    def mutates(self, name: str) -> bool:
        """Whether a tool is replayed during grading; unknown names are treated as writes, as tau² does."""
        for kit in (self.agent_tools, self.user_tools):
            if kit is not None and kit.has_tool(name):
                return kit.mutates(name)
        return True

    # ------------------------------------------------------------------------------------------- state
    def state_hash(self) -> str:
        user = self.user_db.hash() if self.user_db is not None else "-"
        return f"{self.agent_db.hash()}:{user}"

    def fork(self) -> Environment:
        """An independent copy of the current state (cheap: unwritten parts stay shared)."""
        return Environment(self.domain, self.agent_db.fork(), self.user_db.fork() if self.user_db else None)

    def replay(self, messages: list[Message], *, strict: bool = True) -> None:
        """Re-run the state-changing tool calls of `messages`; reads and unknown tools are skipped."""
        for call, recorded in tool_call_pairs(messages):
            if not self.has_tool(call.name) or not self.mutates(call.name):
                continue
            got = self.call_tool(call)
            if strict and _loose_json(got.content) != _loose_json(recorded.content):
                raise ReplayMismatch(f"replayed tool call {call.name}({_short(call.arguments)}) returned "
                                     f"{_short(got.content)}, but the trajectory recorded {_short(recorded.content)}")


def tool_call_pairs(messages: list[Message]) -> list[tuple[ToolCall, Message]]:
    """Each tool call with its result message, in order (tau²'s pairing: results follow their calls)."""
    pairs: list[tuple[ToolCall, Message]] = []
    i, n = 0, len(messages)
    while i < n:
        msg = messages[i]
        i += 1
        if msg.role == "tool":
            raise ValueError(f"message {i - 1}: a tool result that follows no tool call")
        for call in msg.tool_calls or ():
            if i >= n or messages[i].role != "tool":
                raise ValueError(f"message {i}: expected the result of tool call {call.id!r}")
            result = messages[i]
            # tau²'s task files carry a tool result's call id as `id`, which our Message keeps in extras
            # only; such results pair by position, as tau² orders them.
            if result.tool_call_id is not None and result.tool_call_id != call.id:
                raise ValueError(f"message {i}: tool call id mismatch ({call.id!r} vs {result.tool_call_id!r})")
            pairs.append((call, result))
            i += 1
    return pairs


def merge_into(store: Store, update: dict[str, Any], path: tuple[Any, ...] = ()) -> None:
    """Deep-merge `update` into the store as tau²'s `update_db` does: dicts merge, anything else replaces."""
    node = store.edit(*path)
    for key, value in update.items():
        current = node.get(key) if isinstance(node, dict) else None
        if isinstance(value, dict) and isinstance(current, dict):
            merge_into(store, value, (*path, key))
            node = store.edit(*path)
        else:
            node[key] = msgspec.json.decode(msgspec.json.encode(value))  # a private deep copy


def _loose_json(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except (json.JSONDecodeError, TypeError):
        return text


def _short(value: Any, limit: int = 300) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= limit else text[:limit] + "..."


__all__ = ["Environment", "ReplayMismatch", "merge_into", "tool_call_pairs"]
