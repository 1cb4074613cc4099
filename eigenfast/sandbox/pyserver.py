"""Pure-Python twin of the C++ fork-server loop (csrc/sandbox.cpp), used when the extension is off.

Same frames, same child isolation (own process group, fd closing, chdir, rlimits, uid drop when root, no_new_privs,
Landlock and the same seccomp program, installed through ctypes), same caps and timeouts; only slower per job.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import resource
import select
import signal
import time
from collections import deque

from eigenfast.sandbox import landlock, policy
from eigenfast.sandbox import protocol as P

PR_SET_PDEATHSIG, PR_SET_KEEPCAPS, PR_SET_SECCOMP, PR_SET_NO_NEW_PRIVS = 1, 8, 22, 38
SECCOMP_MODE_FILTER = 2
_SYS_CAPSET, _CAP_VERSION_3, _CAP_DAC_READ_SEARCH = 126, 0x20080522, 2
_libc = ctypes.CDLL(None, use_errno=True)


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def _prctl(option: int, arg: int = 0) -> None:
    if _libc.prctl(option, arg, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl({option}): {os.strerror(err)}")


def install_filter(program: bytes, slots: list[int]) -> None:
    """no_new_privs + the policy for this pid. Raises OSError if the kernel refuses."""
    code = policy.with_pid(program, slots, os.getpid())
    buf = ctypes.create_string_buffer(code, len(code))
    prog = _SockFprog(len(code) // 8, ctypes.cast(buf, ctypes.c_void_p))
    _prctl(PR_SET_NO_NEW_PRIVS, 1)
    if _libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"seccomp filter refused: {os.strerror(err)}")


def probe(program: bytes, slots: list[int]) -> str | None:
    """None if a forked child can install the filter, else why not."""
    why = policy.supported()
    if why:
        return why
    pid = os.fork()
    if pid == 0:
        try:
            install_filter(program, slots)
        except OSError as exc:
            os._exit(min(exc.errno or 1, 250))
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
        return None
    if os.WIFEXITED(status):
        return f"the kernel refused the seccomp filter: {os.strerror(os.WEXITSTATUS(status))}"
    return f"the seccomp probe died with wait status {status}"


class _Job:
    __slots__ = ("id", "pid", "pidfd", "fds", "bufs", "start", "deadline", "flags", "spec", "delivered")

    def __init__(self, job_id: int, pid: int, pidfd: int, fds: list[int], wall_s: float, spec: bytes) -> None:
        self.id, self.pid, self.pidfd, self.fds, self.spec = job_id, pid, pidfd, fds, spec
        self.bufs = [bytearray(), bytearray(), bytearray()]  # result, stdout, stderr
        self.start = time.monotonic()
        self.deadline = self.start + wall_s
        self.flags = 0
        self.delivered = False  # its result pipe reached EOF


def _isolate(cfg: dict, ends: list[int], devnull: int, vm_bytes: int, program: bytes, slots: list[int],
             confined: bool, zygote: int) -> None:
    """devnull is the zygote's read-only /dev/null and vm_bytes its address space at fork time."""
    os.setpgid(0, 0)  # as the C++ server: a process group, not a session (no scheduler autogroup)
    _libc.prctl(15, b"eigenfast-chk", 0, 0, 0)  # PR_SET_NAME: tells checker children apart in ps/top/perf
    _prctl(PR_SET_NO_NEW_PRIVS, 1)
    if cfg["landlock_fd"] >= 0:
        landlock.restrict_self(cfg["landlock_fd"])
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 64) for fd in (devnull, *ends)]
    for target, fd in enumerate(high):
        os.dup2(fd, target)
    os.closerange(4, 1 << 20)
    os.chdir(cfg["workdir"])
    os.environ.clear()
    os.environ["HOME"] = cfg["workdir"]  # so expanduser("~") never falls back to an NSS (socket) lookup
    cpu = max(1, int(cfg["cpu_time_s"] + 0.999))
    limits = {
        resource.RLIMIT_CPU: (cpu, cpu + 1),
        resource.RLIMIT_AS: (vm_bytes + (cfg["memory_mb"] << 20),) * 2,
        resource.RLIMIT_FSIZE: (0, 0),
        resource.RLIMIT_CORE: (0, 0),
        resource.RLIMIT_NOFILE: (cfg["nofile"],) * 2,
        resource.RLIMIT_NPROC: (0, 0),
        resource.RLIMIT_MEMLOCK: (0, 0),
    }
    for res, lim in limits.items():
        resource.setrlimit(res, lim)
    if cfg["uid"] >= 0:
        if cfg["read_all"]:
            _prctl(PR_SET_KEEPCAPS, 1)
        os.setgroups([])
        os.setresgid(cfg["gid"], cfg["gid"], cfg["gid"])
        os.setresuid(cfg["uid"], cfg["uid"], cfg["uid"])
        if cfg["read_all"]:  # keep exactly CAP_DAC_READ_SEARCH so imports from a root-only prefix still work
            head = (ctypes.c_uint32 * 2)(_CAP_VERSION_3, 0)
            data = (ctypes.c_uint32 * 6)(1 << _CAP_DAC_READ_SEARCH, 1 << _CAP_DAC_READ_SEARCH, 0, 0, 0, 0)
            if _libc.syscall(_SYS_CAPSET, head, data) != 0:
                raise OSError(ctypes.get_errno(), "capset")
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != zygote:
        os._exit(1)
    if confined:
        install_filter(program, slots)


