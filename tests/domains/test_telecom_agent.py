"""The telecom agent toolkit on tau²'s real telecom DB: results, each error path, DB effects, signatures."""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

import pytest
from tool_checks import ok

from eigenfast.domains.loader import parse_db_file
from eigenfast.domains.store import Base
from eigenfast.domains.telecom import AgentTools, UserTools
from eigenfast.domains.telecom.schema import SchemaError, complete_db, complete_user_db
from eigenfast.domains.toolkit import ToolResult

TYPE_NAMES = {str: "string", int: "integer", float: "number", bool: "boolean"}


@pytest.fixture(scope="module")
def telecom_dir(tau2_dir: Path) -> Path:
    return tau2_dir / "telecom"


@pytest.fixture(scope="module")
def base(telecom_dir: Path) -> Base:
    return Base(complete_db(parse_db_file(telecom_dir / "db.toml")))


@pytest.fixture
def kit(base: Base) -> AgentTools:
    return AgentTools(base.store())


def err(result: ToolResult) -> str:
    assert result.error, result.content
    return result.content


def row(kit: AgentTools, table: str, key: str, value: str) -> dict[str, Any]:
    return next(r for r in kit.db.data[table] if r[key] == value)


# ----------------------------------------------------------------------------------------- DB completion
def test_complete_db_fills_defaults_in_upstream_order(base: Base) -> None:
    line = row(AgentTools(base.store()), "lines", "line_id", "L1001")
    assert list(line) == ["line_id", "phone_number", "status", "plan_id", "device_id", "data_used_gb",
                          "data_refueling_gb", "roaming_enabled", "contract_end_date", "last_plan_change_date",
                          "last_sim_replacement_date", "suspension_start_date"]
    assert line["suspension_start_date"] is None and line["last_sim_replacement_date"] is None
    customer = row(AgentTools(base.store()), "customers", "customer_id", "C1001")
    assert customer["created_at"] == "2025-01-15 10:30:00"  # printed as tau² prints a datetime
    assert customer["last_extension_date"] is None
    assert base.data["phone_number_aliases"] == {}


def test_complete_db_rejects_unknown_and_missing_fields() -> None:
    plan = {"plan_id": "P1", "name": "x", "data_limit_gb": 1, "price_per_month": 2, "data_refueling_price_per_gb": 3}
    assert complete_db({"plans": [plan]})["plans"][0]["data_limit_gb"] == 1.0
    assert isinstance(complete_db({"plans": [plan]})["plans"][0]["price_per_month"], float)
    with pytest.raises(SchemaError, match="unknown field"):
        complete_db({"plans": [{**plan, "colour": "red"}]})
    with pytest.raises(SchemaError, match="missing required field 'name'"):
        complete_db({"plans": [{k: v for k, v in plan.items() if k != "name"}]})
    with pytest.raises(SchemaError, match="unknown table"):
        complete_db({"planes": []})


def test_complete_user_db_supplies_surroundings(telecom_dir: Path) -> None:
    user = complete_user_db(parse_db_file(telecom_dir / "user_db.toml"))
    assert user["surroundings"] == {
        "name": None, "phone_number": None, "is_abroad": False, "roaming_allowed": False,
        "signal_strength": {"2G": "poor", "3G": "fair", "4G": "good", "5G": "excellent"},
        "mobile_data_usage_exceeded": False, "line_active": True, "payment_request": None,
    }
    device = user["device"]
    assert device["vpn_details"] is None and device["wifi_ssid"] is None
    assert device["active_apn_settings"]["reset_at_reboot"] is False
    assert device["app_statuses"]["browser"]["permissions"] == {"sms": False, "storage": True, "phone": False,
                                                                "network": True}
    with pytest.raises(SchemaError):
        complete_user_db({"device": {"warp_drive": True}})


