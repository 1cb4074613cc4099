"""The host side: starts the zygote, streams job frames to it and turns result frames into CheckResults."""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import selectors
import shutil
import stat
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Iterable
from pathlib import Path

import msgspec

from eigenfast import _ext
from eigenfast.sandbox import policy
from eigenfast.sandbox import protocol as P
from eigenfast.sandbox.result import CheckJob, CheckResult, from_frame

log = logging.getLogger(__name__)

# os.read allocates its whole size up front: 1 MiB reads cost an mmap/munmap pair each (~20x a 64 KiB read)
_READ_BYTES = 64 * 1024
_CACHE_MIN_BYTES = 64 * 1024  # payloads at least this big are decoded once in the zygote and reused by key
_NOBODY = 65534
_spec_encoder = msgspec.msgpack.Encoder()
# what a child may read besides the Python install and its packages (Landlock); all public, none secret
_READABLE_SYSTEM_PATHS = ("/usr/lib", "/lib", "/usr/lib64", "/lib64", "/etc/ld.so.cache", "/usr/share/zoneinfo")
# Only this, no inherited variables. Binding every PLT slot at load time means children never run the lazy
# resolver and never copy-on-write the GOT pages it patches.
_ZYGOTE_ENV = {"LD_BIND_NOW": "1"}
# Our paths go after the standard library's: no file of ours can shadow a stdlib module, and stdlib imports
# never list the (large) site-packages directory.
_BOOT = (
    "import sys, json; cfg = json.loads(sys.argv[1]); sys.path += cfg['path']; "
    "from eigenfast.sandbox.zygote import main; main()"
)


class SandboxUnavailableError(RuntimeError):
    """The kernel cannot confine checkers (no seccomp) and allow_unconfined was not given."""


class _ZygoteDied(Exception):
    """The fork-server exited under a dispatch; its in-flight jobs are reported `crashed` and it restarts."""


