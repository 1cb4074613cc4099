"""tau² airline domain: flight search, booking and reservation changes, priced and paid as tau²-bench does.

The DB is tau²'s `airline/db.json` as plain dicts (`flights`, `users`, `reservations`). Every rule that decides
the graded end state is reproduced: the fixed clock and id sequences for new reservations and certificates,
the order of checks (it decides which error an agent sees and how much was written before it), fees, refunds,
gift-card and certificate balances and seat counts. Results are shaped like tau²'s `model_dump` output (field
order, `status: null` on live reservations) so a model sees the same text as under tau²-bench.

Ids are matched as tau²-bench now matches them: exactly first, then ignoring surrounding spaces, case and
accents, and the stored (canonical) id is what gets written.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from eigenfast.domains.calculator import calculate_expression
from eigenfast.domains.matching import fold
from eigenfast.domains.spec import DomainSpec
from eigenfast.domains.toolkit import ToolError, Toolkit, tool

NOW = "2024-05-15T15:00:00"  # tau²'s frozen clock for `created_at`
NEW_RESERVATION_IDS = ("HATHAT", "HATHAU", "HATHAV")
NEW_CERTIFICATE_IDS = ("certificate_3221322", "certificate_3221323", "certificate_3221324")
BAG_FEE = 50
INSURANCE_FEE = 30
AIRPORTS = (
    ("SFO", "San Francisco"),
    ("JFK", "New York"),
    ("LAX", "Los Angeles"),
    ("ORD", "Chicago"),
    ("DFW", "Dallas"),
    ("DEN", "Denver"),
    ("SEA", "Seattle"),
    ("ATL", "Atlanta"),
    ("MIA", "Miami"),
    ("BOS", "Boston"),
    ("PHX", "Phoenix"),
    ("IAH", "Houston"),
    ("LAS", "Las Vegas"),
    ("MCO", "Orlando"),
    ("EWR", "Newark"),
    ("CLT", "Charlotte"),
    ("MSP", "Minneapolis"),
    ("DTW", "Detroit"),
    ("PHL", "Philadelphia"),
    ("LGA", "LaGuardia"),
)

Cabin = Literal["business", "economy", "basic_economy"]
FlightType = Literal["round_trip", "one_way"]
Insurance = Literal["yes", "no"]


def _described(tp: Any, text: str) -> Any:
    return Annotated[tp, msgspec.Meta(description=text)]


class FlightInfo(msgspec.Struct):
    """One flight leg to book or keep."""

    flight_number: _described(str, "Flight number, e.g. 'HAT001'.")
    date: _described(str, "Departure date as YYYY-MM-DD, e.g. '2024-05-01'.")


class Passenger(msgspec.Struct):
    """A traveller on a reservation."""

    first_name: _described(str, "Passenger's first name.")
    last_name: _described(str, "Passenger's last name.")
    dob: _described(str, "Date of birth as YYYY-MM-DD.")


class Payment(msgspec.Struct):
    """An amount charged to one of the user's saved payment methods."""

    payment_id: _described(str, "Id of a saved payment method, e.g. 'credit_card_7815826'.")
    amount: _described(int, "Amount in whole dollars.")


# ------------------------------------------------------------------------------------------- id matching
def _resolve(table: dict[str, Any], key: str) -> str | None:
    """The stored key matching `key` exactly, or up to surrounding spaces, case and accents."""
    if key in table:
        return key
    stripped = key.strip()
    if stripped in table:
        return stripped
    folded = fold(stripped)
    return next((candidate for candidate in table if fold(candidate) == folded), None)


# ------------------------------------------------------------------------------------- result shaping
_RESERVATION_FIELDS = (
    "reservation_id",
    "user_id",
    "origin",
    "destination",
    "flight_type",
    "cabin",
    "flights",
    "passengers",
    "payment_history",
    "created_at",
    "total_baggages",
    "nonfree_baggages",
    "insurance",
    "status",
)
_LEG_FIELDS = ("flight_number", "origin", "destination", "date", "price")


def _reservation_view(record: dict[str, Any]) -> dict[str, Any]:
    """A reservation as tau² prints it: model field order, `status` null unless cancelled."""
    out = {name: record.get(name) for name in _RESERVATION_FIELDS}
    out["flights"] = [{name: leg.get(name) for name in _LEG_FIELDS} for leg in record["flights"]]
    return out


