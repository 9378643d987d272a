/* tests/test_ops.c - the values of the ops that layers and losses need, beyond what the
   gradient check shows: comparisons (1 and 0, NaN, no tape), where and masked_fill (a NaN in
   the branch not taken stays out), minimum at ties and NaN, the stable forms (log1p, expm1,
   softplus, logsigmoid, logsumexp) far out where the naive formulas overflow or round to 0,
   gelu_tanh against its formula, sums over several axes, split and chunk (sizes, views),
   expand and repeat, gather (PyTorch's documented example), and index tensors that never get
   a gradient. Expected values are worked out by hand or in double here. Runs in the float
   build, as programs do.

   gcc -std=c99 -O1 -g -Wall -Wextra -Wpedantic -Werror -I. tests/test_ops.c -o build/test_ops -lm
*/
#define MINIDL_IMPLEMENTATION
#include "minidl.h"
#include "test.h"

#include <float.h>
#include <stdlib.h>

/* A tensor from a shape written as "[2,3]" ("[]" for a scalar) and its values, row-major. */
static mdl_tensor *make(mdl_arena *ar, const char *shape, const mdl_scalar *values) {
    int nd = 0, sizes[MDL_MAX_DIMS];
    const char *p = shape + 1;
    while (*p && *p != ']') {
        char *end;
        sizes[nd++] = (int)strtol(p, &end, 10);
        p = (*end == ',') ? end + 1 : end;
    }
    return mdl_from_array(ar, nd, sizes, values);
}

/* The same, requiring grad. */
static mdl_tensor *leaf(mdl_arena *ar, const char *shape, const mdl_scalar *values) {
    mdl_tensor *t = make(ar, shape, values);
    mdl_set_requires_grad(t, 1);
    return t;
}

/* Is t's shape the one written as "[2,3]"? */
static int has_shape(const mdl_tensor *t, const char *want) {
    char buf[96];
    return t && strcmp(mdl_shape_str(t, buf, sizeof buf), want) == 0;
}

/* Every value of t against want[], within tol (NaN matches NaN, inf matches inf). */
static void check_values(const mdl_tensor *t, const double *want, size_t n, double tol,
                         const char *what) {
    size_t i;
    CHECK(t != NULL && t->numel == n, "%s: %zu values, want %zu", what, t ? t->numel : 0, n);
    if (!t || t->numel != n) return;
    for (i = 0; i < n; i++) {
        double got = (double)t->data[i];
        int ok = (got != got && want[i] != want[i]) || got == want[i] ||
                 fabs(got - want[i]) <= tol * (1 + fabs(want[i]));
        CHECK(ok, "%s: element %zu is %.9g, want %.9g", what, i, got, want[i]);
    }
}

static void check_grad(const mdl_tensor *t, const double *want, size_t n, double tol,
                       const char *what) {
    size_t i;
    CHECK(t != NULL && t->grad != NULL, "%s: no gradient", what);
    if (!t || !t->grad) return;
    for (i = 0; i < n; i++)
        CHECK(fabs((double)t->grad[i] - want[i]) <= tol * (1 + fabs(want[i])),
              "%s: gradient %zu is %.9g, want %.9g", what, i, (double)t->grad[i], want[i]);
}

static mdl_tensor *sum_all(mdl_arena *ar, mdl_tensor *t) { return mdl_sum(ar, t, MDL_ALL, 0); }

