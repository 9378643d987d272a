// build-extra: -DMINIDL_DOUBLE
/* tests/test_layers.c - layers and initialisation: every layer's gradient against central
   differences in double, forward values against references written here, PyTorch's BatchNorm,
   LayerNorm, Dropout and Embedding rules, the initial distributions, the Sequential container
   and its summary, and the error messages that name a layer.

   gcc -std=c99 -O1 -g -Wall -Wextra -Wpedantic -Werror -DMINIDL_DOUBLE -I. tests/test_layers.c -o build/test_layers -lm
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

/* ---- gradient checks: each layer's functional form as an mdl_fn ---- */

static mdl_tensor *f_linear(mdl_arena *ar, mdl_tensor *const *in, void *user) {
    (void)user;
    return mdl_linear(ar, in[0], in[1], in[2]);
}
static mdl_tensor *f_linear_nobias(mdl_arena *ar, mdl_tensor *const *in, void *user) {
    (void)user;
    return mdl_linear(ar, in[0], in[1], NULL);
}
static mdl_tensor *f_layer_norm(mdl_arena *ar, mdl_tensor *const *in, void *user) {
    return mdl_layer_norm(ar, in[0], *(const int *)user, in[1], in[2], 1e-5);
}
static mdl_tensor *f_batch_norm_train(mdl_arena *ar, mdl_tensor *const *in, void *user) {
    (void)user; /* no running statistics: the output does not depend on them in training */
    return mdl_batch_norm(ar, in[0], NULL, NULL, in[1], in[2], 1, 0.1, 1e-5);
}
static mdl_tensor *f_dropout(mdl_arena *ar, mdl_tensor *const *in, void *user) {
    mdl_rng rng; /* the same mask at every evaluation: a fixed function of x */
    (void)user;
    mdl_rng_seed(&rng, 5);
    return mdl_dropout(ar, in[0], 0.3, 1, &rng);
}
static mdl_tensor *f_embedding(mdl_arena *ar, mdl_tensor *const *in, void *user) {
    return mdl_embedding(ar, (mdl_tensor *)user, in[0], -1); /* padding_idx: see below */
}

static void check_grad(const char *what, mdl_fn f, void *user, int n, mdl_tensor *const *in) {
    mdl_gradcheck_report rep;
    int ok = mdl_gradcheck(f, user, n, in, 0, 0, 0, &rep);
    CHECK(ok && rep.checked > 0, "gradcheck %s: %zu of %zu failed, worst input %d [%zu]: "
          "analytic %g numeric %g (%s)", what, rep.failed, rep.checked, rep.worst_input,
          rep.worst_index, rep.analytic, rep.numeric, mdl_last_error());
}

