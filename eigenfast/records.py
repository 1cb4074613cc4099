"""The records that cross module boundaries: one definition on disk, on the wire and in memory.

Conventions (as vLLM uses msgspec): `omit_defaults`, new fields only at the end and always with a default
(schema evolution), one long-lived encoder/decoder per format. Optional task fields default to `UNSET` rather
than None, so a field that was absent stays absent and an explicit `null` stays `null`: tau²-bench task files
round-trip losslessly. Keys this schema does not know are kept in `Task.extras` (keyed by dotted path) and
written back on encode.
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar

import msgspec
from msgspec import UNSET, Struct, UnsetType, field

Role = Literal["system", "user", "assistant", "tool"]
Owner = Literal["system", "agent", "user", "tool"]
Requestor = Literal["assistant", "user"]
RewardComponent = Literal["DB", "ENV_ASSERTION", "ACTION", "COMMUNICATE", "NL_ASSERTION"]
Termination = Literal[
    "user_stop",
    "agent_stop",
    "max_steps",
    "too_many_errors",
    "agent_error",
    "user_error",
    "timeout",
    "infrastructure_error",
]


class Record(Struct, omit_defaults=True, kw_only=True):
    """Base for every boundary record."""


class TaskPart(Struct, kw_only=True):
    """Base for task-file records: fields are written even when default (`"arguments": {}` stays), while
    `UNSET` fields are always left out, so tau² files round-trip exactly."""


# --------------------------------------------------------------------------------------------- dialogue
class ToolCall(Record):
    id: str
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    requestor: Requestor = "assistant"


class Message(Record):
    role: Role
    content: str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None
    # Tool results only: whether the tool call failed (its content is then the error text).
    error: bool = False
    # Who produced a tool result: the agent's environment or the user's device (telecom).
    requestor: Requestor | UnsetType = UNSET
    turn_idx: int | UnsetType = UNSET
    timestamp: str | UnsetType = UNSET


# ------------------------------------------------------------------------------------------------ tasks
class Description(TaskPart):
    purpose: str | None | UnsetType = UNSET
    relevant_policies: str | None | UnsetType = UNSET
    notes: str | None | UnsetType = UNSET


class StructuredInstructions(TaskPart):
    domain: str | UnsetType = UNSET
    reason_for_call: str | None | UnsetType = UNSET
    known_info: str | None | UnsetType = UNSET
    unknown_info: str | None | UnsetType = UNSET
    task_instructions: str | None | UnsetType = UNSET


class UserScenario(TaskPart):
    instructions: str | StructuredInstructions
    persona: str | None | UnsetType = UNSET


class EnvFunctionCall(TaskPart):
    env_type: Requestor
    func_name: str
    arguments: dict[str, Any] = field(default_factory=dict)


class EnvAssertion(TaskPart):
    env_type: Requestor
    func_name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    assert_value: bool | UnsetType = UNSET
    message: str | None | UnsetType = UNSET


class Action(TaskPart):
    action_id: str
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    requestor: Requestor | UnsetType = UNSET
    info: str | None | UnsetType = UNSET
    compare_args: list[str] | None | UnsetType = UNSET


class InitializationData(TaskPart):
    agent_data: dict[str, Any] | None | UnsetType = UNSET
    user_data: dict[str, Any] | None | UnsetType = UNSET


class InitialState(TaskPart):
    initialization_data: InitializationData | None | UnsetType = UNSET
    initialization_actions: list[EnvFunctionCall] | None | UnsetType = UNSET
    message_history: list[Message] | None | UnsetType = UNSET


class EvaluationCriteria(TaskPart):
    actions: list[Action] | None | UnsetType = UNSET
    env_assertions: list[EnvAssertion] | None | UnsetType = UNSET
    communicate_info: list[str] | None | UnsetType = UNSET
    nl_assertions: list[str] | None | UnsetType = UNSET
    reward_basis: list[RewardComponent] | UnsetType = UNSET

    def basis(self) -> list[str]:
        """The components that gate the reward; tau² defaults to DB and COMMUNICATE."""
        return list(self.reward_basis) if self.reward_basis is not UNSET else ["DB", "COMMUNICATE"]


class Task(TaskPart):
    """A superset of tau²-bench's task schema; synthesised tasks add a checker."""

    id: str
    user_scenario: UserScenario
    description: Description | None | UnsetType = UNSET
    ticket: str | None | UnsetType = UNSET
    initial_state: InitialState | None | UnsetType = UNSET
    evaluation_criteria: EvaluationCriteria | None | UnsetType = UNSET
    annotations: Any | UnsetType = UNSET
    user_tools: list[str] | None | UnsetType = UNSET
    required_documents: list[str] | None | UnsetType = UNSET
    issues: Any | UnsetType = UNSET
    checker: Checker | None | UnsetType = UNSET
    # Keys this schema does not model, keyed by dotted path (e.g. "user_scenario.persoca").
    extras: dict[str, Any] = field(default_factory=dict)


class Checker(TaskPart):
    """Executable verdict for a synthesised instance; runs in `eigenfast.sandbox`."""

    source: str
    entry: str = "check"
    kind: Literal["python"] = "python"


# --------------------------------------------------------------------------------------------- episodes
class TokenSegment(Record):
    """A run of tokens with one owner. Only agent segments carry sampled logprobs and are trainable."""

    owner: Owner
    token_ids: list[int]
    logprobs: list[float] | None = None


