"""Keep the phone's surroundings in step with the carrier's records (tau²'s `sync_tools`).

After every tool call tau²-bench copies, for the user's line: whether it is active, whether roaming is
allowed, whether the data cap (plan limit plus refuelled data) is used up; it settles a bill the user has
paid, and hands the user a payment request for the first bill awaiting payment. Nothing happens until the
scenario has told the phone its number (`set_user_info`).
"""

from __future__ import annotations

from typing import Any

from eigenfast.domains.store import Store
from eigenfast.domains.telecom.agent_tools import (
    bills_awaiting_payment,
    customer_by_phone,
    find,
    line_by_phone,
)


def sync(agent_db: Store, user_db: Store | None) -> None:
    """Propagate line state to the user's surroundings and payments between the two DBs."""
    if user_db is None:
        return
    around = user_db.data["surroundings"]
    phone_number = around["phone_number"]
    if phone_number is None:
        return
    db = agent_db.data
    line = line_by_phone(db, phone_number)[1]
    plan = find(db, "plans", "plan_id", line["plan_id"], "Plan")[1]
    changes: dict[str, Any] = {
        "line_active": line["status"] == "Active",
        "roaming_allowed": bool(line["roaming_enabled"]),
        "mobile_data_usage_exceeded": line["data_used_gb"] >= plan["data_limit_gb"] + line["data_refueling_gb"],
    }
    request = around["payment_request"]
    if request is not None and request["paid"]:
        index = find(db, "bills", "bill_id", request["bill_id"], "Bill")[0]
        agent_db.edit("bills", index)["status"] = "Paid"
        changes["payment_request"] = request = None
    if request is None:
        awaiting = bills_awaiting_payment(agent_db.data, customer_by_phone(agent_db.data, phone_number))
        if awaiting:
            bill = awaiting[0]
            changes["payment_request"] = {"bill_id": bill["bill_id"], "amount_due": float(bill["total_due"]),
                                          "paid": False}
    diff = {key: value for key, value in changes.items() if around[key] != value}
    if diff:
        user_db.edit("surroundings").update(diff)
