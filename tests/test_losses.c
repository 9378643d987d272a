// build-extra: -DMINIDL_DOUBLE
/* tests/test_losses.c - the losses: values against references computed here in double (each
   loss, each option, each reduction), gradients against central differences (mdl_gradcheck)
   and against their formulas, PyTorch's conventions at the kinks (abs' = 0, clamp at its
   bounds, bce at 0 and 1, bce_with_logits at x = 0), the mean's divisor with weights and
   ignored targets, label smoothing, and every error a loss reports.

   gcc -std=c99 -O1 -g -Wall -Wextra -Wpedantic -Werror -DMINIDL_DOUBLE -I. \
       tests/test_losses.c -o build/test_losses -lm
*/
#define MINIDL_IMPLEMENTATION
#include "minidl.h"
#include "test.h"

#include <stdlib.h>

#define NN(t)                                                                        \
    do {                                                                             \
        CHECK((t) != NULL, "%s is NULL (last error: %s)", #t, mdl_last_error());     \
        if (!(t)) return;                                                            \
    } while (0)

#define TOL 1e-12 /* double against double: only the order of the sums differs */

static mdl_arena *ar;
static mdl_rng rng;

/* ---- helpers ---- */

static mdl_tensor *tensor(int ndim, const int *shape, const double *v) {
    mdl_tensor *t = mdl_zeros(ar, ndim, shape);
    size_t i;
    for (i = 0; t && i < t->numel; i++) t->data[i] = (mdl_scalar)v[i];
    return t;
}

static mdl_tensor *param(int ndim, const int *shape, const double *v) {
    mdl_tensor *t = tensor(ndim, shape, v);
    if (t) mdl_set_requires_grad(t, 1);
    return t;
}

static double uniform(double lo, double hi) { return lo + (hi - lo) * mdl_rng_uniform(&rng); }

/* Compare every value of t with want[]; the shape too, when given. */
static void check_values(const char *what, const mdl_tensor *t, const double *want, size_t n,
                         double tol) {
    size_t i, bad = 0, first = 0;
    CHECK(t != NULL, "%s: NULL (%s)", what, mdl_last_error());
    if (!t) return;
    CHECK(t->numel == n, "%s: %zu values, want %zu", what, t->numel, n);
    if (t->numel != n) return;
    for (i = 0; i < n; i++) {
        double got = (double)t->data[i];
        int same = (got != got && want[i] != want[i]) ||
                   fabs(got - want[i]) <= tol * (1 + fabs(want[i]));
        if (!same && !bad++) first = i;
    }
    CHECK(bad == 0, "%s: %zu of %zu values differ, first [%zu]: got %.17g want %.17g", what, bad,
          n, first, (double)t->data[first], want[first]);
}

static void check_grad_values(const char *what, const mdl_tensor *t, const double *want,
                              double tol) {
    CHECK(t && t->grad, "%s: no gradient", what);
    if (!t || !t->grad) return;
    {
        mdl_tensor g = *t; /* a header over the gradient, to reuse check_values */
        g.data = t->grad;
        check_values(what, &g, want, t->numel, tol);
    }
}

static double sum_of(const double *v, size_t n) {
    double s = 0;
    size_t i;
    for (i = 0; i < n; i++) s += v[i];
    return s;
}

/* The loss, in all three reductions, against per-element references `want` (n of them) and
   the divisor of the mean `mean_div`. */
typedef mdl_tensor *(*loss_of)(mdl_tensor *x, mdl_tensor *t, mdl_reduction r, const void *user);

static void check_reductions(const char *what, loss_of f, mdl_tensor *x, mdl_tensor *t,
                             const void *user, const double *want, size_t n, double mean_div,
                             int none_ndim, const int *none_shape) {
    char label[160];
    mdl_tensor *y;
    double s = sum_of(want, n);
    snprintf(label, sizeof label, "%s, none", what);
    y = f(x, t, MDL_NONE, user);
    check_values(label, y, want, n, TOL);
    if (y) {
        int same = y->ndim == none_ndim;
        int d;
        for (d = 0; same && d < none_ndim; d++) same = y->shape[d] == none_shape[d];
        CHECK(same, "%s: the shape of the losses is not the expected one", label);
    }
    snprintf(label, sizeof label, "%s, sum", what);
    y = f(x, t, MDL_SUM, user);
    check_values(label, y, &s, 1, TOL);
    CHECK(y && y->ndim == 0, "%s: not a scalar", label);
    snprintf(label, sizeof label, "%s, mean", what);
    s /= mean_div;
    y = f(x, t, MDL_MEAN, user);
    check_values(label, y, &s, 1, TOL);
    CHECK(y && y->ndim == 0, "%s: not a scalar", label);
}

/* ---- a loss as an mdl_fn for mdl_gradcheck: in[0] is the input, in[1] the target when the
   loss takes a real-valued one (regression, bce, kl); the rest comes from the case ---- */

typedef enum kind { MSE, L1, SMOOTH_L1, HUBER, BCE, BCE_LOGITS, CE, NLL, KL } kind;

typedef struct loss_case {
    kind k;
    double p; /* beta, delta */
    mdl_reduction r;
    mdl_tensor *weight, *pos_weight, *target; /* target: class indices for CE and NLL */
    mdl_cross_entropy_opts opts;
    int log_target;
} loss_case;

static mdl_tensor *run_case(mdl_arena *a, mdl_tensor *const *in, const loss_case *c) {
    switch (c->k) {
    case MSE: return mdl_mse_loss(a, in[0], in[1], c->r);
    case L1: return mdl_l1_loss(a, in[0], in[1], c->r);
    case SMOOTH_L1: return mdl_smooth_l1_loss(a, in[0], in[1], c->p, c->r);
    case HUBER: return mdl_huber_loss(a, in[0], in[1], c->p, c->r);
    case BCE: return mdl_bce_loss(a, in[0], in[1], c->weight, c->r);
    case BCE_LOGITS: return mdl_bce_with_logits_loss(a, in[0], in[1], c->weight, c->pos_weight,
                                                     c->r);
    case CE: return mdl_cross_entropy_loss(a, in[0], c->target, &c->opts);
    case NLL: return mdl_nll_loss(a, in[0], c->target, &c->opts);
    case KL: return mdl_kl_div_loss(a, in[0], in[1], c->r, c->log_target);
    }
    return NULL;
}

static mdl_tensor *f_case(mdl_arena *a, mdl_tensor *const *in, void *user) {
    return run_case(a, in, (const loss_case *)user);
}

static void gradcheck(const char *what, loss_case *c, int n, mdl_tensor *const *in) {
    mdl_gradcheck_report rep;
    int ok = mdl_gradcheck(f_case, c, n, in, 0, 0, 0, &rep);
    size_t total = 0;
    int i;
    for (i = 0; i < n; i++) total += in[i]->numel;
    CHECK(ok && rep.checked == total, "gradcheck %s: %zu of %zu failed, worst input %d [%zu]: "
          "analytic %.10g numeric %.10g (%s)", what, rep.failed, rep.checked, rep.worst_input,
          rep.worst_index, rep.analytic, rep.numeric, mdl_last_error());
}

/* ---- regression losses ---- */

static double regression_ref(kind k, double d, double p) {
    double z = fabs(d);
    switch (k) {
    case MSE: return d * d;
    case L1: return z;
    case SMOOTH_L1:
        if (p == 0) return z;
        return z < p ? 0.5 * d * d / p : z - 0.5 * p;
    case HUBER: return z < p ? 0.5 * d * d : p * (z - 0.5 * p);
    default: return 0;
    }
}

static mdl_tensor *l_regression(mdl_tensor *x, mdl_tensor *t, mdl_reduction r, const void *u) {
    loss_case c = *(const loss_case *)u;
    mdl_tensor *in[2];
    in[0] = x, in[1] = t, c.r = r;
    return run_case(ar, in, &c);
}

static void test_regression_values(void) {
    static const struct { kind k; double p; const char *name; } c[] = {
        {MSE, 0, "mse"},           {L1, 0, "l1"},
        {SMOOTH_L1, 1, "smooth_l1 beta 1"}, {SMOOTH_L1, 0.5, "smooth_l1 beta 0.5"},
        {SMOOTH_L1, 0, "smooth_l1 beta 0 (= l1)"}, {HUBER, 1, "huber delta 1"},
        {HUBER, 2.5, "huber delta 2.5"}};
    int shape[3] = {2, 3, 4};
    double xv[24], tv[24], want[24];
    size_t i, j;
    mdl_tensor *x, *t;
    for (i = 0; i < 24; i++) xv[i] = uniform(-3, 3), tv[i] = uniform(-3, 3);
    x = tensor(3, shape, xv), t = tensor(3, shape, tv);
    NN(x);
    NN(t);
    for (j = 0; j < sizeof c / sizeof c[0]; j++) {
        loss_case lc;
        memset(&lc, 0, sizeof lc);
        lc.k = c[j].k, lc.p = c[j].p;
        for (i = 0; i < 24; i++) want[i] = regression_ref(c[j].k, xv[i] - tv[i], c[j].p);
        check_reductions(c[j].name, l_regression, x, t, &lc, want, 24, 24, 3, shape);
    }
    /* huber is delta times smooth_l1 with beta = delta: PyTorch's identity */
    {
        mdl_tensor *h = mdl_huber_loss(ar, x, t, 2.5, MDL_NONE);
        mdl_tensor *s = mdl_smooth_l1_loss(ar, x, t, 2.5, MDL_NONE);
        NN(h);
        NN(s);
        for (i = 0; i < 24; i++) want[i] = 2.5 * (double)s->data[i];
        check_values("huber = delta * smooth_l1(beta = delta)", h, want, 24, TOL);
    }
}

/* At the kinks the gradient is PyTorch's: 0 at d = 0 (abs' = 0), +-1 at d = +-beta for
   smooth_l1 (the two pieces meet with slope 1), +-delta at +-delta for huber. */
static void test_regression_kinks(void) {
    static const double d[7] = {0, 1.5, -1.5, 0.75, -0.75, 3, -3};
    int shape[1] = {7};
    double zeros[7] = {0}, want[7], neg[7];
    static const struct { kind k; double p; const char *name; double g[7]; } c[] = {
        {MSE, 0, "mse", {0, 3, -3, 1.5, -1.5, 6, -6}},
        {L1, 0, "l1", {0, 1, -1, 1, -1, 1, -1}},
        {SMOOTH_L1, 1.5, "smooth_l1 beta 1.5", {0, 1, -1, 0.5, -0.5, 1, -1}},
        {SMOOTH_L1, 0, "smooth_l1 beta 0", {0, 1, -1, 1, -1, 1, -1}},
        {HUBER, 1.5, "huber delta 1.5", {0, 1.5, -1.5, 0.75, -0.75, 1.5, -1.5}}};
    size_t j, i;
    for (j = 0; j < sizeof c / sizeof c[0]; j++) {
        mdl_tensor *in[2];
        loss_case lc;
        char what[96];
        in[0] = param(1, shape, d), in[1] = param(1, shape, zeros);
        NN(in[0]);
        NN(in[1]);
        memset(&lc, 0, sizeof lc);
        lc.k = c[j].k, lc.p = c[j].p, lc.r = MDL_SUM;
        CHECK(mdl_backward(run_case(ar, in, &lc)) == MDL_OK, "%s: backward", c[j].name);
        for (i = 0; i < 7; i++) want[i] = c[j].g[i], neg[i] = -c[j].g[i];
        snprintf(what, sizeof what, "%s: d(input) at 0, +-p, +-p/2, +-2p", c[j].name);
        check_grad_values(what, in[0], want, TOL);
        snprintf(what, sizeof what, "%s: d(target) = -d(input)", c[j].name);
        check_grad_values(what, in[1], neg, TOL);
    }
}

/* Values of d = x - t away from the kinks (0 and +-1), so central differences see one piece. */
static void away_from_kinks(double *x, double *t, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) {
        double m = mdl_rng_uniform(&rng) < 0.5 ? uniform(0.1, 0.8) : uniform(1.2, 2.5);
        t[i] = uniform(-2, 2);
        x[i] = t[i] + (mdl_rng_u32(&rng) & 1 ? m : -m);
    }
}

