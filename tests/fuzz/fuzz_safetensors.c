/* tests/fuzz/fuzz_safetensors.c - libFuzzer harness for the safetensors reader from memory
   (mdl_safetensors_open_mem), loading into a set (mdl_safetensors_load, strict and not) and,
   for a file whose metadata has a "format" key, the checkpoint loader (mdl_checkpoint_load,
   through a temporary file), followed by a training step on what it loaded.

   The input is the file. A file the reader rejects must come back NULL with MDL_ERR_FORMAT and
   a message that names it. A file it accepts must keep the promises: every tensor's bytes lie
   in the data and are its shape's, the tensors' bytes add up to the data, find() gives each
   one back, every value converts, every metadata key is found. Loading into the set a [2],
   b [], c [2,3] must succeed non-strictly and account for the three tensors, and strictly
   either load all three or fail naming the file. Anything else (a crash, a sanitizer report,
   a leak, an abort from a contract error) is a finding.

   clang -g -O1 -fsanitize=fuzzer,address,undefined -I. tests/fuzz/fuzz_safetensors.c \
       -o fuzz_safetensors -lm
   (make fuzz builds and runs it: tests/fuzz/run.sh; the seeds are tests/fuzz/corpus/safetensors,
   written by tests/fuzz/make_corpus.py) */
#define MINIDL_IMPLEMENTATION
#include "minidl.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t dtype_size(const char *d) {
    static const char *const one[] = {"BOOL", "U8", "I8", "F8_E4M3", "F8_E5M2"};
    static const char *const two[] = {"I16", "U16", "F16", "BF16"};
    int i;
    for (i = 0; i < 5; i++)
        if (!strcmp(d, one[i])) return 1;
    for (i = 0; i < 4; i++)
        if (!strcmp(d, two[i])) return 2;
    if (!strcmp(d, "I32") || !strcmp(d, "U32") || !strcmp(d, "F32")) return 4;
    if (!strcmp(d, "I64") || !strcmp(d, "U64") || !strcmp(d, "F64")) return 8;
    abort(); /* a dtype the reader should not have accepted */
}

/* The set the harness loads into: a [2], b [], c [2,3], all trainable. */
static mdl_params *abc(void) {
    mdl_params *ps = mdl_params_new();
    int s2[1] = {2}, s23[2] = {2, 3};
    mdl_params_add(ps, "a", 1, s2);
    mdl_params_add(ps, "b", 0, NULL);
    mdl_params_add(ps, "c", 2, s23);
    return ps;
}

/* A checkpoint of a tiny run: the set above, Adam, a StepLR schedule, a generator, and
   mini-batches of 2 over 4 rows, shuffled. A load that succeeds is followed by a step. */
static void checkpoint(const uint8_t *data, size_t size) {
    char path[64];
    FILE *f;
    mdl_params *ps = abc();
    mdl_optim *opt = mdl_adam_new(ps, 0.01);
    mdl_schedule_opts so = mdl_schedule_defaults(MDL_LR_STEP);
    mdl_scheduler *sch;
    mdl_arena *ar = mdl_arena_new(0);
    int xs[2] = {4, 2}, ys[1] = {4};
    mdl_dataset *ds;
    mdl_batches it;
    mdl_checkpoint ck;
    mdl_rng rng;
    so.step_size = 1;
    sch = mdl_scheduler_new(opt, &so);
    mdl_rng_seed(&rng, 1);
    ds = mdl_dataset_new(mdl_ones(ar, 2, xs), mdl_zeros(ar, 1, ys));
    mdl_batches_init(&it, ds, 2, 1, 0, &rng);
    snprintf(path, sizeof path, "/tmp/fuzz_safetensors.%ld.ckpt", (long)getpid());
    f = fopen(path, "wb");
    if (!f || fwrite(data, 1, size, f) != size) abort();
    fclose(f);
    memset(&ck, 0, sizeof ck);
    ck.params = ps;
    ck.optim = opt;
    ck.scheduler = sch;
    ck.rng[0] = &rng;
    ck.batches = &it;
    if (mdl_checkpoint_load(&ck, path) == MDL_OK) {
        mdl_tensor *xb, *yb, *loss;
        int i;
        mdl_history_free(ck.loaded_history);
        mdl_arena_reset(ar);
        if (!mdl_batches_next(&it, ar, &xb, &yb)) mdl_batches_next(&it, ar, &xb, &yb);
        for (loss = NULL, i = 0; i < 3; i++) { /* sum of squares of a, b and c */
            mdl_tensor *p = mdl_params_get(ps, i);
            mdl_tensor *term = mdl_sum(ar, mdl_mul(ar, p, p), MDL_ALL, 0);
            loss = loss ? mdl_add(ar, loss, term) : term;
        }
        if (mdl_backward(loss) != MDL_OK) abort();
        mdl_optim_step(opt);
        mdl_scheduler_step(sch);
    } else if (mdl_last_error_code() != MDL_ERR_FORMAT || !strstr(mdl_last_error(), path)) {
        abort();
    }
    remove(path);
    mdl_dataset_free(ds);
    mdl_scheduler_free(sch);
    mdl_optim_free(opt);
    mdl_params_free(ps);
    mdl_arena_free(ar);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mdl_safetensors *st = NULL;
    mdl_params *ps;
    mdl_load_report r;
    size_t total = 0;
    int i, d;
    mdl_clear_error();
    if (mdl_safetensors_open_mem(data, size, "fuzz.safetensors", &st) != MDL_OK) {
        if (st || mdl_last_error_code() != MDL_ERR_FORMAT ||
            !strstr(mdl_last_error(), "fuzz.safetensors"))
            abort();
        return 0;
    }
    for (i = 0; i < mdl_safetensors_count(st); i++) {
        const mdl_safetensors_info *e = mdl_safetensors_get(st, i);
        size_t numel = 1;
        mdl_scalar *values;
        for (d = 0; d < e->ndim; d++) numel *= (size_t)e->shape[d];
        if (!e->name[0] || e->ndim < 0 || e->ndim > MDL_MAX_DIMS || numel != e->numel ||
            e->nbytes != numel * dtype_size(e->dtype) || e->offset > size ||
            e->nbytes > size - e->offset || mdl_safetensors_find(st, e->name) != i)
            abort();
        total += e->nbytes;
        values = (mdl_scalar *)malloc((numel + 1) * sizeof(mdl_scalar));
        if (!values || mdl_safetensors_read(st, i, values, numel) != MDL_OK) abort();
        free(values);
    }
    if (total + 8 > size) abort();
    for (i = 0; i < mdl_safetensors_meta_count(st); i++)
        if (!mdl_safetensors_meta(st, mdl_safetensors_meta_key(st, i))) abort();
    ps = abc();
    if (mdl_safetensors_load(st, ps, MDL_LOAD_NON_STRICT, &r) != MDL_OK ||
        r.loaded + r.missing + r.mismatched != 3)
        abort();
    if (mdl_safetensors_load(st, ps, MDL_LOAD_STRICT, &r) == MDL_OK
            ? r.loaded != 3
            : !strstr(mdl_last_error(), "fuzz.safetensors"))
        abort();
    mdl_params_free(ps);
    if (mdl_safetensors_meta(st, "format")) checkpoint(data, size);
    mdl_safetensors_free(st);
    return 0;
}
