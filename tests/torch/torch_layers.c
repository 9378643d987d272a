/* tests/torch/torch_layers.c - minidl's layers, forward and backward, written as case files for
   tests/torch/compare.py, which recomputes each with PyTorch (see tests/torch/README.md).

   Two kinds of case:
   - The functional forms (mdl_linear, mdl_layer_norm, mdl_embedding, mdl_batch_norm,
     mdl_dropout) as op cases: tensors in, out and the gradients of sum(out * v) back, against
     torch.nn.functional.
   - The layer objects as "model" cases: a list of layer_spec (the numbers the test gives to
     minidl's constructors) is made into an mdl_sequential, and compare.py makes a
     torch.nn.Sequential from the same numbers (the case's "layers"). Every tensor the layers
     registered in their mdl_params is written as an input under the name minidl gave it, in
     minidl's order, so compare.py checks that these names and shapes are the torch module's
     state_dict keys and shapes, one to one and in order, before it loads them. Then each step
     (training or evaluation mode) runs x through both, runs the backward of sum(out * v), and
     compares out, the gradient of x and of every parameter ("grad.fc.weight"), and every
     buffer after the step ("state.bn.running_var"). A case of several steps prefixes these
     with "step1.", "step2.", ...; the gradients are zeroed between steps.

   Dropout in training draws its mask from minidl's generator, which torch cannot follow: the
   "dropout_rule" cases compare the rule instead (a kept value is x / (1 - p), the fraction of
   zeros is p's, the gradient goes through the same mask).

   Build and run (tests/torch/run.sh does this):
       gcc -std=c99 -Wall -Wextra -Wpedantic -Werror -O1 -g -I. tests/torch/torch_layers.c \
           -o build/torch_layers -lm
       mkdir -p /tmp/cases && ./build/torch_layers /tmp/cases
       /usr/bin/python3 tests/torch/compare.py /tmp/cases */
#define MINIDL_IMPLEMENTATION
#include "minidl.h"
#include "torch_case.h"
#include <math.h>

/* Register a copy of x (a layer's parameter or buffer) as an input of the case: the case file
   gets its values as they are now, whatever the steps do to x afterwards. */
static mdl_tensor *tc_add(tc *t, const char *name, const mdl_tensor *x) {
    mdl_tensor *c = tc_input(t, name, x->ndim, x->shape, x->requires_grad);
    if (c) memcpy(c->data, x->data, x->numel * sizeof(mdl_scalar));
    return c;
}

/* Fail the case with this message (written by tc_end), unless minidl already reported one. */
static void tc_fail(const char *message) {
    if (!tc__error[0]) snprintf(tc__error, sizeof tc__error, "%s", message);
}

/* Append printf-formatted text to buf (of size `size`); the caller checks the length at the
   end (a full buffer keeps its first size - 1 characters). */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((format(printf, 3, 4)))
#endif
static void cat(char *buf, size_t size, const char *fmt, ...) {
    size_t n = strlen(buf);
    va_list ap;
    if (n + 1 >= size) return;
    va_start(ap, fmt);
    vsnprintf(buf + n, size - n, fmt, ap);
    va_end(ap);
}

/* ---- linear ------------------------------------------------------------------------------ */

/* mdl_linear(x [..., in], w [out, in], b [out] or NULL): out sums `in` products (and the bias),
   grad.x sums `out`, grad.w and grad.b one term per row of x (`rows`: x's leading axes) */
static void linear_case(tc *t, const char *name, int ndim, const int *xs, int out, int bias) {
    int in = xs[ndim - 1], rows = 1, d;
    mdl_tensor *x, *w, *b = NULL;
    for (d = 0; d < ndim - 1; d++) rows *= xs[d];
    tc_begin(t, name, "linear", "{\"bias\": %d}", bias);
    x = tc_input(t, "x", ndim, xs, 1);
    w = tc_input(t, "w", 2, (const int[]){out, in}, 1);
    if (bias) b = tc_input(t, "b", 1, (const int[]){out}, 1);
    tc_tol_sum(t, "out", in + 1);
    tc_tol_sum(t, "grad.x", out);
    tc_tol_sum(t, "grad.w", rows);
    tc_tol_sum(t, "grad.b", rows);
    tc_finish(t, mdl_linear(t->ar, x, w, b));
}

static void linear_cases(tc *t) {
    linear_case(t, "linear/2d_bias_5x8_to_3", 2, (const int[]){5, 8}, 3, 1);
    linear_case(t, "linear/2d_nobias_7x12_to_4", 2, (const int[]){7, 12}, 4, 0);
    linear_case(t, "linear/3d_bias_2x4x7_to_5", 3, (const int[]){2, 4, 7}, 5, 1);
    linear_case(t, "linear/3d_nobias_3x5x6_to_2", 3, (const int[]){3, 5, 6}, 2, 0);
    linear_case(t, "linear/1d_bias_9_to_4", 1, (const int[]){9}, 4, 1);
    linear_case(t, "linear/4d_bias_2x2x3x5_to_3", 4, (const int[]){2, 2, 3, 5}, 3, 1);
    /* few rows and a long `in`: x @ W^T by the dot-product kernels */
    linear_case(t, "linear/2d_bias_16x300_to_10", 2, (const int[]){16, 300}, 10, 1);
}

/* ---- layer norm -------------------------------------------------------------------------- */

/* mdl_layer_norm over the last n_axes of x [4,6,10]: the mean and the variance each sum
   `inner` values (the product of those axes); so does grad.x (the backward of both); grad.w
   and grad.b sum one term per leading index (`rows`) */
static void layer_norm_case(tc *t, const char *name, int n_axes, int affine, double eps) {
    static const int xs[3] = {4, 6, 10};
    int inner = 1, d;
    mdl_tensor *x, *w = NULL, *b = NULL;
    for (d = 3 - n_axes; d < 3; d++) inner *= xs[d];
    tc_begin(t, name, "layer_norm", "{\"n_axes\": %d, \"eps\": %.9g}", n_axes, eps);
    x = tc_input(t, "x", 3, xs, 1);
    if (affine) {
        w = tc_input(t, "weight", n_axes, xs + 3 - n_axes, 1);
        b = tc_input(t, "bias", n_axes, xs + 3 - n_axes, 1);
    }
    tc_tol_sum(t, "out", inner);
    tc_tol_sum(t, "grad.x", inner);
    tc_tol_sum(t, "grad.weight", 240 / inner);
    tc_tol_sum(t, "grad.bias", 240 / inner);
    tc_finish(t, mdl_layer_norm(t->ar, x, n_axes, w, b, eps));
}

static void layer_norm_cases(tc *t) {
    layer_norm_case(t, "layer_norm/last1_weight_bias", 1, 1, 1e-5);
    layer_norm_case(t, "layer_norm/last2_weight_bias", 2, 1, 1e-5);
    layer_norm_case(t, "layer_norm/last1_no_affine", 1, 0, 1e-5);
    layer_norm_case(t, "layer_norm/last2_eps1e-3", 2, 1, 1e-3);
    layer_norm_case(t, "layer_norm/all3_weight_bias", 3, 1, 1e-5);
}

/* ---- embedding --------------------------------------------------------------------------- */

/* mdl_embedding of an index [3,5] into weight [10,6]: rows 3 and padding_idx picked several
   times, so their gradients add up (a sum of a few v values; the padding row's stays 0) */
