"""The seccomp program, decided by a tiny classic-BPF interpreter (no kernel), plus the kernel probe."""

from __future__ import annotations

import errno
import os
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eigenfast import _ext
from eigenfast.sandbox import policy, pyserver

SELF = 4242
ARCH = policy.AUDIT_ARCH_X86_64
KILL, ALLOW = policy.RET_KILL_PROCESS, policy.RET_ALLOW


def run_bpf(program: bytes, nr: int, args: tuple = (), arch: int = ARCH) -> int:
    """Evaluates the filter on one `struct seccomp_data`, like the kernel (ld abs, jeq/jge/jset, ret)."""
    args = (tuple(args) + (0,) * 6)[:6]
    data = struct.pack("<iIQ6Q", nr, arch, 0, *[a & (2**64 - 1) for a in args])
    ins = [struct.unpack_from("<HBBI", program, i) for i in range(0, len(program), 8)]
    pc, acc = 0, 0
    while True:
        code, jt, jf, k = ins[pc]
        if code == 0x20:
            acc = struct.unpack_from("<I", data, k)[0]
        elif code == 0x06:
            return k
        elif code == 0x05:
            pc += k
        elif code in (0x15, 0x35, 0x45):
            hit = acc == k if code == 0x15 else acc >= k if code == 0x35 else bool(acc & k)
            pc += jt if hit else jf
        else:
            raise AssertionError(f"unexpected opcode {code:#x}")
        pc += 1


@pytest.fixture(scope="module")
def prog() -> bytes:
    program, slots = policy.build()
    assert len(program) // 8 < 4096 and len(slots) == 3
    return policy.with_pid(program, slots, SELF)


def nr(name: str) -> int:
    return policy.NR[name]


@pytest.mark.parametrize("name", policy.PLAIN_ALLOW)
def test_plain_allowed(prog, name):
    assert run_bpf(prog, nr(name)) == ALLOW


@pytest.mark.parametrize("number", [41, 42, 49, 53, 57, 58, 59, 82, 87, 90, 92, 101, 160, 165, 272, 308, 310, 321,
                                    322, 425, 434, 424, 319, 105, 317, 76, 83, 88])
def test_dangerous_calls_kill(prog, number):
    # socket connect bind socketpair fork vfork execve rename unlink chmod chown ptrace setrlimit mount unshare
    # setns process_vm_readv bpf execveat io_uring_setup pidfd_open pidfd_send_signal memfd_create setuid
    # seccomp truncate mkdir symlink
    assert run_bpf(prog, number) == KILL


def test_wrong_arch_and_x32_are_killed(prog):
    assert run_bpf(prog, nr("read"), arch=0x40000003) == KILL
    assert run_bpf(prog, nr("read") | 0x40000000) == KILL


@given(flags=st.integers(0, 2**32 - 1))
@settings(max_examples=200, deadline=None)
def test_open_flags(prog, flags):
    expected = KILL if flags & policy.OPEN_WRITE_FLAGS else ALLOW
    assert run_bpf(prog, nr("openat"), (-100, 0, flags)) == expected
    assert run_bpf(prog, nr("open"), (0, flags)) == expected


def test_open_examples(prog):
    assert run_bpf(prog, nr("openat"), (-100, 0, os.O_RDONLY | os.O_CLOEXEC | os.O_DIRECTORY)) == ALLOW
    for flags in (os.O_WRONLY, os.O_RDWR, os.O_CREAT, os.O_TRUNC | os.O_RDONLY, os.O_APPEND):
        assert run_bpf(prog, nr("openat"), (-100, 0, flags)) == KILL


def test_clone_threads_only(prog):
    thread_flags = 0x3D0F00  # what glibc's pthread_create passes
    assert run_bpf(prog, nr("clone"), (thread_flags,)) == ALLOW
    assert run_bpf(prog, nr("clone"), (0x01200011,)) == KILL  # fork()
    assert run_bpf(prog, nr("clone"), (0x4111,)) == KILL  # posix_spawn's CLONE_VM|CLONE_VFORK
    assert run_bpf(prog, nr("clone3")) == policy.RET_ERRNO | errno.ENOSYS


@given(pid=st.integers(-(2**31), 2**31 - 1))
@settings(max_examples=200, deadline=None)
def test_signals_only_to_self(prog, pid):
    assert run_bpf(prog, nr("kill"), (pid, 9)) == (ALLOW if pid in (0, SELF) else KILL)
    assert run_bpf(prog, nr("tgkill"), (pid, pid, 9)) == (ALLOW if pid == SELF else KILL)
    assert run_bpf(prog, nr("tkill"), (pid, 9)) == (ALLOW if pid == SELF else KILL)


def test_prlimit_reads_only(prog):
    assert run_bpf(prog, nr("prlimit64"), (0, 0, 0, 0x7FFF0000)) == ALLOW
    assert run_bpf(prog, nr("prlimit64"), (0, 0, 0x7FFF0000, 0)) == KILL
    assert run_bpf(prog, nr("prlimit64"), (0, 0, 1 << 40, 0)) == KILL


def test_ioctl(prog):
    for cmd in policy.ALLOWED_IOCTLS:
        assert run_bpf(prog, nr("ioctl"), (0, cmd)) == ALLOW
    assert run_bpf(prog, nr("ioctl"), (0, 0x5412)) == policy.RET_ERRNO | errno.ENOTTY  # TIOCSTI


