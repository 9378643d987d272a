/* tests/torch/torch_losses.c - minidl's losses, forward and backward, written as case files for
   tests/torch/compare.py, which recomputes each with torch.nn.functional (see
   tests/torch/README.md): every loss, every option (weights, pos_weight, ignore_index, label
   smoothing, log_target, extra axes) and every reduction, and the points where the gradient is
   a convention (the kinks of l1, smooth_l1 and huber, bce at 0 and 1, bce_with_logits at 0).

   The input is "input" (a param: its gradient is compared), the target "target" (a param where
   the loss differentiates it: bce, bce_with_logits, kl_div, the regression losses), and the
   constants "weight" and "pos_weight". Class indices travel as floats; compare.py makes them
   integers. args: "reduction" ("mean", "sum", "none", "batchmean") and the loss's options.

   Build and run (tests/torch/run.sh does this):
       gcc -std=c99 -Wall -Wextra -Wpedantic -Werror -O1 -g -I. tests/torch/torch_losses.c \
           -o build/torch_losses -lm
       mkdir -p /tmp/cases && ./build/torch_losses /tmp/cases
       /usr/bin/python3 tests/torch/compare.py /tmp/cases */
#define MINIDL_IMPLEMENTATION
#include "minidl.h"
#include "torch_case.h"

static const char *const reduction_names[] = {"mean", "sum", "none", "batchmean"};

/* Elements a reduction sums: n for mean and sum, 1 for none (for the tolerance of "out"). */
static double summed(mdl_reduction r, size_t n) { return r == MDL_NONE ? 1 : (double)n; }

static void fill_uniform(tc *t, mdl_tensor *x, double lo, double hi) {
    size_t i;
    for (i = 0; x && i < x->numel; i++)
        x->data[i] = (mdl_scalar)(lo + (hi - lo) * mdl_rng_uniform(&t->rng));
}

/* Multiples of `step` from -k step to k step: exact in float, and with ties and zeros. */
static void fill_grid(tc *t, mdl_tensor *x, double step, int k) {
    size_t i;
    for (i = 0; x && i < x->numel; i++)
        x->data[i] = (mdl_scalar)(step * ((int)(mdl_rng_u32(&t->rng) % (unsigned)(2 * k + 1)) - k));
}

/* ---- regression: mse, l1, smooth_l1, huber ------------------------------------------------ */

/* op is the compare.py name; p is beta or delta. grid: input and target on a grid of 0.25,
   so that d = input - target hits 0 and +-p exactly. */
static void regression_case(tc *t, const char *name, const char *op, double p, mdl_reduction r,
                            int ndim, const int *shape, int grid) {
    mdl_tensor *x, *y, *out = NULL;
    tc_begin(t, name, op, "{\"reduction\": \"%s\", \"p\": %.9g}", reduction_names[r], p);
    x = tc_input(t, "input", ndim, shape, 1);
    y = tc_input(t, "target", ndim, shape, 1);
    if (grid) fill_grid(t, x, 0.25, 6), fill_grid(t, y, 0.25, 6);
    tc_tol_sum(t, "out", summed(r, x ? x->numel : 1));
    tc_tol_pointwise(t, "*");
    if (strcmp(op, "mse_loss") == 0) out = mdl_mse_loss(t->ar, x, y, r);
    if (strcmp(op, "l1_loss") == 0) out = mdl_l1_loss(t->ar, x, y, r);
    if (strcmp(op, "smooth_l1_loss") == 0) out = mdl_smooth_l1_loss(t->ar, x, y, p, r);
    if (strcmp(op, "huber_loss") == 0) out = mdl_huber_loss(t->ar, x, y, p, r);
    tc_finish(t, out);
}

