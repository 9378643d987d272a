#!/usr/bin/env bash
# tests/run.sh - build and run every minidl test. The last line it prints is "N passed, M failed",
# and it exits non-zero when M > 0.
#
#   bash tests/run.sh [MODE] [FILTER]
#
#   MODE test      (default) every tests/test_*.c built with strict C99 flags at -O1 -g, the
#                  compile matrix (below), the snippets (tests/snippets.sh) and the tutorials in
#                  their quick mode (below)
#        sanitize  the test programs, snippets and tutorials built with AddressSanitizer and
#                  UBSan, leak checking on; no compile matrix
#        valgrind  the test programs, snippets and tutorials built as in `test`, run under
#                  valgrind's memcheck (leaks are errors, but for the system-library artifacts
#                  listed and explained in tests/valgrind.supp); no compile matrix
#        nosimd    the test programs, snippets and tutorials built as in `test` but with
#                  -DMINIDL_NO_SIMD, so that everything runs on the plain kernels alone; no
#                  compile matrix
#   FILTER         run only the jobs whose name contains it: `bash tests/run.sh test test_ops`,
#                  `... test matrix/`, `... sanitize snippet`, `... test tutorial`
#
# Every test program, matrix entry, snippet and tutorial is one job; JOBS of them run at a time.
#
# Counting. A test program prints "RESULT <passed> <failed>" (tests/test.h) and exits non-zero
# when <failed> > 0; both numbers go into the totals. A program that does not compile, crashes,
# runs past the time limit, prints no RESULT line, or exits non-zero although it reported no
# failure (a leak found at exit, say) adds one failure, and the reason is printed with the tail
# of its output. A compile-matrix entry or a snippet counts as one test: it passes when it
# compiles without a warning and exits 0, and so does a tutorial (below).
#
# Build extras. A test file may hold lines "// build-extra: <flags and files>"; their rest is
# appended to its compile command (paths relative to the repo root), e.g.
#     // build-extra: -DMINIDL_DEBUG
#     // build-extra: tests/gradcheck_float_tu.c
#
# The compile matrix (mode `test` only): tests/matrix/smoke.c, which includes the header with
# the implementation and uses a few functions, built and run as
#     (a) gcc -std=c99 -Wall -Wextra -Wpedantic -Werror     (b) the same under clang
#     (c) C++: g++ -x c++ -Wall -Wextra -Werror             (d) -DMINIDL_STATIC
#     (e) -DMINIDL_NO_SIMD   (f) -DMINIDL_DEBUG and -DMINIDL_NO_STALE_CHECK   (g) -DMINIDL_DOUBLE
#     (h) two translation units linked: tests/matrix/two_tu_a.c + two_tu_b.c
#     (i) -O2 -march=native  (j) -O0
#     (k) clang -Wdocumentation on (h): every Doxygen @param names a real parameter
# A compiler that is not installed is skipped with a note, except under CI (CI set), where it
# is a failure.
#
# The tutorials (every mode): each tutorials/[0-9]*.c is a job named tutorial/NN_name, e.g.
# tutorial/01_linear_regression, so that `bash tests/run.sh test tutorial` runs them alone; a
# new tutorial file is picked up as it is. It is built with its own command (gcc -O2 NN_name.c
# -o NN_name -lm) plus the tests' strict flags and the mode's flags (not -g, which makes the
# -O2 build of the header some 40% slower), and run from inside tutorials/, where it finds
# data/, as `NN_name --quick`: the short version of itself, which checks its own bounds and
# exits non-zero, with a message, when its result is outside them. It passes when it exits 0
# (and the sanitizers or valgrind report nothing). `make tutorials` (tests/tutorials.sh) runs
# the full versions.
#
# Environment: CC compiler for the test programs, snippets and tutorials (default gcc);
# EXTRA_CFLAGS added to those builds; JOBS programs at a time (default: the number of cores);
# TEST_TIMEOUT seconds per program (default 300, 900 under valgrind).
# Programs and logs of the latest run stay in build/MODE/last/ (build/test/last/test_ops, say). Never add -ffast-math: it makes isnan() always false.

set -u
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 2