def test_prctl_queries_only(prog):
    for option in policy.ALLOWED_PRCTLS:
        assert run_bpf(prog, nr("prctl"), (option,)) == ALLOW
    for option in (4, 8, 22, 35, 38, 47):  # SET_DUMPABLE SET_KEEPCAPS SET_SECCOMP SET_MM SET_NO_NEW_PRIVS AMBIENT
        assert run_bpf(prog, nr("prctl"), (option,)) == policy.RET_ERRNO | errno.EPERM


def test_every_number_matches_the_table(prog):
    """The search tree routes every syscall number to the action the policy tables give it."""
    names = {v: k for k, v in policy.NR.items()}
    for number in range(460):
        name = names.get(number)
        got = run_bpf(prog, number)
        if name is None or name in policy.ZYGOTE_ONLY:
            assert got == KILL, number
        elif name in policy.PLAIN_ALLOW:
            assert got == ALLOW, name
        else:  # argument-checked calls, all-zero arguments
            assert got == {"clone3": policy.RET_ERRNO | errno.ENOSYS, "clone": KILL,
                           "ioctl": policy.RET_ERRNO | errno.ENOTTY, "prctl": policy.RET_ERRNO | errno.EPERM,
                           "tkill": KILL, "tgkill": KILL}.get(name, ALLOW), name


def _strictest(child: int, zygote: int) -> int:
    """The kernel's verdict under two filters: kill beats errno beats allow; on a tie the newer (child) wins."""
    def rank(action: int) -> int:
        return 0 if action == KILL else 1 if action & 0xFFFF0000 == policy.RET_ERRNO else 2
    return min((child, zygote), key=rank)


@pytest.fixture(scope="module")
def layered():
    child, slots = policy.build_child()
    return policy.with_pid(child, slots, SELF), policy.build_zygote()


ARG_CASES = [(), (policy.CLONE_THREAD,), (SELF,), (0,), (SELF + 1,), (-1,), (SELF, SELF), (0, 0, 1), (0, 0, 0),
             (0, 0, 1 << 32), (policy.ALLOWED_PRCTLS[0],), (38,), (22, 2), (0, 0x5401), (0, 0x5412),
             (0, os.O_RDONLY), (0, os.O_WRONLY), (0, 0, os.O_RDONLY), (0, 0, os.O_CREAT | os.O_WRONLY)]


def test_zygote_and_child_filters_together_are_the_policy(prog, layered):
    """What the C++ server installs in two layers decides every call exactly as the one-piece policy does."""
    child, zygote = layered
    assert len(child) < len(prog) // 2  # the point: a short program per child
    for number in range(512):
        for args in ARG_CASES:
            want = run_bpf(prog, number, args)
            assert _strictest(run_bpf(child, number, args), run_bpf(zygote, number, args)) == want, (number, args)
    for arch in (0x40000003, 0):
        assert run_bpf(child, 0, arch=arch) == run_bpf(zygote, 0, arch=arch) == KILL
    assert _strictest(run_bpf(child, 0x40000000), run_bpf(zygote, 0x40000000)) == KILL


@settings(max_examples=300, deadline=None)
@given(number=st.sampled_from(sorted(policy.NR.values())), args=st.lists(st.integers(0, 2**64 - 1), max_size=6))
def test_layered_filters_agree_on_random_arguments(prog, layered, number, args):
    child, zygote = layered
    assert _strictest(run_bpf(child, number, args), run_bpf(zygote, number, args)) == run_bpf(prog, number, args)


def test_zygote_filter_allows_what_the_server_calls():
    zygote = policy.build_zygote()
    for name in ("clone", "wait4", "kill", "pidfd_open", "pipe2", "poll", "setpgid", "setresuid", "capset",
                 "landlock_restrict_self", "prlimit64", "prctl", "close_range", "dup2", "chdir"):
        assert run_bpf(zygote, nr(name), (1, 1, 1)) == ALLOW, name


def test_unknown_numbers_kill(prog):
    assert run_bpf(prog, 999) == KILL


@pytest.mark.both_paths
def test_kernel_probe_accepts_the_policy_and_rejects_garbage():
    program, slots = policy.build()
    assert pyserver.probe(program, slots) is None
    assert "refused" in pyserver.probe(b"\x00" * 8, [])  # a filter without a return is invalid
    native = _ext.require_group("sandbox")
    if native is None:
        pytest.skip("C++ sandbox not built")
    assert native.sandbox_probe(program, slots) == ""
    assert "refused" in native.sandbox_probe(b"\x00" * 8, [])


def test_native_server_runs_under_the_zygote_layer_and_children_add_theirs():
    if _ext.require_group("sandbox") is None:
        pytest.skip("C++ sandbox not built")
    import threading
    import time

    from eigenfast.sandbox import Sandbox

    def seccomp_status(pid: int) -> tuple[str, str]:
        fields = dict(line.split(":", 1) for line in open(f"/proc/{pid}/status"))
        return fields["Seccomp"].strip(), fields["Seccomp_filters"].strip()

    with Sandbox(workers=1, backend="native") as sb:
        assert seccomp_status(sb.zygote_pid) == ("2", "1")
        runner = threading.Thread(target=sb.run, args=("import time\ndef check(p):\n    time.sleep(1)\n", None))
        runner.start()
        children: list[str] = []
        for _ in range(100):
            children = open(f"/proc/{sb.zygote_pid}/task/{sb.zygote_pid}/children").read().split()
            if children:
                break
            time.sleep(0.01)
        time.sleep(0.2)  # past its isolation, into the checker's sleep
        assert seccomp_status(int(children[0])) == ("2", "2")
        runner.join()