static void test_comparisons(mdl_arena *ar) {
    const mdl_scalar nan = (mdl_scalar)NAN;
    const mdl_scalar av[6] = {1, 2, 3, 4, 5, nan}, bv[3] = {2, 2, nan};
    const mdl_scalar xv[4] = {-1, 0, 2, nan};
    static const double eq[6] = {0, 1, 0, 0, 0, 0}, ne[6] = {1, 0, 1, 1, 1, 1};
    static const double lt[6] = {1, 0, 0, 0, 0, 0}, le[6] = {1, 1, 0, 0, 0, 0};
    static const double gt[6] = {0, 0, 0, 1, 1, 0}, ge[6] = {0, 1, 0, 1, 1, 0};
    mdl_tensor *a = leaf(ar, "[2,3]", av), *b = make(ar, "[3]", bv), *x = leaf(ar, "[4]", xv);
    mdl_tensor *r[6];
    int k;
    CHECK(a && b && x, "setup");
    if (!(a && b && x)) return;
    r[0] = mdl_eq(ar, a, b);
    r[1] = mdl_ne(ar, a, b);
    r[2] = mdl_lt(ar, a, b);
    r[3] = mdl_le(ar, a, b);
    r[4] = mdl_gt(ar, a, b);
    r[5] = mdl_ge(ar, a, b);
    check_values(r[0], eq, 6, 0, "eq [2,3] with [3]");
    check_values(r[1], ne, 6, 0, "ne (true wherever a NaN is)");
    check_values(r[2], lt, 6, 0, "lt");
    check_values(r[3], le, 6, 0, "le");
    check_values(r[4], gt, 6, 0, "gt");
    check_values(r[5], ge, 6, 0, "ge");
    for (k = 0; k < 6; k++) {
        CHECK(has_shape(r[k], "[2,3]"), "comparison %d: shape", k);
        /* a requires grad, yet a comparison records nothing and needs no gradient */
        CHECK(r[k] && r[k]->requires_grad == 0 && r[k]->node == NULL,
              "comparison %d requires grad or has a tape node", k);
    }
    {
        static const double eqs[4] = {0, 1, 0, 0}, nes[4] = {1, 0, 1, 1};
        static const double lts[4] = {1, 0, 0, 0}, les[4] = {1, 1, 0, 0};
        static const double gts[4] = {0, 0, 1, 0}, ges[4] = {0, 1, 1, 0};
        mdl_tensor *y = mdl_gt_scalar(ar, x, 0);
        check_values(mdl_eq_scalar(ar, x, 0), eqs, 4, 0, "eq_scalar 0");
        check_values(mdl_ne_scalar(ar, x, 0), nes, 4, 0, "ne_scalar 0");
        check_values(mdl_lt_scalar(ar, x, 0), lts, 4, 0, "lt_scalar 0");
        check_values(mdl_le_scalar(ar, x, 0), les, 4, 0, "le_scalar 0");
        check_values(y, gts, 4, 0, "gt_scalar 0");
        check_values(mdl_ge_scalar(ar, x, 0), ges, 4, 0, "ge_scalar 0");
        CHECK(has_shape(y, "[4]") && y->requires_grad == 0 && y->node == NULL,
              "gt_scalar: shape, requires_grad or node");
    }
}

static void test_where(mdl_arena *ar) {
    const mdl_scalar cv[2] = {1, 0}, av[3] = {1, 2, 3}, bv[1] = {7};
    const mdl_scalar xv[4] = {-1, 0.5f, 4, 9}, zero[1] = {0};
    const mdl_scalar inf = (mdl_scalar)INFINITY, nan = (mdl_scalar)NAN;
    const mdl_scalar c2[2] = {1, 0}, a2[2] = {1, inf}, b2[2] = {nan, 2};
    static const double want[6] = {1, 2, 3, 7, 7, 7}, ga[3] = {1, 1, 1}, gb[1] = {3};
    mdl_tensor *cond = make(ar, "[2,1]", cv), *a = leaf(ar, "[3]", av), *b = leaf(ar, "[]", bv);
    mdl_tensor *x = leaf(ar, "[4]", xv), *z = make(ar, "[]", zero), *y;
    CHECK(cond && a && b && x && z, "setup");
    if (!(cond && a && b && x && z)) return;

    /* cond [2,1], a [3], b a scalar -> [2,3]; a's gradient sums row 0, b's row 1 */
    y = mdl_where(ar, cond, a, b);
    CHECK(has_shape(y, "[2,3]"), "where: shape");
    check_values(y, want, 6, 0, "where [2,1] [3] []");
    CHECK(y && mdl_backward(sum_all(ar, y)) == MDL_OK, "where: backward");
    check_grad(a, ga, 3, 0, "where: da");
    check_grad(b, gb, 1, 0, "where: db");

    /* the branch not taken may hold NaN or inf: neither reaches the result or a gradient */
    {
        mdl_tensor *c = make(ar, "[2]", c2), *p = leaf(ar, "[2]", a2), *q = leaf(ar, "[2]", b2);
        static const double w[2] = {1, 2}, g1[2] = {1, 0}, g2[2] = {0, 1};
        y = mdl_where(ar, c, p, q);
        check_values(y, w, 2, 0, "where with NaN and inf not taken");
        CHECK(y && mdl_backward(sum_all(ar, y)) == MDL_OK, "where NaN: backward");
        check_grad(p, g1, 2, 0, "where NaN: da");
        check_grad(q, g2, 2, 0, "where NaN: db");
    }

    /* where(x > 0, log(x), 0): log(-1) is NaN but not taken; for x != 0 the gradient is
       finite (1/x where taken, -0 from log's backward where not) */
    {
        static const double w[4] = {0, -0.69314718, 1.38629436, 2.19722458};
        static const double g[4] = {0, 2, 0.25, 0.11111111};
        y = mdl_where(ar, mdl_gt_scalar(ar, x, 0), mdl_log(ar, x), z);
        check_values(y, w, 4, 1e-6, "where(x > 0, log(x), 0)");
        CHECK(y && mdl_backward(sum_all(ar, y)) == MDL_OK, "where log: backward");
        check_grad(x, g, 4, 1e-6, "where(x > 0, log(x), 0): dx");
    }
}