class RewardInfo(Record):
    reward: float
    # Components that were computed, by name (DB, ENV_ASSERTION, ...), each in [0, 1].
    components: dict[str, float] = field(default_factory=dict)
    basis: list[str] = field(default_factory=list)
    # Components that could not be judged (e.g. NL_ASSERTION without a judge); never counted as a pass.
    unjudged: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)


class Episode(Record):
    task_id: str
    messages: list[Message]
    id: str = ""
    sample_idx: int = 0
    seed: int | None = None
    segments: list[TokenSegment] = field(default_factory=list)
    reward: float | None = None
    reward_info: RewardInfo | None = None
    termination: Termination | None = None
    timings: dict[str, float] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)


# ----------------------------------------------------------------------------------- codecs and helpers
T = TypeVar("T")

json_encoder = msgspec.json.Encoder()
msgpack_encoder = msgspec.msgpack.Encoder()


def to_json(record: Any) -> bytes:
    if isinstance(record, Task):
        return json_encoder.encode(task_to_builtins(record))
    return json_encoder.encode(record)


def from_json(data: bytes | str, type_: type[T]) -> T:
    if type_ is Task:
        return task_from_builtins(msgspec.json.decode(data))  # type: ignore[return-value]
    return msgspec.json.decode(data, type=type_)


def to_msgpack(record: Any) -> bytes:
    if isinstance(record, Task):
        return msgpack_encoder.encode(task_to_builtins(record))
    return msgpack_encoder.encode(record)


def from_msgpack(data: bytes, type_: type[T]) -> T:
    if type_ is Task:
        return task_from_builtins(msgspec.msgpack.decode(data))  # type: ignore[return-value]
    return msgspec.msgpack.decode(data, type=type_)


# Which nested keys hold which record, for finding unknown keys. Lists are marked with "[]".
_TASK_SHAPE: dict[str, type[Struct]] = {
    "": Task,
    "description": Description,
    "user_scenario": UserScenario,
    "user_scenario.instructions": StructuredInstructions,
    "initial_state": InitialState,
    "initial_state.initialization_data": InitializationData,
    "initial_state.initialization_actions[]": EnvFunctionCall,
    "initial_state.message_history[]": Message,
    "initial_state.message_history[].tool_calls[]": ToolCall,
    "evaluation_criteria": EvaluationCriteria,
    "evaluation_criteria.actions[]": Action,
    "evaluation_criteria.env_assertions[]": EnvAssertion,
    "checker": Checker,
}


def _split_extras(value: Any, shape: str, path: str, extras: dict[str, Any]) -> Any:
    """Copy `value` without keys unknown to its record, moving them into `extras` under their path."""
    struct = _TASK_SHAPE.get(shape)
    if isinstance(value, list) and shape + "[]" in _TASK_SHAPE:
        return [_split_extras(v, shape + "[]", f"{path}[{i}]", extras) for i, v in enumerate(value)]
    if struct is None or not isinstance(value, dict):
        return value
    known = set(struct.__struct_fields__) - {"extras"}
    out: dict[str, Any] = {}
    for key, val in value.items():
        sub = f"{path}.{key}" if path else key
        if key in known:
            out[key] = _split_extras(val, f"{shape}.{key}" if shape else key, sub, extras)
        else:
            extras[sub] = val
    return out


def _put_path(root: dict[str, Any], path: str, val: Any) -> None:
    node: Any = root
    parts = path.replace("[", ".[").split(".")
    for part in parts[:-1]:
        node = node[int(part[1:-1])] if part.startswith("[") else node[part]
    node[parts[-1]] = val


def task_from_builtins(raw: dict[str, Any], *, source: str = "task") -> Task:
    """Build a Task from decoded JSON, keeping unknown keys. Raises ValueError naming `source` and the field."""
    if not isinstance(raw, dict):
        raise ValueError(f"{source}: a task must be a JSON object, got {type(raw).__name__}")
    extras: dict[str, Any] = {}
    clean = _split_extras(raw, "", "", extras)
    try:
        task = msgspec.convert(clean, Task)
    except msgspec.ValidationError as exc:
        raise ValueError(f"{source} (id={raw.get('id')!r}): {exc}") from None
    task.extras = extras
    return task


def task_to_builtins(task: Task) -> dict[str, Any]:
    """Task as plain JSON values, with unknown keys put back where they came from."""
    out = msgspec.to_builtins(task)
    out.pop("extras", None)
    for path, val in task.extras.items():
        _put_path(out, path, val)
    return out


def load_tasks(path: str) -> list[Task]:
    """Read a tau²-style `tasks.json` (a list of tasks) with errors that name the file and the task."""
    from pathlib import Path

    p = Path(path)
    try:
        raw = msgspec.json.decode(p.read_bytes())
    except FileNotFoundError:
        raise FileNotFoundError(f"{p}: no such tasks file") from None
    except msgspec.DecodeError as exc:
        raise ValueError(f"{p}: not valid JSON ({exc})") from None
    if not isinstance(raw, list):
        raise ValueError(f"{p}: expected a JSON list of tasks, got {type(raw).__name__}")
    return [task_from_builtins(t, source=f"{p}[{i}]") for i, t in enumerate(raw)]