def _direct_flight(flight: dict[str, Any], day: dict[str, Any], date: str | None) -> dict[str, Any]:
    return {
        "flight_number": flight["flight_number"],
        "origin": flight["origin"],
        "destination": flight["destination"],
        "status": "available",
        "scheduled_departure_time_est": flight["scheduled_departure_time_est"],
        "scheduled_arrival_time_est": flight["scheduled_arrival_time_est"],
        "date": date,
        "available_seats": day["available_seats"],
        "prices": day["prices"],
    }


# ------------------------------------------------------------------------------------------- toolkit
class AgentTools(Toolkit):
    """The airline agent's tools over one environment's DB."""

    # ------------------------------------------------------------------------------------ lookups
    def _row(self, table: str, key: str, what: str) -> tuple[str, dict[str, Any]]:
        """(stored key, record) of `table` matching `key` as `_resolve` does; `{what} {key} not found` if none."""
        rows = self.db.data[table]
        stored = _resolve(rows, key)
        if stored is None:
            raise ToolError(f"{what} {key} not found")
        return stored, rows[stored]

    def _user(self, user_id: str) -> tuple[str, dict[str, Any]]:
        return self._row("users", user_id, "User")

    def _reservation(self, reservation_id: str) -> tuple[str, dict[str, Any]]:
        return self._row("reservations", reservation_id, "Reservation")

    def _flight(self, flight_number: str) -> tuple[str, dict[str, Any]]:
        return self._row("flights", flight_number, "Flight")

    def _flight_day(self, flight_number: str, date: str) -> tuple[str, dict[str, Any]]:
        key, flight = self._flight(flight_number)
        if date not in flight["dates"]:
            raise ToolError(f"Flight {flight_number} not found on date {date}")
        return key, flight["dates"][date]

    def _bookable_day(
        self, flight_number: str, date: str, cabin: str, seats: int
    ) -> tuple[str, dict[str, Any]]:
        key, day = self._flight_day(flight_number, date)
        if day["status"] != "available":
            raise ToolError(f"Flight {flight_number} not available on date {date}")
        if day["available_seats"][cabin] < seats:
            raise ToolError(f"Not enough seats on flight {flight_number}")
        return key, day

    def _available(
        self, date: str, origin: str | None, destination: str | None, leave_after: str | None = None
    ) -> list[dict[str, Any]]:
        found = []
        for flight in self.db.data["flights"].values():
            day = flight["dates"].get(date)
            if (
                day is not None
                and day["status"] == "available"
                and (origin is None or flight["origin"] == origin)
                and (destination is None or flight["destination"] == destination)
                and (leave_after is None or flight["scheduled_departure_time_est"] >= leave_after)
            ):
                found.append(_direct_flight(flight, day, None))
        return found

    # ------------------------------------------------------------------------------------ payment
    def _charge_for_update(self, user_key: str, payment_id: str, amount: int) -> dict[str, Any] | None:
        """Charge (or, when negative, refund) a change; certificates are refused. None when amount is 0."""
        methods = self.db.data["users"][user_key]["payment_methods"]
        if payment_id not in methods:
            raise ToolError("Payment method not found")
        source = methods[payment_id]["source"]
        if source == "certificate":
            raise ToolError("Certificate cannot be used to update reservation")
        if source == "gift_card":
            if methods[payment_id]["amount"] < amount:
                raise ToolError("Gift card balance is not enough")
            self.db.edit("users", user_key, "payment_methods", payment_id)["amount"] -= amount
        return {"payment_id": payment_id, "amount": amount} if amount != 0 else None

    # -------------------------------------------------------------------------------------- tools
    @tool("write")
    def book_reservation(
        self,
        user_id: str,
        origin: str,
        destination: str,
        flight_type: FlightType,
        cabin: Cabin,
        flights: list[FlightInfo],
        passengers: list[Passenger],
        payment_methods: list[Payment],
        total_baggages: int,
        nonfree_baggages: int,
        insurance: Insurance,
    ) -> dict[str, Any]:
        """Create a new reservation for a user, charging its full price to the given payment methods.

        The price is each flight's cabin fare per passenger, plus $30 per passenger with insurance and $50 per
        non-free bag; the payments must add up to it exactly. Certificates used are consumed whole.

        Args:
            user_id: Id of the user making the booking, e.g. 'sara_doe_496'.
            origin: IATA code of the trip's origin, e.g. 'SFO'.
            destination: IATA code of the trip's destination, e.g. 'JFK'.
            flight_type: 'one_way' or 'round_trip'.
            cabin: 'basic_economy', 'economy' or 'business'; applies to every flight.
            flights: Every flight leg of the trip, each with its flight number and date.
            passengers: Every traveller, each with first name, last name and date of birth.
            payment_methods: The user's saved payment methods to charge and how much to charge each.
            total_baggages: Total number of checked bags.
            nonfree_baggages: How many of those bags are paid for.
            insurance: 'yes' to buy travel insurance, otherwise 'no'.
        """
        user_key, user = self._user(user_id)
        reservation_id = next((r for r in NEW_RESERVATION_IDS if r not in self.db.data["reservations"]), None)
        if reservation_id is None:
            raise ToolError("Too many reservations")
        seats = len(passengers)
        legs, booked, total = [], [], 0
        for info in flights:
            _, flight = self._flight(info.flight_number)
            number = flight["flight_number"]
            key, day = self._bookable_day(number, info.date, cabin, seats)
            price = day["prices"][cabin]
            legs.append(
                {
                    "origin": flight["origin"],
                    "destination": flight["destination"],
                    "flight_number": number,
                    "date": info.date,
                    "price": price,
                }
            )
            booked.append((key, info.date))
            total += price * seats
        if insurance == "yes":
            total += INSURANCE_FEE * seats
        total += BAG_FEE * nonfree_baggages

        methods = user["payment_methods"]
        for payment in payment_methods:
            if payment.payment_id not in methods:
                raise ToolError(f"Payment method {payment.payment_id} not found")
            method = methods[payment.payment_id]
            if method["source"] in ("gift_card", "certificate") and method["amount"] < payment.amount:
                raise ToolError(f"Not enough balance in payment method {payment.payment_id}")
        paid = sum(payment.amount for payment in payment_methods)
        if paid != total:
            raise ToolError(f"Payment amount does not add up, total price is {total}, but paid {paid}")

        # Checks passed: write. A certificate listed twice fails here after partial writes, as upstream.
        for payment in payment_methods:
            methods = self.db.data["users"][user_key]["payment_methods"]
            source = methods[payment.payment_id]["source"]  # KeyError on a second use of a spent certificate
            if source == "gift_card":
                self.db.edit("users", user_key, "payment_methods", payment.payment_id)["amount"] -= (
                    payment.amount
                )
            elif source == "certificate":
                del self.db.edit("users", user_key, "payment_methods")[payment.payment_id]
        for key, date in booked:
            self.db.edit("flights", key, "dates", date, "available_seats")[cabin] -= seats
        record = {
            "reservation_id": reservation_id,
            "user_id": user["user_id"],
            "origin": origin,
            "destination": destination,
            "flight_type": flight_type,
            "cabin": cabin,
            "flights": legs,
            "passengers": [msgspec.structs.asdict(p) for p in passengers],
            "payment_history": [msgspec.structs.asdict(p) for p in payment_methods],
            "created_at": NOW,
            "total_baggages": total_baggages,
            "nonfree_baggages": nonfree_baggages,
            "insurance": insurance,
            "status": None,
        }
        self.db.edit("reservations")[reservation_id] = record
        self.db.edit("users", user_key, "reservations").append(reservation_id)
        return _reservation_view(record)

    @tool("generic")
    def calculate(self, expression: str) -> str:
        """Evaluate an arithmetic expression and return the result rounded to two decimals.

        Args:
            expression: Arithmetic using numbers, + - * /, parentheses and spaces, e.g. '(120 + 80) * 2'.
        """
        return calculate_expression(expression)

    @tool("write")
    def cancel_reservation(self, reservation_id: str) -> dict[str, Any]:
        """Cancel a whole reservation and refund every payment on it to the method that paid.

        Args:
            reservation_id: The reservation's six-character id, e.g. 'ZFA04Y'.
        """
        key, _ = self._reservation(reservation_id)
        record = self.db.edit("reservations", key)
        history = self.db.edit("reservations", key, "payment_history")
        history.extend([{"payment_id": p["payment_id"], "amount": -p["amount"]} for p in list(history)])
        record["status"] = "cancelled"  # seats are not released, as in tau²-bench
        return _reservation_view(record)

    @tool("read")
    def get_reservation_details(self, reservation_id: str) -> dict[str, Any]:
        """Look up a reservation: its flights, passengers, payments, bags and insurance.

        Args:
            reservation_id: The reservation's six-character id, e.g. '8JX2WO'.
        """
        return _reservation_view(self._reservation(reservation_id)[1])

    @tool("read")
    def get_user_details(self, user_id: str) -> dict[str, Any]:
        """Look up a user's profile: name, contact, membership, saved payment methods, passengers and reservations.

        Args:
            user_id: The user's id, e.g. 'sara_doe_496'.
        """
        return self._user(user_id)[1]

    @tool("read")
    def list_all_airports(self) -> list[dict[str, str]]:
        """List the airports served, as IATA code and city."""
        return [{"iata": iata, "city": city} for iata, city in AIRPORTS]

    @tool("read")
    def search_direct_flight(self, origin: str, destination: str, date: str) -> list[dict[str, Any]]:
        """Find nonstop flights between two airports that can still be booked on a date.

        Args:
            origin: IATA code of the departure airport, e.g. 'JFK'.
            destination: IATA code of the arrival airport, e.g. 'LAX'.
            date: Travel date as YYYY-MM-DD, e.g. '2024-05-01'.
        """
        return self._available(date, origin, destination)

    @tool("read")
    def search_onestop_flight(self, origin: str, destination: str, date: str) -> list[list[dict[str, Any]]]:
        """Find bookable two-leg connections between two airports departing on a date.

        Each result is a pair of flights; the second leaves the connecting airport no earlier than the first
        arrives, on the next day when the first lands after midnight.

        Args:
            origin: IATA code of the departure airport, e.g. 'JFK'.
            destination: IATA code of the final arrival airport, e.g. 'LAX'.
            date: Departure date of the first leg as YYYY-MM-DD, e.g. '2024-05-01'.
        """
        pairs = []
        for first in self._available(date, origin, None):
            first["date"] = date
            arrival = first["scheduled_arrival_time_est"]
            # tau² builds the next day's date without zero padding (so '2024-05-05' -> '2024-05-6').
            second_date = f"2024-05-{int(date[-2:]) + 1}" if "+1" in arrival else date
            for second in self._available(
                second_date, first["destination"], destination, leave_after=arrival
            ):
                second["date"] = second_date
                pairs.append([first, second])
        return pairs

    @tool("write")
    def send_certificate(self, user_id: str, amount: int) -> str:
        """Give a user a travel certificate worth the given amount, as compensation. Use with care.

        Args:
            user_id: The user's id, e.g. 'sara_doe_496'.
            amount: The certificate's value in dollars.
        """
        user_key, user = self._user(user_id)
        for payment_id in NEW_CERTIFICATE_IDS:
            if payment_id not in user["payment_methods"]:
                certificate = {"source": "certificate", "id": payment_id, "amount": float(amount)}
                self.db.edit("users", user_key, "payment_methods")[payment_id] = certificate
                return f"Certificate {payment_id} added to user {user_id} with amount {amount}."
        raise ToolError("Too many certificates")

    @tool("generic")
    def transfer_to_human_agents(self, summary: str) -> str:
        """Hand the conversation to a human agent with a summary of the user's issue.

        Only when the user asks for a human, or when the policy and these tools cannot resolve the request.

        Args:
            summary: A short summary of the user's issue for the human agent.
        """
        return "Transfer successful"

    @tool("write")
    def update_reservation_baggages(
        self, reservation_id: str, total_baggages: int, nonfree_baggages: int, payment_id: str
    ) -> dict[str, Any]:
        """Change the number of checked bags on a reservation, charging $50 for each added non-free bag.

        Removing bags refunds nothing. Certificates cannot pay for changes.

        Args:
            reservation_id: The reservation's six-character id, e.g. 'ZFA04Y'.
            total_baggages: The new total number of checked bags.
            nonfree_baggages: The new number of paid bags.
            payment_id: Id of a saved payment method of the reservation's owner, e.g. 'credit_card_7815826'
                or 'gift_card_7815826'.
        """
        key, reservation = self._reservation(reservation_id)
        user_key, _ = self._user(reservation["user_id"])
        price = BAG_FEE * max(0, nonfree_baggages - reservation["nonfree_baggages"])
        payment = self._charge_for_update(user_key, payment_id, price)
        record = self.db.edit("reservations", key)
        if payment is not None:
            self.db.edit("reservations", key, "payment_history").append(payment)
        record["total_baggages"] = total_baggages
        record["nonfree_baggages"] = nonfree_baggages
        return _reservation_view(record)

    @tool("write")
    def update_reservation_flights(
        self, reservation_id: str, cabin: Cabin, flights: list[FlightInfo], payment_id: str
    ) -> dict[str, Any]:
        """Replace a reservation's flights and/or cabin, charging or refunding the fare difference.

        Legs kept on the same date in the same cabin keep their original price; every other leg is priced at
        today's fare. Certificates cannot pay for changes.

        Args:
            reservation_id: The reservation's six-character id, e.g. 'ZFA04Y'.
            cabin: The cabin for the whole new itinerary: 'basic_economy', 'economy' or 'business'.
            flights: Every leg of the new itinerary, including legs that do not change.
            payment_id: Id of a saved payment method of the reservation's owner, e.g. 'credit_card_7815826'
                or 'gift_card_7815826'.
        """
        key, reservation = self._reservation(reservation_id)
        user_key, _ = self._user(reservation["user_id"])
        seats = len(reservation["passengers"])
        legs, total = [], 0
        for info in flights:
            _, flight = self._flight(info.flight_number)
            number = flight["flight_number"]
            kept = next(
                (
                    leg
                    for leg in reservation["flights"]
                    if leg["flight_number"] == number
                    and leg["date"] == info.date
                    and cabin == reservation["cabin"]
                ),
                None,
            )
            if kept is not None:
                legs.append(kept)
                total += kept["price"] * seats
                continue
            _, day = self._bookable_day(number, info.date, cabin, seats)
            legs.append(
                {
                    "origin": flight["origin"],
                    "destination": flight["destination"],
                    "flight_number": number,
                    "date": info.date,
                    "price": day["prices"][cabin],
                }
            )
            total += day["prices"][cabin] * seats
        total -= sum(leg["price"] for leg in reservation["flights"]) * seats
        payment = self._charge_for_update(user_key, payment_id, total)
        record = self.db.edit("reservations", key)
        if payment is not None:
            self.db.edit("reservations", key, "payment_history").append(payment)
        # Seat counts are left alone, as in tau²-bench.
        record["flights"] = legs
        record["cabin"] = cabin
        return _reservation_view(record)

    @tool("write")
    def update_reservation_passengers(
        self, reservation_id: str, passengers: list[Passenger]
    ) -> dict[str, Any]:
        """Replace the passenger details on a reservation; the number of passengers cannot change.

        Args:
            reservation_id: The reservation's six-character id, e.g. 'ZFA04Y'.
            passengers: Every passenger, in order, each with first name, last name and date of birth.
        """
        key, reservation = self._reservation(reservation_id)
        if len(passengers) != len(reservation["passengers"]):
            raise ToolError("Number of passengers does not match")
        record = self.db.edit("reservations", key)
        record["passengers"] = [msgspec.structs.asdict(p) for p in passengers]
        return _reservation_view(record)

    @tool("read")
    def get_flight_status(self, flight_number: str, date: str) -> str:
        """Tell whether a flight on a date is available, on time, delayed, flying, landed or cancelled.

        Args:
            flight_number: The flight number, e.g. 'HAT001'.
            date: The flight date as YYYY-MM-DD.
        """
        return self._flight_day(flight_number, date)[1]["status"]


def complete_db(data: dict[str, Any]) -> dict[str, Any]:
    """Fill what tau²'s models default (a reservation's `status` is null until cancelled), without mutating `data`.

    With it the DB equals tau²'s `model_dump()` value for value, so hashes and exports agree with tau²-bench's.
    """
    reservations = data.get("reservations") or {}
    if all("status" in r for r in reservations.values()):
        return data
    filled = {rid: r if "status" in r else {**r, "status": None} for rid, r in reservations.items()}
    return {**data, "reservations": filled}


SPEC = DomainSpec(name="airline", db_file="db.json", agent_tools=AgentTools, prepare_db=complete_db)

__all__ = ["SPEC", "AgentTools", "FlightInfo", "Passenger", "Payment", "complete_db"]
