"""Benchmark of the native packing and advantage ops: C++ (`eigenfast._C`) against the numba twin, the numpy
twin (the fallback as it runs without numba) and the plain-Python reference, side by side, as ratios.

    PYTHONPATH=. python3 bench/native.py [--quick] [--json PATH]

Times are the median (and best) of `--repeats` warm runs (numba compiled beforehand); the load average is
recorded, since other work on the machine slows every column. Peak memory is the growth of the
process's resident high-water mark during one run (Linux /proc/self/clear_refs; tracemalloc elsewhere), so it
counts C++ scratch buffers too. Slow paths run on a subsample and are scaled linearly to the full size, which
flatters them: the reference packer is O(n * bins), so its real cost grows faster than that.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eigenfast.ops import _native_fallbacks as twin  # noqa: E402
from eigenfast.ops import advantages, packing  # noqa: E402

CAPACITY = 32768


# ---------------------------------------------------------------------------------------------- measuring
def _hwm_bytes() -> int | None:
    try:
        text = Path("/proc/self/status").read_text()
        Path("/proc/self/clear_refs").write_text("5")  # reset the high-water mark to the current RSS
    except OSError:
        return None
    return int(re.search(r"VmRSS:\s+(\d+)", text).group(1)) * 1024


def peak_bytes(fn: Callable[[], Any]) -> int:
    """Extra memory at the peak of one call: the larger of the resident-set growth (sees C++ scratch, misses
    reused pages) and tracemalloc's peak (sees numpy and Python allocations, misses C++ std::vector)."""
    tracemalloc.start()
    base = _hwm_bytes()
    fn()
    traced = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    if base is None:
        return traced
    hwm = int(re.search(r"VmHWM:\s+(\d+)", Path("/proc/self/status").read_text()).group(1)) * 1024
    return max(hwm - base, traced)


class Timing(float):
    """Median wall seconds of the runs, with the fastest run (the least disturbed by other load) and the
    median CPU seconds of the process (all threads): on a busy machine wall time grows, CPU time much less."""

    best: float
    cpu: float


def timing(median: float, best: float, cpu: float) -> Timing:
    t = Timing(median)
    t.best, t.cpu = best, cpu
    return t


def median_seconds(fn: Callable[[], Any], repeats: int) -> Timing:
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return timing(statistics.median(wall), min(wall), statistics.median(cpu))


def row(path: str, seconds: Timing, peak: int | None, scale: float = 1.0, **extra: Any) -> dict[str, Any]:
    return {"path": path, "seconds": seconds * scale, "best_seconds": seconds.best * scale,
            "cpu_seconds": seconds.cpu * scale, "scale": scale,
            "peak_mb": None if peak is None else peak / 2**20, **extra}  # fmt: skip


def native():
    from eigenfast import _ext

    mod = _ext.native()
    if mod is None or not {"packing", "advantages"} <= set(_ext.status().groups):
        sys.exit(f"eigenfast._C with packing and advantages is required: {_ext.status()}")
    return mod


# --------------------------------------------------------------------------------------------------- data
def lognormal_lengths(n: int, seed: int = 0) -> np.ndarray:
    """Multi-turn episode lengths: median 2048 tokens, long right tail, clipped to the capacity."""
    rng = np.random.default_rng(seed)
    return np.clip(rng.lognormal(np.log(2048), 1.0, n), 1, CAPACITY).astype(np.int64)