def test_completion_is_idempotent_and_fills_merged_records(telecom_dir: Path, base: Base) -> None:
    """The loader re-applies completion after merging a task's `initialization_data`."""
    assert complete_db(base.data) == base.data
    user = complete_user_db(parse_db_file(telecom_dir / "user_db.toml"))
    assert complete_user_db(user) == user
    user["device"]["vpn_details"] = {"server_address": "10.0.0.1"}
    user["surroundings"]["payment_request"] = {"bill_id": "B1", "amount_due": 3}
    merged = complete_user_db(user)
    assert merged["device"]["vpn_details"] == {"server_address": "10.0.0.1", "protocol": None,
                                               "server_performance": "unknown"}
    assert merged["surroundings"]["payment_request"] == {"bill_id": "B1", "amount_due": 3.0, "paid": False}


# ------------------------------------------------------------------------------------------ signatures
def _tau2_tools(telecom_dir: Path) -> list[dict[str, Any]]:
    return json.loads((telecom_dir.parent / "tools" / "telecom.json").read_text())


def _type_name(hint: Any) -> str:
    return TYPE_NAMES.get(hint, getattr(hint, "__name__", str(hint)))


def test_tool_names_params_and_mutation_match_tau2(telecom_dir: Path) -> None:
    expected = _tau2_tools(telecom_dir)
    agent = {t["name"]: t for t in expected if t["kind"] != "user"}
    user = {t["name"]: t for t in expected if t["kind"] == "user"}
    assert set(AgentTools.specs()) == set(agent)
    assert set(UserTools.specs()) == set(user)
    for toolkit, wanted in ((AgentTools, agent), (UserTools, user)):
        for name, spec in toolkit.specs().items():
            entry = wanted[name]
            assert spec.mutates_state == entry["mutates_state"], name
            assert spec.kind == entry.get("user_tool_type", entry["kind"]), name
            params = spec.signature.parameters
            assert [p["name"] for p in entry["params"]] == list(params), name
            for p in entry["params"]:
                required = params[p["name"]].default is inspect.Parameter.empty
                assert required == p["required"], (name, p["name"])
                tau2_type = p["type"].split(" | ")[-1].removeprefix("object:")
                assert _type_name(spec.hints[p["name"]]) == tau2_type, (name, p["name"])
            assert "Args:" in spec.doc or not params, name


def test_functions_cover_every_task_call(telecom_dir: Path) -> None:
    tasks = json.loads((telecom_dir / "tasks.json").read_text())
    kits = {"assistant": AgentTools, "user": UserTools}
    for task in tasks:
        calls = (task["initial_state"] or {}).get("initialization_actions") or []
        calls += task["evaluation_criteria"].get("env_assertions") or []
        for call in calls:
            kit = kits[call["env_type"]]
            assert call["func_name"] in kit.functions() or kit.has_tool(call["func_name"]), call["func_name"]


# ------------------------------------------------------------------------------------------- lookups
def test_get_customer_by_phone_matches_contact_and_line_numbers(kit: AgentTools) -> None:
    assert ok(kit.call("get_customer_by_phone", {"phone_number": "555-123-2002"}))["customer_id"] == "C1001"
    assert ok(kit.call("get_customer_by_phone", {"phone_number": "(555) 123 2001"}))["customer_id"] == "C1001"
    assert ok(kit.call("get_customer_by_phone", {"phone_number": "5551231003"}))["customer_id"] == "C1003"
    assert err(kit.call("get_customer_by_phone", {"phone_number": "555-000-0000"})) == (
        "Error: Customer with phone number 555-000-0000 not found")
    assert err(kit.call("get_customer_by_phone", {"phone_number": "call me"})) == (
        "Error: Customer with phone number call me not found")


def test_customer_record_is_shown_complete(kit: AgentTools) -> None:
    shown = kit.call("get_customer_by_id", {"customer_id": "C1002"}).content
    assert shown.startswith('{"customer_id": "C1002", "full_name": "Sarah Johnson", "date_of_birth": "1990-11-22"')
    assert '"created_at": "2025-02-10 14:15:00", "last_extension_date": "2025-01-05"' in shown
    assert err(kit.call("get_customer_by_id", {"customer_id": "C9"})) == "Error: Customer with ID C9 not found"


