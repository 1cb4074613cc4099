"""The airline toolkit against tau²'s real airline DB: each tool's result, error paths and DB effects."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest
from tool_checks import ok

from eigenfast.domains import load_tau2
from eigenfast.domains.airline import NOW, SPEC, AgentTools, complete_db
from eigenfast.domains.store import Base
from eigenfast.domains.toolkit import ToolResult

# Records of the real DB used below (db.json is byte-identical to tau²-bench's).
MEI = "mei_hernandez_8984"  # gold member
MEI_GIFT, MEI_CARD, MEI_CERT = "gift_card_5309492", "credit_card_6082923", "certificate_7502997"  # gift 98.0, cert 250.0
ONE_WAY = "1AKIA8"  # Mei's: economy, 2 passengers, HAT070 05-22 ($196) + HAT297 05-23 ($169), paid 730 by card
GIFT_PAID = "79G8A9"  # Mei's: economy, 2 passengers, paid 1400 by MEI_GIFT
MIA = "mia_li_3668"  # certificate_7504069 (250.0) and credit_card_4421486
JFK_SEA = [{"flight_number": "HAT136", "date": "2024-05-20"}, {"flight_number": "HAT039", "date": "2024-05-20"}]
LANDED, CANCELLED = ("HAT001", "2024-05-01"), ("HAT001", "2024-05-03")
ONE_BASIC_SEAT = ("HAT001", "2024-05-25")  # 1 basic_economy seat left
ANN = {"first_name": "Ann", "last_name": "Lee", "dob": "1990-01-02"}


@pytest.fixture(scope="module")
def domain(tau2_dir: Path):
    return load_tau2("airline", tau2_dir)


@pytest.fixture(scope="module")
def base(domain) -> Base:
    return domain.agent_base


@pytest.fixture(scope="module")
def base_bytes(base: Base) -> bytes:
    return msgspec.json.encode(base.data)


@pytest.fixture
def tools(base: Base, base_bytes: bytes):
    """A fresh toolkit on its own store; afterwards the shared parsed DB must be byte-for-byte unchanged."""
    yield AgentTools(base.store())
    assert msgspec.json.encode(base.data) == base_bytes


def call(tools: AgentTools, name: str, **arguments: Any) -> ToolResult:
    """Call as a model does: JSON-encoded arguments through the toolkit's error-wrapping entry point."""
    return tools.call(name, json.dumps(arguments))


def err(result: ToolResult) -> str:
    assert result.error, result.content
    assert result.content.startswith("Error: ")
    return result.content[len("Error: ") :]


def price(tools: AgentTools, flight: str, date: str, cabin: str) -> int:
    return tools.db.data["flights"][flight]["dates"][date]["prices"][cabin]


def seats(tools: AgentTools, flight: str, date: str, cabin: str) -> int:
    return tools.db.data["flights"][flight]["dates"][date]["available_seats"][cabin]


def method(tools: AgentTools, user: str, payment_id: str) -> dict[str, Any] | None:
    return tools.db.data["users"][user]["payment_methods"].get(payment_id)


def booking(**overrides: Any) -> dict[str, Any]:
    args = {"user_id": MIA, "origin": "JFK", "destination": "SEA", "flight_type": "one_way", "cabin": "economy",
            "flights": JFK_SEA, "passengers": [ANN], "payment_methods": [], "total_baggages": 0,
            "nonfree_baggages": 0, "insurance": "no"}  # fmt: skip
    args.update(overrides)
    return args


# ---------------------------------------------------------------------------------------- tool surface
JSON_TYPES = {"string": "string", "integer": "integer"}


