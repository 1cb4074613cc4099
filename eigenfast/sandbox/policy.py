"""The seccomp-bpf policy every checker child runs under, compiled to a classic-BPF program.

One source of truth for both server paths: the C++ fork-server and the pure-Python fallback install the same
bytes (after writing the child's pid into the slots that compare against "self").

The policy is an **allowlist** written against what a warm CPython needs to run pure-Python checkers: reading
files it may already read, memory management, time, signals to itself, futexes. Any other system call kills
the whole child at once with ``SECCOMP_RET_KILL_PROCESS``; the fork-server sees ``SIGSYS`` and reports status
``violation``. Killing (rather than returning ``EPERM``) is deliberate: a checker cannot catch it, retry
another way, or hide the attempt behind ``except OSError``, and the status is unambiguous.

Argument checks:
- ``open``/``openat``: only without ``O_WRONLY|O_RDWR|O_CREAT|O_TRUNC|O_APPEND|O_TMPFILE``.
- ``clone``: only with ``CLONE_THREAD`` (threads, never processes); ``fork``/``vfork`` are denied and
  ``clone3`` returns ``ENOSYS`` so glibc falls back to the inspectable ``clone``.
- ``kill``/``tkill``/``tgkill``: only at the child itself (``kill(0, ...)`` is its own process group).
- ``prlimit64``: only reads (new-limit pointer NULL), so limits cannot be raised.
- ``ioctl``: only a few terminal/fd queries; anything else (e.g. ``TIOCSTI``) fails with ``ENOTTY``.
- ``prctl``: only queries (and ``PR_SET_NAME``); anything else fails with ``EPERM`` (libraries probe prctl
  while loading, so an unknown option must not look like an attack).

Side effect worth knowing: name-service lookups (``pwd.getpwuid``, ``getpass.getuser`` without USER, DNS)
open sockets, so they are violations too; the child gets ``HOME`` so ``expanduser("~")`` needs none.

Denied by omission, among others: every socket call (all families, AF_UNIX included), ``execve``/``execveat``,
``ptrace``, ``process_vm_*``, ``mount``/``umount2``/``pivot_root``/``chroot``, ``unshare``/``setns``, ``bpf``,
``io_uring_*``, ``perf_event_open``, ``userfaultfd``, ``memfd_create``, ``unlink*``/``rename*``/``mkdir*``/
``rmdir``/``link*``/``symlink*``, ``chmod``/``chown`` families, ``truncate``, ``setrlimit``, ``set*id``,
``seccomp``, ``pidfd_*``, ``rt_(tg)sigqueueinfo``.

What it does NOT protect against (see also the package docstring): reading files (the filter cannot inspect
paths; Landlock, in landlock.py, confines reads where the kernel has it), timing/side channels, CPU and memory pressure up to the rlimits, writes to
fds the child already holds (its own stdout/stderr/result pipes, which the server caps), and kernel bugs in
the allowed syscalls. It is written for x86-64 only; other architectures report seccomp as unavailable.
"""

from __future__ import annotations

import errno
import os
import platform
import struct

AUDIT_ARCH_X86_64 = 0xC000003E
RET_KILL_PROCESS = 0x80000000
RET_ALLOW = 0x7FFF0000
RET_ERRNO = 0x00050000

_LD_ABS_W = 0x20
_JEQ = 0x15
_JGE = 0x35
_JSET = 0x45
_RET = 0x06
_JA = 0x05
_X32_SYSCALL_BIT = 0x40000000

_OFF_NR = 0
_OFF_ARCH = 4


def _arg_lo(i: int) -> int:
    return 16 + 8 * i


def _arg_hi(i: int) -> int:
    return 16 + 8 * i + 4


