"""The tool-call codec: records <-> chat-format dicts, and model text -> tool calls.

Parsing never raises. Whatever the model wrote, the result is a `ParsedTurn` whose `errors` say what was
wrong (bad JSON, an unknown tool, wrong argument types); the episode turns each error into an error
observation the agent sees and counts toward its error limit. Two output formats are understood: Hermes/Qwen
`<tool_call>{json}</tool_call>` blocks (any number per turn) and a bare JSON object or list of objects
`{"name": ..., "arguments": {...}}`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from eigenfast.records import Message, ToolCall

TOOL_CALL_OPEN, TOOL_CALL_CLOSE = "<tool_call>", "</tool_call>"
# Name given to a call the model botched so badly that no tool name could be read from it.
INVALID_CALL = "invalid_tool_call"
_BLOCK = re.compile(r"<tool_call>(.*?)(?:</tool_call>|$)", re.DOTALL)


@dataclass
class ParsedTurn:
    content: str
    tool_calls: list[ToolCall] = field(default_factory=list)
    # One entry per malformed call: (call id it is attached to, agent-facing error text).
    errors: list[tuple[str, str]] = field(default_factory=list)


# ------------------------------------------------------------------------------------- records -> chat dicts
def to_chat_messages(messages: list[Message]) -> list[dict[str, Any]]:
    """Records as OpenAI chat-completions messages (tool arguments as dicts, as HF chat templates expect)."""
    out: list[dict[str, Any]] = []
    for m in messages:
        d: dict[str, Any] = {"role": m.role, "content": m.content or ""}
        if m.tool_calls:
            d["tool_calls"] = [{"id": c.id, "type": "function",
                                "function": {"name": c.name, "arguments": c.arguments}} for c in m.tool_calls]
        if m.tool_call_id is not None:
            d["tool_call_id"] = m.tool_call_id
        out.append(d)
    return out


def to_openai_wire(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Chat dicts for the HTTP API, where tool-call arguments are JSON strings."""
    out = []
    for m in messages:
        if m.get("tool_calls"):
            m = dict(m, tool_calls=[
                {**c, "function": {**c["function"], "arguments": _args_text(c["function"]["arguments"])}}
                for c in m["tool_calls"]])
        out.append(m)
    return out


def _args_text(arguments: Any) -> str:
    return arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False)


def render_tool_calls(content: str | None, calls: list[ToolCall]) -> str:
    """The canonical text of an assistant turn in the Hermes/Qwen format (what the chat template renders)."""
    parts = [content] if content else []
    for c in calls:
        body = json.dumps({"name": c.name, "arguments": c.arguments}, ensure_ascii=False)
        parts.append(f"{TOOL_CALL_OPEN}\n{body}\n{TOOL_CALL_CLOSE}")
    return "\n".join(parts)


# ------------------------------------------------------------------------------------------ text -> calls
def parse_completion(text: str, tools: list[dict[str, Any]] | None, *, id_prefix: str = "call",
                     truncated: bool = False) -> ParsedTurn:
    """Split model text into content and validated tool calls; malformed calls become errors."""
    schemas = _schema_index(tools)
    if TOOL_CALL_OPEN in text:
        content = _BLOCK.sub("", text).replace(TOOL_CALL_CLOSE, "").strip()
        turn = ParsedTurn(content)
        for i, m in enumerate(_BLOCK.finditer(text)):
            cid = f"{id_prefix}_{i}"
            closed = m.group(0).endswith(TOOL_CALL_CLOSE)
            if not closed:
                why = "the output was cut off" if truncated else f"missing {TOOL_CALL_CLOSE}"
                _add(turn, cid, None, None, f"unterminated tool call ({why})")
                continue
            _add_raw(turn, cid, m.group(1).strip(), schemas)
        return turn
    stripped = text.strip()
    if stripped[:1] in "{[" and stripped and '"name"' in stripped:
        try:
            obj = json.loads(stripped)
        except json.JSONDecodeError as exc:
            turn = ParsedTurn("")
            _add(turn, f"{id_prefix}_0", None, None, f"tool call is not valid JSON: {exc}")
            return turn
        items = obj if isinstance(obj, list) else [obj]
        if all(isinstance(o, dict) and "name" in o for o in items) and items:
            turn = ParsedTurn("")
            for i, o in enumerate(items):
                _add_obj(turn, f"{id_prefix}_{i}", o, schemas)
            return turn
    if not stripped:
        turn = ParsedTurn("")
        _add(turn, f"{id_prefix}_0", None, None, "empty response: reply with a message or a tool call")
        return turn
    return ParsedTurn(stripped)