def test_get_customer_by_name_folds_case_and_accents(kit: AgentTools) -> None:
    assert [c["customer_id"] for c in ok(kit.call("get_customer_by_name",
                                                   {"full_name": " jÓhn smith", "dob": "1985-06-15"}))] == ["C1001"]
    assert ok(kit.call("get_customer_by_name", {"full_name": "John Smith", "dob": "1985-06-16"})) == []


@pytest.mark.parametrize(("ident", "field"), [("L1001", "line_id"), ("D1002", "device_id"), ("B1005", "bill_id"),
                                              ("C1004", "customer_id"), ("P1003", "plan_id")])
def test_get_details_by_id_dispatches_on_prefix(kit: AgentTools, ident: str, field: str) -> None:
    assert ok(kit.call("get_details_by_id", {"id": ident}))[field] == ident


def test_get_details_by_id_errors(kit: AgentTools) -> None:
    assert err(kit.call("get_details_by_id", {"id": "L42"})) == "Error: Line with ID L42 not found"
    assert err(kit.call("get_details_by_id", {"id": "D42"})) == "Error: Device with ID D42 not found"
    assert err(kit.call("get_details_by_id", {"id": "X1"})) == "Error: Unknown ID format or type: X1"
    device = ok(kit.call("get_details_by_id", {"id": "D1002"}))
    assert device["last_esim_transfer_date"] == "2025-01-20 09:30:00"


# ---------------------------------------------------------------------------------------------- lines
def test_suspend_line_sets_status_and_date(kit: AgentTools, base: Base) -> None:
    out = ok(kit.call("suspend_line", {"customer_id": "C1001", "line_id": "L1001", "reason": "travel"}))
    assert out["message"] == "Line suspended successfully. $5/month holding fee will apply."
    assert out["line"]["status"] == "Suspended" and out["line"]["suspension_start_date"] == "2025-02-25"
    assert row(kit, "lines", "line_id", "L1001")["status"] == "Suspended"
    assert next(r for r in base.data["lines"] if r["line_id"] == "L1001")["status"] == "Active"  # base untouched
    assert err(kit.call("suspend_line", {"customer_id": "C1001", "line_id": "L1001", "reason": "x"})) == (
        "Error: Line must be active to suspend")


def test_line_ownership_is_checked_first(kit: AgentTools) -> None:
    before = kit.db.hash()
    assert err(kit.call("suspend_line", {"customer_id": "C1001", "line_id": "L1004", "reason": "x"})) == (
        "Error: Line L1004 not found for customer C1001")
    assert err(kit.call("resume_line", {"customer_id": "C7", "line_id": "L1004"})) == (
        "Error: Customer with ID C7 not found")
    assert kit.db.hash() == before


def test_resume_line_clears_suspension(kit: AgentTools) -> None:
    assert err(kit.call("resume_line", {"customer_id": "C1001", "line_id": "L1001"})) == (
        "Error: Line must be suspended to resume")
    out = ok(kit.call("resume_line", {"customer_id": "C1001", "line_id": "L1003"}))
    assert out == {"message": "Line resumed successfully", "line": {**out["line"], "status": "Active",
                                                                  "suspension_start_date": None}}
    assert row(kit, "lines", "line_id", "L1003")["status"] == "Active"


def test_suspend_then_resume_restores_the_state_hash(kit: AgentTools) -> None:
    """Writing a default value back equals never writing it (fields are complete from the start)."""
    before = kit.db.hash()
    ok(kit.call("suspend_line", {"customer_id": "C1001", "line_id": "L1001", "reason": "x"}))
    assert kit.db.hash() != before
    ok(kit.call("resume_line", {"customer_id": "C1001", "line_id": "L1001"}))
    assert kit.db.hash() == before