# x86-64 numbers of the calls the policy names (from asm/unistd_64.h).
NR = {
    "read": 0, "write": 1, "open": 2, "close": 3, "stat": 4, "fstat": 5, "lstat": 6, "poll": 7, "lseek": 8,
    "mmap": 9, "mprotect": 10, "munmap": 11, "brk": 12, "rt_sigaction": 13, "rt_sigprocmask": 14,
    "rt_sigreturn": 15, "ioctl": 16, "pread64": 17, "readv": 19, "writev": 20, "access": 21, "pipe": 22,
    "select": 23, "sched_yield": 24, "mremap": 25, "msync": 26, "mincore": 27, "madvise": 28, "dup": 32,
    "dup2": 33, "pause": 34, "nanosleep": 35, "getitimer": 36, "alarm": 37, "setitimer": 38, "getpid": 39,
    "clone": 56, "exit": 60, "wait4": 61, "kill": 62, "uname": 63, "fcntl": 72, "getdents": 78,
    "getcwd": 79, "chdir": 80, "fchdir": 81, "readlink": 89, "umask": 95, "gettimeofday": 96,
    "getrlimit": 97, "getrusage": 98, "sysinfo": 99, "times": 100, "getuid": 102, "getgid": 104,
    "geteuid": 107, "getegid": 108, "getppid": 110, "getpgrp": 111, "getgroups": 115, "getresuid": 118,
    "getresgid": 120, "getpgid": 121, "getsid": 124, "capget": 125, "rt_sigpending": 127,
    "rt_sigtimedwait": 128, "rt_sigsuspend": 130, "sigaltstack": 131, "statfs": 137, "fstatfs": 138,
    "getpriority": 140, "sched_getparam": 143, "sched_getscheduler": 145, "sched_get_priority_max": 146,
    "sched_get_priority_min": 147, "arch_prctl": 158, "gettid": 186, "readahead": 187, "tkill": 200,
    "time": 201, "futex": 202, "sched_getaffinity": 204, "getdents64": 217, "set_tid_address": 218,
    "restart_syscall": 219, "fadvise64": 221, "clock_gettime": 228, "clock_getres": 229,
    "clock_nanosleep": 230, "exit_group": 231, "epoll_wait": 232, "epoll_ctl": 233, "tgkill": 234,
    "waitid": 247, "openat": 257, "newfstatat": 262, "readlinkat": 267, "faccessat": 269, "pselect6": 270,
    "ppoll": 271, "set_robust_list": 273, "get_robust_list": 274, "epoll_pwait": 281, "eventfd2": 290,
    "epoll_create1": 291, "prctl": 157, "dup3": 292, "pipe2": 293, "preadv": 295, "prlimit64": 302, "getcpu": 309,
    "getrandom": 318, "membarrier": 324, "preadv2": 327, "statx": 332, "rseq": 334, "clone3": 435,
    "close_range": 436, "faccessat2": 439, "epoll_pwait2": 441,
    "setpgid": 109, "setgroups": 116, "setresuid": 117, "setresgid": 119, "capset": 126, "pidfd_open": 434,
    "landlock_restrict_self": 446,
}

PLAIN_ALLOW = (
    "read", "write", "close", "stat", "fstat", "lstat", "poll", "lseek", "mmap", "mprotect", "munmap", "brk",
    "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "pread64", "readv", "writev", "access", "pipe", "select",
    "sched_yield", "mremap", "msync", "mincore", "madvise", "dup", "dup2", "pause", "nanosleep", "getitimer",
    "alarm", "setitimer", "getpid", "exit", "wait4", "uname", "fcntl", "getdents", "getcwd", "chdir",
    "fchdir", "readlink", "umask", "gettimeofday", "getrlimit", "getrusage", "sysinfo", "times", "getuid",
    "getgid", "geteuid", "getegid", "getppid", "getpgrp", "getgroups", "getresuid", "getresgid", "getpgid",
    "getsid", "capget", "rt_sigpending", "rt_sigtimedwait", "rt_sigsuspend", "sigaltstack", "statfs",
    "fstatfs", "getpriority", "sched_getparam", "sched_getscheduler", "sched_get_priority_max",
    "sched_get_priority_min", "arch_prctl", "gettid", "readahead", "time", "futex", "sched_getaffinity",
    "getdents64", "set_tid_address", "restart_syscall", "fadvise64", "clock_gettime", "clock_getres",
    "clock_nanosleep", "exit_group", "epoll_wait", "epoll_ctl", "waitid", "newfstatat", "readlinkat",
    "faccessat", "pselect6", "ppoll", "set_robust_list", "get_robust_list", "epoll_pwait", "eventfd2",
    "epoll_create1", "dup3", "pipe2", "preadv", "getcpu", "getrandom", "membarrier", "preadv2", "statx",
    "rseq", "close_range", "faccessat2", "epoll_pwait2",
)

OPEN_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND | 0o20000000  # __O_TMPFILE
CLONE_THREAD = 0x00010000
# TCGETS, TIOCGWINSZ, FIONREAD, FIONCLEX, FIOCLEX
ALLOWED_IOCTLS = (0x5401, 0x5413, 0x541B, 0x5450, 0x5451)
# prctl queries that libraries make while loading (glibc's dlopen asks PR_CAPBSET_READ), plus PR_SET_NAME:
# GET_DUMPABLE, GET_KEEPCAPS, SET_NAME, GET_NAME, GET_SECCOMP, CAPBSET_READ, GET_TIMERSLACK, GET_NO_NEW_PRIVS,
# GET_THP_DISABLE, GET_SPECULATION_CTRL
ALLOWED_PRCTLS = (3, 7, 15, 16, 21, 23, 30, 39, 42, 52)