def _read_into(fd: int, buf: bytearray, cap: int, keep_tail: bool) -> bool:
    """Read what is there; False at EOF. Result buffers stop at cap+1, output buffers keep the last `cap`."""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            return True
        except OSError as exc:
            if exc.errno == errno.EINTR:
                continue
            return False
        if not chunk:
            return False
        buf += chunk
        if keep_tail:
            if len(buf) > 2 * cap:
                del buf[:-cap]
        elif len(buf) > cap:
            return True


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def serve(ctrl_fd: int, out_fd: int, cfg: dict, program: bytes, slots: list[int], admit, learn):
    """The fork-server loop. Returns None when the host closes ctrl_fd; returns (spec, key, payload) in a child."""
    why = probe(program, slots)
    confined = why is None
    hello_flags = P.F_HELLO | (P.F_CONFINED if confined else 0) | (P.F_LANDLOCK if cfg["landlock_fd"] >= 0 else 0)
    _write_all(out_fd, P.result_frame(0, 0, hello_flags, 0, 0, 0, (why or "").encode(), b"", b""))
    if not confined and not cfg["allow_unconfined"]:
        return None
    zygote = os.getpid()
    # Opened once here: a child opening /proc/self pays a slow path walk for its brand-new pid.
    zfds = os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC), os.open("/proc/self/statm", os.O_RDONLY | os.O_CLOEXEC)
    os.set_blocking(ctrl_fd, False)
    max_output, tail = cfg["max_output"], cfg["tail_bytes"]
    jobs: dict[int, _Job] = {}  # by pid
    owner: dict[int, tuple[_Job, int]] = {}  # fd -> (job, stream index or -1 for the pidfd)
    poller = select.poll()
    poller.register(ctrl_fd, select.POLLIN)
    inbuf = bytearray()
    pending: deque[bytes] = deque()  # frames waiting for one of the `workers` slots
    ctrl_open = True
    while ctrl_open or jobs:
        now = time.monotonic()
        timeout = min((j.deadline for j in jobs.values()), default=now + 1.0) - now
        events = poller.poll(max(0, int(timeout * 1000) + 1))
        for fd, _ in events:
            if fd == ctrl_fd:
                try:
                    chunk = os.read(ctrl_fd, 1 << 16)  # a 1 MiB read costs an mmap/munmap pair
                except BlockingIOError:
                    continue
                if not chunk:
                    ctrl_open = False
                    poller.unregister(ctrl_fd)
                    for job in jobs.values():
                        os.killpg(job.pid, signal.SIGKILL)
                    pending.clear()
                    continue
                inbuf += chunk
                while len(inbuf) >= 4:
                    size = int.from_bytes(inbuf[:4], "little") + 4
                    if len(inbuf) < size:
                        break
                    pending.append(bytes(inbuf[:size]))
                    del inbuf[:size]
                continue
            job, idx = owner.get(fd, (None, 0))
            if job is None:
                continue
            if idx >= 0:
                cap = max_output if idx == 0 else tail
                if not _read_into(fd, job.bufs[idx], cap, keep_tail=idx > 0):
                    poller.unregister(fd)
                    del owner[fd]
                    job.fds[idx] = -1
                    os.close(fd)
                    job.delivered |= idx == 0
                elif idx == 0 and len(job.bufs[0]) > max_output and not job.flags & P.F_OUTPUT_OVERFLOW:
                    job.flags |= P.F_OUTPUT_OVERFLOW
                    os.killpg(job.pid, signal.SIGKILL)
            else:
                _finish(job, out_fd, max_output, tail, jobs, owner, poller, learn)
        now = time.monotonic()
        for job in jobs.values():
            if now >= job.deadline and not job.flags & P.F_WALL_TIMEOUT:
                job.flags |= P.F_WALL_TIMEOUT
                os.killpg(job.pid, signal.SIGKILL)
        # as the C++ server: a child that delivered its report no longer counts against `workers`
        while pending and sum(not j.delivered for j in jobs.values()) < cfg["workers"] \
                and len(jobs) < 2 * cfg["workers"]:
            got = _spawn(pending.popleft(), cfg, program, slots, confined, zygote, zfds, admit, jobs, owner,
                         poller)
            if got is not None:
                return got
    return None