def test_tool_surface_matches_tau2_signatures(tau2_dir: Path):
    expected = {t["name"]: t for t in json.loads((tau2_dir / "tools" / "airline.json").read_text())}
    specs = AgentTools.specs()
    assert set(specs) == set(expected)
    schemas = {s["function"]["name"]: s["function"] for s in AgentTools.schemas()}
    for name, want in expected.items():
        spec = specs[name]
        assert spec.kind == want["kind"], name
        assert spec.mutates_state == want["mutates_state"], name
        params = schemas[name]["parameters"]
        assert list(params["properties"]) == [p["name"] for p in want["params"]], name
        assert params["required"] == [p["name"] for p in want["params"] if p["required"]], name
        assert schemas[name]["description"], name
        for p in want["params"]:
            prop, typ = params["properties"][p["name"]], p["type"]
            assert prop.get("description"), (name, p["name"])
            if typ.startswith("enum("):
                assert set(prop["enum"]) == set(typ[5:-1].split("|")), (name, p["name"])
            elif typ.startswith("array<object:"):
                assert prop["type"] == "array" and prop["items"]["$ref"].endswith("/" + typ[13:-1]), (name, p["name"])
            else:
                assert prop["type"] == JSON_TYPES[typ], (name, p["name"])


def test_spec_and_policy(domain, tau2_dir: Path):
    assert SPEC.name == "airline" and SPEC.db_file == "db.json" and SPEC.agent_tools is AgentTools
    assert domain.policy == (tau2_dir / "airline" / "policy.md").read_text(encoding="utf-8")
    assert len(domain.tasks) == 26


def test_complete_db_fills_status_without_mutating_input():
    raw = {"flights": {}, "users": {}, "reservations": {"A": {"reservation_id": "A"}, "B": {"status": "cancelled"}}}
    before = json.dumps(raw)
    out = complete_db(raw)
    assert json.dumps(raw) == before
    assert out["reservations"]["A"]["status"] is None and out["reservations"]["B"]["status"] == "cancelled"
    assert complete_db(out) is out  # already complete: untouched


def test_loaded_db_has_status_on_every_reservation(base: Base):
    assert all("status" in r for r in base.data["reservations"].values())


# ------------------------------------------------------------------------------------------------ reads
def test_get_user_details(tools):
    user = ok(call(tools, "get_user_details", user_id=MEI))
    assert user["user_id"] == MEI and user["membership"] == "gold"
    assert user["payment_methods"][MEI_GIFT] == {"source": "gift_card", "id": MEI_GIFT, "amount": 98.0}
    assert ONE_WAY in user["reservations"]


def test_get_user_details_unknown_user(tools):
    assert err(call(tools, "get_user_details", user_id="nobody_1")) == "User nobody_1 not found"


def test_ids_match_ignoring_case_accents_and_spaces(tools):
    assert ok(call(tools, "get_user_details", user_id=" Méi_Hernandez_8984 "))["user_id"] == MEI
    assert ok(call(tools, "get_reservation_details", reservation_id="1akia8"))["reservation_id"] == ONE_WAY
    assert ok(call(tools, "get_flight_status", flight_number="hat001", date=LANDED[1])) == "landed"


def test_get_reservation_details_is_shaped_like_tau2(tools):
    res = ok(call(tools, "get_reservation_details", reservation_id=ONE_WAY))
    assert list(res) == ["reservation_id", "user_id", "origin", "destination", "flight_type", "cabin", "flights",
                         "passengers", "payment_history", "created_at", "total_baggages", "nonfree_baggages",
                         "insurance", "status"]  # fmt: skip
    assert res["status"] is None and res["user_id"] == MEI and len(res["passengers"]) == 2
    assert list(res["flights"][0]) == ["flight_number", "origin", "destination", "date", "price"]
    assert [(f["flight_number"], f["date"], f["price"]) for f in res["flights"]] == [
        ("HAT070", "2024-05-22", 196),
        ("HAT297", "2024-05-23", 169),
    ]


def test_get_reservation_details_unknown(tools):
    assert err(call(tools, "get_reservation_details", reservation_id="ZZZZZZ")) == "Reservation ZZZZZZ not found"


def test_list_all_airports(tools):
    airports = ok(call(tools, "list_all_airports"))
    assert len(airports) == 20 and {"iata": "SFO", "city": "San Francisco"} in airports
    assert len({a["iata"] for a in airports}) == 20


def test_get_flight_status(tools):
    assert ok(call(tools, "get_flight_status", flight_number=LANDED[0], date=LANDED[1])) == "landed"
    assert ok(call(tools, "get_flight_status", flight_number=CANCELLED[0], date=CANCELLED[1])) == "cancelled"
    assert err(call(tools, "get_flight_status", flight_number="HAT999", date="2024-05-01")) == "Flight HAT999 not found"
    message = err(call(tools, "get_flight_status", flight_number="HAT001", date="2025-01-01"))
    assert message == "Flight HAT001 not found on date 2025-01-01"