static void test_regression_gradients(void) {
    static const struct { kind k; double p; mdl_reduction r; const char *name; } c[] = {
        {MSE, 0, MDL_MEAN, "mse mean"},       {L1, 0, MDL_SUM, "l1 sum"},
        {SMOOTH_L1, 1, MDL_MEAN, "smooth_l1 beta 1 mean"},
        {SMOOTH_L1, 1, MDL_NONE, "smooth_l1 beta 1 none"},
        {SMOOTH_L1, 0, MDL_MEAN, "smooth_l1 beta 0 mean"},
        {HUBER, 1, MDL_MEAN, "huber delta 1 mean"}, {HUBER, 1, MDL_NONE, "huber delta 1 none"}};
    int shape[2] = {3, 5};
    double xv[15], tv[15];
    size_t j;
    for (j = 0; j < sizeof c / sizeof c[0]; j++) {
        mdl_tensor *in[2];
        loss_case lc;
        away_from_kinks(xv, tv, 15);
        in[0] = tensor(2, shape, xv), in[1] = tensor(2, shape, tv);
        NN(in[0]);
        NN(in[1]);
        memset(&lc, 0, sizeof lc);
        lc.k = c[j].k, lc.p = c[j].p, lc.r = c[j].r;
        gradcheck(c[j].name, &lc, 2, in);
    }
}

