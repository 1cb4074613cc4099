"""The retail toolkit against tau²'s real retail DB: each tool's result, error paths and DB effects."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
from tool_checks import ok

from eigenfast.domains import load_tau2
from eigenfast.domains.retail import SPEC, AgentTools
from eigenfast.domains.store import Base
from eigenfast.domains.toolkit import ToolResult
from eigenfast.records import ToolCall

ORDER_FIELDS = ["order_id", "user_id", "address", "items", "status", "fulfillments", "payment_history",
                "cancel_reason", "exchange_items", "exchange_new_items", "exchange_payment_method_id",
                "exchange_price_difference", "return_items", "return_payment_method_id"]  # fmt: skip
ADDRESS = {"address1": "1 Test Road", "address2": "Unit 2", "city": "Austin", "state": "TX", "country": "USA",
           "zip": "78701"}  # fmt: skip

# Records of the real DB used below (db.json is byte-identical to tau²-bench's).
YUSUF = "yusuf_rossi_9620"  # one credit card; delivered order #W2378156
DELIVERED = "#W2378156"
KEYBOARD, CLICKY_KEYBOARD, UNAVAILABLE_KEYBOARD = "1151293680", "7706410293", "9690244451"
THERMOSTAT, GOOGLE_THERMOSTAT = "4983901480", "7747408585"
AVA = "ava_nguyen_6646"  # credit_card_5683823 and gift_card_1994993 (78.0)
PENDING_CC = "#W8367380"  # pending, paid 1003.22 by credit_card_5683823
DUMBBELL, DUMBBELL_CHEAPER, DUMBBELL_UNAVAILABLE = "2444431651", "4422467033", "8140269513"
JACKET, JACKET_DEARER = "8733974883", "9385662952"
ETHAN = "ethan_lopez_6291"  # credit_card_9789590 and gift_card_7219486 (49.0)
PENDING_GC = "#W6779827"  # pending, paid 4079.45 by gift_card_7219486
PROCESSED = "#W2611340"


@pytest.fixture(scope="module")
def retail_dir(tau2_dir: Path) -> Path:
    return tau2_dir / "retail"


@pytest.fixture(scope="module")
def pristine(retail_dir: Path) -> dict[str, Any]:
    return json.loads((retail_dir / "db.json").read_text())


@pytest.fixture(scope="module")
def base(pristine: dict[str, Any]) -> Base:
    return Base(copy.deepcopy(pristine))


@pytest.fixture(autouse=True)
def base_untouched(request: pytest.FixtureRequest):
    """Writes go to the store's private copies; the shared parsed DB never changes."""
    yield
    if "tools" in request.fixturenames:
        assert request.getfixturevalue("base").data == request.getfixturevalue("pristine")


@pytest.fixture
def tools(base: Base) -> AgentTools:
    return AgentTools(base.store())


def fails(tools: AgentTools, name: str, message: str, **arguments: Any) -> None:
    """The call fails with exactly tau²'s message and writes nothing."""
    before = tools.db.hash()
    result = tools.call(name, arguments)
    assert result.error and result.content == f"Error: {message}"
    assert tools.db.hash() == before


def order(tools: AgentTools, order_id: str) -> dict[str, Any]:
    return tools.db.data["orders"][order_id]


def balance(tools: AgentTools, user_id: str, method_id: str) -> float:
    return tools.db.data["users"][user_id]["payment_methods"][method_id]["balance"]


def set_status(tools: AgentTools, order_id: str, status: str) -> None:
    tools.db.edit("orders", order_id)["status"] = status


# ----------------------------------------------------------------------------------------- interface
_TYPES = {"str": "string", "list[str]": "array<string>"}


def test_tool_signatures_match_tau2(retail_dir: Path):
    reference = json.loads((retail_dir.parent / "tools" / "retail.json").read_text())
    specs = AgentTools.specs()
    assert sorted(specs) == sorted(t["name"] for t in reference)
    for ref in reference:
        spec = specs[ref["name"]]
        assert spec.kind == ref["kind"] and spec.mutates_state == ref["mutates_state"], ref["name"]
        params = [
            {"name": n, "type": _TYPES[str(spec.hints[n]).replace("typing.", "").replace("<class '", "")
                                       .replace("'>", "")],
             "required": p.default is p.empty}
            for n, p in spec.signature.parameters.items()
        ]  # fmt: skip
        assert params == ref["params"], ref["name"]


