"""Sandboxed execution of untrusted checker code (LLM-written Python that scores an episode).

`Sandbox` keeps a pre-warmed fork-server (a fresh `python -I -S -B` zygote, never a fork of the caller) and
runs each job in a brand-new child of it. The child, before any checker byte runs:

- becomes its own session/process group, gets fd 0 = /dev/null, 1/2 = capture pipes, 3 = result pipe, and
  every other fd closed; an empty, read-only working directory; an empty environment;
- gets rlimits: CPU time, address space (zygote size + `memory_mb`), file size 0, core 0, 32 open files,
  0 processes, 0 locked memory;
- when the host runs as root, drops to uid/gid 65534 with no supplementary groups (so no capabilities, no
  reading other processes' /proc entries, no signalling them);
- sets no_new_privs and a parent-death signal, then installs the seccomp allowlist in `policy.py` (a
  forbidden syscall kills it with SIGSYS -> status `violation`).

The server enforces the wall clock (SIGKILL to the process group), caps the result at `max_output_kb`
(-> `bad_output`) and keeps the last 4 KiB of stdout/stderr. If the server itself dies, in-flight jobs are
reported `crashed` and a new server starts transparently.

What this does NOT protect against: reading files the child's uid can read (stdlib, world-readable files; if
the host is not root, also files and /proc entries of the host's own uid, including its environment);
timing and cache side channels; kernel bugs reachable through allowed syscalls; consuming CPU/memory up to the
limits (size `workers` for the machine); a checker lying about its own verdict; a checker reading, from its
own inherited memory, the payloads the zygote has cached and the frames of jobs queued behind it (so never put
secrets in payloads). Without seccomp (old kernels,
non-x86-64) `Sandbox` refuses to start unless `allow_unconfined=True`, and then only the process isolation
and rlimits above apply (root hosts still drop to nobody; non-root hosts can be attacked through the checker's
ability to fork, exec and open sockets).
"""

from eigenfast.sandbox.host import Sandbox, SandboxUnavailableError
from eigenfast.sandbox.result import CheckJob, CheckResult

__all__ = ["CheckJob", "CheckResult", "Sandbox", "SandboxUnavailableError"]