# The C++ server installs the policy in two layers (installing a long program costs each child more than
# anything else in its isolation): the zygote runs under build_zygote(), this policy widened by what the zygote
# itself calls between forks and while isolating a child, and each child adds build_child(), a short program
# that takes exactly that widening back. The kernel applies both, the stricter action winning, which is this
# policy (tests/sandbox/test_policy.py checks the equivalence call by call).
ZYGOTE_ONLY = ("setpgid", "setgroups", "setresuid", "setresgid", "capset", "pidfd_open", "landlock_restrict_self")
ZYGOTE_UNRESTRICTED = ("clone", "kill", "tkill", "tgkill", "prlimit64", "prctl")


def supported() -> str | None:
    """None when this policy can describe the running machine, else why not."""
    if platform.system() != "Linux":
        return f"seccomp needs Linux, this is {platform.system()}"
    if platform.machine() not in ("x86_64", "AMD64"):
        return f"the seccomp policy is written for x86-64, this machine is {platform.machine()}"
    return None


Insn = tuple[int, int, int, int]  # (code, jt, jf, k) of a `struct sock_filter`


def _ret(value: int) -> Insn:
    return (_RET, 0, 0, value)


def _one_of(arg: int, values: tuple[int, ...], otherwise: int) -> list[Insn]:
    """Allow when the low word of `arg` is one of `values`, else return `otherwise`."""
    n = len(values)
    body = [(_LD_ABS_W, 0, 0, _arg_lo(arg))]
    body += [(_JEQ, n - j, 0, v) for j, v in enumerate(values)]
    return body + [_ret(otherwise), _ret(RET_ALLOW)]


def _blocks(zygote: bool = False) -> dict[int, tuple[list[Insn], list[int]]]:
    """Per handled syscall number: its block (ending in returns on every path) and its self-pid slots."""
    blocks: dict[int, tuple[list[Insn], list[int]]] = {NR[name]: ([_ret(RET_ALLOW)], []) for name in PLAIN_ALLOW}
    for name, arg in (("open", 1), ("openat", 2)):
        blocks[NR[name]] = ([(_LD_ABS_W, 0, 0, _arg_lo(arg)), (_JSET, 0, 1, OPEN_WRITE_FLAGS),
                             _ret(RET_KILL_PROCESS), _ret(RET_ALLOW)], [])
    blocks[NR["clone"]] = ([(_LD_ABS_W, 0, 0, _arg_lo(0)), (_JSET, 1, 0, CLONE_THREAD),
                            _ret(RET_KILL_PROCESS), _ret(RET_ALLOW)], [])
    blocks[NR["clone3"]] = ([_ret(RET_ERRNO | errno.ENOSYS)], [])
    # kill(self | 0, sig): instruction 1 is the pid compare
    blocks[NR["kill"]] = ([(_LD_ABS_W, 0, 0, _arg_lo(0)), (_JEQ, 2, 0, 0), (_JEQ, 1, 0, 0),
                           _ret(RET_KILL_PROCESS), _ret(RET_ALLOW)], [1])
    for name in ("tkill", "tgkill"):
        blocks[NR[name]] = ([(_LD_ABS_W, 0, 0, _arg_lo(0)), (_JEQ, 1, 0, 0),
                             _ret(RET_KILL_PROCESS), _ret(RET_ALLOW)], [1])
    blocks[NR["prlimit64"]] = ([(_LD_ABS_W, 0, 0, _arg_lo(2)), (_JEQ, 0, 2, 0), (_LD_ABS_W, 0, 0, _arg_hi(2)),
                                (_JEQ, 1, 0, 0), _ret(RET_KILL_PROCESS), _ret(RET_ALLOW)], [])
    blocks[NR["ioctl"]] = (_one_of(1, ALLOWED_IOCTLS, RET_ERRNO | errno.ENOTTY), [])
    blocks[NR["prctl"]] = (_one_of(0, ALLOWED_PRCTLS, RET_ERRNO | errno.EPERM), [])
    if zygote:
        blocks.update({NR[name]: ([_ret(RET_ALLOW)], []) for name in ZYGOTE_ONLY + ZYGOTE_UNRESTRICTED})
    return blocks


Unit = tuple[int, int, int | None]  # (lo, hi, nr of an argument-checking block or None for a plain allow)
_LEAF_UNITS = 4


def _units(blocks: dict[int, tuple[list[Insn], list[int]]]) -> list[Unit]:
    """Sorted numbers as runs: consecutive plain allows merge into one range, other blocks stand alone."""
    plain = {n for n, (body, slots) in blocks.items() if body == [_ret(RET_ALLOW)] and not slots}
    units: list[Unit] = []
    for n in sorted(blocks):
        if n in plain and units and units[-1][2] is None and units[-1][1] == n - 1:
            units[-1] = (units[-1][0], n, None)
        else:
            units.append((n, n, None if n in plain else n))
    return units