def test_docstrings_describe_every_parameter():
    for name, spec in AgentTools.specs().items():
        description, _, args = spec.doc.partition("Args:")
        assert description.strip(), name
        documented = set(re.findall(r"^\s{4}(\w+): \S", args, flags=re.M))
        assert documented == set(spec.signature.parameters), name


def test_spec_through_the_runtime(retail_dir: Path):
    domain = load_tau2("retail", retail_dir.parent)
    assert domain.spec is SPEC and len(domain.tasks) > 0
    assert domain.policy == (retail_dir / "policy.md").read_text(encoding="utf-8")
    described = {s["function"]["name"]: s["function"]["description"] for s in domain.tool_schemas()}
    for name, spec in AgentTools.specs().items():  # the whole first paragraph reaches the model
        if spec.kind == "write":
            assert "explicit yes" in described[name], name
    env = domain.make_env(domain.task("0"))
    exchange = ToolCall(id="1", name="exchange_delivered_order_items", arguments={
        "order_id": DELIVERED, "item_ids": [KEYBOARD], "new_item_ids": [CLICKY_KEYBOARD],
        "payment_method_id": "credit_card_9513926"})  # fmt: skip
    reply = env.call_tool(exchange)
    assert not reply.error and json.loads(reply.content)["status"] == "exchange requested"
    assert env.agent_db.data["orders"][DELIVERED]["status"] == "exchange requested"
    bad = env.call_tool(
        ToolCall(
            id="2",
            name="return_delivered_order_items",
            arguments={"order_id": DELIVERED, "item_ids": KEYBOARD, "payment_method_id": "x"},
        )
    )
    assert bad.error and "item_ids" in bad.content  # fmt: skip


# --------------------------------------------------------------------------------------------- reads
def test_find_user_id_by_email(tools: AgentTools):
    assert ok(tools.call("find_user_id_by_email", {"email": "yusuf.rossi7301@example.com"})) == YUSUF
    assert ok(tools.call("find_user_id_by_email", {"email": " Yusuf.Rossi7301@EXAMPLE.com"})) == YUSUF
    fails(tools, "find_user_id_by_email", "User not found", email="yusuf.rossi@example.com")


def test_find_user_id_by_name_zip(tools: AgentTools):
    found = tools.call(
        "find_user_id_by_name_zip", {"first_name": "Yusuf", "last_name": "Rossi", "zip": "19122"}
    )
    assert ok(found) == YUSUF
    folded = tools.call(
        "find_user_id_by_name_zip", {"first_name": "yúsuf", "last_name": "ROSSI", "zip": "19122"}
    )
    assert ok(folded) == YUSUF
    fails(
        tools,
        "find_user_id_by_name_zip",
        "User not found",
        first_name="Yusuf",
        last_name="Rossi",
        zip="19123",
    )
    fails(
        tools,
        "find_user_id_by_name_zip",
        "User not found",
        first_name="Yusef",
        last_name="Rossi",
        zip="19122",
    )


def test_get_user_details(tools: AgentTools, pristine: dict[str, Any]):
    assert ok(tools.call("get_user_details", {"user_id": YUSUF})) == pristine["users"][YUSUF]
    fails(tools, "get_user_details", "User not found", user_id="yusuf_rossi")


def test_get_order_details_prints_every_model_field(tools: AgentTools, pristine: dict[str, Any]):
    view = ok(tools.call("get_order_details", {"order_id": DELIVERED}))
    assert list(view) == ORDER_FIELDS
    assert {k: v for k, v in view.items() if v is not None} == pristine["orders"][DELIVERED]
    fails(tools, "get_order_details", "Order not found", order_id="W2378156")


def test_product_and_item_details(tools: AgentTools, pristine: dict[str, Any]):
    keyboard = pristine["products"]["1656367028"]
    assert ok(tools.call("get_product_details", {"product_id": "1656367028"})) == keyboard
    assert ok(tools.call("get_item_details", {"item_id": KEYBOARD})) == keyboard["variants"][KEYBOARD]
    fails(tools, "get_product_details", "Product not found", product_id=KEYBOARD)
    fails(tools, "get_item_details", "Item not found", item_id="1656367028")