static void test_masked_fill(mdl_arena *ar) {
    const mdl_scalar xv[6] = {1, 2, 3, 4, 5, 6}, mv[3] = {0, 1, 0};
    static const double want[6] = {1, -100, 3, 4, -100, 6}, g[6] = {1, 0, 1, 1, 0, 1};
    mdl_tensor *x = leaf(ar, "[2,3]", xv), *mask = make(ar, "[3]", mv), *y;
    CHECK(x && mask, "setup");
    if (!(x && mask)) return;
    y = mdl_masked_fill(ar, x, mask, -100);
    CHECK(has_shape(y, "[2,3]"), "masked_fill: shape");
    check_values(y, want, 6, 0, "masked_fill mask [3]");
    CHECK(y && mdl_backward(sum_all(ar, y)) == MDL_OK, "masked_fill: backward");
    check_grad(x, g, 6, 0, "masked_fill: dx only where mask == 0");
    {   /* -inf, as attention masks use; exp of it is 0 in the softmax that follows */
        const mdl_scalar upper[4] = {0, 1, 0, 0}, sv[4] = {0.5f, 0.25f, 1, 2};
        mdl_tensor *s = make(ar, "[2,2]", sv), *m = make(ar, "[2,2]", upper);
        mdl_tensor *p = mdl_softmax(ar, mdl_masked_fill(ar, s, m, -(mdl_scalar)INFINITY), -1);
        CHECK(p && p->data[0] == 1 && p->data[1] == 0, "causal mask: row 0 is %g %g",
              p ? (double)p->data[0] : -1.0, p ? (double)p->data[1] : -1.0);
    }
}

static void test_minimum(mdl_arena *ar) {
    const mdl_scalar nan = (mdl_scalar)NAN;
    const mdl_scalar av[4] = {1, 2, nan, 3}, bv[4] = {2, 2, 1, nan};
    /* forward picks b where a NaN makes a <= b false, as mdl_maximum does, and b gets the
       gradient there; a tie splits it */
    static const double want[4] = {1, 2, 1, NAN}, ga[4] = {1, 0.5, 0, 0}, gb[4] = {0, 0.5, 1, 1};
    mdl_tensor *a = leaf(ar, "[4]", av), *b = leaf(ar, "[4]", bv), *y;
    CHECK(a && b, "setup");
    if (!(a && b)) return;
    y = mdl_minimum(ar, a, b);
    check_values(y, want, 4, 0, "minimum");
    CHECK(y && mdl_backward(sum_all(ar, y)) == MDL_OK, "minimum: backward");
    check_grad(a, ga, 4, 0, "minimum: da");
    check_grad(b, gb, 4, 0, "minimum: db");
}

static void test_rsub(mdl_arena *ar) {
    const mdl_scalar xv[3] = {1, -2, 0.5f};
    static const double want[3] = {2, 5, 2.5}, g[3] = {-1, -1, -1};
    mdl_tensor *x = leaf(ar, "[3]", xv), *y = mdl_rsub_scalar(ar, x, 3);
    check_values(y, want, 3, 0, "rsub_scalar 3 - x");
    CHECK(y && mdl_backward(sum_all(ar, y)) == MDL_OK, "rsub: backward");
    check_grad(x, g, 3, 0, "rsub: dx");
}

