#!/usr/bin/env bash
# tests/torch/run.sh - compare minidl with PyTorch (make test-torch). The last line it prints is
# "N passed, M failed", and it exits non-zero when M > 0.
#
#   bash tests/torch/run.sh [FILTER]      FILTER: compare only the cases whose name contains it
#
# 1. Builds each tests/torch/torch_*.c with the strict flags of the test suite (gcc -std=c99
#    -Wall -Wextra -Wpedantic -Werror -O1 -g) and runs it: it writes one case file per case
#    (inputs, minidl's outputs and gradients, tolerances; format in torch_case.h).
# 2. Runs tests/torch/compare.py on those files with Debian's python3 and python3-torch: each
#    case is recomputed with torch in float64 and compared, one line per case, then the worst
#    error/tolerance ratio of the run, then the totals. A program that does not compile or does
#    not exit 0 adds one failure (the cases it wrote are still compared).
# Without torch it prints why, counts nothing and exits 0 ("0 passed, 0 failed"), as tests/run.sh
# does for a missing compiler; under CI (CI set) a missing torch is a failure instead.
#
# Environment: CC compiler (default gcc); EXTRA_CFLAGS added to the builds (-DMINIDL_NO_SIMD
# compares the plain kernels); TORCH_PYTHON the python that has torch (default /usr/bin/python3:
# the python3 first on PATH may be another one, e.g. pyenv's, that does not see Debian's
# packages). The programs and case files of the latest run stay in build/torch/last/.
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 2

filter=${1:-}
CC=${CC:-gcc}
PY=${TORCH_PYTHON:-/usr/bin/python3}
strict=(-std=c99 -Wall -Wextra -Wpedantic -Werror)
read -ra extra_cflags <<<"${EXTRA_CFLAGS:-}"

if ! "$PY" -c 'import torch' >/dev/null 2>&1; then
    if [ -n "${CI:-}" ]; then
        echo "  FAIL  test-torch: python3-torch is not installed ($PY cannot import torch)"
        echo "0 passed, 1 failed"
        exit 1
    fi
    echo "test-torch: skipped: python3-torch is not installed (apt-get install python3-torch)"
    echo "test-torch: ($PY cannot import torch; TORCH_PYTHON names another python)"
    echo "0 passed, 0 failed"
    exit 0
fi
if ! command -v "$CC" >/dev/null; then
    echo "test-torch: compiler '$CC' not found (Debian: sudo apt-get install -y gcc)"
    echo "0 passed, 1 failed"
    exit 1
fi

# a private folder per run, as tests/run.sh does; at the end it becomes build/torch/last
mkdir -p build/torch || exit 2
B=$(mktemp -d build/torch/run.XXXXXX) || exit 2
LAST=build/torch/last
mkdir -p "$B/cases" || exit 2
trap 'rm -rf "$B"; exit 130' INT TERM

echo "test-torch: $CC, $("$PY" -c 'import torch; print("torch", torch.__version__)')"
failed=0
for src in tests/torch/torch_*.c; do
    [ -e "$src" ] || continue
    name=$(basename "$src" .c)
    if ! "$CC" "${strict[@]}" -O1 -g "${extra_cflags[@]}" -I. "$src" -o "$B/$name" -lm \
        >"$B/$name.err" 2>&1; then
        echo "  FAIL  $name: does not compile:"
        head -n 25 "$B/$name.err" | sed 's/^/        | /'
        failed=$((failed + 1))
        continue
    fi
    { timeout -k 10 120 "./$B/$name" "$B/cases" >"$B/$name.out" 2>"$B/$name.err" </dev/null; } \
        2>/dev/null
    rc=$?
    if [ $rc -ne 0 ]; then
        why="exit status $rc"
        [ $rc -eq 124 ] && why="ran past the time limit of 120 s"
        [ $rc -gt 128 ] && [ $rc -ne 137 ] && why="crashed: killed by signal $((rc - 128))"
        echo "  FAIL  $name: $why (the cases it wrote are compared below)"
        tail -n 10 "$B/$name.err" | sed 's/^/        | /'
        failed=$((failed + 1))
    fi
done

# compare.py's lines as they come, but for its last (the totals), which gets the failures above
# added; the case files' paths are given where they will stay
keep=()
[ -n "$filter" ] && keep=(-k "$filter")
"$PY" tests/torch/compare.py "${keep[@]}" "$B/cases" 2>&1 | sed "s|$B/|$LAST/|g" |
    tee "$B/compare.out" | sed '$d'
totals=$(tail -n 1 "$B/compare.out")
if [[ $totals =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
    passed=${BASH_REMATCH[1]}
    failed=$((failed + BASH_REMATCH[2]))
else
    echo "  FAIL  compare.py stopped without its totals:"
    echo "        | $totals"
    passed=0
    failed=$((failed + 1))
fi
rm -rf "$LAST"
mv -T "$B" "$LAST" 2>/dev/null || rm -rf "$B"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