static void test_gradients(mdl_arena *ar, mdl_rng *rng) {
    int sx[2] = {4, 5}, sw[2] = {3, 5}, sb[1] = {3}, sx3[3] = {2, 3, 5};
    int sln[3] = {2, 3, 4}, sln_w[2] = {3, 4}, n1 = 1, n2 = 2, sln1[1] = {4};
    int sbn[4] = {3, 2, 2, 3}, sc[1] = {2}, sbn2[2] = {5, 2}, sbn3[3] = {3, 2, 4};
    int se[2] = {6, 3}, si[2] = {2, 3};
    mdl_scalar idx[6] = {0, 1, 5, 1, 3, 0};
    mdl_tensor *in[3], *index;
    in[0] = mdl_randn(ar, rng, 2, sx, 0, 1), in[1] = mdl_randn(ar, rng, 2, sw, 0, 1);
    in[2] = mdl_randn(ar, rng, 1, sb, 0, 1);
    check_grad("linear [4,5] W [3,5] b [3]", f_linear, NULL, 3, in);
    check_grad("linear without bias", f_linear_nobias, NULL, 2, in);
    in[0] = mdl_randn(ar, rng, 3, sx3, 0, 1);
    check_grad("linear [2,3,5]", f_linear, NULL, 3, in);

    in[0] = mdl_randn(ar, rng, 3, sln, 0, 1);
    in[1] = mdl_randn(ar, rng, 2, sln_w, 1, 0.5), in[2] = mdl_randn(ar, rng, 2, sln_w, 0, 0.5);
    check_grad("layer_norm over the last 2 axes", f_layer_norm, &n2, 3, in);
    in[1] = mdl_randn(ar, rng, 1, sln1, 1, 0.5), in[2] = mdl_randn(ar, rng, 1, sln1, 0, 0.5);
    check_grad("layer_norm over the last axis", f_layer_norm, &n1, 3, in);

    in[1] = mdl_randn(ar, rng, 1, sc, 1, 0.5), in[2] = mdl_randn(ar, rng, 1, sc, 0, 0.5);
    in[0] = mdl_randn(ar, rng, 4, sbn, 0, 1);
    check_grad("batch_norm [3,2,2,3] training", f_batch_norm_train, NULL, 3, in);
    in[0] = mdl_randn(ar, rng, 2, sbn2, 0, 1);
    check_grad("batch_norm [5,2] training", f_batch_norm_train, NULL, 3, in);
    in[0] = mdl_randn(ar, rng, 3, sbn3, 0, 1);
    check_grad("batch_norm [3,2,4] training", f_batch_norm_train, NULL, 3, in);

    in[0] = mdl_randn(ar, rng, 2, sx, 0, 1);
    check_grad("dropout p=0.3 (fixed mask)", f_dropout, NULL, 1, in);

    index = mdl_from_array(ar, 2, si, idx);
    NN(index);
    in[0] = mdl_randn(ar, rng, 2, se, 0, 1);
    check_grad("embedding [6,3], index [2,3] with repeats", f_embedding, index, 1, in);
}

/* ---- forward values and PyTorch's rules ---- */

static void test_linear_values(mdl_arena *ar, mdl_rng *rng) {
    int sx[3] = {2, 3, 4}, sw[2] = {5, 4}, sb[1] = {5}, i, j, k;
    mdl_tensor *x = mdl_randn(ar, rng, 3, sx, 0, 1), *w = mdl_randn(ar, rng, 2, sw, 0, 1);
    mdl_tensor *b = mdl_randn(ar, rng, 1, sb, 0, 1), *y = mdl_linear(ar, x, w, b);
    int bad = 0;
    NN(y);
    CHECK(y->ndim == 3 && y->shape[0] == 2 && y->shape[1] == 3 && y->shape[2] == 5,
          "linear [2,3,4] -> [2,3,5]");
    for (i = 0; i < 6; i++)
        for (j = 0; j < 5; j++) {
            double want = b->data[j];
            for (k = 0; k < 4; k++) want += x->data[i * 4 + k] * w->data[j * 4 + k];
            if (fabs(y->data[i * 5 + j] - want) > 1e-12) bad++;
        }
    CHECK(bad == 0, "linear: %d values differ from x W^T + b", bad);
}