# -------------------------------------------------------------------------------------------- billing
def test_get_bills_for_customer_newest_first_with_limit(kit: AgentTools) -> None:
    bills = ok(kit.call("get_bills_for_customer", {"customer_id": "C1001"}))
    assert [b["bill_id"] for b in bills] == ["B1003", "B1002", "B1001"]
    assert [b["bill_id"] for b in ok(kit.call("get_bills_for_customer", {"customer_id": "C1001", "limit": 1}))] == [
        "B1003"]
    assert err(kit.call("get_bills_for_customer", {"customer_id": "C0"})) == "Error: Customer with ID C0 not found"


def test_send_payment_request(kit: AgentTools) -> None:
    assert err(kit.call("send_payment_request", {"customer_id": "C1001", "bill_id": "B1005"})) == (
        "Error: Bill B1005 not found for customer C1001")
    assert ok(kit.call("send_payment_request", {"customer_id": "C1001", "bill_id": "B1002"})) == (
        "Payment request sent to the customer for bill B1002")
    assert row(kit, "bills", "bill_id", "B1002")["status"] == "Awaiting Payment"
    assert err(kit.call("send_payment_request", {"customer_id": "C1001", "bill_id": "B1001"})) == (
        "Error: A bill is already awaiting payment for this customer")
    assert row(kit, "bills", "bill_id", "B1001")["status"] == "Paid"


# ---------------------------------------------------------------------------------- data and roaming
def test_get_data_usage_shows_numbers_as_tau2_does(kit: AgentTools) -> None:
    assert ok(kit.call("get_data_usage", {"customer_id": "C1001", "line_id": "L1002"})) == {
        "line_id": "L1002", "data_used_gb": "8.7", "data_limit_gb": "15.0", "data_refueling_gb": "0.0",
        "cycle_end_date": "2025-02-28"}
    assert err(kit.call("get_data_usage", {"customer_id": "C1001", "line_id": "L9"})) == (
        "Error: Line L9 not found for customer C1001")


def test_roaming_toggles_and_reports_no_op(kit: AgentTools) -> None:
    args = {"customer_id": "C1001", "line_id": "L1001"}
    assert ok(kit.call("disable_roaming", args)) == "Roaming was already disabled"
    unchanged = kit.db.hash()
    assert ok(kit.call("enable_roaming", args)) == "Roaming enabled successfully"
    assert row(kit, "lines", "line_id", "L1001")["roaming_enabled"] is True
    assert ok(kit.call("enable_roaming", args)) == "Roaming was already enabled"
    assert ok(kit.call("disable_roaming", args)) == "Roaming disabled successfully"
    assert kit.db.hash() == unchanged
    assert err(kit.call("enable_roaming", {"customer_id": "C1002", "line_id": "L1001"})) == (
        "Error: Line L1001 not found for customer C1002")


def test_refuel_data_charges_the_draft_bill(kit: AgentTools) -> None:
    out = ok(kit.call("refuel_data", {"customer_id": "C1001", "line_id": "L1002", "gb_amount": 2}))
    assert out == {"message": "Successfully added 2.0 GB of data for line L1002 for $4.00",
                   "new_data_refueling_gb": "2.0", "charge": "4.0"}
    assert row(kit, "lines", "line_id", "L1002")["data_refueling_gb"] == 2.0
    draft = row(kit, "bills", "bill_id", "B1003")
    assert draft["total_due"] == 4.0
    assert draft["line_items"] == [{"description": "Data refueling: 2.0 GB at $2.0/GB", "amount": 4.0,
                                    "date": "2025-02-25", "item_type": "Charge"}]
    assert kit.call_function("assert_data_refueling_amount",
                             {"customer_id": "C1001", "line_id": "L1002", "expected_amount": 2.0}) is True
    assert err(kit.call("refuel_data", {"customer_id": "C1001", "line_id": "L1002", "gb_amount": 0})) == (
        "Error: Refuel amount must be positive")
    assert err(kit.call("refuel_data", {"customer_id": "C1001", "line_id": "L1002", "gb_amount": "lots"}))