def test_search_direct_flight(tools):
    found = ok(call(tools, "search_direct_flight", origin="JFK", destination="ATL", date="2024-05-20"))
    assert "HAT136" in [f["flight_number"] for f in found]
    flights = tools.db.data["flights"]
    for f in found:
        assert (f["origin"], f["destination"], f["status"], f["date"]) == ("JFK", "ATL", "available", None)
        day = flights[f["flight_number"]]["dates"]["2024-05-20"]
        assert day["status"] == "available" and f["prices"] == day["prices"]
    # Complete: every bookable JFK->ATL flight that day is listed.
    expected = {n for n, fl in flights.items() if (fl["origin"], fl["destination"]) == ("JFK", "ATL")
                and fl["dates"].get("2024-05-20", {}).get("status") == "available"}  # fmt: skip
    assert {f["flight_number"] for f in found} == expected
    assert ok(call(tools, "search_direct_flight", origin="JFK", destination="ATL", date="2030-01-01")) == []


def test_search_onestop_flight(tools):
    pairs = ok(call(tools, "search_onestop_flight", origin="JFK", destination="SEA", date="2024-05-20"))
    assert [[a["flight_number"], b["flight_number"]] for a, b in pairs].count(["HAT136", "HAT039"]) == 1
    for first, second in pairs:
        assert first["origin"] == "JFK" and second["destination"] == "SEA"
        assert first["destination"] == second["origin"]
        assert first["date"] == "2024-05-20"
        assert second["scheduled_departure_time_est"] >= first["scheduled_arrival_time_est"]
        # tau² moves to the next day, unpadded, after an arrival past midnight.
        assert second["date"] == ("2024-05-21" if "+1" in first["scheduled_arrival_time_est"] else "2024-05-20")
    overnight = ok(call(tools, "search_onestop_flight", origin="JFK", destination="DTW", date="2024-05-20"))
    assert [(a["flight_number"], b["flight_number"], b["date"]) for a, b in overnight if "+1" in
            a["scheduled_arrival_time_est"]] == [("HAT261", "HAT020", "2024-05-21")]  # fmt: skip


def test_calculate(tools):
    assert call(tools, "calculate", expression="(120 + 80) * 2 / 3") == ToolResult("133.33")
    assert call(tools, "calculate", expression=" 2 ** 10") == ToolResult("1024.0")
    assert err(call(tools, "calculate", expression="2 + x")) == "Invalid characters in expression"
    assert err(call(tools, "calculate", expression="1 / 0")) == "division by zero"
    assert err(call(tools, "calculate", expression="1 +")).startswith("invalid syntax")
    assert err(call(tools, "calculate", expression="9 ** 9 ** 9")) == "Expression too large to evaluate"


def test_transfer_to_human_agents(tools):
    assert ok(call(tools, "transfer_to_human_agents", summary="wants a refund")) == "Transfer successful"
    assert not AgentTools.mutates("transfer_to_human_agents")


# ----------------------------------------------------------------------------------------- book_reservation
def test_book_reservation_with_certificate_and_card(tools):
    fare = price(tools, "HAT136", "2024-05-20", "economy") + price(tools, "HAT039", "2024-05-20", "economy")
    seats_before = [seats(tools, f["flight_number"], f["date"], "economy") for f in JFK_SEA]
    pay = [{"payment_id": "certificate_7504069", "amount": 250}, {"payment_id": "credit_card_4421486", "amount": fare - 250}]
    res = ok(call(tools, "book_reservation", **booking(payment_methods=pay, total_baggages=3)))
    assert res["reservation_id"] == "HATHAT" and res["created_at"] == NOW and res["status"] is None
    assert res["user_id"] == MIA and res["payment_history"] == pay and res["passengers"] == [ANN]
    assert [(f["flight_number"], f["origin"], f["destination"]) for f in res["flights"]] == [
        ("HAT136", "JFK", "ATL"),
        ("HAT039", "ATL", "SEA"),
    ]
    stored = tools.db.data["reservations"]["HATHAT"]
    assert {k: stored[k] for k in res if k != "flights"} == {k: res[k] for k in res if k != "flights"}
    assert tools.db.data["users"][MIA]["reservations"][-1] == "HATHAT"
    assert method(tools, MIA, "certificate_7504069") is None  # a certificate is spent whole
    assert method(tools, MIA, "credit_card_4421486") is not None
    assert [seats(tools, f["flight_number"], f["date"], "economy") for f in JFK_SEA] == [s - 1 for s in seats_before]