static void embedding_case(tc *t, const char *name, int padding_idx) {
    static const float picks[15] = {3, 0, 3, 9, 2, 7, 2, 3, 5, 1, 2, 8, 4, 6, 2};
    mdl_tensor *index, *w;
    int i;
    tc_begin(t, name, "embedding", "{\"padding_idx\": %d}", padding_idx);
    index = tc_input(t, "index", 2, (const int[]){3, 5}, 0);
    w = tc_input(t, "weight", 2, (const int[]){10, 6}, 1);
    for (i = 0; index && i < 15; i++) index->data[i] = (mdl_scalar)picks[i];
    tc_tol_sum(t, "*", 4);
    tc_finish(t, mdl_embedding(t->ar, index, w, padding_idx));
}

/* ---- batch norm, the functional form ----------------------------------------------------- */

/* mdl_batch_norm on x [N,C,...] with n = N * (the rest) values per channel: the batch's mean
   and variance sum n values, as do grad.x (through both), grad.weight and grad.bias. The
   running statistics are inputs (their values before) and results (after): minidl updates
   copies, so that the inputs keep the values torch must start from. */
static void batch_norm_case(tc *t, const char *name, int ndim, const int *xs, int training,
                            int running, int affine, double momentum, double eps) {
    int C = xs[1], n = 1, d;
    size_t i;
    mdl_tensor *x, *w = NULL, *b = NULL, *rm = NULL, *rv = NULL, *rm2 = NULL, *rv2 = NULL, *v, *y;
    for (d = 0; d < ndim; d++) n *= d == 1 ? 1 : xs[d];
    tc_begin(t, name, "batch_norm", "{\"training\": %d, \"momentum\": %.9g, \"eps\": %.9g}",
             training, momentum, eps);
    x = tc_input(t, "x", ndim, xs, 1);
    for (i = 0; x && i < x->numel; i++) x->data[i] = 1.5f + 2 * x->data[i]; /* stats move */
    if (affine) {
        w = tc_input(t, "weight", 1, &C, 1);
        b = tc_input(t, "bias", 1, &C, 1);
    }
    if (running) {
        rm = tc_input(t, "running_mean", 1, &C, 0);
        rv = tc_input(t, "running_var", 1, &C, 0);
        for (d = 0; rv && d < C; d++) rv->data[d] = 0.5f + rv->data[d] * rv->data[d];
        rm2 = mdl_zeros(t->ar, 1, &C);
        rv2 = mdl_zeros(t->ar, 1, &C);
        if (rm && rv && rm2 && rv2) {
            mdl_copy(rm2, rm);
            mdl_copy(rv2, rv);
        }
    }
    v = tc_input(t, "v", ndim, xs, 0);
    tc_tol_sum(t, "*", n);
    y = mdl_batch_norm(t->ar, x, rm2, rv2, w, b, training, momentum, eps);
    if (y && v) {
        mdl_backward_with(y, v);
        tc_result(t, "out", y->ndim, y->shape, y->data);
        tc_result(t, "grad.x", x->ndim, x->shape, x->grad);
        if (affine) {
            tc_result(t, "grad.weight", 1, &C, w->grad);
            tc_result(t, "grad.bias", 1, &C, b->grad);
        }
        if (running) {
            tc_result(t, "running_mean", 1, &C, rm2->data);
            tc_result(t, "running_var", 1, &C, rv2->data);
        }
    }
    tc_end(t);
}

static void batch_norm_cases(tc *t) {
    batch_norm_case(t, "batch_norm/train_NCHW_momentum0.3_eps1e-3", 4, (const int[]){3, 4, 5, 6},
                    1, 1, 1, 0.3, 1e-3);
    batch_norm_case(t, "batch_norm/train_NCL_no_affine_no_running", 3, (const int[]){4, 3, 7},
                    1, 0, 0, 0.1, 1e-5);
    batch_norm_case(t, "batch_norm/train_NC_8x5", 2, (const int[]){8, 5}, 1, 1, 1, 0.1, 1e-5);
    batch_norm_case(t, "batch_norm/eval_NC", 2, (const int[]){6, 5}, 0, 1, 1, 0.1, 1e-5);
    batch_norm_case(t, "batch_norm/eval_NCHW_no_affine", 4, (const int[]){2, 3, 4, 5}, 0, 1, 0,
                    0.1, 1e-5);
}

/* ---- dropout ----------------------------------------------------------------------------- */

/* Dropout that torch computes the same way: evaluation (y = x), and p = 0 or 1 in training */
static void dropout_case(tc *t, const char *name, double p, int training, int as_layer) {
    mdl_tensor *x;
    mdl_layer l;
    tc_begin(t, name, "dropout", "{\"p\": %.9g, \"training\": %d}", p, training);
    x = tc_input(t, "x", 3, (const int[]){4, 5, 6}, 1);
    tc_tol_pointwise(t, "*");
    if (!as_layer) {
        tc_finish(t, mdl_dropout(t->ar, x, p, training, &t->rng));
        return;
    }
    l = mdl_dropout_layer(p, &t->rng);
    mdl_layer_train(&l, training);
    tc_finish(t, mdl_layer_forward(t->ar, &l, x));
}

/* Dropout in training with 0 < p < 1: the masks differ from torch's, so the rule is compared.
   minidl's mask (where its y is 0) is written as an input; compare.py checks that
   out = x * mask / (1 - p) and grad.x = v * mask / (1 - p), that torch's own dropout follows
   that rule, and that minidl's fraction of zeros (and torch's) is near p. */
static void dropout_rule_case(tc *t, const char *name, double p, int as_layer) {
    const int shape[2] = {100, 200}, n = 100 * 200;
    /* the fraction of zeros is Binomial(n, p) / n, of standard deviation sqrt(p (1 - p) / n):
       allow 5 of them (0.0106 at p = 0.1, 0.0177 at p = 0.5) */
    const double fraction_tol = 5 * sqrt(p * (1 - p) / n);
    mdl_tensor *x, *mask, *v, *y;
    mdl_layer l;
    mdl_scalar zeros = 0;
    int i;
    tc_begin(t, name, "dropout_rule", "{\"p\": %.9g, \"fraction_tol\": %.9g}", p, fraction_tol);
    x = tc_input(t, "x", 2, shape, 1);
    mask = tc_input(t, "mask", 2, shape, 0);
    v = tc_input(t, "v", 2, shape, 0);
    if (!x || !mask || !v) {
        tc_end(t);
        return;
    }
    for (i = 0; i < n; i++)
        if (x->data[i] == 0) x->data[i] = 1; /* a kept 0 would look dropped */
    if (as_layer) {
        l = mdl_dropout_layer(p, &t->rng); /* training mode, the default */
        y = mdl_layer_forward(t->ar, &l, x);
    } else {
        y = mdl_dropout(t->ar, x, p, 1, &t->rng);
    }
    if (!y) {
        tc_end(t);
        return;
    }
    for (i = 0; i < n; i++) {
        mask->data[i] = y->data[i] != 0;
        zeros += y->data[i] == 0;
    }
    zeros /= n;
    mdl_backward_with(y, v);
    /* x times the scale 1 / (1 - p) rounded to float: two roundings */
    tc_tol_pointwise(t, "out");
    tc_tol_pointwise(t, "grad.x");
    tc_tol(t, "zero_fraction", fraction_tol, 0);
    tc_result(t, "out", 2, shape, y->data);
    tc_result(t, "grad.x", 2, shape, x->grad);
    tc_result(t, "zero_fraction", 0, shape, &zeros);
    tc_end(t);
}