# ---- the worker: `run.sh --job FILE` builds and runs one job, writes FILE.msg and FILE.res ----
if [ "${1:-}" = "--job" ]; then
    job=$2
    [ -f "$job" ] || exit 0 # the run was interrupted and its folder removed
    name='' kind='' bin='' why='' last='' dir='' needs=''
    cc=() run=() args=()
    # shellcheck disable=SC1090
    . "$job"
    out=$job.out err=$job.err
    # A program linked with the implementation object waits for that object's job, and fails
    # at once when the object did not compile (that job's own message says why).
    if [ -n "$needs" ]; then
        while [ ! -e "$needs.res" ]; do sleep 0.2; done
        if [ "$(cat "$needs.res")" != "1 0" ]; then
            printf '  FAIL  %s: not built: the implementation object did not compile\n' \
                "$name" >"$job.msg"
            echo "0 1" >"$job.tmp" && mv "$job.tmp" "$job.res"
            exit 0
        fi
    fi
    fail() { # fail PASSED REASON: write the message, the output tails, and one failure
        {
            printf '  FAIL  %s: %s\n' "$name" "$2"
            if [ -s "$err" ]; then tail -n 30 "$err" | sed 's/^/        | /'; fi
            if [ -s "$out" ]; then tail -n 10 "$out" | sed 's/^/        > /'; fi
        } >"$job.msg"
        echo "$1 ${3:-1}" >"$job.tmp" && mv "$job.tmp" "$job.res"
    }
    if [ "$kind" = skip ]; then
        printf '  skip  %s: %s\n' "$name" "$why" >"$job.msg"
        echo "0 0" >"$job.tmp" && mv "$job.tmp" "$job.res"
        exit 0
    fi
    if ! "${cc[@]}" >"$err" 2>&1; then
        # The first compiler messages are the ones that matter; the whole output stays in $err.
        {
            printf '  FAIL  %s: does not compile:\n        %s\n' "$name" "$(printf '%q ' "${cc[@]}")"
            head -n 25 "$err" | sed 's/^/        | /'
            n=$(wc -l <"$err")
            [ "$n" -le 25 ] || printf '        | ... %d more lines in %s\n' $((n - 25)) "$last.err"
        } >"$job.msg"
        echo "0 1" >"$job.tmp" && mv "$job.tmp" "$job.res"
        exit 0
    fi
    if [ "$kind" = object ]; then
        printf '  ok    %s\n' "$name" >"$job.msg"
        echo "1 0" >"$job.tmp" && mv "$job.tmp" "$job.res"
        exit 0
    fi
    # Run it in $dir (a tutorial: tutorials/; otherwise here, the repository's top) with its
    # arguments. (The outer 2>/dev/null keeps bash's own "Segmentation fault" notice off the
    # terminal.)
    top=$PWD
    { (cd "${dir:-.}" && exec timeout --foreground -k 10 "$limit" "${run[@]}" "$top/$bin" \
        "${args[@]}") >"$out" 2>"$err" </dev/null; } 2>/dev/null
    rc=$?
    why=''
    if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
        why="ran past the time limit of ${limit}s (TEST_TIMEOUT)"
    elif [ $rc -gt 128 ]; then
        why="crashed: killed by signal $((rc - 128)) (SIG$(kill -l $((rc - 128)) 2>/dev/null))"
    elif grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$err"; then
        why="the sanitizer reported an error (exit $rc)"
    elif [ ${#run[@]} -gt 0 ] && grep -qE '^==[0-9]+== ' "$err"; then
        why="valgrind reported errors (exit $rc)"
    elif [ $rc -ne 0 ]; then
        why="exit status $rc"
    fi
    if [ "$kind" = exit0 ]; then
        if [ -n "$why" ]; then fail 0 "$why"; else
            printf '  ok    %s\n' "$name" >"$job.msg"
            echo "1 0" >"$job.tmp" && mv "$job.tmp" "$job.res"
        fi
        exit 0
    fi
    # kind result: the last RESULT line on stdout holds the counts
    line=$(grep -E '^RESULT [0-9]+ [0-9]+[[:space:]]*$' "$out" | tail -n 1)
    if [ -z "$line" ]; then
        fail 0 "${why:+$why; }printed no RESULT line"
        exit 0
    fi
    read -r _ passed failed _ <<<"$line"
    if [ "$failed" -gt 0 ]; then
        fail "$passed" "$failed of $((passed + failed)) checks failed${why:+ ($why)}" "$failed"
    elif [ -n "$why" ]; then
        fail "$passed" "all $passed checks passed, but $why"
    else
        printf '  ok    %-28s %6d checks\n' "$name" "$passed" >"$job.msg"
        echo "$passed 0" >"$job.tmp" && mv "$job.tmp" "$job.res"
    fi
    exit 0
fi

# ---- the driver ----
mode=${1:-test}
filter=${2:-}
CC=${CC:-gcc}
strict=(-std=c99 -Wall -Wextra -Wpedantic -Werror)
runner=()
limit=${TEST_TIMEOUT:-300}
case $mode in
test) modeflags=() ;;
nosimd) modeflags=(-DMINIDL_NO_SIMD) ;;
sanitize)
    modeflags=(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all)
    export ASAN_OPTIONS=detect_leaks=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}
    export UBSAN_OPTIONS=print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}
    ;;
