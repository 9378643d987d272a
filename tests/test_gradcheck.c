// build-extra: -DMINIDL_DOUBLE tests/gradcheck_float_tu.c
/* tests/test_gradcheck.c - every primitive op's backward against central differences, in double.

   For each op in MDL_OPS there is a function case_<NAME> below, and the table op_cases is made
   from the same X-macro list, so an op added to MDL_OPS without a case does not compile (and
   gc_apply's switch in gradcheck_spec.h stops the build under -Wall too). Each case runs
   mdl_gradcheck in double precision (eps 1e-6, atol 1e-5, rtol 1e-3) on random inputs with odd
   sizes and broadcast shapes, drawn away from kinks, ties and poles. Then composites (mean, var,
   transpose, stack, ...) and a small MLP show that the ops compose.

   Each case also runs the same forward in the float32 build (gradcheck_float_tu.c, a second
   copy of minidl under MINIDL_STATIC) on the same inputs, and compares it to the double
   result: within 1e-5 * (1 + |ref|) per element, plus K * 2^-24 * sum|terms| for the sums
   of K products (sum, mean, matmul), the classic bound for float summation.

   Build and run (tests/run.sh does this):
       gcc -std=c99 -O1 -g -Wall -Wextra -Wpedantic -Werror -I. tests/test_gradcheck.c \
           -DMINIDL_DOUBLE tests/gradcheck_float_tu.c -o build/test_gradcheck -lm
       ./build/test_gradcheck
   It prints one line per op with its largest gradient error, then "RESULT <passed> <failed>". */
#ifndef MINIDL_DOUBLE
#define MINIDL_DOUBLE 1
#endif
#define MINIDL_STATIC
#define MINIDL_IMPLEMENTATION
#include "minidl.h"
#include "gradcheck_spec.h"
#include "test.h"

#include <stdlib.h>

#define GC_EPS 1e-6
#define GC_ATOL 1e-5
#define GC_RTOL 1e-3
#define GC_FWD_REL 1e-5               /* float vs double, per element */
#define GC_FLOAT_U (1.0 / 16777216.0) /* 2^-24, float's unit roundoff */
#define GC_MAX_OUT 4096

static mdl_rng rng;
static mdl_arena *arena;

/* What one op (or one composite) has seen over its sub-cases. */
typedef struct gc_stats {
    int cases;
    double max_err;   /* largest gradcheck max_abs_err */
    double max_fwd;   /* largest |float - double| / tolerance of the forward values */
    int failures;
} gc_stats;

static void print_stats(const char *name, const gc_stats *st) {
    printf("  %-24s %3d case(s)  max grad err %.2e  fwd32 err/tol %.3f%s\n", name, st->cases,
           st->max_err, st->max_fwd, st->failures ? "  FAILED" : "");
}

/* ---- building a spec ---------------------------------------------------------------------- */

static gc_spec spec_new(int op, int comp, const char *label) {
    gc_spec s;
    memset(&s, 0, sizeof s);
    s.op = op;
    s.comp = comp;
    s.label = label;
    return s;
}

/* Read a shape written as "[2,3,4]" ("[]" for a scalar) into *ndim and sizes. */
static void parse_shape(const char *shape, int *ndim, int *sizes) {
    const char *p = shape + 1;
    *ndim = 0;
    while (*p && *p != ']') {
        char *end;
        sizes[(*ndim)++] = (int)strtol(p, &end, 10);
        p = (*end == ',') ? end + 1 : end;
    }
}

/* Add an input with a shape written as "[2,3,4]" and a gc_input_kind. */
static void add_input(gc_spec *s, const char *shape, int kind) {
    int i = s->n_in++;
    s->kind[i] = kind;
    parse_shape(shape, &s->ndim[i], s->shape[i]);
}

static size_t shape_numel(int ndim, const int *shape) {
    size_t n = 1;
    int d;
    for (d = 0; d < ndim; d++) n *= (size_t)shape[d];
    return n;
}

/* Give a case its constant tensor (gather's index, where's cond, masked_fill's mask): a shape
   as "[2,3]" and its values, row-major. */
static void set_idx(gc_spec *s, const char *shape, const int *values) {
    int k;
    parse_shape(shape, &s->idx_ndim, s->idx_shape);
    s->n_idx = (int)shape_numel(s->idx_ndim, s->idx_shape);
    for (k = 0; k < s->n_idx; k++) s->idx[k] = values[k];
}

/* Give a case its list of ints (axes, repeats, split sizes). */
static void set_list(gc_spec *s, int n, const int *values) {
    s->n_list = n;
    memcpy(s->list, values, (size_t)n * sizeof(int));
}

/* ---- drawing inputs ----------------------------------------------------------------------- */

static double uniform(double lo, double hi) { return lo + (hi - lo) * mdl_rng_uniform(&rng); }

static double away_from_zero(double lo, double hi) {
    double m = uniform(lo, hi);
    return mdl_rng_u32(&rng) & 1 ? m : -m;
}

/* Fill v[0..n-1] by `kind`. Every value is rounded to float, so the float build sees exactly
   the numbers the double build sees and the forward comparison measures only the arithmetic. */
static void draw_input(double *v, size_t n, int kind) {
    size_t i;
    for (i = 0; i < n; i++) {
        double x = 0;
        switch ((gc_input_kind)kind) {
        case GC_IN_UNIFORM:
            x = uniform(-2, 2);
            break;
        case GC_IN_AWAY0:
            x = away_from_zero(0.1, 2);
            break;
        case GC_IN_POS:
            x = uniform(0.3, 2.5);
            break;
        case GC_IN_DENOM:
            x = away_from_zero(0.5, 2);
            break;
        case GC_IN_GRID_A:
            x = -1.95 + 0.3 * (double)(mdl_rng_u32(&rng) % 13);
            break;
        case GC_IN_GRID_B:
            x = -1.80 + 0.3 * (double)(mdl_rng_u32(&rng) % 13);
            break;
        case GC_IN_DISTINCT:
            x = 0.23 * ((double)i - 0.5 * (double)(n - 1)) + 0.05; // shuffled below
            break;
        case GC_IN_CLAMP: // bounds are -0.5 and 0.7 (case_CLAMP)
            do x = uniform(-1.5, 1.5);
            while (fabs(x + 0.5) < 0.1 || fabs(x - 0.7) < 0.1);
            break;
        case GC_IN_ABOVE_M1:
            x = uniform(-0.8, 2);
            break;
        case GC_IN_WIDE:
            x = uniform(-25, 25);
            break;
        case GC_IN_PROB:
            x = uniform(0.05, 0.95);
            break;
        }
        v[i] = (double)(float)x;
    }
    if (kind == GC_IN_DISTINCT) { // Fisher-Yates shuffle: distinct values in random places
        for (i = n; i > 1; i--) {
            size_t j = mdl_rng_u32(&rng) % i;
            double t = v[i - 1];
            v[i - 1] = v[j];
            v[j] = t;
        }
    }
}

/* ---- running one spec --------------------------------------------------------------------- */

static mdl_tensor *gc_fn(mdl_arena *ar, mdl_tensor *const *inputs, void *user) {
    return gc_apply(ar, (const gc_spec *)user, inputs);
}

static void print_shapes(const gc_spec *s) {
    int i, d;
    for (i = 0; i < s->n_in; i++) {
        fprintf(stderr, "%s[", i ? " " : "");
        for (d = 0; d < s->ndim[i]; d++) fprintf(stderr, "%s%d", d ? "," : "", s->shape[i][d]);
        fprintf(stderr, "]");
    }
}

/* Indexed by gc_composite. */
static const char *const composite_names[] = {
    "",           "mdl_neg",       "mdl_sub_scalar", "mdl_div_scalar", "mdl_mean",
    "mdl_var",    "mdl_transpose", "mdl_flatten",    "mdl_squeeze/unsqueeze",
    "mdl_stack",  "mdl_mul(x, x)", "mdl_concat(x, y, x)", "2-layer MLP", "mdl_conv1d",
    "mdl_rsub_scalar", "mdl_mean_axes", "mdl_var_axes", "mdl_masked_fill",
    "where(gt(a, b), a, b)", "mdl_repeat", "mdl_split + concat", "mdl_chunk + concat",
    "mdl_max_pool1d", "mdl_avg_pool1d"};
typedef char composite_names_match_enum[sizeof composite_names / sizeof composite_names[0] ==
                                                GC_COMPOSITE_COUNT ? 1 : -1];

/* K, the number of terms in each output of a sum-like spec (sum, mean, matmul). */
static size_t reduction_length(const gc_spec *s) {
    if (s->comp == GC_PRIMITIVE && s->op == MDL_OP_MATMUL)
        return (size_t)s->shape[0][s->ndim[0] - 1];
    if ((s->comp == GC_PRIMITIVE && s->op == MDL_OP_CONV2D) || s->comp == GC_CONV1D)
        return shape_numel(s->ndim[1] - 1, s->shape[1] + 1) + 1; /* C/G * KH * KW, and the bias */
    if (s->comp == GC_PRIMITIVE && s->op == MDL_OP_AVG_POOL2D)
        return s->kernel ? (size_t)s->kernel * (size_t)s->kernel
                         : (size_t)s->kernel_hw[0] * (size_t)s->kernel_hw[1];
    if ((s->comp == GC_PRIMITIVE && s->op == MDL_OP_SUM_AXES) || s->comp == GC_MEAN_AXES) {
        size_t k = 1;
        int j;
        for (j = 0; j < s->n_list; j++)
            k *= (size_t)s->shape[0][s->list[j] < 0 ? s->list[j] + s->ndim[0] : s->list[j]];
        return k;
    }
    if (s->comp == GC_AVG_POOL1D) return (size_t)s->kernel;
    if (s->comp == GC_PRIMITIVE && s->op == MDL_OP_ADAPTIVE_AVG_POOL2D) /* the largest window */
        return (size_t)((s->shape[0][2] + s->out_shape[0] - 1) / s->out_shape[0] + 1) *
               (size_t)((s->shape[0][3] + s->out_shape[1] - 1) / s->out_shape[1] + 1);
    if (s->axis == MDL_ALL) return shape_numel(s->ndim[0], s->shape[0]);
    return (size_t)s->shape[0][s->axis < 0 ? s->axis + s->ndim[0] : s->axis];
}

