"""Append-only datasets that survive a crash at any byte.

Every long job (synthesis, rollouts, evaluation) streams its records through `DatasetWriter`: one record per
write, flushed and fsynced, so a SIGKILL loses at most the record being written. Formats:

- `.jsonl`: one JSON object per line. A torn record is a last line without its newline (or one that does not
  decode).
- `.msgpack` / `.mpk`: frames of a 4-byte little-endian length followed by that many msgpack bytes. A torn
  record is a short last frame.

On reopen the writer moves a torn tail into `<path>.torn` (nothing is silently dropped) before appending, and
`done_ids` tells a resuming job which records are already complete.
"""

from __future__ import annotations

import os
import struct
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from eigenfast.records import Task, task_from_builtins, task_to_builtins

T = TypeVar("T")

_LEN = struct.Struct("<I")
_json_enc = msgspec.json.Encoder()
_mp_enc = msgspec.msgpack.Encoder()


class TornRecordWarning(UserWarning):
    """A dataset ended with an incomplete record (the writer was killed mid-write)."""


class DatasetError(ValueError):
    """A dataset is corrupt somewhere other than its last record."""


def dataset_format(path: Path) -> str:
    """"jsonl" or "msgpack" from the file name; ValueError naming the file for anything else."""
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        return "jsonl"
    if suffix in {".msgpack", ".mpk"}:
        return "msgpack"
    raise ValueError(f"{path}: unknown dataset format {suffix!r} (use .jsonl, .msgpack or .mpk)")


def _encode(record: Any, fmt: str) -> bytes:
    if isinstance(record, Task):
        record = task_to_builtins(record)
    if fmt == "jsonl":
        return _json_enc.encode(record) + b"\n"
    payload = _mp_enc.encode(record)
    return _LEN.pack(len(payload)) + payload


def _scan(path: Path, fmt: str) -> tuple[list[tuple[int, bytes]], int]:
    """Split a file into complete raw records (offset, bytes) and the offset where valid data ends."""
    data = path.read_bytes() if path.exists() else b""
    records: list[tuple[int, bytes]] = []
    pos = 0
    if fmt == "jsonl":
        while pos < len(data):
            nl = data.find(b"\n", pos)
            if nl < 0:
                break
            records.append((pos, data[pos:nl]))
            pos = nl + 1
    else:
        while pos + _LEN.size <= len(data):
            (n,) = _LEN.unpack_from(data, pos)
            end = pos + _LEN.size + n
            if end > len(data):
                break
            records.append((pos, data[pos + _LEN.size : end]))
            pos = end
    return records, pos


def _decode(raw: bytes, fmt: str, type_: Any) -> Any:
    if fmt == "jsonl":
        return msgspec.json.decode(raw, type=type_) if type_ is not None else msgspec.json.decode(raw)
    return msgspec.msgpack.decode(raw, type=type_) if type_ is not None else msgspec.msgpack.decode(raw)


def read_records(path: str | os.PathLike[str], type_: type[T] | None = None) -> Iterator[T]:
    """Yield every complete record. A torn last record is skipped with a `TornRecordWarning`; damage
    anywhere else raises `DatasetError` naming the file and record number."""
    p = Path(path)
    fmt = dataset_format(p)
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such dataset")
    records, end = _scan(p, fmt)
    size = p.stat().st_size
    want_task = type_ is Task
    for i, (_offset, raw) in enumerate(records):
        try:
            value = _decode(raw, fmt, None if want_task else type_)
            if want_task:
                value = task_from_builtins(value, source=f"{p} record {i + 1}")
        except (msgspec.DecodeError, msgspec.ValidationError, ValueError) as exc:
            raise DatasetError(f"{p}: record {i + 1} is corrupt: {exc}") from None
        yield value
    if end < size:
        warnings.warn(f"{p}: skipping a torn last record ({size - end} bytes at offset {end})",
                      TornRecordWarning, stacklevel=2)


def done_ids(path: str | os.PathLike[str], key: str = "id") -> set[str]:
    """Ids of complete records, for resuming. A missing file means nothing is done."""
    p = Path(path)
    if not p.exists():
        return set()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TornRecordWarning)
        out = set()
        for rec in read_records(p):
            if isinstance(rec, dict) and key in rec:
                out.add(str(rec[key]))
        return out


class DatasetWriter:
    """Appends records durably: each `write` is one `write(2)` followed by flush and fsync."""

    def __init__(self, path: str | os.PathLike[str], *, fsync: bool = True):
        self.path = Path(path)
        self.format = dataset_format(self.path)
        self._fsync = fsync
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.recovered_torn_bytes = self._repair()
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def _repair(self) -> int:
        if not self.path.exists():
            return 0
        _, end = _scan(self.path, self.format)
        size = self.path.stat().st_size
        if end == size:
            return 0
        with open(self.path, "rb") as f:
            f.seek(end)
            tail = f.read()
        with open(f"{self.path}.torn", "ab") as f:
            f.write(tail)
        os.truncate(self.path, end)
        warnings.warn(f"{self.path}: moved a torn last record ({len(tail)} bytes) to {self.path}.torn",
                      TornRecordWarning, stacklevel=3)
        return len(tail)

    def write(self, record: Any) -> None:
        data = _encode(record, self.format)
        view = memoryview(data)
        while view:
            n = os.write(self._fd, view)
            view = view[n:]
        if self._fsync:
            os.fsync(self._fd)

    def write_many(self, records: Iterable[Any]) -> None:
        for record in records:
            self.write(record)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> DatasetWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
