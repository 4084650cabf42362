#!/usr/bin/env bash
# Generates rust-core's Kotlin bindings with UniFFI in library mode, from the cdylib built here (the
# generated code is never committed):
#   host     android = false (uniffi-host.toml)  → build/bindings/kotlin-host     (host-JVM Maven tests)
#   android  android = true  (uniffi.toml)       → build/bindings/kotlin-android  (the AAR's sources)
# The library's metadata does not depend on the target, so Android bindings come from the host build
# too; the Gradle build does the same from its cargo-ndk output.
#
#   scripts/bindings.sh host|android [--release|--debug] [--no-build]
#     --release (default) / --debug   which target/<profile>/libhapticmat_core.so to build and read
#     --no-build                      use the library as built (a caller that just built it)
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[bindings] %s\n' "$*" >&2; }

variant="" profile=release build=1
for arg in "$@"; do
  case "$arg" in
    host|android) variant=$arg ;;
    --release) profile=release ;;
    --debug) profile=debug ;;
    --no-build) build=0 ;;
    -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) log "unknown argument: $arg (try --help)"; exit 2 ;;
  esac
done
[ -n "$variant" ] || { log "say which bindings: host or android (try --help)"; exit 2; }

case "$variant" in
  host) config=uniffi-host.toml ;;
  android) config=uniffi.toml ;;
esac
out=build/bindings/kotlin-$variant
library=target/$profile/libhapticmat_core.so

if [ "$build" -eq 1 ]; then
  profile_flag=(); [ "$profile" = release ] && profile_flag=(--release)
  cargo build --quiet --locked -p hapticmat-core --lib "${profile_flag[@]}"
fi
[ -f "$library" ] || { log "$library is missing: build it (drop --no-build)"; exit 1; }
# The generator is a tool: always the dev profile, built alone so its `cli` feature of uniffi does not
# leak into the library's build.
cargo build --quiet --locked -p uniffi-bindgen

# Stale files of an earlier generation must not survive (a removed type would still compile).
rm -rf "$out"
target/debug/uniffi-bindgen generate --library "$library" --language kotlin --config "$config" \
  --out-dir "$out" --no-format
log "$variant bindings from $library in $out"
