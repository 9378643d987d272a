#!/usr/bin/env bash
# docs/build.sh - build the HTML documentation into docs/html (what `make docs` runs).
#
#   bash docs/build.sh
#
# Needs doxygen, graphviz (dot), libjs-mathjax and a C compiler; on Debian or Ubuntu:
#     sudo apt-get install -y --no-install-recommends doxygen graphviz libjs-mathjax
#
# Steps:
#   1. build and run docs/autograd_graph.c, which writes build/docs/autograd_graph.dot with
#      mdl_graph_dot, and draw it with Graphviz's dot: the graph the autograd page shows;
#   2. write build/docs/tutorials.dox, one @example per tutorials/[0-9]*.c, so that every
#      tutorial, present or future, becomes an example page with its own one-line summary;
#   3. run doxygen on docs/Doxyfile: README.md is the main page, docs/*.md the concept pages,
#      minidl.h the reference. WARN_AS_ERROR = FAIL_ON_WARNINGS: any warning (an undocumented
#      public declaration, a broken @ref, a bad @param) fails the build, after listing them all;
#   4. copy the part of Debian's MathJax 2 that the pages use (TeX input, SVG output with its
#      TeX font, about 2 MB) into docs/html/mathjax, so formulas render with no network.
#
# Environment: CC the compiler (default gcc).

set -euo pipefail
export LC_ALL=C
cd "$(dirname "${BASH_SOURCE[0]}")/.."

CC=${CC:-gcc}
MATHJAX=/usr/share/javascript/mathjax
out=build/docs
start=$(date +%s%N)

missing=()
command -v doxygen >/dev/null 2>&1 || missing+=(doxygen)
command -v dot >/dev/null 2>&1 || missing+=(graphviz)
[ -f "$MATHJAX/MathJax.js" ] || missing+=(libjs-mathjax)
if [ ${#missing[@]} -gt 0 ]; then
    echo "make docs needs ${missing[*]}, not installed. On Debian or Ubuntu:" >&2
    echo "    sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
fi
mkdir -p "$out"

# 1. the autograd page's graph; -O0 and the plain kernels, which compile in a third of the time
#    of -O2 and are fast enough for a graph of eight ops; rebuilt only when a source changed
prog=$out/autograd_graph
if [ ! -x "$prog" ] || [ minidl.h -nt "$prog" ] || [ docs/autograd_graph.c -nt "$prog" ]; then
    echo "$CC -std=c99 -O0 -DMINIDL_NO_SIMD -I. docs/autograd_graph.c -o $prog -lm"
    "$CC" -std=c99 -O0 -DMINIDL_NO_SIMD -Wall -Wextra -I. docs/autograd_graph.c -o "$prog" -lm
fi
"$prog" "$out/autograd_graph.dot"
dot -Tsvg "$out/autograd_graph.dot" -o "$out/autograd_graph.svg"

# 2. the tutorials as example pages: "01_linear_regression.c - fit a straight line ..." on the
#    first line of each gives the example's summary
{
    echo "/* made by docs/build.sh from tutorials/[0-9]*.c: one example page per tutorial */"
    for f in tutorials/[0-9]*.c; do
        [ -e "$f" ] || continue
        name=$(basename "$f")
        summary=$(sed -n '1s/^\/\*[[:space:]]*[^[:space:]]*[[:space:]]*-[[:space:]]*//p' "$f" |
            sed 's/[\\@<>&#%$]/\\&/g') # as text: doxygen's special characters escaped
        printf '/** @example %s\n *  %s\n */\n' "$name" "${summary:-the tutorial $name}"
    done
} >"$out/tutorials.dox"

# 3. doxygen, from docs/ (the Doxyfile's paths are relative to it)
rm -rf docs/html
(cd docs && doxygen Doxyfile)

# 4. MathJax, offline: the script, the TeX input and the SVG output with its TeX font only
mj=docs/html/mathjax
mkdir -p "$mj/jax/input" "$mj/jax/output/SVG/fonts" "$mj/localization"
cp "$MATHJAX/MathJax.js" "$mj/"
cp -r "$MATHJAX/extensions" "$mj/"
cp -r "$MATHJAX/jax/element" "$mj/jax/"
cp -r "$MATHJAX/jax/input/TeX" "$mj/jax/input/"
cp "$MATHJAX"/jax/output/SVG/*.js "$mj/jax/output/SVG/"
cp -r "$MATHJAX/jax/output/SVG/autoload" "$mj/jax/output/SVG/"
cp -r "$MATHJAX/jax/output/SVG/fonts/TeX" "$mj/jax/output/SVG/fonts/"
cp -r "$MATHJAX/localization/en" "$mj/localization/"
# README.md's link to ./LICENSE, from the main page
cp LICENSE docs/html/LICENSE

ms=$((($(date +%s%N) - start) / 1000000))
printf 'docs: docs/html built in %d.%01d s, 0 doxygen warnings; open docs/html/index.html\n' \
    $((ms / 1000)) $((ms % 1000 / 100))
