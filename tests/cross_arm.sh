#!/usr/bin/env bash
# tests/cross_arm.sh - build every test for AArch64 and run it under qemu, so that the NEON
# micro-kernel (compiled only for ARM) is checked against the plain kernel and the references
# on an x86 machine. Needs gcc-aarch64-linux-gnu, libc6-dev-arm64-cross and qemu-user
# (Debian packages; .ci/run installs them). Prints one line per test and ends with
# "N passed, M failed"; exits non-zero when M > 0 or when the tools are missing.
#
#   bash tests/cross_arm.sh            (or: make test-arm)
#
# As in tests/run.sh, the implementation is compiled once (build/arm/minidl_impl.o) and every
# test that uses the header as it is gets linked with it (tests/linking.sh says which); JOBS
# tests (default: the number of cores) build and run at a time.
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 2
cc=aarch64-linux-gnu-gcc
sysroot=/usr/aarch64-linux-gnu
out=build/arm
flags=(-std=c99 -O1 -Wall -Wextra -Wpedantic -Werror -I.)
. tests/linking.sh # linkable FILE, unlinked_copy SRC DST

# ---- the worker: `cross_arm.sh --one SRC` builds and runs one test, writes its line and counts
if [ "${1:-}" = "--one" ]; then
    src=$2
    name=$(basename "$src" .c)
    res=$out/$name.res
    extra=$(sed -n 's|^// build-extra: ||p' "$src")
    if linkable "$src"; then
        unlinked_copy "$src" "$out/$name.linked.c"
        build=("$cc" "${flags[@]}" -Itests "$out/$name.linked.c" "$out/minidl_impl.o")
    else
        # shellcheck disable=SC2206  # the extra flags are a list
        build=("$cc" "${flags[@]}" "$src" $extra)
    fi
    if ! "${build[@]}" -o "$out/$name" -lm >"$out/$name.build" 2>&1; then
        { echo "  FAIL  arm/$name: does not compile"
          sed 's/^/        | /' "$out/$name.build" | head -n 20; } >"$res.msg"
        echo "0 1" >"$res"
        exit 0
    fi
    timeout 600 qemu-aarch64 -L "$sysroot" "$out/$name" >"$out/$name.out" 2>&1
    rc=$?
    result=$(sed -n 's/^RESULT \([0-9]*\) \([0-9]*\)$/\1 \2/p' "$out/$name.out" | tail -n 1)
    if [ -z "$result" ]; then
        { echo "  FAIL  arm/$name: exit status $rc, no RESULT line"
          tail -n 10 "$out/$name.out" | sed 's/^/        > /'; } >"$res.msg"
        echo "0 1" >"$res"
        exit 0
    fi
    read -r p f <<<"$result"
    if [ "$f" -gt 0 ] || [ "$rc" -ne 0 ]; then
        { echo "  FAIL  arm/$name: $f of $((p + f)) checks failed (exit status $rc)"
          grep '^FAIL' "$out/$name.out" | head -n 10 | sed 's/^/        | /'; } >"$res.msg"
        [ "$f" -gt 0 ] || f=1
    else
        printf '  ok    arm/%-24s %6d checks\n' "$name" "$p" >"$res.msg"
    fi
    echo "$p $f" >"$res"
    exit 0
fi

# ---- the driver
if ! command -v "$cc" >/dev/null || ! command -v qemu-aarch64 >/dev/null; then
    echo "cross_arm.sh: needs $cc and qemu-aarch64:"
    echo "  sudo apt-get install -y gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user"
    exit 2
fi
mkdir -p "$out"
rm -f "$out"/*.res "$out"/*.res.msg
passed=0 failed=0
printf '#define MINIDL_IMPLEMENTATION\n#include "minidl.h"\n' >"$out/minidl_impl.c"
if ! "$cc" "${flags[@]}" -c "$out/minidl_impl.c" -o "$out/minidl_impl.o" >"$out/minidl_impl.build" 2>&1; then
    echo "  FAIL  arm/minidl_impl.o: does not compile"
    sed 's/^/        | /' "$out/minidl_impl.build" | head -n 20
    echo "0 passed, 1 failed"
    exit 1
fi
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}
printf '%s\n' tests/test_*.c | xargs -P "$JOBS" -n 1 bash "$0" --one
for src in tests/test_*.c; do
    name=$(basename "$src" .c)
    if [ -e "$out/$name.res" ]; then
        cat "$out/$name.res.msg"
        read -r p f <"$out/$name.res"
    else
        echo "  FAIL  arm/$name: the runner died"
        p=0 f=1
    fi
    passed=$((passed + p))
    failed=$((failed + f))
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
