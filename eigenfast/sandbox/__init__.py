"""Sandboxed execution of untrusted checker code (LLM-written Python that scores an episode).

`Sandbox` keeps a pre-warmed fork-server (a fresh `python -I -S -B -u` zygote, never a fork of the caller) and
runs each job in a brand-new child of it. The child, before any checker byte runs:

- becomes its own process group, gets fd 0 = an empty stdin (EOF), 1/2 = capture pipes, 3 = result pipe, and
  every other fd closed; an empty, read-only working directory; an environment holding only HOME (= that directory);
- gets rlimits: CPU time, address space (zygote size + `memory_mb`), file size 0, core 0, 32 open files,
  0 processes, 0 locked memory;
- when the host runs as root, drops to uid/gid 65534 with no supplementary groups (so it cannot signal or
  read /proc entries of other processes); if the Python prefix is not world-readable (e.g. under /root) it
  keeps exactly CAP_DAC_READ_SEARCH so imports still work;
- is in a Landlock domain (kernels with Landlock; the C++ zygote enters it and children inherit it) that allows
  reading only the Python install, the packages on the zygote's path, system libraries and zoneinfo: no /proc,
  /etc, /tmp, home directories or data;
- runs with no_new_privs, sets a parent-death signal, then installs the seccomp allowlist in `policy.py` (a
  forbidden syscall kills it with SIGSYS -> status `violation`). The C++ server installs it in two layers: the
  zygote confines itself once with the allowlist widened by what the zygote calls (fork, wait, setuid...), and
  each child adds a short program that takes exactly that back; together they decide every call as the
  one-piece allowlist does, and the zygote itself is confined too.

Its stdout and stderr are unbuffered (the zygote runs with `-u`): a checker that closes fd 1 and then prints
gets an OSError. Never more than `workers` children run a checker that has not reported. The C++ server also
forks up to `workers` children ahead, which isolate themselves as above and then wait (reading their stdin,
whose other end the server closes to start them; a job's wall clock runs from then), and a child that has
delivered its report (closed its result pipe) stops counting while the kernel tears it down: up to
3 x `workers` children can be alive.

The server enforces the wall clock (SIGKILL to the process group), caps the result at `max_output_kb`
(-> `bad_output`) and keeps the last 4 KiB of stdout/stderr. If the server itself dies, in-flight jobs are
reported `crashed` and a new server starts transparently.

What this does NOT protect against: reading the files Landlock allows (public code), and, on kernels without
Landlock, any file the child's uid can read (with CAP_DAC_READ_SEARCH: every file) and, for a non-root host,
the host's own /proc entries including its environment (`Sandbox.landlocked` tells which case you are in);
timing and cache side channels; kernel bugs reachable through allowed syscalls; consuming CPU/memory up to the
limits (size `workers` for the machine); a checker lying about its own verdict; a checker reading, from its
own inherited memory, the payloads the zygote has cached, the compiled code of the last 128 (small) checkers
it learned, and the frames of jobs queued behind it (so never put secrets in payloads or checker sources).
The zygote compiles a checker only after one of its children compiled and ran that same spec cleanly within
its limits, so untrusted source never costs the server (which has no CPU limit) unbounded time. Without seccomp
(old kernels, non-x86-64) `Sandbox` refuses to start unless `allow_unconfined=True`, and then only the process isolation, Landlock and rlimits above apply (a non-root
host's checkers could then fork, exec and open sockets).
"""

from __future__ import annotations

import importlib

TYPE_CHECKING = False  # not typing's: the zygote imports this package and should not pay for typing
if TYPE_CHECKING:
    from eigenfast.sandbox.host import Sandbox, SandboxUnavailableError
    from eigenfast.sandbox.result import CheckJob, CheckResult

__all__ = ["CheckJob", "CheckResult", "Sandbox", "SandboxUnavailableError"]
_HOME = {"Sandbox": "host", "SandboxUnavailableError": "host", "CheckJob": "result", "CheckResult": "result"}


def __getattr__(name: str):
    # Lazy so the zygote, which imports eigenfast.sandbox.zygote, never loads the host side (subprocess,
    # threading, logging, hashlib...): less memory to copy per fork, no extra at-fork handlers.
    if name in _HOME:
        return getattr(importlib.import_module(f"eigenfast.sandbox.{_HOME[name]}"), name)
    raise AttributeError(f"module 'eigenfast.sandbox' has no attribute {name!r}")