valgrind)
    modeflags=()
    # (the suppressions by their full path: a tutorial runs in tutorials/)
    runner=(valgrind --error-exitcode=1 --leak-check=full --show-leak-kinds=definite,indirect,possible
        --errors-for-leak-kinds=definite,indirect,possible
        --suppressions="$PWD/tests/valgrind.supp" -q)
    limit=${TEST_TIMEOUT:-900}
    if ! command -v valgrind >/dev/null; then
        echo "run.sh: valgrind is not installed (Debian: sudo apt-get install -y valgrind)"
        echo "0 passed, 1 failed"
        exit 1
    fi
    ;;
*)
    echo "usage: bash tests/run.sh [test|sanitize|valgrind|nosimd] [FILTER]" >&2
    exit 2
    ;;
esac
if ! command -v "$CC" >/dev/null; then
    echo "run.sh: compiler '$CC' not found (Debian: sudo apt-get install -y gcc)"
    echo "0 passed, 1 failed"
    exit 1
fi
read -ra extra_cflags <<<"${EXTRA_CFLAGS:-}"
# Each run builds in a private folder, so that runs started at the same time in one checkout
# do not trip over each other; at the end it becomes build/MODE/last.
mkdir -p "build/$mode" || exit 2
B=$(mktemp -d "build/$mode/run.XXXXXX") || exit 2
LAST=build/$mode/last
mkdir -p "$B/jobs" "$B/snippets" || exit 2
trap 'rm -rf "$B"; exit 130' INT TERM
njobs=0

# add_job NAME KIND BIN -- CC-COMMAND... : write a job file for the worker. The program runs
# in job_dir (empty: the repository's top) with the arguments job_args (none if unset).
job_dir=''
job_args=()
job_needs=''
add_job() {
    local name=$1 kind=$2 bin=$3
    shift 4
    case $name in *"$filter"*) ;; *) return 0 ;; esac
    njobs=$((njobs + 1))
    {
        printf 'name=%q kind=%q bin=%q limit=%q last=%q\n' "$name" "$kind" "$bin" "$limit" \
            "$(printf '%s/jobs/%03d.job' "$LAST" "$njobs")"
        printf 'cc=('; for a in "$@"; do printf '%q ' "$a"; done; printf ')\n'
        printf 'run=('; for a in "${runner[@]}"; do printf '%q ' "$a"; done; printf ')\n'
        printf 'dir=%q needs=%q\n' "$job_dir" "$job_needs"
        printf 'args=('; for a in "${job_args[@]}"; do printf '%q ' "$a"; done; printf ')\n'
    } >"$(printf '%s/jobs/%03d.job' "$B" "$njobs")"
}
add_skip() { # add_skip NAME WHY
    case $1 in *"$filter"*) ;; *) return 0 ;; esac
    njobs=$((njobs + 1))
    printf 'name=%q kind=skip why=%q\n' "$1" "$2" >"$(printf '%s/jobs/%03d.job' "$B" "$njobs")"
}

# 0. The implementation, compiled once. Compiling the whole header costs seconds of CPU (tens
#    of seconds with the sanitizers) and every program would pay it, so a test program or a
#    snippet that uses the header as it is (tests/linking.sh says when) is built from a copy of
#    its source without its "#define MINIDL_IMPLEMENTATION" line, linked with that object
#    (build/MODE/last/minidl_impl.o). Any other program includes the implementation itself.
#    The tutorials are compiled as they are in mode test (their one-command build is part of
#    what is tested); in the other modes they are linked with an -O2 object of their own.
mkdir -p "$B/src" || exit 2
. tests/linking.sh # linkable FILE, unlinked_copy SRC DST, IMPL_PATTERN
object_job() { # object_job NAME OBJECT FLAGS...: prints the job file the programs wait for
    local name=$1 obj=$2 file
    shift 2
    file=$B/jobs/000-$(basename "$obj" .o).job
    if [ ! -e "$file" ]; then
        printf '#define MINIDL_IMPLEMENTATION\n#include "minidl.h"\n' >"${obj%.o}.c"
        {
            printf 'name=%q kind=object bin=%q limit=%q last=%q\n' "$name" "$obj" "$limit" \
                "$LAST/jobs/$(basename "$file")"
            printf 'cc=('; for a in "$CC" "$@" -I. -c "${obj%.o}.c" -o "$obj"; do printf '%q ' "$a"; done; printf ')\n'
            printf 'run=() dir= needs= args=()\n'
        } >"$file"
    fi
    printf '%s' "$file"
}