def test_list_all_product_types(tools: AgentTools, pristine: dict[str, Any]):
    text = ok(tools.call("list_all_product_types", {}))
    assert isinstance(text, dict) and len(text) == 50 and list(text) == sorted(text)
    assert text["Mechanical Keyboard"] == "1656367028"
    assert tools.call("list_all_product_types", {}).content == json.dumps(text, sort_keys=True)


def test_calculate_and_transfer(tools: AgentTools):
    assert tools.call("calculate", {"expression": "2 + 2"}).content == "4.0"
    assert tools.call("calculate", {"expression": "(272.33 - 269.16) * 3"}).content == "9.51"
    fails(tools, "calculate", "Invalid characters in expression", expression="2 ** x")
    fails(tools, "calculate", "division by zero", expression="1 / 0")
    assert (
        tools.call("transfer_to_human_agents", {"summary": "wants a human"}).content == "Transfer successful"
    )


# ----------------------------------------------------------------------------------------- cancel
def test_cancel_refunds_a_card_payment(tools: AgentTools, pristine: dict[str, Any]):
    view = ok(tools.call("cancel_pending_order", {"order_id": PENDING_CC, "reason": "ordered by mistake"}))
    assert list(view) == ORDER_FIELDS
    stored = order(tools, PENDING_CC)
    assert view == {**dict.fromkeys(ORDER_FIELDS), **stored}
    assert stored["status"] == "cancelled" and stored["cancel_reason"] == "ordered by mistake"
    # Unset optional fields stay absent (absent means null), so equal states hash equally.
    assert set(stored) == set(pristine["orders"][PENDING_CC]) | {"cancel_reason"}
    assert stored["payment_history"][1:] == [
        {"transaction_type": "refund", "amount": 1003.22, "payment_method_id": "credit_card_5683823"}
    ]
    assert tools.db.data["users"] == pristine["users"]  # card refunds take days: no balance changes


def test_cancel_credits_a_gift_card_at_once(tools: AgentTools):
    ok(tools.call("cancel_pending_order", {"order_id": PENDING_GC, "reason": "no longer needed"}))
    assert balance(tools, ETHAN, "gift_card_7219486") == round(49.0 + 4079.45, 2)
    assert order(tools, PENDING_GC)["payment_history"][-1]["transaction_type"] == "refund"


def test_cancel_errors(tools: AgentTools):
    fails(tools, "cancel_pending_order", "Order not found", order_id="#W0", reason="no longer needed")
    fails(tools, "cancel_pending_order", "Non-pending order cannot be cancelled", order_id=DELIVERED,
          reason="changed my mind")  # status is checked before the reason  # fmt: skip
    fails(tools, "cancel_pending_order", "Invalid reason", order_id=PENDING_CC, reason="changed my mind")
    set_status(tools, PENDING_CC, "pending (item modified)")
    fails(tools, "cancel_pending_order", "Non-pending order cannot be cancelled", order_id=PENDING_CC,
          reason="no longer needed")  # fmt: skip


# --------------------------------------------------------------------------------------- exchange
def exchange(tools: AgentTools, **overrides: Any) -> ToolResult:
    arguments = {
        "order_id": DELIVERED,
        "item_ids": [KEYBOARD, THERMOSTAT],
        "new_item_ids": [CLICKY_KEYBOARD, GOOGLE_THERMOSTAT],
        "payment_method_id": "credit_card_9513926",
    }
    return tools.call("exchange_delivered_order_items", {**arguments, **overrides})  # fmt: skip


