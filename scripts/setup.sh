#!/usr/bin/env bash
# Installs what building and testing need on a fresh Debian machine, idempotently:
#   - Debian packages: libdbus-1-dev and pkg-config (btleplug links libdbus on Linux), fonts-dejavu-core
#     (the text of report plots);
#   - ONNX Runtime's shared library, taken from PyPI's onnxruntime wheel (hash-pinned) into
#     build/onnxruntime/, where .cargo/config.toml points ORT_DYLIB_PATH.
# Nothing is downloaded at build time; this script is the only place that fetches.
set -euo pipefail
cd "$(dirname "$0")/.."

ORT_VERSION=1.31.1
ORT_DIR=build/onnxruntime
WHEEL_DIR=build/wheels

log() { printf '[setup] %s\n' "$*" >&2; }

need_pkgs=()
for p in libdbus-1-dev pkg-config fonts-dejavu-core; do
  dpkg -s "$p" >/dev/null 2>&1 || need_pkgs+=("$p")
done
if [ ${#need_pkgs[@]} -gt 0 ]; then
  log "installing Debian packages: ${need_pkgs[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi

case "$(uname -m)" in
  x86_64)  plat=manylinux_2_28_x86_64;  sha=5752bd508126ae7c49894d3b9d2e83f0c3d487319246d04c444b393308d7ad7f ;;
  aarch64) plat=manylinux_2_28_aarch64; sha=da05378364c44d4407e463982d2bf8d5e4cfea873283757e48beeb41df97b7f3 ;;
  *) log "no pinned onnxruntime wheel for $(uname -m)"; exit 1 ;;
esac
wheel="$WHEEL_DIR/onnxruntime-$ORT_VERSION-cp311-cp311-$plat.whl"

if [ ! -f "$ORT_DIR/.version" ] || [ "$(cat "$ORT_DIR/.version")" != "$ORT_VERSION $sha" ]; then
  mkdir -p "$WHEEL_DIR" "$ORT_DIR"
  if [ ! -f "$wheel" ] || ! echo "$sha  $wheel" | sha256sum -c --status; then
    log "downloading onnxruntime==$ORT_VERSION ($plat) from PyPI"
    rm -f "$wheel"
    python3 -m pip download --quiet --no-deps --only-binary :all: --platform "$plat" --python-version 3.11 \
      "onnxruntime==$ORT_VERSION" -d "$WHEEL_DIR"
  fi
  echo "$sha  $wheel" | sha256sum -c --status || { log "hash mismatch for $wheel: refusing it"; rm -f "$wheel"; exit 1; }
  python3 - "$wheel" "$ORT_DIR" "$ORT_VERSION" <<'PY'
import sys, zipfile, os
wheel, out, ver = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    for member, name in [(f"onnxruntime/capi/libonnxruntime.so.{ver}", "libonnxruntime.so"),
                         ("onnxruntime/capi/libonnxruntime_providers_shared.so", "libonnxruntime_providers_shared.so")]:
        tmp = os.path.join(out, name + ".tmp")
        with z.open(member) as src, open(tmp, "wb") as dst:
            dst.write(src.read())
        os.replace(tmp, os.path.join(out, name))
PY
  echo "$ORT_VERSION $sha" > "$ORT_DIR/.version"
  log "ONNX Runtime $ORT_VERSION ready in $ORT_DIR"
fi