/* Gradcheck `s` in double, then compare its forward values with the float build's. */
static void run_spec(gc_spec *s, gc_stats *st) {
    const char *name = s->comp ? composite_names[s->comp] : mdl_op_name((mdl_op)s->op);
    double *vals[GC_MAX_IN], *absv[GC_MAX_IN];
    mdl_tensor *in[GC_MAX_IN], *ain[GC_MAX_IN], *y, *ya = NULL;
    mdl_gradcheck_report rep;
    size_t total = 0, k;
    int i, ok, restored = 1, fails_before = test_failed;
    static double fout[GC_MAX_OUT];
    int fndim = -1, fshape[MDL_MAX_DIMS];
    int fn;

    for (i = 0; i < s->n_in; i++) {
        size_t n = shape_numel(s->ndim[i], s->shape[i]);
        vals[i] = (double *)malloc(n * sizeof(double));
        absv[i] = (double *)malloc(n * sizeof(double));
        if (!vals[i] || !absv[i]) {
            fprintf(stderr, "out of memory\n");
            exit(2);
        }
        draw_input(vals[i], n, s->kind[i]);
        for (k = 0; k < n; k++) absv[i][k] = fabs(vals[i][k]);
        in[i] = mdl_from_array(arena, s->ndim[i], s->shape[i], vals[i]);
        mdl_set_requires_grad(in[i], 1);
        total += n;
    }

    // 1. The gradient check itself.
    memset(&rep, 0, sizeof rep);
    ok = mdl_gradcheck(gc_fn, s, s->n_in, in, GC_EPS, GC_ATOL, GC_RTOL, &rep);
    CHECK(ok == 1, "%s (%s): mdl_gradcheck returned %d", name, s->label, ok);
    CHECK(rep.failed == 0, "%s (%s): %zu of %zu elements failed", name, s->label, rep.failed,
          rep.checked);
    CHECK(rep.checked == total, "%s (%s): checked %zu elements, inputs hold %zu", name, s->label,
          rep.checked, total);
    if (ok != 1 || rep.failed) {
        fprintf(stderr, "  inputs ");
        print_shapes(s);
        fprintf(stderr, ": worst input %d element %zu: analytic %.10g numeric %.10g |err| %.3g\n",
                rep.worst_input, rep.worst_index, rep.analytic, rep.numeric, rep.max_abs_err);
    }
    for (i = 0; i < s->n_in; i++)
        for (k = 0; k < in[i]->numel; k++)
            if (in[i]->data[k] != vals[i][k]) restored = 0;
    CHECK(restored, "%s (%s): mdl_gradcheck did not restore the inputs", name, s->label);
    if (rep.max_abs_err > st->max_err) st->max_err = rep.max_abs_err;

    // 2. The forward in double, and for sums of products the same forward on |inputs|, whose
    //    outputs are the sums of |terms| that bound float rounding error.
    y = gc_apply(arena, s, in);
    CHECK(y != NULL, "%s (%s): forward returned NULL: %s", name, s->label, mdl_last_error());
    if (y && s->expect_view)
        CHECK(y->data >= in[0]->data && y->data < in[0]->data + in[0]->numel,
              "%s (%s): expected a view of the input, got a copy", name, s->label);
    if (s->sumlike) {
        for (i = 0; i < s->n_in; i++)
            ain[i] = mdl_from_array(arena, s->ndim[i], s->shape[i], absv[i]);
        ya = gc_apply(arena, s, ain);
    }

    // 3. The same forward in the float build, from the same (float-representable) inputs.
    fn = gc_float_forward(s, (const double *const *)vals, fout, GC_MAX_OUT, &fndim, fshape);
    CHECK(y && fn == (int)y->numel, "%s (%s): float build gave %d values, double %d", name,
          s->label, fn, y ? (int)y->numel : -1);
    if (y && fn == (int)y->numel) {
        int same_shape = fndim == y->ndim, d;
        double worst = 0, wf = 0, wd = 0, wt = 0;
        size_t wk = 0;
        for (d = 0; same_shape && d < y->ndim; d++) same_shape = fshape[d] == y->shape[d];
        CHECK(same_shape, "%s (%s): float and double builds gave different shapes", name,
              s->label);
        for (k = 0; k < y->numel; k++) {
            double ref = y->data[k], tol = GC_FWD_REL * (1 + fabs(ref)), r;
            if (ya) tol += (double)reduction_length(s) * GC_FLOAT_U * ya->data[k];
            r = fabs(fout[k] - ref) / tol;
            if (!(r <= worst)) { // also catches NaN
                worst = r;
                wk = k;
                wf = fout[k];
                wd = ref;
                wt = tol;
            }
        }
        CHECK(worst <= 1, "%s (%s): float forward element %zu: float %.9g double %.9g (tol %.3g)",
              name, s->label, wk, wf, wd, wt);
        if (!(worst <= st->max_fwd)) st->max_fwd = worst;
    }

    for (i = 0; i < s->n_in; i++) {
        free(vals[i]);
        free(absv[i]);
    }
    mdl_arena_reset(arena);
    st->cases++;
    if (test_failed != fails_before) st->failures++;
}

/* ---- one case function per primitive op ---------------------------------------------------- */

/* Binary elementwise ops: the same shape, and the broadcasts that matter (a row vector, an
   outer product, a scalar, a 3-D tensor with a column, the broadcast on the left side). */
static void binary_cases(int op, int kind_a, int kind_b, gc_stats *st) {
    static const char *const shapes[][3] = {
        {"[3,5]", "[3,5]", "same shape"},
        {"[3,4]", "[4]", "[3,4] with [4]"},
        {"[3,1]", "[1,4]", "[3,1] with [1,4]"},
        {"[4]", "[3,4]", "[4] with [3,4]"},
        {"[2,3,4]", "[3,1]", "[2,3,4] with [3,1]"},
        {"[1,3,1]", "[2,1,5]", "[1,3,1] with [2,1,5]"},
        {"[2,1,3,1]", "[4,1,5]", "[2,1,3,1] with [4,1,5]"},
        {"[3,5]", "[]", "[3,5] with a scalar"},
        {"[]", "[2,3]", "a scalar with [2,3]"}};
    size_t i;
    for (i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        gc_spec s = spec_new(op, GC_PRIMITIVE, shapes[i][2]);
        add_input(&s, shapes[i][0], kind_a);
        add_input(&s, shapes[i][1], kind_b);
        run_spec(&s, st);
    }
}

/* A unary op on a 2-D and a 3-D input; p0 is its scalar parameter, if it has one. */
static void unary_cases(int op, int kind, double p0, const char *label, gc_stats *st) {
    gc_spec s = spec_new(op, GC_PRIMITIVE, label);
    s.p0 = p0;
    add_input(&s, "[3,5]", kind);
    run_spec(&s, st);
    s = spec_new(op, GC_PRIMITIVE, label);
    s.p0 = p0;
    add_input(&s, "[2,3,4]", kind);
    run_spec(&s, st);
}

static void case_ADD(gc_stats *st) { binary_cases(MDL_OP_ADD, GC_IN_UNIFORM, GC_IN_UNIFORM, st); }
static void case_SUB(gc_stats *st) { binary_cases(MDL_OP_SUB, GC_IN_UNIFORM, GC_IN_UNIFORM, st); }
static void case_MUL(gc_stats *st) { binary_cases(MDL_OP_MUL, GC_IN_UNIFORM, GC_IN_UNIFORM, st); }
static void case_DIV(gc_stats *st) { binary_cases(MDL_OP_DIV, GC_IN_UNIFORM, GC_IN_DENOM, st); }
static void case_MAXIMUM(gc_stats *st) {
    binary_cases(MDL_OP_MAXIMUM, GC_IN_GRID_A, GC_IN_GRID_B, st);
}
static void case_MINIMUM(gc_stats *st) {
    binary_cases(MDL_OP_MINIMUM, GC_IN_GRID_A, GC_IN_GRID_B, st);
}

/* where: cond a fixed pattern (2 and -1 count as true), broadcast with a and b in the ways
   that matter: cond stretched, a stretched, b a scalar, all three stretched to a new shape. */
static void case_WHERE(gc_stats *st) {
    static const struct {
        const char *cond, *a, *b;
        int v[12];
        const char *label;
    } c[] = {{"[3,4]", "[3,4]", "[3,4]", {1, 0, 0, 1, 0, 1, 1, 0, 2, 0, -1, 1}, "same shapes"},
             {"[3,1]", "[4]", "[3,4]", {1, 0, 1}, "cond [3,1], a [4], b [3,4]"},
             {"[4]", "[3,1]", "[]", {0, 1, 1, 0}, "cond [4], a [3,1], b a scalar"},
             {"[2,1,3]", "[4,1]", "[1,3]", {1, 0, 1, 0, 0, 1}, "all three stretched"},
             {"[]", "[2,3]", "[2,3]", {1}, "a scalar cond"}};
    size_t i;
    for (i = 0; i < sizeof c / sizeof c[0]; i++) {
        gc_spec s = spec_new(MDL_OP_WHERE, GC_PRIMITIVE, c[i].label);
        add_input(&s, c[i].a, GC_IN_UNIFORM);
        add_input(&s, c[i].b, GC_IN_UNIFORM);
        set_idx(&s, c[i].cond, c[i].v);
        run_spec(&s, st);
    }
}
static void case_ADD_SCALAR(gc_stats *st) {
    unary_cases(MDL_OP_ADD_SCALAR, GC_IN_UNIFORM, 0.7, "s=0.7", st);
}
static void case_MUL_SCALAR(gc_stats *st) {
    unary_cases(MDL_OP_MUL_SCALAR, GC_IN_UNIFORM, -1.3, "s=-1.3", st);
}
static void case_EXP(gc_stats *st) {
    unary_cases(MDL_OP_EXP, GC_IN_UNIFORM, 0, "x in [-2,2]", st);
}
static void case_LOG(gc_stats *st) { unary_cases(MDL_OP_LOG, GC_IN_POS, 0, "x>0", st); }
static void case_EXPM1(gc_stats *st) {
    unary_cases(MDL_OP_EXPM1, GC_IN_UNIFORM, 0, "x in [-2,2]", st);
}
static void case_LOG1P(gc_stats *st) {
    unary_cases(MDL_OP_LOG1P, GC_IN_ABOVE_M1, 0, "x in [-0.8,2]", st);
}
static void case_SQRT(gc_stats *st) { unary_cases(MDL_OP_SQRT, GC_IN_POS, 0, "x>0", st); }
static void case_ABS(gc_stats *st) { unary_cases(MDL_OP_ABS, GC_IN_AWAY0, 0, "|x|>=0.1", st); }
static void case_POW(gc_stats *st) {
    unary_cases(MDL_OP_POW, GC_IN_POS, 3, "p=3", st);
    unary_cases(MDL_OP_POW, GC_IN_POS, 0.5, "p=0.5", st);
    unary_cases(MDL_OP_POW, GC_IN_POS, -1.5, "p=-1.5", st);
    // An integer power is defined for negative x too, as C's pow is.
    unary_cases(MDL_OP_POW, GC_IN_AWAY0, 3, "p=3, x<0 too", st);
}
static void case_CLAMP(gc_stats *st) {
    gc_spec s = spec_new(MDL_OP_CLAMP, GC_PRIMITIVE, "lo=-0.5 hi=0.7");
    s.p0 = -0.5;
    s.p1 = 0.7;
    add_input(&s, "[3,5]", GC_IN_CLAMP);
    run_spec(&s, st);
    s.n_in = 0;
    add_input(&s, "[2,3,4]", GC_IN_CLAMP);
    run_spec(&s, st);
}
static void case_RELU(gc_stats *st) { unary_cases(MDL_OP_RELU, GC_IN_AWAY0, 0, "|x|>=0.1", st); }
static void case_LEAKY_RELU(gc_stats *st) {
    unary_cases(MDL_OP_LEAKY_RELU, GC_IN_AWAY0, 0.01, "slope=0.01", st);
    unary_cases(MDL_OP_LEAKY_RELU, GC_IN_AWAY0, 0.2, "slope=0.2", st);
}
static void case_SIGMOID(gc_stats *st) {
    unary_cases(MDL_OP_SIGMOID, GC_IN_UNIFORM, 0, "x in [-2,2]", st);
}
static void case_LOGSIGMOID(gc_stats *st) {
    unary_cases(MDL_OP_LOGSIGMOID, GC_IN_UNIFORM, 0, "x in [-2,2]", st);
    unary_cases(MDL_OP_LOGSIGMOID, GC_IN_WIDE, 0, "x in [-25,25]", st);
}
static void case_TANH(gc_stats *st) {
    unary_cases(MDL_OP_TANH, GC_IN_UNIFORM, 0, "x in [-2,2]", st);
}
static void case_GELU(gc_stats *st) {
    unary_cases(MDL_OP_GELU, GC_IN_UNIFORM, 0, "x in [-2,2]", st);
}
static void case_GELU_TANH(gc_stats *st) {
    unary_cases(MDL_OP_GELU_TANH, GC_IN_UNIFORM, 0, "x in [-2,2]", st);
}
static void case_SILU(gc_stats *st) {
    unary_cases(MDL_OP_SILU, GC_IN_UNIFORM, 0, "x in [-2,2]", st);
}
static void case_ELU(gc_stats *st) {
    unary_cases(MDL_OP_ELU, GC_IN_AWAY0, 1.0, "alpha=1", st);
    unary_cases(MDL_OP_ELU, GC_IN_AWAY0, 0.7, "alpha=0.7", st);
}

