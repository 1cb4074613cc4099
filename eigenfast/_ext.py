"""Loads the optional native core once and remembers why it is off.

Callers ask `native()` for the module (or None) instead of importing `eigenfast._C` themselves, so the
"not built" vs "built but broken" distinction and the `EIGENFAST_DISABLE_EXT` / `EIGENFAST_REQUIRE_NATIVE`
switches live in exactly one place.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from types import ModuleType


class NativeExtensionError(ImportError):
    """Raised when EIGENFAST_REQUIRE_NATIVE=1 and the compiled core cannot be used."""


@dataclass(frozen=True)
class ExtStatus:
    active: bool
    state: str  # "active" | "disabled" | "not built" | "broken"
    version: str | None
    reason: str | None
    groups: tuple[str, ...] = ()


_module: ModuleType | None = None
_status: ExtStatus | None = None


def _truthy(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def _load() -> ExtStatus:
    global _module
    if _truthy("EIGENFAST_DISABLE_EXT"):
        return ExtStatus(False, "disabled", None, "EIGENFAST_DISABLE_EXT=1 forces the Python fallbacks")
    try:
        mod = importlib.import_module("eigenfast._C")
    except ModuleNotFoundError as exc:
        if exc.name == "eigenfast._C":
            return ExtStatus(False, "not built", None, "eigenfast._C was not compiled into this install")
        return ExtStatus(False, "broken", None, f"{type(exc).__name__}: {exc}")
    except Exception as exc:  # a built but unloadable .so: wrong ABI, missing symbol, ...
        return ExtStatus(False, "broken", None, f"{type(exc).__name__}: {exc}")
    _module = mod
    groups = tuple(getattr(mod, "binding_groups", ()))
    return ExtStatus(True, "active", getattr(mod, "__version__", None), None, groups)


def status() -> ExtStatus:
    """The load outcome; loads on first call."""
    global _status
    if _status is None:
        _status = _load()
        if not _status.active and _status.state != "disabled" and _truthy("EIGENFAST_REQUIRE_NATIVE"):
            raise NativeExtensionError(
                f"EIGENFAST_REQUIRE_NATIVE=1 but the C++ extension is {_status.state}: {_status.reason}"
            )
    return _status


def native() -> ModuleType | None:
    """The compiled module, or None when the fallbacks must be used."""
    return _module if status().active else None


def require_group(group: str) -> ModuleType | None:
    """The compiled module if it was built with binding group `group` (e.g. "packing"), else None."""
    mod = native()
    if mod is None or group not in status().groups:
        return None
    return mod


def _reset_for_tests() -> None:
    """Forget the cached load so a test can flip the environment switches."""
    global _module, _status
    _module = None
    _status = None
