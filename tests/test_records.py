import json

import msgspec
import pytest

from eigenfast.records import (
    Checker,
    Episode,
    Message,
    RewardInfo,
    Task,
    TokenSegment,
    ToolCall,
    from_json,
    from_msgpack,
    load_tasks,
    task_from_builtins,
    task_to_builtins,
    to_json,
    to_msgpack,
)

DOMAINS = ["airline", "retail", "telecom", "mock"]


@pytest.mark.parametrize("domain", DOMAINS)
def test_every_tau2_task_round_trips_exactly(tau2_dir, domain):
    path = tau2_dir / domain / "tasks.json"
    raw = json.loads(path.read_bytes())
    tasks = load_tasks(str(path))
    assert len(tasks) == len(raw) > 0
    for task, original in zip(tasks, raw):
        assert json.loads(to_json(task)) == original, task.id
        assert task_to_builtins(from_msgpack(to_msgpack(task), Task)) == original, task.id
        assert from_json(to_json(task), Task) == task


def test_unknown_keys_survive_in_extras():
    raw = {"id": "t1", "user_scenario": {"instructions": "hi", "persoca": None}, "brand_new": [1, 2]}
    task = task_from_builtins(raw)
    assert task.extras == {"user_scenario.persoca": None, "brand_new": [1, 2]}
    assert task_to_builtins(task) == raw


def test_absent_and_null_fields_stay_distinct():
    with_null = task_from_builtins({"id": "a", "user_scenario": {"instructions": "x"}, "ticket": None})
    without = task_from_builtins({"id": "a", "user_scenario": {"instructions": "x"}})
    assert task_to_builtins(with_null)["ticket"] is None
    assert "ticket" not in task_to_builtins(without)


def test_bad_task_names_the_source_and_field():
    with pytest.raises(ValueError, match=r"tasks.json\[3\] \(id='x'\).*user_scenario"):
        task_from_builtins({"id": "x"}, source="tasks.json[3]")


def test_load_tasks_errors_name_the_file(tmp_path):
    bad = tmp_path / "tasks.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="tasks.json: not valid JSON"):
        load_tasks(str(bad))
    bad.write_text('{"id": 1}')
    with pytest.raises(ValueError, match="expected a JSON list"):
        load_tasks(str(bad))
    with pytest.raises(FileNotFoundError, match="no such tasks file"):
        load_tasks(str(tmp_path / "missing.json"))


def _episode() -> Episode:
    call = ToolCall(id="c1", name="get_user_details", arguments={"user_id": "u1"})
    return Episode(
        task_id="t",
        id="t#0",
        messages=[
            Message(role="assistant", content="Hi! How can I help you today?"),
            Message(role="assistant", tool_calls=[call]),
            Message(role="tool", content="Error: no user", tool_call_id="c1", error=True),
        ],
        segments=[TokenSegment(owner="system", token_ids=[1, 2]),
                  TokenSegment(owner="agent", token_ids=[3], logprobs=[-0.5])],
        reward=1.0,
        reward_info=RewardInfo(reward=1.0, components={"DB": 1.0}, basis=["DB"]),
        termination="user_stop",
        timings={"total_s": 0.25},
    )


@pytest.mark.parametrize("record", [_episode(), Checker(source="def check(p):\n    return True\n"),
                                    RewardInfo(reward=0.0, unjudged=["NL_ASSERTION"])])
def test_boundary_records_round_trip(record):
    assert from_json(to_json(record), type(record)) == record
    assert from_msgpack(to_msgpack(record), type(record)) == record


def test_defaults_are_omitted_and_old_payloads_decode():
    # schema evolution: a record written before a field existed still decodes
    old = msgspec.json.encode({"task_id": "t", "messages": []})
    ep = from_json(old, Episode)
    assert ep.segments == [] and ep.reward is None
    assert b"segments" not in to_json(ep)