/* softplus: PyTorch's defaults on small and on wide inputs (both sides of the threshold), a
   smaller beta, and threshold 0, which makes x > 0 linear (inputs stay away from 0, where the
   threshold breaks continuity). */
static void case_SOFTPLUS(gc_stats *st) {
    static const struct {
        int kind;
        double beta, threshold;
        const char *label;
    } c[] = {{GC_IN_UNIFORM, 1, 20, "beta=1 threshold=20"},
             {GC_IN_WIDE, 1, 20, "beta=1 threshold=20, x in [-25,25]"},
             {GC_IN_UNIFORM, 0.5, 20, "beta=0.5 threshold=20"},
             {GC_IN_AWAY0, 2, 0, "beta=2 threshold=0"}};
    size_t i;
    for (i = 0; i < sizeof c / sizeof c[0]; i++) {
        gc_spec s = spec_new(MDL_OP_SOFTPLUS, GC_PRIMITIVE, c[i].label);
        s.p0 = c[i].beta;
        s.p1 = c[i].threshold;
        add_input(&s, "[3,5]", c[i].kind);
        run_spec(&s, st);
        s.n_in = 0;
        add_input(&s, "[2,3,4]", c[i].kind);
        run_spec(&s, st);
    }
}

/* softmax and log_softmax along the first, a middle and the last axis. */
static void softmax_cases(int op, gc_stats *st) {
    static const struct { const char *shape; int axis; const char *label; } c[] = {
        {"[3,5]", 0, "axis=0"},    {"[3,5]", -1, "axis=-1"},  {"[3,5]", 1, "axis=1"},
        {"[2,3,4]", 0, "axis=0"}, {"[2,3,4]", 1, "axis=1"}, {"[2,3,4]", -1, "axis=-1"},
        {"[5]", 0, "1-D"}};
    size_t i;
    for (i = 0; i < sizeof c / sizeof c[0]; i++) {
        gc_spec s = spec_new(op, GC_PRIMITIVE, c[i].label);
        s.axis = c[i].axis;
        add_input(&s, c[i].shape, GC_IN_UNIFORM);
        run_spec(&s, st);
    }
}
static void case_SOFTMAX(gc_stats *st) { softmax_cases(MDL_OP_SOFTMAX, st); }
static void case_LOG_SOFTMAX(gc_stats *st) { softmax_cases(MDL_OP_LOG_SOFTMAX, st); }

/* Reductions (sum, max, and the composite mean) along axes 0, 1, -1 and MDL_ALL, keepdim 0
   and 1, on a 3-D input, plus a 2-D one. */
static void reduce_cases(int op, int comp, int kind, gc_stats *st) {
    static const int axes[] = {0, 1, -1, MDL_ALL};
    static const char *const labels[][2] = {{"axis 0", "axis 0 keepdim"},
                                            {"axis 1", "axis 1 keepdim"},
                                            {"axis -1", "axis -1 keepdim"},
                                            {"MDL_ALL", "MDL_ALL keepdim"}};
    static const char *const shapes[] = {"[2,3,4]", "[3,5]"};
    size_t a, sh;
    int keep;
    for (sh = 0; sh < 2; sh++)
        for (a = 0; a < sizeof axes / sizeof axes[0]; a++)
            for (keep = 0; keep <= 1; keep++) {
                gc_spec s = spec_new(op, comp, labels[a][keep]);
                s.axis = axes[a];
                s.keepdim = keep;
                s.sumlike = op == MDL_OP_SUM || comp == GC_MEAN;
                add_input(&s, shapes[sh], kind);
                run_spec(&s, st);
            }
}
static void case_SUM(gc_stats *st) { reduce_cases(MDL_OP_SUM, 0, GC_IN_UNIFORM, st); }
static void case_MAX(gc_stats *st) { reduce_cases(MDL_OP_MAX, 0, GC_IN_DISTINCT, st); }
static void case_LOGSUMEXP(gc_stats *st) {
    gc_spec s = spec_new(MDL_OP_LOGSUMEXP, GC_PRIMITIVE, "x in [-25,25], axis -1");
    reduce_cases(MDL_OP_LOGSUMEXP, 0, GC_IN_UNIFORM, st);
    s.axis = -1;
    add_input(&s, "[3,5]", GC_IN_WIDE);
    run_spec(&s, st);
}

/* Sums over several axes: BatchNorm's (all but the channels of [N,C,H,W]), negative and
   unordered axes, every axis, and a reduced axis of size 1; keepdim 0 and 1. */
static void case_SUM_AXES(gc_stats *st) {
    static const struct {
        const char *shape;
        int n, axes[4];
        const char *label;
    } c[] = {{"[2,3,4,5]", 3, {0, 2, 3}, "BatchNorm's {0,2,3}"},
             {"[2,3,4]", 1, {-1}, "{-1}"},
             {"[2,3,4]", 2, {2, 0}, "{2,0}"},
             {"[2,3,4,5]", 2, {1, -1}, "{1,-1}"},
             {"[3,5]", 2, {0, 1}, "every axis"},
             {"[4,1,3]", 1, {1}, "an axis of size 1"}};
    size_t i;
    int keep;
    for (i = 0; i < sizeof c / sizeof c[0]; i++)
        for (keep = 0; keep <= 1; keep++) {
            gc_spec s = spec_new(MDL_OP_SUM_AXES, GC_PRIMITIVE, c[i].label);
            add_input(&s, c[i].shape, GC_IN_UNIFORM);
            set_list(&s, c[i].n, c[i].axes);
            s.keepdim = keep;
            s.sumlike = 1;
            run_spec(&s, st);
        }
}

static void case_MATMUL(gc_stats *st) {
    /* a, b, label, trans_a, trans_b */
    static const struct { const char *a, *b, *label; int ta, tb; } cases[] = {
        {"[3,5]", "[5,4]", "2-D", 0, 0},
        {"[2,3,5]", "[2,5,4]", "batched 3-D", 0, 0},
        {"[2,3,5]", "[5,4]", "[B,M,K]@[K,N]", 0, 0},
        {"[1,7]", "[7,1]", "[1,K]@[K,1]", 0, 0},
        {"[4,1]", "[1,3]", "K=1", 0, 0},
        {"[2,9,33]", "[33,7]", "K=33", 0, 0},
        {"[3,5]", "[2,5,4]", "[M,K]@[B,K,N]", 0, 0},
        {"[2,1,3,5]", "[3,5,4]", "batch axes broadcast [2,1]x[3]", 0, 0},
        {"[2,2,3,4]", "[2,2,4,3]", "[B,H,T,D]@[B,H,D,T]", 0, 0},
        {"[5]", "[5,4]", "1-D a", 0, 0},
        {"[3,5]", "[5]", "1-D b", 0, 0},
        {"[2,3,5]", "[5]", "batched @ 1-D b", 0, 0},
        {"[5]", "[5]", "1-D @ 1-D: a scalar", 0, 0},
        {"[5,3]", "[5,4]", "a^T @ b", 1, 0},
        {"[3,5]", "[4,5]", "a @ b^T (linear)", 0, 1},
        {"[5,3]", "[4,5]", "a^T @ b^T", 1, 1},
        {"[2,3,5]", "[4,5]", "[B,M,K] @ w^T (folded)", 0, 1},
        {"[2,5,3]", "[5,4]", "batched a^T", 1, 0},
        {"[2,3,5]", "[2,4,5]", "batched b^T", 0, 1}};
    size_t i;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        gc_spec s = spec_new(MDL_OP_MATMUL, GC_PRIMITIVE, cases[i].label);
        s.sumlike = 1;
        s.trans_a = cases[i].ta;
        s.trans_b = cases[i].tb;
        add_input(&s, cases[i].a, GC_IN_UNIFORM);
        add_input(&s, cases[i].b, GC_IN_UNIFORM);
        run_spec(&s, st);
    }
}

