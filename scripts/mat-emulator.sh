#!/usr/bin/env bash
# The mat over Bluetooth without a radio: a private D-Bus *system* bus (Debian's dbus-daemon, own config)
# and an emulated BlueZ (scripts/mat_emulator.py, dbus-fast from PyPI in a venv) with one adapter and one
# mat advertising "Seroton-EMU" with the real mat's GATT layout. btleplug's real Linux backend reaches it
# through DBUS_SYSTEM_BUS_ADDRESS:
#
#   HM_EMU_REPLAY=rec.csv scripts/mat-emulator.sh start     # installs what is missing, then starts
#   eval "$(scripts/mat-emulator.sh env)"                   # exports DBUS_SYSTEM_BUS_ADDRESS
#   scripts/mat-emulator.sh status|stop|install
#
# Settings (environment):
#   HM_EMU_REPLAY   the makers' CSV the mat streams at its own pace, looped (required by start)
#   HM_EMU_FAULT    faults, comma-separated: disconnect-after=N, disconnect-times=K, malformed-every=N,
#                   stall-after=N:SECONDS, mute (see scripts/mat_emulator.py); also settable while running:
#                   dbus-send --system --dest=org.bluez /io/hapticmat/emulator io.hapticmat.MatEmulator1.SetFault string:mute
#   HM_EMU_NAME     advertised name (default Seroton-EMU)
#   HM_EMU_DIR      this instance's folder: bus socket, config, pid files, logs, stats.json
#                   (default build/mat-emulator/run; tests give each emulator its own)
#   HM_EMU_NO_INSTALL=1  fail instead of installing (the tests: they never install)
# Each process runs in its own session (setsid); `stop` signals only the process groups whose pid files it
# wrote, after checking the pid still runs the expected program.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/build/mat-emulator"
VENV="$TOOLS/venv"
DIR="${HM_EMU_DIR:-$TOOLS/run}"
RUN="$DIR/run"
LOGS="$DIR/logs"
SOCK="$DIR/system_bus_socket"
ADDRESS="unix:path=$SOCK"
PYTHON="${HM_PYTHON:-python3}"
HM_DBUS_FAST_VERSION="${HM_DBUS_FAST_VERSION:-5.2.0}"
HM_EMU_NAME="${HM_EMU_NAME:-Seroton-EMU}"
HM_EMU_FAULT="${HM_EMU_FAULT:-}"
START_TIMEOUT="${HM_EMU_START_TIMEOUT:-20}"   # seconds
STOP_TIMEOUT=10

log() { printf '[mat-emulator] %s\n' "$*" >&2; }
die() { printf '[mat-emulator] ERROR: %s\n' "$*" >&2; exit 1; }

pid_alive() { # name pattern -> 0 if our process runs
  local f="$RUN/$1.pid" pid
  [[ -f "$f" ]] || return 1
  pid="$(cat "$f")"
  [[ -n "$pid" && -r "/proc/$pid/cmdline" ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$2"
}

spawn() { # name logfile cmd... : start in a new session, record pid
  local name="$1" logf="$2"; shift 2
  setsid "$@" >>"$logf" 2>&1 </dev/null &
  echo $! >"$RUN/$name.pid"
}

wait_for() { # name what test-cmd...
  local name="$1" what="$2"; shift 2
  local deadline=$((SECONDS + START_TIMEOUT)) pid
  pid="$(cat "$RUN/$name.pid")"
  until "$@" >/dev/null 2>&1; do
    # Liveness by pid only: right after the fork, before exec, the child still shows this script's cmdline.
    kill -0 "$pid" 2>/dev/null || { tail -n 20 "$LOGS/$name.log" >&2 || true; die "$name exited during start-up; see $LOGS/$name.log"; }
    ((SECONDS < deadline)) || die "$name: $what not ready after ${START_TIMEOUT}s; see $LOGS/$name.log"
    sleep 0.1
  done
}

stop_one() { # name pattern
  local name="$1" pattern="$2" f="$RUN/$1.pid" pid
  if ! pid_alive "$name" "$pattern"; then
    [[ -f "$f" ]] && rm -f "$f"
    return 0
  fi
  pid="$(cat "$f")"
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + STOP_TIMEOUT))
  while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS >= deadline)); then
      log "$name: still alive after ${STOP_TIMEOUT}s, sending KILL"
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    fi
    sleep 0.1
  done
  rm -f "$f"
}