static void regression_cases(tc *t) {
    const int s[2] = {5, 7}, s3[3] = {2, 3, 4};
    regression_case(t, "mse/mean", "mse_loss", 0, MDL_MEAN, 2, s, 0);
    regression_case(t, "mse/sum_3d", "mse_loss", 0, MDL_SUM, 3, s3, 0);
    regression_case(t, "mse/none", "mse_loss", 0, MDL_NONE, 2, s, 0);
    regression_case(t, "l1/mean", "l1_loss", 0, MDL_MEAN, 2, s, 0);
    regression_case(t, "l1/none", "l1_loss", 0, MDL_NONE, 3, s3, 0);
    regression_case(t, "smooth_l1/beta1_mean", "smooth_l1_loss", 1, MDL_MEAN, 2, s, 0);
    regression_case(t, "smooth_l1/beta0.5_none", "smooth_l1_loss", 0.5, MDL_NONE, 2, s, 0);
    regression_case(t, "smooth_l1/beta2_sum", "smooth_l1_loss", 2, MDL_SUM, 3, s3, 0);
    regression_case(t, "smooth_l1/beta0_is_l1", "smooth_l1_loss", 0, MDL_MEAN, 2, s, 0);
    regression_case(t, "huber/delta1_mean", "huber_loss", 1, MDL_MEAN, 2, s, 0);
    regression_case(t, "huber/delta0.5_none", "huber_loss", 0.5, MDL_NONE, 3, s3, 0);
    regression_case(t, "huber/delta2_sum", "huber_loss", 2, MDL_SUM, 2, s, 0);
    /* the kinks: d = 0 (every loss), d = +-beta and +-delta */
    regression_case(t, "kink/l1_at_0", "l1_loss", 0, MDL_NONE, 2, s, 1);
    regression_case(t, "kink/mse_at_0", "mse_loss", 0, MDL_NONE, 2, s, 1);
    regression_case(t, "kink/smooth_l1_beta0.5", "smooth_l1_loss", 0.5, MDL_NONE, 2, s, 1);
    regression_case(t, "kink/smooth_l1_beta1", "smooth_l1_loss", 1, MDL_SUM, 3, s3, 1);
    regression_case(t, "kink/smooth_l1_beta0_at_0", "smooth_l1_loss", 0, MDL_NONE, 2, s, 1);
    regression_case(t, "kink/huber_delta0.5", "huber_loss", 0.5, MDL_NONE, 2, s, 1);
    regression_case(t, "kink/huber_delta1", "huber_loss", 1, MDL_MEAN, 3, s3, 1);
}

/* ---- binary cross-entropy ------------------------------------------------------------------ */

/* weight: 0 none, 1 [C] (the last axis), 2 [N,1]. soft: soft targets in [0,1], which get a
   gradient; otherwise 0 and 1, constants. edges: inputs exactly 0 or 1 among the others. */
static void bce_case(tc *t, const char *name, mdl_reduction r, int ndim, const int *shape,
                     int weight, int soft, int edges) {
    mdl_tensor *x, *y, *w = NULL;
    size_t i;
    tc_begin(t, name, "bce_loss", "{\"reduction\": \"%s\"}", reduction_names[r]);
    x = tc_input(t, "input", ndim, shape, 1);
    y = tc_input(t, "target", ndim, shape, soft);
    if (!x || !y) return;
    fill_uniform(t, x, 0.02, 0.98);
    if (soft) fill_uniform(t, y, 0, 1);
    for (i = 0; !soft && i < y->numel; i++) y->data[i] = (mdl_scalar)(mdl_rng_u32(&t->rng) & 1);
    for (i = 0; edges && i < x->numel; i += 3) x->data[i] = (mdl_scalar)(i % 2);
    if (weight == 1) w = tc_input(t, "weight", 1, shape + ndim - 1, 0);
    if (weight == 2) w = tc_input(t, "weight", 2, (const int[]){shape[0], 1}, 0);
    fill_uniform(t, w, 0, 2);
    /* the loss reaches 100 at an edge: its sum, a few hundred, is good to ~K u of that */
    tc_tol(t, "out", 1e-6 + 16.0 * summed(r, x->numel) * TC_U * (edges ? 100 : 4), 1e-5);
    tc_tol_pointwise(t, "*");
    tc_finish(t, mdl_bce_loss(t->ar, x, y, w, r));
}

/* pw: 0 none, 1 [C], 2 [1]. weight: 0 none, 1 [N,1]. scale: the logits are N(0, scale^2).
   zeros: every third logit exactly 0. */
