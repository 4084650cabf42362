"""An emulated Seroton mat on an emulated BlueZ, for btleplug's real Linux backend (scripts/mat-emulator.sh).

It owns `org.bluez` on a private system bus and answers the BlueZ D-Bus API the way bluez-async (btleplug's
Linux backend) uses it: ObjectManager.GetManagedObjects and InterfacesAdded/Removed, Adapter1
(Powered, SetDiscoveryFilter, StartDiscovery/StopDiscovery per client), Device1 (Connect, Disconnect,
Connected, ServicesResolved, RSSI), GATT objects found by introspection (serviceXXXX/charYYYY/descZZZZ),
GattCharacteristic1.WriteValue/StartNotify/StopNotify, and notifications as PropertiesChanged of `Value`.

The mat: after the host subscribed and wrote the start command `01 D0 01`, the first poll `01 C0 01`
starts the stream; it streams the rows of the replayed CSV (the makers' format) as 17-byte notifications
(header byte, four little-endian f32 pressures in Pa) at the file's own pace, looped, for as long as
polls keep coming. Faults (--fault or the control method SetFault), comma-separated:
  disconnect-after=N   drop the link after N notifications of a connection (times: disconnect-times=K, default 1)
  malformed-every=N    after every N-th notification send one bad one as well (short, then NaN, alternately)
  stall-after=N:S      after N notifications of a connection, send nothing for S seconds (once)
  mute                 connect and accept writes but never answer the poll
Control object /io/hapticmat/emulator, interface io.hapticmat.MatEmulator1: SetFault(s), Disconnect(),
Stats() -> s (JSON). The same JSON is kept in STATE_DIR/stats.json.
"""

import argparse
import asyncio
import csv
import datetime
import json
import math
import os
import signal
import struct
import sys

from dbus_fast import BusType, DBusError, Message, MessageType, Variant  # noqa: F401
from dbus_fast.aio import MessageBus
from dbus_fast.service import PropertyAccess, ServiceInterface, dbus_property, method

MAT_SERVICE = "6e400001-c352-11e5-953d-0002a5d5c51b"
WRITE_CHAR = "6e400002-c352-11e5-953d-0002a5d5c51b"
NOTIFY_CHAR = "6e400003-c352-11e5-953d-0002a5d5c51b"
CCCD = "00002902-0000-1000-8000-00805f9b34fb"
START_COMMAND = bytes([0x01, 0xD0, 0x01])
POLL_COMMAND = bytes([0x01, 0xC0, 0x01])
HEADER = 0x01

ADAPTER_PATH = "/org/bluez/hci0"
DEVICE_ADDRESS = "C0:FF:EE:00:13:01"
DEVICE_PATH = ADAPTER_PATH + "/dev_" + DEVICE_ADDRESS.replace(":", "_")
SERVICE_PATH = DEVICE_PATH + "/service000c"
WRITE_PATH = SERVICE_PATH + "/char000d"
NOTIFY_PATH = SERVICE_PATH + "/char000f"
CCCD_PATH = NOTIFY_PATH + "/desc0011"
CONTROL_PATH = "/io/hapticmat/emulator"

# A host that stopped polling for this long is gone: the mat stops streaming (its firmware waits for polls).
POLL_WATCHDOG_S = 1.0
# How long after StartDiscovery the mat's first advertisement is "heard".
ADVERTISING_DELAY_S = 0.15
# Real connects take a moment; services resolve a little after Connect returns (as on BlueZ).
CONNECT_DELAY_S = 0.05
RESOLVE_DELAY_S = 0.1

TIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f"


def log(*parts):
    print("[mat-emulator]", *parts, file=sys.stderr, flush=True)