# --- installation (idempotent, cached under build/mat-emulator) -----------------------------------
installed() {
  command -v dbus-daemon >/dev/null && command -v dbus-send >/dev/null &&
    [[ -f "$VENV/.hm-pins" && "$(cat "$VENV/.hm-pins")" == "dbus-fast==$HM_DBUS_FAST_VERSION" ]]
}

install() {
  installed && return 0
  [[ "${HM_EMU_NO_INSTALL:-0}" == 1 ]] && die "not installed (dbus-daemon, dbus-send, $VENV): run scripts/mat-emulator.sh install"
  mkdir -p "$TOOLS"
  if ! command -v dbus-daemon >/dev/null || ! command -v dbus-send >/dev/null; then
    log "installing dbus-daemon and dbus-bin from Debian"
    local sudo=""; [[ "$(id -u)" == 0 ]] || sudo=sudo
    { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends dbus-daemon dbus-bin; } \
      >>"$TOOLS/install.log" 2>&1 || die "apt-get install dbus-daemon dbus-bin failed; see $TOOLS/install.log"
  fi
  if [[ ! -f "$VENV/.hm-pins" || "$(cat "$VENV/.hm-pins")" != "dbus-fast==$HM_DBUS_FAST_VERSION" ]]; then
    log "installing dbus-fast==$HM_DBUS_FAST_VERSION into $VENV"
    [[ -x "$VENV/bin/python" ]] || "$PYTHON" -m venv "$VENV" >>"$TOOLS/install.log" 2>&1 || die "creating $VENV failed; see $TOOLS/install.log"
    "$VENV/bin/pip" install -q "dbus-fast==$HM_DBUS_FAST_VERSION" >>"$TOOLS/install.log" 2>&1 ||
      die "pip install dbus-fast failed; see $TOOLS/install.log"
    echo "dbus-fast==$HM_DBUS_FAST_VERSION" >"$VENV/.hm-pins"
  fi
}

# --- the bus and the emulation ---------------------------------------------------------------------
write_bus_config() {
  # A system-type bus for one user: anyone connected may own names and call anything. It listens only on a
  # socket inside $DIR, so nothing outside this folder can reach it.
  cat >"$DIR/bus.conf" <<EOF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>$ADDRESS</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
EOF
}

running() { pid_alive dbus dbus-daemon && pid_alive bluez mat_emulator.py; }

start() {
  if running; then log "already running ($ADDRESS)"; return 0; fi
  [[ -n "${HM_EMU_REPLAY:-}" ]] || die "HM_EMU_REPLAY is not set: name the makers' CSV the mat should stream"
  [[ -f "$HM_EMU_REPLAY" ]] || die "HM_EMU_REPLAY=$HM_EMU_REPLAY: no such file"
  install
  stop_all
  mkdir -p "$RUN" "$LOGS"
  rm -f "$SOCK" "$DIR/ready" "$DIR/stats.json"
  write_bus_config
  spawn dbus "$LOGS/dbus.log" dbus-daemon --config-file="$DIR/bus.conf" --nofork --nopidfile --nosyslog
  wait_for dbus "the bus socket" test -S "$SOCK"
  spawn bluez "$LOGS/bluez.log" "$VENV/bin/python" "$ROOT/scripts/mat_emulator.py" --bus "$ADDRESS" \
    --replay "$(realpath "$HM_EMU_REPLAY")" --name "$HM_EMU_NAME" --fault "$HM_EMU_FAULT" --state-dir "$DIR"
  wait_for bluez "org.bluez" test -f "$DIR/ready"
  log "mat $HM_EMU_NAME on $ADDRESS (replay $HM_EMU_REPLAY${HM_EMU_FAULT:+, fault $HM_EMU_FAULT})"
}

stop_all() {
  stop_one bluez mat_emulator.py
  stop_one dbus dbus-daemon
  rm -f "$SOCK" "$DIR/ready"
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop_all ;;
  status)
    if running; then echo "running: $ADDRESS"; else echo "not running"; exit 1; fi ;;
  env)
    running || die "not running: scripts/mat-emulator.sh start"
    printf 'export DBUS_SYSTEM_BUS_ADDRESS=%q\n' "$ADDRESS" ;;
  *) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