def test_book_reservation_prices_insurance_and_bags_and_draws_gift_card(tools):
    fare = price(tools, "HAT136", "2024-05-20", "basic_economy") + price(tools, "HAT039", "2024-05-20", "basic_economy")
    total = 2 * fare + 2 * 30 + 2 * 50
    pay = [{"payment_id": MEI_GIFT, "amount": 98}, {"payment_id": MEI_CARD, "amount": total - 98}]
    passengers = [ANN, {"first_name": "Bo", "last_name": "Lee", "dob": "1991-03-04", "seat": "12A"}]
    res = ok(call(tools, "book_reservation", **booking(user_id=MEI, cabin="basic_economy", passengers=passengers,
                                                        payment_methods=pay, total_baggages=4, nonfree_baggages=2,
                                                        insurance="yes")))  # fmt: skip
    assert res["insurance"] == "yes" and (res["total_baggages"], res["nonfree_baggages"]) == (4, 2)
    assert res["passengers"][1] == {"first_name": "Bo", "last_name": "Lee", "dob": "1991-03-04"}  # extras dropped
    assert method(tools, MEI, MEI_GIFT)["amount"] == 0.0
    assert isinstance(method(tools, MEI, MEI_GIFT)["amount"], float)


def test_book_reservation_ids_run_out_after_three(tools):
    fare = price(tools, "HAT136", "2024-05-20", "economy") + price(tools, "HAT039", "2024-05-20", "economy")
    args = booking(payment_methods=[{"payment_id": "credit_card_4421486", "amount": fare}])
    assert [ok(call(tools, "book_reservation", **args))["reservation_id"] for _ in range(3)] == [
        "HATHAT",
        "HATHAU",
        "HATHAV",
    ]
    before = tools.db.hash()
    assert err(call(tools, "book_reservation", **args)) == "Too many reservations"
    assert tools.db.hash() == before


def test_book_reservation_canonicalises_mis_cased_ids(tools):
    fare = price(tools, "HAT136", "2024-05-20", "economy") + price(tools, "HAT039", "2024-05-20", "economy")
    flights = [{"flight_number": "hat136", "date": "2024-05-20"}, {"flight_number": "Hat039", "date": "2024-05-20"}]
    res = ok(call(tools, "book_reservation", **booking(user_id="MIA_LI_3668", flights=flights,
                                                        payment_methods=[{"payment_id": "credit_card_4421486",
                                                                          "amount": fare}])))  # fmt: skip
    assert res["user_id"] == MIA and [f["flight_number"] for f in res["flights"]] == ["HAT136", "HAT039"]
    assert "HATHAT" in tools.db.data["users"][MIA]["reservations"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"user_id": "nobody_1"}, "User nobody_1 not found"),
        ({"flights": [{"flight_number": "HAT999", "date": "2024-05-20"}]}, "Flight HAT999 not found"),
        ({"flights": [{"flight_number": "HAT136", "date": "2030-05-20"}]}, "Flight HAT136 not found on date 2030-05-20"),
        ({"flights": [dict(zip(("flight_number", "date"), LANDED, strict=True))]},
         f"Flight {LANDED[0]} not available on date {LANDED[1]}"),
        ({"flights": [dict(zip(("flight_number", "date"), CANCELLED, strict=True))]},
         f"Flight {CANCELLED[0]} not available on date {CANCELLED[1]}"),
        ({"cabin": "basic_economy", "passengers": [ANN, ANN],
          "flights": [dict(zip(("flight_number", "date"), ONE_BASIC_SEAT, strict=True))]},
         f"Not enough seats on flight {ONE_BASIC_SEAT[0]}"),
        ({"payment_methods": [{"payment_id": "credit_card_0000000", "amount": 1}]},
         "Payment method credit_card_0000000 not found"),
        ({"payment_methods": [{"payment_id": "certificate_7504069", "amount": 251}]},
         "Not enough balance in payment method certificate_7504069"),
        ({"flights": [], "payment_methods": [{"payment_id": "credit_card_4421486", "amount": 10}]},
         "Payment amount does not add up, total price is 0, but paid 10"),
    ],
)  # fmt: skip
def test_book_reservation_errors_write_nothing(tools, overrides: dict[str, Any], message: str):
    before = tools.db.hash()
    assert err(call(tools, "book_reservation", **booking(**overrides))) == message
    assert tools.db.hash() == before