static void dropout_cases(tc *t) {
    dropout_case(t, "dropout/eval_identity_p0.5", 0.5, 0, 0);
    dropout_case(t, "dropout/layer_eval_identity_p0.3", 0.3, 0, 1);
    dropout_case(t, "dropout/train_p0_identity", 0, 1, 0);
    dropout_case(t, "dropout/train_p1_zeros", 1, 1, 0);
    dropout_case(t, "dropout/layer_train_p1_zeros", 1, 1, 1);
    dropout_rule_case(t, "dropout_rule/train_p0.1", 0.1, 0);
    dropout_rule_case(t, "dropout_rule/train_p0.5", 0.5, 0);
    dropout_rule_case(t, "dropout_rule/layer_train_p0.3", 0.3, 1);
}

/* ---- layer objects: models of layer specs ------------------------------------------------ */

/* One layer as the test means it: minidl's constructor gets these numbers, and compare.py
   builds the torch.nn module from the same ones (written as JSON by spec_json). */
typedef struct layer_spec {
    const char *name;   /* the prefix of its parameters' names ("fc1"); NULL for none */
    mdl_layer_kind kind;
    int in, out;        /* Linear: features; Conv: channels; BatchNorm: C (in);
                           Embedding: num, dim; LayerNorm: n_axes (in) */
    int kh, kw;         /* Conv2d: kernel; Conv1d: kw; pooling: the kernel argument (kh);
                           AdaptiveAvgPool2d: the output size */
    int bias;           /* Linear, Conv */
    mdl_conv_opts conv; /* Conv (all zero: passed as NULL) */
    mdl_pool_opts pool; /* pooling (all zero: passed as NULL) */
    int shape[2];       /* LayerNorm: the sizes of the normalized axes */
    int axis[2];        /* Flatten: start, end */
    int padding_idx;    /* Embedding: -1 for none (always set it) */
    double p;           /* Dropout */
} layer_spec;

static int all_zero(const void *p, size_t n) {
    const unsigned char *b = (const unsigned char *)p;
    size_t i;
    for (i = 0; i < n; i++)
        if (b[i]) return 0;
    return 1;
}

static mdl_layer make_layer(mdl_params *ps, const layer_spec *s, mdl_rng *rng) {
    const mdl_conv_opts *co = all_zero(&s->conv, sizeof s->conv) ? NULL : &s->conv;
    const mdl_pool_opts *po = all_zero(&s->pool, sizeof s->pool) ? NULL : &s->pool;
    switch (s->kind) {
    case MDL_LAYER_LINEAR: return mdl_linear_layer(ps, s->name, s->in, s->out, s->bias, rng);
    case MDL_LAYER_CONV2D:
        return mdl_conv2d_layer(ps, s->name, s->in, s->out, s->kh, s->kw, co, s->bias, rng);
    case MDL_LAYER_CONV1D:
        return mdl_conv1d_layer(ps, s->name, s->in, s->out, s->kw, co, s->bias, rng);
    case MDL_LAYER_MAX_POOL2D: case MDL_LAYER_AVG_POOL2D:
    case MDL_LAYER_MAX_POOL1D: case MDL_LAYER_AVG_POOL1D:
        return mdl_pool_layer(s->kind, s->kh, po);
    case MDL_LAYER_ADAPTIVE_AVG_POOL2D: return mdl_adaptive_avg_pool2d_layer(s->kh, s->kw);
    case MDL_LAYER_FLATTEN: return mdl_flatten_layer(s->axis[0], s->axis[1]);
    case MDL_LAYER_DROPOUT: return mdl_dropout_layer(s->p, rng);
    case MDL_LAYER_BATCH_NORM1D: return mdl_batch_norm1d_layer(ps, s->name, s->in);
    case MDL_LAYER_BATCH_NORM2D: return mdl_batch_norm2d_layer(ps, s->name, s->in);
    case MDL_LAYER_LAYER_NORM: return mdl_layer_norm_layer(ps, s->name, s->in, s->shape);
    case MDL_LAYER_EMBEDDING:
        return mdl_embedding_layer(ps, s->name, s->in, s->out, s->padding_idx, rng);
    default: return mdl_activation_layer(s->kind);
    }
}

/* The spec as compare.py's build_layer reads it: the fields that the kind uses, minidl's
   options as given (compare.py applies minidl's rules for zeros, as the op cases do). */
static void spec_json(char *buf, size_t size, const layer_spec *s) {
    const mdl_conv_opts *c = &s->conv;
    const mdl_pool_opts *p = &s->pool;
    cat(buf, size, "{\"name\": \"%s\", \"kind\": \"%s\"", s->name ? s->name : "",
        mdl_layer_kind_name(s->kind));
    switch (s->kind) {
    case MDL_LAYER_LINEAR:
        cat(buf, size, ", \"in\": %d, \"out\": %d, \"bias\": %d", s->in, s->out, s->bias);
        break;
    case MDL_LAYER_CONV2D: case MDL_LAYER_CONV1D:
        cat(buf, size, ", \"in\": %d, \"out\": %d, \"kernel\": [%d, %d], \"bias\": %d, "
            "\"stride\": %d, \"padding\": %d, \"dilation\": %d, \"groups\": %d, "
            "\"stride_hw\": [%d, %d], \"padding_hw\": [%d, %d], \"dilation_hw\": [%d, %d]",
            s->in, s->out, s->kh, s->kw, s->bias, c->stride, c->padding, c->dilation, c->groups,
            c->stride_hw[0], c->stride_hw[1], c->padding_hw[0], c->padding_hw[1],
            c->dilation_hw[0], c->dilation_hw[1]);
        break;
    case MDL_LAYER_MAX_POOL2D: case MDL_LAYER_AVG_POOL2D:
    case MDL_LAYER_MAX_POOL1D: case MDL_LAYER_AVG_POOL1D:
        cat(buf, size, ", \"kernel\": %d, \"stride\": %d, \"padding\": %d, \"dilation\": %d, "
            "\"kernel_hw\": [%d, %d], \"stride_hw\": [%d, %d], \"padding_hw\": [%d, %d], "
            "\"dilation_hw\": [%d, %d], \"ceil_mode\": %d, \"exclude_padding\": %d",
            s->kh, p->stride, p->padding, p->dilation, p->kernel_hw[0], p->kernel_hw[1],
            p->stride_hw[0], p->stride_hw[1], p->padding_hw[0], p->padding_hw[1],
            p->dilation_hw[0], p->dilation_hw[1], p->ceil_mode, p->exclude_padding);
        break;
    case MDL_LAYER_ADAPTIVE_AVG_POOL2D:
        cat(buf, size, ", \"out\": [%d, %d]", s->kh, s->kw);
        break;
    case MDL_LAYER_FLATTEN:
        cat(buf, size, ", \"start\": %d, \"end\": %d", s->axis[0], s->axis[1]);
        break;
    case MDL_LAYER_DROPOUT: cat(buf, size, ", \"p\": %.9g", s->p); break;
    case MDL_LAYER_BATCH_NORM1D: case MDL_LAYER_BATCH_NORM2D:
        cat(buf, size, ", \"C\": %d", s->in);
        break;
    case MDL_LAYER_LAYER_NORM:
        cat(buf, size, ", \"shape\": [%d", s->shape[0]);
        if (s->in == 2) cat(buf, size, ", %d", s->shape[1]);
        cat(buf, size, "]");
        break;
    case MDL_LAYER_EMBEDDING:
        cat(buf, size, ", \"num\": %d, \"dim\": %d, \"padding_idx\": %d", s->in, s->out,
            s->padding_idx);
        break;
    default: break;
    }
    cat(buf, size, "}");
}

