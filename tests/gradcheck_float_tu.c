/* tests/gradcheck_float_tu.c - the float32 build of minidl, for test_gradcheck.c.

   test_gradcheck.c compiles minidl with mdl_scalar double; this file compiles it again with
   mdl_scalar float, both under MINIDL_STATIC so that every minidl function is private to its
   file and the two builds never meet. The only door between them is gc_float_forward, which
   takes and returns plain arrays of double. It is linked into test_gradcheck by that file's
   `// build-extra:` line, which also passes -DMINIDL_DOUBLE on the command line: that flag is
   meant for test_gradcheck.c, so it is removed here. */
#undef MINIDL_DOUBLE
#define MINIDL_STATIC
#define MINIDL_IMPLEMENTATION
#include "minidl.h"
#include "gradcheck_spec.h"

#include <stdlib.h>

/* Contract errors in the float build are printed and counted, not fatal: the caller sees -1. */
static int gc_float_errors;

static void gc_float_handler(mdl_error code, const char *message, void *user) {
    (void)user;
    gc_float_errors++;
    fprintf(stderr, "float build: %s (%s)\n", message, mdl_error_name(code));
}

int gc_float_forward(const gc_spec *s, const double *const *in, double *out, size_t cap,
                     int *ndim, int *shape) {
    mdl_arena *ar = mdl_arena_new(0);
    mdl_tensor *x[GC_MAX_IN], *y;
    mdl_error_handler old;
    void *old_user = NULL;
    int i, result = -1;
    size_t k;

    if (!ar) return -1;
    old = mdl_set_error_handler(gc_float_handler, NULL);
    gc_float_errors = 0;
    mdl_clear_error();
    // Round each input to float: test_gradcheck.c draws values that are already floats, so
    // both builds start from exactly the same numbers.
    for (i = 0; i < s->n_in; i++) {
        int d;
        size_t n = 1;
        mdl_scalar *buf;
        for (d = 0; d < s->ndim[i]; d++) n *= (size_t)s->shape[i][d];
        buf = (mdl_scalar *)malloc(n * sizeof *buf);
        if (!buf) goto done;
        for (k = 0; k < n; k++) buf[k] = (mdl_scalar)in[i][k];
        x[i] = mdl_from_array(ar, s->ndim[i], s->shape[i], buf);
        free(buf);
    }
    y = gc_apply(ar, s, x);
    if (!y || gc_float_errors || y->numel > cap) goto done;
    for (k = 0; k < y->numel; k++) out[k] = (double)y->data[k];
    *ndim = y->ndim;
    for (i = 0; i < y->ndim; i++) shape[i] = y->shape[i];
    result = (int)y->numel;
done:
    mdl_set_error_handler(old, old_user);
    mdl_arena_free(ar);
    return result;
}
