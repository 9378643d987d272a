#!/usr/bin/env bash
# tests/tutorials.sh - build and run every tutorial in order, then print a table of what each
# one reached and how long it took. Stops at the first tutorial that does not compile or does
# not exit 0, and exits with its status.
#
#   bash tests/tutorials.sh [--quick]        (or: make tutorials)
#
#   --quick   passed on to every tutorial, which then runs a shorter version of itself (fewer
#             steps, a smaller slice of its data); for the tests
#
# The tutorials are tutorials/[0-9]*.c, run in the order their names sort (01_..., 02_...).
# Each is built with its one gcc command, printed before it runs:
#     $CC -std=c99 -O2 -Wall -Wextra -I.. FILE -o ../build/tutorials/NAME -lm
# and run from inside tutorials/, where it finds its data (tutorials/data/). Never -ffast-math.
#
# A tutorial ends with one line
#     result: <metric> = <value> (baseline <name> = <value>)
# e.g. "result: test accuracy = 0.912 (baseline majority class = 0.114)". When all have run,
# the table lists each tutorial, its result line (without "result:") and its wall time in
# seconds (the run only, not the build), then the total.
#
# Environment: CC the compiler (default gcc). Programs go to build/tutorials/.

set -u
export LC_ALL=C
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 2

args=()
case ${1:-} in
'') ;;
--quick) args=(--quick) ;;
*)
    echo "usage: bash tests/tutorials.sh [--quick]" >&2
    exit 2
    ;;
esac
if [ $# -gt 1 ]; then
    echo "usage: bash tests/tutorials.sh [--quick]" >&2
    exit 2
fi
CC=${CC:-gcc}

files=()
if [ -d tutorials ]; then
    cd tutorials || exit 2
    shopt -s nullglob
    files=([0-9]*.c)
fi
if [ ${#files[@]} -eq 0 ]; then
    echo "There are no tutorials yet: tutorials/ has no numbered .c files, so there is nothing to run."
    exit 0
fi
if ! command -v "$CC" >/dev/null; then
    echo "tutorials.sh: compiler '$CC' not found (Debian: sudo apt-get install -y gcc)"
    exit 1
fi
out=../build/tutorials
mkdir -p "$out" || exit 2

# now: the wall clock in seconds, with decimals where bash 5 or GNU date give them
now() {
    if [ -n "${EPOCHREALTIME:-}" ]; then
        echo "$EPOCHREALTIME"
    else
        date +%s.%N 2>/dev/null | sed 's/\.N$//' # GNU date knows %N; others print "N"
    fi
}
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; } # elapsed START END

# The programs' standard output goes to the terminal and to a log, from which the result line
# is read. stdbuf keeps the output line by line, so that progress shows as it happens.
linebuf=()
command -v stdbuf >/dev/null && linebuf=(stdbuf -oL)

names=() results=() times=()
start_all=$(now)
for f in "${files[@]}"; do
    name=${f%.c}
    exe=$out/$name
    cmd=("$CC" -std=c99 -O2 -Wall -Wextra -I.. "$f" -o "$exe" -lm)
    echo "== tutorials/$f"
    echo "${cmd[*]}"
    if ! "${cmd[@]}"; then
        echo "tutorials.sh: tutorials/$f does not compile (the messages are above); stopping here"
        exit 1
    fi
    t0=$(now)
    "${linebuf[@]}" "$exe" "${args[@]}" | tee "$exe.log"
    rc=${PIPESTATUS[0]}
    t1=$(now)
    if [ "$rc" -ne 0 ]; then
        if [ "$rc" -gt 128 ]; then
            why="killed by signal $((rc - 128)) (SIG$(kill -l $((rc - 128)) 2>/dev/null))"
        else
            why="exit status $rc"
        fi
        echo "tutorials.sh: tutorials/$f failed: $why; stopping here"
        exit "$rc"
    fi
    result=$(sed -n 's/^result:[[:space:]]*//p' "$exe.log" | tail -n 1)
    names+=("$name")
    results+=("${result:-(printed no result line)}")
    times+=("$(elapsed "$t0" "$t1")")
done
end_all=$(now)

# the table: the widths follow the longest name and result
wn=8 wr=6
for i in "${!names[@]}"; do
    [ ${#names[$i]} -le "$wn" ] || wn=${#names[$i]}
    [ ${#results[$i]} -le "$wr" ] || wr=${#results[$i]}
done
echo
printf '%-*s  %-*s  %8s\n' "$wn" tutorial "$wr" result seconds
for i in "${!names[@]}"; do
    printf '%-*s  %-*s  %8s\n' "$wn" "${names[$i]}" "$wr" "${results[$i]}" "${times[$i]}"
done
total=$(printf '%s\n' "${times[@]}" | awk '{ s += $1 } END { printf "%.1f", s }')
printf '%-*s  %-*s  %8s\n' "$wn" total "$wr" "" "$total"
echo "${#names[@]} tutorials ran in $total s ($(elapsed "$start_all" "$end_all") s with the builds)"