static void test_batch_norm_rules(mdl_arena *ar, mdl_rng *rng) {
    mdl_params *ps = mdl_params_new();
    int sx[4] = {4, 3, 2, 5}, c, n = 4 * 2 * 5, i;
    mdl_layer bn;
    mdl_tensor *x, *y;
    double mean[3] = {0}, var[3] = {0}, rm[3], rv[3];
    if (!ps) return;
    bn = mdl_batch_norm2d_layer(ps, "bn", 3);
    CHECK(bn.kind == MDL_LAYER_BATCH_NORM2D && mdl_params_count(ps) == 5 &&
              mdl_params_find(ps, "bn.running_mean") && mdl_params_find(ps, "bn.running_var") &&
              mdl_params_find(ps, "bn.num_batches_tracked") && mdl_params_find(ps, "bn.weight") &&
              mdl_params_find(ps, "bn.bias"),
          "BatchNorm2d registers weight, bias, running_mean, running_var, num_batches_tracked");
    CHECK(bn.weight->data[0] == 1 && bn.bias->data[0] == 0 && bn.running_mean->data[0] == 0 &&
              bn.running_var->data[0] == 1 && bn.running_var->grad == NULL,
          "BatchNorm init: weight 1, bias 0, running 0 and 1, buffers without gradient");
    x = mdl_randn(ar, rng, 4, sx, 2, 3);
    NN(x);
    for (i = 0; i < (int)x->numel; i++) { /* the batch's statistics per channel, in double */
        c = (i / 10) % 3;
        mean[c] += x->data[i] / n;
    }
    for (i = 0; i < (int)x->numel; i++) {
        c = (i / 10) % 3;
        var[c] += (x->data[i] - mean[c]) * (x->data[i] - mean[c]) / n; /* biased */
    }
    y = mdl_layer_forward(ar, &bn, x);
    NN(y);
    for (c = 0; c < 3; c++) { /* momentum 0.1; running_var gets the unbiased variance */
        rm[c] = 0.9 * 0 + 0.1 * mean[c];
        rv[c] = 0.9 * 1 + 0.1 * var[c] * n / (n - 1);
        CHECK_NEAR(bn.running_mean->data[c], rm[c], 1e-12, "running_mean after one step");
        CHECK_NEAR(bn.running_var->data[c], rv[c], 1e-12, "running_var: unbiased, momentum 0.1");
    }
    CHECK(bn.num_batches_tracked->data[0] == 1, "num_batches_tracked counts training steps");
    for (i = 0; i < (int)x->numel; i++) { /* normalized with the biased variance */
        c = (i / 10) % 3;
        if (fabs(y->data[i] - (x->data[i] - mean[c]) / sqrt(var[c] + 1e-5)) > 1e-10) break;
    }
    CHECK(i == (int)x->numel, "training output uses the batch's biased variance (at %d)", i);
    mdl_layer_train(&bn, 0);
    rm[0] = bn.running_mean->data[0];
    y = mdl_layer_forward(ar, &bn, x);
    NN(y);
    for (i = 0; i < (int)x->numel; i++) {
        c = (i / 10) % 3;
        if (fabs(y->data[i] - (x->data[i] - bn.running_mean->data[c]) /
                                   sqrt(bn.running_var->data[c] + 1e-5)) > 1e-10)
            break;
    }
    CHECK(i == (int)x->numel, "evaluation uses the running statistics (at %d)", i);
    CHECK(bn.running_mean->data[0] == rm[0] && bn.num_batches_tracked->data[0] == 1,
          "evaluation leaves the running statistics and the count alone");
    mdl_params_free(ps);
}

static void test_layer_norm_rules(mdl_arena *ar, mdl_rng *rng) {
    int sx[2] = {3, 7}, i, j;
    mdl_tensor *x = mdl_randn(ar, rng, 2, sx, 1, 2);
    mdl_tensor *y = mdl_layer_norm(ar, x, 1, NULL, NULL, 1e-5);
    NN(y);
    for (i = 0; i < 3; i++) {
        double m = 0, v = 0;
        for (j = 0; j < 7; j++) m += x->data[i * 7 + j] / 7;
        for (j = 0; j < 7; j++) v += (x->data[i * 7 + j] - m) * (x->data[i * 7 + j] - m) / 7;
        for (j = 0; j < 7; j++)
            CHECK_NEAR(y->data[i * 7 + j], (x->data[i * 7 + j] - m) / sqrt(v + 1e-5), 1e-10,
                       "layer_norm uses the biased variance of each row");
    }
}

