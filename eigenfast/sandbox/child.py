"""Runs one checker inside an already-isolated child and writes its report to fd 3, then exits.

Everything the report path needs is bound before the checker runs, so a checker that monkeypatches
`os`, `msgspec` or `sys` can at worst spoil its own report (which the host then classifies as bad_output).
"""

from __future__ import annotations

import builtins
import os
import sys

import msgspec

from eigenfast.sandbox.protocol import ChildReport, JobSpec

RESULT_FD = 3


def run(spec_bytes: bytes, key: bytes | None, payload_bytes: bytes | None, cache: dict, max_output: int) -> None:
    encode = msgspec.msgpack.Encoder().encode
    write, exit_, flush_targets, size, view_of = os.write, os._exit, (sys.stdout, sys.stderr), len, memoryview
    memory_report = encode(ChildReport("memory", error_type="MemoryError", message="out of memory"))
    try:
        report = _run_checker(spec_bytes, key, payload_bytes, cache)
        try:
            data = encode(report)
        except Exception as exc:  # unencodable value
            data = encode(ChildReport("bad_output", error_type=type(exc).__name__,
                                      message=f"result is not msgpack-encodable: {exc}"[:500]))
        if size(data) > max_output:
            data = encode(ChildReport("bad_output", message=f"result is {size(data)} bytes, over the cap"))
    except MemoryError:
        data = memory_report
    for stream in flush_targets:
        try:
            stream.flush()
        except BaseException:  # the checker may have closed or replaced it
            pass
    try:
        view = view_of(data)
        while view:
            view = view[write(RESULT_FD, view):]
    except BaseException:
        exit_(3)
    exit_(0)


def _run_checker(spec_bytes: bytes, key: bytes | None, payload_bytes: bytes | None, cache: dict) -> ChildReport:
    try:
        spec = msgspec.msgpack.decode(spec_bytes, type=JobSpec)
        payload = cache[key] if key is not None else msgspec.msgpack.decode(payload_bytes)
        namespace = {"__name__": "__checker__", "__builtins__": builtins}
        exec(compile(spec.source, "<checker>", "exec"), namespace)
        fn = namespace.get(spec.entry)
        if not callable(fn):
            return ChildReport("error", error_type="NameError",
                               message=f"checker source defines no callable {spec.entry!r}")
        return ChildReport("ok", value=fn(payload))
    except MemoryError:
        return ChildReport("memory", error_type="MemoryError", message="out of memory")
    except BaseException as exc:  # SystemExit and KeyboardInterrupt from a checker are errors too
        try:
            message = str(exc)[:2000]
        except BaseException:
            message = "<unprintable exception>"
        return ChildReport("error", error_type=type(exc).__name__, message=message)
