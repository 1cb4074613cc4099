"""The telecom agent's tools (customer service back office) and the agent-side task helpers.

State is tau²'s `db.toml` completed by `schema.complete_db`: lists of plans, customers, lines, bills and
devices. Checks run in tau²-bench's order, so an agent sees the same first error; the clock is frozen at
tau²'s 2025-02-25. Numbers in a tool's own result dict are shown as text (`"2.0"`), because tau²'s
result serialiser stringifies plain numbers outside records; records keep them as numbers. tau² names a new draft bill with a random uuid; here the id is derived from the
customer and the bill count, so two environments given the same calls end in the same state.
"""

from __future__ import annotations

import hashlib
from datetime import date, timedelta
from functools import lru_cache
from typing import Any

from eigenfast.domains.matching import fold
from eigenfast.domains.toolkit import ToolError, Toolkit, function, tool

TODAY = date(2025, 2, 25)  # tau²'s frozen "today" for the telecom domain
ID_TABLES = (("L", "lines", "line_id", "Line"), ("D", "devices", "device_id", "Device"),
             ("B", "bills", "bill_id", "Bill"), ("C", "customers", "customer_id", "Customer"),
             ("P", "plans", "plan_id", "Plan"))


# ------------------------------------------------------------------------------ lookups on the plain DB
@lru_cache(maxsize=4096)
def phone_digits(phone_number: str) -> str:
    """A phone number's digits only: '555-123-2002', '(555) 123 2002' and '5551232002' are one number."""
    return "".join(ch for ch in phone_number if ch.isdigit())


def find(db: dict[str, Any], table: str, key: str, value: str, kind: str) -> tuple[int, dict[str, Any]]:
    """(position, record) of the row of `table` whose `key` is `value`; ToolError naming `kind` if absent."""
    for i, row in enumerate(db[table]):
        if row[key] == value:
            return i, row
    raise ToolError(f"{kind} with ID {value} not found")


def customer_by_phone(db: dict[str, Any], phone_number: str) -> dict[str, Any]:
    """The first customer whose contact number, or one of whose lines' numbers, is `phone_number`."""
    wanted = phone_digits(phone_number)
    if wanted:
        for customer in db["customers"]:
            if phone_digits(customer["phone_number"]) == wanted:
                return customer
            for line_id in customer["line_ids"]:
                if phone_digits(find(db, "lines", "line_id", line_id, "Line")[1]["phone_number"]) == wanted:
                    return customer
    raise ToolError(f"Customer with phone number {phone_number} not found")


def line_by_phone(db: dict[str, Any], phone_number: str) -> tuple[int, dict[str, Any]]:
    """The line with this number, after mapping a localised alias to its canonical number."""
    wanted = phone_digits(phone_number)
    for alias, canonical in db["phone_number_aliases"].items():
        if phone_digits(alias) == wanted:
            wanted = phone_digits(canonical)
            break
    if wanted:
        for i, line in enumerate(db["lines"]):
            if phone_digits(line["phone_number"]) == wanted:
                return i, line
    raise ToolError(f"Line with phone number {phone_number} not found")


def bills_awaiting_payment(db: dict[str, Any], customer: dict[str, Any]) -> list[dict[str, Any]]:
    bills = (find(db, "bills", "bill_id", bill_id, "Bill")[1] for bill_id in customer["bill_ids"])
    return [bill for bill in bills if bill["status"] == "Awaiting Payment"]


def first_of_next_month(day: date) -> date:
    return (day.replace(day=1) + timedelta(days=32)).replace(day=1)


