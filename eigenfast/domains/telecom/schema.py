"""The shape of telecom's two DBs: every record's fields, in tau²'s order, with tau²'s defaults.

tau²-bench loads `db.toml` and `user_db.toml` into pydantic models, so absent fields take their defaults
(the user DB file has no `surroundings` table at all, and the phone lacks `wifi_ssid`, `vpn_details`, ...).
`complete_db` and `complete_user_db` do the same once per parsed file: afterwards every tool can read any
field directly, a record dumps in the order a model sees under tau², and writing a field its default value
gives the same state as never touching it (so state hashes agree where tau²'s do).

Values stay JSON-plain: dates are `YYYY-MM-DD` strings and date-times are written the way tau² prints them
(`str(datetime)`, e.g. `2025-01-15 10:30:00`); numbers typed `float` upstream are floats here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

# A record type: ordered (field, default) pairs. REQUIRED marks a field without a default.
REQUIRED = object()

PLAN = (("plan_id", REQUIRED), ("name", REQUIRED), ("data_limit_gb", REQUIRED), ("price_per_month", REQUIRED),
        ("data_refueling_price_per_gb", REQUIRED))
DEVICE = (("device_id", REQUIRED), ("device_type", REQUIRED), ("model", REQUIRED), ("imei", None),
          ("is_esim_capable", REQUIRED), ("activated", False), ("activation_date", None),
          ("last_esim_transfer_date", None))
LINE = (("line_id", REQUIRED), ("phone_number", REQUIRED), ("status", "Pending Activation"), ("plan_id", REQUIRED),
        ("device_id", None), ("data_used_gb", 0.0), ("data_refueling_gb", 0.0), ("roaming_enabled", False),
        ("contract_end_date", None), ("last_plan_change_date", None), ("last_sim_replacement_date", None),
        ("suspension_start_date", None))
LINE_ITEM = (("description", REQUIRED), ("amount", REQUIRED), ("date", REQUIRED), ("item_type", REQUIRED))
BILL = (("bill_id", REQUIRED), ("customer_id", REQUIRED), ("period_start", REQUIRED), ("period_end", REQUIRED),
        ("issue_date", REQUIRED), ("total_due", REQUIRED), ("due_date", REQUIRED), ("line_items", ()),
        ("status", "Draft"))
ADDRESS = (("street", REQUIRED), ("city", REQUIRED), ("state", REQUIRED), ("zip_code", REQUIRED))
PAYMENT_METHOD = (("method_type", REQUIRED), ("account_number_last_4", REQUIRED), ("expiration_date", REQUIRED))
CUSTOMER = (("customer_id", REQUIRED), ("full_name", REQUIRED), ("date_of_birth", REQUIRED), ("email", REQUIRED),
            ("phone_number", REQUIRED), ("address", REQUIRED), ("account_status", "Pending Verification"),
            ("payment_methods", ()), ("line_ids", ()), ("bill_ids", ()), ("created_at", "2025-01-01"),
            ("last_extension_date", None), ("goodwill_credit_used_this_year", 0.0))

FLOAT_FIELDS = frozenset({"data_limit_gb", "price_per_month", "data_refueling_price_per_gb", "data_used_gb",
                          "data_refueling_gb", "amount", "total_due", "goodwill_credit_used_this_year",
                          "amount_due"})
DATETIME_FIELDS = frozenset({"activation_date", "last_esim_transfer_date", "created_at"})

APN_SETTINGS = (("apn_name", "internet"), ("reset_at_reboot", False), ("mms_apn", "mms"),
                ("mmsc_url", "http://mms.carrier.com/mms/wapenc"), ("mms_proxy", None), ("mms_port", None))
VPN_DETAILS = (("server_address", None), ("protocol", None), ("server_performance", "unknown"))
APP_PERMISSIONS = (("sms", False), ("storage", False), ("phone", False), ("network", False))
APP_STATUS = (("app_name", REQUIRED), ("permissions", None))
PAYMENT_REQUEST = (("bill_id", REQUIRED), ("amount_due", REQUIRED), ("paid", False))
DEVICE_STATE = (("sim_card_status", "active"), ("sim_card_missing", False), ("airplane_mode", False),
                ("network_signal_strength", "good"), ("network_technology_connected", "5G"),
                ("network_connection_status", "connected"), ("battery_level", 80), ("data_enabled", True),
                ("roaming_enabled", False), ("network_mode_preference", "4g_5g_preferred"),
                ("active_apn_settings", REQUIRED), ("wifi_enabled", False), ("wifi_connected", False),
                ("wifi_ssid", None), ("wifi_signal_strength", "none"), ("wifi_calling_enabled", False),
                ("wifi_calling_mms_over_wifi", False), ("data_saver_mode", False), ("vpn_enabled_setting", False),
                ("vpn_connected", False), ("vpn_details", None), ("app_statuses", REQUIRED))
SURROUNDINGS = (("name", None), ("phone_number", None), ("is_abroad", False), ("roaming_allowed", False),
                ("signal_strength", REQUIRED), ("mobile_data_usage_exceeded", False), ("line_active", True),
                ("payment_request", None))

DEFAULT_APPS = {
    "messaging": {"app_name": "messaging", "permissions": {"sms": True, "storage": True, "phone": True}},
    "browser": {"app_name": "browser", "permissions": {"network": True, "storage": True}},
}
DEFAULT_SIGNAL = {"2G": "poor", "3G": "fair", "4G": "good", "5G": "excellent"}


class SchemaError(ValueError):
    """A DB record lacks a required field or has an unknown one (tau²'s models forbid extras)."""


def record(kind: str, fields: tuple[tuple[str, Any], ...], data: dict[str, Any]) -> dict[str, Any]:
    """`data` as a complete record of `fields`: defaults filled, field order fixed, numbers/dates normalised."""
    extra = set(data) - {name for name, _ in fields}
    if extra:
        raise SchemaError(f"{kind}: unknown field(s) {sorted(extra)}")
    out: dict[str, Any] = {}
    for name, default in fields:
        if name in data:
            value = data[name]
        elif default is REQUIRED:
            raise SchemaError(f"{kind}: missing required field {name!r}")
        else:
            value = list(default) if isinstance(default, tuple) else default
        if value is not None:
            if name in FLOAT_FIELDS and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            elif name in DATETIME_FIELDS:
                value = _datetime_text(value)
        out[name] = value
    return out


def _datetime_text(value: Any) -> str:
    """How tau² prints a date-time field (`str()` of the parsed value; a bare date stays a date)."""
    if isinstance(value, datetime):
        return str(value)
    text = str(value)
    if len(text) <= 10:  # a bare date, as tau²'s own default `created_at` is
        return text
    try:
        return str(datetime.fromisoformat(text))
    except ValueError as exc:
        raise SchemaError(f"bad date-time {text!r}: {exc}") from None


def _records(kind: str, fields: tuple[tuple[str, Any], ...], rows: Any) -> list[dict[str, Any]]:
    return [record(kind, fields, row) for row in rows or ()]


def complete_db(data: dict[str, Any]) -> dict[str, Any]:
    """The agent-side DB (`db.toml`) with every record complete, as tau²'s `TelecomDB` holds it."""
    known = {"plans", "customers", "lines", "bills", "devices", "phone_number_aliases"}
    extra = set(data) - known
    if extra:
        raise SchemaError(f"telecom db: unknown table(s) {sorted(extra)}")
    customers = []
    for row in data.get("customers") or ():
        customer = record("customer", CUSTOMER, row)
        customer["address"] = record("address", ADDRESS, customer["address"])
        customer["payment_methods"] = _records("payment method", PAYMENT_METHOD, customer["payment_methods"])
        customer["line_ids"] = list(customer["line_ids"])
        customer["bill_ids"] = list(customer["bill_ids"])
        customers.append(customer)
    bills = []
    for row in data.get("bills") or ():
        bill = record("bill", BILL, row)
        bill["line_items"] = _records("line item", LINE_ITEM, bill["line_items"])
        bills.append(bill)
    return {
        "plans": _records("plan", PLAN, data.get("plans")),
        "customers": customers,
        "lines": _records("line", LINE, data.get("lines")),
        "bills": bills,
        "devices": _records("device", DEVICE, data.get("devices")),
        "phone_number_aliases": dict(data.get("phone_number_aliases") or {}),
    }


def complete_apn(data: dict[str, Any]) -> dict[str, Any]:
    return record("APN settings", APN_SETTINGS, data)


def _app_status(data: dict[str, Any]) -> dict[str, Any]:
    app = record("app status", APP_STATUS, data)
    app["permissions"] = record("app permissions", APP_PERMISSIONS, app["permissions"] or {})
    return app


def complete_user_db(data: dict[str, Any]) -> dict[str, Any]:
    """The user-side DB (`user_db.toml`: the phone and its surroundings) with every field present."""
    extra = set(data) - {"device", "surroundings"}
    if extra:
        raise SchemaError(f"telecom user db: unknown table(s) {sorted(extra)}")
    raw = dict(data.get("device") or {})
    raw["active_apn_settings"] = complete_apn(raw.get("active_apn_settings") or {})
    if raw.get("vpn_details") is not None:
        raw["vpn_details"] = record("VPN details", VPN_DETAILS, raw["vpn_details"])
    apps = raw.get("app_statuses", DEFAULT_APPS)
    raw["app_statuses"] = {name: _app_status(app) for name, app in apps.items()}
    device = record("device", DEVICE_STATE, raw)
    around = dict(data.get("surroundings") or {})
    around.setdefault("signal_strength", dict(DEFAULT_SIGNAL))
    if around.get("payment_request") is not None:
        around["payment_request"] = record("payment request", PAYMENT_REQUEST, around["payment_request"])
    surroundings = record("surroundings", SURROUNDINGS, around)
    surroundings["signal_strength"] = dict(surroundings["signal_strength"])
    return {"device": device, "surroundings": surroundings}
