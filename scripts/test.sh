#!/usr/bin/env bash
# Runs every test of the project on a fresh machine, installing what is missing:
#   0. `cargo fmt --check` first (seconds: a formatting slip fails before anything is built);
#   1. scripts/setup.sh (Debian packages, ONNX Runtime from PyPI's wheel);
#   2. the local stack (scripts/services.sh: MariaDB, SeaweedFS, MLflow on loopback) starts in the
#      background while cargo compiles the tests, and is stopped at the end if this script started it;
#   3. the Rust workspace's unit, integration and end-to-end tests against real ONNX Runtime, the real mat
#      recordings (data/seroton-mat) and the real servers (HM_REQUIRE_SERVICES=1: a server test
#      that finds no server fails instead of skipping);
#   4. a smoke run of the side-by-side quantization benchmark (it must run end to end; figures not judged);
#   5. scripts/lint-ops.sh (Jenkinsfile and docker-compose.yml);
#   6. the BLE end-to-end tests (pipeline/tests/ble_emulator.rs, the Kotlin BluetoothPresenceTest) run
#      btleplug's real Linux backend against emulated mats (scripts/mat-emulator.sh: a private D-Bus system
#      bus and an emulated BlueZ); each test starts and stops its own emulator;
#   7. the Kotlin on the host JVM with Maven: scripts/test-kotlin.sh (the facade over the UniFFI bindings,
#      against the real library) and scripts/test-app.sh (the app's state holders and screens);
#   8. scripts/check-android.sh: rust-core cross-built for arm64-v8a, armeabi-v7a and x86_64 without the NDK
#      (zig as C compiler and linker) and each library checked (ELF machine, 16 KB pages, DT_NEEDED, JNI and
#      UniFFI exports, size budget); its target dir is cached under ~/.cache/hapticmat. Runs after the tests, so a
#      failure there still lets every other test run and be counted;
#   9. `cargo clippy --workspace --all-targets -D warnings` last (a warning fails the run, after every test ran);
# Ends with one line totalling the tests: "tests: N passed, N failed", after the time each step took
# (build/test-times.txt; docs/build-times.md).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p build
: >build/test-times.txt
step_started=$SECONDS
step() { # NAME: the time since the previous step, for the table at the end
  printf '%-28s %5d s\n' "$1" "$((SECONDS - step_started))" >>build/test-times.txt
  step_started=$SECONDS
}
cargo fmt --all --check
step "fmt --check"
scripts/setup.sh
# The emulated mat's tools (dbus-daemon, the dbus-fast venv): the BLE end-to-end tests start one emulator
# each (scripts/mat-emulator.sh, own folder and bus) and never install; test-kotlin.sh starts its own.
scripts/mat-emulator.sh install
step "setup"

# Start the stack only if it is not already up, and then stop only what we started.
stack_started=0
if ! scripts/services.sh status >/dev/null 2>&1; then
  stack_started=1
  (scripts/services.sh start >build/services-start.log 2>&1; echo $? >build/services-start.rc) &
  stack_pid=$!
fi
cleanup() {
  if [[ "$stack_started" == 1 ]]; then
    [[ -n "${stack_pid:-}" ]] && wait "$stack_pid" 2>/dev/null || true
    scripts/services.sh stop || true
  fi
}
trap cleanup EXIT

cargo test --workspace --locked --no-run "$@" 2>&1 | tail -n 3
step "compile the tests"

if [[ "$stack_started" == 1 ]]; then
  wait "$stack_pid" || true
  stack_pid=
  if [[ "$(cat build/services-start.rc 2>/dev/null)" != 0 ]]; then
    cat build/services-start.log >&2
    echo "the local stack did not start (log above)" >&2
    exit 1
  fi
fi
eval "$(scripts/services.sh env)"
export HM_REQUIRE_SERVICES=1
step "wait for the local stack"

cargo test --workspace --locked "$@" 2>&1 | tee build/test.log
step "cargo test"
scripts/bench-quantize.sh --smoke
step "quantize benchmark smoke"
scripts/lint-ops.sh
step "lint-ops"
scripts/test-kotlin.sh 2>&1 | tee build/test-kotlin.log
step "Kotlin (core)"
scripts/test-app.sh 2>&1 | tee build/test-app.log
step "Kotlin (app)"
android_status=0
scripts/check-android.sh 2>&1 | tee build/test-android.log || android_status=$?
step "Android cross-builds"
clippy_status=0
cargo clippy --workspace --all-targets --locked -- -D warnings 2>&1 | tail -n 30 || clippy_status=$?
step "clippy"
printf '%-28s %5d s\n' "total" "$SECONDS" >>build/test-times.txt
cat build/test-times.txt
cat build/test.log build/test-kotlin.log build/test-app.log build/test-android.log | awk '
  /^test result:/ { p += $4; f += $6 }
  /^(kotlin|app|android) tests:/ { p += $3; f += $5 }
  END { printf "tests: %d passed, %d failed\n", p, f }'
[ "$clippy_status" -eq 0 ] || echo "clippy: warnings (above)" >&2
[ "$android_status" -ne 0 ] && exit "$android_status"
exit "$clippy_status"
