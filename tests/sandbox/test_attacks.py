"""The attack suite: hostile checkers against a real forked, seccomp-confined sandbox, on both server paths.

Every attack has one expected status. All attacks of a backend run in one `run_many` (so timeouts overlap),
then each is asserted on its own; afterwards the host, a sentinel file, the environment and the sandbox
itself (1,000 normal jobs) must be intact.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from eigenfast.sandbox import CheckJob, CheckResult, Sandbox

pytestmark = pytest.mark.both_paths

SECRET_NAME = "EIGENFAST_TEST_SECRET"
SECRET_VALUE = "hunter2-7f3a9c0e"
SENTINEL_TEXT = "do not touch\n"


@dataclass(frozen=True)
class Attack:
    name: str
    body: str  # body of `def check(p):`, indented by 4; p has host_pid, sentinel, secret_name, secret_value
    status: str
    extra: Callable[[CheckResult], bool] | None = None
    imports: str = "import os, sys, time, signal, socket, ctypes, re, json, threading, subprocess, resource"
    needs_landlock: bool = False  # file-read confinement exists only where the kernel has Landlock

    def source(self) -> str:
        return f"{self.imports}\nlibc = ctypes.CDLL(None, use_errno=True)\ndef check(p):\n{self.body}\n"


def _no_secret(r: CheckResult) -> bool:
    return SECRET_VALUE not in repr(r)


ATTACKS = [
    # CPU and wall time
    Attack("infinite_loop", "    while True: pass", "timeout"),
    Attack("catastrophic_regex", "    return bool(re.match(r'(a+)+$', 'a' * 64 + '!'))", "timeout"),
    Attack("sleep_past_wall", "    time.sleep(30)", "timeout"),
    Attack("ignore_sigxcpu_and_spin", "    signal.signal(signal.SIGXCPU, signal.SIG_IGN)\n    while True: pass",
           "timeout"),
    Attack("signal_tampering",
           "    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGALRM, signal.SIGHUP):\n"
           "        signal.signal(s, signal.SIG_IGN)\n"
           "    signal.pthread_sigmask(signal.SIG_BLOCK, set(signal.Signals))\n    time.sleep(30)", "timeout"),
    Attack("flood_stdout_forever", "    while True: print('x' * 1000)", "timeout",
           lambda r: 0 < len(r.stdout_tail) <= 4096),
    # memory
    Attack("memory_bomb_single", "    return len(bytearray(10 ** 11))", "memory"),
    Attack("memory_bomb_growing", "    x = []\n    while True: x.append(bytearray(10 ** 7))", "memory"),
    # processes and exec
    Attack("fork", "    return os.fork()", "violation"),
    Attack("fork_bomb", "    while True: os.fork()", "violation"),
    Attack("os_system", "    return os.system('touch /tmp/eigenfast_pwned')", "violation"),
    Attack("subprocess_run", "    return subprocess.run(['/bin/true']).returncode", "violation"),
    Attack("os_execv", "    os.execv('/bin/sh', ['sh', '-c', 'true'])", "violation"),
    Attack("posix_spawn", "    return os.posix_spawn('/bin/true', ['true'], {})", "violation"),
    Attack("thread_storm",
           "    for _ in range(10000):\n        threading.Thread(target=time.sleep, args=(10,)).start()",
           "error", lambda r: r.error_type == "RuntimeError"),
    # files
    Attack("write_cwd", "    open('evil.txt', 'w').write('x')", "violation"),
    Attack("write_outside", "    open('/tmp/eigenfast_evil', 'w').write('x')", "violation"),
    Attack("append_sentinel", "    open(p['sentinel'], 'a').write('pwned')", "violation"),
    Attack("open_rdwr_sentinel", "    os.open(p['sentinel'], os.O_RDWR)", "violation"),
    Attack("delete_sentinel", "    os.remove(p['sentinel'])", "violation"),
    Attack("rename_sentinel", "    os.rename(p['sentinel'], p['sentinel'] + '.moved')", "violation"),
    Attack("chmod_sentinel", "    os.chmod(p['sentinel'], 0o777)", "violation"),
    Attack("chown_sentinel", "    os.chown(p['sentinel'], 65534, 65534)", "violation"),
    Attack("truncate_sentinel", "    os.truncate(p['sentinel'], 0)", "violation"),
    Attack("mkdir", "    os.mkdir('/tmp/eigenfast_dir')", "violation"),
    Attack("symlink", "    os.symlink('/etc/passwd', 'link')", "violation"),
    Attack("write_proc_self_mem", "    open('/proc/self/mem', 'r+b')", "violation"),
    Attack("memfd_create", "    os.memfd_create('x')", "violation"),
    # secrets
    Attack("read_environ", "    return dict(os.environ)", "ok",
           lambda r: list(r.value) == ["HOME"] and "eigenfast-sandbox-" in r.value["HOME"] and _no_secret(r)),
    Attack("read_c_environ",
           "    env = ctypes.cast(ctypes.c_void_p.in_dll(libc, 'environ'), ctypes.POINTER(ctypes.c_char_p))\n"
           "    return [env[0], env[1]]", "ok", lambda r: r.value[0].startswith(b"HOME=") and r.value[1] is None),
    Attack("read_host_proc_environ", "    return open(f\"/proc/{p['host_pid']}/environ\", 'rb').read()", "error",
           lambda r: r.error_type == "PermissionError" and _no_secret(r)),
    Attack("scan_all_proc_environ",
           "    hits = []\n    try:\n        pids = os.listdir('/proc')\n    except OSError:\n        pids = []\n"
           "    for pid in pids:\n"
           "        try:\n            data = open(f'/proc/{pid}/environ', 'rb').read()\n"
           "        except OSError:\n            continue\n"
           "        if p['secret_value'].encode() in data:\n            hits.append(pid)\n    return hits",
           "ok", lambda r: r.value == []),
    # network
    Attack("tcp_socket", "    socket.create_connection(('127.0.0.1', 80), timeout=0.2)", "violation"),
    Attack("udp_socket", "    socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', ('127.0.0.1', 53))",
           "violation"),
    Attack("unix_socket", "    socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)", "violation"),
    Attack("socketpair", "    socket.socketpair()", "violation"),
    # raw syscalls through ctypes
    Attack("ctypes_socket_syscall", "    return libc.syscall(41, 2, 1, 0)", "violation"),
    Attack("ctypes_ptrace", "    return libc.syscall(101, 0, 0, 0, 0)", "violation"),
    Attack("ctypes_unshare", "    return libc.unshare(0x10000000)", "violation"),
    Attack("ctypes_mount", "    return libc.mount(b'none', b'/tmp', b'tmpfs', 0, None)", "violation"),
    Attack("ctypes_setuid_root", "    return libc.setuid(0)", "violation"),
    Attack("ctypes_prctl_set_dumpable", "    return [libc.prctl(4, 1, 0, 0, 0), ctypes.get_errno()]", "ok",
           lambda r: r.value == [-1, 1]),
    Attack("read_etc_shadow", "    return open('/etc/shadow').read()", "error",
           lambda r: r.error_type == "PermissionError", needs_landlock=True),
    Attack("read_outside_allowed_paths", "    return open(p['sentinel']).read()", "error",
           lambda r: r.error_type == "PermissionError", needs_landlock=True),
    Attack("ctypes_bpf", "    return libc.syscall(321, 0, 0, 0)", "violation"),
    Attack("ctypes_io_uring", "    return libc.syscall(425, 8, 0)", "violation"),
    Attack("ctypes_fork_syscall", "    return libc.syscall(57)", "violation"),
    Attack("ctypes_tiocsti", "    r = libc.ioctl(0, 0x5412, ctypes.c_char_p(b'x'))\n"
           "    return [r, ctypes.get_errno()]", "ok", lambda r: r.value == [-1, 25]),
    Attack("raise_rlimit", "    resource.setrlimit(resource.RLIMIT_CPU, (100, 100))", "violation"),
    # other processes
    Attack("kill_zygote", "    os.kill(os.getppid(), signal.SIGKILL)", "violation"),
    Attack("kill_host", "    os.kill(p['host_pid'], signal.SIGKILL)", "violation"),
    Attack("killpg_host", "    os.killpg(os.getpgid(p['host_pid']), signal.SIGKILL)", "violation"),
    Attack("kill_everyone", "    os.kill(-1, signal.SIGKILL)", "violation"),
    Attack("pidfd_host", "    os.pidfd_open(p['host_pid'])", "violation"),
    # output channels
    # stdout is unbuffered (the zygote runs with -u), so printing to a closed stdout fails at the print
    Attack("close_stdout", "    os.close(1)\n    print('gone')\n    return True", "error",
           lambda r: r.error_type == "OSError"),
    Attack("close_stdout_after_print", "    print('kept')\n    os.close(1)\n    return True", "ok",
           lambda r: r.value is True and r.stdout_tail == "kept\n"),
    Attack("flood_stdout_then_return", "    sys.stdout.write('y' * 20_000_000)\n    return True", "ok",
           lambda r: r.value is True and r.stdout_tail == 'y' * 4096),
    Attack("close_result_pipe", "    os.close(3)\n    return True", "bad_output"),
    Attack("flood_result_pipe", "    while True: os.write(3, b'x' * 65536)", "bad_output"),
    Attack("garbage_result", "    os.write(3, b'\\xc1garbage')\n    return True", "bad_output"),
    Attack("huge_return", "    return 'x' * 10_000_000", "bad_output"),
    Attack("unencodable_return", "    return object()", "bad_output"),
    Attack("lambda_in_return", "    return {'f': lambda: 0}", "bad_output"),
    Attack("exit_without_result", "    os._exit(0)", "bad_output"),
    # interpreter abuse
    Attack("deep_recursion", "    def f(n): return f(n + 1)\n    return f(0)", "error",
           lambda r: r.error_type == "RecursionError"),
    # 3.11 runs Python-to-Python calls off the C stack, so recurse through C (repr) to overflow it
    Attack("setrecursionlimit_abuse", "    sys.setrecursionlimit(10 ** 8)\n    x = []\n"
           "    for _ in range(300_000): x = [x]\n    return repr(x)", "crashed",
           lambda r: "SIGSEGV" in r.message),
    Attack("segfault", "    return ctypes.string_at(0)", "crashed", lambda r: "SIGSEGV" in r.message),
    Attack("abort", "    os.abort()", "crashed", lambda r: "SIGABRT" in r.message),
    Attack("tamper_modules_for_next_job",
           "    import builtins, math\n    json.dumps = lambda *a, **k: 'PWNED'\n    builtins.len = lambda x: -1\n"
           "    math.pi = 3\n    sys.modules['re'] = None\n    return True", "ok"),
    Attack("sys_exit", "    sys.exit(0)", "error", lambda r: r.error_type == "SystemExit"),
    Attack("keyboard_interrupt", "    raise KeyboardInterrupt", "error"),
]


@pytest.fixture(scope="module")
def attack_env(backend, tmp_path_factory, monkeypatch_module):
    monkeypatch_module.setenv(SECRET_NAME, SECRET_VALUE)
    sentinel = tmp_path_factory.mktemp("sentinel") / "sentinel.txt"
    sentinel.write_text(SENTINEL_TEXT)
    env_before = _env()
    payload = {"host_pid": os.getpid(), "sentinel": str(sentinel), "secret_name": SECRET_NAME,
               "secret_value": SECRET_VALUE}
    # CPU-bound attacks hit the 1 s CPU limit; the wall limit is looser so 2 cores shared by 6 workers do not
    # turn slow-but-finite attacks (recursion to a segfault, memory growth) into timeouts
    with Sandbox(workers=6, cpu_time_s=1.0, wall_time_s=4.0, memory_mb=256, max_output_kb=64) as sb:
        assert sb.backend == backend and sb.confined
        zygote = sb.zygote_pid
        results = sb.run_many([CheckJob(a.source(), payload) for a in ATTACKS])
        yield {"results": dict(zip([a.name for a in ATTACKS], results, strict=True)), "sandbox": sb, "sentinel": sentinel,
               "env_before": env_before, "zygote": zygote, "landlocked": sb.landlocked}


def test_suite_is_big_enough():
    assert len(ATTACKS) >= 40
    assert len({a.name for a in ATTACKS}) == len(ATTACKS)


@pytest.mark.parametrize("attack", ATTACKS, ids=[a.name for a in ATTACKS])
def test_attack(attack_env, attack):
    if attack.needs_landlock and not attack_env["landlocked"]:
        pytest.skip("this kernel has no Landlock, so file reads are not confined")
    r = attack_env["results"][attack.name]
    assert r.status == attack.status, r
    if attack.extra is not None:
        assert attack.extra(r), r
    assert _no_secret(r)


def test_host_is_untouched_after_the_suite(attack_env):
    sb, sentinel = attack_env["sandbox"], attack_env["sentinel"]
    assert sentinel.read_text() == SENTINEL_TEXT
    assert oct(sentinel.stat().st_mode & 0o777) == oct(0o644 & ~_umask())
    assert _env() == attack_env["env_before"]
    for path in ("/tmp/eigenfast_pwned", "/tmp/eigenfast_evil", "/tmp/eigenfast_dir"):
        assert not os.path.exists(path)
    assert os.listdir(sb._workdir) == []
    # no attack took down the zygote: the suite ran on the server it started with
    assert sb.zygote_pid == attack_env["zygote"] and sb.restarts == 0


def test_sandbox_serves_1000_normal_jobs_after_the_suite(attack_env):
    sb = attack_env["sandbox"]
    src = ("import json, math, re\n"
           "def check(p):\n"
           "    return {'sq': p * p, 'even': p % 2 == 0, 'json': json.dumps([p]), 'len': len('ab'),\n"
           "            'pi': math.pi > 3.1, 're': bool(re.match('a', 'a'))}\n")
    results = sb.run_many([(src, i) for i in range(1000)])
    assert [r.value for r in results] == [
        {"sq": i * i, "even": i % 2 == 0, "json": f"[{i}]", "len": 2, "pi": True, "re": True} for i in range(1000)
    ]
    assert all(r.status == "ok" for r in results)


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}  # pytest rewrites that one


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
