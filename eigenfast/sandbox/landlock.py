"""Landlock read confinement (Python twin of the C++ one): a child may read only the Python install, the
packages on the zygote's path, system libraries and time-zone data, and list its empty working directory.

Seccomp cannot look at paths, so without this layer a checker could read any file its uid (or, on a
root-only Python prefix, CAP_DAC_READ_SEARCH) allows: keys, tokens, /proc/<pid>/environ. Landlock is an LSM
checked on top of permissions, so capabilities do not bypass it. Best effort: kernels without Landlock
(< 5.13 or not in the LSM list) run without it, and `Sandbox.landlocked` says so.
"""

from __future__ import annotations

import ctypes
import os
import stat
import struct

SYS_CREATE_RULESET, SYS_ADD_RULE, SYS_RESTRICT_SELF = 444, 445, 446
CREATE_RULESET_VERSION = 1
RULE_PATH_BENEATH = 1
READ_FILE, READ_DIR = 1 << 2, 1 << 3

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def handled_access(abi: int) -> int:
    """Every filesystem right this ABI knows (so each is denied unless a rule grants it)."""
    access = (1 << 13) - 1  # ABI 1: execute .. make_sym
    if abi >= 2:
        access |= 1 << 13  # refer
    if abi >= 3:
        access |= 1 << 14  # truncate
    if abi >= 5:
        access |= 1 << 15  # ioctl_dev
    return access


def create_ruleset(read_paths: list[str]) -> tuple[int, str]:
    """(ruleset fd, "") or (-1, why not). Directories get read+list, files read; missing paths are skipped."""
    abi = _libc.syscall(SYS_CREATE_RULESET, None, 0, CREATE_RULESET_VERSION)
    if abi < 0:
        return -1, f"landlock unavailable: {os.strerror(ctypes.get_errno())}"
    attr = struct.pack("<Q", handled_access(abi))
    fd = _libc.syscall(SYS_CREATE_RULESET, attr, len(attr), 0)
    if fd < 0:
        return -1, f"landlock ruleset refused: {os.strerror(ctypes.get_errno())}"
    for path in read_paths:
        try:
            parent = os.open(path, os.O_PATH | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            access = READ_FILE | READ_DIR if stat.S_ISDIR(os.fstat(parent).st_mode) else READ_FILE
            rule = struct.pack("<Qi", access, parent)
            if _libc.syscall(SYS_ADD_RULE, fd, RULE_PATH_BENEATH, rule, 0) != 0:
                os.close(fd)
                return -1, f"landlock rule for {path} refused: {os.strerror(ctypes.get_errno())}"
        finally:
            os.close(parent)
    return fd, ""


def restrict_self(ruleset_fd: int) -> None:
    """Enter the ruleset's domain for good (needs no_new_privs or CAP_SYS_ADMIN)."""
    if _libc.syscall(SYS_RESTRICT_SELF, ruleset_fd, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"landlock_restrict_self: {os.strerror(err)}")
