"""The typed outcome of one checker run, and how a raw result frame becomes one."""

from __future__ import annotations

import os
import signal
from typing import Literal

import msgspec

from eigenfast.sandbox import protocol as P

Status = Literal["ok", "error", "timeout", "memory", "violation", "crashed", "bad_output"]


class CheckResult(msgspec.Struct, omit_defaults=True):
    status: Status
    value: object = None
    error_type: str | None = None
    message: str | None = None
    stdout_tail: str = ""
    stderr_tail: str = ""
    wall_ms: float = 0.0
    cpu_ms: float = 0.0
    max_rss_kb: int = 0  # the child's peak resident set (it starts sharing the zygote's pages)

    @property
    def ok(self) -> bool:
        return self.status == "ok"


class CheckJob(msgspec.Struct):
    source: str
    payload: object = None
    entry: str = "check"


_report_decoder = msgspec.msgpack.Decoder(P.ChildReport)
_CHILD_STATUSES = {"ok", "error", "memory", "bad_output"}


def _text(b: bytes) -> str:
    return b.decode("utf-8", "replace")


def from_frame(header: tuple, result: bytes, out: bytes, err: bytes, *, cpu_limit_s: float) -> CheckResult:
    """Classify one finished child. Signals outrank the child's own report: a report cannot hide a kill."""
    _, _, wait_status, flags, wall_us, cpu_us, maxrss_kb, *_ = header
    base = {"stdout_tail": _text(out), "stderr_tail": _text(err), "wall_ms": wall_us / 1000.0,
            "cpu_ms": cpu_us / 1000.0, "max_rss_kb": maxrss_kb}
    if flags & P.F_SPAWN_FAILED:
        return CheckResult("crashed", message=f"could not start the checker: {_text(result)}", **base)
    if flags & P.F_OUTPUT_OVERFLOW:
        return CheckResult("bad_output", message="result exceeded max_output_kb", **base)
    if flags & P.F_WALL_TIMEOUT:
        return CheckResult("timeout", message="wall-clock limit exceeded", **base)
    if os.WIFSIGNALED(wait_status):
        sig = os.WTERMSIG(wait_status)
        if sig == signal.SIGSYS:
            return CheckResult("violation", message="forbidden system call (killed by seccomp)", **base)
        if sig == signal.SIGXCPU or (sig == signal.SIGKILL and cpu_us >= cpu_limit_s * 1e6 * 0.95):
            return CheckResult("timeout", message="CPU-time limit exceeded", **base)
        return CheckResult("crashed", message=f"killed by {signal.Signals(sig).name}", **base)
    code = os.WEXITSTATUS(wait_status) if os.WIFEXITED(wait_status) else -1
    try:
        report = _report_decoder.decode(result)
    except (msgspec.DecodeError, msgspec.ValidationError):
        why = "no result" if not result else "a malformed result"
        return CheckResult("bad_output", message=f"checker exited (code {code}) with {why}", **base)
    if report.status not in _CHILD_STATUSES:
        return CheckResult("bad_output", message=f"unknown child status {report.status!r}", **base)
    return CheckResult(report.status, value=report.value, error_type=report.error_type,
                       message=report.message, **base)
