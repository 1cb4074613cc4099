"""The simulated phone's physics: pure functions of the device and surroundings records (read-only).

These rules decide every telecom assertion, so they follow tau²-bench's `TelecomUserTools` exactly:
what a network search connects to, when mobile data works, the speed-test figure and its label, when MMS
can be sent, and the status-bar text the user simulator reads.
"""

from __future__ import annotations

from typing import Any

NETWORK_MODES = ("4g_5g_preferred", "4g_only", "3g_only", "2g_only")
NO_SERVICE = {"network_connection_status": "no_service", "network_technology_connected": "none",
              "network_signal_strength": "none"}

SIGNAL_ICONS = {"none": "📵 No Signal", "poor": "📶¹ Poor", "fair": "📶² Fair", "good": "📶³ Good",
                "excellent": "📶⁴ Excellent"}
SIGNAL_FACTOR = {"poor": 0.2, "fair": 0.5, "good": 0.8, "excellent": 1.0, "none": 0.0}
SPEED_RANGE = {"2G": (0.1, 0.4), "3G": (1.0, 5.0), "4G": (10.0, 100.0), "5G": (50.0, 500.0), "none": (0.0, 0.0)}
MODE_TECHNOLOGY = {"4g_only": "4G", "3g_only": "3G", "2g_only": "2G"}
SIM_MESSAGES = {
    "active": "Your SIM card is active and working.",
    "missing": "No SIM card detected in the phone.",
    "locked_pin": "The SIM card is locked with a PIN code.",
    "locked_puk": "The SIM card is locked with a PUK code.",
}
SPEED_ADVICE = {
    "Very Poor": "Connection is very slow. Basic web browsing might be difficult.",
    "Poor": "Connection is slow. Web browsing may be sluggish, streaming difficult.",
    "Fair": "Connection is okay for web browsing and some standard definition streaming.",
    "Good": "Connection is good for most activities, including HD streaming.",
    "Excellent": "Connection is very fast.",
}


def sim_status(device: dict[str, Any]) -> str:
    return "missing" if device["sim_card_missing"] else device["sim_card_status"]


def network_search(device: dict[str, Any], around: dict[str, Any]) -> dict[str, str]:
    """The cellular fields a fresh network search settles on (status, technology, signal)."""
    if (sim_status(device) != "active" or device["airplane_mode"]
            or device["active_apn_settings"]["apn_name"] == "broken" or not around["line_active"]):
        return NO_SERVICE
    signal = around["signal_strength"]
    mode = device["network_mode_preference"]
    if mode == "4g_5g_preferred" and signal.get("5G", "none") != "none":
        technology = "5G"
    else:
        technology = MODE_TECHNOLOGY.get(mode, "4G")
    return {"network_connection_status": "connected", "network_technology_connected": technology,
            "network_signal_strength": signal.get(technology, "none")}


def mobile_data_working(device: dict[str, Any], around: dict[str, Any]) -> bool:
    """Whether cellular data gets through: radio on, in service, roaming allowed abroad, switch on, under cap."""
    if device["airplane_mode"] or device["network_signal_strength"] == "none":
        return False
    if device["network_connection_status"] == "no_service":
        return False
    if around["is_abroad"] and not (device["roaming_enabled"] and around["roaming_allowed"]):
        return False
    return bool(device["data_enabled"]) and not around["mobile_data_usage_exceeded"]


def speed_test(device: dict[str, Any], around: dict[str, Any]) -> tuple[float | None, str]:
    """The simulated download speed in Mbps and its label; `(None, "No Connection")` without data."""
    if not mobile_data_working(device, around):
        return None, "No Connection"
    vpn = device["vpn_details"]
    factor = 0.1 if device["vpn_connected"] and vpn and vpn["server_performance"] == "poor" else 1.0
    if device["data_saver_mode"]:
        factor *= 0.2
    low, high = SPEED_RANGE.get(device["network_technology_connected"], (0.0, 0.0))
    speed = round((low + high) / 2.0 * SIGNAL_FACTOR.get(device["network_signal_strength"], 0.0) * factor, 2)
    if speed < 1:
        return speed, "Very Poor"
    if speed < 5:
        return speed, "Poor"
    if speed < 25:
        return speed, "Fair"
    if speed < 100:
        return speed, "Good"
    return speed, "Excellent"


def can_send_mms(device: dict[str, Any], around: dict[str, Any]) -> bool:
    """MMS needs working data on 3G or better, no carrier-unsupported MMS-over-Wi-Fi, an MMSC URL, and a
    messaging app allowed SMS and storage."""
    if not mobile_data_working(device, around) or device["network_technology_connected"] == "2G":
        return False
    if device["wifi_calling_enabled"] and device["wifi_calling_mms_over_wifi"]:
        return False
    if device["active_apn_settings"]["mmsc_url"] is None:
        return False
    app = device["app_statuses"].get("messaging")
    if app is None:
        return False
    return bool(app["permissions"]["storage"] and app["permissions"]["sms"])


def status_bar(device: dict[str, Any]) -> str:
    """The status-bar line: airplane mode or signal/technology/data, then Wi-Fi, VPN and battery."""
    parts = []
    if device["airplane_mode"]:
        parts.append("✈️ Airplane Mode")
    else:
        parts.append(SIGNAL_ICONS.get(device["network_signal_strength"], "📵 No Signal"))
        technology = device["network_technology_connected"]
        if technology != "none":
            parts.append(technology)
        if device["data_enabled"] and technology != "none":
            parts.append("📱 Data Enabled")
            if device["data_saver_mode"]:
                parts.append("🔽 Data Saver")
        else:
            parts.append("📵 Data Disabled")
    if device["wifi_enabled"] and device["wifi_connected"]:
        parts.append(f"📡 Connected to {device['wifi_ssid']}" if device["wifi_ssid"] else "📡 Enabled")
    if device["vpn_connected"]:
        parts.append("🔒 VPN Connected")
    parts.append(f"🔋 {device['battery_level']}%")
    return " | ".join(parts)


def python_repr(value: Any) -> str:
    """`repr` of a VPN details dict as tau² prints it (its performance level is an Enum member there)."""
    items = []
    for key, item in value.items():
        text = f"<PerformanceLevel.{item.upper()}: {item!r}>" if key == "server_performance" else repr(item)
        items.append(f"{key!r}: {text}")
    return "{" + ", ".join(items) + "}"