/* The stable forms, far out where the naive formulas fail in float. */
static void test_stable(mdl_arena *ar) {
    const mdl_scalar tiny[2] = {1e-8f, -1e-8f};
    mdl_tensor *t = make(ar, "[2]", tiny);
    CHECK(t != NULL, "setup");
    if (!t) return;
    {   /* log(1 + 1e-8) and exp(1e-8) - 1 are 0 in float; log1p and expm1 keep the 1e-8 */
        static const double w[2] = {1e-8, -1e-8};
        check_values(mdl_log1p(ar, t), w, 2, 1e-6, "log1p(+-1e-8)");
        check_values(mdl_expm1(ar, t), w, 2, 1e-6, "expm1(+-1e-8)");
    }
    {   /* softplus, PyTorch's defaults: linear above 20, never overflowing below */
        const mdl_scalar xv[7] = {-100, -30, 0, 1, 19, 21, 100};
        double w[7];
        int i;
        mdl_tensor *x = leaf(ar, "[7]", xv), *y;
        for (i = 0; i < 7; i++) w[i] = xv[i] > 20 ? xv[i] : log1p(exp((double)xv[i]));
        y = mdl_softplus(ar, x, 1, 20);
        check_values(y, w, 7, 1e-5, "softplus beta 1 threshold 20");
        CHECK(y && y->data[0] > 0 && y->data[0] < 1e-40, "softplus(-100) = %g, want 3.7e-44",
              y ? (double)y->data[0] : -1.0);
        CHECK(y && mdl_backward(sum_all(ar, y)) == MDL_OK, "softplus: backward");
        if (x->grad)
            CHECK(x->grad[0] >= 0 && x->grad[0] < 1e-40 && x->grad[5] == 1 && x->grad[6] == 1,
                  "softplus gradients %g %g %g", (double)x->grad[0], (double)x->grad[5],
                  (double)x->grad[6]);
        /* no threshold to hide behind: log(1 + e^100) would overflow, the stable form not */
        y = mdl_softplus(ar, x, 1, (mdl_scalar)FLT_MAX);
        CHECK(y && y->data[6] == 100 && fabs(y->data[5] - 21) < 1e-6,
              "softplus(100), threshold FLT_MAX: %g", y ? (double)y->data[6] : -1.0);
        y = mdl_softplus(ar, x, 2, 20); /* beta 2: log(1 + e^(2x)) / 2, linear for x > 10 */
        CHECK(y && fabs(y->data[3] - log1p(exp(2.0)) / 2) < 1e-6 && y->data[4] == 19,
              "softplus beta 2: %g %g", y ? (double)y->data[3] : -1.0,
              y ? (double)y->data[4] : -1.0);
    }
    {   /* logsigmoid: about x far below 0, a tiny negative number far above it */
        const mdl_scalar xv[5] = {-200, -30, 0, 30, 200};
        static const double w[5] = {-200, -30, -0.69314718056, -9.357622968840e-14, 0};
        static const double g[5] = {1, 1, 0.5, 9.357622968840e-14, 0};
        mdl_tensor *x = leaf(ar, "[5]", xv), *y = mdl_logsigmoid(ar, x);
        check_values(y, w, 5, 1e-5, "logsigmoid");
        CHECK(y && y->data[3] < 0, "logsigmoid(30) rounded to 0");
        CHECK(y && mdl_backward(sum_all(ar, y)) == MDL_OK, "logsigmoid: backward");
        check_grad(x, g, 5, 1e-5, "logsigmoid: dx = sigmoid(-x)");
    }
    {   /* logsumexp: 1000 would overflow e^x; all -inf gives -inf; keepdim; MDL_ALL */
        const mdl_scalar ninf = -(mdl_scalar)INFINITY;
        const mdl_scalar xv[6] = {1000, 1000, 1000, ninf, ninf, ninf}, sv[3] = {1, 2, 3};
        static const double w[2] = {1000 + 1.0986122887, -INFINITY};
        static const double wall[1] = {3.40760596444};
        mdl_tensor *x = make(ar, "[2,3]", xv), *y = mdl_logsumexp(ar, x, 1, 1);
        CHECK(has_shape(y, "[2,1]"), "logsumexp keepdim: shape");
        check_values(y, w, 2, 1e-6, "logsumexp of 1000s and of -infs");
        y = mdl_logsumexp(ar, make(ar, "[3]", sv), MDL_ALL, 0);
        CHECK(has_shape(y, "[]"), "logsumexp MDL_ALL: shape");
        check_values(y, wall, 1, 1e-6, "logsumexp(1, 2, 3)");
    }
    {   /* its gradient is the softmax */
        const mdl_scalar xv[6] = {0.5f, -1, 2, 3, 0, -0.25f};
        mdl_tensor *x = leaf(ar, "[2,3]", xv), *s = mdl_softmax(ar, x, 0);
        double w[6];
        int i;
        for (i = 0; i < 6; i++) w[i] = s ? (double)s->data[i] : 0;
        CHECK(mdl_backward(sum_all(ar, mdl_logsumexp(ar, x, 0, 0))) == MDL_OK,
              "logsumexp: backward");
        check_grad(x, w, 6, 1e-6, "d logsumexp = softmax");
    }
    {   /* gelu_tanh against its formula in double, and within 5e-4 of the erf form */
        const mdl_scalar xv[6] = {-3, -1, 0, 0.5f, 2, 4};
        double w[6];
        int i;
        mdl_tensor *x = make(ar, "[6]", xv), *y = mdl_gelu_tanh(ar, x), *e = mdl_gelu(ar, x);
        for (i = 0; i < 6; i++) {
            double v = xv[i];
            w[i] = 0.5 * v * (1 + tanh(sqrt(2 / 3.14159265358979323846) *
                                       (v + 0.044715 * v * v * v)));
        }
        check_values(y, w, 6, 1e-6, "gelu_tanh");
        for (i = 0; y && e && i < 6; i++)
            CHECK(fabs(y->data[i] - e->data[i]) < 5e-4, "gelu_tanh(%g) %g vs gelu %g",
                  (double)xv[i], (double)y->data[i], (double)e->data[i]);
    }
}