static void bce_logits_case(tc *t, const char *name, mdl_reduction r, int ndim, const int *shape,
                            int pw, int weight, double scale, int zeros) {
    mdl_tensor *x, *y, *w = NULL, *p = NULL;
    size_t i;
    tc_begin(t, name, "bce_with_logits_loss", "{\"reduction\": \"%s\"}", reduction_names[r]);
    x = tc_input(t, "input", ndim, shape, 1);
    y = tc_input(t, "target", ndim, shape, 1);
    if (!x || !y) return;
    for (i = 0; i < x->numel; i++)
        x->data[i] = zeros && i % 3 == 0 ? 0 : x->data[i] * (mdl_scalar)scale;
    for (i = 0; i < y->numel; i++) /* 0, 1 and soft targets */
        y->data[i] = i % 4 == 3 ? (mdl_scalar)mdl_rng_uniform(&t->rng) : (mdl_scalar)(i % 2);
    if (pw == 1) p = tc_input(t, "pos_weight", 1, shape + ndim - 1, 0);
    if (pw == 2) p = tc_input(t, "pos_weight", 1, (const int[]){1}, 0);
    fill_uniform(t, p, 0.25, 4);
    if (weight) w = tc_input(t, "weight", 2, (const int[]){shape[0], 1}, 0);
    fill_uniform(t, w, 0, 2);
    /* a loss is up to ~4 |x|: its float rounding is a few u |x| */
    tc_tol(t, "out", 1e-6 + 16.0 * summed(r, x->numel) * TC_U * 4 * scale, 1e-5);
    tc_tol(t, "grad.target", 1e-6 + 16 * TC_U * 4 * scale, 1e-5);
    tc_tol_pointwise(t, "*");
    tc_finish(t, mdl_bce_with_logits_loss(t->ar, x, y, w, p, r));
}

static void bce_cases(tc *t) {
    const int s[2] = {6, 4}, s3[3] = {2, 3, 5};
    bce_case(t, "bce/mean", MDL_MEAN, 2, s, 0, 0, 0);
    bce_case(t, "bce/sum_soft_targets", MDL_SUM, 2, s, 0, 1, 0);
    bce_case(t, "bce/none_soft_targets", MDL_NONE, 3, s3, 0, 1, 0);
    bce_case(t, "bce/weight_C_mean", MDL_MEAN, 2, s, 1, 1, 0);
    bce_case(t, "bce/weight_Nx1_none", MDL_NONE, 2, s, 2, 0, 0);
    bce_case(t, "kink/bce_at_0_and_1_none", MDL_NONE, 2, s, 0, 0, 1);
    bce_case(t, "kink/bce_at_0_and_1_mean", MDL_MEAN, 2, s, 1, 0, 1);
    bce_logits_case(t, "bce_logits/mean", MDL_MEAN, 2, s, 0, 0, 2, 0);
    bce_logits_case(t, "bce_logits/none", MDL_NONE, 2, s, 0, 0, 2, 0);
    bce_logits_case(t, "bce_logits/pos_weight_C_sum", MDL_SUM, 2, s, 1, 0, 2, 0);
    bce_logits_case(t, "bce_logits/pos_weight_1_mean", MDL_MEAN, 2, s, 2, 0, 2, 0);
    bce_logits_case(t, "bce_logits/pos_weight_weight_none", MDL_NONE, 2, s, 1, 1, 2, 0);
    bce_logits_case(t, "bce_logits/3d_pos_weight_mean", MDL_MEAN, 3, s3, 1, 0, 2, 0);
    bce_logits_case(t, "bce_logits/large_logits_x30", MDL_NONE, 2, s, 1, 0, 30, 0);
    bce_logits_case(t, "kink/bce_logits_at_0", MDL_NONE, 2, s, 1, 0, 1, 1);
    bce_logits_case(t, "kink/bce_logits_at_0_mean", MDL_MEAN, 2, s, 0, 1, 1, 1);
}

/* ---- cross-entropy and nll ---------------------------------------------------------------- */

typedef struct class_spec {
    const char *name;
    int nll;             /* nll_loss of log_softmax'd inputs, else cross_entropy of logits */
    int ndim, shape[4];  /* the input [N, C, ...] or [C] */
    mdl_reduction r;
    int weight;          /* a weight [C] */
    int ignore, ignore_index;
    int n_ignored;       /* how many targets are set to ignore_index (the first, then every
                            third) */
    double smoothing, scale;
} class_spec;