def read_replay(path):
    """Rows of a makers' CSV as (seconds since the first row, [4 float32 pressures]); fails on bad rows."""
    rows = []
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None or [h.strip() for h in header[:5]] != ["Timestamp", "Float1", "Float2", "Float3", "Float4"]:
            raise SystemExit(f"{path}: not the makers' CSV format (header Timestamp,Float1,Float2,Float3,Float4)")
        first = None
        for n, row in enumerate(reader, start=2):
            if not row or not "".join(row).strip():
                continue
            try:
                t = datetime.datetime.strptime(row[0].strip(), TIME_FORMAT)
                pressures = [float(v) for v in row[1:5]]
            except (ValueError, IndexError) as e:
                raise SystemExit(f"{path}:{n}: bad row {row!r}: {e}")
            if len(pressures) != 4 or not all(math.isfinite(p) for p in pressures):
                raise SystemExit(f"{path}:{n}: bad row {row!r}: four finite pressures expected")
            first = first or t
            rows.append(((t - first).total_seconds(), pressures))
    if not rows:
        raise SystemExit(f"{path}: no rows to replay")
    return rows


def parse_fault(spec):
    """The fault spec as a dict; raises ValueError naming what is wrong."""
    fault = {}
    for part in filter(None, (p.strip() for p in (spec or "").split(","))):
        key, _, value = part.partition("=")
        if key == "mute" and not value:
            fault["mute"] = True
        elif key in ("disconnect-after", "disconnect-times", "malformed-every") and value.isdigit() and int(value) > 0:
            fault[key] = int(value)
        elif key == "stall-after" and ":" in value:
            n, _, seconds = value.partition(":")
            try:
                fault[key] = (int(n), float(seconds))
            except ValueError:
                raise ValueError(f"bad fault {part!r}: expected stall-after=N:SECONDS")
        else:
            raise ValueError(
                f"unknown fault {part!r}: expected disconnect-after=N, disconnect-times=K, malformed-every=N, "
                "stall-after=N:SECONDS or mute"
            )
    return fault


class Adapter(ServiceInterface):
    def __init__(self, emu):
        super().__init__("org.bluez.Adapter1")
        self.emu = emu
        self.powered = True
        self.discovering_clients = set()

    @property
    def discovering(self):
        return bool(self.discovering_clients)

    def _set_discovering(self, before):
        if before != self.discovering:
            self.emit_properties_changed({"Discovering": self.discovering})
        # Whether a client still scans, for tests that check a cancelled scan stops the radio.
        self.emu.stats["discovering"] = self.discovering
        self.emu.save_stats()

    @method()
    def SetDiscoveryFilter(self, properties: "a{sv}"):
        for key in properties:
            if key not in ("UUIDs", "RSSI", "Pathloss", "Transport", "DuplicateData", "Discoverable", "Pattern"):
                raise DBusError("org.bluez.Error.InvalidArguments", f"Invalid arguments in method call: {key}")

    @method()
    def StartDiscovery(self):
        # BlueZ tracks discovery per client: a client that already scans gets InProgress. (Synchronous:
        # the sender is the current call's only while its handler runs.)
        sender = self.emu.current_sender()
        if not self.powered:
            raise DBusError("org.bluez.Error.NotReady", "Resource Not Ready")
        if sender in self.discovering_clients:
            raise DBusError("org.bluez.Error.InProgress", "Operation already in progress")
        before = self.discovering
        self.discovering_clients.add(sender)
        self.emu.stats["scans"] += 1
        self._set_discovering(before)
        self.emu.discovery_started()

    @method()
    def StopDiscovery(self):
        sender = self.emu.current_sender()
        if sender not in self.discovering_clients:
            raise DBusError("org.bluez.Error.Failed", "No discovery started")
        before = self.discovering
        self.discovering_clients.discard(sender)
        self._set_discovering(before)

    @method()
    def RemoveDevice(self, device: "o"):
        if device != DEVICE_PATH or not self.emu.device_exported:
            raise DBusError("org.bluez.Error.DoesNotExist", "Does Not Exist")
        self.emu.remove_device()

    @method()
    def GetDiscoveryFilters(self) -> "as":
        return ["UUIDs", "RSSI", "Pathloss", "Transport", "DuplicateData", "Discoverable", "Pattern"]

    @dbus_property(access=PropertyAccess.READ)
    def Address(self) -> "s":
        return "00:1A:7D:DA:71:13"

    @dbus_property(access=PropertyAccess.READ)
    def AddressType(self) -> "s":
        return "public"

    @dbus_property(access=PropertyAccess.READ)
    def Name(self) -> "s":
        return "hm-emulator"

    @dbus_property()
    def Alias(self) -> "s":
        return "hm-emulator"

    @Alias.setter
    def Alias(self, value: "s"):
        pass

    @dbus_property(access=PropertyAccess.READ)
    def Class(self) -> "u":
        return 0

    @dbus_property()
    def Powered(self) -> "b":
        return self.powered

    @Powered.setter
    def Powered(self, value: "b"):
        if value != self.powered:
            self.powered = value
            self.emit_properties_changed({"Powered": value})

    @dbus_property(access=PropertyAccess.READ)
    def Discoverable(self) -> "b":
        return False

    @dbus_property(access=PropertyAccess.READ)
    def Pairable(self) -> "b":
        return False

    @dbus_property(access=PropertyAccess.READ)
    def Discovering(self) -> "b":
        return self.discovering

    @dbus_property(access=PropertyAccess.READ)
    def UUIDs(self) -> "as":
        return []

    @dbus_property(access=PropertyAccess.READ)
    def Modalias(self) -> "s":
        return "usb:v1D6Bp0246d0542"