/* x [2,3,4] holding 0..23: sums over axes {0,2} (and {-1,-3}), keepdim, mean and var, and
   the gradient spread back over the reduced axes. */
static void test_sum_axes(mdl_arena *ar) {
    mdl_scalar xv[24], dyv[3] = {1, 2, 3};
    const int ax[2] = {0, 2}, neg[2] = {-1, -3}, bn[3] = {0, 2, 3};
    double want[3] = {0, 0, 0}, mean[3], var0[3] = {0, 0, 0}, g[24];
    mdl_tensor *x, *y, *k;
    int i, c;
    for (i = 0; i < 24; i++) xv[i] = (mdl_scalar)i;
    for (i = 0; i < 24; i++) want[(i / 4) % 3] += i;
    for (c = 0; c < 3; c++) mean[c] = want[c] / 8;
    for (i = 0; i < 24; i++) var0[(i / 4) % 3] += (i - mean[(i / 4) % 3]) * (i - mean[(i / 4) % 3]);
    x = leaf(ar, "[2,3,4]", xv);
    y = mdl_sum_axes(ar, x, 2, ax, 0);
    CHECK(has_shape(y, "[3]"), "sum_axes {0,2}: shape");
    check_values(y, want, 3, 1e-6, "sum_axes {0,2}");
    k = mdl_sum_axes(ar, x, 2, neg, 1);
    CHECK(has_shape(k, "[1,3,1]"), "sum_axes {-1,-3} keepdim: shape");
    check_values(k, want, 3, 1e-6, "sum_axes {-1,-3} keepdim");
    check_values(mdl_mean_axes(ar, x, 2, ax, 0), mean, 3, 1e-6, "mean_axes {0,2}");
    {
        double v0[3], v1[3];
        for (c = 0; c < 3; c++) {
            v0[c] = var0[c] / 8;
            v1[c] = var0[c] / 7;
        }
        check_values(mdl_var_axes(ar, x, 2, ax, 0, 0), v0, 3, 1e-6, "var_axes correction 0");
        check_values(mdl_var_axes(ar, x, 2, ax, 1, 1), v1, 3, 1e-6, "var_axes correction 1");
    }
    /* dy [c] = c + 1 reaches every x[n,c,h] */
    CHECK(y && mdl_backward_with(y, make(ar, "[3]", dyv)) == MDL_OK, "sum_axes: backward");
    for (i = 0; i < 24; i++) g[i] = (i / 4) % 3 + 1;
    check_grad(x, g, 24, 0, "sum_axes: dx");
    {   /* BatchNorm's statistics: [N,C,H,W] over {0,2,3}, kept as [1,C,1,1] */
        int s4[4] = {4, 3, 2, 2};
        mdl_tensor *b = mdl_ones(ar, 4, s4);
        CHECK(has_shape(mdl_mean_axes(ar, b, 3, bn, 1), "[1,3,1,1]"), "mean_axes BatchNorm shape");
        CHECK(has_shape(mdl_var_axes(ar, b, 3, bn, 0, 0), "[3]"), "var_axes BatchNorm shape");
    }
}