/* A tolerance of a model case: `result` is a result's name without its "stepN." prefix
   ("out", "grad.x", "grad.conv1.weight"), or a prefix ending in '.' ("grad.", "state.") for
   all the results it begins, or "*"; K as tc_tol_sum. The most specific entry wins. */
typedef struct tol_k {
    const char *result;
    double K;
} tol_k;

#define MAX_TOLS 8
#define MAX_STEPS 3

typedef struct model_spec {
    const char *name;
    int n_layers;
    const layer_spec *layers;
    int n_steps;
    int train[MAX_STEPS];  /* each step: 1 training mode, 0 evaluation */
    int ndim, shape[4];    /* each step's x */
    double x_shift, x_scale; /* x = shift + scale N(0,1) (scale 0: 1) */
    int x_index;           /* > 0: x holds whole numbers 0 .. x_index-1, and needs no grad */
    int perturb;           /* norm layers: weight, bias and running statistics drawn at random,
                              num_batches_tracked 5 (else the constructor's values) */
    int check_init;        /* compare the constructors' fixed values with torch's */
    tol_k tol[MAX_TOLS];
} model_spec;

/* The results of a model case, kept until every input (the last step's v) is registered. */
#define MAX_KEPT 48
typedef struct kept {
    char name[96];
    mdl_tensor *val;
    double atol, rtol;
} kept;
static kept kept_list[MAX_KEPT];
static int n_kept;

static void keep(tc *t, const char *name, int ndim, const int *shape, const mdl_scalar *data,
                 double atol, double rtol) {
    kept *k;
    if (n_kept == MAX_KEPT) {
        tc_fail("torch_layers.c: more results than MAX_KEPT");
        return;
    }
    k = &kept_list[n_kept++];
    snprintf(k->name, sizeof k->name, "%s", name);
    k->val = mdl_zeros(t->ar, ndim, shape);
    if (k->val && data) memcpy(k->val->data, data, k->val->numel * sizeof(mdl_scalar));
    k->atol = atol, k->rtol = rtol;
}

/* The tolerance of result `name` (without its step prefix) in model m, as tc_tol_sum's: its
   own entry, else the longest prefix entry ("grad."), else "*", else K = 0. */
static void model_tol(const model_spec *m, const char *name, double *atol, double *rtol) {
    const tol_k *best = NULL;
    size_t best_len = 0;
    int i;
    if (strncmp(name, "init.", 5) == 0 || strstr(name, "num_batches_tracked")) {
        *atol = *rtol = 0; /* fixed numbers and counts: exact */
        return;
    }
    for (i = 0; i < MAX_TOLS && m->tol[i].result; i++) {
        const char *r = m->tol[i].result;
        size_t len = strlen(r);
        if (strcmp(r, name) == 0) {
            best = &m->tol[i];
            break;
        }
        if (len > best_len && r[len - 1] == '.' && strncmp(r, name, len) == 0)
            best = &m->tol[i], best_len = len;
        if (!best && strcmp(r, "*") == 0) best = &m->tol[i];
    }
    *atol = 1e-6 + 16.0 * (best ? best->K : 0) * TC_U;
    *rtol = 1e-5;
}

/* Step s's names: x and v with the "" prefix for a case of one step; x1, v1, "step1." ... */
static void step_names(const model_spec *m, int s, char *xn, char *vn, char *pre) {
    if (m->n_steps == 1) {
        strcpy(xn, "x"), strcpy(vn, "v"), pre[0] = 0;
        return;
    }
    sprintf(xn, "x%d", s + 1);
    sprintf(vn, "v%d", s + 1);
    sprintf(pre, "step%d.", s + 1);
}

