"""OpenAI function-calling JSON for a tool, from its signature, type hints and docstring.

The docstring's first paragraph is the tool's description; an `Args:` section with `name: text` lines
(continuation lines indented further) describes the parameters. Types come from the hints through msgspec's
JSON-schema generator, so records (msgspec Structs) become `$defs` entries, as pydantic does for tau²-bench.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

import msgspec

from eigenfast.domains.toolkit import ToolSpec

_SECTION = re.compile(r"^\s*(Args|Arguments|Parameters|Returns|Raises|Yields|Examples?|Notes?)\s*:\s*$")
_ARG = re.compile(r"^(\s*)(\*{0,2}\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")


def parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """(description, {parameter: description}) from a Google-style docstring."""
    lines = inspect.cleandoc(doc or "").splitlines()
    description: list[str] = []
    args: dict[str, str] = {}
    section: str | None = None
    current: str | None = None
    arg_indent = -1
    for line in lines:
        head = _SECTION.match(line)
        if head:
            section, current, arg_indent = head.group(1), None, -1
            continue
        if section is None:
            description.append(line)
        elif section in ("Args", "Arguments", "Parameters") and line.strip():
            match = _ARG.match(line)
            indent = len(line) - len(line.lstrip())
            if match and (arg_indent < 0 or indent <= arg_indent):
                arg_indent = indent
                current = match.group(2).lstrip("*")
                args[current] = match.group(3).strip()
            elif current is not None:
                args[current] = (args[current] + " " + line.strip()).strip()
    text = "\n".join(description).strip()
    first_paragraph = text.split("\n\n")[0] if text else ""
    return " ".join(first_paragraph.split()), args


def tool_schema(spec: ToolSpec) -> dict[str, Any]:
    description, arg_docs = parse_docstring(spec.doc)
    names = list(spec.signature.parameters)
    hints = [spec.hints.get(n, Any) for n in names]
    schemas, defs = msgspec.json.schema_components(hints, ref_template="#/$defs/{name}") if names else ((), {})
    properties: dict[str, Any] = {}
    required: list[str] = []
    for name, schema in zip(names, schemas, strict=True):
        param = spec.signature.parameters[name]
        prop = dict(schema)
        prop.setdefault("title", name.replace("_", " ").title())
        if name in arg_docs and "description" not in prop:
            prop["description"] = arg_docs[name]
        if param.default is inspect.Parameter.empty:
            required.append(name)
        elif param.default is None or isinstance(param.default, (str, int, float, bool)):
            prop["default"] = param.default
        properties[name] = prop
    parameters: dict[str, Any] = {"type": "object", "properties": properties, "required": required}
    if defs:
        parameters["$defs"] = defs
    return {"type": "function", "function": {"name": spec.name, "description": description,
                                             "parameters": parameters}}


__all__ = ["parse_docstring", "tool_schema"]