static void test_split_chunk(mdl_arena *ar) {
    mdl_scalar xv[15];
    const int sizes[3] = {2, 0, 3}, cols[2] = {1, 2};
    mdl_tensor *x, *parts[6];
    int i, n;
    for (i = 0; i < 15; i++) xv[i] = (mdl_scalar)i;
    x = leaf(ar, "[5,3]", xv);
    n = mdl_split(ar, x, 0, 3, sizes, parts);
    CHECK(n == 3, "split {2,0,3}: %d parts", n);
    if (n == 3) {
        CHECK(has_shape(parts[0], "[2,3]") && has_shape(parts[1], "[0,3]") &&
                  has_shape(parts[2], "[3,3]"), "split {2,0,3}: shapes");
        /* along axis 0 the parts are views into x */
        CHECK(parts[0]->data == x->data && parts[2]->data == x->data + 6,
              "split along axis 0: not views");
        CHECK(mdl_backward(mdl_add(ar, sum_all(ar, mdl_mul_scalar(ar, parts[0], 2)),
                                   sum_all(ar, parts[2]))) == MDL_OK, "split: backward");
        for (i = 0; x->grad && i < 15; i++)
            CHECK(x->grad[i] == (i < 6 ? 2 : 1), "split: dx[%d] = %g", i, (double)x->grad[i]);
    }
    n = mdl_split(ar, make(ar, "[5,3]", xv), 1, 2, cols, parts);
    CHECK(n == 2 && has_shape(parts[0], "[5,1]") && has_shape(parts[1], "[5,2]"),
          "split axis 1 {1,2}: %d parts", n);
    if (n == 2)
        CHECK(parts[0]->data[1] == 3 && parts[1]->data[0] == 1 && parts[1]->data[3] == 5,
              "split axis 1: values");
    {   /* torch.chunk: ceil-sized parts, maybe fewer than asked, and empties for an empty axis */
        static const struct { int size, chunks, parts, first, last; } c[] = {
            {5, 4, 3, 2, 1}, {6, 4, 3, 2, 2}, {4, 4, 4, 1, 1}, {3, 5, 3, 1, 1}, {7, 1, 1, 7, 7},
            {0, 3, 3, 0, 0}};
        size_t k;
        for (k = 0; k < sizeof c / sizeof c[0]; k++) {
            mdl_tensor *v = mdl_zeros(ar, 1, &c[k].size);
            n = mdl_chunk(ar, v, c[k].chunks, 0, parts);
            CHECK(n == c[k].parts && parts[0]->shape[0] == c[k].first &&
                      parts[n - 1]->shape[0] == c[k].last,
                  "chunk %d in %d: %d parts, first %d, last %d", c[k].size, c[k].chunks, n,
                  n ? parts[0]->shape[0] : -1, n ? parts[n - 1]->shape[0] : -1);
        }
    }
}

