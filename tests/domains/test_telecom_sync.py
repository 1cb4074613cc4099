"""Telecom through the real loader and environment: the agent/user sync, the policy, and every task's gold
actions against its env assertions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eigenfast.domains.loader import Domain, load_tau2
from eigenfast.domains.telecom import policy

PHONE = {"name": "John Smith", "phone_number": "555-123-2002"}  # line L1002 of customer C1001


@pytest.fixture(scope="module")
def domain(tau2_dir: Path) -> Domain:
    return load_tau2("telecom", tau2_dir)


@pytest.fixture
def env(domain: Domain):
    env = domain.make_env()
    env.run_function("user", "set_user_info", PHONE)
    return env


def surroundings(env) -> dict:
    return env.user_db.data["surroundings"]


def bill(env, bill_id: str) -> dict:
    return next(b for b in env.agent_db.data["bills"] if b["bill_id"] == bill_id)


def test_sync_waits_for_the_phone_number(domain: Domain) -> None:
    env = domain.make_env()
    before = env.state_hash()
    env.sync()
    assert env.state_hash() == before
    assert surroundings(env)["roaming_allowed"] is False  # L1002 allows roaming, but no number is known yet


def test_sync_mirrors_line_state(env) -> None:
    assert (surroundings(env)["line_active"], surroundings(env)["roaming_allowed"]) == (True, True)
    result = env.call("disable_roaming", {"customer_id": "C1001", "line_id": "L1002"})
    assert result.content == "Roaming disabled successfully"
    assert surroundings(env)["roaming_allowed"] is False
    env.call("suspend_line", {"customer_id": "C1001", "line_id": "L1002", "reason": "x"})
    assert surroundings(env)["line_active"] is False
    env.call("reboot_device", {}, requestor="user")
    assert env.run_function("user", "assert_service_status", {"expected_status": "no_service"})
    env.call("resume_line", {"customer_id": "C1001", "line_id": "L1002"})
    env.call("toggle_airplane_mode", {}, requestor="user")
    env.call("toggle_airplane_mode", {}, requestor="user")
    assert env.run_function("user", "assert_service_status", {"expected_status": "connected"})


def test_sync_tracks_the_data_cap_including_refuels(env) -> None:
    env.run_function("assistant", "set_data_usage", {"customer_id": "C1001", "line_id": "L1002", "data_used_gb": 15.1})
    assert surroundings(env)["mobile_data_usage_exceeded"] is True
    assert env.run_function("user", "assert_mobile_data_status", {"expected_status": False})
    env.call("refuel_data", {"customer_id": "C1001", "line_id": "L1002", "gb_amount": 0.1})
    assert surroundings(env)["mobile_data_usage_exceeded"] is True  # 15.1 >= 15 + 0.1
    env.call("refuel_data", {"customer_id": "C1001", "line_id": "L1002", "gb_amount": 1.0})
    assert surroundings(env)["mobile_data_usage_exceeded"] is False
    assert env.run_function("user", "assert_mobile_data_status", {"expected_status": True})


def test_payment_round_trip(env) -> None:
    env.run_function("assistant", "suspend_line_for_overdue_bill",
                     {"customer_id": "C1001", "line_id": "L1002", "new_bill_id": "B77", "contract_ended": False})
    assert surroundings(env)["payment_request"] is None
    assert env.call("send_payment_request", {"customer_id": "C1001", "bill_id": "B77"}).content == (
        "Payment request sent to the customer for bill B77")
    assert surroundings(env)["payment_request"] == {"bill_id": "B77", "amount_due": 65.0, "paid": False}
    assert env.call("check_payment_request", {}, requestor="user").content == (
        "You have a payment request for bill B77 of 65.0 USD.")
    assert env.call("make_payment", {}, requestor="user").content == "Payment of 65.0 USD has been made for bill B77."
    assert bill(env, "B77")["status"] == "Paid"
    assert surroundings(env)["payment_request"] is None
    assert env.run_function("assistant", "assert_no_overdue_bill", {"overdue_bill_id": "B77"})
    env.call("resume_line", {"customer_id": "C1001", "line_id": "L1002"})
    assert surroundings(env)["line_active"] is True


def test_failed_calls_do_not_sync(env) -> None:
    env.user_db.edit("surroundings")["roaming_allowed"] = False  # out of step with the line on purpose
    result = env.call("enable_roaming", {"customer_id": "C1001", "line_id": "L404"})
    assert result.error and surroundings(env)["roaming_allowed"] is False
    env.call("check_status_bar", {}, requestor="user")
    assert surroundings(env)["roaming_allowed"] is True


def test_unknown_phone_number_makes_the_call_an_error(domain: Domain) -> None:
    env = domain.make_env()
    env.user_db.edit("surroundings")["phone_number"] = "555-000-0000"
    result = env.call("check_status_bar", {}, requestor="user")
    assert result.error and result.content == "Error: Line with phone number 555-000-0000 not found"


def test_sync_leaves_untouched_state_shared(env) -> None:
    user_root, agent_root = env.user_db.data, env.agent_db.data
    env.sync()
    env.call("check_network_status", {}, requestor="user")
    assert env.user_db.data is user_root and env.agent_db.data is agent_root


def test_bad_tool_calls_are_error_observations(env) -> None:
    for name, args, requestor in [("fly", {}, "assistant"), ("toggle_data", {"now": True}, "user"),
                                  ("refuel_data", '{"customer_id": "C1001"', "assistant"),
                                  ("refuel_data", {"customer_id": "C1001", "line_id": "L1002"}, "assistant"),
                                  ("get_bills_for_customer", {"customer_id": "C1001", "limit": "all"}, "assistant"),
                                  ("toggle_data", {}, "assistant")]:
        result = env.call(name, args, requestor)
        assert result.error and result.content.startswith("Error: "), (name, result)


@pytest.mark.parametrize("variant", [None, "workflow", "solo", "solo-workflow"])
def test_policy_assembly(tau2_dir: Path, variant: str | None) -> None:
    folder = tau2_dir / "telecom"
    files = {None: ("main_policy.md", "tech_support_manual.md"),
             "workflow": ("main_policy.md", "tech_support_workflow.md"),
             "solo": ("main_policy_solo.md", "tech_support_manual.md"),
             "solo-workflow": ("main_policy_solo.md", "tech_support_workflow_solo.md")}[variant]
    main, support = ((folder / f).read_text() for f in files)
    assert policy(folder, variant) == (f"<main_policy>\n{main}\n</main_policy>\n"
                                       f"<tech_support_policy>\n{support}\n</tech_support_policy>")
    with pytest.raises(ValueError, match="unknown telecom policy variant"):
        policy(folder, "banana")


def test_every_task_passes_with_its_gold_actions_and_fails_without(domain: Domain) -> None:
    """Gold actions make every env assertion hold; without them only the transfer-to-human tasks (whose
    assertions describe an unfixable phone) still hold."""
    failed, held_without_actions = [], []
    for task in domain.tasks:
        criteria = task.evaluation_criteria
        assertions = criteria.env_assertions or []
        for with_actions in (True, False):
            env = domain.make_env(task)
            if with_actions:
                for action in criteria.actions or []:
                    result = env.call(action.name, action.arguments, action.requestor)
                    assert not result.error, (task.id, action.name, result.content)
            passed = all(env.run_function(a.env_type, a.func_name, a.arguments) == a.assert_value
                         for a in assertions)
            if with_actions and not passed:
                failed.append(task.id)
            if not with_actions and passed:
                held_without_actions.append(task)
    assert failed == []
    assert len(domain.tasks) == 1156
    assert all(any(a.name == "transfer_to_human_agents" for a in t.evaluation_criteria.actions)
               for t in held_without_actions)
    assert len(held_without_actions) == 23


def test_gold_end_state_is_deterministic(domain: Domain) -> None:
    task = next(t for t in domain.tasks if any(a.name == "refuel_data" for a in t.evaluation_criteria.actions))
    hashes = set()
    for _ in range(2):
        env = domain.make_env(task)
        for action in task.evaluation_criteria.actions:
            env.call(action.name, action.arguments, action.requestor)
        hashes.add(env.state_hash())
    assert len(hashes) == 1
    assert json.loads(env.call("get_data_usage", {"customer_id": "C1001", "line_id": "L1002"}).content)[
        "data_refueling_gb"] == "2.0"