static void model_case(tc *t, const model_spec *m) {
    static char args[4096], spec[512];
    char pre[16], xn[8], vn[8], full[128];
    mdl_params *ps;
    mdl_sequential *seq;
    double atol, rtol;
    int i, j, s, ok = 1;
    /* the case's args: the layers and the steps */
    snprintf(args, sizeof args, "{\"index\": %d, \"check_init\": %d, \"steps\": [", m->x_index > 0,
             m->check_init);
    for (s = 0; s < m->n_steps; s++) {
        step_names(m, s, xn, vn, pre);
        cat(args, sizeof args, "%s{\"train\": %d, \"x\": \"%s\", \"v\": \"%s\", "
            "\"prefix\": \"%s\"}", s ? ", " : "", m->train[s], xn, vn, pre);
    }
    cat(args, sizeof args, "], \"layers\": [");
    for (i = 0; i < m->n_layers; i++) {
        spec[0] = 0;
        spec_json(spec, sizeof spec, &m->layers[i]);
        cat(args, sizeof args, "%s%s", i ? ", " : "", spec);
    }
    cat(args, sizeof args, "]}");
    if (strlen(args) + 1 >= 2048) { /* tc_begin's limit: a cut JSON would not parse */
        tc_begin(t, m->name, "model", "{}");
        tc_fail("torch_layers.c: the case's args are longer than tc_begin takes (2047)");
        tc_end(t);
        return;
    }
    tc_begin(t, m->name, "model", "%s", args);
    n_kept = 0;
    ps = mdl_params_new();
    seq = mdl_sequential_new();
    /* the layers, initialised from the case's generator */
    for (i = 0; ok && i < m->n_layers; i++)
        ok = mdl_sequential_add(seq, make_layer(ps, &m->layers[i], &t->rng)) != NULL;
    /* the constructors' fixed values, before anything changes them */
    for (i = 0; ok && m->check_init && i < m->n_layers; i++) {
        const layer_spec *ls = &m->layers[i];
        const mdl_layer *l = &seq->layers[i];
        if (ls->kind == MDL_LAYER_BATCH_NORM1D || ls->kind == MDL_LAYER_BATCH_NORM2D ||
            ls->kind == MDL_LAYER_LAYER_NORM) {
            for (j = 0; j < mdl_params_count(ps); j++) {
                const mdl_tensor *p = mdl_params_get(ps, j);
                size_t n = strlen(ls->name);
                if (strncmp(p->name, ls->name, n) != 0 || p->name[n] != '.') continue;
                snprintf(full, sizeof full, "init.%s", p->name);
                keep(t, full, p->ndim, p->shape, p->data, 0, 0);
            }
        }
        if (ls->kind == MDL_LAYER_EMBEDDING && ls->padding_idx >= 0) {
            snprintf(full, sizeof full, "init.%s.weight.padding_row", ls->name);
            keep(t, full, 1, &ls->out, l->weight->data + (size_t)ls->padding_idx * ls->out, 0, 0);
        }
    }
    /* other starting values for the norm layers, so that none of them is a 0 or a 1 that
       would hide a term */
    for (i = 0; ok && m->perturb && i < m->n_layers; i++) {
        const mdl_layer *l = &seq->layers[i];
        if (l->kind != MDL_LAYER_BATCH_NORM1D && l->kind != MDL_LAYER_BATCH_NORM2D &&
            l->kind != MDL_LAYER_LAYER_NORM)
            continue;
        mdl_fill_normal(l->weight, &t->rng, 1, 0.5);
        mdl_fill_normal(l->bias, &t->rng, 0, 1);
        if (l->running_mean) {
            mdl_fill_normal(l->running_mean, &t->rng, 0, 1);
            mdl_fill_uniform(l->running_var, &t->rng, 0.5, 2);
            l->num_batches_tracked->data[0] = 5;
        }
    }
    /* every tensor the layers registered, under minidl's names, in minidl's order */
    for (i = 0; ok && i < mdl_params_count(ps); i++) {
        const mdl_tensor *p = mdl_params_get(ps, i);
        ok = tc_add(t, p->name, p) != NULL;
        if (!ok) tc_fail("torch_layers.c: more inputs than TC_MAX_INPUTS");
    }
    for (s = 0; ok && s < m->n_steps; s++) {
        mdl_tensor *x, *y, *v;
        size_t k;
        step_names(m, s, xn, vn, pre);
        mdl_sequential_train(seq, m->train[s]);
        x = tc_input(t, xn, m->ndim, m->shape, m->x_index <= 0);
        if (!x) {
            tc_fail("torch_layers.c: more inputs than TC_MAX_INPUTS");
            break;
        }
        for (k = 0; k < x->numel; k++) {
            if (m->x_index > 0) /* whole numbers; every 5th the first layer's padding_idx */
                x->data[k] = (mdl_scalar)(k % 5 == 0 && m->layers[0].padding_idx >= 0
                                              ? m->layers[0].padding_idx
                                              : (int)(mdl_rng_u32(&t->rng) % (unsigned)m->x_index));
            else
                x->data[k] = (mdl_scalar)(m->x_shift + (m->x_scale ? m->x_scale : 1) * x->data[k]);
        }
        y = mdl_sequential_forward(t->ar, seq, x);
        if (!y) break;
        v = tc_input(t, vn, y->ndim, y->shape, 0);
        if (!v) {
            tc_fail("torch_layers.c: more inputs than TC_MAX_INPUTS");
            break;
        }
        if (y->requires_grad) mdl_backward_with(y, v);
        snprintf(full, sizeof full, "%sout", pre);
        model_tol(m, "out", &atol, &rtol);
        keep(t, full, y->ndim, y->shape, y->data, atol, rtol);
        if (x->requires_grad) {
            snprintf(full, sizeof full, "%sgrad.x", pre);
            model_tol(m, "grad.x", &atol, &rtol);
            keep(t, full, x->ndim, x->shape, x->grad, atol, rtol);
        }
        for (i = 0; i < mdl_params_count(ps); i++) {
            const mdl_tensor *p = mdl_params_get(ps, i);
            snprintf(full, sizeof full, "%s.%s", p->requires_grad ? "grad" : "state", p->name);
            model_tol(m, full, &atol, &rtol);
            snprintf(full, sizeof full, "%s%s.%s", pre, p->requires_grad ? "grad" : "state",
                     p->name);
            keep(t, full, p->ndim, p->shape, p->requires_grad ? p->grad : p->data, atol, rtol);
        }
        mdl_params_zero_grad(ps);
    }
    /* the results, each with its own tolerance */
    for (i = 0; i < n_kept; i++) {
        const kept *k = &kept_list[i];
        if (!k->val) continue;
        t->n_tol = 0;
        tc_tol(t, "*", k->atol, k->rtol);
        tc_result(t, k->name, k->val->ndim, k->val->shape, k->val->data);
    }
    tc_end(t);
    mdl_sequential_free(seq);
    mdl_params_free(ps);
}

/* ---- single layers ----------------------------------------------------------------------- */

/* A model of one layer, one training step on x of the given shape; K as tc_tol_sum for out,
   grad.x and the parameters' gradients. */
static void layer_case(tc *t, const char *name, layer_spec l, int ndim, const int *shape,
                       double k_out, double k_dx, double k_params) {
    model_spec m;
    memset(&m, 0, sizeof m);
    m.name = name;
    m.n_layers = 1, m.layers = &l;
    m.n_steps = 1, m.train[0] = 1;
    m.ndim = ndim;
    memcpy(m.shape, shape, sizeof(int) * (size_t)ndim);
    m.tol[0].result = "out", m.tol[0].K = k_out;
    m.tol[1].result = "grad.x", m.tol[1].K = k_dx;
    m.tol[2].result = "grad.", m.tol[2].K = k_params;
    model_case(t, &m);
}

/* Linear(in, out) on x [..., in] with `rows` rows: out sums in products and the bias, grad.x
   sums out, the parameters' gradients one term per row */
static void linear_layer_case(tc *t, const char *name, int out, int bias, int ndim,
                              const int *xs) {
    int in = xs[ndim - 1], rows = 1, d;
    layer_spec l;
    for (d = 0; d < ndim - 1; d++) rows *= xs[d];
    memset(&l, 0, sizeof l);
    l.name = "fc", l.kind = MDL_LAYER_LINEAR, l.in = in, l.out = out, l.bias = bias;
    layer_case(t, name, l, ndim, xs, in + 1, out, rows);
}

/* minidl's options along H (axis 0) and W (axis 1), with its rules for 0 and for the pairs */
static void conv_resolve(const mdl_conv_opts *o, int axis, int *s, int *p, int *d) {
    int pairs = o->stride_hw[0] || o->stride_hw[1] || o->padding_hw[0] || o->padding_hw[1] ||
                o->dilation_hw[0] || o->dilation_hw[1];
    *s = pairs ? o->stride_hw[axis] : o->stride;
    *p = pairs ? o->padding_hw[axis] : o->padding;
    *d = pairs ? o->dilation_hw[axis] : o->dilation;
    if (*s == 0) *s = 1;
    if (*d == 0) *d = 1;
}

/* Conv2d (H > 0) or Conv1d (H = 0) as a layer on x [B,C,H,W] or [B,C,W]: out sums
   C/groups KH KW products and the bias, grad.x O/groups KH KW, grad.weight and grad.bias
   B OH OW (as the conv cases of torch_ops.c) */
static void conv_layer_case(tc *t, const char *name, layer_spec l, int B, int H, int W) {
    int g = l.conv.groups ? l.conv.groups : 1, s, p, d, OH = 1, OW, kh = H ? l.kh : 1;
    conv_resolve(&l.conv, 1, &s, &p, &d);
    OW = (W + 2 * p - d * (l.kw - 1) - 1) / s + 1;
    if (H) {
        conv_resolve(&l.conv, 0, &s, &p, &d);
        OH = (H + 2 * p - d * (l.kh - 1) - 1) / s + 1;
    }
    l.name = "conv";
    l.kind = H ? MDL_LAYER_CONV2D : MDL_LAYER_CONV1D;
    if (H)
        layer_case(t, name, l, 4, (const int[]){B, l.in, H, W}, l.in / g * kh * l.kw + 1,
                   l.out / g * kh * l.kw, (double)B * OH * OW);
    else
        layer_case(t, name, l, 3, (const int[]){B, l.in, W}, l.in / g * l.kw + 1,
                   l.out / g * l.kw, (double)B * OW);
}