static void case_RESHAPE(gc_stats *st) {
    gc_spec s = spec_new(MDL_OP_RESHAPE, GC_PRIMITIVE, "[2,3,4] -> [4,-1]");
    add_input(&s, "[2,3,4]", GC_IN_UNIFORM);
    s.out_ndim = 2;
    s.out_shape[0] = 4;
    s.out_shape[1] = -1;
    s.expect_view = 1;
    run_spec(&s, st);
    s = spec_new(MDL_OP_RESHAPE, GC_PRIMITIVE, "[3,5] -> [15]");
    add_input(&s, "[3,5]", GC_IN_UNIFORM);
    s.out_ndim = 1;
    s.out_shape[0] = 15;
    s.expect_view = 1;
    run_spec(&s, st);
    s = spec_new(MDL_OP_RESHAPE, GC_PRIMITIVE, "[15] -> [5,1,3]");
    add_input(&s, "[15]", GC_IN_UNIFORM);
    s.out_ndim = 3;
    s.out_shape[0] = 5;
    s.out_shape[1] = 1;
    s.out_shape[2] = 3;
    s.expect_view = 1;
    run_spec(&s, st);
}

static void case_PERMUTE(gc_stats *st) {
    static const int perms[][3] = {{2, 0, 1}, {1, 2, 0}, {0, 2, 1}, {2, 1, 0}};
    size_t i;
    for (i = 0; i < sizeof perms / sizeof perms[0]; i++) {
        gc_spec s = spec_new(MDL_OP_PERMUTE, GC_PRIMITIVE, "3-D perm");
        add_input(&s, "[2,3,4]", GC_IN_UNIFORM);
        memcpy(s.perm, perms[i], sizeof perms[i]);
        run_spec(&s, st);
    }
    {
        static const int perm4[4] = {3, 1, 0, 2};
        gc_spec s = spec_new(MDL_OP_PERMUTE, GC_PRIMITIVE, "4-D perm");
        add_input(&s, "[2,3,1,4]", GC_IN_UNIFORM);
        memcpy(s.perm, perm4, sizeof perm4);
        run_spec(&s, st);
    }
    {
        gc_spec s = spec_new(MDL_OP_PERMUTE, GC_PRIMITIVE, "2-D perm");
        add_input(&s, "[3,5]", GC_IN_UNIFORM);
        s.perm[0] = 1;
        s.perm[1] = 0;
        run_spec(&s, st);
    }
}

/* expand: a column to a 3-D tensor, a new leading axis, -1 keeping a size, a scalar, and a
   shape that stretches nothing. */
static void case_EXPAND(gc_stats *st) {
    static const struct {
        const char *x, *to;
        const char *label;
    } c[] = {{"[3,1]", "[2,3,4]", "[3,1] to [2,3,4]"},
             {"[1]", "[5]", "[1] to [5]"},
             {"[2,1,3]", "[2,4,-1]", "[2,1,3] to [2,4,-1]"},
             {"[]", "[2,3]", "a scalar to [2,3]"},
             {"[1,1]", "[3,1,4]", "[1,1] to [3,1,4]"},
             {"[3]", "[3]", "[3] to itself"}};
    size_t i;
    for (i = 0; i < sizeof c / sizeof c[0]; i++) {
        gc_spec s = spec_new(MDL_OP_EXPAND, GC_PRIMITIVE, c[i].label);
        add_input(&s, c[i].x, GC_IN_UNIFORM);
        parse_shape(c[i].to, &s.out_ndim, s.out_shape);
        run_spec(&s, st);
    }
}

static void case_SLICE(gc_stats *st) {
    static const struct {
        const char *shape;
        int axis, start, end, view;
        const char *label;
    } c[] = {{"[5,4]", 0, 1, 4, 1, "axis 0 (view)"},
             {"[3,5]", 1, 1, 4, 0, "axis 1 (copy)"},
             {"[2,3,4]", 2, 1, 3, 0, "axis 2 of 3-D (copy)"},
             {"[2,3,4]", -2, 0, 2, 0, "axis -2 of 3-D (copy)"},
             {"[1,5,3]", 1, 2, 5, 1, "axis 1 after a size-1 axis (view)"}};
    size_t i;
    for (i = 0; i < sizeof c / sizeof c[0]; i++) {
        gc_spec s = spec_new(MDL_OP_SLICE, GC_PRIMITIVE, c[i].label);
        add_input(&s, c[i].shape, GC_IN_UNIFORM);
        s.axis = c[i].axis;
        s.start = c[i].start;
        s.end = c[i].end;
        s.expect_view = c[i].view;
        run_spec(&s, st);
    }
}

static void case_CONCAT(gc_stats *st) {
    gc_spec s = spec_new(MDL_OP_CONCAT, GC_PRIMITIVE, "3 tensors, axis 1");
    add_input(&s, "[3,2]", GC_IN_UNIFORM);
    add_input(&s, "[3,1]", GC_IN_UNIFORM);
    add_input(&s, "[3,4]", GC_IN_UNIFORM);
    s.axis = 1;
    run_spec(&s, st);
    s = spec_new(MDL_OP_CONCAT, GC_PRIMITIVE, "3 tensors, axis 0");
    add_input(&s, "[1,4]", GC_IN_UNIFORM);
    add_input(&s, "[3,4]", GC_IN_UNIFORM);
    add_input(&s, "[2,4]", GC_IN_UNIFORM);
    s.axis = 0;
    run_spec(&s, st);
    s = spec_new(MDL_OP_CONCAT, GC_PRIMITIVE, "3 tensors 3-D, axis -1");
    add_input(&s, "[2,3,1]", GC_IN_UNIFORM);
    add_input(&s, "[2,3,2]", GC_IN_UNIFORM);
    add_input(&s, "[2,3,3]", GC_IN_UNIFORM);
    s.axis = -1;
    run_spec(&s, st);
    s = spec_new(MDL_OP_CONCAT, GC_PRIMITIVE, "2 tensors 3-D, axis 1");
    add_input(&s, "[2,1,3]", GC_IN_UNIFORM);
    add_input(&s, "[2,2,3]", GC_IN_UNIFORM);
    s.axis = 1;
    run_spec(&s, st);
}

/* Repeated indices: each use of a row adds its gradient, so the check fails if backward
   writes (=) instead of accumulating (+=). */
static void case_INDEX_SELECT(gc_stats *st) {
    static const struct {
        const char *shape;
        int axis, n, idx[GC_MAX_IDX];
        const char *label;
    } c[] = {{"[4,3]", 0, 5, {2, 0, 2, 3, 2}, "axis 0, repeats"},
             {"[3,5]", 1, 4, {4, 1, 4, 0}, "axis 1, repeats"},
             {"[2,3,4]", 1, 3, {1, 1, 0}, "3-D axis 1, repeats"},
             {"[2,3,4]", -1, 6, {3, 0, 3, 3, 1, 0}, "3-D axis -1, repeats"}};
    size_t i;
    for (i = 0; i < sizeof c / sizeof c[0]; i++) {
        gc_spec s = spec_new(MDL_OP_INDEX_SELECT, GC_PRIMITIVE, c[i].label);
        add_input(&s, c[i].shape, GC_IN_UNIFORM);
        s.axis = c[i].axis;
        s.n_idx = c[i].n;
        memcpy(s.idx, c[i].idx, sizeof s.idx);
        run_spec(&s, st);
    }
}

/* gather: index values spread over the axis with repeats (so backward must add), an index
   larger than x along the axis, smaller along the others, and 3-D. */
static void case_GATHER(gc_stats *st) {
    static const struct {
        const char *x, *index;
        int axis;
        const char *label;
    } c[] = {{"[3,4]", "[3,2]", 1, "axis 1"},
             {"[3,4]", "[5,4]", 0, "axis 0, index longer than x"},
             {"[3,4]", "[2,3]", 1, "index smaller along axis 0"},
             {"[2,3,4]", "[2,3,5]", -1, "3-D axis -1"},
             {"[2,3,4]", "[1,4,2]", 1, "3-D axis 1, index smaller along 0 and 2"}};
    size_t i;
    for (i = 0; i < sizeof c / sizeof c[0]; i++) {
        gc_spec s = spec_new(MDL_OP_GATHER, GC_PRIMITIVE, c[i].label);
        int v[GC_MAX_IDX], k, dim;
        add_input(&s, c[i].x, GC_IN_UNIFORM);
        s.axis = c[i].axis;
        dim = s.shape[0][s.axis < 0 ? s.axis + s.ndim[0] : s.axis];
        for (k = 0; k < GC_MAX_IDX; k++) /* spread over the axis; every third repeats */
            v[k] = k % 3 == 2 ? v[k - 1] : (5 * k + 2) % dim;
        set_idx(&s, c[i].index, v);
        run_spec(&s, st);
    }
}

/* rnn_scan: each cell (tanh, relu, LSTM, GRU) over 3 or 4 steps, forward and reversed, with
   an initial state and both biases (and c0 for the LSTM), and once without them. Inputs in
   the op's order: x [T,B,I], w_ih [G*H,I], w_hh [G*H,H], h0 [B,H], b_ih and b_hh [G*H], c0
   [B,H]. relu's inputs keep away from its kink; the sums that reach it are still random, but
   one within eps of 0 has a probability of about 1e-6. */
static void case_RNN_SCAN(gc_stats *st) {
    static const struct {
        int mode, reverse, n_in;
        const char *x, *w_ih, *w_hh, *label;
    } c[] = {{MDL_RNN_TANH, 0, 6, "[3,2,2]", "[3,2]", "[3,3]", "tanh, h0 and biases"},
             {MDL_RNN_TANH, 1, 6, "[3,2,2]", "[3,2]", "[3,3]", "tanh reversed"},
             {MDL_RNN_RELU, 0, 6, "[3,2,2]", "[3,2]", "[3,3]", "relu"},
             {MDL_RNN_RELU, 1, 3, "[4,1,3]", "[3,3]", "[3,3]", "relu reversed, no h0, biases"},
             {MDL_LSTM, 0, 7, "[3,2,2]", "[12,2]", "[12,3]", "LSTM, h0, biases, c0"},
             {MDL_LSTM, 1, 7, "[3,2,2]", "[12,2]", "[12,3]", "LSTM reversed"},
             {MDL_LSTM, 0, 3, "[4,2,3]", "[8,3]", "[8,2]", "LSTM, no h0, c0, biases"},
             {MDL_GRU, 0, 6, "[3,2,2]", "[9,2]", "[9,3]", "GRU, h0 and biases"},
             {MDL_GRU, 1, 6, "[3,2,2]", "[9,2]", "[9,3]", "GRU reversed"},
             {MDL_GRU, 0, 3, "[1,3,2]", "[6,2]", "[6,2]", "GRU, one step, no h0, biases"}};
    size_t i;
    for (i = 0; i < sizeof c / sizeof c[0]; i++) {
        gc_spec s = spec_new(MDL_OP_RNN_SCAN, GC_PRIMITIVE, c[i].label);
        char state[32], bias[32];
        int kind = c[i].mode == MDL_RNN_RELU ? GC_IN_AWAY0 : GC_IN_UNIFORM;
        s.axis = c[i].mode;
        s.start = c[i].reverse;
        add_input(&s, c[i].x, kind);
        add_input(&s, c[i].w_ih, kind);
        add_input(&s, c[i].w_hh, kind);
        if (c[i].n_in > 3) {
            snprintf(state, sizeof state, "[%d,%d]", s.shape[0][1], s.shape[2][1]);
            snprintf(bias, sizeof bias, "[%d]", s.shape[2][0]);
            add_input(&s, state, kind);
            add_input(&s, bias, kind);
            add_input(&s, bias, kind);
            if (c[i].n_in > 6) add_input(&s, state, kind);
        }
        run_spec(&s, st);
    }
}

