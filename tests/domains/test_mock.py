"""The tau² `mock` domain, tool by tool: results, error paths and DB effects, on both toolkits."""

from __future__ import annotations

import json

import pytest

from eigenfast.domains import load_tau2
from eigenfast.records import ToolCall


@pytest.fixture
def domain(tau2_dir):
    return load_tau2("mock", tau2_dir)


@pytest.fixture
def env(domain):
    return domain.make_env()


def call(env, name, requestor="assistant", **arguments):
    return env.call_tool(ToolCall(id="t", name=name, arguments=arguments, requestor=requestor))


def test_create_task_adds_a_pending_task_and_links_it(env):
    msg = call(env, "create_task", user_id="user_1", title="Write report")
    assert not msg.error
    assert json.loads(msg.content) == {"task_id": "task_2", "title": "Write report", "description": None,
                                       "status": "pending"}
    assert env.agent_db.data["users"]["user_1"]["tasks"] == ["task_1", "task_2"]
    assert call(env, "create_task", user_id="user_1", title="t", description="d").content.count("task_3") == 1


def test_create_task_for_unknown_user_fails_without_writing(env):
    before = env.state_hash()
    msg = call(env, "create_task", user_id="ghost", title="x")
    assert msg.error and msg.content == "Error: User ghost not found"
    assert env.state_hash() == before


def test_update_task_status(env):
    msg = call(env, "update_task_status", task_id="task_1", status="completed")
    assert json.loads(msg.content)["status"] == "completed"
    assert env.agent_db.data["tasks"]["task_1"]["status"] == "completed"
    assert call(env, "update_task_status", task_id="task_9", status="pending").content == "Error: Task task_9 not found"
    bad = call(env, "update_task_status", task_id="task_1", status="archived")
    assert bad.error and "status" in bad.content
    assert env.agent_db.data["tasks"]["task_1"]["status"] == "completed"


def test_reads_and_transfer_do_not_write(env, domain):
    before = env.state_hash()
    users = json.loads(call(env, "get_users").content)
    assert users == [{"user_id": "user_1", "name": "Test User", "tasks": ["task_1"]}]
    assert call(env, "transfer_to_human_agents", summary="wants deletion").content == "Transfer successful"
    assert env.state_hash() == before
    kit = domain.spec.agent_tools
    assert [kit.mutates(n) for n in ("create_task", "get_users", "update_task_status", "transfer_to_human_agents")] \
        == [True, False, True, False]


def test_user_tools_act_on_the_user_db_only(env):
    agent_before = env.agent_db.hash()
    listed = json.loads(call(env, "check_notifications", requestor="user").content)
    assert [n["notification_id"] for n in listed] == ["notif_1"]
    assert call(env, "dismiss_notification", "user", notification_id="notif_1").content == \
        "Notification notif_1 dismissed"
    assert env.user_db.data["notifications"]["notif_1"]["status"] == "dismissed"
    assert env.agent_db.hash() == agent_before
    missing = call(env, "dismiss_notification", "user", notification_id="nope")
    assert missing.error and missing.content == "Error: Notification nope not found"
    # The agent cannot reach user tools, nor the user agent tools.
    assert call(env, "check_notifications").error
    assert call(env, "get_users", requestor="user").error


def test_task_initialization_data_is_deep_merged(domain):
    env = domain.make_env(domain.tasks[0])
    assert env.agent_db.data["tasks"]["task_2"]["title"] == "Project Review"
    assert env.agent_db.data["tasks"]["task_1"]["status"] == "pending"  # merged, not replaced
    assert env.agent_db.data["users"]["user_1"] == {"user_id": "user_1", "name": "Test User",
                                                    "tasks": ["task_1", "task_2"]}
    assert "task_2" not in domain.make_env().agent_db.data["tasks"]


def test_message_history_in_tau2_format_is_replayed(tau2_dir, tmp_path):
    """tau² writes a tool result's call id as `id`; the history's writes are applied and checked."""
    from eigenfast.records import load_tasks

    raw = json.loads((tau2_dir / "mock" / "tasks.json").read_text())[0]
    result = {"task_id": "task_2", "title": "Project Review", "description": "Review Q4 project status",
              "status": "completed"}
    raw["initial_state"]["message_history"] = [
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "h1", "name": "update_task_status", "arguments": {"task_id": "task_2", "status": "completed"},
             "requestor": "assistant"}]},
        {"role": "tool", "id": "h1", "content": json.dumps(result), "requestor": "assistant"},
    ]
    path = tmp_path / "tasks.json"
    path.write_text(json.dumps([raw]))
    domain = load_tau2("mock", tau2_dir, tasks_file=path)
    env = domain.make_env(domain.tasks[0])
    assert env.agent_db.data["tasks"]["task_2"]["status"] == "completed"
    raw["initial_state"]["message_history"][1]["content"] = json.dumps({**result, "status": "pending"})
    path.write_text(json.dumps([raw]))
    with pytest.raises(ValueError, match="recorded"):
        load_tau2("mock", tau2_dir, tasks_file=path).make_env(load_tasks(str(path))[0])