/* A pooling layer: max copies values and gradients exactly; avg sums a window of `area`
   values (and a gradient at most that many shares) */
static void pool_layer_case(tc *t, const char *name, layer_spec l, int ndim, const int *xs,
                            int area) {
    int is_max = l.kind == MDL_LAYER_MAX_POOL2D || l.kind == MDL_LAYER_MAX_POOL1D;
    layer_case(t, name, l, ndim, xs, is_max ? 0 : area, is_max ? 0 : area, 0);
}

/* The activations as layers, with the settings their constructor gives them, against torch's
   defaults (LeakyReLU 0.01, ELU 1, Softmax and LogSoftmax along the last axis), on inputs of
   scale 3 that reach the flat tails. Pointwise; softmax's tolerance as in torch_ops.c (an
   absolute error of a few u times the logits' scale: K = 3 / 2). */
static void activation_layer_cases(tc *t) {
    static const mdl_layer_kind kinds[] = {
        MDL_LAYER_RELU, MDL_LAYER_LEAKY_RELU, MDL_LAYER_ELU, MDL_LAYER_GELU, MDL_LAYER_SILU,
        MDL_LAYER_SIGMOID, MDL_LAYER_TANH, MDL_LAYER_SOFTMAX, MDL_LAYER_LOG_SOFTMAX};
    model_spec m;
    layer_spec l;
    char name[64];
    size_t i;
    for (i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        int soft = kinds[i] == MDL_LAYER_SOFTMAX || kinds[i] == MDL_LAYER_LOG_SOFTMAX;
        memset(&l, 0, sizeof l);
        memset(&m, 0, sizeof m);
        l.kind = kinds[i];
        snprintf(name, sizeof name, "layer/%s_default", mdl_layer_kind_name(kinds[i]));
        m.name = name;
        m.n_layers = 1, m.layers = &l;
        m.n_steps = 1, m.train[0] = 1;
        m.ndim = 3, m.shape[0] = 3, m.shape[1] = 5, m.shape[2] = 37;
        m.x_scale = 3;
        m.tol[0].result = "*", m.tol[0].K = soft ? 1.5 : 0;
        model_case(t, &m);
    }
}

static void layer_cases(tc *t) {
    layer_spec l;
    /* Linear */
    linear_layer_case(t, "layer/linear_2d_bias_6x10_to_4", 4, 1, 2, (const int[]){6, 10});
    linear_layer_case(t, "layer/linear_2d_nobias_5x7_to_3", 3, 0, 2, (const int[]){5, 7});
    linear_layer_case(t, "layer/linear_3d_bias_2x5x9_to_6", 6, 1, 3, (const int[]){2, 5, 9});
    linear_layer_case(t, "layer/linear_3d_nobias_3x4x8_to_5", 5, 0, 3, (const int[]){3, 4, 8});
    /* Conv2d, Conv1d: in, out, kernel and options, as a student passes them */
    memset(&l, 0, sizeof l);
    l.in = 3, l.out = 5, l.kh = 3, l.kw = 3, l.bias = 1, l.conv.stride = 2, l.conv.padding = 1;
    conv_layer_case(t, "layer/conv2d_k3_s2_p1_bias", l, 2, 9, 8);
    memset(&l, 0, sizeof l);
    l.in = 3, l.out = 4, l.kh = 3, l.kw = 3;
    l.conv.stride_hw[0] = 1, l.conv.stride_hw[1] = 2, l.conv.padding_hw[0] = 2;
    l.conv.dilation_hw[0] = 1, l.conv.dilation_hw[1] = 2;
    conv_layer_case(t, "layer/conv2d_per_axis_s1x2_p2x0_d1x2_nobias", l, 2, 9, 14);
    memset(&l, 0, sizeof l);
    l.in = 4, l.out = 6, l.kh = 3, l.kw = 2, l.bias = 1;
    l.conv.padding = 2, l.conv.dilation = 2, l.conv.groups = 2;
    conv_layer_case(t, "layer/conv2d_k3x2_g2_d2_p2", l, 2, 10, 11);
    memset(&l, 0, sizeof l);
    l.in = 2, l.out = 3, l.kh = 2, l.kw = 3, l.bias = 1; /* opts NULL */
    conv_layer_case(t, "layer/conv2d_k2x3_default_opts", l, 3, 6, 7);
    memset(&l, 0, sizeof l);
    l.in = 6, l.out = 3, l.kw = 3, l.bias = 1;
    l.conv.stride = 2, l.conv.padding = 2, l.conv.dilation = 2, l.conv.groups = 3;
    conv_layer_case(t, "layer/conv1d_k3_s2_p2_d2_g3", l, 2, 0, 19);
    memset(&l, 0, sizeof l);
    l.in = 4, l.out = 5, l.kw = 5; /* opts NULL, no bias */
    conv_layer_case(t, "layer/conv1d_k5_default_nobias", l, 3, 0, 12);
    /* pooling */
    memset(&l, 0, sizeof l);
    l.kind = MDL_LAYER_MAX_POOL2D, l.kh = 3;
    l.pool.stride = 2, l.pool.padding = 1, l.pool.ceil_mode = 1;
    pool_layer_case(t, "layer/maxpool2d_k3_s2_p1_ceil", l, 4, (const int[]){2, 3, 9, 8}, 9);
    memset(&l, 0, sizeof l);
    l.kind = MDL_LAYER_MAX_POOL2D, l.kh = 2; /* opts NULL: stride = kernel */
    pool_layer_case(t, "layer/maxpool2d_k2_default", l, 4, (const int[]){2, 2, 7, 9}, 4);
    memset(&l, 0, sizeof l);
    l.kind = MDL_LAYER_MAX_POOL2D;
    l.pool.kernel_hw[0] = 3, l.pool.kernel_hw[1] = 2, l.pool.stride_hw[0] = 2;
    l.pool.stride_hw[1] = 1, l.pool.padding_hw[0] = 1, l.pool.dilation_hw[0] = 1;
    l.pool.dilation_hw[1] = 2;
    pool_layer_case(t, "layer/maxpool2d_per_axis_k3x2_s2x1_p1x0_d1x2", l, 4,
                    (const int[]){2, 2, 9, 10}, 6);
    memset(&l, 0, sizeof l);
    l.kind = MDL_LAYER_AVG_POOL2D, l.kh = 3;
    l.pool.stride = 2, l.pool.padding = 1, l.pool.ceil_mode = 1, l.pool.exclude_padding = 1;
    pool_layer_case(t, "layer/avgpool2d_k3_s2_p1_ceil_exclude", l, 4,
                    (const int[]){2, 2, 8, 11}, 9);
    memset(&l, 0, sizeof l);
    l.kind = MDL_LAYER_AVG_POOL2D;
    l.pool.kernel_hw[0] = 2, l.pool.kernel_hw[1] = 4, l.pool.stride_hw[0] = 1;
    l.pool.stride_hw[1] = 3, l.pool.padding_hw[0] = 1, l.pool.padding_hw[1] = 2;
    l.pool.ceil_mode = 1;
    pool_layer_case(t, "layer/avgpool2d_per_axis_k2x4_s1x3_p1x2_ceil", l, 4,
                    (const int[]){2, 2, 6, 9}, 8);
    memset(&l, 0, sizeof l);
    l.kind = MDL_LAYER_AVG_POOL2D, l.kh = 2;
    pool_layer_case(t, "layer/avgpool2d_k2_default", l, 4, (const int[]){2, 3, 8, 10}, 4);
    memset(&l, 0, sizeof l);
    l.kind = MDL_LAYER_MAX_POOL1D, l.kh = 3, l.pool.stride = 1, l.pool.dilation = 2;
    pool_layer_case(t, "layer/maxpool1d_k3_s1_d2", l, 3, (const int[]){2, 3, 13}, 3);
    memset(&l, 0, sizeof l);
    l.kind = MDL_LAYER_AVG_POOL1D, l.kh = 4;
    l.pool.stride = 3, l.pool.padding = 2, l.pool.ceil_mode = 1, l.pool.exclude_padding = 1;
    pool_layer_case(t, "layer/avgpool1d_k4_s3_p2_ceil_exclude", l, 3, (const int[]){2, 3, 11},
                    4);
    /* adaptive: a window holds at most (ceil(H / OH) + 1) (ceil(W / OW) + 1) values */
    memset(&l, 0, sizeof l);
    l.kind = MDL_LAYER_ADAPTIVE_AVG_POOL2D, l.kh = 5, l.kw = 7;
    pool_layer_case(t, "layer/adaptive_avgpool2d_8x9_to_5x7", l, 4, (const int[]){1, 3, 8, 9},
                    3 * 3);
    l.kh = 1, l.kw = 1;
    pool_layer_case(t, "layer/adaptive_avgpool2d_global_7x5", l, 4, (const int[]){2, 3, 7, 5},
                    8 * 6);
    /* Flatten: a view, exact */
    memset(&l, 0, sizeof l);
    l.kind = MDL_LAYER_FLATTEN, l.axis[0] = 1, l.axis[1] = -1;
    layer_case(t, "layer/flatten_default_1_to_-1", l, 4, (const int[]){2, 3, 4, 5}, 0, 0, 0);
    l.axis[0] = 1, l.axis[1] = 2;
    layer_case(t, "layer/flatten_1_to_2", l, 4, (const int[]){2, 3, 4, 5}, 0, 0, 0);
    activation_layer_cases(t);
}