class Device(ServiceInterface):
    def __init__(self, emu):
        super().__init__("org.bluez.Device1")
        self.emu = emu
        self.connected = False
        self.resolved = False
        self.rssi = -58

    @method()
    async def Connect(self):
        # BlueZ answers an LE Connect on a connected device with success.
        if self.connected:
            return
        await asyncio.sleep(CONNECT_DELAY_S)
        self.emu.link_up()
        asyncio.get_running_loop().call_later(RESOLVE_DELAY_S, self.emu.services_resolved)

    @method()
    def Disconnect(self):
        self.emu.link_down("host disconnected")

    @method()
    def Pair(self):
        raise DBusError("org.bluez.Error.AuthenticationFailed", "the mat does not pair")

    @method()
    def CancelPairing(self):
        raise DBusError("org.bluez.Error.DoesNotExist", "Does Not Exist")

    @dbus_property(access=PropertyAccess.READ)
    def Address(self) -> "s":
        return DEVICE_ADDRESS

    @dbus_property(access=PropertyAccess.READ)
    def AddressType(self) -> "s":
        return "random"

    @dbus_property(access=PropertyAccess.READ)
    def Name(self) -> "s":
        return self.emu.name

    @dbus_property()
    def Alias(self) -> "s":
        return self.emu.name

    @Alias.setter
    def Alias(self, value: "s"):
        pass

    @dbus_property(access=PropertyAccess.READ)
    def Paired(self) -> "b":
        return False

    @dbus_property(access=PropertyAccess.READ)
    def Bonded(self) -> "b":
        return False

    @dbus_property()
    def Trusted(self) -> "b":
        return False

    @Trusted.setter
    def Trusted(self, value: "b"):
        pass

    @dbus_property()
    def Blocked(self) -> "b":
        return False

    @Blocked.setter
    def Blocked(self, value: "b"):
        pass

    @dbus_property(access=PropertyAccess.READ)
    def LegacyPairing(self) -> "b":
        return False

    @dbus_property(access=PropertyAccess.READ)
    def RSSI(self) -> "n":
        return self.rssi

    @dbus_property(access=PropertyAccess.READ)
    def Connected(self) -> "b":
        return self.connected

    @dbus_property(access=PropertyAccess.READ)
    def ServicesResolved(self) -> "b":
        return self.resolved

    @dbus_property(access=PropertyAccess.READ)
    def UUIDs(self) -> "as":
        # Like the real mat, the advertisement carries no service UUID; once connected, BlueZ lists the
        # GATT services it resolved.
        return [MAT_SERVICE] if self.resolved else []

    @dbus_property(access=PropertyAccess.READ)
    def Adapter(self) -> "o":
        return ADAPTER_PATH


