"""Shared fixtures: where the tau² data lives (never copied into the repo), and a tiny model built locally."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Triton kernels run on the CPU through Triton's interpreter, which must be chosen before triton is first
# imported by any test. Set TRITON_INTERPRET=0 on a GPU machine to test the compiled kernels.
os.environ.setdefault("TRITON_INTERPRET", "1")

REPO = Path(__file__).resolve().parent.parent


def tau2_data_dir() -> Path:
    """`EIGENFAST_TAU2_DATA`, else `../shared/tau2` beside the checkout."""
    return Path(os.environ.get("EIGENFAST_TAU2_DATA") or REPO.parent / "shared" / "tau2")


@pytest.fixture(scope="session")
def tau2_dir() -> Path:
    path = tau2_data_dir()
    if not (path / "airline" / "tasks.json").exists():
        pytest.skip(f"tau² data not found at {path}; set EIGENFAST_TAU2_DATA")
    return path


@pytest.fixture(scope="session")
def tiny_path(tmp_path_factory) -> Path:
    """A tiny random Qwen2 model + locally trained tokenizer, saved once per session."""
    from eigenfast.llm.tiny import save_tiny_model

    return save_tiny_model(tmp_path_factory.getbasetemp() / "tiny-model")


@pytest.fixture(scope="session")
def tiny_tokenizer(tiny_path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_path)