/* ---- norm and embedding layers, and Sequential models ------------------------------------ */

/* BatchNorm: three steps, training, training, evaluation, from the constructor's buffers or
   from random ones; x = 1.5 + 2 N(0,1), so that the running statistics move. The batch's
   statistics sum n = N L (or N H W) values; so do grad.x (through them), the gradients of
   weight and bias, and the running statistics' update. num_batches_tracked is exact. */
static const layer_spec bn1d_5[] = {{.name = "bn", .kind = MDL_LAYER_BATCH_NORM1D, .in = 5}};
static const layer_spec bn1d_3[] = {{.name = "bn", .kind = MDL_LAYER_BATCH_NORM1D, .in = 3}};
static const layer_spec bn2d_4[] = {{.name = "bn", .kind = MDL_LAYER_BATCH_NORM2D, .in = 4}};
static const layer_spec bn2d_3[] = {{.name = "bn", .kind = MDL_LAYER_BATCH_NORM2D, .in = 3}};

/* LayerNorm: the mean and variance sum `inner` values, as grad.x; weight and bias sum one term
   per leading index (24 rows for [4,6,10] over one axis, 4 over two) */
static const layer_spec ln_10[] = {
    {.name = "ln", .kind = MDL_LAYER_LAYER_NORM, .in = 1, .shape = {10}}};
static const layer_spec ln_6x10[] = {
    {.name = "ln", .kind = MDL_LAYER_LAYER_NORM, .in = 2, .shape = {6, 10}}};

/* Embedding: out copies rows (exact); a row's gradient sums the v of every place it was picked
   (at most a handful here) */
static const layer_spec emb_pad3[] = {
    {.name = "emb", .kind = MDL_LAYER_EMBEDDING, .in = 12, .out = 5, .padding_idx = 3}};
static const layer_spec emb_nopad[] = {
    {.name = "emb", .kind = MDL_LAYER_EMBEDDING, .in = 7, .out = 4, .padding_idx = -1}};

/* nn.Sequential(Linear(13, 32), ReLU(), Linear(32, 16), Tanh(), Linear(16, 10), LogSoftmax):
   the names torch gives by position ("0.weight", "2.bias") */
static const layer_spec mlp[] = {
    {.name = "0", .kind = MDL_LAYER_LINEAR, .in = 13, .out = 32, .bias = 1},
    {.kind = MDL_LAYER_RELU},
    {.name = "2", .kind = MDL_LAYER_LINEAR, .in = 32, .out = 16, .bias = 1},
    {.kind = MDL_LAYER_TANH},
    {.name = "4", .kind = MDL_LAYER_LINEAR, .in = 16, .out = 10, .bias = 1},
    {.kind = MDL_LAYER_LOG_SOFTMAX},
};

/* a LeNet-like network with named layers (nn.Sequential(OrderedDict(...))) on [4,1,28,28]:
   conv1 -> [4,6,28,28], pool -> 14x14, conv2 -> [4,16,10,10], pool -> 5x5, 400 features */
static const layer_spec lenet[] = {
    {.name = "conv1", .kind = MDL_LAYER_CONV2D, .in = 1, .out = 6, .kh = 5, .kw = 5, .bias = 1,
     .conv = {.padding = 2}},
    {.name = "bn", .kind = MDL_LAYER_BATCH_NORM2D, .in = 6},
    {.kind = MDL_LAYER_RELU},
    {.kind = MDL_LAYER_MAX_POOL2D, .kh = 2},
    {.name = "conv2", .kind = MDL_LAYER_CONV2D, .in = 6, .out = 16, .kh = 5, .kw = 5, .bias = 1},
    {.kind = MDL_LAYER_RELU},
    {.kind = MDL_LAYER_MAX_POOL2D, .kh = 2, .pool = {.stride = 2}},
    {.kind = MDL_LAYER_FLATTEN, .axis = {1, -1}},
    {.name = "fc1", .kind = MDL_LAYER_LINEAR, .in = 400, .out = 120, .bias = 1},
    {.kind = MDL_LAYER_RELU},
    {.name = "fc2", .kind = MDL_LAYER_LINEAR, .in = 120, .out = 10, .bias = 1},
};

/* a 1-D network: Conv1d, BatchNorm1d on [N,C,L], pooling, Flatten, Linear; x [4,3,12] */
static const layer_spec net1d[] = {
    {.name = "conv", .kind = MDL_LAYER_CONV1D, .in = 3, .out = 8, .kw = 3, .bias = 1,
     .conv = {.padding = 1}},
    {.name = "bn", .kind = MDL_LAYER_BATCH_NORM1D, .in = 8},
    {.kind = MDL_LAYER_RELU},
    {.kind = MDL_LAYER_MAX_POOL1D, .kh = 2},
    {.kind = MDL_LAYER_FLATTEN, .axis = {1, -1}},
    {.name = "fc", .kind = MDL_LAYER_LINEAR, .in = 48, .out = 5, .bias = 1},
};