static void test_expand_repeat(mdl_arena *ar) {
    const mdl_scalar xv[3] = {1, 2, 3}, sv[1] = {5};
    const int to[3] = {2, 3, 4}, keep[2] = {-1, 3}, r42[2] = {4, 2}, r421[3] = {4, 2, 1};
    const int r20[2] = {2, 0};
    mdl_tensor *x = leaf(ar, "[3,1]", xv), *y;
    int i;
    double g[3] = {8, 8, 8};
    y = mdl_expand(ar, x, 3, to);
    CHECK(has_shape(y, "[2,3,4]"), "expand [3,1] to [2,3,4]: shape");
    for (i = 0; y && i < 24; i++)
        CHECK(y->data[i] == xv[(i / 4) % 3], "expand: element %d is %g", i, (double)y->data[i]);
    CHECK(y && mdl_backward(sum_all(ar, y)) == MDL_OK, "expand: backward");
    check_grad(x, g, 3, 0, "expand: dx sums the 8 copies");
    CHECK(has_shape(mdl_expand(ar, make(ar, "[2,1]", xv), 2, keep), "[2,3]"), "expand -1 keeps");
    y = mdl_expand(ar, make(ar, "[]", sv), 2, to); /* [] to [2,3,4]: rank 2 takes {2,3} */
    CHECK(has_shape(y, "[2,3]") && y->data[5] == 5, "expand a scalar to [2,3]");

    /* torch.repeat: x = [1,2,3]; x.repeat(4, 2) is [4,6], rows 1 2 3 1 2 3 */
    x = leaf(ar, "[3]", xv);
    y = mdl_repeat(ar, x, 2, r42);
    CHECK(has_shape(y, "[4,6]"), "repeat {4,2}: shape");
    for (i = 0; y && i < 24; i++)
        CHECK(y->data[i] == xv[i % 3], "repeat: element %d is %g", i, (double)y->data[i]);
    CHECK(y && mdl_backward(sum_all(ar, y)) == MDL_OK, "repeat: backward");
    check_grad(x, g, 3, 0, "repeat: dx sums the 8 tiles");
    CHECK(has_shape(mdl_repeat(ar, x, 3, r421), "[4,2,3]"), "repeat {4,2,1}: shape");
    CHECK(has_shape(mdl_repeat(ar, x, 2, r20), "[2,0]"), "repeat {2,0}: shape");
}

static void test_gather(mdl_arena *ar) {
    /* torch.gather's documented example: t = [[1,2],[3,4]], index [[0,0],[1,0]] along 1 */
    const mdl_scalar tv[4] = {1, 2, 3, 4}, iv[4] = {0, 0, 1, 0}, i0[2] = {1, 0};
    static const double want[4] = {1, 1, 4, 3}, g[4] = {2, 0, 1, 1}, want0[2] = {3, 2};
    mdl_tensor *t = leaf(ar, "[2,2]", tv), *index = leaf(ar, "[2,2]", iv), *y;
    CHECK(t && index, "setup");
    if (!(t && index)) return;
    y = mdl_gather(ar, t, 1, index);
    CHECK(has_shape(y, "[2,2]"), "gather: shape");
    check_values(y, want, 4, 0, "gather axis 1");
    CHECK(y && mdl_backward(sum_all(ar, y)) == MDL_OK, "gather: backward");
    check_grad(t, g, 4, 0, "gather: dx adds up repeats");
    /* index asked for a gradient, but an index tensor never gets one */
    CHECK(index->grad == NULL, "the index tensor got a gradient");
    y = mdl_gather(ar, t, 0, make(ar, "[1,2]", i0));
    CHECK(has_shape(y, "[1,2]"), "gather axis 0, index [1,2]: shape");
    check_values(y, want0, 2, 0, "gather axis 0");
    {   /* a loss's use: each row's log probability of its target class */
        const mdl_scalar lp[6] = {-1, -2, -3, -4, -5, -6}, target[2] = {2, 0};
        static const double w[2] = {-3, -4};
        y = mdl_gather(ar, make(ar, "[2,3]", lp), 1, make(ar, "[2,1]", target));
        CHECK(has_shape(y, "[2,1]"), "gather targets: shape");
        check_values(y, w, 2, 0, "gather targets");
    }
}

int main(void) {
    mdl_arena *ar = mdl_arena_new(0);
    CHECK(ar != NULL, "arena");
    if (!ar) return test_summary();
    capture_errors();
    test_comparisons(ar);
    test_where(ar);
    test_masked_fill(ar);
    test_minimum(ar);
    test_rsub(ar);
    test_stable(ar);
    test_sum_axes(ar);
    test_split_chunk(ar);
    test_expand_repeat(ar);
    test_gather(ar);
    CHECK(captured_count == 0, "%d contract error(s), the last: %s", captured_count,
          captured_message);
    mdl_arena_free(ar);
    return test_summary();
}
