"""The user's phone: the tools the user simulator calls, the scenario breakers and the device assertions.

State is tau²'s `user_db.toml` completed by `schema.complete_user_db`: `device` (the phone's settings and
radio state) and `surroundings` (who the user is, where, and what the carrier side allows, kept current by
`sync`). Every radio-affecting change re-runs the network search, as on tau²-bench's simulated phone, and
every reply carries the text tau² gives the user simulator.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from eigenfast.domains.telecom import device as phone
from eigenfast.domains.telecom.schema import complete_apn
from eigenfast.domains.toolkit import ToolError, Toolkit, function, tool

DEFAULT_VPN = {"server_address": "192.168.1.1", "protocol": "OpenVPN", "server_performance": "excellent"}
WIFI_OFF = {"wifi_connected": False, "wifi_ssid": None, "wifi_signal_strength": "none"}


def _described(tp: Any, text: str) -> Any:
    return Annotated[tp, msgspec.Meta(description=text)]


class APNSettings(msgspec.Struct, forbid_unknown_fields=True):
    """Access Point Name settings: how the phone reaches the carrier's data and MMS services."""

    apn_name: _described(Literal["internet", "broken"], "Name of the data APN.") = "internet"
    reset_at_reboot: _described(bool, "Restore the carrier defaults at the next reboot.") = False
    mms_apn: _described(str | None, "APN used for MMS traffic.") = "mms"
    mmsc_url: _described(str | None, "Address of the carrier's MMS centre; MMS needs it.") = (
        "http://mms.carrier.com/mms/wapenc")
    mms_proxy: _described(str | None, "Proxy host for MMS traffic, where the carrier needs one.") = None
    mms_port: _described(int | None, "Proxy port for MMS traffic, where the carrier needs one.") = None


def _on_off(flag: bool) -> str:
    return "ON" if flag else "OFF"


