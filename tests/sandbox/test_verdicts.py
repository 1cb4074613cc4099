"""Normal checkers through a real forked sandbox, on both server paths."""

from __future__ import annotations

import datetime
import os
import signal
import subprocess
import sys
import time

import pytest

from eigenfast.sandbox import CheckJob, CheckResult, Sandbox

pytestmark = pytest.mark.both_paths

NORMAL = [
    ("def check(p):\n    return p['x'] > 1\n", {"x": 2}, "ok", True),
    ("def check(p):\n    return p['x'] > 1\n", {"x": 0}, "ok", False),
    ("def check(p):\n    return sum(p) / len(p)\n", [1, 2, 3, 4], "ok", 2.5),
    ("import json\ndef check(p):\n    return {'n': len(json.dumps(p)), 'ok': True}\n", {"a": 1}, "ok",
     {"n": 8, "ok": True}),
    ("import re, datetime\ndef check(p):\n    return bool(re.match(r'\\d{4}-', p)) and "
     "datetime.date.fromisoformat(p).year == 2024\n", "2024-05-01", "ok", True),
    ("def check(p):\n    raise ValueError('no such flight ' + p)\n", "HAT001", "error", None),
    ("def check(p):\n    return p['missing']\n", {}, "error", None),
    ("x = = 1\n", None, "error", None),
    ("def not_check(p):\n    return True\n", None, "error", None),
    ("import os, sys\ndef check(p):\n    return [sys.stdin.read(), os.read(0, 8).decode()]\n", None, "ok", ["", ""]),
]


@pytest.fixture(scope="module")
def sandbox(backend):
    with Sandbox(workers=2, cpu_time_s=1.0, wall_time_s=1.0, memory_mb=128) as sb:
        assert sb.backend == backend and sb.confined
        yield sb


@pytest.mark.parametrize("source,payload,status,value", NORMAL)
def test_normal_verdicts(sandbox, source, payload, status, value):
    r = sandbox.run(source, payload)
    assert isinstance(r, CheckResult)
    assert r.status == status, r
    if status == "ok":
        assert r.value == value and type(r.value) is type(value)
    assert r.wall_ms > 0 and r.cpu_ms > 0 and r.max_rss_kb > 0


def test_long_error_type_names_and_messages_round_trip(sandbox):
    """Report strings past the fixstr and str8 sizes (the runtime packs type names itself)."""
    src = "def check(p):\n    raise type('E' * 300, (Exception,), {})('m' * 3000)\n"
    r = sandbox.run(src, None)
    assert (r.status, r.error_type, r.message) == ("error", "E" * 300, "m" * 2000), r


def test_values_outside_the_native_msgpack_subset_follow_msgspec(sandbox):
    """The C++ runner hands sets, datetimes, big ints and timestamp payloads to msgspec, as the Python one does."""
    when = datetime.datetime(2024, 5, 1, 12, 30, tzinfo=datetime.timezone.utc)
    jobs = [
        ("def check(p):\n    return {3, 1, 2}\n", None),
        ("import datetime\ndef check(p):\n    return datetime.date(2024, 5, 1)\n", None),
        ("def check(p):\n    return 2 ** 70\n", None),
        ("def check(p):\n    return object()\n", None),
        ("def check(p):\n    return [p['when'].year, p['when'].tzinfo is not None, p['n']]\n",
         {"when": when, "n": 1}),
        ("def check(p):\n    return 'x' * 70000\n", None),
    ]
    r = sandbox.run_many(jobs)
    assert r[0].status == "ok" and sorted(r[0].value) == [1, 2, 3], r[0]
    assert (r[1].status, r[1].value) == ("ok", "2024-05-01"), r[1]
    assert (r[2].status, r[2].error_type) == ("bad_output", "OverflowError"), r[2]
    assert r[3].status == "bad_output" and "not msgpack-encodable" in r[3].message, r[3]
    assert (r[4].status, r[4].value) == ("ok", [2024, True, 1]), r[4]
    assert r[5].status == "bad_output" and "over the cap" in r[5].message, r[5]


STDLIB_CHECKER = '''
import ast, base64, calendar, codecs, contextlib, csv, dataclasses, decimal, difflib, email.utils, enum
import fnmatch, glob, hashlib, heapq, html, inspect, io, ipaddress, locale, operator, pathlib, pprint
import secrets, shlex, struct, textwrap, time, tokenize, unicodedata, urllib.parse, uuid, weakref, zoneinfo
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
def check(p):
    return [
        len(str(uuid.uuid4())), len(secrets.token_hex(4)), hashlib.sha256(b"x").hexdigest()[:4],
        str(zoneinfo.ZoneInfo("Europe/Paris")), datetime.now(timezone.utc).year > 2000,
        time.localtime().tm_year > 2000, str(pathlib.Path(".").resolve()) != "",
        ET.fromstring("<a><b/></a>")[0].tag, list(csv.reader(io.StringIO("a,b")))[0],
        str(decimal.Decimal("1.10") + decimal.Decimal("2")), ast.literal_eval("[1, 2]"),
        str(ipaddress.ip_address("10.0.0.1")), glob.glob("*"),
    ]
'''


