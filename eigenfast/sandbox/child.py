"""Runs one checker inside an already-isolated child and writes its report to fd 3, then exits.

Everything the report path needs is bound before the checker runs, so a checker that monkeypatches
`os`, `msgspec` or `sys` can at worst spoil its own report (which the host then classifies as bad_output).
The encoder, decoder and fallback reports are built once in the zygote and inherited, and the zygote
rehearses this path (`rehearse`) so children find its bytecode specialised and its caches warm instead of
redoing that work and copying the pages it writes. `codes` holds checkers the zygote compiled after a child
had compiled the same spec within its limits (see zygote.CodeCache): compiling touches many fresh pages.
"""

from __future__ import annotations

import builtins
import os
import sys

import msgspec

from eigenfast.sandbox.protocol import ChildReport, JobSpec

RESULT_FD = 3

_encode = msgspec.msgpack.Encoder().encode
_decode_spec = msgspec.msgpack.Decoder(JobSpec).decode
_decode_payload = msgspec.msgpack.Decoder().decode
_MEMORY_REPORT = _encode(ChildReport("memory", error_type="MemoryError", message="out of memory"))


def run(spec_bytes: bytes, key: bytes | None, payload_bytes: bytes | None, cache: dict, codes: dict,
        max_output: int) -> None:
    write, exit_, flush_targets, view_of = os.write, os._exit, (sys.stdout, sys.stderr), memoryview
    data = report(spec_bytes, key, payload_bytes, cache, codes, max_output)
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


def report(spec_bytes: bytes, key: bytes | None, payload_bytes: bytes | None, cache: dict, codes: dict,
           max_output: int) -> bytes:
    """The encoded ChildReport of one checker run, at most max_output bytes."""
    encode, size, memory_report = _encode, len, _MEMORY_REPORT
    try:
        result = _run_checker(spec_bytes, key, payload_bytes, cache, codes)
        try:
            data = encode(result)
        except Exception as exc:  # unencodable value
            data = encode(ChildReport("bad_output", error_type=type(exc).__name__,
                                      message=f"result is not msgpack-encodable: {exc}"[:500]))
        if size(data) > max_output:
            data = encode(ChildReport("bad_output", message=f"result is {size(data)} bytes, over the cap"))
    except MemoryError:
        data = memory_report
    return data


def rehearse(max_output: int, rounds: int = 64) -> None:
    """Run the report path on throwaway checkers in the zygote, before it serves (see the module docstring)."""
    checkers = (("def check(p):\n    return p['x'] + 1 > 0\n", {"x": 1}),
                ("def check(p):\n    raise ValueError(p)\n", [1]),
                ("def check(p):\n    return {'ok': True, 'n': len(p)}\n", "ab"))
    specs = [(_encode(JobSpec(source, "check")), _encode(payload)) for source, payload in checkers]
    codes = {spec: compile_checker(_decode_spec(spec).source) for spec, _ in specs[:1]}
    for _ in range(rounds):
        for spec, payload in specs:
            report(spec, None, payload, {}, codes, max_output)


def compile_checker(source: str):
    """The checker's module code (one place, so zygote and child compile with the same flags)."""
    return compile(source, "<checker>", "exec")


def spec_source(spec_bytes: bytes) -> str:
    return _decode_spec(spec_bytes).source


def _run_checker(spec_bytes: bytes, key: bytes | None, payload_bytes: bytes | None, cache: dict,
                 codes: dict) -> ChildReport:
    try:
        spec = _decode_spec(spec_bytes)
        payload = cache[key] if key is not None else _decode_payload(payload_bytes)
        namespace = {"__name__": "__checker__", "__builtins__": builtins}
        code = codes.get(spec_bytes)
        exec(code if code is not None else compile_checker(spec.source), namespace)
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