/* attention_heads: 1 to 3 heads, Tq = Tk and Tq != Tk, causal, a scale of its own. Inputs
   q [B,Tq,E], k and v [B,Tk,E]. */
static void case_ATTENTION_HEADS(gc_stats *st) {
    static const struct {
        const char *q, *kv, *label;
        int heads, causal;
        double scale;
    } c[] = {{"[2,3,4]", "[2,3,4]", "2 heads of 2", 2, 0, 0},
             {"[2,3,4]", "[2,5,4]", "Tq 3, Tk 5, one head", 1, 0, 0},
             {"[1,4,6]", "[1,4,6]", "3 heads, causal", 3, 1, 0},
             {"[2,4,6]", "[2,3,6]", "causal, Tq 4 > Tk 3, scale 0.7", 2, 1, 0.7}};
    size_t i;
    for (i = 0; i < sizeof c / sizeof c[0]; i++) {
        gc_spec s = spec_new(MDL_OP_ATTENTION_HEADS, GC_PRIMITIVE, c[i].label);
        s.axis = c[i].heads;
        s.start = c[i].causal;
        s.p0 = c[i].scale;
        add_input(&s, c[i].q, GC_IN_UNIFORM);
        add_input(&s, c[i].kv, GC_IN_UNIFORM);
        add_input(&s, c[i].kv, GC_IN_UNIFORM);
        run_spec(&s, st);
    }
}

/* add_layer_norm: with and without the residual r, the weight and the bias; rows of 5 over
   one and two leading axes. */
static void case_ADD_LAYER_NORM(gc_stats *st) {
    static const struct {
        const char *x, *label;
        int which; /* bits: 1 r, 2 weight, 4 bias */
    } c[] = {{"[3,5]", "x + r, weight, bias", 7},
             {"[2,3,5]", "x alone", 0},
             {"[4,5]", "x + r", 1},
             {"[2,2,5]", "weight and bias, no r", 6}};
    size_t i;
    for (i = 0; i < sizeof c / sizeof c[0]; i++) {
        gc_spec s = spec_new(MDL_OP_ADD_LAYER_NORM, GC_PRIMITIVE, c[i].label);
        s.axis = c[i].which;
        s.p0 = 1e-5;
        add_input(&s, c[i].x, GC_IN_UNIFORM);
        if (c[i].which & 1) add_input(&s, c[i].x, GC_IN_UNIFORM);
        if (c[i].which & 2) add_input(&s, "[5]", GC_IN_UNIFORM);
        if (c[i].which & 4) add_input(&s, "[5]", GC_IN_UNIFORM);
        run_spec(&s, st);
    }
}

/* linear_act: out < in and out > in (the backward copies X or G transposed), with and
   without the bias, with and without ReLU (inputs away from its kink: the sums that reach it
   are random, one within eps of 0 unlikely), over one and two leading axes. */
static void case_LINEAR_ACT(gc_stats *st) {
    static const struct {
        const char *x, *w, *b, *label;
        int relu;
    } c[] = {{"[4,3]", "[5,3]", "[5]", "out 5 > in 3, bias", 0},
             {"[2,3,5]", "[2,5]", "[2]", "out 2 < in 5, [2,3,5], bias", 0},
             {"[3,4]", "[4,4]", NULL, "no bias", 0},
             {"[4,3]", "[5,3]", "[5]", "ReLU, out > in", 1},
             {"[2,2,4]", "[3,4]", "[3]", "ReLU, out < in", 1}};
    size_t i;
    for (i = 0; i < sizeof c / sizeof c[0]; i++) {
        gc_spec s = spec_new(MDL_OP_LINEAR_ACT, GC_PRIMITIVE, c[i].label);
        int kind = c[i].relu ? GC_IN_AWAY0 : GC_IN_UNIFORM;
        s.start = c[i].relu;
        s.sumlike = !c[i].relu;
        add_input(&s, c[i].x, kind);
        add_input(&s, c[i].w, kind);
        if (c[i].b) add_input(&s, c[i].b, kind);
        run_spec(&s, st);
    }
}

/* Convolution: stride, padding, dilation and groups each away from their defaults at least
   once, with and without a bias. Weights [O, C/G, KH, KW]; a non-square kernel catches a
   swapped KH/KW. */
static void case_CONV2D(gc_stats *st) {
    static const struct {
        const char *x, *w;
        int bias, stride, padding, dilation, groups;
        const char *label;
    } c[] = {{"[2,3,6,5]", "[4,3,3,2]", 1, 1, 0, 1, 1, "plain 3x2 kernel, bias"},
             {"[2,3,7,7]", "[2,3,3,3]", 0, 2, 1, 1, 1, "stride 2, padding 1, no bias"},
             {"[1,2,7,6]", "[3,2,2,3]", 1, 1, 2, 2, 1, "dilation 2, padding 2"},
             {"[2,4,5,5]", "[6,2,3,3]", 1, 2, 1, 1, 2, "groups 2, stride 2"},
             {"[3,2,4,4]", "[5,2,1,1]", 1, 1, 0, 1, 1, "1x1 kernel"}};
    size_t i;
    for (i = 0; i < sizeof c / sizeof c[0]; i++) {
        gc_spec s = spec_new(MDL_OP_CONV2D, GC_PRIMITIVE, c[i].label);
        char bias[16];
        add_input(&s, c[i].x, GC_IN_UNIFORM);
        add_input(&s, c[i].w, GC_IN_UNIFORM);
        if (c[i].bias) {
            snprintf(bias, sizeof bias, "[%d]", s.shape[1][0]);
            add_input(&s, bias, GC_IN_UNIFORM);
        }
        s.stride = c[i].stride;
        s.padding = c[i].padding;
        s.dilation = c[i].dilation;
        s.groups = c[i].groups;
        s.sumlike = 1;
        run_spec(&s, st);
    }
}

/* Pooling: kernel, stride (0 = the kernel), padding, dilation, the per-axis pairs, ceil_mode and
   exclude_padding, each away from its default at least once. Max pooling needs inputs without
   ties, and windows with at least one pixel of x (padding counts as -inf and never wins). */
typedef struct pool_gc {
    const char *x;
    int kernel, stride, padding, dilation;
    int kernel_hw[2], stride_hw[2], padding_hw[2], dilation_hw[2];
    int ceil_mode, exclude_padding;
    const char *label;
} pool_gc;

static void pool_cases(int op, int kind, const pool_gc *c, size_t n, gc_stats *st) {
    size_t i;
    for (i = 0; i < n; i++) {
        gc_spec s = spec_new(op, GC_PRIMITIVE, c[i].label);
        add_input(&s, c[i].x, kind);
        s.kernel = c[i].kernel;
        s.stride = c[i].stride;
        s.padding = c[i].padding;
        s.dilation = c[i].dilation;
        memcpy(s.kernel_hw, c[i].kernel_hw, sizeof s.kernel_hw);
        memcpy(s.stride_hw, c[i].stride_hw, sizeof s.stride_hw);
        memcpy(s.padding_hw, c[i].padding_hw, sizeof s.padding_hw);
        memcpy(s.dilation_hw, c[i].dilation_hw, sizeof s.dilation_hw);
        s.ceil_mode = c[i].ceil_mode;
        s.exclude_padding = c[i].exclude_padding;
        s.sumlike = op == MDL_OP_AVG_POOL2D;
        run_spec(&s, st);
    }
}

/* x, kernel, stride, padding, dilation, kernel_hw, stride_hw, padding_hw, dilation_hw,
   ceil_mode, exclude_padding, label */
static const pool_gc max_pool_gc[] = {
    {"[2,3,4,6]", 2, 0, 0, 0, {0, 0}, {0, 0}, {0, 0}, {0, 0}, 0, 0, "2x2, stride = kernel"},
    {"[1,2,7,5]", 3, 2, 1, 0, {0, 0}, {0, 0}, {0, 0}, {0, 0}, 0, 0, "3x3, stride 2, padding 1"},
    {"[2,1,5,5]", 3, 1, 0, 0, {0, 0}, {0, 0}, {0, 0}, {0, 0}, 0, 0, "3x3 overlapping, stride 1"},
    {"[1,2,7,6]", 0, 0, 0, 0, {3, 2}, {2, 1}, {1, 0}, {0, 0}, 0, 0,
     "kernel_hw 3,2, stride_hw 2,1, padding_hw 1,0"},
    {"[1,2,5,8]", 0, 0, 0, 0, {1, 4}, {0, 0}, {0, 2}, {0, 0}, 0, 0,
     "kernel_hw 1,4 (stride = kernel), padding_hw 0,2"},
    {"[1,2,7,7]", 3, 1, 1, 2, {0, 0}, {0, 0}, {0, 0}, {0, 0}, 0, 0,
     "3x3, dilation 2, padding 1"},
    {"[1,1,8,6]", 3, 2, 0, 0, {0, 0}, {0, 0}, {0, 0}, {2, 1}, 0, 0, "3x3, dilation_hw 2,1"},
    {"[1,2,7,5]", 2, 0, 0, 0, {0, 0}, {0, 0}, {0, 0}, {0, 0}, 1, 0,
     "2x2 ceil_mode: last row and column of windows cut"},
    {"[1,2,8,7]", 3, 2, 1, 0, {0, 0}, {0, 0}, {0, 0}, {0, 0}, 1, 0,
     "3x3, stride 2, padding 1, ceil_mode"},
    {"[1,1,5,6]", 2, 3, 1, 0, {0, 0}, {0, 0}, {0, 0}, {0, 0}, 1, 0,
     "ceil_mode dropping a window that would start in the padding"},
    {"[1,1,6,7]", 2, 2, 0, 2, {0, 0}, {0, 0}, {0, 0}, {0, 0}, 1, 0, "ceil_mode, dilation 2"}};

