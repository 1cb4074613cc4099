"""Where finished episodes go: an append-only JSONL file, one record per line, flushed and fsynced.

Deliberately tiny (open a writer, write a record, list done ids) so it can later delegate to `eigenfast.io`.
A torn last line (the writer was killed mid-write) is skipped with a warning and cut off before appending.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import msgspec

_enc = msgspec.json.Encoder()


class EpisodeWriter:
    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        end = _valid_end(self.path)
        if self.path.exists() and end < self.path.stat().st_size:
            warnings.warn(f"{self.path}: cutting a torn last record at byte {end}", stacklevel=2)
            with open(self.path, "r+b") as f:
                f.truncate(end)
        self._f = open(self.path, "ab")

    def write(self, record: Any) -> None:
        self._f.write(_enc.encode(record) + b"\n")
        self._f.flush()
        os.fsync(self._f.fileno())

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> EpisodeWriter:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _valid_end(path: Path) -> int:
    """Offset just past the last newline: each record is written with one write() ending in its newline."""
    if not path.exists():
        return 0
    data = path.read_bytes()
    return data.rfind(b"\n") + 1


def open_writer(path: str | os.PathLike[str]) -> EpisodeWriter:
    return EpisodeWriter(path)


def read_records(path: str | os.PathLike[str], type_: type | None = None) -> list[Any]:
    """All complete records; a torn last line is skipped with a warning, damage elsewhere raises."""
    p = Path(path)
    data = p.read_bytes()
    lines = data.split(b"\n")
    out = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            out.append(msgspec.json.decode(line, type=type_) if type_ else msgspec.json.decode(line))
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            if i == len(lines) - 1:  # no trailing newline: the writer died mid-record
                warnings.warn(f"{p}: skipping a torn last record", stacklevel=2)
                break
            raise ValueError(f"{p}: line {i + 1} is corrupt: {exc}") from None
    return out


def done_ids(path: str | os.PathLike[str], key: str = "id") -> set[str]:
    p = Path(path)
    if not p.exists():
        return set()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {r[key] for r in read_records(p) if isinstance(r, dict) and key in r}
