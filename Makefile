# minidl - build, test and document. Every target is a thin wrapper around a shell command
# that works on its own as well; build/ holds everything that is built.
#
#   make test        tests, compile matrix and documentation snippets   (bash tests/run.sh test)
#   make sanitize    the same under AddressSanitizer + UBSan, leaks included
#   make valgrind    the same under valgrind's memcheck
#   make test-arm    the tests built for AArch64 and run under qemu (the NEON kernel)
#   make tutorials   build and run tutorials/[0-9]*.c in order, from inside tutorials/
#   make bench       build and run bench/*.c, from inside bench/
#   make docs        HTML reference in docs/html (needs doxygen)
#   make clean       remove build/ and docs/html
#
# CC picks the compiler (default gcc): `make test CC=clang`.

ifeq ($(origin CC),default)
CC = gcc
endif
export CC

# Tutorials and benchmarks: one gcc command each, as their top comments say. Never -ffast-math.
PROG_CFLAGS = -std=c99 -O2 -Wall -Wextra -I..

.PHONY: all test sanitize valgrind test-arm tutorials bench docs clean

all: test

test:
	bash tests/run.sh test

sanitize:
	bash tests/run.sh sanitize

valgrind:
	bash tests/run.sh valgrind

# every test cross-built for AArch64 and run under qemu: checks the NEON kernel on x86
test-arm:
	bash tests/cross_arm.sh

tutorials:
	@bash -c 'set -e; export LC_ALL=C; cd tutorials 2>/dev/null || { echo "no tutorials yet: they arrive with the tutorials issue"; exit 0; }; \
	shopt -s nullglob; files=([0-9]*.c); \
	if [ $${#files[@]} -eq 0 ]; then echo "no tutorials yet: they arrive with the tutorials issue"; exit 0; fi; \
	mkdir -p ../build/tutorials; \
	for f in "$${files[@]}"; do \
		exe=../build/tutorials/$${f%.c}; \
		echo "== tutorials/$$f"; \
		$(CC) $(PROG_CFLAGS) "$$f" -o "$$exe" -lm; \
		"$$exe" || { echo "$$f failed: exit status $$?"; exit 1; }; \
	done'

# Benchmarks add -fopenmp (for the 2-thread figures) and OpenBLAS (-DMINIDL_BENCH_OPENBLAS, to
# compare with cblas_sgemm) when this machine has them: a tiny probe program tries each. Still
# -O2 without -march=native, as students build: minidl picks its SIMD kernel at run time.
# Not part of `make test`.
bench:
	@bash -c 'set -e; export LC_ALL=C; cd bench 2>/dev/null || { echo "no benchmarks yet: they arrive with the kernels issue"; exit 0; }; \
	shopt -s nullglob; files=(*.c); \
	if [ $${#files[@]} -eq 0 ]; then echo "no benchmarks yet: they arrive with the kernels issue"; exit 0; fi; \
	mkdir -p ../build/bench; probe=../build/bench/probe; \
	echo "int main(void) { return 0; }" > $$probe.c; \
	omp=-fopenmp; $(CC) $$omp $$probe.c -o $$probe 2>/dev/null && $$probe || { omp=; echo "bench: $(CC) -fopenmp does not work here: 1-thread figures only"; }; \
	blas_cflags=$$(pkg-config --cflags openblas 2>/dev/null || true); \
	blas_libs=$$(pkg-config --libs openblas 2>/dev/null || echo -lopenblas); \
	printf "#include <cblas.h>\nint main(void) { float x = 2, y = 3, z = 0; cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 1, 1, 1, 1.0f, &x, 1, &y, 1, 0.0f, &z, 1); return z != 6; }\n" > $$probe.c; \
	if $(CC) $$blas_cflags $$probe.c -o $$probe $$blas_libs 2>/dev/null && $$probe; then \
		blas="-DMINIDL_BENCH_OPENBLAS $$blas_cflags"; echo "bench: OpenBLAS found ($$blas_libs)"; \
	else \
		blas=; blas_libs=; echo "bench: OpenBLAS not found (apt-get install libopenblas-dev): its columns stay empty"; \
	fi; \
	rm -f $$probe $$probe.c; \
	for f in "$${files[@]}"; do \
		exe=../build/bench/$${f%.c}; \
		echo "== bench/$$f"; \
		echo "$(CC) $(PROG_CFLAGS) $$omp $$blas $$f -o $$exe $$blas_libs -lm"; \
		$(CC) $(PROG_CFLAGS) $$omp $$blas "$$f" -o "$$exe" $$blas_libs -lm; \
		"$$exe" || { echo "$$f failed: exit status $$?"; exit 1; }; \
	done'

docs:
	@if ! command -v doxygen >/dev/null 2>&1; then \
		echo "make docs needs doxygen, which is not installed."; \
		echo "On Debian or Ubuntu: sudo apt-get install -y doxygen"; \
		exit 1; \
	fi
	cd docs && doxygen Doxyfile
	@echo "docs: open docs/html/index.html"

clean:
	rm -rf build docs/html docs/latex