static const pool_gc avg_pool_gc[] = {
    {"[2,3,4,6]", 2, 0, 0, 0, {0, 0}, {0, 0}, {0, 0}, {0, 0}, 0, 0, "2x2, stride = kernel"},
    {"[1,2,7,5]", 3, 2, 1, 0, {0, 0}, {0, 0}, {0, 0}, {0, 0}, 0, 0, "3x3, stride 2, padding 1"},
    {"[2,1,5,5]", 3, 1, 0, 0, {0, 0}, {0, 0}, {0, 0}, {0, 0}, 0, 0, "3x3 overlapping, stride 1"},
    {"[1,2,7,6]", 0, 0, 0, 0, {3, 2}, {2, 1}, {1, 0}, {0, 0}, 0, 0,
     "kernel_hw 3,2, stride_hw 2,1, padding_hw 1,0"},
    {"[1,2,7,5]", 3, 2, 1, 0, {0, 0}, {0, 0}, {0, 0}, {0, 0}, 0, 1,
     "3x3, stride 2, padding 1, exclude_padding"},
    {"[1,2,7,5]", 2, 0, 0, 0, {0, 0}, {0, 0}, {0, 0}, {0, 0}, 1, 0, "2x2 ceil_mode"},
    {"[1,2,8,7]", 3, 2, 1, 0, {0, 0}, {0, 0}, {0, 0}, {0, 0}, 1, 0,
     "3x3, stride 2, padding 1, ceil_mode"},
    {"[1,2,8,7]", 3, 2, 1, 0, {0, 0}, {0, 0}, {0, 0}, {0, 0}, 1, 1,
     "3x3, stride 2, padding 1, ceil_mode, exclude_padding"},
    {"[1,1,5,6]", 4, 3, 2, 0, {0, 0}, {0, 0}, {0, 0}, {0, 0}, 1, 0,
     "4x4, stride 3, padding 2, ceil_mode: a window past the padded edge"},
    {"[1,2,6,9]", 0, 0, 0, 0, {2, 4}, {1, 3}, {1, 2}, {0, 0}, 1, 1,
     "per-axis pairs, ceil_mode, exclude_padding"}};

static void case_MAX_POOL2D(gc_stats *st) {
    pool_cases(MDL_OP_MAX_POOL2D, GC_IN_DISTINCT, max_pool_gc,
               sizeof max_pool_gc / sizeof max_pool_gc[0], st);
}
static void case_AVG_POOL2D(gc_stats *st) {
    pool_cases(MDL_OP_AVG_POOL2D, GC_IN_UNIFORM, avg_pool_gc,
               sizeof avg_pool_gc / sizeof avg_pool_gc[0], st);
}

/* Adaptive average pooling: output sizes that divide the input's and sizes that do not (the
   windows then differ in size and overlap), global pooling, and an output larger than x. */
static void case_ADAPTIVE_AVG_POOL2D(gc_stats *st) {
    static const struct { const char *x; int oh, ow; const char *label; } c[] = {
        {"[1,2,6,4]", 3, 2, "[6,4] -> [3,2]: sizes divide"},
        {"[2,2,8,9]", 5, 7, "[8,9] -> [5,7]: sizes do not divide"},
        {"[1,3,5,5]", 1, 1, "[5,5] -> [1,1]: global average"},
        {"[1,2,7,5]", 3, 5, "[7,5] -> [3,5]: one axis divides"},
        {"[1,1,3,4]", 5, 6, "[3,4] -> [5,6]: larger than x"}};
    size_t i;
    for (i = 0; i < sizeof c / sizeof c[0]; i++) {
        gc_spec s = spec_new(MDL_OP_ADAPTIVE_AVG_POOL2D, GC_PRIMITIVE, c[i].label);
        add_input(&s, c[i].x, GC_IN_UNIFORM);
        s.out_shape[0] = c[i].oh;
        s.out_shape[1] = c[i].ow;
        s.sumlike = 1;
        run_spec(&s, st);
    }
}

/* The fused losses. Every input of a spec is differentiated, so the elementwise losses check
   the target's gradient as well as the input's; class-index targets, weights and pos_weight
   are constants of the spec. Each loss runs with every reduction it takes. */
static void pair_loss_cases(int op, int kind_x, int kind_t, int log_target, gc_stats *st) {
    static const struct { const char *shape; int reduction; const char *label; } c[] = {
        {"[3,5]", MDL_NONE, "[3,5] none"},
        {"[2,3,4]", MDL_MEAN, "[2,3,4] mean"},
        {"[7]", MDL_SUM, "[7] sum"}};
    size_t i;
    for (i = 0; i < sizeof c / sizeof c[0]; i++) {
        gc_spec s = spec_new(op, GC_PRIMITIVE, c[i].label);
        s.reduction = c[i].reduction;
        s.log_target = log_target;
        add_input(&s, c[i].shape, kind_x);
        add_input(&s, c[i].shape, kind_t);
        run_spec(&s, st);
    }
}
static void case_BCE(gc_stats *st) { pair_loss_cases(MDL_OP_BCE, GC_IN_PROB, GC_IN_PROB, 0, st); }
static void case_BCE_WITH_LOGITS(gc_stats *st) {
    static const double pw[5] = {0.5, 1, 2, 3.5, 1.25};
    gc_spec s;
    pair_loss_cases(MDL_OP_BCE_WITH_LOGITS, GC_IN_UNIFORM, GC_IN_PROB, 0, st);
    s = spec_new(MDL_OP_BCE_WITH_LOGITS, GC_PRIMITIVE, "[3,5] pos_weight [5] none");
    s.reduction = MDL_NONE;
    s.n_w = 5;
    memcpy(s.w, pw, sizeof pw);
    add_input(&s, "[3,5]", GC_IN_UNIFORM);
    add_input(&s, "[3,5]", GC_IN_PROB);
    run_spec(&s, st);
    s.label = "[2,2,5] pos_weight [5] mean";
    s.reduction = MDL_MEAN;
    s.n_in = 0;
    add_input(&s, "[2,2,5]", GC_IN_UNIFORM);
    add_input(&s, "[2,2,5]", GC_IN_PROB);
    run_spec(&s, st);
}

/* Cross-entropy and nll: [N,C] and [N,C,d] inputs, with weights, ignore_index (out of range,
   and a class) and label smoothing, alone and together. */
static void class_loss_cases(int op, gc_stats *st) {
    static const struct {
        const char *x, *t;
        int n, idx[GC_MAX_IDX], n_w, ignore, ignore_index, reduction;
        double w[5], smoothing;
        const char *label;
    } c[] = {
        {"[4,5]", "[4]", 4, {0, 3, 4, 1}, 0, 0, 0, MDL_MEAN, {0}, 0, "[4,5] mean"},
        {"[4,5]", "[4]", 4, {2, 2, 0, 4}, 0, 0, 0, MDL_NONE, {0}, 0, "[4,5] none"},
        {"[4,5]", "[4]", 4, {1, 3, 0, 3}, 5, 0, 0, MDL_MEAN, {0.5, 2, 1, 3, 0.25}, 0,
         "weights, mean"},
        {"[5,3]", "[5]", 5, {1, -100, 2, 0, -100}, 0, 1, -100, MDL_MEAN, {0}, 0,
         "ignore_index -100, mean"},
        {"[5,3]", "[5]", 5, {1, 2, 2, 0, 1}, 3, 1, 2, MDL_SUM, {2, 0.5, 1.5}, 0,
         "weights, ignore_index 2 (a class), sum"},
        {"[4,5]", "[4]", 4, {0, 3, 4, 1}, 0, 0, 0, MDL_MEAN, {0}, 0.2, "smoothing 0.2, mean"},
        {"[5,4]", "[5]", 5, {3, 1, -1, 0, 3}, 4, 1, -1, MDL_MEAN, {1.5, 0.5, 2, 0.75}, 0.3,
         "smoothing 0.3, weights, ignore_index -1, mean"},
        {"[2,3,4]", "[2,4]", 8, {0, 2, 1, 1, 2, -100, 0, 1}, 3, 1, -100, MDL_MEAN,
         {0.5, 1.5, 1}, 0.1, "[N,C,d] smoothing, weights, ignore, mean"},
        {"[2,3,2,2]", "[2,2,2]", 8, {2, 0, 1, 1, 0, 2, 2, 1}, 0, 0, 0, MDL_NONE, {0}, 0,
         "[N,C,d1,d2] none"},
        {"[6]", "[]", 1, {4}, 0, 0, 0, MDL_MEAN, {0}, 0.1, "one sample [C], smoothing"}};
    size_t i;
    for (i = 0; i < sizeof c / sizeof c[0]; i++) {
        gc_spec s;
        if (op == MDL_OP_NLL_LOSS && c[i].smoothing != 0) continue; // nll has none
        s = spec_new(op, GC_PRIMITIVE, c[i].label);
        add_input(&s, c[i].x, GC_IN_UNIFORM);
        add_input(&s, c[i].t, GC_IN_UNIFORM); // only for its shape: removed below
        s.tgt_ndim = s.ndim[1];
        memcpy(s.tgt_shape, s.shape[1], sizeof s.tgt_shape);
        s.n_in = 1;
        s.n_idx = c[i].n;
        memcpy(s.idx, c[i].idx, sizeof s.idx);
        s.n_w = c[i].n_w;
        memcpy(s.w, c[i].w, sizeof c[i].w);
        s.ignore = c[i].ignore;
        s.ignore_index = c[i].ignore_index;
        s.reduction = c[i].reduction;
        s.smoothing = c[i].smoothing;
        run_spec(&s, st);
    }
}
static void case_CROSS_ENTROPY(gc_stats *st) { class_loss_cases(MDL_OP_CROSS_ENTROPY, st); }
static void case_NLL_LOSS(gc_stats *st) { class_loss_cases(MDL_OP_NLL_LOSS, st); }
static void case_KL_DIV(gc_stats *st) {
    gc_spec s;
    pair_loss_cases(MDL_OP_KL_DIV, GC_IN_UNIFORM, GC_IN_POS, 0, st);
    pair_loss_cases(MDL_OP_KL_DIV, GC_IN_UNIFORM, GC_IN_UNIFORM, 1, st);
    s = spec_new(MDL_OP_KL_DIV, GC_PRIMITIVE, "[3,5] batchmean");
    s.reduction = MDL_BATCHMEAN;
    add_input(&s, "[3,5]", GC_IN_UNIFORM);
    add_input(&s, "[3,5]", GC_IN_POS);
    run_spec(&s, st);
}

/* ---- the table: one row per op in MDL_OPS -------------------------------------------------- */

typedef struct op_case {
    mdl_op op;
    const char *fn; /* the public function's name, from MDL_OPS */
    void (*run)(gc_stats *st);
} op_case;

// A missing case_<NAME> is an undeclared identifier here: the build stops.
#define GC_CASE_ROW(name, fn, backward) {MDL_OP_##name, fn, case_##name},
static const op_case op_cases[] = {MDL_OPS(GC_CASE_ROW)};
#undef GC_CASE_ROW