/* ---- binary cross-entropy of probabilities ---- */

static double bce_ref(double x, double t) {
    double lx = log(x), l1x = log1p(-x);
    lx = lx < -100 ? -100 : lx;
    l1x = l1x < -100 ? -100 : l1x;
    return -(t * lx + (1 - t) * l1x);
}

static mdl_tensor *l_bce(mdl_tensor *x, mdl_tensor *t, mdl_reduction r, const void *u) {
    return mdl_bce_loss(ar, x, t, (mdl_tensor *)u, r); /* u: the weight, or NULL */
}

static void test_bce(void) {
    int shape[2] = {4, 3}, wc[1] = {3}, wn[2] = {4, 1};
    double xv[12], tv[12], want[12], wcv[3] = {0.5, 2, 1.25}, wnv[4] = {1, 0, 3, 0.25};
    mdl_tensor *x, *t, *w, *in[2];
    loss_case lc;
    size_t i;
    for (i = 0; i < 12; i++) xv[i] = uniform(0.02, 0.98), tv[i] = i % 3 ? (double)(i % 2) : 0.3;
    x = tensor(2, shape, xv), t = tensor(2, shape, tv);
    NN(x);
    NN(t);
    for (i = 0; i < 12; i++) want[i] = bce_ref(xv[i], tv[i]);
    check_reductions("bce", l_bce, x, t, NULL, want, 12, 12, 2, shape);
    w = tensor(1, wc, wcv);
    for (i = 0; i < 12; i++) want[i] = wcv[i % 3] * bce_ref(xv[i], tv[i]);
    check_reductions("bce, weight [3]", l_bce, x, t, w, want, 12, 12, 2, shape);
    w = tensor(2, wn, wnv); /* the mean is still over the 12 elements, as PyTorch's */
    for (i = 0; i < 12; i++) want[i] = wnv[i / 3] * bce_ref(xv[i], tv[i]);
    check_reductions("bce, weight [4,1]", l_bce, x, t, w, want, 12, 12, 2, shape);

    /* the logs clamp at -100, and the gradient's denominator at 1e-12: finite at 0 and 1 */
    {
        static const double x4[4] = {0, 1, 0, 1}, t4[4] = {1, 0, 0, 1};
        static const double l4[4] = {100, 100, 0, 0}, dx4[4] = {-1e12, 1e12, 0, 0};
        static const double dt4[4] = {100, -100, 100, -100};
        int s4[1] = {4};
        mdl_tensor *xs = param(1, s4, x4), *ts = param(1, s4, t4), *y;
        NN(xs);
        NN(ts);
        y = mdl_bce_loss(ar, xs, ts, NULL, MDL_NONE);
        check_values("bce at x = 0 and 1: each log clamped at -100", y, l4, 4, TOL);
        y = mdl_bce_loss(ar, xs, ts, NULL, MDL_SUM);
        CHECK(y && mdl_backward(y) == MDL_OK, "bce at 0 and 1: backward");
        check_grad_values("bce: dx = (x - t) / max(x (1 - x), 1e-12) at 0 and 1", xs, dx4, 1e-9);
        check_grad_values("bce: dt = log(1 - x) - log(x), clamped", ts, dt4, TOL);
    }

    memset(&lc, 0, sizeof lc);
    lc.k = BCE, lc.r = MDL_MEAN;
    for (i = 0; i < 12; i++) tv[i] = uniform(0, 1); /* soft targets: their gradient counts too */
    in[0] = x, in[1] = tensor(2, shape, tv);
    gradcheck("bce mean (input and target)", &lc, 2, in);
    lc.r = MDL_NONE, lc.weight = tensor(1, wc, wcv);
    gradcheck("bce none, weight [3]", &lc, 2, in);
}

/* ---- binary cross-entropy of logits ---- */

static double sigmoid(double x) { return 1 / (1 + exp(-x)); }

/* the textbook form, fine in double for |x| < 20 */
static double bcel_ref(double x, double t, double pw) {
    return -(pw * t * log(sigmoid(x)) + (1 - t) * log(1 - sigmoid(x)));
}

typedef struct bcel_user { mdl_tensor *weight, *pos_weight; } bcel_user;

static mdl_tensor *l_bcel(mdl_tensor *x, mdl_tensor *t, mdl_reduction r, const void *u) {
    const bcel_user *b = (const bcel_user *)u;
    return mdl_bce_with_logits_loss(ar, x, t, b->weight, b->pos_weight, r);
}

/* softplus(-x) the way a composite would write it: relu(-x) + log(1 + e^-|x|) */
static mdl_tensor *softplus_neg_composite(mdl_tensor *x) {
    mdl_tensor *tail = mdl_log(ar, mdl_add_scalar(ar, mdl_exp(ar, mdl_neg(ar, mdl_abs(ar, x))), 1));
    return mdl_add(ar, mdl_relu(ar, mdl_neg(ar, x)), tail);
}

