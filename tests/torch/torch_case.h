/* tests/torch/torch_case.h - write minidl's results as case files for tests/torch/compare.py.

   A case is one computation: inputs drawn from a seeded mdl_rng, minidl's output, and, for an
   op with a backward, minidl's gradients of sum(out * v) for a random v of out's shape (as
   mdl_gradcheck does, so that every output element matters). compare.py recomputes the same
   thing with PyTorch and compares. A case in C:

       tc_begin(t, "conv2d/stride2", "conv2d", "{\"stride\": 2, \"padding\": 1}");
       x = tc_input(t, "x", 4, (const int[]){2, 3, 7, 9}, 1);   // N(0,1), requires grad
       w = tc_input(t, "w", 4, (const int[]){4, 3, 3, 3}, 1);
       tc_tol_sum(t, "out", 3 * 3 * 3);                        // tolerances, see below
       tc_finish(t, mdl_conv2d(t->ar, x, w, NULL, &(mdl_conv_opts){.stride = 2, .padding = 1}));

   tc_finish draws v, runs mdl_backward_with(out, v) and writes the case file: every input,
   v, "out", and "grad.<input>" for each input that requires grad (so no input is named v).
   A case whose reference is not "an op and its autograd" (an optimizer step, a saved file)
   writes its inputs with tc_input and its results with tc_result, then calls tc_end.

   THE CASE FILE (text, one line per item; values printed with 9 significant digits, which
   give back the exact float32):
       minidl-torch-case 1
       case {"name": "conv2d/stride2", "op": "conv2d", "scalar": "float32", "args": {...}}
       param  x [2,3,7,9] 0.1234 -1.5 ...          an input that requires grad
       input  v [2,4,4,5] ...                      an input that does not
       result out [2,4,4,5] ATOL RTOL ...          minidl's answer and its tolerance
       error  <message>                            minidl reported an error: the case fails
       end                                         written last: a file without it is cut short
   A shape is [] for a scalar. compare.py passes "args" to the reference as they are.

   TOLERANCES. A result passes when |minidl - torch_float64| <= atol + rtol * |torch_float64|
   for every element. u = 2^-24 is float32's unit roundoff. The inputs and v are N(0,1).
   - tc_tol_pointwise: 1e-6 + 1e-5 |ref| (about 170 u relative) for a result that is a short
     formula of a few float ops and one libm call per element (activations, softmax).
   - tc_tol_sum(K): for a sum of K products of N(0,1)-sized values. Float32 summation makes
     an error of about sqrt(K) u |partial sums| ~ K u; its worst-case bound is K u sum|terms|.
     We allow 1e-6 + 16 K u in absolute (16 K u is 1e-5 at K = 10, 1e-4 at K = 100) plus
     1e-5 |ref| relative. A wrong index or a missing term costs O(1), far above that.
   Each result may have its own (tc_tol, tc_tol_sum with its name): the gradient of a conv's
   weight sums over B*OH*OW terms, its output over C*KH*KW.

   Build: tests/torch/run.sh compiles each tests/torch/torch_*.c alone, with the strict flags
   of the test suite; the program takes the folder for its case files as its one argument. */
#ifndef MINIDL_TORCH_CASE_H
#define MINIDL_TORCH_CASE_H
#ifndef MINIDL_H
#error "include minidl.h before torch_case.h"
#endif
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TC_MAX_INPUTS 32
#define TC_MAX_TOLS 16
#define TC_U (1.0 / 16777216.0) /* 2^-24, float32's unit roundoff */

/* every function is static, and a program need not use them all */
#if defined(__GNUC__) || defined(__clang__)
#define TC_FN static __attribute__((unused))
#else
#define TC_FN static
#endif

typedef struct tc_tolerance {
    char result[48]; /* "out", "grad.w", or "*" for every result without its own */
    double atol, rtol;
} tc_tolerance;

/* The writer: one per program, reused case after case. */
typedef struct tc {
    mdl_arena *ar;  /* each case's tensors; reset by tc_begin */
    mdl_rng rng;    /* seeded by tc_begin from the case's name */
    const char *dir, *prog;
    int cases;      /* case files written */
    FILE *f;        /* the open case file, NULL between cases */
    char name[96];
    int n_in, inputs_written;
    mdl_tensor *in[TC_MAX_INPUTS];
    char in_name[TC_MAX_INPUTS][32];
    int n_tol;
    tc_tolerance tol[TC_MAX_TOLS];
    int io_failed;
} tc;