def test_common_stdlib_runs_without_false_violations(sandbox):
    r = sandbox.run(STDLIB_CHECKER, None)
    assert r.status == "ok", r
    assert r.value == [36, 8, "2d71", "Europe/Paris", True, True, True, "b", ["a", "b"], "3.10", [1, 2],
                       "10.0.0.1", []]


def test_error_fields_and_output_tails(sandbox):
    r = sandbox.run("import sys\ndef check(p):\n    print('seen', p)\n    print('warn', file=sys.stderr)\n"
                    "    raise KeyError('k')\n", 7)
    assert (r.status, r.error_type, r.message) == ("error", "KeyError", "'k'")
    assert r.stdout_tail == "seen 7\n" and r.stderr_tail == "warn\n"
    r = sandbox.run("def other(p):\n    return p * 2\n", 21, entry="other")
    assert (r.status, r.value) == ("ok", 42)
    r = sandbox.run("def check(p):\n    return True\n", None, entry="nope")
    assert (r.status, r.error_type) == ("error", "NameError") and "nope" in r.message


def test_workers_bound_running_checkers():
    """`workers` checkers run at once; one that delivered its report (closed its result pipe) stops counting,
    but at most `workers` such children are alive on top."""
    sleeper = "import time\ndef check(p):\n    time.sleep(0.4)\n    return p\n"
    closer = "import os, time\ndef check(p):\n    os.close(3)\n    time.sleep(0.4)\n    return p\n"
    with Sandbox(workers=1, wall_time_s=5) as sb:
        t = time.monotonic()
        results = sb.run_many([(sleeper, i) for i in range(3)])
        assert [r.value for r in results] == [0, 1, 2]
        assert time.monotonic() - t >= 1.2  # one at a time
        # the native server forks the next child ahead, but its clock starts with its checker
        assert all(400 <= r.wall_ms < 750 for r in results), [r.wall_ms for r in results]
        t = time.monotonic()
        assert [r.status for r in sb.run_many([(closer, i) for i in range(4)])] == ["bad_output"] * 4
        assert time.monotonic() - t >= 0.8  # two at a time, never four


def test_run_many_keeps_order_and_isolates_failures(sandbox):
    jobs = []
    for i in range(40):
        if i % 7 == 3:
            jobs.append(CheckJob("def check(p):\n    while True: pass\n", i))
        elif i % 7 == 5:
            jobs.append(("import os\ndef check(p):\n    os.fork()\n", i))
        else:
            jobs.append(("def check(p):\n    return p * p\n", i))
    results = sandbox.run_many(jobs)
    for i, r in enumerate(results):
        expected = "timeout" if i % 7 == 3 else "violation" if i % 7 == 5 else "ok"
        assert r.status == expected, (i, r)
        if expected == "ok":
            assert r.value == i * i


def test_large_payload_is_cached_in_the_zygote(sandbox):
    db = {"users": {f"u{i}": {"name": f"n{i}", "flights": list(range(20))} for i in range(3000)}}
    src = "def check(db):\n    return sum(len(u['flights']) for u in db['users'].values())\n"
    results = sandbox.run_many([(src, db)] * 6 + [(src, {"users": {}})])
    assert [r.value for r in results] == [60000] * 6 + [0]
    assert len(sandbox._zygote.cached_keys) >= 1
    # a mutation inside one child never reaches the cached copy used by the next
    sandbox.run("def check(db):\n    db['users'].clear()\n    return 0\n", db)
    assert sandbox.run(src, db).value == 60000


def test_state_does_not_leak_between_jobs(sandbox):
    tamper = ("import json, builtins, math, sys\n"
              "def check(p):\n"
              "    json.dumps = lambda *a, **k: 'PWNED'\n"
              "    builtins.len = lambda x: -1\n"
              "    math.pi = 3\n"
              "    sys.modules['re'] = None\n"
              "    builtins.LEAK = 1\n"
              "    return True\n")
    clean = ("import json, math, re\n"
             "def check(p):\n"
             "    return [json.dumps([1]), len('ab'), math.pi > 3.1, bool(re.match('a', 'a')),"
             " hasattr(__import__('builtins'), 'LEAK')]\n")
    assert sandbox.run(tamper, None).status == "ok"
    assert sandbox.run(clean, None).value == ["[1]", 2, True, True, False]