def test_exchange_records_the_request(tools: AgentTools, pristine: dict[str, Any]):
    view = ok(
        exchange(tools, item_ids=[THERMOSTAT, KEYBOARD], new_item_ids=[GOOGLE_THERMOSTAT, CLICKY_KEYBOARD])
    )
    stored = order(tools, DELIVERED)
    assert view == {**dict.fromkeys(ORDER_FIELDS), **stored}
    assert stored["status"] == "exchange requested"
    assert set(stored) - set(pristine["orders"][DELIVERED]) == {
        "exchange_items",
        "exchange_new_items",
        "exchange_payment_method_id",
        "exchange_price_difference",
    }
    assert stored["exchange_items"] == sorted([THERMOSTAT, KEYBOARD])
    assert stored["exchange_new_items"] == sorted([GOOGLE_THERMOSTAT, CLICKY_KEYBOARD])
    assert stored["exchange_payment_method_id"] == "credit_card_9513926"
    assert stored["exchange_price_difference"] == round(249.01 - 262.47 + (269.16 - 272.33), 2) == -16.63
    # Only a request: items, payments and balances stay as they were.
    assert stored["items"] == pristine["orders"][DELIVERED]["items"]
    assert stored["payment_history"] == pristine["orders"][DELIVERED]["payment_history"]


def test_exchange_errors(tools: AgentTools):
    name = "exchange_delivered_order_items"
    card = "credit_card_9513926"
    fails(
        tools, name, "Order not found", order_id="#W1", item_ids=[], new_item_ids=[], payment_method_id=card
    )
    fails(tools, name, "Non-delivered order cannot be exchanged", order_id=PENDING_CC, item_ids=[DUMBBELL],
          new_item_ids=[DUMBBELL_CHEAPER], payment_method_id="credit_card_5683823")  # fmt: skip
    fails(tools, name, f"Number of {KEYBOARD} not found.", order_id=DELIVERED, item_ids=[KEYBOARD, KEYBOARD],
          new_item_ids=[CLICKY_KEYBOARD, CLICKY_KEYBOARD], payment_method_id=card)  # fmt: skip
    fails(tools, name, "The number of items to be exchanged should match.", order_id=DELIVERED,
          item_ids=[KEYBOARD], new_item_ids=[], payment_method_id=card)  # fmt: skip
    fails(tools, name, "Variant not found", order_id=DELIVERED, item_ids=[KEYBOARD],
          new_item_ids=[GOOGLE_THERMOSTAT], payment_method_id=card)  # another product's item  # fmt: skip
    fails(tools, name, f"New item {UNAVAILABLE_KEYBOARD} not found or available", order_id=DELIVERED,
          item_ids=[KEYBOARD], new_item_ids=[UNAVAILABLE_KEYBOARD], payment_method_id=card)  # fmt: skip
    fails(tools, name, "Payment method not found", order_id=DELIVERED, item_ids=[KEYBOARD],
          new_item_ids=[CLICKY_KEYBOARD], payment_method_id="gift_card_1994993")  # Ava's, not Yusuf's  # fmt: skip


def give_gift_card(tools: AgentTools, user_id: str, card_id: str, amount: float) -> None:
    """Add a gift card to a user, as a task's initialization data would."""
    methods = tools.db.edit("users", user_id, "payment_methods")
    methods[card_id] = {"source": "gift_card", "id": card_id, "balance": amount}


def test_exchange_gift_card_must_cover_what_is_owed(tools: AgentTools):
    give_gift_card(tools, YUSUF, "gift_card_1", 4.15)
    dearer_headphones = ["4202497723"], ["7184044281"]  # 342.81 -> 344.55: 1.74 owed
    dearest_headphones = ["4202497723"], ["3374679624"]  # 342.81 -> 370.53: 27.72 owed
    fails(tools, "exchange_delivered_order_items", "Insufficient gift card balance to pay for the price difference",
          order_id=DELIVERED, item_ids=dearest_headphones[0], new_item_ids=dearest_headphones[1],
          payment_method_id="gift_card_1")  # fmt: skip
    ok(exchange(tools, item_ids=dearer_headphones[0], new_item_ids=dearer_headphones[1],
                payment_method_id="gift_card_1"))  # fmt: skip
    assert order(tools, DELIVERED)["exchange_price_difference"] == 1.74
    assert balance(tools, YUSUF, "gift_card_1") == 4.15  # charged later, when the exchange happens
    fails(tools, "exchange_delivered_order_items", "Non-delivered order cannot be exchanged", order_id=DELIVERED,
          item_ids=[KEYBOARD], new_item_ids=[CLICKY_KEYBOARD], payment_method_id="credit_card_9513926")  # fmt: skip


