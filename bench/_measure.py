"""Shared measuring for the op benchmarks: one fresh process per (variant, size), so that one variant's
allocator state cannot leak into the next one's peak.

Peak memory is the *extra* memory a forward+backward needs above its inputs:
- CUDA: `torch.cuda.max_memory_allocated()` minus `memory_allocated()` once the inputs exist;
- CPU: the process's resident-set high-water mark (VmHWM), reset through /proc/self/clear_refs once the inputs
  exist, minus the resident set at that moment. Large tensors are mmap-ed and unmapped on free by glibc, so
  VmHWM follows the tensors closely; gradients that the step produces (e.g. the weight's) count as extra.
Time is wall clock, the minimum over the repeats; fwd is the time until the loss (or log-probs) exist,
fwd+bwd the time until the backward has finished, in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]


def _rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} missing from /proc/self/status")


def _reset_cpu_peak() -> int:
    Path("/proc/self/clear_refs").write_text("5")
    return _rss_kib("VmRSS")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure_step(
    step: Callable[[], Callable[[], None]],
    reset: Callable[[], None],
    device: torch.device,
    repeats: int,
    warmup: bool,
) -> dict[str, float]:
    """`step()` runs the forward and returns a callable that runs the backward; `reset()` drops the grads,
    so that the baseline holds the inputs only."""
    if warmup:
        step()()
    reset()
    _sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
    else:
        base = _reset_cpu_peak() * 1024
    fwd_times, total_times = [], []
    for i in range(repeats):
        reset()
        _sync(device)
        t0 = time.perf_counter()
        backward = step()
        _sync(device)
        t1 = time.perf_counter()
        backward()
        _sync(device)
        t2 = time.perf_counter()
        fwd_times.append(t1 - t0)
        total_times.append(t2 - t0)
        if i == 0:
            if device.type == "cuda":
                peak = torch.cuda.max_memory_allocated(device) - base
            else:
                peak = _rss_kib("VmHWM") * 1024 - base
    return {"fwd_s": min(fwd_times), "fwd_bwd_s": min(total_times), "peak_mb": max(peak, 0) / 2**20}


def op_parser(doc: str | None) -> argparse.ArgumentParser:
    """The options every op benchmark takes: the hidden `--worker SPEC`, the device and the dtype."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument(
        "--dtype", choices=("float32", "bfloat16"), help="default: float32 on CPU, bf16 on CUDA"
    )
    return parser


def worker(step_fn: Callable[[dict], tuple], spec: dict, key: str) -> None:
    """The `--worker` side of `run_worker`: measure one cell and print it, with the last value the step
    recorded (a loss or checksum, to compare the variants) under `key`."""
    step, reset, values = step_fn(spec)
    result = measure_step(step, reset, torch.device(spec["device"]), spec["repeats"], spec["warmup"])
    result[key] = values[-1]
    print(json.dumps(result))


def run_worker(script: str, spec: dict) -> dict:
    """Run `script --worker SPEC` in a fresh interpreter and return the JSON it prints on its last line."""
    env = dict(os.environ, PYTHONPATH=f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    proc = subprocess.run(
        [sys.executable, script, "--worker", json.dumps(spec)], env=env, capture_output=True, text=True
    )
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def fmt(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def variant_columns(cells: tuple[dict, ...], time_spec: str) -> list[str]:
    """fwd time, fwd+bwd time and peak MB of each variant's cell, grouped by measure."""
    return [fmt(d.get(k), spec) for k, spec in (("fwd_s", time_spec), ("fwd_bwd_s", time_spec),
            ("peak_mb", ".0f")) for d in cells]  # fmt: skip


def print_table(headers: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    print("  ".join(h.rjust(w) for h, w in zip(headers, widths, strict=True)))
    for row in rows:
        print("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)))


def ratio(num: float | None, den: float | None) -> float | None:
    if num is None or den is None or den == 0:
        return None
    return num / den


def machine_note(device: torch.device) -> str:
    if device.type == "cuda":
        return f"device: {torch.cuda.get_device_name(device)}"
    load = os.getloadavg()[0]
    return (
        f"device: CPU, {torch.get_num_threads()} threads, load average {load:.1f} at start (shared machine)"
    )