def test_zygote_death_is_reported_and_recovered(sandbox):
    before = sandbox.restarts
    pid = sandbox.zygote_pid
    import threading

    killer = threading.Timer(0.3, os.kill, (pid, signal.SIGKILL))
    killer.start()
    t0 = time.monotonic()
    r = sandbox.run("import time\ndef check(p):\n    time.sleep(0.8)\n    return 1\n", None)
    killer.join()
    assert r.status == "crashed" and "server died" in r.message
    assert time.monotonic() - t0 < 5
    assert sandbox.run("def check(p):\n    return p + 1\n", 1).value == 2
    assert sandbox.restarts == before + 1 and sandbox.zygote_pid != pid


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="wall_time_s"):
        Sandbox(wall_time_s=0)
    with pytest.raises(ValueError, match="backend"):
        Sandbox(backend="docker")
    with Sandbox(workers=1, backend="python") as sb:
        with pytest.raises(TypeError, match="job 1"):
            sb.run_many([("def check(p): return 1", None), 42])
        with pytest.raises(TypeError, match="job 1 must be .* str source"):
            sb.run_many([("def check(p): return 1", None), (b"bytes source", None)])
        with pytest.raises(TypeError, match="payload of job 1 is not msgpack-encodable"):
            sb.run_many([("def check(p): return 1", None), ("def check(p): return 1", object())])
        assert sb.run("def check(p): return 'still fine'", None).value == "still fine"


class _UnconfinedZygote:
    """Stands in for a zygote on a kernel that refused the filter (the host logic around it is under test)."""

    confined = False
    reason = "the kernel refused the seccomp filter: Invalid argument"

    def __init__(self, cfg):
        self.closed = False

    def close(self):
        self.closed = True


def test_refused_seccomp_needs_explicit_opt_in(monkeypatch, caplog):
    from eigenfast.sandbox import SandboxUnavailableError, host

    monkeypatch.setattr(host, "_Zygote", _UnconfinedZygote)
    with pytest.raises(SandboxUnavailableError, match="allow_unconfined=True.*|seccomp is unavailable"):
        Sandbox(backend="python").start()
    sb = Sandbox(backend="python", allow_unconfined=True)
    with caplog.at_level("WARNING"):
        sb.start()
    assert not sb.confined and "WITHOUT seccomp" in caplog.text
    sb.close()


def test_interrupted_dispatch_leaves_a_usable_sandbox(monkeypatch):
    with Sandbox(workers=1, backend="python", wall_time_s=2) as sb:
        first = sb.zygote_pid
        calls = {"n": 0}
        real = sb._frame

        def interrupt_on_second(*args):
            calls["n"] += 1
            if calls["n"] == 2:
                raise KeyboardInterrupt
            return real(*args)

        monkeypatch.setattr(sb, "_frame", interrupt_on_second)
        with pytest.raises(KeyboardInterrupt):
            sb.run_many([("def check(p): return p", i) for i in range(3)])
        monkeypatch.undo()
        assert sb.run("def check(p): return p * 3", 5).value == 15
        assert sb.zygote_pid != first


def test_host_death_leaves_no_orphans(backend):
    script = (
        "import sys\n"
        "from eigenfast.sandbox import Sandbox\n"
        f"sb = Sandbox(workers=1, wall_time_s=30, cpu_time_s=30, backend={backend!r}).__enter__()\n"
        "print(sb.zygote_pid, flush=True)\n"
        "sb.run('import time\\ndef check(p):\\n    time.sleep(60)\\n', None)\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    host = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, env=env)
    zygote = int(host.stdout.readline())
    time.sleep(0.5)  # the sleeping child is running now
    children = [int(p) for p in open(f"/proc/{zygote}/task/{zygote}/children").read().split()]
    assert len(children) == 1
    host.kill()
    host.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(p) for p in (zygote, *children)):
        time.sleep(0.05)
    assert not any(_alive(p) for p in (zygote, *children))


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


# The zygote learns (compiles and keeps) a spec after a child ran it cleanly; later children reuse that code.
TAMPER_CODE = '''
import ctypes, sys
def check(p):
    s = "mark-original"  # a constant of the code object the zygote caches once it has learned this spec
    before = s[:4]
    ctypes.memset(id(s) + sys.getsizeof(s) - len(s) - 1, ord("X"), 4)  # overwrite it in place
    return [before, p]
'''


def test_learned_checkers_give_the_same_verdicts_and_cannot_leak(sandbox):
    for i in range(4):  # first run: compiled in the child; later: the zygote's code object
        r = sandbox.run("def check(p):\n    return p * 2\n", i)
        assert r.status == "ok" and r.value == 2 * i, r
    for _ in range(3):
        r = sandbox.run("def check(p):\n    return (\n", 1)
        assert r.status == "error" and r.error_type == "SyntaxError", r
    for i in range(4):  # each run sees the pristine constant, whatever the previous child wrote over it
        r = sandbox.run(TAMPER_CODE, i)
        assert r.status == "ok" and r.value == ["mark", i], r
