"""The simulated phone (telecom user toolkit) on tau²'s real user DB: tool replies, state changes and the
device rules that decide telecom's assertions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from eigenfast.domains.loader import parse_db_file
from eigenfast.domains.store import Base
from eigenfast.domains.telecom import UserTools
from eigenfast.domains.telecom.device import speed_test
from eigenfast.domains.telecom.schema import complete_user_db

HOME_BAR = "📶⁴ Excellent | 5G | 📱 Data Enabled | 🔋 80%"


@pytest.fixture(scope="module")
def base(tau2_dir: Path) -> Base:
    return Base(complete_user_db(parse_db_file(tau2_dir / "telecom" / "user_db.toml")))


@pytest.fixture
def phone(base: Base) -> UserTools:
    kit = UserTools(base.store())
    kit.call_function("simulate_network_search")  # settle on what the surroundings offer (5G, excellent)
    return kit


def say(kit: UserTools, name: str, /, **args: Any) -> str:
    result = kit.call(name, args)
    assert not result.error, result.content
    return result.content


def device(kit: UserTools) -> dict[str, Any]:
    return kit.db.data["device"]


def holds(kit: UserTools, name: str, /, **args: Any) -> Any:
    return kit.call_function(name, args)


# ---------------------------------------------------------------------------------------- status checks
def test_status_bar_and_network_status(phone: UserTools) -> None:
    assert say(phone, "check_status_bar") == f"Status Bar: {HOME_BAR}"
    assert say(phone, "check_network_status") == "\n".join([
        "Airplane Mode: OFF", "SIM Card Status: active", "Cellular Connection: connected",
        "Cellular Signal: excellent", "Cellular Network Type: 5G", "Mobile Data Enabled: Yes",
        "Data Roaming Enabled: No", "Wi-Fi Radio: OFF", "Wi-Fi Connected: No"])
    assert say(phone, "check_network_mode_preference") == "Network Mode Preference: 4g_5g_preferred"


def test_reads_do_not_write(phone: UserTools) -> None:
    before = phone.db.hash()
    for name in ("check_status_bar", "check_network_status", "check_sim_status", "run_speed_test", "can_send_mms",
                 "check_apn_settings", "check_wifi_status", "check_vpn_status", "check_installed_apps",
                 "check_payment_request", "check_data_restriction_status", "check_wifi_calling_status"):
        say(phone, name)
    assert phone.db.hash() == before


# ------------------------------------------------------------------------------------ airplane mode, SIM
def test_airplane_mode_cuts_service_and_restores_it(phone: UserTools) -> None:
    assert say(phone, "toggle_airplane_mode") == "Airplane Mode is now ON.\nStatus Bar: ✈️ Airplane Mode | 🔋 80%"
    assert holds(phone, "assert_service_status", expected_status="no_service")
    assert holds(phone, "assert_airplane_mode_status", expected_status=True)
    assert not holds(phone, "assert_mobile_data_status", expected_status=True)
    assert say(phone, "run_speed_test") == "Speed test failed: No Connection."
    assert say(phone, "toggle_wifi") == ("Cannot change Wi-Fi settings while Airplane Mode is ON.\n"
                                         "Status Bar: ✈️ Airplane Mode | 🔋 80%")
    assert say(phone, "toggle_airplane_mode") == f"Airplane Mode is now OFF.\nStatus Bar: {HOME_BAR}"
    assert holds(phone, "assert_service_status", expected_status="connected")


def test_airplane_mode_drops_wifi_and_vpn(phone: UserTools) -> None:
    say(phone, "toggle_wifi")
    say(phone, "connect_vpn")
    phone.db.edit("device").update(wifi_connected=True, wifi_ssid="Home", wifi_signal_strength="good")
    assert "📡 Connected to Home | 🔒 VPN Connected" in say(phone, "check_status_bar")
    say(phone, "toggle_airplane_mode")
    d = device(phone)
    assert (d["wifi_connected"], d["wifi_ssid"], d["vpn_connected"], d["vpn_details"]) == (False, None, False, None)
    assert d["wifi_enabled"] is True


def test_turn_airplane_mode_helpers_are_idempotent(phone: UserTools) -> None:
    assert holds(phone, "turn_airplane_mode_on") == "Airplane Mode is now ON."
    holds(phone, "turn_airplane_mode_on")
    assert device(phone)["airplane_mode"] is True
    holds(phone, "turn_airplane_mode_off")
    holds(phone, "turn_airplane_mode_off")
    assert device(phone)["airplane_mode"] is False and device(phone)["network_connection_status"] == "connected"


def test_missing_sim_is_fixed_by_reseating(phone: UserTools) -> None:
    assert holds(phone, "unseat_sim_card") == "SIM card un-seated successfully."
    assert say(phone, "check_sim_status") == "No SIM card detected in the phone."
    assert say(phone, "check_status_bar") == "Status Bar: 📵 No Signal | 📵 Data Disabled | 🔋 80%"
    assert holds(phone, "assert_service_status", expected_status="no_service")
    assert say(phone, "reseat_sim_card") == f"SIM card re-seated successfully.\nStatus Bar: {HOME_BAR}"
    assert say(phone, "check_sim_status") == "Your SIM card is active and working."


def test_locked_sim_stays_without_service(phone: UserTools) -> None:
    holds(phone, "lock_sim_card", mode="puk")
    assert say(phone, "check_sim_status") == "The SIM card is locked with a PUK code."
    say(phone, "reseat_sim_card")
    say(phone, "reboot_device")
    assert holds(phone, "assert_service_status", expected_status="no_service")
    with pytest.raises(Exception, match="not a valid NetworkStatus"):
        holds(phone, "assert_service_status", expected_status="fine")


def test_inactive_line_means_no_service(phone: UserTools) -> None:
    phone.db.edit("surroundings")["line_active"] = False
    say(phone, "reboot_device")
    assert holds(phone, "assert_service_status", expected_status="no_service")


# ----------------------------------------------------------------------------------- network preference
@pytest.mark.parametrize(("mode", "tech", "signal", "speed", "label"), [
    ("4g_5g_preferred", "5G", "excellent", 275.0, "Excellent"),
    ("4g_only", "4G", "good", 44.0, "Good"),
    ("3g_only", "3G", "fair", 1.5, "Poor"),
    ("2g_only", "2G", "poor", 0.05, "Very Poor"),
])
def test_network_mode_decides_technology_and_speed(phone: UserTools, mode: str, tech: str, signal: str,
                                                   speed: float, label: str) -> None:
    reply = say(phone, "set_network_mode_preference", mode=mode)
    assert reply.startswith(f"Preferred Network Mode set to: {mode}\nStatus Bar: ")
    d = device(phone)
    assert (d["network_technology_connected"], d["network_signal_strength"]) == (tech, signal)
    assert speed_test(d, phone.db.data["surroundings"]) == (speed, label)
    assert say(phone, "run_speed_test").startswith(f"Speed Test Result: {speed:.2f} Mbps ({label}). ")
    assert holds(phone, "assert_internet_speed", expected_speed=speed, expected_desc=label.lower())
    assert not holds(phone, "assert_internet_speed", expected_speed=speed + 1)


def test_invalid_network_mode_changes_nothing(phone: UserTools) -> None:
    before = phone.db.hash()
    assert say(phone, "set_network_mode_preference", mode="5g_only") == (
        "Failed to set network mode: '5g_only' is not a valid option. Please use one of: 4g_5g_preferred, "
        f"4g_only, 3g_only, 2g_only\nStatus Bar: {HOME_BAR}")
    assert phone.db.hash() == before


def test_no_5g_signal_falls_back_to_4g(phone: UserTools) -> None:
    phone.db.edit("surroundings", "signal_strength")["5G"] = "none"
    holds(phone, "simulate_network_search")
    assert device(phone)["network_technology_connected"] == "4G"


# ------------------------------------------------------------------------------------- data, roaming
def test_mobile_data_switch(phone: UserTools) -> None:
    assert holds(phone, "turn_data_off") == "Data connection broken."
    assert say(phone, "check_status_bar") == "Status Bar: 📶⁴ Excellent | 5G | 📵 Data Disabled | 🔋 80%"
    assert holds(phone, "assert_mobile_data_status", expected_status=False)
    assert say(phone, "toggle_data") == f"Mobile Data is now ON.\nStatus Bar: {HOME_BAR}"
    assert holds(phone, "assert_mobile_data_status", expected_status=True)
    holds(phone, "turn_data_off")
    assert holds(phone, "turn_data_on") == "Data connection restored."
    assert device(phone)["data_enabled"] is True


def test_roaming_abroad_needs_phone_and_line_permission(phone: UserTools) -> None:
    holds(phone, "set_user_location", abroad=True)
    assert not holds(phone, "assert_mobile_data_status", expected_status=True)
    assert say(phone, "toggle_roaming").startswith("Data Roaming is now ON.")
    assert holds(phone, "assert_mobile_roaming_status", expected_status=True)
    assert not holds(phone, "assert_mobile_data_status", expected_status=True)  # the line does not allow it
    phone.db.edit("surroundings")["roaming_allowed"] = True
    assert holds(phone, "assert_mobile_data_status", expected_status=True)
    holds(phone, "turn_roaming_off")
    holds(phone, "turn_roaming_off")
    assert not device(phone)["roaming_enabled"]
    holds(phone, "turn_roaming_on")
    assert device(phone)["roaming_enabled"]


def test_data_cap_blocks_mobile_data(phone: UserTools) -> None:
    phone.db.edit("surroundings")["mobile_data_usage_exceeded"] = True
    assert holds(phone, "assert_mobile_data_usage_exceeded", expected_status=True)
    assert holds(phone, "assert_mobile_data_status", expected_status=False)


def test_data_saver_slows_and_reports(phone: UserTools) -> None:
    assert say(phone, "check_data_restriction_status") == "Data Saver mode is OFF."
    assert say(phone, "toggle_data_saver_mode") == (
        "Data Saver Mode is now ON.\nStatus Bar: 📶⁴ Excellent | 5G | 📱 Data Enabled | 🔽 Data Saver | 🔋 80%")
    assert say(phone, "check_data_restriction_status") == "Data Saver mode is ON (limits data usage)."
    assert speed_test(device(phone), phone.db.data["surroundings"]) == (55.0, "Good")
    assert holds(phone, "assert_internet_not_excellent")
    assert holds(phone, "assert_mobile_data_saver_mode_status", expected_status=True)
    holds(phone, "turn_data_saver_mode_off")
    holds(phone, "turn_data_saver_mode_on")
    holds(phone, "turn_data_saver_mode_on")
    assert device(phone)["data_saver_mode"] is True


# ------------------------------------------------------------------------------------------------- VPN
def test_poor_vpn_slows_data_until_disconnected(phone: UserTools) -> None:
    assert say(phone, "check_vpn_status") == "VPN is turned OFF."
    assert holds(phone, "break_vpn") == "VPN connection broken."
    assert say(phone, "check_vpn_status") == (
        "VPN is ON and connected. Details: {'server_address': '192.168.1.1', 'protocol': 'OpenVPN', "
        "'server_performance': <PerformanceLevel.POOR: 'poor'>}")
    assert speed_test(device(phone), phone.db.data["surroundings"]) == (27.5, "Good")
    assert say(phone, "connect_vpn") == "VPN already connected."
    assert say(phone, "disconnect_vpn") == f"VPN disconnected successfully.\nStatus Bar: {HOME_BAR}"
    assert say(phone, "disconnect_vpn") == f"No active VPN connection to disconnect.\nStatus Bar: {HOME_BAR}"
    assert holds(phone, "assert_internet_speed", expected_speed=100, expected_desc="excellent")
    assert say(phone, "connect_vpn") == (
        "VPN connected successfully.\nStatus Bar: 📶⁴ Excellent | 5G | 📱 Data Enabled | 🔒 VPN Connected | 🔋 80%")
    assert device(phone)["vpn_details"]["server_performance"] == "excellent"


# ------------------------------------------------------------------------------------------ Wi-Fi, calling
def test_wifi_radio_and_calling(phone: UserTools) -> None:
    assert say(phone, "check_wifi_status") == "Wi-Fi is turned OFF."
    assert say(phone, "toggle_wifi") == f"Wi-Fi is now ON.\nStatus Bar: {HOME_BAR}"
    assert say(phone, "check_wifi_status") == "Wi-Fi is ON but not connected to any network."
    phone.db.edit("device").update(wifi_connected=True, wifi_ssid="Cafe", wifi_signal_strength="fair")
    assert say(phone, "check_wifi_status") == "Wi-Fi is ON and connected to 'Cafe'. Signal strength: fair."
    assert say(phone, "check_network_status").endswith("Wi-Fi Connected: Yes\nConnected Wi-Fi Network: Cafe")
    say(phone, "toggle_wifi")
    assert (device(phone)["wifi_connected"], device(phone)["wifi_ssid"]) == (False, None)
    assert say(phone, "check_wifi_calling_status") == "Wi-Fi Calling is currently turned OFF."
    assert say(phone, "toggle_wifi_calling").startswith("Wi-Fi Calling is now ON.\nStatus Bar: ")
    assert holds(phone, "set_wifi_calling", enabled=False) == "Wi-Fi Calling is now OFF."
    assert holds(phone, "set_wifi_calling", enabled=True, mms_over_wifi=True) == (
        "Wi-Fi Calling is now ON.\nMMS over Wi-Fi is now ON.")


# --------------------------------------------------------------------------------------------- MMS
def test_mms_rules(phone: UserTools) -> None:
    assert say(phone, "can_send_mms") == "Your messaging app can send MMS messages."
    holds(phone, "set_wifi_calling", enabled=True, mms_over_wifi=True)
    assert holds(phone, "assert_can_send_mms", expected_status=False)
    say(phone, "toggle_wifi_calling")
    assert holds(phone, "assert_can_send_mms", expected_status=True)
    say(phone, "set_network_mode_preference", mode="2g_only")
    assert say(phone, "can_send_mms") == "Your messaging app cannot send MMS messages."
    say(phone, "set_network_mode_preference", mode="3g_only")
    assert holds(phone, "assert_can_send_mms", expected_status=True)


def test_missing_permission_blocks_mms_until_granted(phone: UserTools) -> None:
    assert holds(phone, "remove_app_permission", app_name="messaging", permission="storage") == (
        True, "Permission 'storage' removed from app 'messaging'.")
    assert say(phone, "check_app_permissions", app_name="messaging") == (
        "App 'messaging' has permission for: sms, phone.")
    assert say(phone, "check_app_status", app_name="messaging") == (
        "Status for App: messaging\n - Permissions Granted:\n   - sms\n   - phone")
    assert holds(phone, "assert_can_send_mms", expected_status=False)
    assert say(phone, "grant_app_permission", app_name="messaging", permission="STORAGE") == (
        f"Success. Permission 'storage' granted to app 'messaging'.\nStatus Bar: {HOME_BAR}")
    assert holds(phone, "assert_can_send_mms", expected_status=True)


def test_app_errors_are_replies_not_failures(phone: UserTools) -> None:
    before = phone.db.hash()
    assert say(phone, "grant_app_permission", app_name="messaging", permission="camera") == (
        "Error. Permission 'camera' not tracked for app 'messaging', available permissions: "
        f"['sms', 'storage', 'phone', 'network']\nStatus Bar: {HOME_BAR}")
    assert say(phone, "grant_app_permission", app_name="camera", permission="sms").startswith(
        "Error. App 'camera' not found. Cannot grant permission.")
    assert say(phone, "check_app_status", app_name="camera") == "App 'camera' not found on this phone."
    assert say(phone, "check_app_permissions", app_name="camera") == "App 'camera' not found on this phone."
    assert holds(phone, "remove_app_permission", app_name="camera", permission="sms") == (
        False, "App 'camera' not found. Cannot remove permission.")
    assert phone.db.hash() == before
    assert say(phone, "check_installed_apps") == "The following apps are installed on the phone: messaging, browser"
    phone.db.edit("device", "app_statuses", "browser", "permissions").update(storage=False, network=False)
    assert say(phone, "check_app_permissions", app_name="browser") == (
        "App 'browser' currently has no permissions granted.")
    assert say(phone, "check_app_status", app_name="browser") == (
        "Status for App: browser\n - Permissions: None granted.")


def test_broken_mms_url_is_fixed_by_reset_and_reboot(phone: UserTools) -> None:
    holds(phone, "break_apn_mms_setting")
    assert say(phone, "check_apn_settings") == (
        "Current APN Name: internet\nMMSC URL (for picture messages): Not Set\n"
        "(These are technical settings, usually best left unchanged.)")
    assert holds(phone, "assert_can_send_mms", expected_status=False)
    assert say(phone, "reset_apn_settings") == f"APN settings will reset at reboot.\nStatus Bar: {HOME_BAR}"
    assert holds(phone, "assert_can_send_mms", expected_status=False)  # only after the reboot
    assert say(phone, "reboot_device") == (
        f"Resetting APN settings...\nRestarting network services...\nStatus Bar: {HOME_BAR}")
    assert holds(phone, "assert_can_send_mms", expected_status=True)
    assert device(phone)["active_apn_settings"]["reset_at_reboot"] is False


def test_broken_apn_means_no_service_until_reset(phone: UserTools) -> None:
    holds(phone, "break_apn_settings")
    assert holds(phone, "assert_service_status", expected_status="no_service")
    say(phone, "reboot_device")
    assert holds(phone, "assert_service_status", expected_status="no_service")
    say(phone, "reset_apn_settings")
    say(phone, "reboot_device")
    assert holds(phone, "assert_service_status", expected_status="connected")


def test_set_apn_settings(phone: UserTools) -> None:
    reply = say(phone, "set_apn_settings", apn_settings={"apn_name": "internet", "mmsc_url": None})
    assert reply == f"APN settings set to: internet\nStatus Bar: {HOME_BAR}"
    assert device(phone)["active_apn_settings"] == {"apn_name": "internet", "reset_at_reboot": False,
                                                    "mms_apn": "mms", "mmsc_url": None, "mms_proxy": None,
                                                    "mms_port": None}
    assert not holds(phone, "assert_can_send_mms", expected_status=True)
    assert say(phone, "set_apn_settings", apn_settings={}).startswith("APN settings set to: internet")
    assert holds(phone, "assert_can_send_mms", expected_status=True)
    for bad in ({"apn_name": "fast"}, {"speed": 1}, "internet"):
        result = phone.call("set_apn_settings", {"apn_settings": bad})
        assert result.error and result.content.startswith("Error: ")


# ------------------------------------------------------------------------------------------- payments
def test_payment_request_flow(phone: UserTools) -> None:
    assert say(phone, "check_payment_request") == "No payment request has been made."
    assert say(phone, "make_payment") == "You do not have a payment request."
    phone.db.edit("surroundings")["payment_request"] = {"bill_id": "B1002", "amount_due": 150.0, "paid": False}
    assert say(phone, "check_payment_request") == "You have a payment request for bill B1002 of 150.0 USD."
    assert say(phone, "make_payment") == "Payment of 150.0 USD has been made for bill B1002."
    assert phone.db.data["surroundings"]["payment_request"]["paid"] is True


def test_user_info_and_location(phone: UserTools) -> None:
    holds(phone, "set_user_info", name="John Smith", phone_number="555-123-2002")
    holds(phone, "set_user_location", abroad=True)
    around = phone.db.data["surroundings"]
    assert (around["name"], around["phone_number"], around["is_abroad"]) == ("John Smith", "555-123-2002", True)
