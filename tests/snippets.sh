#!/usr/bin/env bash
# tests/snippets.sh - every code example in the documentation is compiled and run as a test.
#
#   bash tests/snippets.sh [test|sanitize|valgrind]   build and run the snippets alone
#                                                     (the same as: bash tests/run.sh MODE snippet)
#   bash tests/snippets.sh --extract DIR              write each snippet as a program into DIR and
#                                                     print "FILE<TAB>WHERE" for each; tests/run.sh
#                                                     uses this in every mode
#
# Each snippet is built with the strict flags of the mode (gcc -std=c99 -Wall -Wextra -Wpedantic
# -Werror -I. ..., sanitizers or valgrind as the mode says), run, and must exit 0. It counts as
# one test. Compiler messages point at the line in README.md or minidl.h, through #line.
#
# WHICH BLOCKS ARE SNIPPETS
#   README.md  every fenced block opened by exactly ```c . Use ```text or ```sh for anything
#              that is not meant to compile.
#   docs/*.md  the same: the concept pages of `make docs`.
#   minidl.h   every block between "@code" (or "@code{.c}", alone at the end of its line) and
#              "@endcode". Blocks marked with another language, e.g. @code{.sh}, are not
#              compiled. The comment's leading " *" (or "///") is stripped from each line.
#
# HOW A SNIPPET BECOMES A PROGRAM
#   A block that contains main( is a complete program and is compiled as it is; if it does not
#   define MINIDL_IMPLEMENTATION itself, "#define MINIDL_IMPLEMENTATION" and, when missing,
#   '#include "minidl.h"' are put in front of it.
#   Any other block is a fragment: statements (and declarations) that go inside main, in a
#   block of their own, with these already there:
#
#       #define MINIDL_IMPLEMENTATION
#       #include "minidl.h"
#       #include <math.h>, <stdio.h>, <stdlib.h>, <string.h>
#       int main(void) {
#           mdl_arena *ar = mdl_arena_new(0);   // the arena every example may take tensors from
#           mdl_rng rng;                        // a generator, seeded with 1
#           mdl_rng_seed(&rng, 1);
#           {
#               ...the fragment...
#           }
#           mdl_arena_free(ar);
#           return 0;
#       }
#
#   So a fragment may use `ar` and `rng`, declare its own variables (it may even shadow ar),
#   `return 1;` to fail, and must not define functions. It must compile without a warning
#   (an unused variable is an error) and free what it makes other than tensors from `ar`
#   (parameter sets, other arenas): the sanitize and valgrind modes check for leaks.

set -u
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 2

if [ "${1:-}" != "--extract" ]; then
    exec bash tests/run.sh "${1:-test}" snippet
fi
out=${2:?usage: snippets.sh --extract DIR}
mkdir -p "$out" || exit 2

# extract KIND SOURCE: KIND md (fenced ```c blocks) or h (@code blocks in comments)
extract() {
    [ -f "$2" ] || return 0
    awk -v kind="$1" -v src="$2" -v out="$out" -v tag="$3" '
    function emit(   i, f, allstar, allslash, hasmain, hasimpl, hasinc) {
        allstar = 1; allslash = 1
        for (i = 1; i <= n; i++) {
            if (buf[i] ~ /^[ \t]*$/) continue
            if (buf[i] !~ /^[ \t]*\*/) allstar = 0
            if (buf[i] !~ /^[ \t]*\/\/[\/!]/) allslash = 0
        }
        if (kind == "h") {
            for (i = 1; i <= n; i++) {
                if (allstar) sub(/^[ \t]*\*/, "", buf[i])
                else if (allslash) sub(/^[ \t]*\/\/[\/!]/, "", buf[i])
            }
        }
        hasmain = 0; hasimpl = 0; hasinc = 0
        for (i = 1; i <= n; i++) {
            if (buf[i] ~ /(^|[^A-Za-z0-9_])main[ \t]*\(/) hasmain = 1
            if (buf[i] ~ /define[ \t]+MINIDL_IMPLEMENTATION/) hasimpl = 1
            if (buf[i] ~ /#[ \t]*include[ \t]*["<]minidl\.h[">]/) hasinc = 1
        }
        count++
        f = sprintf("%s/%s_%03d.c", out, tag, count)
        printf "/* made by tests/snippets.sh from %s:%d */\n", src, start > f
        if (hasmain) {
            if (!hasimpl) {
                print "#define MINIDL_IMPLEMENTATION" > f
                if (!hasinc) print "#include \"minidl.h\"" > f
            }
            printf "#line %d \"%s\"\n", start, src > f
            for (i = 1; i <= n; i++) print buf[i] > f
        } else {
            print "#define MINIDL_IMPLEMENTATION" > f
            print "#include \"minidl.h\"" > f
            print "#include <math.h>" > f
            print "#include <stdio.h>" > f
            print "#include <stdlib.h>" > f
            print "#include <string.h>" > f
            print "int main(void) {" > f
            print "    mdl_arena *ar = mdl_arena_new(0);" > f
            print "    mdl_rng rng;" > f
            print "    mdl_rng_seed(&rng, 1);" > f
            print "    {" > f
            printf "#line %d \"%s\"\n", start, src > f
            for (i = 1; i <= n; i++) print buf[i] > f
            printf "#line %d \"%s\"\n", 15 + n, f > f
            print "    }" > f
            print "    mdl_arena_free(ar);" > f
            print "    return 0;" > f
            print "}" > f
        }
        close(f)
        printf "%s\t%s:%d\n", f, src, start
    }
    kind == "md" && !inside && /^```c[ \t]*$/ { inside = 1; n = 0; start = NR + 1; next }
    kind == "md" && inside && /^```[ \t]*$/ { inside = 0; emit(); next }
    kind == "h" && !inside && /[@\\]code(\{\.[cC]\})?[ \t]*$/ { inside = 1; n = 0; start = NR + 1; next }
    kind == "h" && inside && /[@\\]endcode/ {
        line = $0
        sub(/[@\\]endcode.*/, "", line)
        if (line !~ /^[ \t]*\*?[ \t]*$/) buf[++n] = line
        inside = 0; emit(); next
    }
    inside { buf[++n] = $0 }
    END { if (inside) printf "snippets.sh: %s:%d: block never closed\n", src, start > "/dev/stderr" }
    ' "$2"
}
extract md README.md readme
for page in docs/*.md; do
    [ -e "$page" ] || continue
    extract md "$page" "docs_$(basename "$page" .md)"
done
extract h minidl.h header