static void test_dropout_rules(mdl_arena *ar, mdl_rng *rng) {
    int s[1] = {20000}, i, zeros = 0, bad = 0;
    mdl_tensor *x = mdl_ones(ar, 1, s), *y;
    mdl_layer d = mdl_dropout_layer(0.25, rng);
    NN(x);
    y = mdl_layer_forward(ar, &d, x);
    NN(y);
    for (i = 0; i < s[0]; i++) {
        if (y->data[i] == 0) zeros++;
        else if (fabs(y->data[i] - 1 / 0.75) > 1e-12) bad++;
    }
    /* 20000 draws of p = 0.25: the count's standard deviation is sqrt(20000 .25 .75) = 61 */
    CHECK(abs(zeros - 5000) < 5 * 61, "dropout zeroed %d of 20000 at p = 0.25", zeros);
    CHECK(bad == 0, "kept values are scaled by 1 / (1 - p): %d are not", bad);
    mdl_layer_train(&d, 0);
    CHECK(mdl_layer_forward(ar, &d, x) == x, "dropout in evaluation returns x itself");
    y = mdl_dropout(ar, x, 1, 1, rng);
    NN(y);
    for (i = 0; i < s[0] && y->data[i] == 0; i++) {}
    CHECK(i == s[0], "p = 1 zeroes everything");
}

static void test_embedding_rules(mdl_arena *ar, mdl_rng *rng) {
    mdl_params *ps = mdl_params_new();
    int si[2] = {2, 2}, j;
    mdl_scalar idx[4] = {3, 0, 0, 2};
    mdl_layer e;
    mdl_tensor *index, *y;
    if (!ps) return;
    e = mdl_embedding_layer(ps, "emb", 4, 3, 0, rng);
    index = mdl_from_array(ar, 2, si, idx);
    NN(index);
    CHECK(e.kind == MDL_LAYER_EMBEDDING && e.weight->data[0] == 0 && e.weight->data[2] == 0 &&
              e.weight->data[3] != 0, "Embedding: padding_idx's row starts at zero");
    y = mdl_layer_forward(ar, &e, index);
    NN(y);
    CHECK(y->ndim == 3 && y->shape[0] == 2 && y->shape[1] == 2 && y->shape[2] == 3,
          "embedding [2,2] -> [2,2,3]");
    for (j = 0; j < 3; j++) CHECK(y->data[j] == e.weight->data[9 + j], "row 3 looked up");
    CHECK(mdl_backward(mdl_sum(ar, y, MDL_ALL, 0)) == MDL_OK, "embedding backward");
    for (j = 0; j < 3; j++) {
        CHECK(e.weight->grad[j] == 0, "padding_idx row gets no gradient");
        CHECK(e.weight->grad[9 + j] == 1 && e.weight->grad[6 + j] == 1 &&
                  e.weight->grad[3 + j] == 0,
              "rows 3 and 2 picked once, row 1 never");
    }
    mdl_params_free(ps);
}

/* ---- initialisation: PyTorch's bounds, and means and variances within sampling error ---- */

static void moments(const mdl_tensor *t, double *mean, double *var, double *lo, double *hi) {
    size_t i;
    *mean = *var = 0;
    *lo = *hi = t->data[0];
    for (i = 0; i < t->numel; i++) {
        *mean += t->data[i] / (double)t->numel;
        if (t->data[i] < *lo) *lo = t->data[i];
        if (t->data[i] > *hi) *hi = t->data[i];
    }
    for (i = 0; i < t->numel; i++)
        *var += (t->data[i] - *mean) * (t->data[i] - *mean) / (double)t->numel;
}