def parse_native(content: str | None, tool_calls: list[dict[str, Any]], tools: list[dict[str, Any]] | None,
                 *, id_prefix: str = "call") -> ParsedTurn:
    """Validate tool calls an OpenAI-compatible server already parsed (`{"id", "function": {...}}`)."""
    schemas = _schema_index(tools)
    turn = ParsedTurn((content or "").strip())
    for i, c in enumerate(tool_calls):
        fn = c.get("function") or {}
        cid = c.get("id") or f"{id_prefix}_{i}"
        raw_args = fn.get("arguments", "{}")
        try:
            args = json.loads(raw_args) if isinstance(raw_args, str) else raw_args
        except json.JSONDecodeError as exc:
            _add(turn, cid, fn.get("name"), None, f"arguments of tool call are not valid JSON: {exc}")
            continue
        _add_obj(turn, cid, {"name": fn.get("name"), "arguments": args}, schemas)
    if not turn.tool_calls and not turn.content:
        _add(turn, f"{id_prefix}_0", None, None, "empty response: reply with a message or a tool call")
    return turn


def _add_raw(turn: ParsedTurn, cid: str, body: str, schemas: dict[str, dict[str, Any]] | None) -> None:
    try:
        obj = json.loads(body)
    except json.JSONDecodeError as exc:
        _add(turn, cid, None, None, f"tool call is not valid JSON: {exc}")
        return
    _add_obj(turn, cid, obj, schemas)


def _add_obj(turn: ParsedTurn, cid: str, obj: Any, schemas: dict[str, dict[str, Any]] | None) -> None:
    if not isinstance(obj, dict) or not isinstance(obj.get("name"), str):
        _add(turn, cid, None, None, 'a tool call must be a JSON object {"name": ..., "arguments": {...}}')
        return
    name = obj["name"]
    args = obj.get("arguments", obj.get("parameters", {}))
    if isinstance(args, str):
        try:
            args = json.loads(args or "{}")
        except json.JSONDecodeError as exc:
            _add(turn, cid, name, None, f"arguments of {name} are not valid JSON: {exc}")
            return
    if args is None:
        args = {}
    if not isinstance(args, dict):
        _add(turn, cid, name, None, f"arguments of {name} must be a JSON object, got {_json_type(args)}")
        return
    if schemas is not None:
        if name not in schemas:
            _add(turn, cid, name, args, f"unknown tool '{name}'; available: {', '.join(sorted(schemas))}")
            return
        problem = check_arguments(name, args, schemas[name])
        if problem:
            _add(turn, cid, name, args, problem)
            return
    turn.tool_calls.append(ToolCall(id=cid, name=name, arguments=args))


def _add(turn: ParsedTurn, cid: str, name: str | None, args: dict[str, Any] | None, error: str) -> None:
    """Keep the malformed call in the transcript (so the error observation answers it) and record the error."""
    turn.tool_calls.append(ToolCall(id=cid, name=name or INVALID_CALL, arguments=args or {}))
    turn.errors.append((cid, error))


# ------------------------------------------------------------------------------------ argument checking
def _schema_index(tools: list[dict[str, Any]] | None) -> dict[str, dict[str, Any]] | None:
    if tools is None:
        return None
    index = {}
    for t in tools:
        fn = t.get("function", t)
        index[fn["name"]] = fn.get("parameters") or {}
    return index


_JSON_TYPES = {"string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,),
               "array": (list,), "object": (dict,), "null": (type(None),)}


def _json_type(value: Any) -> str:
    for name, types in _JSON_TYPES.items():
        if isinstance(value, types) and not (isinstance(value, bool) and name in ("integer", "number")):
            return name
    return type(value).__name__


def _matches(value: Any, schema: dict[str, Any]) -> str | None:
    """Why `value` does not fit a JSON-schema fragment, or None. Covers what tool schemas use."""
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return None if any(_matches(value, s) is None for s in schema[key]) else "matches none of the allowed types"
    if "enum" in schema and value not in schema["enum"]:
        return f"must be one of {schema['enum']}"
    types = schema.get("type")
    if types is not None:
        types = [types] if isinstance(types, str) else types
        if not any(t in _JSON_TYPES and isinstance(value, _JSON_TYPES[t])
                   and not (isinstance(value, bool) and t in ("integer", "number")) for t in types):
            return f"must be {' or '.join(types)}, got {_json_type(value)}"
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, v in enumerate(value):
            why = _matches(v, schema["items"])
            if why:
                return f"item {i} {why}"
    if isinstance(value, dict) and isinstance(schema.get("properties"), dict):
        for k in schema.get("required", []):
            if k not in value:
                return f"is missing required field '{k}'"
        for k, v in value.items():
            sub = schema["properties"].get(k)
            why = _matches(v, sub) if isinstance(sub, dict) else None
            if why:
                return f"field '{k}' {why}"
    return None


def check_arguments(name: str, args: dict[str, Any], parameters: dict[str, Any]) -> str | None:
    """Agent-facing text of the first problem with `args` against a tool's parameter schema, or None."""
    if "properties" not in parameters:
        return None  # no schema to check against
    props = parameters["properties"] or {}
    missing = [k for k in parameters.get("required", []) if k not in args]
    if missing:
        return f"tool '{name}' is missing required argument(s): {', '.join(missing)}"
    unknown = [k for k in args if k not in props]
    if unknown and parameters.get("additionalProperties", False) is False:
        return f"tool '{name}' got unexpected argument(s): {', '.join(unknown)}"
    for k, v in args.items():
        if k in props:
            why = _matches(v, props[k])
            if why:
                return f"argument '{k}' of tool '{name}' {why}"
    return None