static void test_bce_with_logits(void) {
    int shape[2] = {4, 3}, s3[3] = {2, 2, 3}, sc[1] = {3}, s1[1] = {1}, sn[2] = {4, 1};
    double xv[12], tv[12], want[12], pwv[3] = {2, 0.5, 3}, one_pw = 4, wnv[4] = {1, 2, 0, 0.5};
    bcel_user u = {NULL, NULL};
    mdl_tensor *x, *t, *in[2];
    loss_case lc;
    size_t i;
    for (i = 0; i < 12; i++) xv[i] = uniform(-6, 6), tv[i] = i % 4 == 3 ? 0.25 : (double)(i % 2);
    x = tensor(2, shape, xv), t = tensor(2, shape, tv);
    NN(x);
    NN(t);
    for (i = 0; i < 12; i++) want[i] = bcel_ref(xv[i], tv[i], 1);
    check_reductions("bce_with_logits", l_bcel, x, t, &u, want, 12, 12, 2, shape);
    u.pos_weight = tensor(1, sc, pwv);
    for (i = 0; i < 12; i++) want[i] = bcel_ref(xv[i], tv[i], pwv[i % 3]);
    check_reductions("bce_with_logits, pos_weight [3]", l_bcel, x, t, &u, want, 12, 12, 2,
                     shape);
    u.pos_weight = tensor(1, s1, &one_pw);
    u.weight = tensor(2, sn, wnv);
    for (i = 0; i < 12; i++) want[i] = wnv[i / 3] * bcel_ref(xv[i], tv[i], one_pw);
    check_reductions("bce_with_logits, pos_weight [1], weight [4,1]", l_bcel, x, t, &u, want, 12,
                     12, 2, shape);
    /* pos_weight along the last axis of a 3-D input */
    u.weight = NULL, u.pos_weight = tensor(1, sc, pwv);
    x = tensor(3, s3, xv), t = tensor(3, s3, tv);
    for (i = 0; i < 12; i++) want[i] = bcel_ref(xv[i], tv[i], pwv[i % 3]);
    check_reductions("bce_with_logits [2,2,3], pos_weight [3]", l_bcel, x, t, &u, want, 12, 12,
                     3, s3);

    /* large logits: no overflow, and a confident right answer costs almost nothing */
    {
        static const double xb[6] = {100, -100, 100, -1000, 1000, 40};
        static const double tb[6] = {1, 0, 0, 1, 1, 0};
        double wb[6];
        int s6[1] = {6};
        mdl_tensor *y;
        wb[0] = log1p(exp(-100.0)), wb[1] = wb[0], wb[2] = 100 + wb[0], wb[3] = 1000, wb[4] = 0;
        wb[5] = 40 + log1p(exp(-40.0));
        y = mdl_bce_with_logits_loss(ar, tensor(1, s6, xb), tensor(1, s6, tb), NULL, NULL,
                                     MDL_NONE);
        check_values("bce_with_logits at |x| = 40, 100, 1000", y, wb, 6, TOL);
    }

    /* x = 0, where a zero-initialised output layer starts: dL/dx = (1 - t) + l (1/2 - 1),
       l = 1 + (pw - 1) t; dL/dt = -x + (pw - 1) softplus(-x) = (pw - 1) log 2 */
    {
        static const double t0[3] = {1, 0, 0.5};
        double dx[3], dt[3], zeros[3] = {0}, bad[3];
        mdl_tensor *x0 = param(1, sc, zeros), *tt = param(1, sc, t0), *y;
        NN(x0);
        NN(tt);
        for (i = 0; i < 3; i++) {
            double l = 1 + (pwv[i] - 1) * t0[i];
            dx[i] = (1 - t0[i]) + l * (0.5 - 1);
            dt[i] = (pwv[i] - 1) * log(2.0);
        }
        y = mdl_bce_with_logits_loss(ar, x0, tt, NULL, tensor(1, sc, pwv), MDL_SUM);
        CHECK(y && mdl_backward(y) == MDL_OK, "bce_with_logits at 0: backward");
        check_grad_values("bce_with_logits: dx at x = 0", x0, dx, TOL);
        check_grad_values("bce_with_logits: dt at x = 0", tt, dt, TOL);
        /* the composite with relu and abs: each is 0 at 0 by convention, and softplus'(0)
           comes out 0 instead of -1/2 */
        x0 = param(1, sc, zeros);
        y = mdl_sum(ar, mdl_add(ar, mdl_mul(ar, mdl_sub(ar, mdl_ones(ar, 1, sc), tt), x0),
                                softplus_neg_composite(x0)), MDL_ALL, 0);
        CHECK(y && mdl_backward(y) == MDL_OK, "composite at 0: backward");
        for (i = 0; i < 3; i++) bad[i] = 1 - t0[i]; /* (1 - t) + 0: off by 1/2 */
        check_grad_values("the relu/abs composite is off by 1/2 at x = 0", x0, bad, TOL);
    }

    /* the gradients, everywhere else, against central differences */
    memset(&lc, 0, sizeof lc);
    lc.k = BCE_LOGITS, lc.r = MDL_MEAN;
    for (i = 0; i < 12; i++) xv[i] = uniform(-4, 4), tv[i] = uniform(0, 1);
    in[0] = tensor(2, shape, xv), in[1] = tensor(2, shape, tv);
    gradcheck("bce_with_logits mean (logits and target)", &lc, 2, in);
    lc.r = MDL_NONE, lc.pos_weight = tensor(1, sc, pwv), lc.weight = tensor(2, sn, wnv);
    gradcheck("bce_with_logits none, pos_weight [3], weight [4,1]", &lc, 2, in);
    in[0] = tensor(3, s3, xv), in[1] = tensor(3, s3, tv);
    lc.r = MDL_SUM, lc.weight = NULL;
    gradcheck("bce_with_logits [2,2,3] sum, pos_weight [3]", &lc, 2, in);
}

/* ---- cross-entropy and nll ---- */

/* PyTorch's cross_entropy, literally as its source composes it: log_softmax over axis 1, then
       (1 - eps) nll_loss(logp, y, w, ignore_index) + (eps / C) smooth,
   smooth = sum over the positions kept of sum_c w_c (-logp_c): summed (sum), per position
   (none), or divided by the sum of w_y over the positions kept (mean), as the nll term is.
   x [N, C, inner]; target [N, inner]; cw NULL for no weights; per[] gets the losses. */
typedef struct ce_spec {
    int N, C, inner;
    const double *cw;
    int ignore, ignore_index;
    double eps;
} ce_spec;

static double ce_ref(const ce_spec *s, const double *x, const double *tgt, int log_softmax,
                     mdl_reduction r, double *per) {
    double nll_sum = 0, smooth_sum = 0, wsum = 0;
    int n, i, c;
    for (n = 0; n < s->N; n++)
        for (i = 0; i < s->inner; i++) {
            int p = n * s->inner + i, y = (int)tgt[p];
            double m = -1e300, z = 0, logp[16] = {0}, nll, smooth = 0;
            if (s->ignore && tgt[p] == s->ignore_index) {
                per[p] = 0;
                continue;
            }
            for (c = 0; c < s->C; c++) m = fmax(m, x[(n * s->C + c) * s->inner + i]);
            for (c = 0; c < s->C; c++) z += exp(x[(n * s->C + c) * s->inner + i] - m);
            for (c = 0; c < s->C; c++)
                logp[c] = log_softmax ? x[(n * s->C + c) * s->inner + i] - m - log(z)
                                      : x[(n * s->C + c) * s->inner + i];
            nll = -(s->cw ? s->cw[y] : 1) * logp[y];
            for (c = 0; c < s->C; c++) smooth -= (s->cw ? s->cw[c] : 1) * logp[c];
            per[p] = (1 - s->eps) * nll + s->eps / s->C * smooth;
            nll_sum += nll;
            smooth_sum += smooth;
            wsum += s->cw ? s->cw[y] : 1;
        }
    if (r == MDL_MEAN) return (1 - s->eps) * nll_sum / wsum + s->eps / s->C * smooth_sum / wsum;
    return (1 - s->eps) * nll_sum + s->eps / s->C * smooth_sum;
}