static void test_init(mdl_arena *ar, mdl_rng *rng) {
    mdl_params *ps = mdl_params_new();
    mdl_layer fc, conv;
    double m, v, lo, hi, b, n;
    int sw[2] = {200, 300}, so[2] = {30, 50}, i, j, k;
    mdl_tensor *w;
    if (!ps) return;
    fc = mdl_linear_layer(ps, "fc", 300, 200, 1, rng);
    CHECK(fc.kind == MDL_LAYER_LINEAR && fc.weight->shape[0] == 200 && fc.weight->shape[1] == 300,
          "Linear(300, 200): weight [200,300]");
    CHECK(mdl_params_find(ps, "fc.weight") == fc.weight &&
              mdl_params_find(ps, "fc.bias") == fc.bias,
          "named fc.weight and fc.bias");
    b = 1 / sqrt(300.0);
    n = (double)fc.weight->numel;
    moments(fc.weight, &m, &v, &lo, &hi);
    /* U(-b, b): mean 0 with standard error sqrt(b^2/3 / n); variance b^2 / 3 */
    CHECK(lo >= -b && hi <= b && hi > 0.99 * b && lo < -0.99 * b, "Linear weight in +-1/sqrt(in)");
    CHECK(fabs(m) < 5 * sqrt(b * b / 3 / n), "Linear weight mean %g", m);
    CHECK(fabs(v - b * b / 3) < 0.03 * b * b / 3, "Linear weight variance %g vs %g", v, b * b / 3);
    moments(fc.bias, &m, &v, &lo, &hi);
    CHECK(lo >= -b && hi <= b, "Linear bias in +-1/sqrt(in)");
    conv = mdl_conv2d_layer(ps, "conv", 6, 16, 5, 5, NULL, 1, rng);
    b = 1 / sqrt(6 * 25.0);
    moments(conv.weight, &m, &v, &lo, &hi);
    CHECK(conv.weight->ndim == 4 && conv.weight->shape[1] == 6 && lo >= -b && hi <= b &&
              hi > 0.95 * b, "Conv2d weight [16,6,5,5] in +-1/sqrt(fan_in = 150)");
    w = mdl_zeros(ar, 2, sw);
    NN(w);
    mdl_init_kaiming_normal(w, rng, 0, 0);
    moments(w, &m, &v, &lo, &hi);
    CHECK(fabs(v - 2.0 / 300) < 0.03 * 2.0 / 300, "kaiming normal variance %g vs 2/fan_in", v);
    mdl_init_xavier_uniform(w, rng, 1);
    moments(w, &m, &v, &lo, &hi);
    b = sqrt(6.0 / 500);
    CHECK(lo >= -b && hi <= b && fabs(v - b * b / 3) < 0.03 * b * b / 3,
          "xavier uniform bound and variance");
    mdl_init_xavier_normal(w, rng, 2);
    moments(w, &m, &v, &lo, &hi);
    CHECK(fabs(v - 4 * 2.0 / 500) < 0.03 * 8.0 / 500, "xavier normal variance with gain 2");
    mdl_init_kaiming_uniform(w, rng, 0, 1);
    moments(w, &m, &v, &lo, &hi);
    b = sqrt(2.0) * sqrt(3.0 / 200);
    CHECK(lo >= -b && hi <= b && hi > 0.99 * b, "kaiming uniform, fan_out mode: bound %g", b);
    for (k = 0; k < 2; k++) { /* orthogonal, wide and tall: W W^T = I or W^T W = I */
        int rows = k ? so[1] : so[0], cols = k ? so[0] : so[1], s2[2];
        int small = rows < cols ? rows : cols, bad = 0;
        s2[0] = rows, s2[1] = cols;
        w = mdl_zeros(ar, 2, s2);
        NN(w);
        mdl_init_orthogonal(w, rng, 1);
        for (i = 0; i < small; i++)
            for (j = 0; j < small; j++) {
                double dot = 0;
                int p;
                for (p = 0; p < (rows < cols ? cols : rows); p++)
                    dot += rows < cols ? w->data[i * cols + p] * w->data[j * cols + p]
                                       : w->data[p * cols + i] * w->data[p * cols + j];
                if (fabs(dot - (i == j)) > 1e-10) bad++;
            }
        CHECK(bad == 0, "orthogonal [%d,%d]: %d entries of the Gram matrix off the identity", rows,
              cols, bad);
    }
    mdl_params_free(ps);
}

/* ---- Sequential and its summary ---- */

