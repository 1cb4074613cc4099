"""Backends for the sandbox tests: the C++ fork-server and the pure-Python twin (EIGENFAST_DISABLE_EXT=1)."""

from __future__ import annotations

import pytest

from eigenfast import _ext


def _native_available() -> bool:
    return _ext.require_group("sandbox") is not None


@pytest.fixture(scope="module", params=["native", "python"])
def backend(request, monkeypatch_module) -> str:
    """Each backend in turn; "python" also flips EIGENFAST_DISABLE_EXT=1 so the auto choice is proven too."""
    if request.param == "native" and not _native_available():
        pytest.skip(f"C++ sandbox not built: {_ext.status().reason}")
    if request.param == "python":
        monkeypatch_module.setenv("EIGENFAST_DISABLE_EXT", "1")
        _ext._reset_for_tests()
        request.addfinalizer(_ext._reset_for_tests)
    return request.param


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()
