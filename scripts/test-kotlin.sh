#!/usr/bin/env bash
# Tests the Kotlin of android-app/core (the facade over rust-core's UniFFI bindings) on the host JVM with
# Maven (Maven Central only; docs/design.md §6), against the real library:
#   1. builds rust-core's cdylib and the pipeline binary (dev profile, one build);
#   2. trains a small model into build/kotlin-test-run/ if none is there yet (about a minute; kept);
#   3. generates the host bindings (scripts/bindings.sh host: android = false);
#   4. starts an emulated mat (scripts/mat-emulator.sh, own folder build/mat-emulator/kotlin) streaming the
#      recording of the empty mat, and stops it at the end;
#   5. runs android-app/core/pom.xml's tests: replays of the real recordings, updates from a store that
#      `pipeline publish` lays out and a loopback HTTP server serves, subscriptions, errors, panics, and
#      MatSource.Bluetooth against the emulated mat (in its own JVM);
#   6. compiles :core's Android sources (the facade, io.hapticmat.android, the Android bindings of
#      scripts/bindings.sh android) against Robolectric's android-all (android-app/core/android-check) and
#      runs its Robolectric tests (HapticMatNative, the Android bindings and cleaner, on the real library).
# The first run downloads the Maven plugins and libraries; later runs need no network.
#
#   scripts/test-kotlin.sh [-- MAVEN ARGS…]   e.g. -- -Dtest=ReplayPresenceTest
#   scripts/test-kotlin.sh --prepare           steps 1–3 only (what Gradle's unit tests of :core need)
#
# Ends with one line `kotlin tests: N passed, M failed`; exits non-zero when a test failed or the build broke.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[test-kotlin] %s\n' "$*" >&2; }

mvn_args=()
prepare_only=0
while [ $# -gt 0 ]; do
  case "$1" in
    --) shift; mvn_args=("$@"); break ;;
    --prepare) prepare_only=1 ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) log "unknown argument: $1 (try --help)"; exit 2 ;;
  esac
  shift
done

command -v mvn >/dev/null || { log "mvn not found: install Maven (Debian: apt-get install maven)"; exit 1; }
ort=build/onnxruntime/libonnxruntime.so
[ -f "$ort" ] || scripts/setup.sh

# One build for both: the library then has the same dependency features as the binary. The dev profile
# (dependencies at opt-level 2) reuses what `cargo test` just compiled instead of a second, release build.
cargo build --quiet --locked -p hapticmat-core -p pipeline

model_dir=build/kotlin-test-run
model=$model_dir/model.int8.onnx
if [ ! -f "$model" ]; then
  # Small but enough for the real recordings to read absent → present → absent (ReplayPresenceTest).
  log "training the test model into $model_dir (once)"
  target/debug/pipeline run --out "$model_dir" --sessions 24 --session-seconds 300 --long-sessions 0 --epochs 3 --max-recall-drop 10 --quiet
fi

scripts/bindings.sh host --debug --no-build
# Gradle's :core:testDebugUnitTest runs the same tests itself and only needs the above.
[ "$prepare_only" = 1 ] && exit 0

# The emulated mat for BluetoothPresenceTest: our own instance (its own folder and bus), streaming the
# recording of the empty mat, stopped when this script ends.
emu_dir=build/mat-emulator/kotlin
export HM_EMU_DIR="$PWD/$emu_dir"
recordings="${HM_RECORDINGS:-$PWD/data/seroton-mat}"   # pom.xml's hapticmat.recordings
HM_EMU_REPLAY="$recordings/empty_or_cat_on_mat.csv" scripts/mat-emulator.sh start
trap 'HM_EMU_DIR="$PWD/$emu_dir" scripts/mat-emulator.sh stop' EXIT
dbus_address="$(scripts/mat-emulator.sh env | sed -n 's/^export DBUS_SYSTEM_BUS_ADDRESS=//p')"

root=$PWD
reports=build/maven/core/surefire-reports
# Stale reports of an earlier run would be counted as this run's.
rm -rf "$reports"
rc=0
# Maven's console library writes colour resets even in batch mode: strip them so the last line stands alone.
mvn -B -q --no-transfer-progress -f android-app/core/pom.xml test \
  -Dhapticmat.root="$root" \
  -Dhapticmat.libDir="$root/target/debug" \
  -Dhapticmat.model="$root/$model" \
  -Dhapticmat.ortLibrary="$root/$ort" \
  -Dhapticmat.pipeline="$root/target/debug/pipeline" \
  -Dhapticmat.dbusAddress="$dbus_address" \
  -Dhapticmat.emulatorStats="$HM_EMU_DIR/stats.json" \
  -Dhapticmat.requireEmulator="${HM_REQUIRE_SERVICES:-0}" \
  "${mvn_args[@]}" 2>&1 | sed -u 's/\x1b\[[0-9;]*m//g' || rc=$?

# 6. The Android sources against android-all, and Robolectric (skipped with -Dtest=…: another selection).
android_reports=build/maven/core-android/surefire-reports
rm -rf "$android_reports"
if [ "${#mvn_args[@]}" -eq 0 ]; then
  scripts/bindings.sh android --debug --no-build
  mvn -B -q --no-transfer-progress -f android-app/core/android-check/pom.xml test \
    -Dhapticmat.root="$root" -Dhapticmat.model="$root/$model" 2>&1 | sed -u 's/\x1b\[[0-9;]*m//g' || rc=$?
fi

read -r passed failed < <(python3 scripts/surefire_count.py "$reports" "$android_reports")
if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
  log "the Maven build failed before or outside the tests (see above)"
fi
echo "kotlin tests: $passed passed, $failed failed"
exit "$rc"
