#!/usr/bin/env bash
# tests/cross_arm.sh - build every test for AArch64 and run it under qemu, so that the NEON
# micro-kernel (compiled only for ARM) is checked against the plain kernel and the references
# on an x86 machine. Needs gcc-aarch64-linux-gnu, libc6-dev-arm64-cross and qemu-user
# (Debian packages; .ci/run installs them). Prints one line per test and ends with
# "N passed, M failed"; exits non-zero when M > 0 or when the tools are missing.
#
#   bash tests/cross_arm.sh            (or: make test-arm)
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 2
cc=aarch64-linux-gnu-gcc
sysroot=/usr/aarch64-linux-gnu
if ! command -v "$cc" >/dev/null || ! command -v qemu-aarch64 >/dev/null; then
    echo "cross_arm.sh: needs $cc and qemu-aarch64:"
    echo "  sudo apt-get install -y gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user"
    exit 2
fi
out=build/arm
mkdir -p "$out"
passed=0 failed=0
for src in tests/test_*.c; do
    name=$(basename "$src" .c)
    extra=$(sed -n 's|^// build-extra: ||p' "$src")
    # shellcheck disable=SC2086  # the extra flags are a list
    if ! "$cc" -std=c99 -O1 -Wall -Wextra -Wpedantic -Werror -I. "$src" $extra -o "$out/$name" -lm \
        >"$out/$name.build" 2>&1; then
        echo "  FAIL  arm/$name: does not compile"
        sed 's/^/        | /' "$out/$name.build" | head -n 20
        failed=$((failed + 1))
        continue
    fi
    timeout 600 qemu-aarch64 -L "$sysroot" "$out/$name" >"$out/$name.out" 2>&1
    rc=$?
    result=$(sed -n 's/^RESULT \([0-9]*\) \([0-9]*\)$/\1 \2/p' "$out/$name.out" | tail -n 1)
    if [ -z "$result" ]; then
        echo "  FAIL  arm/$name: exit status $rc, no RESULT line"
        tail -n 10 "$out/$name.out" | sed 's/^/        > /'
        failed=$((failed + 1))
        continue
    fi
    set -- $result
    passed=$((passed + $1))
    failed=$((failed + $2))
    if [ "$2" -gt 0 ] || [ "$rc" -ne 0 ]; then
        echo "  FAIL  arm/$name: $2 of $(($1 + $2)) checks failed (exit status $rc)"
        grep '^FAIL' "$out/$name.out" | head -n 10 | sed 's/^/        | /'
        [ "$2" -gt 0 ] || failed=$((failed + 1))
    else
        printf '  ok    arm/%-24s %6d checks\n' "$name" "$1"
    fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
