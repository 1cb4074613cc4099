"""What a domain module declares: its DB files, toolkits, policy text and (telecom) the sync between DBs.

Each domain module (`eigenfast/domains/<name>.py` or package) exports one `SPEC`; the loader turns it plus a
tau² data folder into a `Domain`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eigenfast.domains.store import Store
from eigenfast.domains.toolkit import Toolkit

POLICY_FILES = {None: "policy.md", "solo": "policy_solo.md"}


def file_policy(domain_dir: Path, variant: str | None = None) -> str:
    """The policy of a domain that ships it as one file: `policy.md`, or `policy_solo.md` for "solo"."""
    if variant not in POLICY_FILES:
        raise ValueError(f"unknown policy variant {variant!r} for {domain_dir.name}; expected None or 'solo'")
    path = Path(domain_dir) / POLICY_FILES[variant]
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: policy file not found") from None


@dataclass(frozen=True)
class DomainSpec:
    name: str
    db_file: str  # relative to <data_dir>/<name>/: "db.json" or "db.toml"
    agent_tools: type[Toolkit]
    user_db_file: str | None = None
    user_tools: type[Toolkit] | None = None
    policy: Callable[[Path, str | None], str] = file_policy
    # Runs after every successful tool call, after each initialization action and at the end of set-up.
    sync: Callable[[Store, Store | None], None] | None = None
    # Turn a parsed DB file into the plain tree the tools expect (defaults filled, as tau²'s models do).
    # Runs once per parsed file, and again on a DB that a task's `initialization_data` was merged into.
    prepare_db: Callable[[Any], Any] | None = None
    prepare_user_db: Callable[[Any], Any] | None = None


__all__ = ["DomainSpec", "file_policy"]