/* The last contract error minidl reported: the case writes it to its file and fails. */
static char tc__error[1024];

TC_FN void tc__handler(mdl_error code, const char *message, void *user) {
    (void)user;
    snprintf(tc__error, sizeof tc__error, "%s: %s", mdl_error_name(code), message);
}

/* FNV-1a: each case's inputs depend on its name only, not on the cases before it. */
TC_FN uint64_t tc__hash(const char *s) {
    uint64_t h = 14695981039346656037ULL;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* Start the program: argv[1] is the folder for the case files. Returns 0 on success. */
TC_FN int tc_open(tc *t, int argc, char **argv, const char *prog) {
    memset(t, 0, sizeof *t);
    if (argc != 2) {
        fprintf(stderr, "usage: %s CASE_FOLDER (tests/torch/run.sh runs it)\n", prog);
        return 1;
    }
    t->dir = argv[1];
    t->prog = prog;
    t->ar = mdl_arena_new(0);
    if (!t->ar) return 1;
    mdl_set_error_handler(tc__handler, NULL);
    return 0;
}

/* Start a case: `name` is unique, "area/what" (e.g. "conv2d/stride2"); `op` names the
   reference in compare.py; args_fmt (printf) makes the "args" JSON object, e.g.
   "{\"stride\": %d, \"padding\": %d}", or "{}" for none. */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((format(printf, 4, 5)))
#endif
TC_FN void tc_begin(tc *t, const char *name, const char *op, const char *args_fmt, ...) {
    char path[1024], args[2048];
    va_list ap;
    va_start(ap, args_fmt);
    vsnprintf(args, sizeof args, args_fmt, ap);
    va_end(ap);
    mdl_arena_reset(t->ar);
    mdl_clear_error();
    tc__error[0] = 0;
    mdl_rng_seed(&t->rng, tc__hash(name));
    snprintf(t->name, sizeof t->name, "%s", name);
    t->n_in = 0;
    t->inputs_written = 0;
    t->n_tol = 0;
    t->cases++;
    /* files are numbered, so that compare.py reads them in the order they were written */
    snprintf(path, sizeof path, "%s/%s-%03d.case", t->dir, t->prog, t->cases);
    t->f = fopen(path, "w");
    if (!t->f) {
        fprintf(stderr, "%s: cannot write %s\n", t->prog, path);
        t->io_failed = 1;
        return;
    }
    fprintf(t->f, "minidl-torch-case 1\n");
    fprintf(t->f, "case {\"name\": \"%s\", \"op\": \"%s\", \"scalar\": \"%s\", \"args\": %s}\n",
            name, op, sizeof(mdl_scalar) == 4 ? "float32" : "float64", args);
}

/* Set the tolerance of one result ("out", "grad.x") or of all the others ("*"). */
TC_FN void tc_tol(tc *t, const char *result, double atol, double rtol) {
    int i;
    for (i = 0; i < t->n_tol && strcmp(t->tol[i].result, result) != 0; i++) continue;
    if (i == TC_MAX_TOLS) return;
    if (i == t->n_tol) t->n_tol++;
    snprintf(t->tol[i].result, sizeof t->tol[i].result, "%s", result);
    t->tol[i].atol = atol;
    t->tol[i].rtol = rtol;
}

/* A result computed by a few float ops and one libm call per element (see the top). */
TC_FN void tc_tol_pointwise(tc *t, const char *result) { tc_tol(t, result, 1e-6, 1e-5); }

/* A result that sums K products of N(0,1)-sized values (see the top). */
TC_FN void tc_tol_sum(tc *t, const char *result, double K) {
    tc_tol(t, result, 1e-6 + 16.0 * K * TC_U, 1e-5);
}

TC_FN const tc_tolerance *tc__tol_of(const tc *t, const char *result) {
    static const tc_tolerance fallback = {"*", 1e-6, 1e-5};
    int i;
    for (i = 0; i < t->n_tol; i++)
        if (strcmp(t->tol[i].result, result) == 0) return &t->tol[i];
    for (i = 0; i < t->n_tol; i++)
        if (strcmp(t->tol[i].result, "*") == 0) return &t->tol[i];
    return &fallback;
}

/* A new input of N(0,1) values (change t->data afterwards if the case needs other values: it
   is written by tc_finish or tc_end). requires_grad 1 makes it a "param": compare.py checks
   its gradient. */
TC_FN mdl_tensor *tc_input(tc *t, const char *name, int ndim, const int *shape,
                           int requires_grad) {
    mdl_tensor *x = mdl_randn(t->ar, &t->rng, ndim, shape, 0, 1);
    if (!x || t->n_in == TC_MAX_INPUTS) return NULL;
    if (requires_grad) mdl_set_requires_grad(x, 1);
    t->in[t->n_in] = x;
    snprintf(t->in_name[t->n_in], sizeof t->in_name[0], "%s", name);
    t->n_in++;
    return x;
}

TC_FN void tc__array(tc *t, const char *kind, const char *name, int ndim, const int *shape,
                     const mdl_scalar *data, size_t n, const tc_tolerance *tol) {
    size_t i;
    int d;
    if (!t->f) return;
    fprintf(t->f, "%s %s [", kind, name);
    for (d = 0; d < ndim; d++) fprintf(t->f, d ? ",%d" : "%d", shape[d]);
    fprintf(t->f, "]");
    if (tol) fprintf(t->f, " %.3g %.3g", tol->atol, tol->rtol);
    for (i = 0; i < n; i++)
        fprintf(t->f, sizeof(mdl_scalar) == 4 ? " %.9g" : " %.17g", data ? (double)data[i] : 0.0);
    fprintf(t->f, "\n");
}

/* The inputs go into the file once, before the first result: by then they hold their final
   values. */
TC_FN void tc__inputs(tc *t) {
    int i;
    if (t->inputs_written) return;
    t->inputs_written = 1;
    for (i = 0; i < t->n_in; i++) {
        const mdl_tensor *x = t->in[i];
        tc__array(t, x->requires_grad ? "param" : "input", t->in_name[i], x->ndim, x->shape,
                  x->data, x->numel, NULL);
    }
}

/* Write one result: minidl's answer that compare.py holds against the reference's result of
   the same name. data NULL writes zeros (a gradient that never arrived). */
TC_FN void tc_result(tc *t, const char *name, int ndim, const int *shape,
                     const mdl_scalar *data) {
    size_t n = 1;
    int d;
    for (d = 0; d < ndim; d++) n *= (size_t)shape[d];
    tc__inputs(t);
    tc__array(t, "result", name, ndim, shape, data, n, tc__tol_of(t, name));
}

/* Finish a case: write the inputs if no result did, then "end" (or the error minidl
   reported), and close the file. */
TC_FN void tc_end(tc *t) {
    if (!t->f) return;
    tc__inputs(t);
    if (tc__error[0]) fprintf(t->f, "error %s\n", tc__error);
    fprintf(t->f, "end\n");
    if (fclose(t->f) != 0) t->io_failed = 1;
    t->f = NULL;
}

/* Finish an op case: out = the op's output (NULL after an error). Draws v, runs
   mdl_backward_with(out, v), writes "out", v, and "grad.<name>" of every param. */
TC_FN void tc_finish(tc *t, mdl_tensor *out) {
    char gname[48];
    mdl_tensor *v;
    int i;
    if (!out) {
        if (!tc__error[0]) snprintf(tc__error, sizeof tc__error, "the op returned NULL");
        tc_end(t);
        return;
    }
    v = mdl_randn(t->ar, &t->rng, out->ndim, out->shape, 0, 1);
    if (v && t->n_in < TC_MAX_INPUTS) {
        t->in[t->n_in] = v;
        snprintf(t->in_name[t->n_in], sizeof t->in_name[0], "v");
        t->n_in++;
    }
    if (v && out->requires_grad) mdl_backward_with(out, v);
    tc_result(t, "out", out->ndim, out->shape, out->data);
    for (i = 0; i < t->n_in; i++) {
        const mdl_tensor *x = t->in[i];
        if (!x->requires_grad) continue;
        snprintf(gname, sizeof gname, "grad.%s", t->in_name[i]);
        tc_result(t, gname, x->ndim, x->shape, x->grad);
    }
    tc_end(t);
}

/* End the program: say what was written. Returns the exit status. */
TC_FN int tc_close(tc *t) {
    mdl_arena_free(t->ar);
    if (t->io_failed) return 1;
    printf("%s: wrote %d case files to %s\n", t->prog, t->cases, t->dir);
    return 0;
}

#endif
