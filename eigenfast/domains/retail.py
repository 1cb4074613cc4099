"""tau² retail domain: order lookups, cancellations, returns, exchanges and pending-order changes.

The DB is tau²'s `retail/db.json` as plain dicts (`products`, `users`, `orders`). Every rule that decides the
graded end state is reproduced from tau²-bench: the order of checks (it decides which error an agent sees and
what was already written when a check fails), gift-card balances rounded to cents after each change, refund
and payment entries, sorted return/exchange lists, and float arithmetic done in the same order.

Two upstream quirks are kept on purpose, because the gold end states are produced by them:
- `modify_pending_order_items` gives every modified item the price and options of the *last* new item in the
  list (tau²-bench issues #317/#318; unfixed in the release the data comes from). Item ids are set correctly.
- its payment/refund amount is the unrounded sum of price differences, while exchanges round theirs.

Stored orders carry only the optional fields that were set (`cancel_reason`, `exchange_*`, `return_*`); a
missing field means null, as in tau²'s models, so the state hash stays canonical. Results are shaped like
tau²'s `model_dump` output (field order, optional fields as null) so a model sees the same text.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from eigenfast.domains.calculator import calculate_expression
from eigenfast.domains.matching import fold
from eigenfast.domains.spec import DomainSpec
from eigenfast.domains.toolkit import ToolError, Toolkit, tool

CANCEL_REASONS = ("no longer needed", "ordered by mistake")

_ORDER_FIELDS = ("order_id", "user_id", "address", "items", "status", "fulfillments", "payment_history")
_ORDER_OPTIONAL_FIELDS = ("cancel_reason", "exchange_items", "exchange_new_items", "exchange_payment_method_id",
                          "exchange_price_difference", "return_items", "return_payment_method_id")  # fmt: skip


def _address(address1: str, address2: str, city: str, state: str, country: str, zip: str) -> dict[str, str]:
    # tau²'s UserAddress field order.
    return {"address1": address1, "address2": address2, "city": city, "country": country, "state": state,
            "zip": zip}  # fmt: skip


def _order_view(order: dict[str, Any]) -> dict[str, Any]:
    """An order as tau² prints it: model field order, unset optional fields as null."""
    view = {name: order[name] for name in _ORDER_FIELDS}
    for name in _ORDER_OPTIONAL_FIELDS:
        view[name] = order.get(name)
    return view


def _is_gift_card(method: dict[str, Any]) -> bool:
    return method.get("source") == "gift_card"


def _check_items_in_order(order: dict[str, Any], item_ids: list[str], message: Callable[[str], str]) -> None:
    """Each listed id must occur in the order at least as often as in the list (duplicates allowed)."""
    in_order = [item["item_id"] for item in order["items"]]
    for item_id in item_ids:
        if item_ids.count(item_id) > in_order.count(item_id):
            raise ToolError(message(item_id))


def _present(table: dict[str, Any], key: str, message: str) -> dict[str, Any]:
    """`table[key]`, or the ToolError tau² raises when it is missing."""
    record = table.get(key)
    if record is None:
        raise ToolError(message)
    return record


def _first_item(items: list[dict[str, Any]], item_id: str) -> dict[str, Any]:
    return next(item for item in items if item["item_id"] == item_id)


class AgentTools(Toolkit):
    """The retail agent's tools over one environment's DB."""

    # ------------------------------------------------------------------------------------ lookups
    def _order(self, order_id: str) -> dict[str, Any]:
        return _present(self.db.data["orders"], order_id, "Order not found")

    def _user(self, user_id: str) -> dict[str, Any]:
        return _present(self.db.data["users"], user_id, "User not found")

    def _product(self, product_id: str) -> dict[str, Any]:
        return _present(self.db.data["products"], product_id, "Product not found")

    def _variant(self, product_id: str, item_id: str) -> dict[str, Any]:
        return _present(self._product(product_id)["variants"], item_id, "Variant not found")

    def _payment_method(self, user_id: str, payment_method_id: str) -> dict[str, Any]:
        return _present(self._user(user_id)["payment_methods"], payment_method_id, "Payment method not found")

    def _price_difference(
        self, order: dict[str, Any], item_ids: list[str], new_item_ids: list[str], *, reject_same: bool
    ) -> tuple[float, dict[str, Any] | None]:
        """Sum of (new - old) prices, in list order, checking each new item; also returns the last variant."""
        diff: float = 0
        variant = None
        for item_id, new_item_id in zip(item_ids, new_item_ids, strict=True):
            if reject_same and item_id == new_item_id:
                raise ToolError("The new item id should be different from the old item id")
            item = _first_item(order["items"], item_id)
            variant = self._variant(item["product_id"], new_item_id)
            if not variant["available"]:
                raise ToolError(f"New item {new_item_id} not found or available")
            diff += variant["price"] - item["price"]
        return diff, variant

    def _add_to_gift_card(self, user_id: str, payment_method_id: str, amount: float) -> None:
        card = self.db.edit("users", user_id, "payment_methods", payment_method_id)
        card["balance"] = round(card["balance"] + amount, 2)

    # -------------------------------------------------------------------------------------- reads
    @tool("read")
    def find_user_id_by_email(self, email: str) -> str:
        """Look up a customer's user id from their email address; ignores case and accents.

        Args:
            email: The customer's email, e.g. 'jane.doe1234@example.com'.
        """
        wanted = fold(email)
        for user_id, user in self.db.data["users"].items():
            if fold(user["email"]) == wanted:
                return user_id
        raise ToolError("User not found")

    @tool("read")
    def find_user_id_by_name_zip(self, first_name: str, last_name: str, zip: str) -> str:
        """Look up a customer's user id from their name and zip code, for customers who cannot give an email.
        Names are compared ignoring case and accents; the zip code must match exactly.

        Args:
            first_name: The customer's first name, e.g. 'Jane'.
            last_name: The customer's last name, e.g. 'Doe'.
            zip: The zip code of the customer's default address, e.g. '10001'.
        """
        first, last = fold(first_name), fold(last_name)
        for user_id, user in self.db.data["users"].items():
            name = user["name"]
            if (
                fold(name["first_name"]) == first
                and fold(name["last_name"]) == last
                and user["address"]["zip"] == zip
            ):
                return user_id
        raise ToolError("User not found")

    @tool("read")
    def get_user_details(self, user_id: str) -> dict[str, Any]:
        """Show a customer's profile: name, default address, email, saved payment methods and order ids.

        Args:
            user_id: The customer's user id, e.g. 'jane_doe_1234'.
        """
        return self._user(user_id)

    @tool("read")
    def get_order_details(self, order_id: str) -> dict[str, Any]:
        """Show an order: status, items with prices and options, shipping address, fulfillments and payments.

        Args:
            order_id: The order id, which starts with '#', e.g. '#W1234567'.
        """
        return _order_view(self._order(order_id))

    @tool("read")
    def get_product_details(self, product_id: str) -> dict[str, Any]:
        """Show a product type and all its items (variants) with options, price and availability.

        Args:
            product_id: The product's id, e.g. '1656367028'; not the same thing as an item id.
        """
        return self._product(product_id)

    @tool("read")
    def get_item_details(self, item_id: str) -> dict[str, Any]:
        """Show one item (a product variant): its options, price and whether it is available.

        Args:
            item_id: The item's id, e.g. '1151293680'; not the same thing as a product id.
        """
        for product in self.db.data["products"].values():
            variant = product["variants"].get(item_id)
            if variant is not None:
                return variant
        raise ToolError("Item not found")

    @tool("read")
    def list_all_product_types(self) -> str:
        """List every product type the store sells (50 of them) as a JSON map from name to product id."""
        names = {product["name"]: product["product_id"] for product in self.db.data["products"].values()}
        return json.dumps(names, sort_keys=True)

    # -------------------------------------------------------------------------------------- writes
    @tool("write")
    def cancel_pending_order(self, order_id: str, reason: str) -> dict[str, Any]:
        """Cancel a pending order and refund every payment on it; gift cards are credited at once.
        Only orders whose status is exactly 'pending' can be cancelled. Confirm the details with the customer
        (an explicit yes) before calling. Returns the cancelled order.

        Args:
            order_id: The order id, which starts with '#', e.g. '#W1234567'.
            reason: Either 'no longer needed' or 'ordered by mistake'.
        """
        order = self._order(order_id)
        if order["status"] != "pending":
            raise ToolError("Non-pending order cannot be cancelled")
        if reason not in CANCEL_REASONS:
            raise ToolError("Invalid reason")
        refunds = []
        for payment in order["payment_history"]:
            method_id = payment["payment_method_id"]
            refunds.append({"transaction_type": "refund", "amount": payment["amount"],
                            "payment_method_id": method_id})  # fmt: skip
            if _is_gift_card(self._payment_method(order["user_id"], method_id)):
                self._add_to_gift_card(order["user_id"], method_id, payment["amount"])
        record = self.db.edit("orders", order_id)
        record["status"] = "cancelled"
        record["cancel_reason"] = reason
        self.db.edit("orders", order_id, "payment_history").extend(refunds)
        return _order_view(record)

    @tool("write")
    def exchange_delivered_order_items(
        self, order_id: str, item_ids: list[str], new_item_ids: list[str], payment_method_id: str
    ) -> dict[str, Any]:
        """Request an exchange of items in a delivered order for other items of the same product.
        A delivered order can be returned or exchanged only once. The price difference is charged to, or
        refunded to, the given payment method; a gift card must cover any amount owed. Confirm the details
        with the customer (an explicit yes) before calling. Returns the order, now 'exchange requested'.

        Args:
            order_id: The order id, which starts with '#', e.g. '#W1234567'.
            item_ids: Ids of the items to exchange; list an id twice to exchange two identical items.
            new_item_ids: Ids of the replacement items, position by position, each of the same product as the
                item it replaces.
            payment_method_id: Id of one of the customer's payment methods, e.g. 'gift_card_1234567' or
                'credit_card_1234567'.
        """
        order = self._order(order_id)
        if order["status"] != "delivered":
            raise ToolError("Non-delivered order cannot be exchanged")
        _check_items_in_order(order, item_ids, lambda item_id: f"Number of {item_id} not found.")
        if len(item_ids) != len(new_item_ids):
            raise ToolError("The number of items to be exchanged should match.")
        diff, _ = self._price_difference(order, item_ids, new_item_ids, reject_same=False)
        diff = round(diff, 2)
        method = self._payment_method(order["user_id"], payment_method_id)
        if _is_gift_card(method) and method["balance"] < diff:
            raise ToolError("Insufficient gift card balance to pay for the price difference")
        record = self.db.edit("orders", order_id)
        record["status"] = "exchange requested"
        record["exchange_items"] = sorted(item_ids)
        record["exchange_new_items"] = sorted(new_item_ids)
        record["exchange_payment_method_id"] = payment_method_id
        record["exchange_price_difference"] = diff
        return _order_view(record)

    @tool("write")
    def return_delivered_order_items(
        self, order_id: str, item_ids: list[str], payment_method_id: str
    ) -> dict[str, Any]:
        """Request a return of some items of a delivered order; the customer gets return instructions by email.
        The refund goes to the order's original payment method or to a gift card of the customer. A delivered
        order can be returned or exchanged only once. Confirm the details with the customer (an explicit yes)
        before calling. Returns the order, now 'return requested'.

        Args:
            order_id: The order id, which starts with '#', e.g. '#W1234567'.
            item_ids: Ids of the items to return; list an id twice to return two identical items.
            payment_method_id: Where the refund goes: the original payment method's id or a gift card id,
                e.g. 'gift_card_1234567'.
        """
        order = self._order(order_id)
        if order["status"] != "delivered":
            raise ToolError("Non-delivered order cannot be returned")
        method = self._payment_method(order["user_id"], payment_method_id)
        if not _is_gift_card(method):
            history = order["payment_history"]
            if not history:
                raise ToolError("list index out of range")  # what tau²-bench reports for an unpaid order
            if payment_method_id != history[0]["payment_method_id"]:
                raise ToolError("Payment method should be the original payment method")
        _check_items_in_order(order, item_ids, lambda _: "Some item not found")
        record = self.db.edit("orders", order_id)
        record["status"] = "return requested"
        record["return_items"] = sorted(item_ids)
        record["return_payment_method_id"] = payment_method_id
        return _order_view(record)

    @tool("write")
    def modify_pending_order_address(
        self, order_id: str, address1: str, address2: str, city: str, state: str, country: str, zip: str
    ) -> dict[str, Any]:
        """Change the shipping address of a pending order.
        Confirm the details with the customer (an explicit yes) before calling. Returns the updated order.

        Args:
            order_id: The order id, which starts with '#', e.g. '#W1234567'.
            address1: First address line, e.g. '12 Elm Street'.
            address2: Second address line, e.g. 'Suite 4', or '' if there is none.
            city: City, e.g. 'Austin'.
            state: State, e.g. 'TX'.
            country: Country, e.g. 'USA'.
            zip: Zip code, e.g. '78701'.
        """
        order = self._order(order_id)
        if "pending" not in order["status"]:
            raise ToolError("Non-pending order cannot be modified")
        record = self.db.edit("orders", order_id)
        record["address"] = _address(address1, address2, city, state, country, zip)
        return _order_view(record)

    @tool("write")
    def modify_pending_order_items(
        self, order_id: str, item_ids: list[str], new_item_ids: list[str], payment_method_id: str
    ) -> dict[str, Any]:
        """Swap items of a pending order for other items of the same product; allowed once per order.
        The price difference is charged to, or refunded to, the given payment method; a gift card must cover
        any amount owed. Confirm the details with the customer (an explicit yes) before calling. Returns the
        order, now 'pending (item modified)'.

        Args:
            order_id: The order id, which starts with '#', e.g. '#W1234567'.
            item_ids: Ids of the items to change; list an id twice to change two identical items.
            new_item_ids: Ids of the replacement items, position by position, each of the same product as the
                item it replaces and different from it.
            payment_method_id: Id of one of the customer's payment methods, e.g. 'gift_card_1234567' or
                'credit_card_1234567'.
        """
        order = self._order(order_id)
        if order["status"] != "pending":
            raise ToolError("Non-pending order cannot be modified")
        _check_items_in_order(order, item_ids, lambda item_id: f"{item_id} not found")
        if len(item_ids) != len(new_item_ids):
            raise ToolError("The number of items to be exchanged should match")
        diff, last_variant = self._price_difference(order, item_ids, new_item_ids, reject_same=True)
        method = self._payment_method(order["user_id"], payment_method_id)
        if _is_gift_card(method) and method["balance"] < diff:
            raise ToolError("Insufficient gift card balance to pay for the new item")
        self.db.edit("orders", order_id, "payment_history").append(
            {
                "transaction_type": "payment" if diff > 0 else "refund",
                "amount": float(abs(diff)),
                "payment_method_id": payment_method_id,
            }
        )
        if _is_gift_card(method):
            self._add_to_gift_card(order["user_id"], payment_method_id, -diff)
        items = self.db.edit("orders", order_id, "items")
        for item_id, new_item_id in zip(item_ids, new_item_ids, strict=True):
            position = next(i for i, item in enumerate(items) if item["item_id"] == item_id)
            item = self.db.edit("orders", order_id, "items", position)
            item["item_id"] = new_item_id
            item["price"] = last_variant["price"]  # upstream quirk, see the module docstring
            item["options"] = dict(last_variant["options"])
        record = self.db.edit("orders", order_id)
        record["status"] = "pending (item modified)"
        return _order_view(record)

    @tool("write")
    def modify_pending_order_payment(self, order_id: str, payment_method_id: str) -> dict[str, Any]:
        """Pay a pending order with a different payment method; the old one is refunded.
        The order must have exactly one payment so far. A gift card must cover the whole amount; gift cards
        are debited and credited at once. Confirm the details with the customer (an explicit yes) before
        calling. Returns the updated order.

        Args:
            order_id: The order id, which starts with '#', e.g. '#W1234567'.
            payment_method_id: Id of the customer's new payment method, e.g. 'gift_card_1234567' or
                'credit_card_1234567'.
        """
        order = self._order(order_id)
        if "pending" not in order["status"]:
            raise ToolError("Non-pending order cannot be modified")
        method = self._payment_method(order["user_id"], payment_method_id)
        history = order["payment_history"]
        if len(history) != 1 or history[0]["transaction_type"] != "payment":
            raise ToolError("There should be exactly one payment for a pending order")
        old_method_id = history[0]["payment_method_id"]
        if old_method_id == payment_method_id:
            raise ToolError("The new payment method should be different from the current one")
        amount = history[0]["amount"]
        if _is_gift_card(method) and method["balance"] < amount:
            raise ToolError("Insufficient gift card balance to pay for the order")
        self.db.edit("orders", order_id, "payment_history").extend(
            [
                {"transaction_type": "payment", "amount": amount, "payment_method_id": payment_method_id},
                {"transaction_type": "refund", "amount": amount, "payment_method_id": old_method_id},
            ]
        )
        if _is_gift_card(method):
            self._add_to_gift_card(order["user_id"], payment_method_id, -amount)
        if _is_gift_card(self._payment_method(order["user_id"], old_method_id)):
            self._add_to_gift_card(order["user_id"], old_method_id, amount)
        return _order_view(self.db.data["orders"][order_id])

    @tool("write")
    def modify_user_address(
        self, user_id: str, address1: str, address2: str, city: str, state: str, country: str, zip: str
    ) -> dict[str, Any]:
        """Change a customer's default address (existing orders keep theirs).
        Confirm the details with the customer (an explicit yes) before calling. Returns the updated profile.

        Args:
            user_id: The customer's user id, e.g. 'jane_doe_1234'.
            address1: First address line, e.g. '12 Elm Street'.
            address2: Second address line, e.g. 'Suite 4', or '' if there is none.
            city: City, e.g. 'Austin'.
            state: State, e.g. 'TX'.
            country: Country, e.g. 'USA'.
            zip: Zip code, e.g. '78701'.
        """
        self._user(user_id)
        record = self.db.edit("users", user_id)
        record["address"] = _address(address1, address2, city, state, country, zip)
        return record

    # ------------------------------------------------------------------------------------- generic
    @tool("generic")
    def calculate(self, expression: str) -> str:
        """Evaluate an arithmetic expression and return the result rounded to two decimals.

        Args:
            expression: Arithmetic using numbers, + - * /, parentheses and spaces, e.g. '(120.5 - 80) * 2'.
        """
        return calculate_expression(expression)

    @tool("generic")
    def transfer_to_human_agents(self, summary: str) -> str:
        """Hand the customer over to a human agent, with a summary of their issue.
        Use it only when the customer explicitly asks for a human, or when the request cannot be handled
        within the policy and the available tools.

        Args:
            summary: A short summary of the customer's issue.
        """
        return "Transfer successful"


# The policy is `policy.md` (the spec's default); tau²-bench has no solo variant for retail.
SPEC = DomainSpec(name="retail", db_file="db.json", agent_tools=AgentTools)