class AgentTools(Toolkit):
    """Customer, line, billing and roaming operations available to the telecom support agent."""

    # --------------------------------------------------------------------------------------- helpers
    def _customer(self, customer_id: str) -> tuple[int, dict[str, Any]]:
        return find(self.db.data, "customers", "customer_id", customer_id, "Customer")

    def _target_line(self, customer_id: str, line_id: str) -> tuple[int, dict[str, Any]]:
        """The customer's own line (tau²'s ownership check comes before the line lookup)."""
        if line_id not in self._customer(customer_id)[1]["line_ids"]:
            raise ToolError(f"Line {line_id} not found for customer {customer_id}")
        return find(self.db.data, "lines", "line_id", line_id, "Line")

    def _plan(self, plan_id: str) -> dict[str, Any]:
        return find(self.db.data, "plans", "plan_id", plan_id, "Plan")[1]

    def _bill(self, bill_id: str) -> tuple[int, dict[str, Any]]:
        return find(self.db.data, "bills", "bill_id", bill_id, "Bill")

    def _edit_line(self, index: int, **changes: Any) -> dict[str, Any]:
        line = self.db.edit("lines", index)
        line.update(changes)
        return line

    def _set_roaming(self, customer_id: str, line_id: str, enabled: bool) -> str:
        index, line = self._target_line(customer_id, line_id)
        state = "enabled" if enabled else "disabled"
        if line["roaming_enabled"] == enabled:
            return f"Roaming was already {state}"
        self._edit_line(index, roaming_enabled=enabled)
        return f"Roaming {state} successfully"

    def _new_bill_id(self, customer_id: str) -> str:
        """A fresh 'B' + 8 hex id, fixed by the customer and the number of bills so far."""
        taken = {bill["bill_id"] for bill in self.db.data["bills"]}
        salt = len(taken)
        while True:
            digest = hashlib.blake2b(f"{customer_id}:{salt}".encode(), digest_size=4).hexdigest()
            if f"B{digest}" not in taken:
                return f"B{digest}"
            salt += 1

    def _apply_one_time_charge(self, customer_id: str, amount: float, description: str) -> None:
        """Add a charge (or credit, if negative) to the customer's draft bill, opening one if there is none."""
        c_index, customer = self._customer(customer_id)
        draft = None
        for bill_id in customer["bill_ids"]:
            index, bill = self._bill(bill_id)
            if bill["status"] == "Draft":
                draft = index
                break
        if draft is None:
            start = first_of_next_month(TODAY)
            bill_id = self._new_bill_id(customer_id)
            self.db.edit("bills").append({
                "bill_id": bill_id, "customer_id": customer_id, "period_start": start.isoformat(),
                "period_end": (first_of_next_month(start) - timedelta(days=1)).isoformat(),
                "issue_date": start.isoformat(), "total_due": 0, "due_date": (start + timedelta(days=14)).isoformat(),
                "line_items": [], "status": "Draft",
            })
            self.db.edit("customers", c_index, "bill_ids").append(bill_id)
            draft = len(self.db.data["bills"]) - 1
        self.db.edit("bills", draft, "line_items").append({
            "description": description, "amount": amount, "date": TODAY.isoformat(),
            "item_type": "Credit" if amount < 0 else "Charge",
        })
        bill = self.db.edit("bills", draft)
        bill["total_due"] += amount

    # ---------------------------------------------------------------------------------------- lookups
    @tool("read")
    def get_customer_by_phone(self, phone_number: str) -> dict[str, Any]:
        """Look up a customer by their contact number or by the number of one of their lines.

        Args:
            phone_number: The phone number to look up; punctuation and spacing are ignored.
        """
        return customer_by_phone(self.db.data, phone_number)

    @tool("read")
    def get_customer_by_id(self, customer_id: str) -> dict[str, Any]:
        """Fetch a customer record by its customer ID.

        Args:
            customer_id: The customer's unique ID, e.g. 'C1001'.
        """
        return self._customer(customer_id)[1]

    @tool("read")
    def get_customer_by_name(self, full_name: str, dob: str) -> list[dict[str, Any]]:
        """Find customers by full name and date of birth; returns every match (possibly none).

        Args:
            full_name: The customer's full name (case and accents are ignored).
            dob: The customer's date of birth as YYYY-MM-DD; it must match exactly.
        """
        wanted = fold(full_name)
        return [c for c in self.db.data["customers"] if fold(c["full_name"]) == wanted and c["date_of_birth"] == dob]

    @tool("read")
    def get_details_by_id(self, id: str) -> dict[str, Any]:
        """Fetch the record behind any ID: a customer (C...), line (L...), device (D...), bill (B...) or plan (P...).

        Args:
            id: The ID to look up; its first letter says which kind of record it is.
        """
        for prefix, table, key, kind in ID_TABLES:
            if id.startswith(prefix):
                return find(self.db.data, table, key, id, kind)[1]
        raise ToolError(f"Unknown ID format or type: {id}")

    # ------------------------------------------------------------------------------------------ lines
    @tool("write")
    def suspend_line(self, customer_id: str, line_id: str, reason: str) -> dict[str, Any]:
        """Suspend an active line of the customer (for at most 6 months; a $5/month holding fee applies).

        Args:
            customer_id: The ID of the customer who owns the line.
            line_id: The ID of the line to suspend.
            reason: Why the line is being suspended.
        """
        index, line = self._target_line(customer_id, line_id)
        if line["status"] != "Active":
            raise ToolError("Line must be active to suspend")
        line = self._edit_line(index, status="Suspended", suspension_start_date=TODAY.isoformat())
        return {"message": "Line suspended successfully. $5/month holding fee will apply.", "line": line}

    @tool("write")
    def resume_line(self, customer_id: str, line_id: str) -> dict[str, Any]:
        """Reactivate a suspended (or pending-activation) line of the customer.

        Args:
            customer_id: The ID of the customer who owns the line.
            line_id: The ID of the line to resume.
        """
        index, line = self._target_line(customer_id, line_id)
        if line["status"] not in ("Suspended", "Pending Activation"):
            raise ToolError("Line must be suspended to resume")
        line = self._edit_line(index, status="Active", suspension_start_date=None)
        return {"message": "Line resumed successfully", "line": line}

    # ---------------------------------------------------------------------------------------- billing
    @tool("read")
    def get_bills_for_customer(self, customer_id: str, limit: int = 12) -> list[dict[str, Any]]:
        """List the customer's bills, newest issue date first.

        Args:
            customer_id: The ID of the customer.
            limit: The most bills to return (default 12).
        """
        customer = self._customer(customer_id)[1]
        bills = [self._bill(bill_id)[1] for bill_id in customer["bill_ids"]]
        return sorted(bills, key=lambda bill: bill["issue_date"], reverse=True)[:limit]

    @tool("write")
    def send_payment_request(self, customer_id: str, bill_id: str) -> str:
        """Ask the customer to pay one of their bills; the bill then awaits payment.

        Only one bill per customer may await payment at a time. This does not check whether the bill is
        already paid, so check the bill's status first.

        Args:
            customer_id: The ID of the customer who owns the bill.
            bill_id: The ID of the bill to request payment for.
        """
        customer = self._customer(customer_id)[1]
        if bills_awaiting_payment(self.db.data, customer):
            raise ToolError("A bill is already awaiting payment for this customer")
        if bill_id not in customer["bill_ids"]:
            raise ToolError(f"Bill {bill_id} not found for customer {customer_id}")
        index, _ = self._bill(bill_id)
        self.db.edit("bills", index)["status"] = "Awaiting Payment"
        return f"Payment request sent to the customer for bill {bill_id}"

    # ----------------------------------------------------------------------------------- data and roaming
    @tool("read")
    def get_data_usage(self, customer_id: str, line_id: str) -> dict[str, Any]:
        """Show a line's data use this billing cycle, its plan's limit, any refuelled data and the cycle's end.

        Args:
            customer_id: The ID of the customer who owns the line.
            line_id: The ID of the line.
        """
        line = self._target_line(customer_id, line_id)[1]
        plan = self._plan(line["plan_id"])
        return {
            "line_id": line_id,
            "data_used_gb": str(line["data_used_gb"]),
            "data_limit_gb": str(plan["data_limit_gb"]),
            "data_refueling_gb": str(line["data_refueling_gb"]),
            "cycle_end_date": (first_of_next_month(TODAY) - timedelta(days=1)).isoformat(),
        }

    @tool("write")
    def enable_roaming(self, customer_id: str, line_id: str) -> str:
        """Turn on international roaming for a line of the customer.

        Args:
            customer_id: The ID of the customer who owns the line.
            line_id: The ID of the line.
        """
        return self._set_roaming(customer_id, line_id, True)

    @tool("write")
    def disable_roaming(self, customer_id: str, line_id: str) -> str:
        """Turn off international roaming for a line of the customer.

        Args:
            customer_id: The ID of the customer who owns the line.
            line_id: The ID of the line.
        """
        return self._set_roaming(customer_id, line_id, False)

    @tool("write")
    def refuel_data(self, customer_id: str, line_id: str, gb_amount: float) -> dict[str, Any]:
        """Add extra data to a line for this cycle, charged to the customer's next bill at the plan's rate.

        Args:
            customer_id: The ID of the customer who owns the line.
            line_id: The ID of the line to refuel.
            gb_amount: How many gigabytes to add; must be positive.
        """
        gb_amount = float(gb_amount)
        index, line = self._target_line(customer_id, line_id)
        if gb_amount <= 0:
            raise ToolError("Refuel amount must be positive")
        price = self._plan(line["plan_id"])["data_refueling_price_per_gb"]
        charge = gb_amount * price
        line = self._edit_line(index, data_refueling_gb=line["data_refueling_gb"] + gb_amount)
        self._apply_one_time_charge(customer_id, charge, f"Data refueling: {gb_amount} GB at ${price}/GB")
        return {
            "message": f"Successfully added {gb_amount} GB of data for line {line_id} for ${charge:.2f}",
            "new_data_refueling_gb": str(line["data_refueling_gb"]),
            "charge": str(charge),
        }

    @tool("generic")
    def transfer_to_human_agents(self, summary: str) -> str:
        """Hand the conversation to a human agent, with a summary of the issue.

        Transfer only when the user explicitly asks for a human, or when the policy and these tools cannot
        resolve the issue.

        Args:
            summary: A short summary of the user's issue.
        """
        return "Transfer successful"

    # ------------------------------------------------------------------------- task helpers (not tools)
    @function
    def get_available_plan_ids(self) -> list[str]:
        """Every plan ID in the DB."""
        return [plan["plan_id"] for plan in self.db.data["plans"]]

    @function
    def set_data_usage(self, customer_id: str, line_id: str, data_used_gb: float) -> str:
        """Set a line's data used this cycle (scenario set-up)."""
        index, _ = self._target_line(customer_id, line_id)
        self._edit_line(index, data_used_gb=float(data_used_gb))
        return f"Data usage set to {data_used_gb} GB for line {line_id}"

    @function
    def suspend_line_for_overdue_bill(self, customer_id: str, line_id: str, new_bill_id: str,
                                      contract_ended: bool) -> str:
        """Scenario set-up: bill last month's plan price as overdue and suspend the line for it."""
        index, line = find(self.db.data, "lines", "line_id", line_id, "Line")
        if line["status"] != "Active":
            raise ToolError("Line must be active to suspend for unpaid bill")
        amount = self._plan(line["plan_id"])["price_per_month"]
        if amount <= 0:
            raise ToolError("Amount must be positive for overdue bill")
        c_index, customer = self._customer(customer_id)
        if any(self._bill(bill_id)[1]["status"] == "Overdue" for bill_id in customer["bill_ids"]):
            raise ToolError("Customer already has an overdue bill")
        last_day = TODAY.replace(day=1) - timedelta(days=1)
        first_day = last_day.replace(day=1)
        self.db.edit("bills").append({
            "bill_id": new_bill_id, "customer_id": customer_id, "period_start": first_day.isoformat(),
            "period_end": last_day.isoformat(), "issue_date": first_day.isoformat(), "total_due": 0 + amount,
            "due_date": (first_day + timedelta(days=14)).isoformat(),
            "line_items": [{"description": f"Charge for line {line_id}", "amount": amount,
                            "date": TODAY.isoformat(), "item_type": "Charge"}],
            "status": "Overdue",
        })
        self.db.edit("customers", c_index, "bill_ids").append(new_bill_id)
        changes: dict[str, Any] = {"status": "Suspended", "suspension_start_date": TODAY.isoformat()}
        if contract_ended:
            changes["contract_end_date"] = last_day.isoformat()
        self._edit_line(index, **changes)
        return f"Line {line_id} suspended for unpaid bill {new_bill_id}. Contract ended: {contract_ended}"

    # ------------------------------------------------------------------------------------- assertions
    @function
    def assert_data_refueling_amount(self, customer_id: str, line_id: str, expected_amount: float) -> bool:
        """Whether the line's refuelled data equals `expected_amount` GB (within 1e-6)."""
        return abs(self._target_line(customer_id, line_id)[1]["data_refueling_gb"] - expected_amount) < 1e-6

    @function
    def assert_line_status(self, customer_id: str, line_id: str, expected_status: str) -> bool:
        """Whether the line's status is `expected_status` (e.g. 'Active')."""
        return self._target_line(customer_id, line_id)[1]["status"] == expected_status

    @function
    def assert_overdue_bill_exists(self, customer_id: str, overdue_bill_id: str) -> bool:
        """True if the customer has this bill and it is overdue; raises otherwise (as tau² does)."""
        customer = self._customer(customer_id)[1]
        if overdue_bill_id not in customer["bill_ids"]:
            raise ToolError(f"Overdue bill {overdue_bill_id} not found")
        if self._bill(overdue_bill_id)[1]["status"] != "Overdue":
            raise ToolError(f"Overdue bill {overdue_bill_id} is not overdue")
        return True

    @function
    def assert_no_overdue_bill(self, overdue_bill_id: str) -> bool:
        """Whether the bill is gone or paid."""
        try:
            return self._bill(overdue_bill_id)[1]["status"] == "Paid"
        except ToolError:
            return True
