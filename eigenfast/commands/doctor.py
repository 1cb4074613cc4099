"""`eigenfast doctor`: one table of every fast path, whether it is on, and why not."""

from __future__ import annotations

import argparse
import importlib.metadata as md
import importlib.util
import os

from eigenfast import _ext


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the table as JSON")


def _version(dist: str) -> str | None:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return None


def _probe_package(label: str, dist: str, module: str, note: str = "") -> tuple[str, bool, str | None, str]:
    if importlib.util.find_spec(module) is None:
        return label, False, None, "; ".join(filter(None, [f"not installed (pip install {dist})", note]))
    return label, True, _version(dist), note


def rows() -> list[tuple[str, bool, str | None, str]]:
    ext = _ext.status()
    out = [("C++ extension (eigenfast._C)", ext.active, ext.version, ext.reason or ", ".join(ext.groups))]
    triton = _probe_package("Triton kernels", "triton", "triton")
    if triton[1] and os.environ.get("EIGENFAST_DISABLE_TRITON") == "1":
        triton = (triton[0], False, triton[2], "EIGENFAST_DISABLE_TRITON=1 forces the torch path")
    out.append(triton)
    out.append(_cuda_row())
    out.append(_probe_package("vLLM (in-process backend)", "vllm", "vllm",
                              "UNTESTED: no machine here can run vLLM; use `openai:` against `vllm serve`"))
    out.append(_probe_package("Ray", "ray", "ray"))
    out.append(_probe_package("numba fallbacks", "numba", "numba"))
    return out


def _cuda_row() -> tuple[str, bool, str | None, str]:
    if importlib.util.find_spec("torch") is None:
        return "CUDA", False, None, "torch not installed"
    import torch

    if not torch.cuda.is_available():
        return "CUDA", False, torch.version.cuda, f"torch {torch.__version__} sees no CUDA device"
    return "CUDA", True, torch.version.cuda, torch.cuda.get_device_name(0)


def run(args: argparse.Namespace) -> int:
    table = rows()
    if args.json:
        import json

        print(json.dumps([{"path": r[0], "active": r[1], "version": r[2], "note": r[3]} for r in table]))
        return 0
    width = max(len(r[0]) for r in table)
    print(f"{'fast path'.ljust(width)}  active  {'version'.ljust(14)}  note")
    for name, active, version, note in table:
        print(f"{name.ljust(width)}  {'yes' if active else 'no ':6}  {(version or '-').ljust(14)}  {note}")
    return 0
