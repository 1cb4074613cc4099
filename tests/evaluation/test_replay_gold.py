"""Gold replay: every task of every domain scores 1 on its reward basis (COMMUNICATE and NL_ASSERTION
excluded), and the negative controls score 0 exactly where the changed call matters."""

from __future__ import annotations

import json
import re

import pytest

from eigenfast.cli import main
from eigenfast.domains import load_tau2
from eigenfast.evaluation.replay import play, replay_task
from eigenfast.io import TornRecordWarning, read_records
from eigenfast.records import Action

DOMAINS = ["airline", "retail", "telecom", "mock"]


@pytest.fixture(scope="module", params=DOMAINS)
def domain(request, tau2_dir):
    return load_tau2(request.param, tau2_dir)


def test_every_gold_replay_scores_one(domain):
    failures = []
    for task in domain.tasks:
        record = replay_task(domain, task)
        if record.reward != 1.0:
            failures.append((task.id, record.components, record.details.get("error")))
    assert not failures, f"{len(failures)}/{len(domain.tasks)} failed, e.g. {failures[:3]}"


def test_gold_errors_are_replayed_as_errors(tau2_dir):
    """Some gold calls fail on purpose (lookups with wrong details, a refused exchange): the episode shows the
    error the agent would see, and the task still scores 1."""
    retail = load_tau2("retail", tau2_dir)
    failing_tasks = []
    for task in retail.tasks:
        messages = play(retail, task).messages
        errors = [(messages[i - 1].tool_calls[0], m) for i, m in enumerate(messages) if m.role == "tool" and m.error]
        for call, result in errors:
            assert result.content.startswith("Error: ") and result.tool_call_id == call.id
            env = retail.make_env(task)
            with pytest.raises(Exception, match=re.escape(result.content.removeprefix("Error: "))):
                env.call_raw(call.name, call.arguments, call.requestor)
        if errors:
            failing_tasks.append(task.id)
            assert replay_task(retail, task).reward == 1.0
    assert failing_tasks  # this data set holds 5 such calls in 3 tasks (upstream's full set: 18 in 15)


@pytest.mark.parametrize("control", ["drop", "perturb"])
def test_negative_controls_fail_where_they_should(domain, control):
    records = [replay_task(domain, task, control) for task in domain.tasks]
    unexpected = [(r.task_id, r.affected, r.reward, r.modified) for r in records if not r.ok]
    assert not unexpected, unexpected[:3]
    affected = [r for r in records if r.affected]
    assert affected, "the control changed nothing that matters in any task"
    assert all(r.reward == 0.0 for r in affected)
    assert all(r.reward == 1.0 for r in records if not r.affected)
    for r in affected:
        assert r.modified["change"] == ("dropped" if control == "drop" else "perturbed")


def test_perturbed_call_still_succeeds(tau2_dir):
    retail = load_tau2("retail", tau2_dir)
    from eigenfast.evaluation.replay import modified_actions

    changed = 0
    for task in retail.tasks[:15]:
        actions, info = modified_actions(retail, task, "perturb")
        if not info or info["change"] != "perturbed":
            continue
        episode = play(retail, task, actions)
        index = info["index"]
        result = episode.messages[2 * index + 1]
        assert not result.error, (task.id, info, result.content)
        assert isinstance(actions[index], Action) and actions[index].arguments != task.evaluation_criteria.actions[
            index].arguments
        changed += 1
    assert changed >= 5


def test_cli_prints_summary_writes_jsonl_and_resumes(tau2_dir, tmp_path, capsys):
    out = tmp_path / "results.jsonl"
    args = ["eval", "replay-gold", "--domain", "mock", "--data-dir", str(tau2_dir), "--out", str(out)]
    assert main(args) == 0
    assert capsys.readouterr().out.splitlines()[0] == (
        "replay-gold mock: 1 tasks, 1 reward=1 on the task's reward basis "
        "(COMMUNICATE and NL_ASSERTION excluded), 0 failed")
    lines = out.read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["reward"] == 1.0
    assert main(args) == 0  # resumed: nothing replayed twice
    assert len(out.read_text().splitlines()) == 1
    assert main(args + ["--drop-last-write"]) == 0
    printed = capsys.readouterr().out
    assert "1 affected scored 0 as expected" in printed
    assert len(out.read_text().splitlines()) == 2


def test_cli_fails_on_a_task_that_does_not_replay(tau2_dir, tmp_path, capsys):
    task = json.loads((tau2_dir / "mock" / "tasks.json").read_text())[0]
    task["initial_state"]["message_history"] = [
        {"role": "assistant", "content": None,
         "tool_calls": [{"id": "h1", "name": "update_task_status",
                         "arguments": {"task_id": "task_1", "status": "completed"}}]},
        {"role": "tool", "id": "h1", "tool_call_id": "h1", "content": "{\"forged\": true}"},
    ]
    tasks = tmp_path / "tasks.json"
    tasks.write_text(json.dumps([task]))
    code = main(["eval", "replay-gold", "--domain", "mock", "--data-dir", str(tau2_dir), "--tasks", str(tasks)])
    assert code == 1
    assert "1 tasks, 0 reward=1" in capsys.readouterr().out


def test_cli_usage_errors(tau2_dir, tmp_path):
    assert main(["eval", "replay-gold", "--domain", "nope", "--data-dir", str(tau2_dir)]) == 2
    assert main(["eval", "replay-gold", "--domain", "mock", "--data-dir", str(tmp_path)]) == 2
    assert main(["eval"]) == 2
    assert main(["eval", "replay-gold", "--domain", "mock", "--data-dir", str(tau2_dir), "--out", str(tmp_path / "r.txt")]) == 2


def test_cli_resumes_after_a_torn_last_line(tau2_dir, tmp_path, capsys):
    out = tmp_path / "results.jsonl"
    torn = b'{"domain": "mock", "task_id": "upd'  # a run killed mid-write
    out.write_bytes(torn)
    args = ["eval", "replay-gold", "--domain", "mock", "--data-dir", str(tau2_dir), "--out", str(out)]
    with pytest.warns(TornRecordWarning, match=r"\.torn"):
        assert main(args) == 0
    assert (tmp_path / "results.jsonl.torn").read_bytes() == torn  # moved aside, not lost
    assert [r["reward"] for r in read_records(out)] == [1.0]
    assert main(args) == 0  # resumed: not replayed twice
    assert len(list(read_records(out))) == 1


def test_cli_keeps_domains_apart_in_one_out_file(tau2_dir, tmp_path, capsys):
    """airline and retail share task ids ('11', ...): one domain's records never stand in for the other's."""
    out = tmp_path / "results.jsonl"
    for name in ("airline", "retail"):
        task = next(t for t in json.loads((tau2_dir / name / "tasks.json").read_text()) if t["id"] == "11")
        (tmp_path / f"{name}.json").write_text(json.dumps([task]))
    runs = [["eval", "replay-gold", "--domain", name, "--data-dir", str(tau2_dir), "--tasks",
             str(tmp_path / f"{name}.json"), "--out", str(out)] for name in ("airline", "retail")]
    for args in runs * 2:
        assert main(args) == 0
    assert sorted((r["domain"], r["task_id"]) for r in read_records(out)) == [("airline", "11"), ("retail", "11")]
