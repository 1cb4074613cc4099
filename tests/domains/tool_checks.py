"""Helpers shared by the per-tool tests."""

from __future__ import annotations

import json
from typing import Any

from eigenfast.domains.toolkit import ToolResult


def ok(result: ToolResult) -> Any:
    """A successful call's content: parsed JSON, or the text when it is not JSON."""
    assert not result.error, result.content
    try:
        return json.loads(result.content)
    except json.JSONDecodeError:
        return result.content
