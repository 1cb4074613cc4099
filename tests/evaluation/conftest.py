"""The tau² data folder for evaluation tests: $EIGENFAST_TAU2_DATA, else <repo>/../shared/tau2; skip if absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def tau2_data_dir() -> Path | None:
    path = Path(os.environ.get("EIGENFAST_TAU2_DATA", REPO.parent / "shared" / "tau2"))
    return path if (path / "README.md").exists() or any(path.glob("*/tasks.json")) else None


@pytest.fixture(scope="session")
def tau2_dir() -> Path:
    path = tau2_data_dir()
    if path is None:
        pytest.skip("tau² data not found: set EIGENFAST_TAU2_DATA or place it at <repo>/../shared/tau2")
    return path
