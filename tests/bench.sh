#!/usr/bin/env bash
# tests/bench.sh - build every benchmark and run it, one after the other. Not part of
# `make test`: the benchmarks take minutes, and their figures depend on the machine.
#
#   bash tests/bench.sh                  (or: make bench) build and run bench/*.c
#   bash tests/bench.sh --build-only     build them all, run none
#
# Each bench/NAME.c is built into build/bench/NAME and run from inside bench/; a program that
# does not compile, or does not exit 0, stops the run with its name and status. The command is
#     $CC -std=c99 -O2 -Wall -Wextra -I.. [-fopenmp] [-DMINIDL_BENCH_OPENBLAS ...] NAME.c
#         [build extras] -o ../build/bench/NAME [OpenBLAS's libraries] -lm
# and is printed before the program runs. A tiny probe program decides each bracket:
# -fopenmp (for the 2-thread figures) when the compiler has it, and -DMINIDL_BENCH_OPENBLAS
# with OpenBLAS's flags (to compare with cblas_sgemm) when cblas_sgemm compiles, links and
# runs (Debian: sudo apt-get install -y libopenblas-dev). Still -O2 without -march=native, as
# students build: minidl picks its SIMD kernel at run time. Never -ffast-math.
#
# Lines a bench/*.c file may hold:
#     // build-extra: <flags and files>
#         appended to its compile command, paths relative to bench/ (tests/run.sh has the same
#         convention for the tests, with paths relative to the repo root). A bench/*.c file
#         that such a line names is a part of that program, not a benchmark of its own.
#     // bench-variant: NAME <flags>
#         one more build of the same program, with <flags> appended, into
#         build/bench/<prog>-NAME; the main program runs with the variant's absolute path in
#         the environment variable MINIDL_BENCH_VARIANT_<NAME> (NAME in capitals) and may run
#         it to compare, e.g. "// bench-variant: nosimd -DMINIDL_NO_SIMD" gives
#         MINIDL_BENCH_VARIANT_NOSIMD=/.../build/bench/bench_gemm-nosimd. NAME is letters,
#         digits and _; the variants are not run by this script.
#
# Environment: CC the compiler (default gcc).

set -u
export LC_ALL=C
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 2
root=$(pwd)

run=1
case ${1:-} in
'') ;;
--build-only) run=0 ;;
*)
    echo "usage: bash tests/bench.sh [--build-only]" >&2
    exit 2
    ;;
esac
CC=${CC:-gcc}

files=()
if [ -d bench ]; then
    cd bench || exit 2
    shopt -s nullglob
    files=(*.c)
fi
# extras FILE TAG: the words of FILE's "// TAG:" lines, one a line
extras() { sed -n "s|^[[:space:]]*//[[:space:]]*$2:||p" "$1" | tr -s '[:blank:]' '\n' | sed '/^$/d'; }
# A .c file that a build-extra line names is a part of another program, not a program itself.
if [ ${#files[@]} -gt 0 ]; then
    parts=" $(for f in "${files[@]}"; do extras "$f" build-extra; done | tr '\n' ' ') "
    programs=()
    for f in "${files[@]}"; do
        case $parts in *" $f "* | *" ./$f "*) ;; *) programs+=("$f") ;; esac
    done
    files=(${programs[@]+"${programs[@]}"})
fi
if [ ${#files[@]} -eq 0 ]; then
    echo "There are no benchmarks yet: bench/ has no .c files, so there is nothing to run."
    exit 0
fi
if ! command -v "$CC" >/dev/null; then
    echo "bench.sh: compiler '$CC' not found (Debian: sudo apt-get install -y gcc)"
    exit 1
fi
out=../build/bench
mkdir -p "$out" || exit 2

# ---- the probes: what this machine has ----
probe=$out/probe
echo "int main(void) { return 0; }" >"$probe.c"
omp=(-fopenmp)
if ! { "$CC" "${omp[@]}" "$probe.c" -o "$probe" && "$probe"; } 2>/dev/null; then
    omp=()
    echo "bench: $CC -fopenmp does not work here: 1-thread figures only"
fi
read -ra blas_cflags <<<"$(pkg-config --cflags openblas 2>/dev/null)"
read -ra blas_libs <<<"$(pkg-config --libs openblas 2>/dev/null || echo -lopenblas)"
printf '%s\n' '#include <cblas.h>' \
    'int main(void) {' \
    '    float x = 2, y = 3, z = 0;' \
    '    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 1, 1, 1, 1.0f, &x, 1, &y, 1, 0.0f, &z, 1);' \
    '    return z != 6;' \
    '}' >"$probe.c"
if { "$CC" "${blas_cflags[@]}" "$probe.c" -o "$probe" "${blas_libs[@]}" && "$probe"; } 2>/dev/null; then
    blas=(-DMINIDL_BENCH_OPENBLAS "${blas_cflags[@]}")
    echo "bench: OpenBLAS found (${blas_libs[*]})"
else
    blas=() blas_libs=()
    echo "bench: OpenBLAS not found (apt-get install libopenblas-dev): its columns stay empty"
fi
rm -f "$probe" "$probe.c"

# build SOURCE EXE EXTRA...: print the command and run it
build() {
    local src=$1 exe=$2
    shift 2
    local cmd=("$CC" -std=c99 -O2 -Wall -Wextra -I.. "${omp[@]}" "${blas[@]}" "$src" "$@"
        -o "$exe" "${blas_libs[@]}" -lm)
    echo "${cmd[*]}"
    if ! "${cmd[@]}"; then
        echo "bench.sh: bench/$src does not compile (the messages are above); stopping here"
        exit 1
    fi
}

for f in "${files[@]}"; do
    prog=${f%.c}
    echo "== bench/$f"
    mapfile -t extra < <(extras "$f" build-extra)
    build "$f" "$out/$prog" "${extra[@]}"
    mapfile -t variants < <(sed -n 's|^[[:space:]]*//[[:space:]]*bench-variant:||p' "$f")
    vars=()
    for l in "${variants[@]}"; do
        read -r vname vflags <<<"$l"
        if ! [[ $vname =~ ^[A-Za-z0-9_]+$ ]]; then
            echo "bench.sh: bench/$f: '// bench-variant:$l': the name must be letters, digits and _"
            exit 1
        fi
        read -ra words <<<"$vflags"
        build "$f" "$out/$prog-$vname" "${extra[@]}" "${words[@]}"
        vars+=("MINIDL_BENCH_VARIANT_$(echo "$vname" | tr '[:lower:]' '[:upper:]')=$root/build/bench/$prog-$vname")
    done
    [ "$run" -eq 1 ] || continue
    [ ${#vars[@]} -eq 0 ] || printf 'environment: %s\n' "${vars[@]}"
    env "${vars[@]}" "$out/$prog"
    rc=$?
    if [ "$rc" -ne 0 ]; then
        echo "bench.sh: bench/$f failed: exit status $rc; stopping here"
        exit "$rc"
    fi
done