static void class_case(tc *t, const class_spec *c) {
    mdl_cross_entropy_opts o;
    int C = c->shape[c->ndim == 1 ? 0 : 1], tshape[4], d, k;
    mdl_tensor *x, *y, *in;
    size_t i;
    for (d = 0; d < c->ndim; d++)
        if (d != 1) tshape[d < 1 ? d : d - 1] = c->shape[d];
    tc_begin(t, c->name, c->nll ? "nll_loss" : "cross_entropy",
             "{\"reduction\": \"%s\", \"ignore_index\": %d, \"label_smoothing\": %.9g}",
             reduction_names[c->r], c->ignore ? c->ignore_index : -100, c->smoothing);
    x = tc_input(t, "input", c->ndim, c->shape, 1);
    y = tc_input(t, "target", c->ndim - 1, tshape, 0);
    if (!x || !y) return;
    for (i = 0; i < x->numel; i++) x->data[i] *= (mdl_scalar)c->scale;
    for (i = 0; i < y->numel; i++) y->data[i] = (mdl_scalar)(mdl_rng_u32(&t->rng) % (unsigned)C);
    for (i = 0, k = 0; k < c->n_ignored && i < y->numel; i += 3, k++)
        y->data[i] = (mdl_scalar)c->ignore_index;
    memset(&o, 0, sizeof o);
    o.reduction = c->r;
    o.ignore = c->ignore;
    o.ignore_index = c->ignore_index;
    o.label_smoothing = c->smoothing;
    if (c->weight) {
        o.weight = tc_input(t, "weight", 1, &C, 0);
        fill_uniform(t, o.weight, 0.2, 3);
    }
    /* computed in double from float inputs: the float rounding of the result, and for the
       logits' scale, of x - lse */
    tc_tol(t, "*", 1e-6 + 8 * c->scale * TC_U, 1e-5);
    in = c->nll ? mdl_log_softmax(t->ar, x, c->ndim == 1 ? 0 : 1) : x;
    tc_finish(t, c->nll ? mdl_nll_loss(t->ar, in, y, &o)
                        : mdl_cross_entropy_loss(t->ar, in, y, &o));
}

static void class_cases(tc *t) {
    static const class_spec c[] = {
        /* name, nll, ndim, shape, reduction, weight, ignore, ignore_index, n_ignored, eps, scale */
        {"cross_entropy/mean",                0, 2, {8, 5},      MDL_MEAN, 0, 0,    0, 0, 0,   1},
        {"cross_entropy/sum",                 0, 2, {8, 5},      MDL_SUM,  0, 0,    0, 0, 0,   1},
        {"cross_entropy/none",                0, 2, {8, 5},      MDL_NONE, 0, 0,    0, 0, 0,   1},
        {"cross_entropy/weight_mean",         0, 2, {8, 5},      MDL_MEAN, 1, 0,    0, 0, 0,   1},
        {"cross_entropy/weight_none",         0, 2, {8, 5},      MDL_NONE, 1, 0,    0, 0, 0,   1},
        {"cross_entropy/ignore_-100_mean",    0, 2, {9, 4},      MDL_MEAN, 0, 1, -100, 3, 0,   1},
        {"cross_entropy/ignore_class2_sum",   0, 2, {9, 4},      MDL_SUM,  0, 1,    2, 2, 0,   1},
        {"cross_entropy/weight_ignore_mean",  0, 2, {9, 4},      MDL_MEAN, 1, 1, -100, 3, 0,   1},
        {"cross_entropy/smooth0.1_mean",      0, 2, {8, 5},      MDL_MEAN, 0, 0,    0, 0, 0.1, 1},
        {"cross_entropy/smooth0.3_none",      0, 2, {8, 5},      MDL_NONE, 0, 0,    0, 0, 0.3, 1},
        {"cross_entropy/smooth_weight_mean",  0, 2, {8, 5},      MDL_MEAN, 1, 0,    0, 0, 0.2, 1},
        {"cross_entropy/smooth_w_ignore_mean",0, 2, {9, 4},      MDL_MEAN, 1, 1, -100, 3, 0.25,1},
        {"cross_entropy/smooth_w_ignore1_none",0, 2, {9, 4},      MDL_NONE, 1, 1,    1, 2, 0.25,1},
        {"cross_entropy/smooth_w_ignore_sum", 0, 2, {9, 4},      MDL_SUM,  1, 1,   -1, 3, 0.15,1},
        {"cross_entropy/NCd_mean",            0, 3, {3, 4, 5},   MDL_MEAN, 0, 0,    0, 0, 0,   1},
        {"cross_entropy/NCd1d2_w_ig_smooth",  0, 4, {2, 3, 4, 3},MDL_MEAN, 1, 1, -100, 4, 0.1, 1},
        {"cross_entropy/NCd1d2_none",         0, 4, {2, 3, 4, 3},MDL_NONE, 0, 0,    0, 0, 0,   1},
        {"cross_entropy/one_sample_C",        0, 1, {7},         MDL_MEAN, 0, 0,    0, 0, 0,   1},
        {"cross_entropy/one_sample_smooth_w", 0, 1, {7},         MDL_NONE, 1, 0,    0, 0, 0.2, 1},
        {"cross_entropy/large_logits_x50",    0, 2, {6, 9},      MDL_MEAN, 0, 0,    0, 0, 0.1, 50},
        {"nll/mean",                          1, 2, {8, 5},      MDL_MEAN, 0, 0,    0, 0, 0,   1},
        {"nll/weight_ignore_mean",            1, 2, {9, 4},      MDL_MEAN, 1, 1, -100, 3, 0,   1},
        {"nll/weight_sum",                    1, 2, {9, 4},      MDL_SUM,  1, 0,    0, 0, 0,   1},
        {"nll/NCd_none_ignore_class0",        1, 3, {3, 4, 5},   MDL_NONE, 0, 1,    0, 4, 0,   1},
        {"nll/one_sample_C",                  1, 1, {7},         MDL_SUM,  1, 0,    0, 0, 0,   1},
    };
    size_t i;
    for (i = 0; i < sizeof c / sizeof c[0]; i++) class_case(t, &c[i]);
}