static void test_sequential(mdl_arena *ar, mdl_rng *rng) {
    mdl_params *ps = mdl_params_new();
    mdl_sequential *net = mdl_sequential_new();
    int xs[2] = {8, 64};
    static char out[4096];
    FILE *f;
    size_t n;
    mdl_tensor *y;
    if (!ps || !net) return;
    mdl_sequential_add(net, mdl_linear_layer(ps, "0", 64, 128, 1, rng));
    mdl_sequential_add(net, mdl_activation_layer(MDL_LAYER_RELU));
    mdl_sequential_add(net, mdl_dropout_layer(0.5, rng));
    mdl_sequential_add(net, mdl_linear_layer(ps, "3", 128, 10, 1, rng));
    mdl_sequential_add(net, mdl_activation_layer(MDL_LAYER_LOG_SOFTMAX));
    CHECK(net->count == 5 && mdl_params_count(ps) == 4, "5 layers, 4 parameters");
    CHECK(mdl_params_find(ps, "3.bias") != NULL, "nn.Sequential-style names: 3.bias");
    y = mdl_sequential_forward(ar, net, mdl_randn(ar, rng, 2, xs, 0, 1));
    NN(y);
    CHECK(y->ndim == 2 && y->shape[0] == 8 && y->shape[1] == 10, "forward [8,64] -> [8,10]");
    CHECK(net->layers[2].training == 1, "layers start in training mode");
    mdl_sequential_train(net, 0);
    CHECK(net->layers[2].training == 0, "mdl_sequential_train(0): evaluation mode");
    f = tmpfile();
    CHECK(f != NULL, "tmpfile");
    if (f) {
        CHECK(mdl_sequential_summary(f, net, 2, xs) == MDL_OK, "summary: %s", mdl_last_error());
        rewind(f);
        n = fread(out, 1, sizeof out - 1, f);
        out[n] = 0;
        fclose(f);
        CHECK(strstr(out, "0 (Linear 64->128)") && strstr(out, "[8,128]") && strstr(out, "8320") &&
                  strstr(out, "3 (Linear 128->10)") && strstr(out, "1290") &&
                  strstr(out, "Total params: 9610"), "summary table:\n%s", out);
    }
    mdl_sequential_free(net);
    mdl_params_free(ps);
}

/* Inference with the tape off: the outputs before the last go into the arena's two scratch
   arenas, each reset once read. The result equals the one with the tape on, to the bit; the
   arena holds the result alone; a second forward leaves the first result intact; a net that
   ends in a view of its input's data (Flatten, Dropout in evaluation) and one that starts with
   one give the same values. */
static void test_sequential_inference(mdl_rng *rng) {
    mdl_params *ps = mdl_params_new();
    mdl_sequential *nets[2];
    int xs[3] = {8, 4, 16}, k, n;
    for (k = 0; k < 2; k++) {
        mdl_sequential *net = nets[k] = mdl_sequential_new();
        char name[8];
        if (k == 1) mdl_sequential_add(net, mdl_flatten_layer(1, -1)); /* a view first */
        snprintf(name, sizeof name, "a%d", k);
        mdl_sequential_add(net, mdl_linear_layer(ps, name, k ? 64 : 16, 32, 1, rng));
        mdl_sequential_add(net, mdl_activation_layer(MDL_LAYER_TANH));
        mdl_sequential_add(net, mdl_dropout_layer(0.5, rng)); /* evaluation: x itself */
        snprintf(name, sizeof name, "b%d", k);
        mdl_sequential_add(net, mdl_linear_layer(ps, name, 32, 6, 1, rng));
        mdl_sequential_add(net, mdl_activation_layer(MDL_LAYER_RELU));
        if (k == 0) mdl_sequential_add(net, mdl_flatten_layer(1, -1)); /* a view last */
        mdl_sequential_train(net, 0);
    }
    for (k = 0; k < 2; k++) {
        mdl_arena *on = mdl_arena_new(0), *off = mdl_arena_new(0), *in = mdl_arena_new(0);
        mdl_tensor *x1 = mdl_randn(in, rng, 3, xs, 0, 1), *x2 = mdl_randn(in, rng, 3, xs, 0, 1);
        mdl_tensor *want1, *want2, *got1, *got2;
        size_t bytes;
        mdl_set_grad_enabled(off, 0);
        want1 = mdl_sequential_forward(on, nets[k], x1);
        want2 = mdl_sequential_forward(on, nets[k], x2);
        got1 = mdl_sequential_forward(off, nets[k], x1);
        bytes = mdl_arena_used(off);
        got2 = mdl_sequential_forward(off, nets[k], x2);
        NN(want1);
        NN(got1);
        NN(got2);
        n = (int)want1->numel;
        CHECK(got1->numel == want1->numel && got2->numel == want2->numel &&
                  memcmp(got1->data, want1->data, (size_t)n * sizeof(mdl_scalar)) == 0 &&
                  memcmp(got2->data, want2->data, (size_t)n * sizeof(mdl_scalar)) == 0,
              "net %d: the tape off gives the tape on's outputs, and the first survives the "
              "second forward", k);
        CHECK(bytes < 2048 && mdl_arena_used(on) > 8 * 32 * sizeof(mdl_scalar) * 4,
              "net %d: the arena holds the result alone (%zu bytes; with the tape %zu)", k, bytes,
              mdl_arena_used(on));
        mdl_arena_free(on);
        mdl_arena_free(off);
        mdl_arena_free(in);
    }
    mdl_sequential_free(nets[0]);
    mdl_sequential_free(nets[1]);
    mdl_params_free(ps);
}

