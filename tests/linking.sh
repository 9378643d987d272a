# tests/linking.sh - sourced by tests/run.sh and tests/cross_arm.sh: which programs may be
# linked with an implementation object compiled once, and the copy of a source they compile.
#
# A program may be linked when it uses the header as it is: exactly one
# "#define MINIDL_IMPLEMENTATION" line, no "// build-extra:" line, no configuration macro
# MINIDL_... defined before the include, no mdl__ internals (which only the implementation's
# own translation unit sees). Its copy has that one line blanked out, and a #line directive in
# front keeps the compiler's messages and __FILE__ on the real source.

IMPL_PATTERN='^[[:space:]]*#[[:space:]]*define[[:space:]]+MINIDL_IMPLEMENTATION[[:space:]]*$'

linkable() { # linkable FILE: may FILE be linked with the implementation object?
    [ "$(grep -cE "$IMPL_PATTERN" "$1")" = 1 ] &&
        ! grep -qiE '^[[:space:]]*//[[:space:]]*build-extra:|mdl__|#[[:space:]]*define[[:space:]]+MINIDL_[A-HJ-Z]' "$1"
}

unlinked_copy() { # unlinked_copy SRC DST: DST is SRC without its implementation
    { printf '#line 1 "%s"\n' "$1"
      sed -E "s|$IMPL_PATTERN|/* the implementation is linked from its object */|" "$1"
    } >"$2"
}