/* tokens [3,7] -> Embedding(20, 8, padding_idx 0) -> LayerNorm(8) -> Linear(8, 4) */
static const layer_spec tokens[] = {
    {.name = "emb", .kind = MDL_LAYER_EMBEDDING, .in = 20, .out = 8, .padding_idx = 0},
    {.name = "ln", .kind = MDL_LAYER_LAYER_NORM, .in = 1, .shape = {8}},
    {.name = "fc", .kind = MDL_LAYER_LINEAR, .in = 8, .out = 4, .bias = 1},
};

#define LAYERS(a) .n_layers = (int)(sizeof(a) / sizeof((a)[0])), .layers = (a)

/* Tolerances of the models. A layer of PyTorch's initialisation (weights U(+-1/sqrt(fan_in))
   on O(1) activations) sums K products that are each about 1/sqrt(K) of its output, so it
   errs by about sqrt(K) u where tc_tol_sum(K) assumes K u: it counts sqrt(K) below. So do
   BatchNorm's mean and variance (n terms, each 1/n of the result) inside a model, and a
   Linear's backward W^T delta (sqrt(out)). The counts add up along the path from x to a
   result; a weight's gradient sums its R = B (or B OH OW) terms (sqrt(R)) of a forward value
   and a backward one that carry their paths' errors. A layer on N(0,1)-sized data with N(0,1)
   parameters (LayerNorm on embeddings, log_softmax, v itself) counts its full K. */
static const model_spec models[] = {
    /* BatchNorm layers, on their own: the batch statistics sum n values, counted in full as
       in the batch_norm cases */
    {.name = "layer/batch_norm1d_NC_8x5_defaults", LAYERS(bn1d_5), .n_steps = 3,
     .train = {1, 1, 0}, .ndim = 2, .shape = {8, 5}, .x_shift = 1.5, .x_scale = 2,
     .check_init = 1, .tol = {{"*", 8}}},
    {.name = "layer/batch_norm1d_NCL_4x3x7_perturbed", LAYERS(bn1d_3), .n_steps = 3,
     .train = {1, 1, 0}, .ndim = 3, .shape = {4, 3, 7}, .x_shift = 1.5, .x_scale = 2,
     .perturb = 1, .check_init = 1, .tol = {{"*", 28}}},
    {.name = "layer/batch_norm2d_3x4x5x6_perturbed", LAYERS(bn2d_4), .n_steps = 3,
     .train = {1, 1, 0}, .ndim = 4, .shape = {3, 4, 5, 6}, .x_shift = 1.5, .x_scale = 2,
     .perturb = 1, .tol = {{"*", 90}}},
    {.name = "layer/batch_norm2d_2x3x4x4_defaults", LAYERS(bn2d_3), .n_steps = 3,
     .train = {1, 1, 0}, .ndim = 4, .shape = {2, 3, 4, 4}, .x_shift = 1.5, .x_scale = 2,
     .check_init = 1, .tol = {{"*", 32}}},
    {.name = "layer/layer_norm_last1_perturbed", LAYERS(ln_10), .n_steps = 1, .train = {1},
     .ndim = 3, .shape = {4, 6, 10}, .perturb = 1, .check_init = 1,
     .tol = {{"out", 10}, {"grad.x", 10}, {"grad.", 24}}},
    {.name = "layer/layer_norm_last2_perturbed", LAYERS(ln_6x10), .n_steps = 1, .train = {1},
     .ndim = 3, .shape = {4, 6, 10}, .perturb = 1, .check_init = 1,
     .tol = {{"out", 60}, {"grad.x", 60}, {"grad.", 4}}},
    {.name = "layer/embedding_12x5_padding3", LAYERS(emb_pad3), .n_steps = 1, .train = {1},
     .ndim = 2, .shape = {4, 6}, .x_index = 12, .check_init = 1, .tol = {{"*", 8}}},
    {.name = "layer/embedding_7x4", LAYERS(emb_nopad), .n_steps = 1, .train = {1}, .ndim = 2,
     .shape = {2, 9}, .x_index = 7, .tol = {{"*", 8}}},
    /* MLP: forward sqrt(14) + sqrt(33) + sqrt(17) and log_softmax's 10; backward 10, then
       sqrt(10) + sqrt(16) + sqrt(32); the weights' gradients sqrt(8) and both paths */
    {.name = "seq/mlp_8x13_32_16_10", LAYERS(mlp), .n_steps = 1, .train = {1}, .ndim = 2,
     .shape = {8, 13}, .tol = {{"out", 24}, {"grad.x", 23}, {"grad.", 3 + 24 + 23}}},
    /* LeNet: forward sqrt(26) + sqrt(3136) (BatchNorm) + sqrt(151) + sqrt(401) + sqrt(121);
       backward sqrt(10) + sqrt(120) + sqrt(400) + sqrt(3136) + sqrt(150); the weights'
       gradients at most sqrt(3136) (conv1's) and both paths */
    {.name = "seq/lenet_bn_4x1x28x28", LAYERS(lenet), .n_steps = 1, .train = {1}, .ndim = 4,
     .shape = {4, 1, 28, 28}, .check_init = 1,
     .tol = {{"out", 105}, {"grad.x", 103}, {"grad.", 56 + 105 + 103}, {"state.", 56}}},
    /* 1-D: forward sqrt(10) + sqrt(48) (BatchNorm, n = 4 * 12) + sqrt(49); backward sqrt(5) +
       sqrt(48) + sqrt(24); gradients sqrt(48) and both paths; a training step, then an
       evaluation step with the running statistics the first one left */
    {.name = "seq/conv1d_bn1d_pool_linear_train_eval", LAYERS(net1d), .n_steps = 2,
     .train = {1, 0}, .ndim = 3, .shape = {4, 3, 12}, .perturb = 1,
     .tol = {{"out", 17}, {"grad.x", 14}, {"grad.", 7 + 17 + 14}, {"state.", 7}}},
    /* tokens: LayerNorm on N(0,1) embeddings (8, in full), then sqrt(9); fc's weight sums the
       21 tokens' LayerNorm outputs times v (21, in full); the other gradients come back
       through fc (sqrt(4)) and LayerNorm (8), and a row sums its token's repeats (a few) */
    {.name = "seq/embedding_layernorm_linear", LAYERS(tokens), .n_steps = 1, .train = {1},
     .ndim = 2, .shape = {3, 7}, .x_index = 20, .check_init = 1,
     .tol = {{"out", 8 + 3}, {"grad.fc.", 21 + 11}, {"grad.", 2 + 8 + 4}}},
};

int main(int argc, char **argv) {
    tc t;
    size_t i;
    if (tc_open(&t, argc, argv, "torch_layers") != 0) return 2;
    linear_cases(&t);
    layer_norm_cases(&t);
    embedding_case(&t, "embedding/3x5_from_10x6", -1);
    embedding_case(&t, "embedding/padding_idx2", 2);
    batch_norm_cases(&t);
    dropout_cases(&t);
    layer_cases(&t);
    for (i = 0; i < sizeof models / sizeof models[0]; i++) model_case(&t, &models[i]);
    return tc_close(&t);
}