class GattService(ServiceInterface):
    def __init__(self):
        super().__init__("org.bluez.GattService1")

    @dbus_property(access=PropertyAccess.READ)
    def UUID(self) -> "s":
        return MAT_SERVICE

    @dbus_property(access=PropertyAccess.READ)
    def Primary(self) -> "b":
        return True

    @dbus_property(access=PropertyAccess.READ)
    def Device(self) -> "o":
        return DEVICE_PATH

    @dbus_property(access=PropertyAccess.READ)
    def Includes(self) -> "ao":
        return []

    @dbus_property(access=PropertyAccess.READ)
    def Handle(self) -> "q":
        return 0x000C


class Characteristic(ServiceInterface):
    def __init__(self, emu, uuid, flags, handle):
        super().__init__("org.bluez.GattCharacteristic1")
        self.emu = emu
        self.uuid = uuid
        self.flags = flags
        self.handle = handle
        self.value = b""
        self.notifying = False

    def _require_link(self):
        if not self.emu.device.connected:
            raise DBusError("org.bluez.Error.NotConnected", "Not connected")

    @method()
    def ReadValue(self, options: "a{sv}") -> "ay":
        raise DBusError("org.bluez.Error.NotPermitted", "Read not permitted")

    @method()
    def WriteValue(self, value: "ay", options: "a{sv}"):
        if "write" not in self.flags and "write-without-response" not in self.flags:
            raise DBusError("org.bluez.Error.NotPermitted", "Write not permitted")
        write_type = options.get("type").value if "type" in options else "request"
        if write_type not in ("command", "request", "reliable"):
            raise DBusError("org.bluez.Error.InvalidArguments", f"Invalid write type {write_type}")
        self._require_link()
        self.emu.host_wrote(bytes(value))

    @method()
    def StartNotify(self):
        if "notify" not in self.flags:
            raise DBusError("org.bluez.Error.NotSupported", "Operation is not supported")
        self._require_link()
        sender = self.emu.current_sender()
        self.emu.notify_clients.add(sender)
        if not self.notifying:
            self.notifying = True
            self.emit_properties_changed({"Notifying": True})

    @method()
    def StopNotify(self):
        sender = self.emu.current_sender()
        if sender not in self.emu.notify_clients:
            raise DBusError("org.bluez.Error.Failed", "No notify session started")
        self.emu.notify_clients.discard(sender)
        if not self.emu.notify_clients and self.notifying:
            self.notifying = False
            self.emit_properties_changed({"Notifying": False})

    def notify(self, value):
        self.value = value
        self.emit_properties_changed({"Value": value})

    @dbus_property(access=PropertyAccess.READ)
    def UUID(self) -> "s":
        return self.uuid

    @dbus_property(access=PropertyAccess.READ)
    def Service(self) -> "o":
        return SERVICE_PATH

    @dbus_property(access=PropertyAccess.READ)
    def Value(self) -> "ay":
        return self.value

    @dbus_property(access=PropertyAccess.READ)
    def Notifying(self) -> "b":
        return self.notifying

    @dbus_property(access=PropertyAccess.READ)
    def Flags(self) -> "as":
        return self.flags

    @dbus_property(access=PropertyAccess.READ)
    def Handle(self) -> "q":
        return self.handle

    @dbus_property(access=PropertyAccess.READ)
    def MTU(self) -> "q":
        return 23


class Descriptor(ServiceInterface):
    def __init__(self):
        super().__init__("org.bluez.GattDescriptor1")

    @dbus_property(access=PropertyAccess.READ)
    def UUID(self) -> "s":
        return CCCD

    @dbus_property(access=PropertyAccess.READ)
    def Characteristic(self) -> "o":
        return NOTIFY_PATH

    @dbus_property(access=PropertyAccess.READ)
    def Value(self) -> "ay":
        return b""

    @dbus_property(access=PropertyAccess.READ)
    def Flags(self) -> "as":
        return []


class Control(ServiceInterface):
    def __init__(self, emu):
        super().__init__("io.hapticmat.MatEmulator1")
        self.emu = emu

    @method()
    def SetFault(self, spec: "s"):
        try:
            self.emu.fault = parse_fault(spec)
        except ValueError as e:
            raise DBusError("io.hapticmat.Error.InvalidArguments", str(e))
        self.emu.disconnects_done = 0
        self.emu.stall_done = False
        log(f"fault set to {spec!r}")

    @method()
    def Disconnect(self):
        if not self.emu.device.connected:
            raise DBusError("io.hapticmat.Error.NotConnected", "the mat is not connected")
        self.emu.link_down("control: Disconnect")

    @method()
    def Stats(self) -> "s":
        return json.dumps(self.emu.stats)