class UserTools(Toolkit):
    """Settings and checks on the user's own phone, as the user simulator operates it."""

    # --------------------------------------------------------------------------------------- helpers
    @property
    def _device(self) -> dict[str, Any]:
        return self.db.data["device"]

    @property
    def _around(self) -> dict[str, Any]:
        return self.db.data["surroundings"]

    def _set(self, **changes: Any) -> None:
        """Write device fields, copying the device record only if something actually changes."""
        current = self._device
        diff = {key: value for key, value in changes.items() if current[key] != value}
        if diff:
            self.db.edit("device").update(diff)

    def _search(self) -> None:
        """Re-run the network search and store what the phone connects to."""
        self._set(**phone.network_search(self._device, self._around))

    def _with_bar(self, text: str) -> str:
        return f"{text}\nStatus Bar: {phone.status_bar(self._device)}"

    def _toggle(self, field: str, search: bool) -> bool:
        state = not self._device[field]
        self._set(**{field: state})
        if search:
            self._search()
        return state

    def _turn(self, field: str, on: bool, search: bool) -> None:
        """Set `field` as tau² does: toggle it, and toggle it back if that left it wrong."""
        if self._toggle(field, search) != on:
            self._toggle(field, search)

    def _toggle_airplane_mode(self) -> bool:
        turning_on = not self._device["airplane_mode"]
        changes: dict[str, Any] = {"airplane_mode": turning_on}
        if turning_on:
            changes.update(WIFI_OFF)
            if self._device["vpn_connected"]:
                changes.update(vpn_connected=False, vpn_details=None)
        else:
            changes["network_connection_status"] = "searching"
            if self._device["wifi_enabled"]:
                changes.update(WIFI_OFF)
        self._set(**changes)
        self._search()
        return turning_on

    def _connect_vpn(self) -> bool:
        if self._device["vpn_connected"]:
            return False
        self._set(vpn_connected=True, vpn_details=dict(DEFAULT_VPN))
        return True

    # ------------------------------------------------------------------------------------ status checks
    @tool("read")
    def check_status_bar(self) -> str:
        """Show the icons in the phone's status bar: signal, network type, mobile data (and data saver), Wi-Fi,
        VPN and battery level."""
        return f"Status Bar: {phone.status_bar(self._device)}"

    @tool("read")
    def check_network_status(self) -> str:
        """Show the phone's connection state: airplane mode, SIM, cellular service, signal and network type,
        mobile data, data roaming and Wi-Fi."""
        d = self._device
        lines = [
            f"Airplane Mode: {_on_off(d['airplane_mode'])}",
            f"SIM Card Status: {phone.sim_status(d)}",
            f"Cellular Connection: {d['network_connection_status']}",
            f"Cellular Signal: {d['network_signal_strength']}",
            f"Cellular Network Type: {d['network_technology_connected']}",
            f"Mobile Data Enabled: {'Yes' if d['data_enabled'] else 'No'}",
            f"Data Roaming Enabled: {'Yes' if d['roaming_enabled'] else 'No'}",
            f"Wi-Fi Radio: {_on_off(d['wifi_enabled'])}",
            f"Wi-Fi Connected: {'Yes' if d['wifi_connected'] else 'No'}",
        ]
        if d["wifi_connected"]:
            lines.append(f"Connected Wi-Fi Network: {d['wifi_ssid']}")
        return "\n".join(lines)

    @tool("read")
    def check_network_mode_preference(self) -> str:
        """Show which cellular network types the phone prefers (e.g. 4G/5G preferred, 3G only)."""
        return f"Network Mode Preference: {self._device['network_mode_preference']}"

    @tool("write")
    def set_network_mode_preference(self, mode: str) -> str:
        """Choose which cellular network types the phone uses; faster types (4G/5G) use more battery.

        Args:
            mode: One of '4g_5g_preferred', '4g_only', '3g_only' or '2g_only'.
        """
        if mode not in phone.NETWORK_MODES:
            return self._with_bar(f"Failed to set network mode: '{mode}' is not a valid option. "
                                  f"Please use one of: {', '.join(phone.NETWORK_MODES)}")
        self._set(network_mode_preference=mode)
        self._search()
        return self._with_bar(f"Preferred Network Mode set to: {mode}")

    @tool("read")
    def run_speed_test(self) -> str:
        """Measure the current mobile download speed and say what it is good enough for."""
        speed, label = phone.speed_test(self._device, self._around)
        if speed is None:
            return f"Speed test failed: {label}."
        return f"Speed Test Result: {speed:.2f} Mbps ({label}). {phone.SPEED_ADVICE.get(label, '')}"

    # --------------------------------------------------------------------------------- airplane mode, SIM
    @tool("write")
    def toggle_airplane_mode(self) -> str:
        """Switch Airplane Mode on or off; on, it cuts every radio (cellular, Wi-Fi, Bluetooth)."""
        return self._with_bar(f"Airplane Mode is now {_on_off(self._toggle_airplane_mode())}.")

    @tool("read")
    def check_sim_status(self) -> str:
        """Say whether the SIM card works, is missing, or is locked by a PIN or PUK code."""
        status = phone.sim_status(self._device)
        return phone.SIM_MESSAGES.get(status, f"Unknown SIM status: {status}")

    @tool("write")
    def reseat_sim_card(self) -> str:
        """Take the SIM card out and put it back in, which can fix a SIM that is not recognised."""
        self._set(sim_card_missing=False)
        self._search()
        return self._with_bar("SIM card re-seated successfully.")

    # ------------------------------------------------------------------------------- mobile data, roaming
    @tool("write")
    def toggle_data(self) -> str:
        """Switch mobile (cellular) data on or off."""
        return self._with_bar(f"Mobile Data is now {_on_off(self._toggle('data_enabled', search=True))}.")

    @tool("write")
    def toggle_roaming(self) -> str:
        """Switch data roaming on or off; on, the phone may use data on networks outside the carrier's own."""
        return self._with_bar(f"Data Roaming is now {_on_off(self._toggle('roaming_enabled', search=True))}.")

    @tool("read")
    def check_data_restriction_status(self) -> str:
        """Say whether a data-limiting feature (Data Saver mode) is on."""
        if self._device["data_saver_mode"]:
            return "Data Saver mode is ON (limits data usage)."
        return "Data Saver mode is OFF."

    @tool("write")
    def toggle_data_saver_mode(self) -> str:
        """Switch Data Saver mode on or off; on, it saves data at the cost of speed."""
        return self._with_bar(f"Data Saver Mode is now {_on_off(self._toggle('data_saver_mode', search=False))}.")

    # ------------------------------------------------------------------------------------------------ APN
    @tool("read")
    def check_apn_settings(self) -> str:
        """Show the phone's APN name and MMSC URL (the carrier settings for mobile data and picture messages)."""
        apn = self._device["active_apn_settings"]
        return (f"Current APN Name: {apn['apn_name'] or 'Not Set'}\n"
                f"MMSC URL (for picture messages): {apn['mmsc_url'] or 'Not Set'}\n"
                "(These are technical settings, usually best left unchanged.)")

    @tool("write")
    def set_apn_settings(self, apn_settings: APNSettings) -> str:
        """Replace the phone's APN settings.

        Args:
            apn_settings: The complete new APN settings; omitted fields take the carrier defaults.
        """
        if isinstance(apn_settings, dict):
            apn_settings = msgspec.convert(apn_settings, APNSettings, strict=False)
        settings = complete_apn(msgspec.structs.asdict(apn_settings))
        self._set(active_apn_settings=settings)
        self._search()
        return self._with_bar(f"APN settings set to: {settings['apn_name']}")

    @tool("write")
    def reset_apn_settings(self) -> str:
        """Restore the default APN settings; this takes effect at the next reboot."""
        if not self._device["active_apn_settings"]["reset_at_reboot"]:
            self.db.edit("device", "active_apn_settings")["reset_at_reboot"] = True
        self._search()
        return self._with_bar("APN settings will reset at reboot.")

    # ---------------------------------------------------------------------------------- Wi-Fi and calling
    @tool("read")
    def check_wifi_status(self) -> str:
        """Say whether Wi-Fi is on, which network it is connected to and how strong its signal is."""
        d = self._device
        if not d["wifi_enabled"]:
            return "Wi-Fi is turned OFF."
        if d["wifi_connected"]:
            return f"Wi-Fi is ON and connected to '{d['wifi_ssid']}'. Signal strength: {d['wifi_signal_strength']}."
        return "Wi-Fi is ON but not connected to any network."

    @tool("write")
    def toggle_wifi(self) -> str:
        """Switch the Wi-Fi radio on or off (not possible while Airplane Mode is on)."""
        if self._device["airplane_mode"]:
            return self._with_bar("Cannot change Wi-Fi settings while Airplane Mode is ON.")
        state = not self._device["wifi_enabled"]
        self._set(wifi_enabled=state, **({} if state else WIFI_OFF))
        return self._with_bar(f"Wi-Fi is now {_on_off(state)}.")

    @tool("read")
    def check_wifi_calling_status(self) -> str:
        """Say whether Wi-Fi Calling (calls over Wi-Fi instead of the cellular network) is on."""
        return f"Wi-Fi Calling is currently turned {_on_off(self._device['wifi_calling_enabled'])}."

    @tool("write")
    def toggle_wifi_calling(self) -> str:
        """Switch Wi-Fi Calling on or off; it helps where the cellular signal is weak."""
        return self._with_bar(f"Wi-Fi Calling is now {_on_off(self._toggle('wifi_calling_enabled', search=False))}.")

    # ------------------------------------------------------------------------------------------------ VPN
    @tool("read")
    def check_vpn_status(self) -> str:
        """Say whether a VPN is set up and connected, with the connection's details."""
        d = self._device
        if d["vpn_connected"]:
            if d["vpn_details"]:
                return f"VPN is ON and connected. Details: {phone.python_repr(d['vpn_details'])}"
            return "VPN is ON and connected (no specific details available)."
        if d["vpn_enabled_setting"]:
            return "VPN is turned ON in settings, but currently not connected."
        return "VPN is turned OFF."

    @tool("write")
    def connect_vpn(self) -> str:
        """Connect to the phone's VPN."""
        if not self._connect_vpn():
            return "VPN already connected."
        return self._with_bar("VPN connected successfully.")

    @tool("write")
    def disconnect_vpn(self) -> str:
        """Disconnect the active VPN, so traffic no longer goes through the VPN server."""
        connected = self._device["vpn_connected"]
        if connected:
            self._set(vpn_connected=False, vpn_details=None)
        return self._with_bar("VPN disconnected successfully." if connected
                              else "No active VPN connection to disconnect.")

    # ----------------------------------------------------------------------------------------------- apps
    @tool("read")
    def check_installed_apps(self) -> str:
        """List the apps installed on the phone."""
        return f"The following apps are installed on the phone: {', '.join(self._device['app_statuses'])}"

    @tool("read")
    def check_app_status(self, app_name: str) -> str:
        """Show an app's status, including which permissions it has been granted.

        Args:
            app_name: The app's name, e.g. 'messaging'.
        """
        app = self._device["app_statuses"].get(app_name)
        if app is None:
            return f"App '{app_name}' not found on this phone."
        granted = [name.replace("_", " ").lower() for name, on in app["permissions"].items() if on]
        lines = [f"Status for App: {app_name}"]
        if granted:
            lines.append(" - Permissions Granted:")
            lines.extend(f"   - {name}" for name in granted)
        else:
            lines.append(" - Permissions: None granted.")
        return "\n".join(lines)

    @tool("read")
    def check_app_permissions(self, app_name: str) -> str:
        """List the permissions an app currently has (e.g. storage, SMS, phone, network).

        Args:
            app_name: The app's name, e.g. 'messaging'.
        """
        app = self._device["app_statuses"].get(app_name)
        if app is None:
            return f"App '{app_name}' not found on this phone."
        granted = [name.replace("_", " ").lower() for name, on in app["permissions"].items() if on]
        if not granted:
            return f"App '{app_name}' currently has no permissions granted."
        return f"App '{app_name}' has permission for: {', '.join(granted)}."

    @tool("write")
    def grant_app_permission(self, app_name: str, permission: str) -> str:
        """Give an app one permission (some app features need it).

        Args:
            app_name: The app's name, e.g. 'messaging'.
            permission: The permission to grant, in lowercase, e.g. 'storage' or 'sms'.
        """
        ok, message = self._set_permission(app_name, permission, True)
        return self._with_bar(f"{'Success' if ok else 'Error'}. {message}")

    def _set_permission(self, app_name: str, permission: str, allowed: bool) -> tuple[bool, str]:
        permission = permission.lower()
        app = self._device["app_statuses"].get(app_name)
        if app is None:
            action = "grant" if allowed else "remove"
            return False, f"App '{app_name}' not found. Cannot {action} permission."
        if permission not in app["permissions"]:
            if allowed:
                return False, (f"Permission '{permission}' not tracked for app '{app_name}', "
                               f"available permissions: {list(app['permissions'])}")
            return False, f"Permission '{permission}' not tracked for app '{app_name}'."
        if app["permissions"][permission] != allowed:
            self.db.edit("device", "app_statuses", app_name, "permissions")[permission] = allowed
        if allowed:
            return True, f"Permission '{permission}' granted to app '{app_name}'."
        return True, f"Permission '{permission}' removed from app '{app_name}'."

    # ----------------------------------------------------------------------------------- MMS and reboot
    @tool("read")
    def can_send_mms(self) -> str:
        """Say whether the default messaging app can send MMS (picture) messages right now."""
        if phone.can_send_mms(self._device, self._around):
            return "Your messaging app can send MMS messages."
        return "Your messaging app cannot send MMS messages."

    @tool("write")
    def reboot_device(self) -> str:
        """Restart the phone, which refreshes its services and connections (and applies a pending APN reset)."""
        lines = []
        if self._device["active_apn_settings"]["reset_at_reboot"]:
            lines.append("Resetting APN settings...")
            self._set(active_apn_settings=complete_apn({}))
        lines.append("Restarting network services...")
        self._set(network_connection_status="searching")
        self._search()
        return self._with_bar("\n".join(lines))

    # ------------------------------------------------------------------------------------------- payment
    @tool("read")
    def check_payment_request(self) -> str:
        """Say whether the agent has sent you a request to pay a bill."""
        request = self._around["payment_request"]
        if request is None:
            return "No payment request has been made."
        return f"You have a payment request for bill {request['bill_id']} of {request['amount_due']} USD."

    @tool("write")
    def make_payment(self) -> str:
        """Pay the bill the agent has asked you to pay."""
        request = self._around["payment_request"]
        if request is None:
            return "You do not have a payment request."
        if not request["paid"]:
            self.db.edit("surroundings", "payment_request")["paid"] = True
        return f"Payment of {request['amount_due']} USD has been made for bill {request['bill_id']}."

    # --------------------------------------------------------------- scenario set-up (not shown to models)
    @function
    def set_user_info(self, name: str, phone_number: str) -> None:
        """Record who the user is and which phone number (line) the phone uses."""
        surroundings = self.db.edit("surroundings")
        surroundings["name"] = name
        surroundings["phone_number"] = phone_number

    @function
    def set_user_location(self, abroad: bool) -> None:
        """Put the user abroad or at home."""
        if self._around["is_abroad"] != abroad:
            self.db.edit("surroundings")["is_abroad"] = abroad

    @function
    def simulate_network_search(self) -> None:
        """Re-run the network search (after scenario changes that affect service)."""
        self._search()

    @function
    def turn_airplane_mode_on(self) -> str:
        if not self._toggle_airplane_mode():
            self._toggle_airplane_mode()
        return "Airplane Mode is now ON."

    @function
    def turn_airplane_mode_off(self) -> str:
        if self._toggle_airplane_mode():
            self._toggle_airplane_mode()
        return "Airplane Mode is now OFF."

    @function
    def unseat_sim_card(self) -> str:
        """Take the SIM card out; `reseat_sim_card` fixes it."""
        self._set(sim_card_missing=True)
        self._search()
        return "SIM card un-seated successfully."

    @function
    def lock_sim_card(self, mode: str) -> str:
        """Lock the SIM with a PIN or PUK code; no user tool can fix this."""
        if mode in ("pin", "puk"):
            self._set(sim_card_status=f"locked_{mode}")
        self._search()
        return f"SIM card locked successfully in {mode} mode."

    @function
    def turn_data_on(self) -> str:
        self._set(data_enabled=True)
        return "Data connection restored."

    @function
    def turn_data_off(self) -> str:
        self._turn("data_enabled", False, search=True)
        return "Data connection broken."

    @function
    def turn_roaming_on(self) -> str:
        self._turn("roaming_enabled", True, search=True)
        return "Data Roaming is now ON."

    @function
    def turn_roaming_off(self) -> str:
        self._turn("roaming_enabled", False, search=True)
        return "Data Roaming is now OFF."

    @function
    def turn_data_saver_mode_on(self) -> str:
        self._turn("data_saver_mode", True, search=False)
        return "Data Saver Mode is now ON."

    @function
    def turn_data_saver_mode_off(self) -> str:
        self._turn("data_saver_mode", False, search=False)
        return "Data Saver Mode is now OFF."

    @function
    def break_apn_settings(self) -> str:
        """Break the data APN (no service until `reset_apn_settings` and a reboot)."""
        self.db.edit("device", "active_apn_settings")["apn_name"] = "broken"
        self._search()
        return "APN settings broken. Please call reset_apn_settings() to fix."

    @function
    def break_apn_mms_setting(self) -> str:
        """Clear the MMSC URL, so MMS fails until the APN is reset."""
        self.db.edit("device", "active_apn_settings")["mmsc_url"] = None
        return "APN MMS setting broken. Please call reset_apn_settings() to fix."

    @function
    def set_wifi_calling(self, enabled: bool, mms_over_wifi: bool | None = None) -> str:
        """Set Wi-Fi Calling, and MMS over Wi-Fi when given."""
        self._set(wifi_calling_enabled=enabled)
        message = f"Wi-Fi Calling is now {_on_off(enabled)}."
        if mms_over_wifi is not None:
            self._set(wifi_calling_mms_over_wifi=mms_over_wifi)
            message += f"\nMMS over Wi-Fi is now {_on_off(mms_over_wifi)}."
        return message

    @function
    def break_vpn(self) -> str:
        """Connect a VPN whose server performs poorly, which slows mobile data to a crawl."""
        self._connect_vpn()
        if self._device["vpn_details"] is None:
            raise ToolError("VPN is connected without details; cannot degrade it")
        self.db.edit("device", "vpn_details")["server_performance"] = "poor"
        return "VPN connection broken."

    @function
    def remove_app_permission(self, app_name: str, permission: str) -> tuple[bool, str]:
        """Revoke one permission from an app."""
        return self._set_permission(app_name, permission, False)

    # ------------------------------------------------------------------------------------- assertions
    @function
    def assert_airplane_mode_status(self, expected_status: bool) -> bool:
        return self._device["airplane_mode"] == expected_status

    @function
    def assert_service_status(self, expected_status: str) -> bool:
        """Whether the cellular connection status is `expected_status` ('connected', 'no_service', ...)."""
        if expected_status not in ("connected", "searching", "no_service", "emergency_only"):
            raise ToolError(f"'{expected_status}' is not a valid NetworkStatus")
        return self._device["network_connection_status"] == expected_status

    @function
    def assert_mobile_data_status(self, expected_status: bool) -> bool:
        """Whether mobile data working matches `expected_status`."""
        return phone.mobile_data_working(self._device, self._around) == expected_status

    @function
    def assert_mobile_roaming_status(self, expected_status: bool) -> bool:
        return self._device["roaming_enabled"] == expected_status

    @function
    def assert_mobile_data_saver_mode_status(self, expected_status: bool) -> bool:
        return self._device["data_saver_mode"] == expected_status

    @function
    def assert_internet_speed(self, expected_speed: float, expected_desc: str | None = None) -> bool:
        """Whether the speed test reaches `expected_speed` Mbps (and has label `expected_desc`, if given)."""
        speed, label = phone.speed_test(self._device, self._around)
        fast_enough = (speed or 0.0) >= expected_speed
        if expected_desc is None:
            return fast_enough
        return fast_enough and label.lower() == expected_desc.lower()

    @function
    def assert_internet_not_excellent(self) -> bool:
        return phone.speed_test(self._device, self._around)[1].lower() != "excellent"

    @function
    def assert_can_send_mms(self, expected_status: bool) -> bool:
        """Whether the phone's ability to send MMS matches `expected_status`."""
        return phone.can_send_mms(self._device, self._around) == expected_status

    @function
    def assert_mobile_data_usage_exceeded(self, expected_status: bool) -> bool:
        return self._around["mobile_data_usage_exceeded"] == expected_status
