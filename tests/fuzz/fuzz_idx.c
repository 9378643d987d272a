/* tests/fuzz/fuzz_idx.c - libFuzzer harness for the IDX loader from memory (mdl_load_idx_mem),
   and through it the gzip reader (an input that starts 1f 8b is decompressed first).

   The first byte of an input picks the options (bit 0 scale, bit 1 channel); the rest is the
   file. Decompressed output is limited to 1 MiB, so that a small input cannot make the
   harness run out of memory. A load must either succeed with a tensor whose size is the
   data's and whose values are bytes (or bytes / 255), or fail with a message that names the
   file; anything else is a finding.

   clang -g -O1 -fsanitize=fuzzer,address,undefined -I. tests/fuzz/fuzz_idx.c -o fuzz_idx -lm */
#define MINIDL_IMPLEMENTATION
#include "minidl.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mdl_params *ps;
    mdl_idx_opts o;
    mdl_tensor *t = NULL;
    if (size < 1) return 0;
    memset(&o, 0, sizeof o);
    o.scale = data[0] & 1;
    o.channel = data[0] >> 1 & 1;
    o.max_bytes = (size_t)1 << 20;
    mdl_clear_error();
    ps = mdl_params_new();
    if (mdl_load_idx_mem(ps, "t", data + 1, size - 1, "fuzz.idx", &o, &t) == MDL_OK) {
        size_t i;
        mdl_scalar top = o.scale && t->ndim > 1 ? 1 : 255;
        if (!t || mdl_params_count(ps) != 1 || t->ndim < 1) abort();
        if (t->numel > o.max_bytes) abort(); /* one byte an item, within the limit */
        for (i = 0; i < t->numel; i++)
            if (!(t->data[i] >= 0 && t->data[i] <= top)) abort();
    } else {
        if (t || mdl_params_count(ps) != 0 || !strstr(mdl_last_error(), "fuzz.idx")) abort();
    }
    mdl_params_free(ps);
    return 0;
}