def _spawn(frame, cfg, program, slots, confined, zygote, zfds, admit, jobs, owner, poller):
    _, job_id, mode, key, spec_len = P.JOB_HEADER.unpack_from(frame)
    spec = frame[P.JOB_HEADER.size:P.JOB_HEADER.size + spec_len]
    payload = frame[P.JOB_HEADER.size + spec_len:]
    if mode == P.ADMIT:
        admit(key, payload)
    pipes = [os.pipe2(os.O_CLOEXEC) for _ in range(3)]
    devnull, statm = zfds
    vm_bytes = int(os.pread(statm, 128, 0).split()[0]) * os.sysconf("SC_PAGE_SIZE")
    pid = os.fork()
    if pid == 0:
        try:
            _isolate(cfg, [pipes[1][1], pipes[2][1], pipes[0][1]], devnull, vm_bytes, program, slots, confined,
                     zygote)
        except BaseException as exc:
            os.write(2, f"sandbox child setup failed: {exc}\n".encode())
            os._exit(125)
        return spec, (None if mode == P.INLINE else key), (payload if mode == P.INLINE else None)
    fds = []
    for r, w in pipes:
        os.close(w)
        os.set_blocking(r, False)
        fds.append(r)
    pidfd = os.pidfd_open(pid)
    job = _Job(job_id, pid, pidfd, fds, cfg["wall_time_s"], spec)
    jobs[pid] = job
    for idx, fd in enumerate(fds):
        owner[fd] = (job, idx)
        poller.register(fd, select.POLLIN)
    owner[pidfd] = (job, -1)
    poller.register(pidfd, select.POLLIN)
    return None


def _finish(job, out_fd, max_output, tail, jobs, owner, poller, learn):
    _, status, ru = os.wait4(job.pid, 0)
    wall_us = int((time.monotonic() - job.start) * 1e6)
    for idx, fd in enumerate(job.fds):
        if fd >= 0:
            _read_into(fd, job.bufs[idx], max_output if idx == 0 else tail, keep_tail=idx > 0)
            poller.unregister(fd)
            del owner[fd]
            os.close(fd)
    poller.unregister(job.pidfd)
    del owner[job.pidfd]
    os.close(job.pidfd)
    del jobs[job.pid]
    result = bytes(job.bufs[0])
    if len(result) > max_output:
        job.flags |= P.F_OUTPUT_OVERFLOW
        result = b""
    cpu_us = int((ru.ru_utime + ru.ru_stime) * 1e6)
    frame = P.result_frame(job.id, status, job.flags, wall_us, cpu_us, ru.ru_maxrss,
                           result, bytes(job.bufs[1][-tail:]), bytes(job.bufs[2][-tail:]))
    _write_all(out_fd, frame)
    if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0 and not job.flags & (
            P.F_WALL_TIMEOUT | P.F_OUTPUT_OVERFLOW):
        learn(job.spec)  # after the report: the host never waits on it