typedef struct ce_user { mdl_cross_entropy_opts o; int nll; } ce_user;

static mdl_tensor *l_class(mdl_tensor *x, mdl_tensor *t, mdl_reduction r, const void *u) {
    ce_user cu = *(const ce_user *)u;
    cu.o.reduction = r;
    return cu.nll ? mdl_nll_loss(ar, x, t, &cu.o) : mdl_cross_entropy_loss(ar, x, t, &cu.o);
}

/* One configuration of cross-entropy (and of nll when eps is 0): values in every reduction
   against ce_ref, and gradients against central differences. */
static void class_case(const char *what, int ndim, const int *xshape, const double *tgt,
                       const double *cw, int ignore, int ignore_index, double eps) {
    ce_spec s;
    int tshape[MDL_MAX_DIMS], d, nll;
    double xv[96], per[32], total, mean, wsum = 0;
    size_t i, nx = 1, nt;
    mdl_tensor *x, *t, *w = NULL;
    ce_user u;
    char label[160];
    for (d = 0; d < ndim; d++) nx *= (size_t)xshape[d];
    for (i = 0; i < nx; i++) xv[i] = uniform(-3, 3);
    s.C = xshape[ndim == 1 ? 0 : 1];
    s.N = ndim == 1 ? 1 : xshape[0];
    s.inner = 1;
    for (d = 2; d < ndim; d++) s.inner *= xshape[d];
    s.cw = cw, s.ignore = ignore, s.ignore_index = ignore_index, s.eps = eps;
    for (d = 0; d < ndim; d++)
        if (d != 1) tshape[d < 1 ? d : d - 1] = xshape[d];
    nt = (size_t)s.N * (size_t)s.inner;
    x = tensor(ndim, xshape, xv), t = tensor(ndim - 1, tshape, tgt);
    if (cw) w = tensor(1, &s.C, cw);
    NN(x);
    NN(t);
    for (i = 0; i < nt; i++)
        if (!(ignore && tgt[i] == ignore_index)) wsum += cw ? cw[(int)tgt[i]] : 1;
    for (nll = 0; nll <= (eps == 0); nll++) {
        memset(&u, 0, sizeof u);
        u.o.weight = w, u.o.ignore = ignore, u.o.ignore_index = ignore_index;
        u.o.label_smoothing = eps, u.nll = nll;
        total = ce_ref(&s, xv, tgt, !nll, MDL_SUM, per);
        mean = ce_ref(&s, xv, tgt, !nll, MDL_MEAN, per);
        CHECK(fabs(total / wsum - mean) <= 1e-12 * (1 + fabs(mean)),
              "%s: the reference's mean is not its sum over the weights", what);
        snprintf(label, sizeof label, "%s %s", nll ? "nll" : "cross_entropy", what);
        check_reductions(label, l_class, x, t, &u, per, nt, wsum, ndim - 1, tshape);
        {
            loss_case lc;
            mdl_tensor *in[1];
            memset(&lc, 0, sizeof lc);
            lc.k = nll ? NLL : CE, lc.target = t, lc.opts = u.o;
            in[0] = x;
            lc.opts.reduction = MDL_MEAN;
            gradcheck(label, &lc, 1, in);
            lc.opts.reduction = MDL_NONE;
            gradcheck(label, &lc, 1, in);
        }
    }
}

static void test_class_values(void) {
    static const double cw5[5] = {0.5, 2, 1, 3, 0.25}, cw3[3] = {2, 0.5, 1.5};
    static const double t4[4] = {0, 3, 4, 1}, t5ig[5] = {1, -100, 2, 0, -100};
    static const double t5c[5] = {1, 2, 2, 0, 1}, t8[8] = {0, 2, 1, 1, 2, -100, 0, 1};
    static const double t12[12] = {2, 0, 1, 1, 0, 2, 2, 1, 0, 0, 1, 2}, t1[1] = {4};
    int x45[2] = {4, 5}, x53[2] = {5, 3}, x234[3] = {2, 3, 4}, x2322[4] = {2, 3, 2, 3};
    int x6[1] = {6};
    class_case("[4,5]", 2, x45, t4, NULL, 0, 0, 0);
    class_case("[4,5] weights", 2, x45, t4, cw5, 0, 0, 0);
    class_case("[5,3] ignore_index -100", 2, x53, t5ig, NULL, 1, -100, 0);
    class_case("[5,3] weights, ignore_index -100", 2, x53, t5ig, cw3, 1, -100, 0);
    class_case("[5,3] ignore_index 2, a class", 2, x53, t5c, NULL, 1, 2, 0);
    class_case("[4,5] smoothing 0.1", 2, x45, t4, NULL, 0, 0, 0.1);
    class_case("[4,5] smoothing 1", 2, x45, t4, NULL, 0, 0, 1);
    class_case("[4,5] smoothing 0.2, weights", 2, x45, t4, cw5, 0, 0, 0.2);
    class_case("[5,3] smoothing 0.3, weights, ignore_index -100", 2, x53, t5ig, cw3, 1, -100,
               0.3);
    class_case("[2,3,4] smoothing, weights, ignore", 3, x234, t8, cw3, 1, -100, 0.1);
    class_case("[2,3,2,3]", 4, x2322, t12, NULL, 0, 0, 0);
    class_case("[2,3,2,3] weights, smoothing", 4, x2322, t12, cw3, 0, 0, 0.25);
    class_case("[6] one sample", 1, x6, t1, NULL, 0, 0, 0);
    class_case("[6] one sample, smoothing", 1, x6, t1, NULL, 0, 0, 0.1);
}

/* The lesson, checked directly: the gradient of the mean is (softmax - q) / N, with q the
   smoothed one-hot (1 - eps + eps/C on the class, eps/C on every other); and cross_entropy(x)
   is nll(log_softmax(x)), gradients included. */
