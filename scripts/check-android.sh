#!/usr/bin/env bash
# Proof that rust-core builds for Android, on a machine without the NDK: cross-builds the cdylib
# (hapticmat-core, profile `android` of Cargo.toml) for arm64-v8a, armeabi-v7a and x86_64 into
# build/android/jniLibs/<abi>/libhapticmat_core.so and checks each library:
#   ELF machine; LOAD segments aligned to ≥ 16 KB on the 64-bit ABIs; DT_NEEDED only Android's system
#   libraries, liblog.so among them, no libonnxruntime (ort loads it at run time); JNI_OnLoad and the
#   UniFFI symbols exported, no ffi_panic_probe; the stripped size of arm64-v8a within its budget.
# Prints one row per ABI and exits non-zero naming each failed check.
#
# A VERIFICATION build, not the shipping one: the AAR's libraries come from cargo-ndk with the NDK
# (android-app/core/build.gradle.kts). Here the C compiler and linker are zig's (PyPI's `ziglang`, pinned and
# hash-checked), which has no bionic: C from build scripts is freestanding (none today: ring left with the HTTP
# stack, delivery/http.rs); Rust std's unwinder (LLVM libunwind, zig's
# copy) is compiled against musl's headers (the structures it shares with libc have the same layout on
# the 64-bit ABIs; on armeabi-v7a it unwinds with ARM EHABI and uses none); libc/libm/libdl/liblog are
# link-time stand-ins generated with exactly the symbols the library imports, so DT_NEEDED is what the
# NDK would give (a stand-in without the symbols would let --as-needed drop it). An import that is not a
# libc function (what musl's headers declare as the proxy, plus known bionic-only names) fails the check.
#
# Installs what it needs, idempotently: the three rustup targets, ziglang into ~/.cache/hapticmat (or
# $HM_ANDROID_CACHE). The cargo target dir is cached there too, keyed by Cargo.lock + the profile +
# the toolchain, so a second run only recompiles what changed.
#
#   scripts/check-android.sh [--abi arm64-v8a|armeabi-v7a|x86_64]...   (default: all three)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
log() { printf '[android] %s\n' "$*" >&2; }
t0=$SECONDS

ZIG_VERSION=0.17.1
ZIG_WHEEL_SHA256=ea6cc5d87b033cf0aedfbc8f9549a908cae6c50ac31f1698188fa48a74524b54 # manylinux x86_64 wheel
# bytes, stripped: issue 11's budget for arm64-v8a. Today's library is about 2.2 MB (docs/android.md): it has
# no HTTP or TLS stack of its own (the AAR reads stores through HttpURLConnection, delivery/http.rs).
SIZE_BUDGET_ARM64=$((3000 * 1000))
PROFILE=android
API=26 # minSdk (docs/android.md)

abis=()
while [ $# -gt 0 ]; do
  case "$1" in
    --abi) abis+=("$2"); shift 2 ;;
    -h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) log "unknown argument: $1 (try --help)"; exit 2 ;;
  esac
done
[ ${#abis[@]} -gt 0 ] || abis=(arm64-v8a armeabi-v7a x86_64)

triple_of() { case "$1" in arm64-v8a) echo aarch64-linux-android ;; armeabi-v7a) echo armv7-linux-androideabi ;;
  x86_64) echo x86_64-linux-android ;; *) log "unknown ABI $1"; exit 2 ;; esac; }
zig_android() { case "$1" in arm64-v8a) echo aarch64-linux-android ;; armeabi-v7a) echo arm-linux-androideabi ;;
  x86_64) echo x86_64-linux-android ;; esac; }
zig_musl() { case "$1" in arm64-v8a) echo aarch64-linux-musl ;; armeabi-v7a) echo arm-linux-musleabi ;;
  x86_64) echo x86_64-linux-musl ;; esac; }
# what rustc's armv7-linux-androideabi targets: ARMv7-A, Thumb-2, VFPv3-D16, soft-float calling convention
zig_cpu() { case "$1" in armeabi-v7a) echo "-mcpu=generic+v7a+vfp3d16+thumb2" ;; *) echo "" ;; esac; }
# (kept for C crates like ring) x86_64 intrinsics headers pull mm_malloc.h, which wants <stdlib.h>
cc_extra() { case "$1" in x86_64) echo "-D__MM_MALLOC_H" ;; *) echo "" ;; esac; }

[ "$(uname -m)" = x86_64 ] || { log "the pinned zig wheel is for x86_64 hosts"; exit 1; }
command -v readelf >/dev/null || { log "installing binutils (readelf)"; apt-get install -y -qq binutils >/dev/null; }