# ----------------------------------------------------------------------------------------- return
def test_return_to_the_original_method(tools: AgentTools, pristine: dict[str, Any]):
    arguments = {
        "order_id": DELIVERED,
        "item_ids": [THERMOSTAT, KEYBOARD],
        "payment_method_id": "credit_card_9513926",
    }
    view = ok(tools.call("return_delivered_order_items", arguments))
    stored = order(tools, DELIVERED)
    assert view == {**dict.fromkeys(ORDER_FIELDS), **stored}
    assert stored["status"] == "return requested"
    assert stored["return_items"] == [KEYBOARD, THERMOSTAT]
    assert stored["return_payment_method_id"] == "credit_card_9513926"
    assert stored["payment_history"] == pristine["orders"][DELIVERED]["payment_history"]
    fails(tools, "return_delivered_order_items", "Non-delivered order cannot be returned", **arguments)


def test_return_to_any_own_gift_card(tools: AgentTools):
    give_gift_card(tools, YUSUF, "gift_card_1", 0.0)
    ok(tools.call("return_delivered_order_items",
                  {"order_id": DELIVERED, "item_ids": [KEYBOARD], "payment_method_id": "gift_card_1"}))  # fmt: skip
    assert order(tools, DELIVERED)["return_payment_method_id"] == "gift_card_1"
    assert balance(tools, YUSUF, "gift_card_1") == 0.0


def test_return_errors(tools: AgentTools):
    name = "return_delivered_order_items"
    fails(tools, name, "Order not found", order_id="#W2", item_ids=[KEYBOARD], payment_method_id="x")
    fails(tools, name, "Non-delivered order cannot be returned", order_id=PROCESSED, item_ids=[],
          payment_method_id="x")  # fmt: skip
    fails(tools, name, "Payment method not found", order_id=DELIVERED, item_ids=[KEYBOARD],
          payment_method_id="credit_card_5683823")  # fmt: skip
    tools.db.edit("users", YUSUF, "payment_methods")["paypal_1"] = {"source": "paypal", "id": "paypal_1"}
    fails(tools, name, "Payment method should be the original payment method", order_id=DELIVERED,
          item_ids=[KEYBOARD], payment_method_id="paypal_1")  # fmt: skip
    fails(tools, name, "Some item not found", order_id=DELIVERED, item_ids=[KEYBOARD, KEYBOARD],
          payment_method_id="credit_card_9513926")  # fmt: skip


# ---------------------------------------------------------------------------------- pending changes
def test_modify_pending_order_address(tools: AgentTools):
    view = ok(tools.call("modify_pending_order_address", {"order_id": PENDING_CC, **ADDRESS}))
    expected = {k: ADDRESS[k] for k in ("address1", "address2", "city", "country", "state", "zip")}
    assert view["address"] == expected and list(view["address"]) == list(expected)
    assert order(tools, PENDING_CC)["address"] == expected
    set_status(tools, PENDING_CC, "pending (item modified)")  # still a pending order for address changes
    ok(tools.call("modify_pending_order_address", {"order_id": PENDING_CC, **ADDRESS, "zip": "78702"}))
    assert order(tools, PENDING_CC)["address"]["zip"] == "78702"
    fails(tools, "modify_pending_order_address", "Non-pending order cannot be modified", order_id=PROCESSED,
          **ADDRESS)  # fmt: skip
    fails(tools, "modify_pending_order_address", "Order not found", order_id="#W3", **ADDRESS)


def test_modify_user_address(tools: AgentTools, pristine: dict[str, Any]):
    view = ok(tools.call("modify_user_address", {"user_id": YUSUF, **ADDRESS}))
    assert view == {**pristine["users"][YUSUF], "address": {k: ADDRESS[k] for k in view["address"]}}
    assert tools.db.data["users"][YUSUF] == view
    assert order(tools, DELIVERED)["address"] == pristine["orders"][DELIVERED]["address"]
    fails(tools, "modify_user_address", "User not found", user_id="nobody_1", **ADDRESS)


