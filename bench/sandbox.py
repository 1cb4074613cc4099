"""Checker throughput: the fork-server sandbox (C++ and Python servers) vs a fresh `python -c` per checker.

Workloads: a trivial checker (the same source every time, as for the k rollouts of one task), trivial checkers
that are all different (nothing learned in the zygote helps), and a checker over the tau² airline DB (read from
EIGENFAST_TAU2_DATA or <repo>/../shared/tau2) as payload. Prints checks/s, p50/p99 latency and peak memory side
by side. Every runner is warmed up before it is timed; the unique-source rows share the trivial baseline.

    PYTHONPATH=. python bench/sandbox.py [--n 2000] [--workers 2] [--rounds 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from eigenfast import _ext
from eigenfast.sandbox import Sandbox

TRIVIAL = "def check(p):\n    return p['x'] + 1 > 0\n"
AIRLINE = (
    "def check(db):\n"
    "    user = db['users'][db['__probe__']] if '__probe__' in db else next(iter(db['users'].values()))\n"
    "    seats = sum(len(r['passengers']) for r in db['reservations'].values()\n"
    "                if r['user_id'] == user['user_id'])\n"
    "    return {'ok': seats >= 0, 'seats': seats}\n"
)
SUBPROCESS_WRAPPER = (
    "import sys, json\n"
    "src, payload = json.load(sys.stdin)\n"
    "ns = {}\n"
    "exec(src, ns)\n"
    "import resource\n"
    "print(json.dumps([ns['check'](payload), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss]))\n"
)


def tau2_dir() -> Path:
    env = os.environ.get("EIGENFAST_TAU2_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "tau2"


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def peak_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def self_cpu_s(who: int = resource.RUSAGE_SELF) -> float:
    ru = resource.getrusage(who)
    return ru.ru_utime + ru.ru_stime


def bench_sandbox(backend: str, source: str, payload: object, n: int, workers: int, n_latency: int,
                  unique: bool = False) -> dict:
    def sources(count: int, tag: str) -> list[str]:
        return [f"{source}# {tag} {i}\n" for i in range(count)] if unique else [source] * count

    with Sandbox(workers=workers, backend=backend, cpu_time_s=5, wall_time_s=10) as sb:
        # warm (and, for big payloads, fill the zygote cache)
        sb.run_many([(s, payload) for s in sources(min(n, 20), "warm")])
        host0, zygote0 = self_cpu_s(), cpu_s(sb.zygote_pid)
        t0 = time.perf_counter()
        results = sb.run_many([(s, payload) for s in sources(n, "run")])
        elapsed = time.perf_counter() - t0
        cpu = self_cpu_s() - host0 + cpu_s(sb.zygote_pid) - zygote0 + sum(r.cpu_ms for r in results) / 1000
        assert all(r.status == "ok" for r in results), results[0]
        latencies = []
        for s in sources(n_latency, "latency"):
            t = time.perf_counter()
            r = sb.run(s, payload)
            latencies.append((time.perf_counter() - t) * 1000)
            assert r.status == "ok", r
        zygote_kb = peak_kb(sb.zygote_pid)
    child_kb = max(r.max_rss_kb for r in results)
    return {"checks_per_s": n / elapsed, "p50_ms": pct(latencies, 50), "p99_ms": pct(latencies, 99),
            "cpu_ms_per_check": cpu / n * 1000, "server_peak_mb": zygote_kb / 1024,
            "check_peak_mb": child_kb / 1024, "n": n}


def bench_subprocess(source: str, payload: object, n: int, workers: int) -> dict:
    body = json.dumps([source, payload]).encode()

    def one(_: int) -> tuple[float, int]:
        t = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", SUBPROCESS_WRAPPER], input=body, capture_output=True,
                             check=True, env={"PATH": os.environ.get("PATH", "")})
        _, rss_kb = json.loads(out.stdout)
        return (time.perf_counter() - t) * 1000, rss_kb

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, range(2 * workers)))  # warm the interpreter's files in the page cache
        cpu0 = self_cpu_s() + self_cpu_s(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        runs = list(pool.map(one, range(n)))
    elapsed = time.perf_counter() - t0
    cpu = self_cpu_s() + self_cpu_s(resource.RUSAGE_CHILDREN) - cpu0
    latencies = [ms for ms, _ in runs]
    return {"checks_per_s": n / elapsed, "p50_ms": pct(latencies, 50), "p99_ms": pct(latencies, 99),
            "cpu_ms_per_check": cpu / n * 1000, "server_peak_mb": 0.0,
            "check_peak_mb": max(kb for _, kb in runs) / 1024, "n": n}


def measure_round(args: argparse.Namespace, db: dict, backends: list[str]) -> dict[str, dict[str, dict]]:
    """Every runner once, the subprocess baseline last."""
    rows: dict[str, dict[str, dict]] = {"trivial": {}, "triv_unique": {}, "airline_db": {}}
    for backend in backends:
        rows["trivial"][f"sandbox-{backend}"] = bench_sandbox(backend, TRIVIAL, {"x": 1}, args.n, args.workers,
                                                               200)
        rows["triv_unique"][f"sandbox-{backend}"] = bench_sandbox(backend, TRIVIAL, {"x": 1}, args.n,
                                                                   args.workers, 200, unique=True)
        rows["airline_db"][f"sandbox-{backend}"] = bench_sandbox(backend, AIRLINE, db, args.n_db, args.workers,
                                                                  50)
    rows["trivial"]["subprocess"] = bench_subprocess(TRIVIAL, {"x": 1}, args.n_subprocess, args.workers)
    rows["triv_unique"]["subprocess"] = rows["trivial"]["subprocess"]
    rows["airline_db"]["subprocess"] = bench_subprocess(AIRLINE, db, max(10, args.n_subprocess // 4),
                                                        args.workers)
    for by_runner in rows.values():
        base = by_runner["subprocess"]["checks_per_s"]
        for r in by_runner.values():
            r["vs_subprocess"] = r["checks_per_s"] / base
    return rows


def median_rows(rounds: list[dict[str, dict[str, dict]]]) -> dict[str, dict[str, dict]]:
    """Per cell, the median over rounds, plus the range of the ratio to the same round's baseline."""
    out: dict[str, dict[str, dict]] = {}
    for workload, by_runner in rounds[0].items():
        out[workload] = {}
        for runner, first in by_runner.items():
            cells = [rnd[workload][runner] for rnd in rounds]
            merged = {key: statistics.median(c[key] for c in cells) for key in first}
            ratios = [c["vs_subprocess"] for c in cells]
            merged["vs_subprocess_range"] = [min(ratios), max(ratios)]
            out[workload][runner] = merged
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=2000, help="trivial checks per sandbox backend")
    ap.add_argument("--n-db", type=int, default=300, help="airline-DB checks per sandbox backend")
    ap.add_argument("--n-subprocess", type=int, default=200, help="checks for the subprocess baseline")
    ap.add_argument("--workers", type=int, default=os.cpu_count())
    ap.add_argument("--rounds", type=int, default=3,
                    help="repeat every runner this many times, interleaved, and report medians (machine speed "
                         "drifts; each ratio uses its own round's baseline)")
    ap.add_argument("--json", type=Path, help="also write the numbers here")
    args = ap.parse_args()

    db_path = tau2_dir() / "airline" / "db.json"
    db = json.loads(db_path.read_text())
    backends = ["native", "python"] if _ext.require_group("sandbox") is not None else ["python"]
    rounds = [measure_round(args, db, backends) for _ in range(max(1, args.rounds))]
    rows = median_rows(rounds)

    load = os.getloadavg()[0]
    print(f"workers={args.workers}  cpus={os.cpu_count()}  rounds={len(rounds)}  load avg={load:.1f}  "
          f"airline db={db_path.stat().st_size / 1e6:.1f} MB json")
    print("medians over rounds; vs subproc = median (min-max) of each round's ratio to its own baseline")
    print("cpu ms/check = host + server + children CPU per check; capacity/s = cpus * 1000 / that (idle machine)")
    print("peak MB = peak RSS of the fork-server / of one check process (a sandbox child shares the server's)")
    print(f"{'workload':<11} {'runner':<16} {'checks/s':>9} {'vs subproc (range)':>20} {'p50 ms':>8} "
          f"{'p99 ms':>8} {'cpu ms/check':>12} {'capacity/s':>10} {'peak MB':>11}")
    for workload, by_runner in rows.items():
        for runner, r in by_runner.items():
            r["capacity_per_s"] = os.cpu_count() * 1000 / r["cpu_ms_per_check"]
            lo, hi = r["vs_subprocess_range"]
            ratio = f"{r['vs_subprocess']:.1f}x ({lo:.1f}-{hi:.1f})"
            print(f"{workload:<11} {runner:<16} {r['checks_per_s']:>9.1f} {ratio:>20} "
                  f"{r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} {r['cpu_ms_per_check']:>12.2f} "
                  f"{r['capacity_per_s']:>10.0f} {r['server_peak_mb']:>5.1f}/{r['check_peak_mb']:<5.1f}")
    if args.json:
        args.json.write_text(json.dumps({"workers": args.workers, "load_avg": load, "rounds": rounds,
                                         "results": rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
