# minidl - build, test and document. Every target is a thin wrapper around a shell command
# that works on its own as well; build/ holds everything that is built.
#
#   make test        tests, compile matrix, documentation snippets and the tutorials' quick
#                    mode (bash tests/run.sh test)
#   make sanitize    the same under AddressSanitizer + UBSan, leaks included
#   make valgrind    the same under valgrind's memcheck
#   make test-nosimd the tests and snippets built with -DMINIDL_NO_SIMD: the plain kernels alone
#   make test-arm    the tests built for AArch64 and run under qemu (the NEON kernel)
#   make test-torch  minidl's results recomputed with PyTorch and compared, case by case
#                    (bash tests/torch/run.sh; needs python3-torch, skips with a note without it)
#   make tutorials   build and run tutorials/[0-9]*.c in order, from inside tutorials/
#                    (bash tests/tutorials.sh [--quick])
#   make bench       build and run bench/*.c, from inside bench/   (bash tests/bench.sh)
#   make fuzz        the libFuzzer harnesses of the loaders (tests/fuzz), each run FUZZ_SECONDS
#                    (default 60) on a copy of its seed corpus; fails on a crash or a leak
#                    (bash tests/fuzz/run.sh; needs clang and libclang-rt-14-dev)
#   make docs        the HTML documentation in docs/html: README.md as the main page, the
#                    concept pages docs/*.md, the reference from minidl.h, the tutorials as
#                    examples; fails on any doxygen warning (bash docs/build.sh; needs doxygen,
#                    graphviz and libjs-mathjax)
#   make clean       remove build/ and docs/html
#
# CC picks the compiler (default gcc): `make test CC=clang`.

ifeq ($(origin CC),default)
CC = gcc
endif
export CC

.PHONY: all test test-nosimd sanitize valgrind test-arm test-torch tutorials bench fuzz docs clean

all: test

test:
	bash tests/run.sh test

sanitize:
	bash tests/run.sh sanitize

valgrind:
	bash tests/run.sh valgrind

# every test and snippet built with -DMINIDL_NO_SIMD: the plain kernels alone
test-nosimd:
	bash tests/run.sh nosimd

# every test cross-built for AArch64 and run under qemu: checks the NEON kernel on x86
test-arm:
	bash tests/cross_arm.sh

# PyTorch is the reference: each case (an op, and later a layer, a loss, an optimizer step, a
# saved file) is computed by minidl and by Debian's python3-torch and compared within a stated
# tolerance (tests/torch/README.md). Not part of `make test`, which never needs Python.
test-torch:
	bash tests/torch/run.sh

tutorials:
	@bash tests/tutorials.sh

# Benchmarks add -fopenmp (for the 2-thread figures) and OpenBLAS (-DMINIDL_BENCH_OPENBLAS, to
# compare with cblas_sgemm) when this machine has them: tests/bench.sh says how. Not part of
# `make test`.
bench:
	@bash tests/bench.sh

# libFuzzer (clang -fsanitize=fuzzer,address,undefined) on the CSV loader, the IDX loader with
# gzip, and inflate alone (against zlib's when zlib.h is there). Not part of `make test`.
fuzz:
	bash tests/fuzz/run.sh

# Formulas render offline (MathJax copied from Debian's libjs-mathjax into docs/html); the
# autograd page's graph is drawn from mdl_graph_dot's output by a small program built here.
docs:
	@bash docs/build.sh

clean:
	rm -rf build docs/html docs/latex