def test_book_reservation_rejects_bad_arguments(tools):
    before = tools.db.hash()
    assert call(tools, "book_reservation", **booking(cabin="first")).error
    assert call(tools, "book_reservation", **booking(passengers=[{"first_name": "Ann"}])).error
    assert call(tools, "book_reservation", **booking(payment_methods=[{"payment_id": "x", "amount": 1.5}])).error
    args = booking()
    del args["insurance"]
    assert "insurance" in err(call(tools, "book_reservation", **args))
    assert tools.db.hash() == before


def test_book_reservation_spending_a_certificate_twice_fails_midway_as_tau2_does(tools):
    """tau² checks each payment against the starting balance, then fails while deducting: writes stay partial."""
    fare = price(tools, "HAT136", "2024-05-20", "economy") + price(tools, "HAT039", "2024-05-20", "economy")
    cert = {"payment_id": "certificate_7504069", "amount": 100}
    pay = [cert, cert, {"payment_id": "credit_card_4421486", "amount": fare - 200}]
    assert err(call(tools, "book_reservation", **booking(payment_methods=pay))) == "'certificate_7504069'"
    assert method(tools, MIA, "certificate_7504069") is None
    assert "HATHAT" not in tools.db.data["reservations"]


# ---------------------------------------------------------------------------------------- cancel_reservation
def test_cancel_reservation_refunds_every_payment(tools):
    seats_before = seats(tools, "HAT070", "2024-05-22", "economy")
    res = ok(call(tools, "cancel_reservation", reservation_id=ONE_WAY))
    assert res["status"] == "cancelled"
    assert res["payment_history"] == [{"payment_id": MEI_CARD, "amount": 730}, {"payment_id": MEI_CARD, "amount": -730}]
    assert tools.db.data["reservations"][ONE_WAY]["status"] == "cancelled"
    assert seats(tools, "HAT070", "2024-05-22", "economy") == seats_before  # tau² does not release seats


def test_cancel_reservation_unknown(tools):
    assert err(call(tools, "cancel_reservation", reservation_id="ZZZZZZ")) == "Reservation ZZZZZZ not found"


# -------------------------------------------------------------------------------------- send_certificate
def test_send_certificate(tools):
    message = ok(call(tools, "send_certificate", user_id=MEI, amount=150))
    assert message == f"Certificate certificate_3221322 added to user {MEI} with amount 150."
    assert method(tools, MEI, "certificate_3221322") == {"source": "certificate", "id": "certificate_3221322",
                                                        "amount": 150.0}  # fmt: skip
    assert isinstance(method(tools, MEI, "certificate_3221322")["amount"], float)
    assert "certificate_3221323" in ok(call(tools, "send_certificate", user_id=MEI, amount=50))
    assert "certificate_3221324" in ok(call(tools, "send_certificate", user_id=MEI, amount=50))
    before = tools.db.hash()
    assert err(call(tools, "send_certificate", user_id=MEI, amount=50)) == "Too many certificates"
    assert tools.db.hash() == before


def test_send_certificate_unknown_user(tools):
    assert err(call(tools, "send_certificate", user_id="nobody_1", amount=50)) == "User nobody_1 not found"