/* ---- KL divergence ----------------------------------------------------------------------- */

/* input: log_softmax of N(0,1) rows; target: a distribution (with some exact zeros, which then
   do not get a gradient: PyTorch's is NaN there), or log-probabilities with log_target */
static void kl_case(tc *t, const char *name, mdl_reduction r, int log_target, int zeros) {
    const int s[2] = {5, 6};
    mdl_tensor *x, *y, *lx;
    size_t i;
    tc_begin(t, name, "kl_div", "{\"reduction\": \"%s\", \"log_target\": %d}",
             reduction_names[r], log_target);
    x = tc_input(t, "input", 2, s, 1);
    y = tc_input(t, "target", 2, s, !zeros);
    if (!x || !y) return;
    lx = mdl_log_softmax(t->ar, mdl_detach(t->ar, x), 1); /* log-probabilities, in place */
    if (lx) mdl_copy(x, lx);
    if (log_target) {
        lx = mdl_log_softmax(t->ar, mdl_detach(t->ar, y), 1);
        if (lx) mdl_copy(y, lx);
    } else {
        fill_uniform(t, y, 0, 0.4);
        for (i = 0; zeros && i < y->numel; i += 4) y->data[i] = 0;
    }
    tc_tol(t, "out", 1e-6 + 16.0 * summed(r, x->numel) * TC_U * 4, 1e-5);
    tc_tol(t, "*", 1e-6 + 8 * TC_U * 4, 1e-5);
    tc_finish(t, mdl_kl_div_loss(t->ar, x, y, r, log_target));
}

static void kl_cases(tc *t) {
    kl_case(t, "kl_div/mean", MDL_MEAN, 0, 0);
    kl_case(t, "kl_div/sum", MDL_SUM, 0, 0);
    kl_case(t, "kl_div/none", MDL_NONE, 0, 0);
    kl_case(t, "kl_div/batchmean", MDL_BATCHMEAN, 0, 0);
    kl_case(t, "kl_div/zeros_in_target_batchmean", MDL_BATCHMEAN, 0, 1);
    kl_case(t, "kl_div/log_target_batchmean", MDL_BATCHMEAN, 1, 0);
    kl_case(t, "kl_div/log_target_none", MDL_NONE, 1, 0);
    kl_case(t, "kl_div/log_target_mean", MDL_MEAN, 1, 0);
}

int main(int argc, char **argv) {
    tc t;
    if (tc_open(&t, argc, argv, "torch_losses") != 0) return 2;
    regression_cases(&t);
    bce_cases(&t);
    class_cases(&t);
    kl_cases(&t);
    return tc_close(&t);
}
