"""The compiled core for tests that compare it with its Python twin (`eigenfast.ops._native_fallbacks`)."""

from __future__ import annotations

import importlib
import os

import pytest

from eigenfast.ops import _native_fallbacks as twin


def native_module(group: str):
    """`eigenfast._C` with binding group `group`; skipped (or failed under EIGENFAST_REQUIRE_NATIVE=1) if absent."""
    try:
        mod = importlib.import_module("eigenfast._C")
        missing = None if group in getattr(mod, "binding_groups", ()) else f"built without the {group!r} group"
    except ImportError as exc:
        mod, missing = None, f"not importable ({exc})"
    if missing:
        if os.environ.get("EIGENFAST_REQUIRE_NATIVE", "").strip() not in ("", "0"):
            pytest.fail(f"EIGENFAST_REQUIRE_NATIVE is set but eigenfast._C is {missing}")
        pytest.skip(f"eigenfast._C is {missing}: build it in place to compare C++ with the fallback")
    return mod


def both_impls(group: str):
    """The twin first, so that its checks run even where the compiled core is missing and the rest is skipped."""
    yield twin
    yield native_module(group)