# --- rustup targets -------------------------------------------------------------------------------------
installed=$(rustup target list --installed)
missing=()
for abi in "${abis[@]}"; do
  t=$(triple_of "$abi"); grep -qx "$t" <<<"$installed" || missing+=("$t")
done
if [ ${#missing[@]} -gt 0 ]; then log "rustup target add ${missing[*]}"; rustup target add "${missing[@]}" >&2; fi

# --- zig (PyPI's ziglang, hash-pinned) -------------------------------------------------------------------
cache=${HM_ANDROID_CACHE:-$HOME/.cache/hapticmat}
venv=$cache/zig-$ZIG_VERSION
if ! "$venv/bin/python" -c "import ziglang" 2>/dev/null; then
  log "installing ziglang==$ZIG_VERSION into $venv"
  rm -rf "$venv"; mkdir -p "$cache"
  python3 -m venv "$venv"
  printf 'ziglang==%s --hash=sha256:%s\n' "$ZIG_VERSION" "$ZIG_WHEEL_SHA256" >"$cache/ziglang-requirements.txt"
  "$venv/bin/pip" install --quiet --require-hashes --only-binary :all: -r "$cache/ziglang-requirements.txt" >&2
fi
zigdir=$("$venv/bin/python" -c "import ziglang, os; print(os.path.dirname(ziglang.__file__))")
ZIG=$zigdir/zig
[ "$("$ZIG" version)" = "$ZIG_VERSION" ] || { log "zig in $venv is not $ZIG_VERSION"; exit 1; }

# --- toolchain: wrappers, libunwind.a, empty stand-ins ---------------------------------------------------
tc_key=$(cat "$0" scripts/android_elf.py | sha256sum | cut -c1-12)
tc=$cache/android-toolchain/$ZIG_VERSION-$tc_key
if [ ! -f "$tc/.done" ]; then
  log "preparing the zig toolchain in $tc"
  rm -rf "$cache/android-toolchain"; mkdir -p "$tc"
  uw=$zigdir/lib/libunwind
  for abi in arm64-v8a armeabi-v7a x86_64; do
    d=$tc/$abi; mkdir -p "$d/empty" "$d/obj"
    # C compiler for build scripts (none compiles C today; ring did): freestanding, no bionic needed
    cat >"$d/cc" <<EOF
#!/bin/sh
# zig cc for $(zig_android "$abi"), dropping the target flags cc-rs adds
for a in "\$@"; do shift; case "\$a" in --target=*|-march=*|-mfpu=*|-mfloat-abi=*) ;; *) set -- "\$@" "\$a" ;; esac; done
exec "$ZIG" cc -target $(zig_android "$abi") $(zig_cpu "$abi") -DRING_CORE_NOSTDLIBINC=1 $(cc_extra "$abi") "\$@"
EOF
    printf '#!/bin/sh\nexec "%s" ar "$@"\n' "$ZIG" >"$d/ar"
    # linker (rustc's flavor ld.lld): link once against empty stand-ins, write stand-ins with exactly the
    # symbols the result imports, link again against them, and once more stripped (<output>.stripped)
    cat >"$d/ld" <<EOF
#!/bin/sh
set -e
[ "\$1" = -flavor ] && shift 2 # rustc's lld flavor names itself first; zig's ld.lld is already GNU
out=; prev=
for a in "\$@"; do [ "\$prev" = -o ] && out=\$a; prev=\$a; done
"$ZIG" ld.lld -L "$d/empty" -L "$d" "\$@"
[ -n "\$out" ] || exit 0
stubs=\$(dirname "\$out")/bionic-stubs-\$(basename "\$out"); rm -rf "\$stubs"; mkdir -p "\$stubs"
python3 "$root/scripts/android_elf.py" stubs "\$out" "$zigdir/lib/libc/include/generic-musl" "\$stubs" >"\$stubs/summary.txt"
for lib in libc libm libdl liblog; do
  "$ZIG" cc -target $(zig_android "$abi") $(zig_cpu "$abi") -nostdlib -shared -fPIC -Wl,-soname,\$lib.so \\
    -o "\$stubs/\$lib.so" "\$stubs/\$lib.c"