/* ---- composites and a small network ------------------------------------------------------- */

static void run_composites(void) {
    static const struct { const char *shape; int a0, a1, corr, keep; const char *label; } var[] = {
        {"[3,5]", 1, 0, 0, 0, "axis 1 correction 0"},
        {"[3,5]", 1, 0, 1, 0, "axis 1 correction 1"},
        {"[3,5]", 0, 0, 1, 1, "axis 0 correction 1 keepdim"},
        {"[2,3,4]", -1, 0, 0, 1, "axis -1 correction 0 keepdim"},
        {"[2,3,4]", MDL_ALL, 0, 1, 0, "MDL_ALL correction 1"},
        {"[2,3,4]", MDL_ALL, 0, 0, 0, "MDL_ALL correction 0"}};
    static const struct {
        const char *shape;
        int n, axes[3], corr, keep;
        const char *label;
    } axes[] = {
        {"[4,3,2,2]", 3, {0, 2, 3}, 0, 1, "BatchNorm's {0,2,3} keepdim, correction 0"},
        {"[4,3,2,2]", 3, {0, -2, -1}, 1, 0, "{0,-2,-1}, correction 1"},
        {"[2,3,4]", 2, {-1, 0}, 1, 1, "{-1,0} keepdim, correction 1"},
        {"[3,5]", 1, {0}, 0, 0, "{0}, correction 0"}};
    static const struct { const char *x, *mask; int v[12]; const char *label; } masks[] = {
        {"[3,4]", "[3,1]", {1, 0, 1}, "mask [3,1]"},
        {"[2,3,4]", "[4]", {0, 1, 1, 0}, "mask [4]"},
        {"[3,4]", "[3,4]", {0, 0, 1, 0, 1, 1, 0, 0, 0, 1, 0, 1}, "mask of x's shape"}};
    static const struct { const char *x; int n, r[4]; const char *label; } reps[] = {
        {"[2,3]", 3, {2, 1, 2}, "[2,3] by {2,1,2}"},
        {"[3]", 2, {2, 3}, "[3] by {2,3}"},
        {"[2,1,3]", 3, {1, 3, 2}, "[2,1,3] by {1,3,2}"},
        {"[2,2]", 2, {2, 0}, "a repeat of 0"}};
    static const struct {
        const char *x;
        int axis, n, sizes[3], chunks;
        const char *label;
    } cuts[] = {
        {"[5,3]", 0, 3, {2, 0, 3}, 4, "axis 0"},
        {"[3,7]", 1, 2, {3, 4}, 3, "axis 1"},
        {"[2,6,2]", -2, 3, {1, 1, 4}, 3, "axis -2 of 3-D"}};
    gc_stats st;
    gc_spec s;
    size_t i;

#define GC_REPORT(comp) print_stats(composite_names[comp], &st)

    memset(&st, 0, sizeof st);
    s = spec_new(0, GC_NEG, "[3,5]");
    add_input(&s, "[3,5]", GC_IN_UNIFORM);
    run_spec(&s, &st);
    GC_REPORT(GC_NEG);

    memset(&st, 0, sizeof st);
    s = spec_new(0, GC_SUB_SCALAR, "s=0.3");
    s.p0 = 0.3;
    add_input(&s, "[2,3,4]", GC_IN_UNIFORM);
    run_spec(&s, &st);
    GC_REPORT(GC_SUB_SCALAR);

    memset(&st, 0, sizeof st);
    s = spec_new(0, GC_DIV_SCALAR, "s=-2.5");
    s.p0 = -2.5;
    add_input(&s, "[3,5]", GC_IN_UNIFORM);
    run_spec(&s, &st);
    GC_REPORT(GC_DIV_SCALAR);

    memset(&st, 0, sizeof st);
    reduce_cases(0, GC_MEAN, GC_IN_UNIFORM, &st);
    GC_REPORT(GC_MEAN);

    memset(&st, 0, sizeof st);
    for (i = 0; i < sizeof var / sizeof var[0]; i++) {
        s = spec_new(0, GC_VAR, var[i].label);
        s.axis = var[i].a0;
        s.correction = var[i].corr;
        s.keepdim = var[i].keep;
        add_input(&s, var[i].shape, GC_IN_UNIFORM);
        run_spec(&s, &st);
    }
    GC_REPORT(GC_VAR);

    memset(&st, 0, sizeof st);
    s = spec_new(0, GC_TRANSPOSE, "axes 0,1");
    add_input(&s, "[3,5]", GC_IN_UNIFORM);
    s.axis = 0;
    s.axis1 = 1;
    run_spec(&s, &st);
    s = spec_new(0, GC_TRANSPOSE, "axes 0,-1 of 3-D");
    add_input(&s, "[2,3,4]", GC_IN_UNIFORM);
    s.axis = 0;
    s.axis1 = -1;
    run_spec(&s, &st);
    GC_REPORT(GC_TRANSPOSE);

    memset(&st, 0, sizeof st);
    s = spec_new(0, GC_FLATTEN, "axes 1..-1");
    add_input(&s, "[2,3,4]", GC_IN_UNIFORM);
    s.axis = 1;
    s.axis1 = -1;
    run_spec(&s, &st);
    s = spec_new(0, GC_FLATTEN, "axes 0..1");
    add_input(&s, "[2,3,4]", GC_IN_UNIFORM);
    s.axis = 0;
    s.axis1 = 1;
    run_spec(&s, &st);
    GC_REPORT(GC_FLATTEN);

    memset(&st, 0, sizeof st);
    s = spec_new(0, GC_SQUEEZE_UNSQUEEZE, "squeeze 1, unsqueeze 0");
    add_input(&s, "[3,1,5]", GC_IN_UNIFORM);
    s.axis = 1;
    s.axis1 = 0;
    run_spec(&s, &st);
    s = spec_new(0, GC_SQUEEZE_UNSQUEEZE, "squeeze 0, unsqueeze -1");
    add_input(&s, "[1,3,5]", GC_IN_UNIFORM);
    s.axis = 0;
    s.axis1 = -1;
    run_spec(&s, &st);
    GC_REPORT(GC_SQUEEZE_UNSQUEEZE);

    memset(&st, 0, sizeof st);
    s = spec_new(0, GC_STACK, "3 along axis 1");
    add_input(&s, "[3,4]", GC_IN_UNIFORM);
    add_input(&s, "[3,4]", GC_IN_UNIFORM);
    add_input(&s, "[3,4]", GC_IN_UNIFORM);
    s.axis = 1;
    run_spec(&s, &st);
    s = spec_new(0, GC_STACK, "2 along axis 0");
    add_input(&s, "[2,3]", GC_IN_UNIFORM);
    add_input(&s, "[2,3]", GC_IN_UNIFORM);
    s.axis = 0;
    run_spec(&s, &st);
    s = spec_new(0, GC_STACK, "3 along axis -1");
    add_input(&s, "[3,5]", GC_IN_UNIFORM);
    add_input(&s, "[3,5]", GC_IN_UNIFORM);
    add_input(&s, "[3,5]", GC_IN_UNIFORM);
    s.axis = -1;
    run_spec(&s, &st);
    GC_REPORT(GC_STACK);

    memset(&st, 0, sizeof st);
    s = spec_new(0, GC_SQUARE, "x used twice");
    add_input(&s, "[3,5]", GC_IN_UNIFORM);
    run_spec(&s, &st);
    GC_REPORT(GC_SQUARE);

    memset(&st, 0, sizeof st);
    s = spec_new(0, GC_CONCAT_REUSE, "x used twice, axis 1");
    add_input(&s, "[3,2]", GC_IN_UNIFORM);
    add_input(&s, "[3,3]", GC_IN_UNIFORM);
    run_spec(&s, &st);
    GC_REPORT(GC_CONCAT_REUSE);

    memset(&st, 0, sizeof st);
    s = spec_new(0, GC_MLP, "tanh, log_softmax, sum");
    add_input(&s, "[3,5]", GC_IN_UNIFORM); // x
    add_input(&s, "[5,4]", GC_IN_UNIFORM); // W1
    add_input(&s, "[4]", GC_IN_UNIFORM);   // b1
    add_input(&s, "[4,3]", GC_IN_UNIFORM); // W2
    add_input(&s, "[3]", GC_IN_UNIFORM);   // b2
    run_spec(&s, &st);
    GC_REPORT(GC_MLP);

    memset(&st, 0, sizeof st);
    s = spec_new(0, GC_CONV1D, "stride 2, padding 1, dilation 2, groups 2, bias");
    add_input(&s, "[2,4,9]", GC_IN_UNIFORM); // x [B,C,L]
    add_input(&s, "[4,2,3]", GC_IN_UNIFORM); // w [O,C/G,K]
    add_input(&s, "[4]", GC_IN_UNIFORM);     // bias
    s.stride = 2;
    s.padding = 1;
    s.dilation = 2;
    s.groups = 2;
    s.sumlike = 1;
    run_spec(&s, &st);
    GC_REPORT(GC_CONV1D);

    memset(&st, 0, sizeof st);
    s = spec_new(0, GC_RSUB_SCALAR, "s=0.8");
    s.p0 = 0.8;
    add_input(&s, "[2,3,4]", GC_IN_UNIFORM);
    run_spec(&s, &st);
    GC_REPORT(GC_RSUB_SCALAR);

    memset(&st, 0, sizeof st);
    for (i = 0; i < sizeof axes / sizeof axes[0]; i++) {
        s = spec_new(0, GC_MEAN_AXES, axes[i].label);
        add_input(&s, axes[i].shape, GC_IN_UNIFORM);
        set_list(&s, axes[i].n, axes[i].axes);
        s.keepdim = axes[i].keep;
        s.sumlike = 1;
        run_spec(&s, &st);
    }
    GC_REPORT(GC_MEAN_AXES);

    memset(&st, 0, sizeof st);
    for (i = 0; i < sizeof axes / sizeof axes[0]; i++) {
        s = spec_new(0, GC_VAR_AXES, axes[i].label);
        add_input(&s, axes[i].shape, GC_IN_UNIFORM);
        set_list(&s, axes[i].n, axes[i].axes);
        s.keepdim = axes[i].keep;
        s.correction = axes[i].corr;
        run_spec(&s, &st);
    }
    GC_REPORT(GC_VAR_AXES);

    memset(&st, 0, sizeof st);
    for (i = 0; i < sizeof masks / sizeof masks[0]; i++) {
        s = spec_new(0, GC_MASKED_FILL, masks[i].label);
        add_input(&s, masks[i].x, GC_IN_UNIFORM);
        set_idx(&s, masks[i].mask, masks[i].v);
        s.p0 = -5;
        run_spec(&s, &st);
    }
    GC_REPORT(GC_MASKED_FILL);

    memset(&st, 0, sizeof st);
    s = spec_new(0, GC_WHERE_GT, "same shape");
    add_input(&s, "[3,5]", GC_IN_GRID_A);
    add_input(&s, "[3,5]", GC_IN_GRID_B);
    run_spec(&s, &st);
    s = spec_new(0, GC_WHERE_GT, "[3,4] with [4]");
    add_input(&s, "[3,4]", GC_IN_GRID_A);
    add_input(&s, "[4]", GC_IN_GRID_B);
    run_spec(&s, &st);
    GC_REPORT(GC_WHERE_GT);

    memset(&st, 0, sizeof st);
    for (i = 0; i < sizeof reps / sizeof reps[0]; i++) {
        s = spec_new(0, GC_REPEAT, reps[i].label);
        add_input(&s, reps[i].x, GC_IN_UNIFORM);
        set_list(&s, reps[i].n, reps[i].r);
        run_spec(&s, &st);
    }
    GC_REPORT(GC_REPEAT);

    memset(&st, 0, sizeof st);
    for (i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        s = spec_new(0, GC_SPLIT, cuts[i].label);
        add_input(&s, cuts[i].x, GC_IN_UNIFORM);
        s.axis = cuts[i].axis;
        set_list(&s, cuts[i].n, cuts[i].sizes);
        run_spec(&s, &st);
    }
    GC_REPORT(GC_SPLIT);

    memset(&st, 0, sizeof st);
    for (i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        s = spec_new(0, GC_CHUNK, cuts[i].label);
        add_input(&s, cuts[i].x, GC_IN_UNIFORM);
        s.axis = cuts[i].axis;
        s.chunks = cuts[i].chunks;
        run_spec(&s, &st);
    }
    GC_REPORT(GC_CHUNK);

    /* 1-D pooling: x [B,C,L] through the 2-D ops; kernel, stride, padding, dilation, ceil */
    {
        static const struct {
            int comp, kind, kernel, stride, padding, dilation, ceil_mode, exclude;
            const char *label;
        } p1[] = {{GC_MAX_POOL1D, GC_IN_DISTINCT, 3, 2, 1, 0, 1, 0, "k3 s2 p1 ceil_mode"},
                  {GC_MAX_POOL1D, GC_IN_DISTINCT, 2, 1, 0, 3, 0, 0, "k2 s1 dilation 3"},
                  {GC_MAX_POOL1D, GC_IN_DISTINCT, 2, 0, 0, 0, 0, 0, "k2, stride = kernel"},
                  {GC_AVG_POOL1D, GC_IN_UNIFORM, 3, 0, 0, 0, 0, 0, "k3, stride = kernel"},
                  {GC_AVG_POOL1D, GC_IN_UNIFORM, 4, 3, 2, 0, 1, 0, "k4 s3 p2 ceil_mode"},
                  {GC_AVG_POOL1D, GC_IN_UNIFORM, 4, 3, 2, 0, 1, 1,
                   "k4 s3 p2 ceil_mode exclude_padding"}};
        int comp;
        for (comp = GC_MAX_POOL1D; comp <= GC_AVG_POOL1D; comp++) {
            memset(&st, 0, sizeof st);
            for (i = 0; i < sizeof p1 / sizeof p1[0]; i++) {
                if (p1[i].comp != comp) continue;
                s = spec_new(0, comp, p1[i].label);
                add_input(&s, "[2,3,9]", p1[i].kind);
                s.kernel = p1[i].kernel;
                s.stride = p1[i].stride;
                s.padding = p1[i].padding;
                s.dilation = p1[i].dilation;
                s.ceil_mode = p1[i].ceil_mode;
                s.exclude_padding = p1[i].exclude;
                s.sumlike = comp == GC_AVG_POOL1D;
                run_spec(&s, &st);
            }
            GC_REPORT(comp);
        }
    }
#undef GC_REPORT
}