static void test_class_rules(void) {
    int xs[2] = {3, 4}, ts[1] = {3}, i, c;
    double xv[12], tv[3] = {2, 0, 3}, want[12], eps = 0.2;
    mdl_cross_entropy_opts o;
    mdl_tensor *x, *t, *y, *x2;
    for (i = 0; i < 12; i++) xv[i] = uniform(-2, 2);
    x = param(2, xs, xv), t = tensor(1, ts, tv);
    NN(x);
    NN(t);
    memset(&o, 0, sizeof o);
    o.label_smoothing = eps;
    y = mdl_cross_entropy_loss(ar, x, t, &o);
    CHECK(y && mdl_backward(y) == MDL_OK, "cross_entropy: backward");
    for (i = 0; i < 3; i++) {
        double m = -1e300, z = 0;
        for (c = 0; c < 4; c++) m = fmax(m, xv[i * 4 + c]);
        for (c = 0; c < 4; c++) z += exp(xv[i * 4 + c] - m);
        for (c = 0; c < 4; c++) {
            double q = eps / 4 + (c == (int)tv[i] ? 1 - eps : 0);
            want[i * 4 + c] = (exp(xv[i * 4 + c] - m) / z - q) / 3;
        }
    }
    check_grad_values("dlogits = (softmax - smoothed onehot) / N", x, want, 1e-12);

    /* uniform logits: every class has p = 1/C, and the loss is log C whatever the smoothing */
    {
        int us[2] = {2, 5}, uts[1] = {2};
        double zeros[10] = {0}, ut[2] = {1, 4}, want1 = log(5.0);
        o.label_smoothing = 0.7;
        y = mdl_cross_entropy_loss(ar, tensor(2, us, zeros), tensor(1, uts, ut), &o);
        check_values("uniform logits: log C with smoothing 0.7", y, &want1, 1, 1e-12);
    }

    /* huge logits: the max is subtracted, nothing overflows */
    {
        int hs[2] = {2, 3}, hts[1] = {2};
        double hv[6] = {1000, 0, -1000, 800, 800, -800}, ht[2] = {0, 1};
        double hw[2];
        hw[0] = log1p(exp(-1000.0) + exp(-2000.0)), hw[1] = log(2.0);
        o.label_smoothing = 0;
        o.reduction = MDL_NONE;
        y = mdl_cross_entropy_loss(ar, tensor(2, hs, hv), tensor(1, hts, ht), &o);
        check_values("logits of +-1000: finite", y, hw, 2, 1e-12);
    }

    /* cross_entropy = nll(log_softmax), with weights and an ignored target */
    {
        static const double cw[4] = {1, 2, 0.5, 1.5};
        int ws[1] = {4};
        double ti[3] = {2, -100, 3};
        memset(&o, 0, sizeof o);
        o.weight = tensor(1, ws, cw), o.ignore = 1, o.ignore_index = -100;
        x = param(2, xs, xv), x2 = param(2, xs, xv), t = tensor(1, ts, ti);
        y = mdl_cross_entropy_loss(ar, x, t, &o);
        CHECK(y && mdl_backward(y) == MDL_OK, "cross_entropy: backward");
        {
            mdl_tensor *y2 = mdl_nll_loss(ar, mdl_log_softmax(ar, x2, 1), t, &o);
            double v = y2 ? (double)y2->data[0] : 0;
            NN(y2);
            CHECK(mdl_backward(y2) == MDL_OK, "nll: backward");
            check_values("cross_entropy = nll(log_softmax)", y, &v, 1, 1e-12);
            for (i = 0; i < 12; i++) want[i] = (double)x2->grad[i];
            check_grad_values("their gradients agree", x, want, 1e-12);
            for (c = 0; c < 4; c++) /* the ignored row learns nothing */
                CHECK(x->grad[4 + c] == 0, "ignored row: gradient %g", (double)x->grad[4 + c]);
        }
    }

    /* nll's gradient: -w_y / W on the target's class, 0 elsewhere */
    {
        static const double cw[4] = {1, 2, 0.5, 1.5};
        int ws[1] = {4};
        double ti[3] = {1, 1, 3}, W = 2 + 2 + 1.5;
        memset(&o, 0, sizeof o);
        o.weight = tensor(1, ws, cw);
        x = param(2, xs, xv), t = tensor(1, ts, ti);
        y = mdl_nll_loss(ar, x, t, &o);
        CHECK(y && mdl_backward(y) == MDL_OK, "nll: backward");
        for (i = 0; i < 12; i++) want[i] = 0;
        want[1] = -2 / W, want[5] = -2 / W, want[11] = -1.5 / W;
        check_grad_values("nll: dx_y = -w_y / sum(w_y)", x, want, 1e-12);
    }

    /* a mean over nothing: every target ignored gives NaN (0/0), as PyTorch */
    {
        double ti[3] = {-100, -100, -100};
        memset(&o, 0, sizeof o);
        o.ignore = 1, o.ignore_index = -100;
        y = mdl_cross_entropy_loss(ar, tensor(2, xs, xv), tensor(1, ts, ti), &o);
        CHECK(y && y->data[0] != y->data[0], "all ignored: mean %g, want NaN",
              y ? (double)y->data[0] : 0.0);
        o.reduction = MDL_SUM;
        y = mdl_cross_entropy_loss(ar, tensor(2, xs, xv), tensor(1, ts, ti), &o);
        CHECK(y && y->data[0] == 0, "all ignored: sum %g, want 0", y ? (double)y->data[0] : 1.0);
    }
}

/* ---- KL divergence ---- */

static double kl_ref(double x, double t, int log_target) {
    if (log_target) return exp(t) * (t - x);
    return t == 0 ? 0 : t * (log(t) - x);
}

static mdl_tensor *l_kl(mdl_tensor *x, mdl_tensor *t, mdl_reduction r, const void *u) {
    return mdl_kl_div_loss(ar, x, t, r, *(const int *)u);
}