done
"$ZIG" ld.lld -L "\$stubs" -L "$d" "\$@"
# and the stripped library an APK would carry (zig's objcopy cannot strip; binutils' knows no Arm ELF)
exec "$ZIG" ld.lld -L "\$stubs" -L "$d" "\$@" --strip-all -o "\$out.stripped"
EOF
    chmod +x "$d/cc" "$d/ar" "$d/ld"
    : >"$d/empty.c"
    for lib in libc libm libdl liblog; do
      "$ZIG" cc -target "$(zig_android "$abi")" $(zig_cpu "$abi") -nostdlib -shared -fPIC -Wl,-soname,$lib.so \
        -o "$d/empty/$lib.so" "$d/empty.c"
    done
    # Rust std links the unwinder statically (-lunwind): LLVM libunwind from zig's sources
    flags=(-target "$(zig_musl "$abi")" $(zig_cpu "$abi") -O2 -fPIC -funwind-tables -fvisibility=hidden
      -D_LIBUNWIND_IS_NATIVE_ONLY -D_LIBUNWIND_HIDE_SYMBOLS -DNDEBUG -I "$uw/include")
    for f in libunwind.cpp Unwind-EHABI.cpp; do
      "$ZIG" c++ "${flags[@]}" -nostdinc++ -fno-exceptions -fno-rtti -std=c++17 -c "$uw/src/$f" -o "$d/obj/$f.o"
    done
    for f in UnwindLevel1.c UnwindLevel1-gcc-ext.c Unwind-sjlj.c; do
      "$ZIG" cc "${flags[@]}" -std=c99 -c "$uw/src/$f" -o "$d/obj/$f.o"
    done
    for f in UnwindRegistersRestore.S UnwindRegistersSave.S; do
      "$ZIG" cc "${flags[@]}" -c "$uw/src/$f" -o "$d/obj/$f.o"
    done
    "$ZIG" ar rcs "$d/libunwind.a" "$d"/obj/*.o
  done
  touch "$tc/.done"
fi

# --- build ----------------------------------------------------------------------------------------------
profile_text=$(awk '/^\[profile\.'"$PROFILE"'\]/{p=1; print; next} /^\[/{p=0} p' Cargo.toml)
[ -n "$profile_text" ] || { log "Cargo.toml has no [profile.$PROFILE]"; exit 1; }
# (a new toolchain folder changes CC_* and the linker, which cargo's fingerprints already track)
key=$( { cat Cargo.lock rust-core/Cargo.toml; echo "$profile_text"; rustc -V; echo "$ZIG_VERSION"; } \
  | sha256sum | cut -c1-16)
target_root=$cache/android-target
target_dir=$target_root/$key
if [ ! -d "$target_dir" ] && [ -d "$target_root" ]; then
  log "dropping cached Android target dirs of other keys"; rm -rf "${target_root:?}"/*
fi
mkdir -p "$target_dir"

counts=$(mktemp); trap 'rm -f "$counts"' EXIT
budget_of() { [ "$1" = arm64-v8a ] && echo "$SIZE_BUDGET_ARM64" || echo 0; }
rows=()
status=0
for abi in "${abis[@]}"; do
  t=$(triple_of "$abi"); T=$(tr 'a-z-' 'A-Z_' <<<"$t"); d=$tc/$abi
  log "cargo build -p hapticmat-core --lib --target $t --profile $PROFILE"
  tb=$SECONDS
  env "CC_${t//-/_}=$d/cc" "AR_${t//-/_}=$d/ar" "CARGO_TARGET_${T}_LINKER=$d/ld" \
    "CARGO_TARGET_${T}_RUSTFLAGS=-C linker-flavor=ld.lld -C link-arg=-zmax-page-size=16384 -C link-arg=--pack-dyn-relocs=android -C link-arg=--icf=all" \
    CARGO_TARGET_DIR="$target_dir" \
    cargo build --locked --quiet -p hapticmat-core --lib --target "$t" --profile "$PROFILE" >&2
  log "$abi built in $((SECONDS - tb)) s"
  lib=$target_dir/$t/$PROFILE/libhapticmat_core.so
  # jniLibs gets what an APK carries: the library stripped (the unstripped one keeps UniFFI's metadata)
  out=build/android/jniLibs/$abi/libhapticmat_core.so
  mkdir -p "$(dirname "$out")"
  cp "$target_dir/$t/$PROFILE/deps/libhapticmat_core.so.stripped" "$out"
  if row=$(python3 scripts/android_elf.py check "$abi" "$lib" "$out" "$(budget_of "$abi")" "$counts"); then :
  else status=1; fi
  rows+=("$row")
done

{
  printf 'ABI\tmachine\tmin LOAD align\tDT_NEEDED\tJNI_OnLoad\tUniFFI symbols\tstripped size\tbudget\tresult\n'
  printf '%s\n' "${rows[@]}"
} | column -t -s $'\t'
awk '{ p += $1; f += $2 } END { printf "android tests: %d passed, %d failed\n", p, f }' "$counts"
if [ "$status" -ne 0 ]; then
  log "Android check FAILED (reasons above)"
else
  log "Android check passed in $((SECONDS - t0)) s (target dir $target_dir)"
fi
exit "$status"
