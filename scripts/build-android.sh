#!/usr/bin/env bash
# Builds the HapticMat AAR (android-app/core) and the app's debug APK (android-app/app) with Gradle, then
# checks that every packaged native library is 16 KB-aligned. Needs what our machines and CI lack —
# the Android SDK and NDK, Gradle, Google's Maven repository, cargo-ndk and the Rust Android targets —
# so CI does not call it; on a machine without them it lists what is missing and exits 1.
#
#   scripts/build-android.sh            AAR (release) + APK (debug)
#   scripts/build-android.sh --help
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[build-android] %s\n' "$*" >&2; }

case "${1:-}" in
  -h|--help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  "") ;;
  *) log "unknown argument: $1 (try --help)"; exit 2 ;;
esac

catalog=android-app/gradle/libs.versions.toml
ndk_version=$(sed -n 's/^android-ndk = "\(.*\)"/\1/p' "$catalog")
compile_sdk=$(sed -n 's/^android-compileSdk = "\(.*\)"/\1/p' "$catalog")
rust_targets=(aarch64-linux-android armv7-linux-androideabi x86_64-linux-android)

missing=()
sdk="${ANDROID_HOME:-${ANDROID_SDK_ROOT:-}}"
if [ -z "$sdk" ] || [ ! -d "$sdk" ]; then
  missing+=("Android SDK: set ANDROID_HOME to an SDK with platforms;android-$compile_sdk")
else
  [ -d "$sdk/platforms/android-$compile_sdk" ] ||
    missing+=("SDK platform: sdkmanager 'platforms;android-$compile_sdk'")
  ndk="${ANDROID_NDK_HOME:-$sdk/ndk/$ndk_version}"
  [ -d "$ndk" ] || missing+=("Android NDK $ndk_version: sdkmanager 'ndk;$ndk_version'")
fi

gradle_cmd=()
if [ -x android-app/gradlew ]; then
  gradle_cmd=(./gradlew)
elif command -v gradle >/dev/null; then
  gradle_cmd=(gradle)
else
  missing+=("Gradle ≥ 8.13: install it, or run 'gradle wrapper' in android-app/ on a machine that has it")
fi

command -v cargo >/dev/null || missing+=("Rust: rustup (https://rustup.rs)")
if command -v cargo >/dev/null && ! cargo ndk --version >/dev/null 2>&1; then
  missing+=("cargo-ndk: cargo install cargo-ndk")
fi
if command -v rustup >/dev/null; then
  installed=$(rustup target list --installed)
  for t in "${rust_targets[@]}"; do
    grep -qx "$t" <<<"$installed" || missing+=("Rust target $t: rustup target add $t")
  done
fi

java_major=$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1)
[ -n "$java_major" ] && [ "$java_major" -ge 17 ] || missing+=("JDK 17 or newer (JAVA_HOME)")

if [ ${#missing[@]} -gt 0 ]; then
  log "cannot build the Android artifacts here; missing:"
  for m in "${missing[@]}"; do log "  - $m"; done
  log "Google's Maven repository (AGP, androidx) must also be reachable. The host-JVM checks run with scripts/test-app.sh."
  exit 1
fi

cd android-app
log "building :core (AAR, release) and :app (APK, debug)"
"${gradle_cmd[@]}" --console=plain :core:assembleRelease :app:assembleDebug

aar=core/build/outputs/aar/core-release.aar
apk=app/build/outputs/apk/debug/app-debug.apk

# Every LOAD segment of every packaged .so must be aligned to 16 KB (0x4000) or more.
readelf="$ndk/toolchains/llvm/prebuilt/linux-x86_64/bin/llvm-readelf"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
unzip -q -o "$apk" 'lib/*' -d "$tmp"
bad=0
while IFS= read -r so; do
  while read -r align; do
    if [ $((align)) -lt 16384 ]; then
      log "not 16 KB-aligned: ${so#"$tmp"/} (LOAD align $align)"
      bad=1
    fi
  done < <("$readelf" -lW "$so" | awk '$1 == "LOAD" { print $NF }')
done < <(find "$tmp/lib" -name '*.so')
[ "$bad" -eq 0 ] || { log "16 KB alignment check failed"; exit 1; }

log "AAR: android-app/$aar"
log "APK: android-app/$apk (native libraries 16 KB-aligned)"
