"""Read a tau²-bench data folder into a `Domain`: spec, parsed DBs (once per process), policy and tasks.

Parsing the DB is the expensive part of building an environment, so each DB file is parsed once into a
shared, read-only `Base` (cached by path and modification time); every environment then gets cheap
copy-on-write `Store`s over it.
"""

from __future__ import annotations

import importlib
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
from msgspec import UNSET

from eigenfast.domains.environment import Environment, merge_into
from eigenfast.domains.spec import DomainSpec
from eigenfast.domains.store import Base, Store
from eigenfast.records import Task, load_tasks

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

SPEC_MODULES = {
    "airline": "eigenfast.domains.airline",
    "retail": "eigenfast.domains.retail",
    "telecom": "eigenfast.domains.telecom",
    "mock": "eigenfast.domains.mock",
}

_bases: dict[tuple[str, int, int, str], Base] = {}
_bases_lock = threading.Lock()


def get_spec(name: str) -> DomainSpec:
    module = SPEC_MODULES.get(name)
    if module is None:
        raise ValueError(f"unknown domain {name!r}; expected one of {', '.join(SPEC_MODULES)}")
    spec = importlib.import_module(module).SPEC
    if not isinstance(spec, DomainSpec):
        raise TypeError(f"{module}.SPEC is a {type(spec).__name__}, not a DomainSpec")
    return spec


def parse_db_file(path: Path) -> Any:
    """Plain JSON values from a `.json` or `.toml` DB file, with errors naming the file."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: DB file not found") from None
    try:
        if path.suffix == ".toml":
            return tomllib.loads(raw.decode("utf-8"))
        return msgspec.json.decode(raw)
    except (msgspec.DecodeError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: cannot parse DB ({exc})") from None


def load_base(path: Path, prepare: Any = None) -> Base:
    """The parsed DB at `path`, shared by every environment in this process."""
    path = Path(path).resolve()
    stat = path.stat() if path.exists() else None
    key = (str(path), stat.st_mtime_ns if stat else -1, stat.st_size if stat else -1,
           getattr(prepare, "__qualname__", "") + getattr(prepare, "__module__", ""))
    with _bases_lock:
        base = _bases.get(key)
    if base is None:
        data = parse_db_file(path)
        if prepare is not None:
            try:
                data = prepare(data)
            except ValueError as exc:
                raise ValueError(f"{path}: {exc}") from None
        base = Base(data)
        with _bases_lock:
            base = _bases.setdefault(key, base)
    return base


@dataclass
class Domain:
    name: str
    spec: DomainSpec
    data_dir: Path
    policy: str
    tasks: list[Task]
    agent_base: Base
    user_base: Base | None
    policy_variant: str | None = None
    _by_id: dict[str, Task] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._by_id = {t.id: t for t in self.tasks}

    def task(self, task_id: str) -> Task:
        try:
            return self._by_id[task_id]
        except KeyError:
            raise KeyError(f"{self.name}: no task with id {task_id!r}") from None

    def tool_schemas(self) -> list[dict[str, Any]]:
        return self.spec.agent_tools.schemas()

    def user_tool_schemas(self) -> list[dict[str, Any]]:
        return self.spec.user_tools.schemas() if self.spec.user_tools is not None else []

    def pristine_env(self) -> Environment:
        """The environment as tau² constructs it, before any task state (includes the constructor's sync)."""
        env = Environment(self, self.agent_base.store(), self.user_base.store() if self.user_base else None)
        env.sync()
        return env

    def make_env(self, task: Task | None = None, *, with_history: bool = True) -> Environment:
        """A fresh environment in the task's initial state: `initialization_data` merged, its
        `initialization_actions` run and (unless `with_history=False`) its `message_history` replayed."""
        env = self.pristine_env()
        if task is None:
            return env
        state = task.initial_state
        if state is None or state is UNSET:
            env.sync()
            return env
        data = state.initialization_data
        if data is not None and data is not UNSET:
            if data.agent_data not in (None, UNSET):
                _merge(env.agent_db, data.agent_data, self.spec.prepare_db)
            if data.user_data not in (None, UNSET):
                if env.user_db is None:
                    raise ValueError(f"{self.name} task {task.id}: user_data given but the domain has no user DB")
                _merge(env.user_db, data.user_data, self.spec.prepare_user_db)
        actions = state.initialization_actions
        for action in actions if actions not in (None, UNSET) else ():
            try:
                env.run_function(action.env_type, action.func_name, action.arguments)
            except Exception as exc:
                raise ValueError(f"{self.name} task {task.id}: initialization action {action.func_name} "
                                 f"failed: {exc}") from exc
        history = state.message_history
        if with_history and history not in (None, UNSET):
            env.replay(history)
        env.sync()
        return env


def _merge(store: Store, update: dict[str, Any], prepare: Any) -> None:
    merge_into(store, update)
    if prepare is not None:
        store.data = prepare(store.data)


def load_tau2(domain: str, data_dir: str | Path, *, policy_variant: str | None = None,
              tasks_file: str | Path | None = None) -> Domain:
    """Load a tau² domain (`airline`, `retail`, `telecom`, `mock`) from the folder holding `<domain>/`."""
    spec = get_spec(domain)
    root = Path(data_dir)
    domain_dir = root / domain
    if not domain_dir.is_dir():
        raise FileNotFoundError(f"{domain_dir}: no such domain folder (data_dir={root})")
    agent_base = load_base(domain_dir / spec.db_file, spec.prepare_db)
    user_base = load_base(domain_dir / spec.user_db_file, spec.prepare_user_db) if spec.user_db_file else None
    tasks = load_tasks(str(tasks_file or domain_dir / "tasks.json"))
    policy = spec.policy(domain_dir, policy_variant)
    return Domain(domain, spec, root, policy, tasks, agent_base, user_base, policy_variant)


__all__ = ["Domain", "get_spec", "load_base", "load_tau2", "parse_db_file", "SPEC_MODULES"]