def modify_items(tools: AgentTools, old: list[str], new: list[str], method: str, order_id: str = PENDING_CC):
    arguments = {"order_id": order_id, "item_ids": old, "new_item_ids": new, "payment_method_id": method}
    return tools.call("modify_pending_order_items", arguments)


def test_modify_items_refund_to_a_card(tools: AgentTools, pristine: dict[str, Any]):
    view = ok(modify_items(tools, [DUMBBELL], [DUMBBELL_CHEAPER], "credit_card_5683823"))
    stored = order(tools, PENDING_CC)
    assert view == {**dict.fromkeys(ORDER_FIELDS), **stored}
    assert stored["status"] == "pending (item modified)"
    cheaper = pristine["products"]["7233192239"]["variants"][DUMBBELL_CHEAPER]
    assert stored["items"][0] == {**pristine["orders"][PENDING_CC]["items"][0], "item_id": DUMBBELL_CHEAPER,
                                  "price": cheaper["price"], "options": cheaper["options"]}  # fmt: skip
    assert stored["items"][1:] == pristine["orders"][PENDING_CC]["items"][1:]
    assert stored["payment_history"][-1] == {
        "transaction_type": "refund",
        "amount": abs(483.47 - 534.84),
        "payment_method_id": "credit_card_5683823",
    }
    assert tools.db.data["users"] == pristine["users"]  # fmt: skip


def test_modify_items_charges_a_gift_card(tools: AgentTools):
    ok(modify_items(tools, [JACKET], [JACKET_DEARER], "gift_card_1994993"))
    assert order(tools, PENDING_CC)["payment_history"][-1] == {
        "transaction_type": "payment",
        "amount": 159.92 - 153.18,
        "payment_method_id": "gift_card_1994993",
    }
    assert balance(tools, AVA, "gift_card_1994993") == round(78.0 - (159.92 - 153.18), 2)  # fmt: skip
    fails(tools, "modify_pending_order_items", "Non-pending order cannot be modified", order_id=PENDING_CC,
          item_ids=[DUMBBELL], new_item_ids=[DUMBBELL_CHEAPER], payment_method_id="credit_card_5683823")  # fmt: skip


def test_modify_items_prices_every_item_like_the_last_one(tools: AgentTools, pristine: dict[str, Any]):
    """tau²-bench's quirk: all modified items take the last new item's price and options."""
    ok(modify_items(tools, [DUMBBELL, JACKET], [DUMBBELL_CHEAPER, JACKET_DEARER], "credit_card_5683823"))
    dearer_jacket = pristine["products"]["8560156827"]["variants"][JACKET_DEARER]
    items = order(tools, PENDING_CC)["items"]
    assert [i["item_id"] for i in items] == [DUMBBELL_CHEAPER, "1689914594", JACKET_DEARER]
    for item in (items[0], items[2]):
        assert item["price"] == dearer_jacket["price"] and item["options"] == dearer_jacket["options"]
    assert items[0]["name"] == "Dumbbell Set"
    # ...while the payment entry uses each item's own difference, unrounded.
    assert order(tools, PENDING_CC)["payment_history"][-1]["amount"] == abs(
        0 + (483.47 - 534.84) + (159.92 - 153.18)
    )


def test_modify_items_errors(tools: AgentTools):
    card = "credit_card_5683823"
    fails(tools, "modify_pending_order_items", "Order not found", order_id="#W4", item_ids=[], new_item_ids=[],
          payment_method_id=card)  # fmt: skip
    result = modify_items(tools, [DUMBBELL], [DUMBBELL_CHEAPER], card, order_id=DELIVERED)
    assert result.content == "Error: Non-pending order cannot be modified"
    for old, new, message in [
        ([DUMBBELL, DUMBBELL], [DUMBBELL_CHEAPER] * 2, f"{DUMBBELL} not found"),
        ([DUMBBELL], [], "The number of items to be exchanged should match"),
        ([DUMBBELL], [DUMBBELL], "The new item id should be different from the old item id"),
        ([DUMBBELL], [JACKET_DEARER], "Variant not found"),
        ([DUMBBELL], [DUMBBELL_UNAVAILABLE], f"New item {DUMBBELL_UNAVAILABLE} not found or available"),
    ]:
        fails(tools, "modify_pending_order_items", message, order_id=PENDING_CC, item_ids=old, new_item_ids=new,
              payment_method_id=card)  # fmt: skip
    fails(tools, "modify_pending_order_items", "Payment method not found", order_id=PENDING_CC,
          item_ids=[JACKET], new_item_ids=[JACKET_DEARER], payment_method_id="gift_card_7219486")  # fmt: skip
    tools.db.edit("users", AVA, "payment_methods", "gift_card_1994993")["balance"] = 6.73
    fails(tools, "modify_pending_order_items", "Insufficient gift card balance to pay for the new item",
          order_id=PENDING_CC, item_ids=[JACKET], new_item_ids=[JACKET_DEARER],
          payment_method_id="gift_card_1994993")  # 6.74 owed  # fmt: skip