/* LeNet-5 as a Sequential: the summary's shapes and PyTorch's parameter count (61706) */
static void test_lenet_summary(mdl_rng *rng) {
    mdl_params *ps = mdl_params_new();
    mdl_sequential *net = mdl_sequential_new();
    mdl_conv_opts pad2;
    int xs[4] = {64, 1, 28, 28};
    static char out[8192];
    FILE *f;
    size_t n;
    if (!ps || !net) return;
    memset(&pad2, 0, sizeof pad2);
    pad2.padding = 2;
    mdl_sequential_add(net, mdl_conv2d_layer(ps, "conv1", 1, 6, 5, 5, &pad2, 1, rng));
    mdl_sequential_add(net, mdl_activation_layer(MDL_LAYER_RELU));
    mdl_sequential_add(net, mdl_pool_layer(MDL_LAYER_MAX_POOL2D, 2, NULL));
    mdl_sequential_add(net, mdl_conv2d_layer(ps, "conv2", 6, 16, 5, 5, NULL, 1, rng));
    mdl_sequential_add(net, mdl_activation_layer(MDL_LAYER_RELU));
    mdl_sequential_add(net, mdl_pool_layer(MDL_LAYER_AVG_POOL2D, 2, NULL));
    mdl_sequential_add(net, mdl_flatten_layer(1, -1));
    mdl_sequential_add(net, mdl_linear_layer(ps, "fc1", 400, 120, 1, rng));
    mdl_sequential_add(net, mdl_activation_layer(MDL_LAYER_RELU));
    mdl_sequential_add(net, mdl_linear_layer(ps, "fc2", 120, 84, 1, rng));
    mdl_sequential_add(net, mdl_activation_layer(MDL_LAYER_RELU));
    mdl_sequential_add(net, mdl_linear_layer(ps, "fc3", 84, 10, 1, rng));
    CHECK(net->count == 12, "LeNet: 12 layers, got %d (%s)", net->count, mdl_last_error());
    f = tmpfile();
    if (f && net->count == 12) {
        CHECK(mdl_sequential_summary(f, net, 4, xs) == MDL_OK, "summary: %s", mdl_last_error());
        rewind(f);
        n = fread(out, 1, sizeof out - 1, f);
        out[n] = 0;
        CHECK(strstr(out, "conv1 (Conv2d 1->6, 5x5)") && strstr(out, "[64,6,28,28]") &&
                  strstr(out, "156") && strstr(out, "(MaxPool2d)") && strstr(out, "[64,6,14,14]") &&
                  strstr(out, "[64,16,10,10]") && strstr(out, "2416") &&
                  strstr(out, "(AvgPool2d)") && strstr(out, "[64,16,5,5]") &&
                  strstr(out, "(Flatten)") && strstr(out, "[64,400]") && strstr(out, "48120") &&
                  strstr(out, "[64,10]") && strstr(out, "Total params: 61706"),
              "LeNet summary:\n%s", out);
    }
    if (f) fclose(f);
    mdl_sequential_free(net);
    mdl_params_free(ps);
}

