#!/usr/bin/env bash
# tests/fuzz/run.sh - build the libFuzzer harnesses tests/fuzz/fuzz_*.c and run each for
# FUZZ_SECONDS (default 60) on a fresh copy of its seed corpus, tests/fuzz/corpus/<name>/.
#
#   bash tests/fuzz/run.sh [NAME...]          (make fuzz; NAME: csv, idx, inflate, safetensors)
#
# Each harness is built with clang -fsanitize=fuzzer,address,undefined (libFuzzer comes with
# Debian's libclang-rt-14-dev) into build/fuzz/, and run there; fuzz_inflate is linked with
# zlib (-DMDL_FUZZ_ZLIB -lz) when zlib.h is installed, to compare minidl's inflate with zlib's.
# The line printed for each harness gives its executions, the time and the rate, and the corpus
# before and after. A crash, a sanitizer report, a leak or a timeout stops that harness: the
# input that did it is saved as build/fuzz/<name>-crash-... (run the harness on that file to
# see it again), the end of the log is printed, and the script exits non-zero.
# JOBS harnesses (default: the number of cores) build and run at a time; their lines are
# printed in order when all have finished.
# Environment: FUZZ_SECONDS, FUZZ_CC (default clang), JOBS.
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 2
secs=${FUZZ_SECONDS:-60}
cc=${FUZZ_CC:-clang}
out=build/fuzz
mkdir -p "$out" || exit 2
if ! command -v "$cc" >/dev/null; then
    echo "fuzz: $cc is not installed (Debian: sudo apt-get install -y clang libclang-rt-14-dev)"
    exit 1
fi
# ---- one harness: `run.sh --one NAME` builds and runs it (its output goes to a file)
if [ "${1:-}" = "--one" ]; then
    name=$2
    src=tests/fuzz/fuzz_$name.c bin=$out/fuzz_$name log=$out/fuzz_$name.log
    extra=()
    if [ "$name" = inflate ] && [ -f /usr/include/zlib.h ]; then extra=(-DMDL_FUZZ_ZLIB -lz); fi
    if ! "$cc" -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
        -fno-omit-frame-pointer -Wall -Wextra -Werror -I. "$src" -o "$bin" -lm "${extra[@]}" \
        >"$log" 2>&1; then
        echo "fuzz_$name: does not build:"
        head -n 20 "$log" | sed 's/^/    | /'
        grep -q 'libclang_rt.fuzzer\|fsanitize=fuzzer' "$log" &&
            echo "    (libFuzzer's runtime is in Debian's libclang-rt-14-dev)"
        exit 1
    fi
    corpus=$out/corpus_$name
    rm -rf "$corpus"
    cp -r "tests/fuzz/corpus/$name" "$corpus" || exit 2
    seeds=$(find "$corpus" -type f | wc -l)
    start=$(date +%s.%N)
    ASAN_OPTIONS=detect_leaks=1 "./$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$out/$name-" "$corpus" >>"$log" 2>&1
    rc=$?
    end=$(date +%s.%N)
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    after=$(find "$corpus" -type f | wc -l)
    awk -v n="$name" -v e="${execs:-0}" -v a="$start" -v b="$end" -v s="$seeds" -v c="$after" \
        -v rc="$rc" 'BEGIN { t = b - a; printf "fuzz_%s: %d executions in %.1f s (%.0f/s), corpus %d -> %d inputs: %s\n", n, e, t, (t > 0 ? e / t : 0), s, c, (rc == 0 ? "ok" : "FAILED") }'
    if [ $rc -ne 0 ]; then
        tail -n 40 "$log" | sed 's/^/    | /'
        exit 1
    fi
    exit 0
fi

names=("$@")
if [ ${#names[@]} -eq 0 ]; then
    for src in tests/fuzz/fuzz_*.c; do
        n=$(basename "$src" .c)
        names+=("${n#fuzz_}")
    done
fi
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}
for name in "${names[@]}"; do rm -f "$out/fuzz_$name.summary" "$out/fuzz_$name.status"; done
printf '%s\n' "${names[@]}" | xargs -P "$JOBS" -I{} sh -c \
    'bash "$0" --one "$1" >"$2/fuzz_$1.summary" 2>&1; echo $? >"$2/fuzz_$1.status"' "$PWD/tests/fuzz/run.sh" {} "$out"
status=0
for name in "${names[@]}"; do
    cat "$out/fuzz_$name.summary" 2>/dev/null
    [ "$(cat "$out/fuzz_$name.status" 2>/dev/null)" = 0 ] || status=1
done
exit $status