# --------------------------------------------------------------------------------- update_reservation_baggages
def test_update_baggages_charges_added_paid_bags(tools):
    res = ok(call(tools, "update_reservation_baggages", reservation_id=ONE_WAY, total_baggages=4, nonfree_baggages=1,
                  payment_id=MEI_GIFT))  # fmt: skip
    assert (res["total_baggages"], res["nonfree_baggages"]) == (4, 1)
    assert res["payment_history"][-1] == {"payment_id": MEI_GIFT, "amount": 50}
    assert method(tools, MEI, MEI_GIFT)["amount"] == 48.0
    stored = tools.db.data["reservations"][ONE_WAY]
    assert (stored["total_baggages"], stored["nonfree_baggages"], stored["payment_history"]) == (
        4,
        1,
        res["payment_history"],
    )


def test_update_baggages_fewer_bags_is_free(tools):
    ok(call(tools, "update_reservation_baggages", reservation_id=ONE_WAY, total_baggages=3, nonfree_baggages=1,
            payment_id=MEI_CARD))  # fmt: skip
    res = ok(call(tools, "update_reservation_baggages", reservation_id=ONE_WAY, total_baggages=0, nonfree_baggages=0,
                  payment_id=MEI_CARD))  # fmt: skip
    assert res["payment_history"] == [{"payment_id": MEI_CARD, "amount": 730}, {"payment_id": MEI_CARD, "amount": 50}]
    assert (res["total_baggages"], res["nonfree_baggages"]) == (0, 0)


@pytest.mark.parametrize(
    ("reservation", "nonfree", "payment_id", "message"),
    [
        ("ZZZZZZ", 1, MEI_CARD, "Reservation ZZZZZZ not found"),
        (ONE_WAY, 1, "credit_card_0000000", "Payment method not found"),
        (ONE_WAY, 0, MEI_CERT, "Certificate cannot be used to update reservation"),
        (ONE_WAY, 2, MEI_GIFT, "Gift card balance is not enough"),  # $100 > $98
    ],
)
def test_update_baggages_errors_write_nothing(tools, reservation, nonfree, payment_id, message):
    before = tools.db.hash()
    result = call(tools, "update_reservation_baggages", reservation_id=reservation, total_baggages=3,
                  nonfree_baggages=nonfree, payment_id=payment_id)  # fmt: skip
    assert err(result) == message
    assert tools.db.hash() == before


# ---------------------------------------------------------------------------------- update_reservation_flights
def test_update_flights_unchanged_itinerary_costs_nothing(tools):
    flights = [{"flight_number": "HAT070", "date": "2024-05-22"}, {"flight_number": "HAT297", "date": "2024-05-23"}]
    res = ok(call(tools, "update_reservation_flights", reservation_id=ONE_WAY, cabin="economy", flights=flights,
                  payment_id=MEI_CARD))  # fmt: skip
    assert res["payment_history"] == [{"payment_id": MEI_CARD, "amount": 730}]
    assert [f["price"] for f in res["flights"]] == [196, 169]  # kept legs keep their booked price


def test_update_flights_cabin_change_reprices_every_leg(tools):
    flights = [{"flight_number": "HAT070", "date": "2024-05-22"}, {"flight_number": "HAT297", "date": "2024-05-23"}]
    new = [price(tools, "HAT070", "2024-05-22", "business"), price(tools, "HAT297", "2024-05-23", "business")]
    seats_before = seats(tools, "HAT070", "2024-05-22", "business")
    res = ok(call(tools, "update_reservation_flights", reservation_id=ONE_WAY, cabin="business", flights=flights,
                  payment_id=MEI_CARD))  # fmt: skip
    assert res["cabin"] == "business" and [f["price"] for f in res["flights"]] == new
    assert res["payment_history"][-1] == {"payment_id": MEI_CARD, "amount": 2 * sum(new) - 730}
    assert seats(tools, "HAT070", "2024-05-22", "business") == seats_before  # tau² leaves seat counts alone


