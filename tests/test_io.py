import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings

import pytest

from eigenfast.io import (
    DatasetError,
    DatasetWriter,
    TornRecordWarning,
    _scan,
    dataset_format,
    done_ids,
    read_records,
)
from eigenfast.records import Episode, Message


@pytest.mark.parametrize("suffix", [".jsonl", ".msgpack"])
def test_write_read_and_done_ids(tmp_path, suffix):
    path = tmp_path / f"eps{suffix}"
    with DatasetWriter(path) as w:
        for i in range(5):
            w.write(Episode(task_id="t", id=f"t#{i}", messages=[Message(role="user", content=str(i))]))
    eps = list(read_records(path, Episode))
    assert [e.id for e in eps] == [f"t#{i}" for i in range(5)]
    assert done_ids(path) == {f"t#{i}" for i in range(5)}


@pytest.mark.parametrize("suffix", [".jsonl", ".msgpack"])
def test_torn_tail_is_reported_and_moved_aside_on_resume(tmp_path, suffix):
    path = tmp_path / f"d{suffix}"
    with DatasetWriter(path) as w:
        w.write({"id": "a"})
        w.write({"id": "b"})
    full = path.read_bytes()
    first_len = _scan_end_of_first(path)
    path.write_bytes(full[:-3])  # tear the last record
    with pytest.warns(TornRecordWarning, match="torn last record"):
        assert [r["id"] for r in read_records(path)] == ["a"]
    with pytest.warns(TornRecordWarning, match=r"\.torn"):
        w = DatasetWriter(path)
    w.write({"id": "c"})
    w.close()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert [r["id"] for r in read_records(path)] == ["a", "c"]
    assert (tmp_path / f"d{suffix}.torn").read_bytes() == full[first_len:-3]


def _scan_end_of_first(path):
    records, _ = _scan(path, dataset_format(path))
    return records[1][0]


def test_corruption_in_the_middle_is_an_error(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_bytes(b'{"id": "a"}\n{broken\n{"id": "c"}\n')
    with pytest.raises(DatasetError, match=r"d.jsonl: record 2 is corrupt"):
        list(read_records(path))


def test_unknown_format_names_the_file(tmp_path):
    with pytest.raises(ValueError, match=r"x.csv: unknown dataset format"):
        DatasetWriter(tmp_path / "x.csv")


@pytest.mark.parametrize("suffix", [".jsonl", ".msgpack"])
def test_survives_sigkill_mid_write(tmp_path, suffix):
    """A child appends 2 MB records in a loop and is SIGKILLed at an arbitrary moment, three times over.
    After each kill the reader recovers every complete record (in order, none twice) and reports a torn tail
    exactly when one exists; the resumed writer continues from the first id not yet done."""
    path = tmp_path / f"kill{suffix}"
    script = textwrap.dedent(
        f"""
        from eigenfast.io import DatasetWriter, done_ids
        w = DatasetWriter({str(path)!r})
        i = len(done_ids({str(path)!r}))
        start = i
        while True:
            w.write({{"id": str(i), "blob": "x" * 2_000_000}})
            i += 1
            if i == start + 2:
                print("ready", flush=True)
        """
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "PYTHONWARNINGS": "ignore"}
    for delay in (0.05, 0.13, 0.21):
        child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, env=env)
        assert child.stdout.readline().strip() == b"ready"
        time.sleep(delay)
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        child.stdout.close()
        records, end = _scan(path, dataset_format(path))
        torn = end < path.stat().st_size
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ids = [r["id"] for r in read_records(path)]
        assert ids == [str(i) for i in range(len(ids))] and len(ids) == len(records) >= 2
        assert torn == any(issubclass(w.category, TornRecordWarning) for w in caught)