static void test_kl_div(void) {
    int shape[2] = {4, 5}, lt;
    double xv[20], tv[20], want[20];
    mdl_tensor *x, *t, *y, *in[2];
    loss_case lc;
    size_t i;
    for (lt = 0; lt <= 1; lt++) {
        double s = 0;
        for (i = 0; i < 20; i++) {
            xv[i] = uniform(-3, 0);
            tv[i] = lt ? uniform(-3, 0) : (i % 7 == 0 ? 0 : uniform(0, 1)); /* zeros: 0 log 0 */
            want[i] = kl_ref(xv[i], tv[i], lt);
            s += want[i];
        }
        x = tensor(2, shape, xv), t = tensor(2, shape, tv);
        NN(x);
        NN(t);
        check_reductions(lt ? "kl_div log_target" : "kl_div", l_kl, x, t, &lt, want, 20, 20, 2,
                         shape);
        s /= 4; /* batchmean: the sum over the batch size */
        y = mdl_kl_div_loss(ar, x, t, MDL_BATCHMEAN, lt);
        check_values("kl_div batchmean", y, &s, 1, TOL);

        memset(&lc, 0, sizeof lc);
        lc.k = KL, lc.r = MDL_BATCHMEAN, lc.log_target = lt;
        if (!lt)
            for (i = 0; i < 20; i++) tv[i] = uniform(0.05, 1); /* away from p = 0 */
        in[0] = x, in[1] = tensor(2, shape, tv);
        gradcheck(lt ? "kl_div log_target batchmean" : "kl_div batchmean", &lc, 2, in);
        lc.r = MDL_NONE;
        gradcheck(lt ? "kl_div log_target none" : "kl_div none", &lc, 2, in);
    }
    /* at p = 0: the loss is 0 and the input learns nothing; dt is -inf, p log p's slope */
    {
        static const double x3[3] = {-1, -2, -0.5}, t3[3] = {0, 0.5, -0.5};
        int s3[1] = {3};
        mdl_tensor *xs = param(1, s3, x3), *ts = param(1, s3, t3);
        NN(xs);
        NN(ts);
        y = mdl_kl_div_loss(ar, xs, ts, MDL_NONE, 0);
        NN(y);
        CHECK(y->data[0] == 0 && fabs(y->data[1] - 0.5 * (log(0.5) + 2)) < 1e-15 &&
              y->data[2] != y->data[2], "kl_div at p = 0, 0.5, -0.5: %g %g %g (want 0, %g, NaN)",
              (double)y->data[0], (double)y->data[1], (double)y->data[2], 0.5 * (log(0.5) + 2));
        y = mdl_kl_div_loss(ar, mdl_slice(ar, xs, 0, 0, 2), mdl_slice(ar, ts, 0, 0, 2), MDL_SUM,
                            0);
        CHECK(y && mdl_backward(y) == MDL_OK, "kl_div: backward");
        CHECK(xs->grad[0] == 0 && xs->grad[1] == -0.5, "kl_div dx = -p: %g %g",
              (double)xs->grad[0], (double)xs->grad[1]);
        CHECK(isinf(ts->grad[0]) && ts->grad[0] < 0 &&
              fabs(ts->grad[1] - (log(0.5) + 1 + 2)) < 1e-15,
              "kl_div dt = log p + 1 - input: %g %g", (double)ts->grad[0], (double)ts->grad[1]);
    }
}

/* ---- mistakes: each names the loss, and both shapes or the bad value ---- */

static void expect_error(const char *what, const mdl_tensor *t, int code, const char *a,
                         const char *b, const char *c) {
    CHECK(t == NULL && captured_code == code && strstr(captured_message, a) &&
              (!b || strstr(captured_message, b)) && (!c || strstr(captured_message, c)),
          "%s: code %d, message '%s'", what, captured_code, captured_message);
    capture_errors();
}

