/* tests/fuzz/fuzz_csv.c - libFuzzer harness for the CSV loader, from memory (mdl_load_csv_mem).

   The first byte of an input picks the options (bit 0 no_header, 1 drop_missing, 2 classes,
   3 a target, 4 chosen columns, 5 ';' as the delimiter); the rest is the file, plain or gzip.
   A load must either succeed with tensors that keep the promises (N rows, finite values, class
   indices in range) or fail with a message that names the file; anything else (a crash, a
   sanitizer report, a leak, an abort from a contract error) is a finding.

   clang -g -O1 -fsanitize=fuzzer,address,undefined -I. tests/fuzz/fuzz_csv.c -o fuzz_csv -lm
   (make fuzz builds and runs it: tests/fuzz/run.sh) */
#define MINIDL_IMPLEMENTATION
#include "minidl.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mdl_params *ps;
    mdl_csv_opts o;
    mdl_csv c;
    unsigned mode;
    if (size < 1) return 0;
    mode = data[0];
    memset(&o, 0, sizeof o);
    o.no_header = mode & 1;
    o.drop_missing = mode >> 1 & 1;
    o.classes = mode >> 2 & 1;
    if (mode & 8) o.target = o.no_header ? "0" : "species";
    if (mode & 16) o.columns = o.no_header ? "1,2" : "bill_length_mm, body_mass_g";
    if (mode & 32) o.delimiter = ';';
    o.max_bytes = (size_t)1 << 20;
    mdl_clear_error();
    ps = mdl_params_new();
    if (mdl_load_csv_mem(ps, "f", data + 1, size - 1, "fuzz.csv", &o, &c) == MDL_OK) {
        size_t i, n = (size_t)c.rows;
        if (c.rows <= 0 || (!c.x && !c.y)) abort();
        if (c.x && (c.x->ndim != 2 || c.x->shape[0] != c.rows)) abort();
        for (i = 0; c.x && i < c.x->numel; i++)
            if (!isfinite(c.x->data[i])) abort();
        if (c.classes) {
            for (i = 0; i < n; i++) { /* a whole index of a class, whose name maps back */
                mdl_scalar y = c.y->data[i];
                int k = (int)y;
                if (y != (mdl_scalar)k || k < 0 || k >= mdl_vocab_size(c.classes)) abort();
                if (mdl_vocab_index(c.classes, mdl_vocab_token(c.classes, k)) != k) abort();
            }
        } else if (c.y) {
            for (i = 0; i < n; i++)
                if (!isfinite(c.y->data[i])) abort();
        }
        if (mdl_params_count(ps) != (c.x != NULL) + (c.y != NULL)) abort();
        mdl_vocab_free(c.classes);
    } else {
        if (!strstr(mdl_last_error(), "fuzz.csv") || mdl_params_count(ps) != 0) abort();
        if (c.x || c.y || c.classes) abort();
    }
    mdl_params_free(ps);
    return 0;
}
