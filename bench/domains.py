"""Gold replay + evaluation throughput per domain: eigenfast's runtime against a tau²-style reference.

fast:       each DB parsed once per process, copy-on-write stores, memoised structural hash (the product).
(the first pass over a domain also hashes its shared base once; it is reported apart, as is the DB parse)
reference:  what tau²-bench does per environment: parse the DB file again for every environment, deep
            copies for forks, and hash by `sha256(json.dumps(db, sort_keys=True))`.
Both run the same gold replay and evaluator (`eigenfast.evaluation.replay.replay_task`), and must agree on
every reward. Prints tasks/s and peak traced memory side by side, as ratios; `--json PATH` writes them.

    PYTHONPATH=. python3 bench/domains.py --data-dir ../shared/tau2 [--domains airline retail] [--json out.json]
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import os
import time
import tracemalloc
from pathlib import Path

from eigenfast.domains.environment import Environment
from eigenfast.domains.loader import Domain, load_tau2, parse_db_file
from eigenfast.domains.store import Base, Store
from eigenfast.evaluation.replay import replay_task

GOALS = {"airline": 50.0, "retail": 100.0, "telecom": 300.0}
TAU2_MEASURED = {"airline": 0.79, "retail": 1.64, "telecom": 25.9}  # tau²-bench's own evaluator, per the issue


_NO_BASE = Base({})


class JsonHashStore(Store):
    """Reference store: private deep copies and a full re-serialisation per hash."""

    __slots__ = ()

    def __init__(self, data):
        super().__init__(_NO_BASE)
        self.data = data

    def fork(self) -> Store:
        return JsonHashStore(copy.deepcopy(self.data))

    def hash(self) -> str:
        return hashlib.sha256(json.dumps(self.data, sort_keys=True, default=str).encode()).hexdigest()


class ReferenceDomain(Domain):
    """Builds every environment from a freshly parsed DB file, as tau²-bench does."""

    def _fresh(self, file_name: str | None, prepare) -> Store | None:
        if file_name is None:
            return None
        data = parse_db_file(self.data_dir / self.name / file_name)
        return JsonHashStore(prepare(data) if prepare else data)

    def pristine_env(self) -> Environment:
        spec = self.spec
        env = Environment(self, self._fresh(spec.db_file, spec.prepare_db),
                          self._fresh(spec.user_db_file, spec.prepare_user_db))
        env.sync()
        return env


def reference_of(domain: Domain) -> ReferenceDomain:
    return ReferenceDomain(domain.name, domain.spec, domain.data_dir, domain.policy, domain.tasks,
                           domain.agent_base, domain.user_base, domain.policy_variant)


def run(domain: Domain, tasks, *, traced: bool) -> tuple[float, int, list[float]]:
    """(seconds, peak traced bytes or 0, rewards)."""
    if traced:
        tracemalloc.start()
    start = time.perf_counter()
    rewards = [replay_task(domain, task).reward for task in tasks]
    seconds = time.perf_counter() - start
    peak = 0
    if traced:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return seconds, peak, rewards


def bench_domain(name: str, data_dir: Path, reference_limit: int, memory_tasks: int) -> dict:
    start = time.perf_counter()
    fast = load_tau2(name, data_dir)
    load_s = time.perf_counter() - start
    tasks = fast.tasks
    cold_s, _, _ = run(fast, tasks, traced=False)  # first pass: also hashes the shared base once
    fast_s, _, fast_rewards = run(fast, tasks, traced=False)
    ref = reference_of(fast)
    ref_tasks = tasks[:reference_limit] if reference_limit else tasks
    ref_s, _, ref_rewards = run(ref, ref_tasks, traced=False)
    if ref_rewards != fast_rewards[:len(ref_tasks)]:
        raise SystemExit(f"{name}: reference and fast rewards disagree")
    mem_tasks = tasks[:memory_tasks]
    _, fast_peak, _ = run(fast, mem_tasks, traced=True)
    _, ref_peak, _ = run(ref, mem_tasks, traced=True)
    return {
        "domain": name, "tasks": len(tasks), "reward_1": sum(r == 1.0 for r in fast_rewards),
        "load_s": load_s, "first_pass_tasks_per_s": len(tasks) / cold_s,
        "fast_tasks_per_s": len(tasks) / fast_s, "reference_tasks": len(ref_tasks),
        "reference_tasks_per_s": len(ref_tasks) / ref_s,
        "memory_tasks": len(mem_tasks), "fast_peak_mib": fast_peak / 2**20, "reference_peak_mib": ref_peak / 2**20,
        "goal_tasks_per_s": GOALS.get(name), "tau2_tasks_per_s": TAU2_MEASURED.get(name),
    }


def main() -> None:
    repo = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default=os.environ.get("EIGENFAST_TAU2_DATA", repo.parent / "shared" / "tau2"))
    parser.add_argument("--domains", nargs="+", default=["airline", "retail", "telecom", "mock"])
    parser.add_argument("--reference-limit", type=int, default=60, help="tasks per domain for the slow reference")
    parser.add_argument("--memory-tasks", type=int, default=20, help="tasks per domain for the traced-memory pass")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()
    rows = [bench_domain(d, Path(args.data_dir), args.reference_limit, args.memory_tasks) for d in args.domains]
    header = (f"{'domain':8} {'tasks':>5} {'ok':>5} {'load s':>6} {'1st t/s':>8} {'fast t/s':>9} {'ref t/s':>8} "
              f"{'speedup':>8} "
              f"{'fast MiB':>9} {'ref MiB':>8} {'mem ratio':>9} {'goal':>5} {'tau2':>6}")
    print(header)
    for r in rows:
        speedup = r["fast_tasks_per_s"] / r["reference_tasks_per_s"]
        mem = r["fast_peak_mib"] / r["reference_peak_mib"] if r["reference_peak_mib"] else float("nan")
        print(f"{r['domain']:8} {r['tasks']:5d} {r['reward_1']:5d} {r['load_s']:6.2f} "
              f"{r['first_pass_tasks_per_s']:8.1f} {r['fast_tasks_per_s']:9.1f} "
              f"{r['reference_tasks_per_s']:8.1f} {speedup:7.1f}x {r['fast_peak_mib']:9.2f} "
              f"{r['reference_peak_mib']:8.2f} {mem:8.2f}x {r['goal_tasks_per_s'] or '-':>5} "
              f"{r['tau2_tasks_per_s'] or '-':>6}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