class Emulator:
    def __init__(self, bus, name, rows, fault, state_dir):
        self.bus = bus
        self.name = name
        self.rows = rows
        self.fault = fault
        self.state_dir = state_dir
        self.adapter = Adapter(self)
        self.device = Device(self)
        self.service = GattService()
        self.write_char = Characteristic(self, WRITE_CHAR, ["write-without-response", "write"], 0x000D)
        self.notify_char = Characteristic(self, NOTIFY_CHAR, ["notify"], 0x000F)
        self.descriptor = Descriptor()
        self.control = Control(self)
        self.device_exported = False
        self.notify_clients = set()
        self.cursor = 0  # next row to send; the mat keeps its place across connections
        self.started = False  # start command seen on this connection
        self.last_poll = None
        self.stream_task = None
        self.disconnects_done = 0
        self.stall_done = False
        self.stats = {"scans": 0, "discovering": False, "connections": [], "notifications": 0, "malformed": 0, "faults_disconnect": 0}
        self._sender = None

    def current_sender(self):
        return self._sender

    def export_base(self):
        self.bus.export(ADAPTER_PATH, self.adapter)
        self.bus.export(CONTROL_PATH, self.control)

    def discovery_started(self):
        if not self.device_exported:
            asyncio.get_running_loop().call_later(ADVERTISING_DELAY_S, self.advertise)

    def advertise(self):
        if not self.device_exported and self.adapter.discovering:
            self.bus.export(DEVICE_PATH, self.device)
            self.device_exported = True
            log(f"advertising {self.name!r} at {DEVICE_PATH}")

    def remove_device(self):
        self.link_down("device removed")
        self.bus.unexport(DEVICE_PATH, self.device)
        self.device_exported = False

    def link_up(self):
        d = self.device
        d.connected = True
        self.started = False
        self.last_poll = None
        self.bus.export(SERVICE_PATH, self.service)
        self.bus.export(WRITE_PATH, self.write_char)
        self.bus.export(NOTIFY_PATH, self.notify_char)
        self.bus.export(CCCD_PATH, self.descriptor)
        d.emit_properties_changed({"Connected": True})
        self.stats["connections"].append({"writes": [], "notifications": 0, "end": None})
        log(f"connected (connection {len(self.stats['connections'])})")
        self.save_stats()

    def services_resolved(self):
        if self.device.connected and not self.device.resolved:
            self.device.resolved = True
            self.device.emit_properties_changed({"ServicesResolved": True, "UUIDs": [MAT_SERVICE]})

    def link_down(self, why):
        d = self.device
        if not d.connected:
            return
        if self.stream_task:
            self.stream_task.cancel()
            self.stream_task = None
        # BlueZ: ServicesResolved and Connected go false, the GATT objects of an unbonded device go away,
        # and with them every notify session.
        d.connected = False
        d.resolved = False
        d.emit_properties_changed({"ServicesResolved": False})
        d.emit_properties_changed({"Connected": False})
        self.notify_clients.clear()
        self.notify_char.notifying = False
        for path in (CCCD_PATH, NOTIFY_PATH, WRITE_PATH, SERVICE_PATH):
            self.bus.unexport(path)
        if self.stats["connections"]:
            self.stats["connections"][-1]["end"] = why
        log(f"disconnected: {why}")
        self.save_stats()

    def host_wrote(self, value):
        conn = self.stats["connections"][-1]
        conn["writes"].append(value.hex())
        if value == START_COMMAND:
            self.started = True
        elif value == POLL_COMMAND:
            self.last_poll = asyncio.get_running_loop().time()
            if self.started and not self.fault.get("mute") and self.stream_task is None:
                self.stream_task = asyncio.ensure_future(self.stream())
        if len(conn["writes"]) <= 3 or value != POLL_COMMAND:
            self.save_stats()

    def frame(self, pressures):
        return struct.pack("<B4f", HEADER, *pressures)

    async def stream(self):
        """Sends rows at the file's pace while polls keep coming and someone listens."""
        loop = asyncio.get_running_loop()
        conn = self.stats["connections"][-1]
        sent = 0
        deltas = sorted(b[0] - a[0] for a, b in zip(self.rows, self.rows[1:]))
        wrap_delay = deltas[len(deltas) // 2] if deltas else 0.15
        bad = 0
        try:
            while True:
                if self.last_poll is None or loop.time() - self.last_poll > POLL_WATCHDOG_S:
                    log("polls stopped: stream paused")
                    self.stream_task = None
                    return
                if self.notify_clients:
                    t, pressures = self.rows[self.cursor]
                    self.notify_char.notify(self.frame(pressures))
                    conn["notifications"] += 1
                    self.stats["notifications"] += 1
                    sent += 1
                    every = self.fault.get("malformed-every")
                    if every and sent % every == 0:
                        bad += 1
                        value = b"\x01\x02\x03\x04\x05" if bad % 2 else self.frame([float("nan")] * 4)
                        self.notify_char.notify(value)
                        self.stats["malformed"] += 1
                    nxt = (self.cursor + 1) % len(self.rows)
                    delay = self.rows[nxt][0] - t if nxt else wrap_delay
                    self.cursor = nxt
                else:
                    delay = 0.05
                after = self.fault.get("disconnect-after")
                if after and sent >= after and self.disconnects_done < self.fault.get("disconnect-times", 1):
                    self.disconnects_done += 1
                    self.stats["faults_disconnect"] += 1
                    self.stream_task = None
                    self.link_down(f"fault: disconnect after {sent} notifications")
                    return
                stall = self.fault.get("stall-after")
                if stall and not self.stall_done and sent >= stall[0]:
                    self.stall_done = True
                    log(f"fault: stalling {stall[1]} s")
                    await asyncio.sleep(stall[1])
                await asyncio.sleep(min(max(delay, 0.0), 2.0))
        except asyncio.CancelledError:
            pass

    def save_stats(self):
        if not self.state_dir:
            return
        tmp = os.path.join(self.state_dir, "stats.json.tmp")
        with open(tmp, "w") as f:
            json.dump(self.stats, f)
        os.replace(tmp, os.path.join(self.state_dir, "stats.json"))


async def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bus", required=True, help="D-Bus address of the private system bus")
    p.add_argument("--replay", required=True, help="makers' CSV to stream")
    p.add_argument("--name", default="Seroton-EMU")
    p.add_argument("--fault", default="")
    p.add_argument("--state-dir", default=None)
    a = p.parse_args()
    try:
        fault = parse_fault(a.fault)
    except ValueError as e:
        raise SystemExit(f"HM_EMU_FAULT: {e}")
    rows = read_replay(a.replay)
    bus = await MessageBus(bus_address=a.bus, bus_type=BusType.SYSTEM).connect()
    emu = Emulator(bus, a.name, rows, fault, a.state_dir)

    # dbus-fast does not hand the caller to method handlers; remember each incoming call's sender.
    def remember_sender(msg):
        if msg.message_type == MessageType.METHOD_CALL:
            emu._sender = msg.sender
        return False

    # User handlers run before the exported interfaces' dispatch; returning False lets the call go on.
    bus.add_message_handler(remember_sender)
    emu.export_base()
    reply = await bus.request_name("org.bluez")
    log(f"owns org.bluez ({reply}); {len(rows)} rows from {a.replay}; fault {fault or 'none'}")
    emu.save_stats()
    if a.state_dir:
        open(os.path.join(a.state_dir, "ready"), "w").close()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    disconnected = asyncio.ensure_future(bus.wait_for_disconnect())
    await asyncio.wait([asyncio.ensure_future(stop.wait()), disconnected], return_when=asyncio.FIRST_COMPLETED)
    emu.save_stats()
    log("stopped")


if __name__ == "__main__":
    asyncio.run(main())
