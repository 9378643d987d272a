# minidl - build, test and document. Every target is a thin wrapper around a shell command
# that works on its own as well; build/ holds everything that is built.
#
#   make test        tests, compile matrix and documentation snippets   (bash tests/run.sh test)
#   make sanitize    the same under AddressSanitizer + UBSan, leaks included
#   make valgrind    the same under valgrind's memcheck
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

.PHONY: all test sanitize valgrind tutorials bench docs clean

all: test

test:
	bash tests/run.sh test

sanitize:
	bash tests/run.sh sanitize

valgrind:
	bash tests/run.sh valgrind

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

bench:
	@bash -c 'set -e; export LC_ALL=C; cd bench 2>/dev/null || { echo "no benchmarks yet: they arrive with the kernels issue"; exit 0; }; \
	shopt -s nullglob; files=(*.c); \
	if [ $${#files[@]} -eq 0 ]; then echo "no benchmarks yet: they arrive with the kernels issue"; exit 0; fi; \
	mkdir -p ../build/bench; \
	for f in "$${files[@]}"; do \
		exe=../build/bench/$${f%.c}; \
		echo "== bench/$$f"; \
		$(CC) $(PROG_CFLAGS) "$$f" -o "$$exe" -lm; \
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