# 1. the test programs
ntests=0
for src in tests/test_*.c; do
    [ -e "$src" ] || continue
    base=$(basename "$src" .c)
    extra=()
    while IFS= read -r l; do
        read -ra words <<<"$l"
        extra+=("${words[@]}")
    done < <(sed -n 's|^[[:space:]]*//[[:space:]]*build-extra:||p' "$src")
    if linkable "$src"; then
        case $base in *"$filter"*)
            job_needs=$(object_job build/minidl_impl.o "$B/minidl_impl.o" "${strict[@]}" -O1 -g \
                "${modeflags[@]}" "${extra_cflags[@]}")
            unlinked_copy "$src" "$B/src/$base.c" ;;
        esac
        add_job "$base" result "$B/$base" -- "$CC" "${strict[@]}" -O1 -g "${modeflags[@]}" \
            "${extra_cflags[@]}" -I. -Itests "$B/src/$base.c" "$B/minidl_impl.o" -o "$B/$base" -lm
        job_needs=''
    else
        add_job "$base" result "$B/$base" -- "$CC" "${strict[@]}" -O1 -g "${modeflags[@]}" \
            "${extra_cflags[@]}" -I. "$src" "${extra[@]}" -o "$B/$base" -lm
    fi
    ntests=$((ntests + 1))
done

# 2. the compile matrix
nmatrix=0
matrix() { # matrix NAME COMPILER ARGS... (sources included; -o and -lm are added)
    local name=matrix/$1 compiler=$2 bin=$B/m_$1
    shift 2
    nmatrix=$((nmatrix + 1))
    if ! command -v "$compiler" >/dev/null; then
        if [ -n "${CI:-}" ]; then
            add_job "$name" exit0 "$bin" -- "$compiler" "$@" -o "$bin" -lm
        else
            add_skip "$name" "$compiler is not installed (Debian: sudo apt-get install -y $compiler)"
        fi
        return
    fi
    add_job "$name" exit0 "$bin" -- "$compiler" "$@" -o "$bin" -lm
}
if [ "$mode" = test ]; then
    smoke=(-I. tests/matrix/smoke.c)
    matrix gcc-c99 gcc "${strict[@]}" -O2 "${smoke[@]}"
    matrix clang-c99 clang "${strict[@]}" -O2 "${smoke[@]}"
    matrix gxx-cxx g++ -Wall -Wextra -Werror -O2 -I. -x c++ tests/matrix/smoke.c -x none
    matrix static gcc "${strict[@]}" -O2 -DMINIDL_STATIC "${smoke[@]}"
    matrix no-simd gcc "${strict[@]}" -O2 -DMINIDL_NO_SIMD "${smoke[@]}"
    matrix debug gcc "${strict[@]}" -O2 -DMINIDL_DEBUG "${smoke[@]}"
    matrix no-stale-check gcc "${strict[@]}" -O2 -DMINIDL_NO_STALE_CHECK "${smoke[@]}"
    matrix double gcc "${strict[@]}" -O2 -DMINIDL_DOUBLE "${smoke[@]}"
    matrix two-tu gcc "${strict[@]}" -O2 -I. tests/matrix/two_tu_a.c tests/matrix/two_tu_b.c
    matrix O2-native gcc "${strict[@]}" -O2 -march=native "${smoke[@]}"
    matrix O0 gcc "${strict[@]}" -O0 "${smoke[@]}"
    matrix clang-doc clang "${strict[@]}" -Wdocumentation -O2 -I. tests/matrix/two_tu_a.c \
        tests/matrix/two_tu_b.c
fi

