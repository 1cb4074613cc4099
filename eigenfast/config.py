"""Typed run configuration: one msgspec record per job, loaded from YAML or TOML plus `a.b=value` overrides.

Every failure is a `ConfigError` whose message is one line naming the file and the field, e.g.
`configs/x.yaml: rollout.samples: expected int, got str`; the CLI prints it without a traceback.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any, Literal, TypeVar

import msgspec
import yaml

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

T = TypeVar("T")


class ConfigError(ValueError):
    """A config file, field or override is wrong; the message names which."""


class Section(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Base for config sections: unknown keys are errors, never silently ignored."""


class DomainConfig(Section):
    name: Literal["airline", "retail", "telecom", "mock"] = "mock"
    # The tau²-bench data folder (holding airline/, retail/, ...). Relative paths resolve against the config
    # file's folder; EIGENFAST_TAU2_DATA is used when this is empty.
    data_dir: str = ""
    policy_variant: str | None = None
    tasks: list[str] | None = None


class RolloutConfig(Section):
    """The same defaults as `eigenfast rollout`'s flags (tau²'s where it has one)."""

    agent: str = ""
    user: str = "scripted"
    samples: int = 1
    max_steps: int = 200
    max_errors: int = 10
    concurrency: int = 64
    temperature: float = 1.0
    max_new_tokens: int = 1024
    seed: int = 300


class SandboxConfig(Section):
    workers: int | None = None
    cpu_time_s: float = 2.0
    wall_time_s: float = 5.0
    memory_mb: int = 512
    max_output_kb: int = 64


class RunConfig(Section):
    """The whole job. Sections are added as features land; old files keep loading (all fields default)."""

    domain: DomainConfig = msgspec.field(default_factory=DomainConfig)
    rollout: RolloutConfig = msgspec.field(default_factory=RolloutConfig)
    sandbox: SandboxConfig = msgspec.field(default_factory=SandboxConfig)
    out_dir: str = "runs/default"


def _read(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise ConfigError(f"{path}: config file not found")
    text = path.read_text()
    suffix = path.suffix.lower()
    try:
        if suffix in {".yaml", ".yml"}:
            data = yaml.safe_load(text)
        elif suffix == ".toml":
            data = tomllib.loads(text)
        else:
            raise ConfigError(f"{path}: unknown config format {suffix!r} (use .yaml, .yml or .toml)")
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}: invalid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping, got {type(data).__name__}")
    return data


def _apply_override(data: dict[str, Any], override: str) -> None:
    key, sep, raw = override.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"override {override!r}: expected key.sub=value")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    node = data
    parts = key.strip().split(".")
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"override {override!r}: {part} is not a section")
        node = child
    node[parts[-1]] = value


_PATH_RE = re.compile(r"at `\$\.?([^`]*)`")


def _explain(exc: msgspec.ValidationError, source: str) -> ConfigError:
    """Turn msgspec's message into `source: field.path: problem`."""
    msg = str(exc)
    m = _PATH_RE.search(msg)
    where = m.group(1).replace("[", ".").replace("]", "") if m else ""
    problem = _PATH_RE.sub("", msg).strip().rstrip("-").strip()
    unknown = re.match(r"Object contains unknown field `([^`]+)`", problem)
    if unknown:
        field = f"{where}.{unknown.group(1)}" if where else unknown.group(1)
        return ConfigError(f"{source}: {field}: unknown key")
    problem = problem[0].lower() + problem[1:] if problem else problem
    return ConfigError(f"{source}: {where or '(top level)'}: {problem}")


def load_config(
    path: str | os.PathLike[str] | None = None,
    overrides: list[str] | None = None,
    type_: type[T] = RunConfig,  # type: ignore[assignment]
) -> T:
    """Load `path` (YAML or TOML; None means all defaults), apply `key.sub=value` overrides, validate."""
    data: dict[str, Any] = _read(Path(path)) if path is not None else {}
    for ov in overrides or []:
        _apply_override(data, ov)
    source = str(path) if path is not None else "<defaults>"
    if overrides:
        source += f" (with overrides {' '.join(overrides)})"
    try:
        cfg = msgspec.convert(data, type_, strict=False)
    except msgspec.ValidationError as exc:
        raise _explain(exc, source) from None
    if isinstance(cfg, RunConfig) and path is not None and cfg.domain.data_dir:
        base = Path(path).resolve().parent
        cfg.domain.data_dir = str((base / cfg.domain.data_dir).resolve())
    return cfg


def dump_config(cfg: Any) -> str:
    """The resolved config as YAML (what `eigenfast config show` prints)."""
    return yaml.safe_dump(msgspec.to_builtins(cfg), sort_keys=False)
