"""Backend choice for the Triton ops. Triton is imported only when a Triton path actually runs, and nothing
here touches CUDA, so importing an op module stays cheap and safe on machines without a GPU."""

from __future__ import annotations

import functools
import importlib.util
import os

import torch

BACKENDS = ("auto", "triton", "torch")


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


def triton_disabled() -> bool:
    return _flag("EIGENFAST_DISABLE_TRITON")


def interpreting() -> bool:
    """TRITON_INTERPRET=1 runs kernels on CPU tensors (slowly), which is how the tests check them without a GPU."""
    return _flag("TRITON_INTERPRET")


@functools.cache
def triton_installed() -> bool:
    return importlib.util.find_spec("triton") is not None


def resolve_backend(backend: str, device: torch.device) -> str:
    """Map the user's `backend=` onto "triton" or "torch".

    "auto" takes Triton only for CUDA tensors. An explicit "triton" also accepts CPU tensors under
    TRITON_INTERPRET=1. EIGENFAST_DISABLE_TRITON=1 overrides everything and forces torch.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "torch" or triton_disabled() or not triton_installed():
        if backend == "triton" and not triton_disabled():
            raise ValueError("backend='triton' was asked for but triton is not installed")
        return "torch"
    on_cuda = device.type == "cuda"
    if backend == "auto":
        return "triton" if on_cuda else "torch"
    if not (on_cuda or interpreting()):
        raise ValueError(f"backend='triton' needs CUDA tensors (got {device}) or TRITON_INTERPRET=1")
    return "triton"
