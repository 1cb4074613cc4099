"""Rollout fixtures: the mock domain, and the tiny model behind an hf backend."""

import pytest


@pytest.fixture(scope="session")
def mock_domain(tau2_dir):
    from eigenfast.domains import load_tau2

    return load_tau2("mock", tau2_dir)


@pytest.fixture(scope="session")
def tiny_hf(tiny_path):
    from eigenfast.llm.hf import HFBackend

    return HFBackend(str(tiny_path))
