"""Both servers agree with each other and with the in-process reference (plain exec) on benign checkers."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eigenfast import _ext
from eigenfast.sandbox import Sandbox

CHECKERS = [
    "def check(p):\n    return p\n",
    "import json\ndef check(p):\n    return json.loads(json.dumps(p, sort_keys=True))\n",
    "def check(p):\n    print(repr(p)[:50])\n    return isinstance(p, dict) and len(p) > 1\n",
    "def check(p):\n    if isinstance(p, list):\n        raise ValueError(f'list of {len(p)}')\n    return str(p)[:20]\n",
]

payloads = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4),
    max_leaves=12,
)


def reference(source: str, payload: object) -> tuple:
    ns: dict = {}
    exec(compile(source, "<checker>", "exec"), ns)
    try:
        return ("ok", ns["check"](payload), None)
    except Exception as exc:
        return ("error", None, type(exc).__name__)


@pytest.fixture(scope="module")
def sandboxes():
    backends = ["python"] + (["native"] if _ext.require_group("sandbox") is not None else [])
    boxes = [Sandbox(workers=2, backend=b, wall_time_s=5) for b in backends]
    for sb in boxes:
        sb.start()
    yield boxes
    for sb in boxes:
        sb.close()


@pytest.mark.both_paths
@given(payload=payloads)
@settings(max_examples=25, deadline=None)
def test_sandboxed_results_match_in_process_reference(sandboxes, payload):
    expected = [reference(src, payload) for src in CHECKERS]
    for sb in sandboxes:
        got = sb.run_many([(src, payload) for src in CHECKERS])
        assert [(r.status, r.value, r.error_type) for r in got] == expected, sb.backend
    if len(sandboxes) == 2:
        a, b = (sb.run_many([(src, payload) for src in CHECKERS]) for sb in sandboxes)
        assert [(r.status, r.value, r.message, r.stdout_tail) for r in a] == \
            [(r.status, r.value, r.message, r.stdout_tail) for r in b]


@pytest.mark.both_paths
@given(payload=payloads)
@settings(max_examples=15, deadline=None)
def test_cached_payloads_reach_checkers_unchanged(sandboxes, payload):
    """A payload over the cache threshold is decoded once in the zygote (natively, breadth first and re-laid
    out); every kind, value and key order must still arrive as sent."""
    big = {"pad": "x" * 70_000, "value": payload, "again": [payload, payload]}
    src = "def check(p):\n    return repr(p['value']) + '|' + repr(p['again'])\n"
    for sb in sandboxes:
        r = sb.run(src, big)
        assert (r.status, r.value) == ("ok", f"{payload!r}|{[payload, payload]!r}"), sb.backend
        assert sb._zygote.cached_keys, sb.backend