def uniform_lengths(n: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(1, CAPACITY + 1, n).astype(np.int64)


# --------------------------------------------------------------------------------------------- sections
def bench_pack(sizes: dict[str, int], repeats: int, numpy_times: dict[str, float]) -> dict[str, Any]:
    C = native()
    n = sizes["pack"]
    out: dict[str, Any] = {"n": n, "capacity": CAPACITY, "cases": []}
    for dist, lengths in (("lognormal", lognormal_lengths(n)), ("uniform", uniform_lengths(n))):
        for algo in ("ffd", "bfd"):
            plan = C.packing_pack_sequences(lengths, CAPACITY, algo)
            twin.packing_pack_sequences(lengths[:100], CAPACITY, algo)  # compile
            assert all(
                np.array_equal(a, b)
                for a, b in zip(plan, twin.packing_pack_sequences(lengths, CAPACITY, algo), strict=True)
            )
            fill = float(lengths.sum()) / (len(plan[2]) * CAPACITY)
            sub = sizes["pack_python"]
            key = f"pack/{dist}/{algo}"
            cpp = partial(C.packing_pack_sequences, lengths, CAPACITY, algo)
            jit = partial(twin.packing_pack_sequences, lengths, CAPACITY, algo)
            ref = partial(packing.pack_sequences_reference, lengths[:sub], CAPACITY, algorithm=algo)
            rows = [
                row("C++", median_seconds(cpp, repeats), peak_bytes(cpp)),
                row("numba", median_seconds(jit, repeats), peak_bytes(jit)),
                row("numpy", timing(*numpy_times[key]), None, n / sizes["pack_numpy"]),
                row("pure Python", median_seconds(ref, 1), None, n / sub),
            ]
            out["cases"].append({"name": key, "fill_rate": fill, "bins": len(plan[2]), "rows": rows})
    return out


def bench_balance(sizes: dict[str, int], repeats: int, numpy_times: dict[str, float]) -> dict[str, Any]:
    C = native()
    n, k = sizes["balance"], 8
    lengths = lognormal_lengths(n, seed=2)
    out: dict[str, Any] = {"n": n, "k": k, "cases": []}
    for equal in (False, True):
        twin.packing_balance_partitions(lengths[:64], k, equal)  # compile
        members, offsets, sums = C.packing_balance_partitions(lengths, k, equal)
        imbalance = float(sums.max()) * k / float(sums.sum())
        sub = sizes["balance_python"]
        key = f"balance/equal_count={equal}"
        cpp = partial(C.packing_balance_partitions, lengths, k, equal)
        jit = partial(twin.packing_balance_partitions, lengths, k, equal)
        ref = partial(packing.balance_partitions_reference, lengths[:sub], k, equal_count=equal)
        rows = [
            row("C++", median_seconds(cpp, repeats), peak_bytes(cpp)),
            row("numba", median_seconds(jit, repeats), peak_bytes(jit)),
            row("numpy", timing(*numpy_times[key]), None, n / sizes["balance_numpy"]),
            row("pure Python", median_seconds(ref, 1), None, n / sub),
        ]
        out["cases"].append({"name": key, "imbalance": imbalance, "rows": rows})
    return out


def bench_advantages(sizes: dict[str, int], repeats: int) -> dict[str, Any]:
    C = native()
    n = sizes["advantages"]
    rng = np.random.default_rng(3)
    rewards = (rng.random(n) < 0.4).astype(np.float32)
    out: dict[str, Any] = {"n": n, "group_size": 16, "cases": []}
    layouts = {"sorted ids": np.arange(n, dtype=np.int64) // 16, "shuffled ids": rng.permutation(n) // 16}
    sub = sizes["advantages_python"]
    for layout, ids in layouts.items():
        for op in ("group_advantages[grpo]", "dynamic_filter"):
            if op == "dynamic_filter":
                cpp = partial(C.advantages_dynamic_filter, rewards, ids, 0.0)
                fallback = partial(twin.advantages_dynamic_filter, rewards, ids, 0.0)
                ref = partial(advantages.dynamic_filter_reference, rewards[:sub].tolist(), ids[:sub].tolist())
            else:
                cpp = partial(C.advantages_group_advantages, rewards, ids, "grpo", 1e-6, True)
                fallback = partial(twin.advantages_group_advantages, rewards, ids, "grpo", 1e-6, True)
                ref = partial(
                    advantages.group_advantages_reference, rewards[:sub].tolist(), ids[:sub].tolist()
                )
            cpp()
            rows = [
                row("C++", median_seconds(cpp, repeats), peak_bytes(cpp)),
                row("numpy", median_seconds(fallback, max(1, repeats // 3)), peak_bytes(fallback)),
                row("pure Python", median_seconds(ref, 1), None, n / sub),
            ]
            out["cases"].append({"name": f"{op}/{layout}", "rows": rows})
    return out


def bench_build(sizes: dict[str, int], repeats: int) -> dict[str, Any]:
    C = native()
    n = sizes["build"]
    rng = np.random.default_rng(4)
    lengths = lognormal_lengths(n, seed=5)
    offsets = np.zeros(n + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    tokens = int(offsets[-1])
    seqs = packing.TokenSequences(
        rng.integers(0, 150_000, tokens), rng.random(tokens) < 0.5, -rng.random(tokens, np.float32),
        rng.standard_normal(n).astype(np.float32), offsets,
    )  # fmt: skip
    plan = packing.pack_sequences(lengths, CAPACITY)
    args = (seqs.token_ids, seqs.trainable, seqs.old_logp, seqs.advantages, seqs.seq_offsets, plan.bin_of,
            plan.offset_in_bin, plan.num_bins, CAPACITY, 0)  # fmt: skip
    result = C.packing_build_packed_batch(*args)
    out_bytes = sum(v.nbytes for v in result.values())
    del result
    src = np.ones(out_bytes, np.uint8)
    cpp = partial(C.packing_build_packed_batch, *args)
    fallback = partial(twin.packing_build_packed_batch, *args)
    memcpy = src.copy
    dst = np.empty_like(src)
    dst.fill(0)
    memcpy_warm = partial(np.copyto, dst, src)
    sub_n = sizes["build_python"]
    sub_plan = packing.pack_sequences(lengths[:sub_n], CAPACITY)
    sub_seqs = packing.TokenSequences(
        seqs.token_ids[: offsets[sub_n]], seqs.trainable[: offsets[sub_n]], seqs.old_logp[: offsets[sub_n]],
        seqs.advantages[:sub_n], offsets[: sub_n + 1],
    )  # fmt: skip
    ref_s = median_seconds(partial(packing.build_packed_batch_reference, sub_seqs, sub_plan), 1)
    gb = out_bytes / 1e9
    rows = []
    for name, fn, reps in (
        ("C++", cpp, repeats),
        ("numpy", fallback, max(1, repeats // 3)),
        ("memcpy", memcpy, repeats),
        ("memcpy warm dst", memcpy_warm, repeats),
    ):
        seconds = median_seconds(fn, reps)
        rows.append(
            row(name, seconds, peak_bytes(fn), gb_per_s=gb / seconds, best_gb_per_s=gb / seconds.best)
        )
    rows.append(
        row(
            "pure Python",
            ref_s,
            None,
            tokens / int(offsets[sub_n]),
            gb_per_s=gb / (ref_s * tokens / int(offsets[sub_n])),
        )
    )
    return {"sequences": n, "tokens": tokens, "bins": plan.num_bins, "output_gb": gb, "fill_rate": plan.fill_rate,
            "cases": [{"name": "build_packed_batch", "rows": rows}]}  # fmt: skip


# ------------------------------------------------------------------------------- numpy path (no numba)
def numpy_worker(sizes: dict[str, int]) -> dict[str, tuple[float, float, float]]:
    """Runs in a child process where `import numba` fails, so the twins run as plain Python over numpy."""
    sys.modules["numba"] = None  # type: ignore[assignment]
    import importlib

    fallbacks = importlib.reload(twin)
    assert not fallbacks.HAVE_NUMBA
    times: dict[str, tuple[float, float, float]] = {}
    for dist, make in (("lognormal", lognormal_lengths), ("uniform", uniform_lengths)):
        lengths = make(sizes["pack_numpy"])
        for algo in ("ffd", "bfd"):
            run = partial(fallbacks.packing_pack_sequences, lengths, CAPACITY, algo)
            t = median_seconds(run, 1)
            times[f"pack/{dist}/{algo}"] = (t, t.best, t.cpu)
    lengths = lognormal_lengths(sizes["balance_numpy"], seed=2)
    for equal in (False, True):
        run = partial(fallbacks.packing_balance_partitions, lengths, 8, equal)
        t = median_seconds(run, 1)
        times[f"balance/equal_count={equal}"] = (t, t.best, t.cpu)
    return times


def numpy_times(sizes: dict[str, int]) -> dict[str, list[float]]:
    proc = subprocess.run(
        [sys.executable, __file__, "--numpy-worker", json.dumps(sizes)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------------------------------ report
def print_section(title: str, section: dict[str, Any], extra: str) -> None:
    print(f"\n## {title}  " + ", ".join(f"{k}={v}" for k, v in section.items() if k != "cases"))
    header = (
        f"{'case':<36}{'path':<16}{'seconds':>9}{'best':>9}{'cpu s':>9}{'x C++':>8}{'peak MB':>9}{'x C++':>7}"
    )
    print(f"{header}  {extra}")
    for case in section["cases"]:
        base = case["rows"][0]
        for r in case["rows"]:
            note = "" if r["scale"] == 1.0 else f"  (scaled x{r['scale']:.0f} from a subsample)"
            peak = "-" if r["peak_mb"] is None else f"{r['peak_mb']:.1f}"
            ratio = (
                "-"
                if r["peak_mb"] is None or not base["peak_mb"]
                else f"{r['peak_mb'] / base['peak_mb']:.2f}"
            )
            value = case.get(extra, r.get(extra))
            value = "" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value)
            print(
                f"{case['name']:<36}{r['path']:<16}{r['seconds']:>9.4f}{r['best_seconds']:>9.4f}"
                f"{r['cpu_seconds']:>9.4f}{r['seconds'] / base['seconds']:>8.1f}{peak:>9}{ratio:>7}  {value}{note}"
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run, not the goals)")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--numpy-worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if "MALLOC_MMAP_THRESHOLD_" not in os.environ:
        # Large blocks straight from mmap and back on free, so each run's peak shows up in the resident set
        # instead of hiding in pages that malloc kept from the previous run.
        os.environ["MALLOC_MMAP_THRESHOLD_"] = "131072"
        os.execv(sys.executable, [sys.executable, *sys.argv])
    if args.numpy_worker:
        print(json.dumps(numpy_worker(json.loads(args.numpy_worker))))
        return 0
    sizes = dict(pack=1_000_000, pack_numpy=50_000, pack_python=4_000, balance=200_000, balance_numpy=20_000,
                 balance_python=20_000, advantages=10_000_000, advantages_python=500_000, build=5_000,
                 build_python=200)  # fmt: skip
    if args.quick:
        sizes = {k: max(v // 20, 50) for k, v in sizes.items()}
    slow = numpy_times(sizes)
    load_before = os.getloadavg()
    results = {
        "sizes": sizes,
        "pack_sequences": bench_pack(sizes, args.repeats, slow),
        "balance_partitions": bench_balance(sizes, args.repeats, slow),
        "group_advantages": bench_advantages(sizes, args.repeats),
        "build_packed_batch": bench_build(sizes, args.repeats),
    }
    results["load_average"] = {"before": load_before, "after": os.getloadavg(), "cpus": os.cpu_count()}
    print(
        f"load average before/after: {load_before[0]:.2f} / {os.getloadavg()[0]:.2f} on {os.cpu_count()} cpus"
    )
    print_section("pack_sequences", results["pack_sequences"], "fill_rate")
    print_section("balance_partitions", results["balance_partitions"], "imbalance")
    print_section("group_advantages / dynamic_filter", results["group_advantages"], "")
    print_section("build_packed_batch", results["build_packed_batch"], "gb_per_s")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