class _Zygote:
    """One running fork-server process and the host's view of its payload cache."""

    def __init__(self, cfg: dict) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-I", "-S", "-B", "-u", "-X", "utf8", "-c", _BOOT, json.dumps(cfg)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=_ZYGOTE_ENV, cwd=cfg["workdir"], close_fds=True,
            start_new_session=True,  # terminal Ctrl-C must not trip the zygote's (inherited) SIGINT flag
        )
        self.stdin, self.stdout = self.proc.stdin.fileno(), self.proc.stdout.fileno()
        self.inbuf = bytearray()
        self.cached_keys: OrderedDict[bytes, None] = OrderedDict()
        hello = self.read_frame(deadline=time.monotonic() + 60.0)
        if hello is None or not hello[0][3] & P.F_HELLO:
            self.close()
            raise RuntimeError("the sandbox zygote did not start (see stderr for its traceback)")
        self.confined = bool(hello[0][3] & P.F_CONFINED)
        self.landlocked = bool(hello[0][3] & P.F_LANDLOCK)
        self.reason = hello[1].decode("utf-8", "replace")
        os.set_blocking(self.stdin, False)

    def read_frame(self, deadline: float):
        """Blocking read of one result frame (used only for the hello)."""
        while True:
            frame = self.pop_frame()
            if frame is not None:
                return frame
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            chunk = os.read(self.stdout, _READ_BYTES)
            if not chunk:
                return None
            self.inbuf += chunk

    def pop_frame(self):
        if len(self.inbuf) < P.RESULT_HEADER.size:
            return None
        size = int.from_bytes(self.inbuf[:4], "little") + 4
        if len(self.inbuf) < size:
            return None
        header = P.RESULT_HEADER.unpack_from(self.inbuf)
        off = P.RESULT_HEADER.size
        r_len, o_len, e_len = header[-3:]
        result = bytes(self.inbuf[off:off + r_len])
        out = bytes(self.inbuf[off + r_len:off + r_len + o_len])
        err = bytes(self.inbuf[off + r_len + o_len:off + r_len + o_len + e_len])
        del self.inbuf[:size]
        return header, result, out, err

    def close(self) -> None:
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class Sandbox:
    """Runs untrusted checker source in fresh, confined children of a pre-warmed fork-server.

    Use as a context manager. `memory_mb` is the address space a checker may add on top of the warm zygote
    (which includes decoded cached payloads). `backend` picks "native" (C++) or "python"; by default the C++
    server when the extension was built with the sandbox group, else the Python twin.
    """

    def __init__(self, *, workers: int | None = os.cpu_count(), cpu_time_s: float = 2.0,
                 wall_time_s: float = 5.0, memory_mb: int = 512, max_output_kb: int = 64,
                 allow_unconfined: bool = False, backend: str | None = None) -> None:
        workers = workers or 1
        for name, value in (("workers", workers), ("cpu_time_s", cpu_time_s), ("wall_time_s", wall_time_s),
                            ("memory_mb", memory_mb), ("max_output_kb", max_output_kb)):
            if value <= 0:
                raise ValueError(f"Sandbox: {name} must be positive, got {value!r}")
        if backend is None:
            backend = "native" if _ext.require_group("sandbox") is not None else "python"
        elif backend not in ("native", "python"):
            raise ValueError(f"Sandbox: backend must be 'native' or 'python', got {backend!r}")
        elif backend == "native" and _ext.require_group("sandbox") is None:
            raise RuntimeError(f"Sandbox: backend='native' but the C++ sandbox is off: {_ext.status().reason}")
        self.workers, self.backend = workers, backend
        self.cpu_time_s, self.wall_time_s = cpu_time_s, wall_time_s
        self.allow_unconfined = allow_unconfined
        root = os.geteuid() == 0
        path = [str(Path(__file__).resolve().parents[2]), str(Path(msgspec.__file__).resolve().parents[1])]
        package_dir = str(Path(__file__).resolve().parents[1])
        native_file = _ext.native().__file__ if backend == "native" else ""
        program, pid_slots = policy.build()
        child_program, child_slots = policy.build_child()
        self._cfg = {
            "native_file": native_file,
            "program": program.hex(), "pid_slots": pid_slots, "payload_slots": P.CACHE_SLOTS,
            "zygote_program": policy.build_zygote().hex(), "child_program": child_program.hex(),
            "child_slots": child_slots,
            "path": path,
            "backend": backend, "cpu_time_s": cpu_time_s, "wall_time_s": wall_time_s, "memory_mb": memory_mb,
            "max_output": max_output_kb * 1024, "tail_bytes": 4096, "nofile": 32, "workers": workers,
            "uid": _NOBODY if root else -1, "gid": _NOBODY if root else -1,
            "read_all": root and not all(_world_readable(p) for p in [*path, sysconfig.get_paths()["stdlib"]]),
            "allow_unconfined": allow_unconfined, "workdir": "",
            "read_paths": [package_dir, path[1], *_READABLE_SYSTEM_PATHS,
                           *([str(Path(native_file).parent)] if native_file else []),
                           *{sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib", "purelib", "platlib")}],
        }
        self._zygote: _Zygote | None = None
        self._workdir: str | None = None
        self._next_id = 1
        self._lock = threading.Lock()  # one dispatcher at a time; run_many already runs `workers` jobs at once
        self.restarts = 0

    # lifecycle -------------------------------------------------------------------------------------------
    def __enter__(self) -> Sandbox:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def start(self) -> None:
        if self._zygote is not None:
            return
        if self._workdir is None:
            self._workdir = tempfile.mkdtemp(prefix="eigenfast-sandbox-")
            os.chmod(self._workdir, 0o555)  # empty and read-only; the uid-dropped child may enter it
            self._cfg["workdir"] = self._workdir
            self._cfg["read_paths"] = [*self._cfg["read_paths"], self._workdir]
        zygote = _Zygote(self._cfg)
        if not zygote.confined:
            if not self.allow_unconfined:
                zygote.close()
                raise SandboxUnavailableError(
                    f"seccomp is unavailable ({zygote.reason}); pass allow_unconfined=True to run checkers "
                    "with rlimits and process isolation only")
            log.warning("eigenfast sandbox running WITHOUT seccomp: %s", zygote.reason)
        self._zygote = zygote

    def close(self) -> None:
        if self._zygote is not None:
            self._zygote.close()
            self._zygote = None
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    @property
    def confined(self) -> bool:
        return self._zygote is not None and self._zygote.confined

    @property
    def landlocked(self) -> bool:
        """Whether children's file reads are confined by Landlock (see landlock.py)."""
        return self._zygote is not None and self._zygote.landlocked

    @property
    def zygote_pid(self) -> int | None:
        return None if self._zygote is None else self._zygote.proc.pid

    # running ---------------------------------------------------------------------------------------------
    def run(self, source: str, payload: object = None, *, entry: str = "check") -> CheckResult:
        """One checker. For a big payload reused across calls, prefer run_many or pass msgspec.Raw(bytes)."""
        return self.run_many([CheckJob(source, payload, entry)])[0]

    def run_many(self, jobs: Iterable[CheckJob | tuple]) -> list[CheckResult]:
        """Runs jobs (CheckJob or (source, payload[, entry]) tuples) `workers` at a time, in order."""
        all_jobs = [_as_job(j, i) for i, j in enumerate(jobs)]  # kept alive: `encoded` is keyed by id(payload)
        todo = deque(enumerate(all_jobs))
        results: list[CheckResult | None] = [None] * len(all_jobs)
        encoded: dict[int, tuple[bytes, bytes | None]] = {}
        for i, job in enumerate(all_jobs):  # fail before anything runs, naming the job
            try:
                self._encode(job, encoded)
            except (TypeError, ValueError, OverflowError) as exc:
                raise TypeError(f"run_many: payload of job {i} is not msgpack-encodable: {exc}") from None
        with self._lock:
            while todo:
                self.start()
                try:
                    self._dispatch(todo, results, encoded)
                except _ZygoteDied:
                    self.restarts += 1
                    self._zygote.close()
                    self._zygote = None
                except BaseException:  # e.g. Ctrl-C mid-frame: the pipe may hold half a frame, start afresh
                    self._zygote.proc.kill()
                    self._zygote.close()
                    self._zygote = None
                    raise
        return results  # type: ignore[return-value]

    def _encode(self, job: CheckJob, encoded: dict) -> tuple[bytes, bytes | None]:
        hit = encoded.get(id(job.payload))
        if hit is None:
            data = msgspec.msgpack.encode(job.payload)
            key = hashlib.blake2b(data, digest_size=32).digest() if len(data) >= _CACHE_MIN_BYTES else None
            hit = encoded[id(job.payload)] = (data, key)
        return hit

    def _frame(self, job_id: int, job: CheckJob, encoded: dict) -> bytes:
        spec = _spec_bytes(job.source, job.entry)
        data, key = self._encode(job, encoded)
        cache = self._zygote.cached_keys
        if key is None:
            return P.job_frame(job_id, P.INLINE, bytes(32), spec, data)
        if key in cache:
            return P.job_frame(job_id, P.CACHED, key, spec, b"")
        cache[key] = None
        while len(cache) > P.CACHE_SLOTS:
            cache.popitem(last=False)
        return P.job_frame(job_id, P.ADMIT, key, spec, data)

    def _dispatch(self, todo: deque, results: list, encoded: dict) -> None:
        z = self._zygote
        inflight: dict[int, int] = {}  # job id -> index
        outbuf = bytearray()
        sel = selectors.DefaultSelector()
        sel.register(z.stdout, selectors.EVENT_READ)
        writing = False
        # the zygote enforces wall time; this is only the backstop for a wedged zygote (queued jobs included)
        backstop = 2 * (self.wall_time_s + self.cpu_time_s) + 10.0
        last_progress = time.monotonic()
        try:
            while todo or inflight:
                while todo and len(inflight) < 4 * self.workers:  # the server queues frames for the next children
                    index, job = todo.popleft()
                    job_id, self._next_id = self._next_id, self._next_id + 1
                    inflight[job_id] = index
                    outbuf += self._frame(job_id, job, encoded)
                if outbuf and not writing:  # write at once; wait for the pipe only when it is full
                    self._send(outbuf, inflight, results)
                    if outbuf:
                        sel.register(z.stdin, selectors.EVENT_WRITE)
                        writing = True
                for key, _ in sel.select(timeout=1.0):
                    if key.fd == z.stdin:
                        self._send(outbuf, inflight, results)
                        if not outbuf:
                            sel.unregister(z.stdin)
                            writing = False
                        continue
                    chunk = os.read(z.stdout, _READ_BYTES)
                    if not chunk:
                        raise self._died(inflight, results)
                    z.inbuf += chunk
                    while (frame := z.pop_frame()) is not None:
                        header, result, out, err = frame
                        index = inflight.pop(header[1], None)
                        if index is not None:
                            results[index] = from_frame(header, result, out, err, cpu_limit_s=self.cpu_time_s)
                            last_progress = time.monotonic()
                if inflight and time.monotonic() - last_progress > backstop:
                    z.proc.kill()
                    raise self._died(inflight, results)
        finally:
            sel.close()

    def _send(self, outbuf: bytearray, inflight: dict, results: list) -> None:
        """Writes what the control pipe takes now, dropping it from outbuf."""
        try:
            n = os.write(self._zygote.stdin, outbuf)
        except BlockingIOError:
            return
        except BrokenPipeError:
            raise self._died(inflight, results) from None
        del outbuf[:n]

    def _died(self, inflight: dict, results: list) -> _ZygoteDied:
        """Report every in-flight job as crashed (it is never re-run: it may be what killed the server)."""
        code = self._zygote.proc.poll()
        for index in inflight.values():
            results[index] = CheckResult("crashed", message=f"the sandbox server died (exit {code}) during this job")
        inflight.clear()
        return _ZygoteDied()


@functools.lru_cache(maxsize=256)
def _spec_bytes(source: str, entry: str) -> bytes:
    """A JobSpec's bytes; cached, as the G rollouts of a task run the same checker."""
    return _spec_encoder.encode(P.JobSpec(source, entry))


def _world_readable(path: str) -> bool:
    """Whether uid nobody can read `path` (every ancestor searchable by others, the leaf readable)."""
    p = Path(path).resolve()
    if not p.stat().st_mode & stat.S_IROTH:
        return False
    return all(a.stat().st_mode & stat.S_IXOTH for a in [p, *p.parents])


def _as_job(job: CheckJob | tuple, index: int) -> CheckJob:
    if isinstance(job, tuple) and 1 <= len(job) <= 3:
        job = CheckJob(*job)
    if isinstance(job, CheckJob) and isinstance(job.source, str) and isinstance(job.entry, str):
        return job
    raise TypeError(f"run_many: job {index} must be a CheckJob or a (source, payload[, entry]) tuple with str "
                    f"source and entry, got {job!r:.80}")
