"""The pure-Python server's checker runtime (twin of csrc/checker_runtime.h): the zygote's payload and code
caches, and the runner that executes one checker inside an already-isolated child, writes its report to fd 3
and exits. The C++ runner also falls back to `encode_report` and `decode_payload` here for values outside its
msgpack subset.

Everything the report path needs is bound before the checker runs, so a checker that monkeypatches
`os`, `msgspec` or `sys` can at worst spoil its own report (which the host then classifies as bad_output).
The encoder, decoder and fallback reports are built once in the zygote and inherited, and the zygote
rehearses this path (`rehearse`) so children find its bytecode specialised and its caches warm instead of
redoing that work and copying the pages it writes. `codes` holds checkers the zygote compiled after a child
had compiled the same spec within its limits (see CodeCache): compiling touches many fresh pages.
"""

from __future__ import annotations

import builtins
import gc
import os
import sys

import msgspec

from eigenfast.sandbox.protocol import ChildReport, JobSpec

RESULT_FD = 3

_encode = msgspec.msgpack.Encoder().encode
_decode_spec = msgspec.msgpack.Decoder(JobSpec).decode
_decode_payload = msgspec.msgpack.Decoder().decode
_MEMORY_REPORT = _encode(ChildReport("memory", error_type="MemoryError", message="out of memory"))


class PayloadCache(dict):
    """Decoded payloads by key, first-in first-out over `slots` (the host mirrors the same order)."""

    def __init__(self, slots: int) -> None:
        super().__init__()
        self.slots = slots

    def admit(self, key: bytes, payload: bytes) -> None:
        if key in self:
            return
        self[key] = _decode_payload(payload)
        while len(self) > self.slots:
            del self[next(iter(self))]
        gc.freeze()  # children never scan (and so never copy) the cached objects


class CodeCache(dict):
    """Compiled checkers by job spec, first-in first-out over `slots`; None marks a spec that won't compile.

    Only specs a child already compiled within its limits are learned (the server calls `learn` after a clean
    exit), and only small ones, so the zygote never spends unbounded time on untrusted source. Children
    inherit the code objects; a checker mutating its copy changes only its own child's memory.
    """

    def __init__(self, slots: int, max_spec_bytes: int) -> None:
        super().__init__()
        self.slots, self.max_spec_bytes = slots, max_spec_bytes

    def learn(self, spec: bytes) -> None:
        if spec in self or len(spec) > self.max_spec_bytes:
            return
        try:
            code = compile_checker(spec_source(spec))
        except BaseException:  # SyntaxError and friends: the child reports those itself
            code = None
        self[spec] = code
        while len(self) > self.slots:
            del self[next(iter(self))]


def run(spec_bytes: bytes, key: bytes | None, payload_bytes: bytes | None, cache: dict, codes: dict,
        max_output: int) -> None:
    write, close, exit_, flush_targets, view_of = os.write, os.close, os._exit, (sys.stdout, sys.stderr), memoryview
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
        close(RESULT_FD)  # the report is complete: the server may start the next child during our teardown
    except BaseException:
        exit_(3)
    exit_(0)


def report(spec_bytes: bytes, key: bytes | None, payload_bytes: bytes | None, cache: dict, codes: dict,
           max_output: int) -> bytes:
    """The encoded ChildReport of one checker run, at most max_output bytes."""
    try:
        result = _run_checker(spec_bytes, key, payload_bytes, cache, codes)
    except MemoryError:
        return _MEMORY_REPORT
    return _encode_capped(result, max_output)


def encode_report(status: str, value: object, error_type: str | None, message: str | None,
                  max_output: int) -> bytes:
    """The native runner's fallback (csrc/checker_runtime.cpp) for reports outside its msgpack subset."""
    return _encode_capped(ChildReport(status, value, error_type, message), max_output)


def decode_payload(data: bytes) -> object:
    """The native runner's fallback for payloads outside its msgpack subset (ext types such as timestamps)."""
    return _decode_payload(data)


def _encode_capped(result: ChildReport, max_output: int) -> bytes:
    encode, size = _encode, len
    try:
        try:
            data = encode(result)
        except Exception as exc:  # unencodable value
            data = encode(ChildReport("bad_output", error_type=type(exc).__name__,
                                      message=f"result is not msgpack-encodable: {exc}"[:500]))
        if size(data) > max_output:
            data = encode(ChildReport("bad_output", message=f"result is {size(data)} bytes, over the cap"))
    except MemoryError:
        data = _MEMORY_REPORT
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
