"""Tools as plain methods: the signature and docstring are the schema, and `call` is the only way in.

A domain toolkit subclasses `Toolkit` and marks methods with `@tool(kind)` (agent- or user-facing tools) or
`@function` (helpers that tasks call by name: initialization actions and env assertions). `call` never raises
for bad model input: unknown tools, missing/extra/ill-typed arguments and `ToolError`s all become an error
`ToolResult` carrying the text the agent would see.
"""

from __future__ import annotations

import inspect
import json
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import msgspec

from eigenfast.domains.store import Store

ToolKind = Literal["read", "write", "think", "generic"]


class ToolError(Exception):
    """An expected failure of a tool call (bad id, policy violation, ...); its text goes to the agent."""


@dataclass(frozen=True)
class ToolSpec:
    name: str
    kind: ToolKind
    mutates_state: bool
    fn: Callable[..., Any]
    signature: inspect.Signature
    hints: dict[str, Any]
    doc: str


@dataclass(frozen=True)
class ToolResult:
    content: str
    error: bool = False


def tool(kind: ToolKind, *, mutates_state: bool | None = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Mark a method as a tool. Writes replay during grading unless `mutates_state=False` is given."""

    def mark(fn: Callable[..., Any]) -> Callable[..., Any]:
        fn.__eigenfast_tool__ = (kind, kind == "write" if mutates_state is None else mutates_state)
        return fn

    return mark


def function(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a method as a named helper (initialization action or assertion); not shown to models."""
    fn.__eigenfast_function__ = True
    return fn


def to_content(value: Any) -> str:
    """How a tool's return value is shown to the model: strings as-is, everything else as JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(msgspec.to_builtins(value))


class Toolkit:
    """Base class: binds tools to one `Store`. Subclasses read `self.db.data` and write via `self.db.edit`."""

    def __init__(self, db: Store):
        self.db = db

    # ------------------------------------------------------------------------------------ introspection
    @classmethod
    def specs(cls) -> dict[str, ToolSpec]:
        cached = cls.__dict__.get("_specs")
        if cached is None:
            cached = {}
            for name in dir(cls):
                fn = getattr(cls, name)
                mark = getattr(fn, "__eigenfast_tool__", None)
                if mark is None:
                    continue
                sig = inspect.signature(fn)
                sig = sig.replace(parameters=list(sig.parameters.values())[1:])  # drop self
                cached[name] = ToolSpec(name, mark[0], mark[1], fn, sig, typing.get_type_hints(fn),
                                        inspect.getdoc(fn) or "")
            cls._specs = cached
        return cached

    @classmethod
    def functions(cls) -> dict[str, Callable[..., Any]]:
        cached = cls.__dict__.get("_functions")
        if cached is None:
            cached = {n: getattr(cls, n) for n in dir(cls)
                      if getattr(getattr(cls, n), "__eigenfast_function__", False)}
            cls._functions = cached
        return cached

    @classmethod
    def has_tool(cls, name: str) -> bool:
        return name in cls.specs()

    @classmethod
    def mutates(cls, name: str) -> bool:
        spec = cls.specs().get(name)
        return bool(spec and spec.mutates_state)

    @classmethod
    def schemas(cls) -> list[dict[str, Any]]:
        """OpenAI function-calling JSON for every tool, from signatures and docstrings."""
        from eigenfast.domains.schema import tool_schema

        return [tool_schema(spec) for spec in cls.specs().values()]

    # ---------------------------------------------------------------------------------------- calling
    def call(self, name: str, arguments: Any) -> ToolResult:
        spec = self.specs().get(name)
        if spec is None:
            return ToolResult(f"Error: Tool '{name}' not found.", error=True)
        try:
            kwargs = coerce_arguments(spec, arguments)
            value = spec.fn(self, **kwargs)
        except Exception as exc:  # as tau²: any failure is the error observation the model sees
            return ToolResult(f"Error: {exc}", error=True)
        return ToolResult(to_content(value))

    def call_function(self, name: str, arguments: dict[str, Any] | None = None) -> Any:
        """Run a named helper or tool without error wrapping (initialization, assertions, gold replay)."""
        fn = self.functions().get(name)
        if fn is None:
            spec = self.specs().get(name)
            if spec is None:
                raise KeyError(f"{type(self).__name__} has no function or tool named {name!r}")
            fn = spec.fn
        return fn(self, **(arguments or {}))


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp)


def coerce_arguments(spec: ToolSpec, arguments: Any) -> dict[str, Any]:
    """Validate model-written arguments against the signature; raises ValueError with the agent-facing text."""
    if isinstance(arguments, (str, bytes)):
        try:
            arguments = json.loads(arguments or "{}")
        except json.JSONDecodeError as exc:
            raise ValueError(f"arguments for {spec.name} are not valid JSON: {exc}") from None
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, dict):
        raise ValueError(f"arguments for {spec.name} must be a JSON object, got {type(arguments).__name__}")
    params = spec.signature.parameters
    extra = sorted(set(arguments) - set(params))
    if extra:
        raise ValueError(f"{spec.name}() got unexpected argument(s): {', '.join(extra)}")
    missing = [n for n, p in params.items() if p.default is inspect.Parameter.empty and n not in arguments]
    if missing:
        raise ValueError(f"{spec.name}() missing required argument(s): {', '.join(missing)}")
    out: dict[str, Any] = {}
    for name, value in arguments.items():
        hint = spec.hints.get(name, Any)
        try:
            out[name] = msgspec.convert(value, hint, strict=False) if hint is not Any else value
        except msgspec.ValidationError as exc:
            raise ValueError(f"{spec.name}() argument {name!r}: {exc}") from None
    return out


__all__ = [
    "Toolkit",
    "ToolError",
    "ToolResult",
    "ToolSpec",
    "function",
    "tool",
    "to_content",
    "coerce_arguments",
]