/* ---- mistakes, named by layer ---- */

static void expect_layer_error(const char *what, const mdl_tensor *t, int code, const char *a,
                               const char *b) {
    CHECK(t == NULL && captured_code == code && strstr(captured_message, a) &&
              (!b || strstr(captured_message, b)),
          "%s: code %d, message '%s'", what, captured_code, captured_message);
    capture_errors();
}

static void test_errors(mdl_arena *ar, mdl_rng *rng) {
    mdl_params *ps = mdl_params_new();
    int s64[2] = {32, 64}, s3[3] = {28, 28, 1}, si[2] = {2, 2};
    mdl_scalar bad_idx[4] = {0, 1, 7, 2}, frac_idx[4] = {0, 1.5, 2, 2};
    mdl_layer fc2, conv, emb;
    if (!ps) return;
    capture_errors();
    fc2 = mdl_linear_layer(ps, "fc2", 128, 10, 1, rng);
    conv = mdl_conv2d_layer(ps, "conv1", 1, 6, 5, 5, NULL, 1, rng);
    emb = mdl_embedding_layer(ps, "emb", 5, 4, -1, rng);
    expect_layer_error("Linear given 64 features",
                       mdl_layer_forward(ar, &fc2, mdl_zeros(ar, 2, s64)), MDL_ERR_SHAPE,
                       "fc2 (Linear 128->10): x [32,64]: expected 128 features", NULL);
    expect_layer_error("Conv2d given a 3-D input",
                       mdl_layer_forward(ar, &conv, mdl_zeros(ar, 3, s3)),
                       MDL_ERR_SHAPE, "conv1 (Conv2d 1->6, 5x5): x [28,28,1]", "[B,1,H,W]");
    expect_layer_error("embedding index 7 of 5",
                       mdl_layer_forward(ar, &emb, mdl_from_array(ar, 2, si, bad_idx)),
                       MDL_ERR_ARG, "element 2 (index[1,0]) is 7", "0..4");
    expect_layer_error("embedding index 1.5",
                       mdl_layer_forward(ar, &emb, mdl_from_array(ar, 2, si, frac_idx)),
                       MDL_ERR_ARG, "element 1 (index[0,1]) is 1.5", "whole number");
    mdl_linear_layer(ps, "fc2", 3, 3, 1, rng);
    CHECK(captured_code == MDL_ERR_ARG && strstr(captured_message, "fc2.weight"),
          "a second fc2: '%s'", captured_message);
    capture_errors();
    expect_layer_error("dropout p = 1.5", mdl_dropout(ar, mdl_zeros(ar, 2, s64), 1.5, 1, rng),
                       MDL_ERR_ARG, "mdl_dropout", "1.5");
    mdl_params_free(ps);
}

int main(void) {
    mdl_arena *ar = mdl_arena_new(0);
    mdl_rng rng;
    capture_errors(); /* a contract error is a failure below, not an abort */
    mdl_rng_seed(&rng, 17);
    test_gradients(ar, &rng);
    test_linear_values(ar, &rng);
    test_batch_norm_rules(ar, &rng);
    test_layer_norm_rules(ar, &rng);
    test_dropout_rules(ar, &rng);
    test_embedding_rules(ar, &rng);
    test_init(ar, &rng);
    test_sequential(ar, &rng);
    test_sequential_inference(&rng);
    test_lenet_summary(&rng);
    test_errors(ar, &rng);
    mdl_arena_free(ar);
    return test_summary();
}