def _leaf(units: list[Unit], blocks: dict[int, tuple[list[Insn], list[int]]]) -> tuple[list[Insn], list[int]]:
    """A short ascending scan (A holds nr) ending in one shared kill and one shared allow."""
    ins: list[list[int]] = []
    to_allow: list[tuple[int, int]] = []  # (instruction, 1 = jt / 2 = jf) that must reach the shared allow
    slots: list[int] = []
    for lo, hi, nr in units:
        if nr is not None:
            body, body_slots = blocks[nr]
            ins.append([_JEQ, 0, len(body), nr])
            slots += [len(ins) + s for s in body_slots]
            ins += [list(i) for i in body]
        elif lo == hi:
            to_allow.append((len(ins), 1))
            ins.append([_JEQ, 0, 0, lo])
        else:  # below lo: skip to the next unit; from hi + 1 up: fall to the next unit; else allow
            ins.append([_JGE, 0, 1, lo])
            to_allow.append((len(ins), 2))
            ins.append([_JGE, 0, 0, hi + 1])
    ins.append(list(_ret(RET_KILL_PROCESS)))
    allow = len(ins)
    ins.append(list(_ret(RET_ALLOW)))
    for i, field in to_allow:
        ins[i][field] = allow - i - 1
    return [tuple(i) for i in ins], slots


def _tree(units: list[Unit], blocks: dict[int, tuple[list[Insn], list[int]]]) -> tuple[list[Insn], list[int]]:
    """A binary search over sorted runs of syscall numbers (A holds nr) down to short scans.

    The kernel converts, checks and JITs the whole program on every child's install (the largest
    cost of isolation), and its action cache emulates it once per syscall number, so the program
    should be short and its paths shallow: ranges of plain allows and shared returns keep it both.
    """
    if len(units) <= _LEAF_UNITS:
        return _leaf(units, blocks)
    mid = len(units) // 2
    left, left_slots = _tree(units[:mid], blocks)
    right, right_slots = _tree(units[mid:], blocks)
    head = [(_JGE, 0, 1, units[mid][0]), (_JA, 0, 0, len(left))]  # nr >= mid: jump over the left half
    slots = [2 + s for s in left_slots] + [2 + len(left) + s for s in right_slots]
    return head + left + right, slots


_HEADER: list[Insn] = [
    (_LD_ABS_W, 0, 0, _OFF_ARCH), (_JEQ, 1, 0, AUDIT_ARCH_X86_64), _ret(RET_KILL_PROCESS),
    (_LD_ABS_W, 0, 0, _OFF_NR), (_JGE, 0, 1, _X32_SYSCALL_BIT), _ret(RET_KILL_PROCESS),
]


def _pack(body: list[Insn], slots: list[int]) -> tuple[bytes, list[int]]:
    program = _HEADER + body
    packed = b"".join(struct.pack("<HBBI", code, jt, jf, k) for code, jt, jf, k in program)
    return packed, [len(_HEADER) + s for s in slots]


def build() -> tuple[bytes, list[int]]:
    """The filter as packed `struct sock_filter` array, and the instruction indices whose k must be the pid."""
    blocks = _blocks()
    return _pack(*_tree(_units(blocks), blocks))


def build_zygote() -> bytes:
    """The zygote's own filter: this policy plus ZYGOTE_ONLY, and ZYGOTE_UNRESTRICTED with any arguments."""
    blocks = _blocks(zygote=True)
    program, slots = _pack(*_tree(_units(blocks), blocks))
    assert not slots
    return program


def build_child() -> tuple[bytes, list[int]]:
    """What each child adds under build_zygote(): a scan that kills ZYGOTE_ONLY, checks ZYGOTE_UNRESTRICTED as
    this policy does (self-pid slots included), and allows everything else (the zygote's filter decides)."""
    full = _blocks()
    checked = {NR[name]: ([_ret(RET_KILL_PROCESS)], []) for name in ZYGOTE_ONLY}
    checked.update({NR[name]: full[NR[name]] for name in ZYGOTE_UNRESTRICTED})
    body: list[Insn] = []
    slots: list[int] = []
    for nr in sorted(checked):
        block, block_slots = checked[nr]
        body.append((_JEQ, 0, len(block), nr))
        slots += [len(body) + s for s in block_slots]
        body += block
    return _pack(body + [_ret(RET_ALLOW)], slots)


def with_pid(program: bytes, slots: list[int], pid: int) -> bytes:
    """The program with `pid` written into each self-pid compare (used by the Python server path)."""
    buf = bytearray(program)
    for s in slots:
        struct.pack_into("<I", buf, s * 8 + 4, pid & 0xFFFFFFFF)
    return bytes(buf)