def test_update_flights_cheaper_itinerary_refunds_to_gift_card(tools):
    res = tools.db.data["reservations"][GIFT_PAID]
    old = sum(f["price"] for f in res["flights"]) * len(res["passengers"])
    kept = [{"flight_number": f["flight_number"], "date": f["date"]} for f in res["flights"][:2]]
    out = ok(call(tools, "update_reservation_flights", reservation_id=GIFT_PAID, cabin="economy", flights=kept,
                  payment_id=MEI_GIFT))  # fmt: skip
    refund = sum(f["price"] for f in out["flights"]) * 2 - old
    assert refund < 0 and out["payment_history"][-1] == {"payment_id": MEI_GIFT, "amount": refund}
    assert method(tools, MEI, MEI_GIFT)["amount"] == 98.0 - refund


@pytest.mark.parametrize(
    ("flights", "cabin", "payment_id", "message"),
    [
        ([{"flight_number": "HAT999", "date": "2024-05-22"}], "economy", MEI_CARD, "Flight HAT999 not found"),
        ([{"flight_number": LANDED[0], "date": LANDED[1]}], "economy", MEI_CARD,
         f"Flight {LANDED[0]} not available on date {LANDED[1]}"),
        ([{"flight_number": ONE_BASIC_SEAT[0], "date": ONE_BASIC_SEAT[1]}], "basic_economy", MEI_CARD,
         f"Not enough seats on flight {ONE_BASIC_SEAT[0]}"),
        ([{"flight_number": "HAT070", "date": "2024-05-22"}], "economy", MEI_CERT,
         "Certificate cannot be used to update reservation"),
        ([{"flight_number": "HAT070", "date": "2024-05-22"}], "economy", "gift_card_0000000", "Payment method not found"),
        ([{"flight_number": "HAT070", "date": "2024-05-22"}, {"flight_number": "HAT297", "date": "2024-05-23"}],
         "business", MEI_GIFT, "Gift card balance is not enough"),
    ],
)  # fmt: skip
def test_update_flights_errors_write_nothing(tools, flights, cabin, payment_id, message):
    before = tools.db.hash()
    result = call(tools, "update_reservation_flights", reservation_id=ONE_WAY, cabin=cabin, flights=flights,
                  payment_id=payment_id)  # fmt: skip
    assert err(result) == message
    assert tools.db.hash() == before


def test_update_flights_unknown_reservation(tools):
    result = call(tools, "update_reservation_flights", reservation_id="ZZZZZZ", cabin="economy", flights=[],
                  payment_id=MEI_CARD)  # fmt: skip
    assert err(result) == "Reservation ZZZZZZ not found"


# ------------------------------------------------------------------------------- update_reservation_passengers
def test_update_passengers(tools):
    new = [ANN, {"first_name": "Bo", "last_name": "Lee", "dob": "1991-03-04"}]
    res = ok(call(tools, "update_reservation_passengers", reservation_id=ONE_WAY, passengers=new))
    assert res["passengers"] == new and tools.db.data["reservations"][ONE_WAY]["passengers"] == new
    assert tools.db.data["reservations"][ONE_WAY]["payment_history"] == [{"payment_id": MEI_CARD, "amount": 730}]


def test_update_passengers_errors(tools):
    before = tools.db.hash()
    result = call(tools, "update_reservation_passengers", reservation_id=ONE_WAY, passengers=[ANN])
    assert err(result) == "Number of passengers does not match"
    result = call(tools, "update_reservation_passengers", reservation_id="ZZZZZZ", passengers=[ANN])
    assert err(result) == "Reservation ZZZZZZ not found"
    assert tools.db.hash() == before


# ------------------------------------------------------------------------------------------ through the env
def test_env_replays_writes_and_keeps_reads_out_of_grading(domain):
    env = domain.make_env()
    fresh = domain.make_env()
    assert env.state_hash() == fresh.state_hash()
    assert not env.call("get_reservation_details", {"reservation_id": ONE_WAY}).error
    assert env.state_hash() == fresh.state_hash()
    assert not env.call("cancel_reservation", {"reservation_id": ONE_WAY}).error
    assert env.state_hash() != fresh.state_hash()
    assert [n for n in AgentTools.specs() if AgentTools.mutates(n)] == [
        "book_reservation",
        "cancel_reservation",
        "send_certificate",
        "update_reservation_baggages",
        "update_reservation_flights",
        "update_reservation_passengers",
    ]