static void test_errors(void) {
    int s41[2] = {4, 1}, s4[1] = {4}, s43[2] = {4, 3}, s3[1] = {3}, s2[1] = {2}, s33[2] = {3, 3};
    int s234[3] = {2, 3, 4}, s24[2] = {2, 4};
    double bad_p[12] = {0.5, 0.5, 0.5, 0.5, 0.5, 1.5, 0.5}, nan_p[4] = {0.5, 0, 0, 0};
    double t4[4] = {0, 1, 7, 2}, tf[4] = {0, 1.5, 2, 1}, tn[4] = {0, -1, 2, 1};
    double t8[8] = {0, 1, 2, 0, 1, 1, 5, 0};
    mdl_tensor *x41 = mdl_zeros(ar, 2, s41), *x4 = mdl_zeros(ar, 1, s4);
    mdl_tensor *x43 = mdl_zeros(ar, 2, s43), *h43 = mdl_full(ar, 2, s43, 0.5);
    mdl_cross_entropy_opts o;
    capture_errors();
    nan_p[1] = nan("");

    /* shapes: every loss names itself and both shapes, and broadcasts nothing */
    expect_error("mse [4,1] vs [4]", mdl_mse_loss(ar, x41, x4, MDL_MEAN), MDL_ERR_SHAPE,
                 "mdl_mse_loss", "input [4,1] and target [4]", "same shape");
    expect_error("l1", mdl_l1_loss(ar, x4, x41, MDL_SUM), MDL_ERR_SHAPE, "mdl_l1_loss",
                 "input [4] and target [4,1]", NULL);
    expect_error("smooth_l1", mdl_smooth_l1_loss(ar, x41, x4, 1, MDL_MEAN), MDL_ERR_SHAPE,
                 "mdl_smooth_l1_loss", "[4,1]", "[4]");
    expect_error("huber", mdl_huber_loss(ar, x41, x4, 1, MDL_MEAN), MDL_ERR_SHAPE,
                 "mdl_huber_loss", "[4,1]", "[4]");
    expect_error("bce", mdl_bce_loss(ar, x41, x4, NULL, MDL_MEAN), MDL_ERR_SHAPE, "mdl_bce_loss",
                 "[4,1]", "[4]");
    expect_error("bce_with_logits", mdl_bce_with_logits_loss(ar, x43, x4, NULL, NULL, MDL_MEAN),
                 MDL_ERR_SHAPE, "mdl_bce_with_logits_loss", "input [4,3] and target [4]", NULL);
    expect_error("kl_div", mdl_kl_div_loss(ar, x43, x41, MDL_MEAN, 0), MDL_ERR_SHAPE,
                 "mdl_kl_div_loss", "[4,3]", "[4,1]");
    expect_error("cross_entropy, probabilities as a target",
                 mdl_cross_entropy_loss(ar, x43, x43, NULL), MDL_ERR_SHAPE,
                 "mdl_cross_entropy_loss", "input [4,3] and target [4,3]", "must be [4]");
    expect_error("nll, [N] for [N,C,d]", mdl_nll_loss(ar, mdl_zeros(ar, 3, s234), x4, NULL),
                 MDL_ERR_SHAPE, "mdl_nll_loss", "input [2,3,4] and target [4]", "must be [2,4]");
    expect_error("cross_entropy of a scalar",
                 mdl_cross_entropy_loss(ar, mdl_zeros(ar, 0, NULL), mdl_zeros(ar, 0, NULL), NULL),
                 MDL_ERR_SHAPE, "mdl_cross_entropy_loss", "class axis", NULL);

    /* weights that do not fit */
    expect_error("bce weight [2]", mdl_bce_loss(ar, h43, h43, mdl_ones(ar, 1, s2), MDL_MEAN),
                 MDL_ERR_SHAPE, "mdl_bce_loss", "input [4,3] and weight [2]", "broadcast");
    expect_error("bce weight [4,3,1]... too many axes",
                 mdl_bce_loss(ar, h43, h43, mdl_ones(ar, 3, s234), MDL_MEAN), MDL_ERR_SHAPE,
                 "mdl_bce_loss", "weight [2,3,4]", NULL);
    expect_error("bce_with_logits pos_weight [2]",
                 mdl_bce_with_logits_loss(ar, x43, x43, NULL, mdl_ones(ar, 1, s2), MDL_MEAN),
                 MDL_ERR_SHAPE, "mdl_bce_with_logits_loss", "pos_weight [2]", "must be [3]");
    expect_error("bce_with_logits weight [3,3]",
                 mdl_bce_with_logits_loss(ar, x43, x43, mdl_ones(ar, 2, s33), NULL, MDL_MEAN),
                 MDL_ERR_SHAPE, "mdl_bce_with_logits_loss", "weight [3,3]", NULL);
    memset(&o, 0, sizeof o);
    o.weight = mdl_ones(ar, 1, s4);
    expect_error("cross_entropy weight [4] for 3 classes",
                 mdl_cross_entropy_loss(ar, x43, mdl_zeros(ar, 1, s4), &o), MDL_ERR_SHAPE,
                 "mdl_cross_entropy_loss", "weight [4]", "must be [3]");

    /* values: probabilities, class indices, parameters */
    expect_error("bce input 1.5", mdl_bce_loss(ar, tensor(2, s43, bad_p), h43, NULL, MDL_MEAN),
                 MDL_ERR_ARG, "mdl_bce_loss", "element [1,2] is 1.5", "[0, 1]");
    expect_error("bce input NaN", mdl_bce_loss(ar, tensor(1, s4, nan_p), x4, NULL, MDL_MEAN),
                 MDL_ERR_ARG, "mdl_bce_loss", "element [1] is nan", NULL);
    expect_error("cross_entropy target 7 of 3 classes",
                 mdl_cross_entropy_loss(ar, x43, tensor(1, s4, t4), NULL), MDL_ERR_ARG,
                 "mdl_cross_entropy_loss", "row 2 is 7", "0..2");
    expect_error("cross_entropy target 1.5 (a float where an index belongs)",
                 mdl_cross_entropy_loss(ar, x43, tensor(1, s4, tf), NULL), MDL_ERR_ARG,
                 "mdl_cross_entropy_loss", "row 1 is 1.5", "whole number");
    expect_error("nll target -1 without ignore_index",
                 mdl_nll_loss(ar, x43, tensor(1, s4, tn), NULL), MDL_ERR_ARG, "mdl_nll_loss",
                 "row 1 is -1", NULL);
    memset(&o, 0, sizeof o);
    o.ignore = 1, o.ignore_index = -100;
    expect_error("cross_entropy target -1, ignore_index -100",
                 mdl_cross_entropy_loss(ar, x43, tensor(1, s4, tn), &o), MDL_ERR_ARG,
                 "row 1 is -1", "ignore_index -100", NULL);
    expect_error("cross_entropy [2,3,4] target 5 at row 1, place 2",
                 mdl_cross_entropy_loss(ar, mdl_zeros(ar, 3, s234), tensor(2, s24, t8), NULL),
                 MDL_ERR_ARG, "target [2,4]: row 1 at [2] is 5", NULL, NULL);
    expect_error("cross_entropy [3] one sample, target 3",
                 mdl_cross_entropy_loss(ar, mdl_zeros(ar, 1, s3), mdl_full(ar, 0, NULL, 3), NULL),
                 MDL_ERR_ARG, "target [] is 3", "0..2", NULL);
    memset(&o, 0, sizeof o);
    o.label_smoothing = 1.5;
    expect_error("label_smoothing 1.5", mdl_cross_entropy_loss(ar, x43, x4, &o), MDL_ERR_ARG,
                 "mdl_cross_entropy_loss", "label_smoothing 1.5", "between 0 and 1");
    o.label_smoothing = 0.1;
    expect_error("nll with label smoothing", mdl_nll_loss(ar, x43, x4, &o), MDL_ERR_ARG,
                 "mdl_nll_loss", "label_smoothing 0.1", "must be 0");
    o.label_smoothing = 0, o.reduction = MDL_BATCHMEAN;
    expect_error("cross_entropy batchmean", mdl_cross_entropy_loss(ar, x43, x4, &o), MDL_ERR_ARG,
                 "mdl_cross_entropy_loss", "reduction 3", "mdl_kl_div_loss");
    expect_error("mse reduction 9", mdl_mse_loss(ar, x4, x4, (mdl_reduction)9), MDL_ERR_ARG,
                 "mdl_mse_loss", "reduction 9", NULL);
    expect_error("bce batchmean", mdl_bce_loss(ar, h43, h43, NULL, MDL_BATCHMEAN), MDL_ERR_ARG,
                 "mdl_bce_loss", "reduction 3", NULL);
    expect_error("kl_div reduction -1", mdl_kl_div_loss(ar, x4, x4, (mdl_reduction)-1, 0),
                 MDL_ERR_ARG, "mdl_kl_div_loss", "reduction -1", "MDL_BATCHMEAN");
    expect_error("smooth_l1 beta -1", mdl_smooth_l1_loss(ar, x4, x4, -1, MDL_MEAN), MDL_ERR_ARG,
                 "mdl_smooth_l1_loss", "beta -1", ">= 0");
    expect_error("huber delta 0", mdl_huber_loss(ar, x4, x4, 0, MDL_MEAN), MDL_ERR_ARG,
                 "mdl_huber_loss", "delta 0", "> 0");

    /* NULL: reported once, then passed on quietly */
    expect_error("mse of NULL", mdl_mse_loss(ar, NULL, x4, MDL_MEAN), MDL_ERR_NULL,
                 "mdl_mse_loss", "input is NULL", NULL);
    expect_error("cross_entropy of a NULL target", mdl_cross_entropy_loss(ar, x43, NULL, NULL),
                 MDL_ERR_NULL, "mdl_cross_entropy_loss", "target is NULL", NULL);
    expect_error("kl_div of a NULL target", mdl_kl_div_loss(ar, x4, NULL, MDL_MEAN, 0),
                 MDL_ERR_NULL, "mdl_kl_div_loss", "target is NULL", NULL);
    mdl_bce_with_logits_loss(ar, NULL, x4, NULL, NULL, MDL_MEAN);
    CHECK(mdl_huber_loss(ar, NULL, x4, 1, MDL_MEAN) == NULL && captured_count == 1,
          "after an error, a NULL passes on quietly (%d reports)", captured_count);
    capture_errors();
}

int main(void) {
    capture_errors(); /* a contract error is a failure below, not an abort */
    mdl_rng_seed(&rng, 2024);
    ar = mdl_arena_new(0);
    test_regression_values();
    test_regression_kinks();
    test_regression_gradients();
    test_bce();
    test_bce_with_logits();
    test_class_values();
    test_class_rules();
    test_kl_div();
    CHECK(captured_count == 0, "%d unexpected error(s), the last: %s", captured_count,
          captured_message);
    test_errors();
    mdl_arena_free(ar);
    return test_summary();
}