# 3. the snippets: the C blocks of README.md and docs/*.md and minidl.h's @code blocks, at -O0:
#    they are small programs, and the whole header at -O1 costs about three times the CPU to
#    compile (20 s a program with the sanitizers), which every snippet pays
nsnip=0
while IFS="$(printf '\t')" read -r file where; do
    [ -n "$file" ] || continue
    bin=$B/snippets/$(basename "$file" .c)
    objs=()
    case snippet/$where in *"$filter"*)
        if linkable "$file"; then
            job_needs=$(object_job build/minidl_impl.o "$B/minidl_impl.o" "${strict[@]}" -O1 -g \
                "${modeflags[@]}" "${extra_cflags[@]}")
            sed -i -E "s|$IMPL_PATTERN|/* the implementation is linked from its object */|" "$file"
            objs=("$B/minidl_impl.o")
        fi ;;
    esac
    add_job "snippet/$where" exit0 "$bin" -- "$CC" "${strict[@]}" -O0 -g "${modeflags[@]}" \
        "${extra_cflags[@]}" -I. "$file" "${objs[@]}" -o "$bin" -lm
    job_needs=''
    nsnip=$((nsnip + 1))
done < <(bash tests/snippets.sh --extract "$B/snippets")

# 4. the tutorials, in their quick mode, run from inside tutorials/
ntut=0
job_dir=tutorials
job_args=(--quick)
for src in tutorials/[0-9]*.c; do
    [ -e "$src" ] || continue
    base=$(basename "$src" .c)
    if [ "$mode" != test ] && linkable "$src"; then
        case tutorial/$base in *"$filter"*)
            job_needs=$(object_job build/minidl_impl_O2.o "$B/minidl_impl_O2.o" "${strict[@]}" \
                -O2 "${modeflags[@]}" "${extra_cflags[@]}")
            unlinked_copy "$src" "$B/src/tutorial_$base.c" ;;
        esac
        add_job "tutorial/$base" exit0 "$B/tutorial_$base" -- "$CC" "${strict[@]}" -O2 \
            "${modeflags[@]}" "${extra_cflags[@]}" -Itutorials "$B/src/tutorial_$base.c" \
            "$B/minidl_impl_O2.o" -o "$B/tutorial_$base" -lm
        job_needs=''
    else
        add_job "tutorial/$base" exit0 "$B/tutorial_$base" -- "$CC" "${strict[@]}" -O2 \
            "${modeflags[@]}" "${extra_cflags[@]}" "$src" -o "$B/tutorial_$base" -lm
    fi
    ntut=$((ntut + 1))
done
job_dir=''
job_args=()

JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}
echo "run.sh: mode $mode, $CC, $JOBS at a time: $ntests test programs, $nmatrix matrix builds," \
    "$nsnip snippets, $ntut tutorials${filter:+ (only names containing '$filter')}"
if [ $njobs -eq 0 ]; then
    [ -n "$filter" ] && echo "run.sh: note: no job name contains '$filter'"
    echo "0 passed, 0 failed"
    exit 0
fi

# Run the jobs in the background, print their results in order as they arrive.
# xargs and its workers get a process group of their own (setsid), so that an interrupted run
# can stop all of them, and the programs they run, with one kill.
setsid=()
command -v setsid >/dev/null && setsid=(setsid)
printf '%s\n' "$B"/jobs/*.job | "${setsid[@]}" xargs -P "$JOBS" -n 1 bash "$0" --job &
xargs_pid=$!
trap 'kill -TERM -- -"$xargs_pid" "$xargs_pid" 2>/dev/null; sleep 0.5; rm -rf "$B"; exit 130' INT TERM
total_passed=0 total_failed=0
for job in "$B"/jobs/*.job; do
    while [ ! -e "$job.res" ] && kill -0 "$xargs_pid" 2>/dev/null; do sleep 0.2; done
    if [ -e "$job.res" ]; then
        cat "$job.msg"
        read -r p f <"$job.res"
    else
        printf '  FAIL  %s: the test runner itself died\n' "$(sed -n 's/^name=\([^ ]*\).*/\1/p' "$job")"
        p=0 f=1
    fi
    total_passed=$((total_passed + p))
    total_failed=$((total_failed + f))
done
wait "$xargs_pid"
rm -rf "$LAST"
mv -T "$B" "$LAST" 2>/dev/null || rm -rf "$B"
echo "$total_passed passed, $total_failed failed"
[ "$total_failed" -eq 0 ]