def test_modify_payment_card_to_gift_card_and_back(tools: AgentTools):
    give_gift_card(tools, AVA, "gift_card_big", 2000.0)
    view = ok(
        tools.call(
            "modify_pending_order_payment", {"order_id": PENDING_CC, "payment_method_id": "gift_card_big"}
        )
    )
    history = order(tools, PENDING_CC)["payment_history"]
    assert view["payment_history"] == history
    assert history[1:] == [
        {"transaction_type": "payment", "amount": 1003.22, "payment_method_id": "gift_card_big"},
        {"transaction_type": "refund", "amount": 1003.22, "payment_method_id": "credit_card_5683823"},
    ]
    assert balance(tools, AVA, "gift_card_big") == round(2000.0 - 1003.22, 2)
    fails(tools, "modify_pending_order_payment", "There should be exactly one payment for a pending order",
          order_id=PENDING_CC, payment_method_id="credit_card_5683823")  # fmt: skip


def test_modify_payment_refunds_a_gift_card_at_once(tools: AgentTools):
    ok(
        tools.call(
            "modify_pending_order_payment",
            {"order_id": PENDING_GC, "payment_method_id": "credit_card_9789590"},
        )
    )
    assert balance(tools, ETHAN, "gift_card_7219486") == round(49.0 + 4079.45, 2)


def test_modify_payment_errors(tools: AgentTools):
    name = "modify_pending_order_payment"
    fails(tools, name, "Order not found", order_id="#W5", payment_method_id="gift_card_1994993")
    fails(tools, name, "Non-pending order cannot be modified", order_id=DELIVERED,
          payment_method_id="credit_card_9513926")  # fmt: skip
    fails(tools, name, "Payment method not found", order_id=PENDING_CC, payment_method_id="gift_card_7219486")
    fails(tools, name, "The new payment method should be different from the current one", order_id=PENDING_CC,
          payment_method_id="credit_card_5683823")  # fmt: skip
    fails(tools, name, "Insufficient gift card balance to pay for the order", order_id=PENDING_CC,
          payment_method_id="gift_card_1994993")  # fmt: skip


# ------------------------------------------------------------------------------------------ gold data
# The gold actions that fail on purpose in this data: wrong order ids and an exchange of a pending order.
EXPECTED_GOLD_ERRORS = {
    ("46", "get_order_details", "Order not found"), ("47", "get_order_details", "Order not found"),
    ("64", "exchange_delivered_order_items", "Non-delivered order cannot be exchanged"),
}  # fmt: skip


def test_gold_actions_replay_with_the_expected_errors(retail_dir: Path, base: Base):
    tasks = json.loads((retail_dir / "tasks.json").read_text())
    errors, hashes = set(), {}
    for task in tasks:
        for _attempt in range(2):
            tools = AgentTools(base.store())
            for action in task["evaluation_criteria"]["actions"] or []:
                result = tools.call(action["name"], action["arguments"])
                if result.error:
                    errors.add((task["id"], action["name"], result.content.removeprefix("Error: ")))
            hashes.setdefault(task["id"], set()).add(tools.db.hash())
    assert errors == EXPECTED_GOLD_ERRORS
    assert all(len(h) == 1 for h in hashes.values())  # deterministic end state
    assert len({h for hs in hashes.values() for h in hs}) > 40  # and the writes really change it
