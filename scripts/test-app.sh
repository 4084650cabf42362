#!/usr/bin/env bash
# Compiles and tests the Compose app's platform-free code on the host JVM with Maven (Maven Central only;
# docs/design.md §6): android-app/jvm-app builds android-app/app/src/shared and src/ui — the same folders the
# Gradle module compiles — and runs app/src/test (state holders, UI state mapping, the absence timeout
# that ends the session, permission-denied and update-failure states) and app/src/desktopTest (the
# stateless screens composed with Compose Multiplatform desktop, driven through their semantics, and
# rendered to PNG); then android-app/app/android-check compiles the framework-only Android code
# (PresenceService, the foreground service that owns the session) with src/shared against Robolectric's
# android-all and runs its Robolectric tests.
#
#   scripts/test-app.sh                 run the tests
#   scripts/test-app.sh --screenshots   also copy the rendered screens to docs/screenshots/
#
# Ends with one line `app tests: N passed, M failed`; exits non-zero when a test failed or the build broke.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[test-app] %s\n' "$*" >&2; }

screenshots=0
for arg in "$@"; do
  case "$arg" in
    --screenshots) screenshots=1 ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) log "unknown argument: $arg (try --help)"; exit 2 ;;
  esac
done

command -v mvn >/dev/null || { log "mvn not found: install Maven (Debian: apt-get install maven)"; exit 1; }

project=android-app/jvm-app
reports=$project/target/surefire-reports
# Stale reports of an earlier run would be counted as this run's.
rm -rf "$reports" "$project/target/screenshots"

# The Live screen for a real recording: the real core's states for the makers' recordings (empty mat, then
# a person), from the pipeline binary and a model when they are there (scripts/test.sh has built both by
# now; HM_SCREEN_MODEL picks another model, e.g. the main job's out/run/model.int8.onnx for the README).
recording_args=()
screen_model="${HM_SCREEN_MODEL:-build/kotlin-test-run/model.int8.onnx}"
if [ -x target/debug/pipeline ] && [ -f "$screen_model" ]; then
  mkdir -p build/app-screens
  rec=data/seroton-mat
  target/debug/pipeline monitor --json --model "$screen_model" \
    --source "replay:$rec/empty_or_cat_on_mat.csv,$rec/human_on_mat.csv" >build/app-screens/recording-states.jsonl
  recording_args=(-Dhapticmat.recording="$PWD/$rec/human_on_mat.csv"
    -Dhapticmat.recordingStates="$PWD/build/app-screens/recording-states.jsonl")
  log "the real recording's screen uses $screen_model"
else
  log "no pipeline binary or $screen_model: the real recording's screen is not drawn"
fi

# Maven's console library still writes colour resets in batch mode, and without a final newline: strip
# them so this script's last line stands alone.
rc=0
mvn -B --no-transfer-progress -f "$project/pom.xml" test "${recording_args[@]}" 2>&1 | sed -u 's/\x1b\[[0-9;]*m//g' || rc=$?

# The foreground service against android-all, under Robolectric.
android_reports=build/maven/app-android/surefire-reports
rm -rf "$android_reports"
mvn -B -q --no-transfer-progress -f android-app/app/android-check/pom.xml test 2>&1 | sed -u 's/\x1b\[[0-9;]*m//g' || rc=$?

read -r passed failed < <(python3 scripts/surefire_count.py "$reports" "$android_reports")

if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
  log "the Maven build failed before or outside the tests (see above)"
fi

if [ "$screenshots" -eq 1 ] && [ "$rc" -eq 0 ]; then
  mkdir -p docs/screenshots
  cp "$project"/target/screenshots/*.png docs/screenshots/
  log "screens rendered to docs/screenshots/: $(cd docs/screenshots && ls *.png | tr '\n' ' ')"
fi

echo "app tests: $passed passed, $failed failed"
exit "$rc"