/* ---- the checker checks itself -------------------------------------------------------------- */

/* f(x) = x * detach(x): the true derivative is 2x, but backward sees only the first factor and
   gives x. mdl_gradcheck must catch it, or a passing gradcheck above would mean nothing. */
static mdl_tensor *wrong_grad_fn(mdl_arena *ar, mdl_tensor *const *inputs, void *user) {
    (void)user;
    return mdl_mul(ar, inputs[0], mdl_detach(ar, inputs[0]));
}

static void check_gradcheck_catches_errors(void) {
    static const int shape[2] = {3, 5};
    mdl_tensor *x = mdl_rand(arena, &rng, 2, shape, 0.5, 2);
    mdl_gradcheck_report rep;
    int ok;
    memset(&rep, 0, sizeof rep);
    mdl_set_requires_grad(x, 1);
    ok = mdl_gradcheck(wrong_grad_fn, NULL, 1, &x, GC_EPS, GC_ATOL, GC_RTOL, &rep);
    CHECK(ok == 0, "mdl_gradcheck passed a wrong gradient");
    CHECK(rep.checked == 15 && rep.failed == 15,
          "wrong gradient: checked %zu failed %zu, want 15 and 15", rep.checked, rep.failed);
    CHECK(rep.worst_input == 0 && rep.max_abs_err > 0.4,
          "wrong gradient: worst input %d, max error %g (want input 0 and > 0.4)",
          rep.worst_input, rep.max_abs_err);
    mdl_arena_reset(arena);
}

/* An intermediate t that many ops read, whose gradient buffer is new at the first op that
   backward reaches: the ops that store their gradient on the first visit (relu, sigmoid,
   tanh, exp, add_scalar, mul_scalar; add, sub, mul, div of one shape; matmul) and those that
   add into a zeroed one, in one graph, with x * x and w @ w (an input twice) and a batched
   matmul whose A is broadcast over the batch (its matrices written more than once). */
static mdl_tensor *shared_fn(mdl_arena *ar, mdl_tensor *const *in, void *user) {
    mdl_tensor *x = in[0], *w = in[1], *w3 = in[2], *t, *u, *m, *q, *z;
    const int s3114[4] = {3, 1, 1, 4};
    (void)user;
    t = mdl_mul_scalar(ar, x, 1.5);
    u = mdl_add(ar, mdl_relu(ar, t), mdl_mul(ar, mdl_sigmoid(ar, t), mdl_tanh(ar, t)));
    u = mdl_sub(ar, u, mdl_div(ar, mdl_exp(ar, mdl_mul_scalar(ar, t, 0.3)),
                               mdl_add_scalar(ar, mdl_mul(ar, t, t), 2)));
    u = mdl_add(ar, u, mdl_sub(ar, t, mdl_softplus(ar, t, 1, 20))); /* softplus: adds */
    m = mdl_matmul(ar, t, w);
    q = mdl_matmul(ar, w, w);
    z = mdl_matmul(ar, mdl_reshape(ar, t, 4, s3114), w3); /* [3,1,1,4] @ [2,4,4]: [3,2,1,4] */
    return mdl_add(ar, mdl_add(ar, mdl_sum(ar, u, MDL_ALL, 0), mdl_sum(ar, mdl_mul(ar, m, m),
                                                                          MDL_ALL, 0)),
                   mdl_add(ar, mdl_sum(ar, q, MDL_ALL, 0), mdl_sum(ar, mdl_tanh(ar, z), MDL_ALL, 0)));
}

static void check_shared_intermediate(void) {
    const int s34[2] = {3, 4}, s44[2] = {4, 4}, s244[3] = {2, 4, 4};
    mdl_tensor *in[3];
    mdl_gradcheck_report rep;
    size_t i;
    int ok;
    in[0] = mdl_rand(arena, &rng, 2, s34, -1, 1);
    in[1] = mdl_rand(arena, &rng, 2, s44, -0.5, 0.5);
    in[2] = mdl_rand(arena, &rng, 3, s244, -0.5, 0.5);
    for (i = 0; i < in[0]->numel; i++) /* away from relu's kink at 0 */
        in[0]->data[i] += in[0]->data[i] < 0 ? -0.2 : 0.2;
    for (i = 0; i < 3; i++) mdl_set_requires_grad(in[i], 1);
    memset(&rep, 0, sizeof rep);
    ok = mdl_gradcheck(shared_fn, NULL, 3, in, GC_EPS, GC_ATOL, GC_RTOL, &rep);
    CHECK(ok == 1 && rep.failed == 0 && rep.checked == 12 + 16 + 32,
          "an intermediate read by stores and adds: checked %zu, failed %zu, worst error %g",
          rep.checked, rep.failed, rep.max_abs_err);
    printf("  shared intermediate (first-visit stores and adds): %zu checked, worst error %.2g\n",
           rep.checked, rep.max_abs_err);
    mdl_arena_reset(arena);
}

int main(void) {
    size_t i;
    int ran = 0;

    capture_errors(); // a contract error fails a check instead of aborting the whole run
    mdl_rng_seed(&rng, 20240611);
    arena = mdl_arena_new(0);
    CHECK(arena != NULL, "mdl_arena_new failed");
    if (!arena) return test_summary();

    printf("gradcheck in double (eps %g, atol %g, rtol %g); forward vs float32\n", GC_EPS,
           GC_ATOL, GC_RTOL);
    CHECK(sizeof op_cases / sizeof op_cases[0] == (size_t)MDL_OP_COUNT,
          "the table has %zu rows for %d ops", sizeof op_cases / sizeof op_cases[0],
          (int)MDL_OP_COUNT);
    for (i = 0; i < sizeof op_cases / sizeof op_cases[0]; i++) {
        gc_stats st;
        const char *name = mdl_op_name(op_cases[i].op);
        memset(&st, 0, sizeof st);
        CHECK((size_t)op_cases[i].op == i, "row %zu holds op %d", i, (int)op_cases[i].op);
        CHECK(name && strcmp(name, op_cases[i].fn) == 0, "mdl_op_name(%d) is \"%s\", want \"%s\"",
              (int)i, name ? name : "(null)", op_cases[i].fn);
        op_cases[i].run(&st);
        CHECK(st.cases > 0, "%s: no case ran", op_cases[i].fn);
        if (st.cases > 0) ran++;
        print_stats(op_cases[i].fn, &st);
    }
    CHECK(ran == MDL_OP_COUNT, "%d op cases ran, MDL_OP_COUNT is %d", ran, (int)MDL_OP_COUNT);
    printf("composites:\n");
    run_composites();
    check_shared_intermediate();
    check_gradcheck_catches_errors();
    CHECK(captured_count == 0, "%d contract error(s), the last: %s", captured_count,
          captured_message);

    mdl_arena_free(arena);
    return test_summary();
}