def test_refuel_opens_a_deterministic_draft_bill(base: Base) -> None:
    kits = [AgentTools(base.store()) for _ in range(2)]
    for k in kits:
        ok(k.call("refuel_data", {"customer_id": "C1002", "line_id": "L1004", "gb_amount": 1.5}))
    assert kits[0].db.hash() == kits[1].db.hash()
    customer = row(kits[0], "customers", "customer_id", "C1002")
    new_id = customer["bill_ids"][-1]
    assert new_id not in {b["bill_id"] for b in base.data["bills"]}
    bill = row(kits[0], "bills", "bill_id", new_id)
    assert (bill["status"], bill["period_start"], bill["period_end"], bill["due_date"]) == (
        "Draft", "2025-03-01", "2025-03-31", "2025-03-15")
    assert bill["total_due"] == pytest.approx(0.15)


def test_transfer_to_human_agents(kit: AgentTools) -> None:
    before = kit.db.hash()
    assert ok(kit.call("transfer_to_human_agents", {"summary": "cannot fix"})) == "Transfer successful"
    assert kit.db.hash() == before
    assert err(kit.call("transfer_to_human_agents", {}))


# ------------------------------------------------------------------------------ helpers and assertions
def test_set_data_usage(kit: AgentTools) -> None:
    assert kit.call_function("set_data_usage", {"customer_id": "C1001", "line_id": "L1002",
                                                "data_used_gb": 15.1}) == "Data usage set to 15.1 GB for line L1002"
    assert row(kit, "lines", "line_id", "L1002")["data_used_gb"] == 15.1


def test_suspend_line_for_overdue_bill(kit: AgentTools) -> None:
    args = {"customer_id": "C1001", "line_id": "L1002", "new_bill_id": "B1234321", "contract_ended": True}
    assert kit.call_function("suspend_line_for_overdue_bill", args) == (
        "Line L1002 suspended for unpaid bill B1234321. Contract ended: True")
    bill = row(kit, "bills", "bill_id", "B1234321")
    assert bill == {"bill_id": "B1234321", "customer_id": "C1001", "period_start": "2025-01-01",
                    "period_end": "2025-01-31", "issue_date": "2025-01-01", "total_due": 65.0,
                    "due_date": "2025-01-15",
                    "line_items": [{"description": "Charge for line L1002", "amount": 65.0, "date": "2025-02-25",
                                    "item_type": "Charge"}],
                    "status": "Overdue"}
    line = row(kit, "lines", "line_id", "L1002")
    assert (line["status"], line["suspension_start_date"], line["contract_end_date"]) == (
        "Suspended", "2025-02-25", "2025-01-31")
    assert kit.call_function("assert_overdue_bill_exists", {"customer_id": "C1001", "overdue_bill_id": "B1234321"})
    assert kit.call_function("assert_no_overdue_bill", {"overdue_bill_id": "B1234321"}) is False
    assert kit.call_function("assert_line_status", {"customer_id": "C1001", "line_id": "L1002",
                                                    "expected_status": "Suspended"}) is True
    with pytest.raises(Exception, match="Line must be active to suspend for unpaid bill"):
        kit.call_function("suspend_line_for_overdue_bill", args)


def test_assert_no_overdue_bill_for_missing_or_paid_bills(kit: AgentTools) -> None:
    assert kit.call_function("assert_no_overdue_bill", {"overdue_bill_id": "B404"}) is True
    assert kit.call_function("assert_no_overdue_bill", {"overdue_bill_id": "B1001"}) is True
    assert kit.call_function("assert_no_overdue_bill", {"overdue_bill_id": "B1005"}) is False
    assert kit.call_function("get_available_plan_ids") == ["P1001", "P1002", "P1003", "P1004", "P1005"]
