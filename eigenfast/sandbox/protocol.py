"""Wire frames between the host and the zygote, shared by the C++ and the Python server.

Fixed little-endian binary headers (the C++ loop parses them without a msgpack library); the job spec and the
checker's report inside them are msgpack.

job frame   (host -> zygote):  u32 len | u64 job_id | u8 payload_mode | 32s payload_key | u32 spec_len |
                               spec (msgpack JobSpec) | payload (msgpack, absent when mode is CACHED)
result frame (zygote -> host): u32 len | u64 job_id | i32 wait_status | u8 flags | u64 wall_us | u64 cpu_us |
                               u64 maxrss_kb | u32 result_len | u32 out_len | u32 err_len | result | out | err
"""

from __future__ import annotations

import struct

import msgspec

JOB_HEADER = struct.Struct("<IQB32sI")
RESULT_HEADER = struct.Struct("<IQiBQQQIII")

# payload modes
INLINE = 0  # payload bytes follow; decode in the child
ADMIT = 1  # payload bytes follow; the zygote decodes and keeps them under the key (FIFO of CACHE_SLOTS)
CACHED = 2  # the zygote already holds the key

CACHE_SLOTS = 4

# result flags
F_WALL_TIMEOUT = 1
F_OUTPUT_OVERFLOW = 2
F_SPAWN_FAILED = 4
F_HELLO = 8
F_CONFINED = 16
F_LANDLOCK = 32


class JobSpec(msgspec.Struct, array_like=True):
    source: str
    entry: str


class ChildReport(msgspec.Struct, array_like=True, omit_defaults=True):
    """What the child writes to its result pipe; the status is the child's own view (ok/error/memory/bad_output)."""

    status: str
    value: object = None
    error_type: str | None = None
    message: str | None = None


def job_frame(job_id: int, mode: int, key: bytes, spec: bytes, payload: bytes) -> bytes:
    body_len = JOB_HEADER.size - 4 + len(spec) + len(payload)
    return JOB_HEADER.pack(body_len, job_id, mode, key, len(spec)) + spec + payload


def result_frame(job_id: int, wait_status: int, flags: int, wall_us: int, cpu_us: int, maxrss_kb: int,
                 result: bytes, out: bytes, err: bytes) -> bytes:
    body_len = RESULT_HEADER.size - 4 + len(result) + len(out) + len(err)
    head = RESULT_HEADER.pack(body_len, job_id, wait_status, flags, wall_us, cpu_us, maxrss_kb,
                              len(result), len(out), len(err))
    return head + result + out + err
