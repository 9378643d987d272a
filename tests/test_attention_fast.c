/* tests/test_attention_fast.c - the transformer's fast path against its composed reference, in
   float (the build a student runs: the SIMD GEMM and vector e^x). For each fast op and layer,
   the same inputs and the same upstream gradient go through both paths, and the outputs and
   every input's and parameter's gradient must agree:
   - mdl_attention_heads against reshape, permute, mdl_scaled_dot_product_attention, permute
     back (self-shaped, Tq != Tk, causal, a scale of its own);
   - mdl_add_layer_norm against mdl_layer_norm(mdl_add(x, r)) (with and without r, weight and
     bias; rows of 64, and of 37 for a short last span);
   - mdl_linear_act against mdl_linear (then mdl_relu): out > in and out < in, with and without
     the bias (the backward's two ways of forming dW);
   - mdl_mha_forward with composed = 0 and 1: self-attention (the packed projection),
     cross-attention, [T,B,E] and batch_first, causal; and the composed path still taken where
     the fast one does not apply (a mask, the weights asked for);
   - mdl_transformer_encoder_layer_forward with composed = 0 and 1: post-norm ReLU, pre-norm
     GELU, two layers stacked at the benchmark's shape scaled down;
   - the new ops' error messages.
   tests/test_attention_fast_double.c runs the same in double, where the paths agree to 1e-10.

   TOLERANCE. The two paths sum in different orders (the GEMM's blocks, the softmax's and the
   layer norm's partial sums) and the fast one takes e^x from the vector kernel (within a few
   ulp), so in float each value may differ by some 2^-24 times the sizes of the terms it sums.
   A comparison passes when max |fast - ref| <= TOL * (1 + max |ref|) over the tensor, with TOL
   1e-4 in float (the worst seen is under 1e-5) and 1e-10 in double.

   gcc -std=c99 -O1 -g -Wall -Wextra -Wpedantic -Werror -I. tests/test_attention_fast.c -o build/test_attention_fast -lm
*/
#ifndef MINIDL_IMPLEMENTATION
#define MINIDL_IMPLEMENTATION
#endif
#include "minidl.h"
#include "test.h"

#include <stdlib.h>

#ifdef MINIDL_DOUBLE
#define TOL 1e-10
#else
#define TOL 1e-4
#endif

#define NN(t)                                                                        \
    do {                                                                             \
        CHECK((t) != NULL, "%s is NULL (last error: %s)", #t, mdl_last_error());     \
        if (!(t)) return;                                                            \
    } while (0)

enum { MAXIN = 32 }; /* the most leaves a case has: x and two layers of 12 parameters */

/* One graph, built from the leaves in[0..n-1] the fast way (composed = 0) or the reference way
   (composed = 1). */
typedef mdl_tensor *(*build_fn)(mdl_arena *ar, mdl_tensor *const *in, void *user, int composed);

/* max |a - b| / (1 + max |b|) over n values */
static double rel_diff(const mdl_scalar *a, const mdl_scalar *b, size_t n) {
    double worst = 0, scale = 0;
    size_t i;
    for (i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (!(d <= worst)) worst = d; /* a NaN makes the comparison fail */
        if (fabs((double)b[i]) > scale) scale = fabs((double)b[i]);
    }
    return worst / (1 + scale);
}

/* Run `f` both ways on the leaves in[], backward from sum(y * R) with one random R, and check
   that y and every leaf's gradient agree. */
static void compare(mdl_arena *ar, const char *what, build_fn f, void *user, int n,
                    mdl_tensor *const *in) {
    mdl_scalar *keep[2][MAXIN + 1];
    size_t sizes[MAXIN + 1];
    int mode, i, ok = n <= MAXIN;
    memset(keep, 0, sizeof keep);
    CHECK(ok, "%s: %d inputs, more than MAXIN", what, n);
    for (mode = 0; mode < 2 && ok; mode++) {
        mdl_rng rng;
        mdl_tensor *y, *r;
        for (i = 0; i < n; i++) mdl_zero_grad(in[i]);
        y = f(ar, in, user, mode);
        CHECK(y != NULL, "%s: %s path failed: %s", what, mode ? "composed" : "fast",
              mdl_last_error());
        if (!y) return;
        mdl_rng_seed(&rng, 77); /* the same upstream gradient both times */
        r = mdl_randn(ar, &rng, y->ndim, y->shape, 0, 1);
        mdl_backward(mdl_sum(ar, mdl_mul(ar, y, r), MDL_ALL, 0));
        sizes[0] = y->numel;
        keep[mode][0] = (mdl_scalar *)malloc(y->numel * sizeof(mdl_scalar));
        if (!keep[mode][0]) break;
        memcpy(keep[mode][0], y->data, y->numel * sizeof(mdl_scalar));
        for (i = 0; i < n; i++) {
            sizes[i + 1] = in[i]->numel;
            keep[mode][i + 1] = (mdl_scalar *)calloc(in[i]->numel, sizeof(mdl_scalar));
            if (!keep[mode][i + 1]) {
                ok = 0;
                break;
            }
            if (in[i]->grad)
                memcpy(keep[mode][i + 1], in[i]->grad, in[i]->numel * sizeof(mdl_scalar));
        }
    }
    for (i = 0; ok && i <= n; i++) {
        double d = keep[0][i] && keep[1][i] ? rel_diff(keep[0][i], keep[1][i], sizes[i]) : 1;
        CHECK(d <= TOL, "%s: %s%.0d: fast and composed differ by %g (relative; tolerance %g)",
              what, i ? "the gradient of input " : "the output", i ? i - 1 : 0, d, TOL);
    }
    for (mode = 0; mode < 2; mode++)
        for (i = 0; i <= n; i++) free(keep[mode][i]);
}

static mdl_tensor *leaf(mdl_arena *ar, mdl_rng *rng, int ndim, const int *shape, double sd) {
    mdl_tensor *t = mdl_randn(ar, rng, ndim, shape, 0, sd);
    if (t) mdl_set_requires_grad(t, 1);
    return t;
}

/* ---- mdl_attention_heads ---- */

typedef struct heads_case {
    int heads, causal;
    double scale;
} heads_case;

/* [B,T,E] -> [B,heads,T,E/heads] and back, as mdl_mha_forward's composed path does */
static mdl_tensor *split(mdl_arena *ar, mdl_tensor *x, int heads) {
    static const int perm[4] = {0, 2, 1, 3};
    int sh[4];
    sh[0] = x->shape[0], sh[1] = x->shape[1], sh[2] = heads, sh[3] = x->shape[2] / heads;
    return mdl_permute(ar, mdl_reshape(ar, x, 4, sh), perm);
}

static mdl_tensor *f_heads(mdl_arena *ar, mdl_tensor *const *in, void *user, int composed) {
    static const int perm[4] = {0, 2, 1, 3};
    const heads_case *c = (const heads_case *)user;
    mdl_attention_opts o;
    mdl_tensor *y;
    int sh[3];
    if (!composed)
        return mdl_attention_heads(ar, in[0], in[1], in[2], c->heads, c->scale, c->causal);
    memset(&o, 0, sizeof o);
    o.causal = c->causal, o.scale = c->scale;
    y = mdl_scaled_dot_product_attention(ar, split(ar, in[0], c->heads), split(ar, in[1], c->heads),
                                         split(ar, in[2], c->heads), &o, NULL);
    sh[0] = in[0]->shape[0], sh[1] = in[0]->shape[1], sh[2] = in[0]->shape[2];
    return mdl_reshape(ar, mdl_permute(ar, y, perm), 3, sh);
}

static void test_heads(mdl_arena *ar, mdl_rng *rng) {
    static const struct {
        int B, Tq, Tk, E, heads, causal;
        double scale;
        const char *what;
    } c[] = {{3, 5, 5, 8, 2, 0, 0, "attention_heads [3,5,8], 2 heads"},
             {2, 4, 7, 16, 4, 0, 0, "attention_heads Tq 4, Tk 7, 4 heads"},
             {2, 6, 6, 12, 3, 1, 0, "attention_heads causal, 3 heads"},
             {2, 9, 4, 8, 1, 1, 0.5, "attention_heads causal, Tq 9 > Tk 4, scale 0.5"},
             {4, 32, 32, 64, 4, 0, 0, "attention_heads at the benchmark's head shape"}};
    size_t i;
    for (i = 0; i < sizeof c / sizeof c[0]; i++) {
        int sq[3], sk[3];
        heads_case hc;
        mdl_tensor *in[3];
        sq[0] = sk[0] = c[i].B, sq[1] = c[i].Tq, sk[1] = c[i].Tk, sq[2] = sk[2] = c[i].E;
        in[0] = leaf(ar, rng, 3, sq, 1), in[1] = leaf(ar, rng, 3, sk, 1);
        in[2] = leaf(ar, rng, 3, sk, 1);
        hc.heads = c[i].heads, hc.causal = c[i].causal, hc.scale = c[i].scale;
        compare(ar, c[i].what, f_heads, &hc, 3, in);
        mdl_arena_reset(ar);
    }
    { /* one tensor as q, k and v: the three gradients land in one buffer */
        int s[3] = {2, 5, 8};
        heads_case hc = {2, 1, 0};
        mdl_tensor *in[3];
        in[0] = in[1] = in[2] = leaf(ar, rng, 3, s, 1);
        compare(ar, "attention_heads, q = k = v one tensor", f_heads, &hc, 3, in);
        mdl_arena_reset(ar);
    }
}

/* ---- mdl_add_layer_norm ---- */

typedef struct ln_case {
    int r, w, b; /* which optional inputs there are; in[] holds x, then those */
} ln_case;

static mdl_tensor *f_ln(mdl_arena *ar, mdl_tensor *const *in, void *user, int composed) {
    const ln_case *c = (const ln_case *)user;
    int k = 1;
    mdl_tensor *x = in[0], *r = c->r ? in[k++] : NULL, *w, *b;
    w = c->w ? in[k++] : NULL;
    b = c->b ? in[k++] : NULL;
    if (!composed) return mdl_add_layer_norm(ar, x, r, w, b, 1e-5);
    return mdl_layer_norm(ar, r ? mdl_add(ar, x, r) : x, 1, w, b, 1e-5);
}

static void test_layer_norm(mdl_arena *ar, mdl_rng *rng) {
    static const struct {
        int rows, E, r, w, b;
        const char *what;
    } c[] = {{64, 64, 1, 1, 1, "add_layer_norm x + r, weight, bias, rows of 64"},
             {10, 37, 1, 1, 1, "add_layer_norm rows of 37 (a short last span)"},
             {12, 64, 0, 1, 1, "add_layer_norm without r"},
             {7, 20, 1, 0, 0, "add_layer_norm without weight and bias"},
             {5, 3, 0, 0, 1, "add_layer_norm rows of 3, bias only"}};
    size_t i;
    for (i = 0; i < sizeof c / sizeof c[0]; i++) {
        int sx[3], se[1], n = 0;
        ln_case lc;
        mdl_tensor *in[4];
        sx[0] = 2, sx[1] = c[i].rows, sx[2] = c[i].E, se[0] = c[i].E;
        in[n++] = leaf(ar, rng, 3, sx, 2); /* mean and scale away from 0 and 1 */
        if (c[i].r) in[n++] = leaf(ar, rng, 3, sx, 1);
        if (c[i].w) in[n++] = leaf(ar, rng, 1, se, 1);
        if (c[i].b) in[n++] = leaf(ar, rng, 1, se, 1);
        lc.r = c[i].r, lc.w = c[i].w, lc.b = c[i].b;
        compare(ar, c[i].what, f_ln, &lc, n, in);
        mdl_arena_reset(ar);
    }
}

/* ---- mdl_linear_act ---- */

static mdl_tensor *f_lin(mdl_arena *ar, mdl_tensor *const *in, void *user, int composed) {
    const int *relu_bias = (const int *)user;
    mdl_tensor *b = relu_bias[1] ? in[2] : NULL, *y;
    if (!composed) return mdl_linear_act(ar, in[0], in[1], b, relu_bias[0]);
    y = mdl_linear(ar, in[0], in[1], b);
    return relu_bias[0] ? mdl_relu(ar, y) : y;
}

static void test_linear(mdl_arena *ar, mdl_rng *rng) {
    static const struct {
        int N, in, out, relu, bias;
        const char *what;
    } c[] = {{40, 16, 48, 0, 1, "linear_act out 48 > in 16"},
             {40, 48, 16, 0, 1, "linear_act out 16 < in 48"},
             {33, 20, 20, 1, 1, "linear_act ReLU, out = in"},
             {64, 64, 256, 1, 1, "linear_act ReLU, the feed-forward's 64 -> 256"},
             {64, 256, 64, 0, 1, "linear_act the feed-forward's 256 -> 64"},
             {9, 7, 5, 1, 0, "linear_act ReLU, no bias"}};
    size_t i;
    for (i = 0; i < sizeof c / sizeof c[0]; i++) {
        int sx[3], sw[2], sb[1], rb[2];
        mdl_tensor *in[3];
        sx[0] = 2, sx[1] = c[i].N, sx[2] = c[i].in, sw[0] = c[i].out, sw[1] = c[i].in;
        sb[0] = c[i].out;
        in[0] = leaf(ar, rng, 3, sx, 1), in[1] = leaf(ar, rng, 2, sw, 0.3);
        in[2] = leaf(ar, rng, 1, sb, 0.3);
        rb[0] = c[i].relu, rb[1] = c[i].bias;
        compare(ar, c[i].what, f_lin, rb, c[i].bias ? 3 : 2, in);
        mdl_arena_reset(ar);
    }
}

/* ---- multi-head attention ---- */

typedef struct mha_case {
    mdl_mha m;
    mdl_mha_args a;
    int self; /* one input as query, key and value */
} mha_case;

/* inputs: query, [key, value], in_proj_weight, in_proj_bias, out_proj.weight, out_proj.bias */
static mdl_tensor *f_mha(mdl_arena *ar, mdl_tensor *const *in, void *user, int composed) {
    mha_case *c = (mha_case *)user;
    mdl_mha m = c->m;
    int n = c->self ? 1 : 3;
    m.in_proj_weight = in[n], m.in_proj_bias = in[n + 1];
    m.out_proj_weight = in[n + 2], m.out_proj_bias = in[n + 3];
    m.composed = composed;
    return mdl_mha_forward(ar, &m, in[0], c->self ? in[0] : in[1], c->self ? in[0] : in[2],
                           &c->a, NULL);
}

static void test_mha(mdl_arena *ar, mdl_rng *rng) {
    int v;
    for (v = 0; v < 4; v++) {
        mdl_params *ps = mdl_params_new();
        mdl_mha_opts mo;
        mha_case c;
        mdl_tensor *in[8];
        int sq[3] = {5, 3, 16}, sk[3] = {7, 3, 16}, n = 0, i;
        static const char *const what[4] = {"mha self-attention [T,B,E]",
                                            "mha self-attention batch_first, causal",
                                            "mha cross-attention, Tq 5, Tk 7",
                                            "mha cross-attention batch_first, key = value"};
        memset(&mo, 0, sizeof mo);
        mo.batch_first = v % 2;
        c.m = mdl_mha_layer(ps, "attn", 16, 4, &mo, rng);
        memset(&c.a, 0, sizeof c.a);
        c.a.causal = v == 1;
        c.self = v < 2;
        if (mo.batch_first) sq[0] = sk[0] = 3, sq[1] = 5, sk[1] = 7;
        in[n++] = leaf(ar, rng, 3, sq, 1);
        if (!c.self) {
            in[n++] = leaf(ar, rng, 3, sk, 1);
            in[n] = v == 3 ? in[n - 1] : leaf(ar, rng, 3, sk, 1);
            n++;
        }
        for (i = 0; i < 4; i++) { /* copies of the parameters, the biases moved off 0 */
            mdl_tensor *p = mdl_params_get(ps, i);
            in[n] = mdl_add(ar, mdl_detach(ar, p), mdl_randn(ar, rng, p->ndim, p->shape, 0, 0.2));
            NN(in[n]);
            mdl_set_requires_grad(in[n++], 1);
        }
        compare(ar, what[v], f_mha, &c, n, in);
        mdl_params_free(ps);
        mdl_arena_reset(ar);
    }
    { /* where the fast path does not apply, the composed one runs: the same output */
        mdl_params *ps = mdl_params_new();
        mdl_mha_opts mo;
        mdl_mha m;
        mdl_mha_args a;
        int sx[3] = {2, 6, 8}, sm[2] = {6, 6};
        mdl_tensor *x, *y0, *y1, *y2, *w;
        memset(&mo, 0, sizeof mo);
        mo.batch_first = 1;
        m = mdl_mha_layer(ps, "attn", 8, 2, &mo, rng);
        x = mdl_randn(ar, rng, 3, sx, 0, 1);
        memset(&a, 0, sizeof a);
        a.causal = 1;
        y0 = mdl_mha_forward(ar, &m, x, x, x, &a, NULL); /* fast */
        y1 = mdl_mha_forward(ar, &m, x, x, x, &a, &w);   /* composed: the weights asked for */
        a.causal = 0;
        a.attn_mask = mdl_zeros(ar, 2, sm);
        {
            int i, j;
            for (i = 0; i < 6; i++) /* the causal mask as an additive one */
                for (j = i + 1; j < 6; j++) a.attn_mask->data[i * 6 + j] = (mdl_scalar)-INFINITY;
        }
        y2 = mdl_mha_forward(ar, &m, x, x, x, &a, NULL); /* composed: a mask */
        NN(y0);
        NN(y1);
        NN(y2);
        CHECK(rel_diff(y0->data, y1->data, y0->numel) <= TOL &&
                  rel_diff(y0->data, y2->data, y0->numel) <= TOL && w && w->shape[1] == 6,
              "mha: the fast path (causal), and the composed one with the weights asked for "
              "or with the same mask given as attn_mask, agree");
        mdl_params_free(ps);
        mdl_arena_reset(ar);
    }
}

/* ---- the encoder layer ---- */

typedef struct enc_case {
    mdl_transformer_layer l[2];
    int layers;
    mdl_mha_args a;
} enc_case;

/* inputs: x, then each layer's 12 parameters in registration order */
static mdl_tensor *f_enc(mdl_arena *ar, mdl_tensor *const *in, void *user, int composed) {
    enc_case *c = (enc_case *)user;
    mdl_tensor *x = in[0];
    int k;
    for (k = 0; k < c->layers; k++) {
        mdl_transformer_layer l = c->l[k];
        mdl_tensor *const *p = in + 1 + 12 * k;
        l.self_attn.in_proj_weight = p[0], l.self_attn.in_proj_bias = p[1];
        l.self_attn.out_proj_weight = p[2], l.self_attn.out_proj_bias = p[3];
        l.linear1.weight = p[4], l.linear1.bias = p[5], l.linear2.weight = p[6];
        l.linear2.bias = p[7], l.norm1.weight = p[8], l.norm1.bias = p[9];
        l.norm2.weight = p[10], l.norm2.bias = p[11];
        l.composed = composed;
        x = mdl_transformer_encoder_layer_forward(ar, &l, x, &c->a);
    }
    return x;
}

static void test_encoder(mdl_arena *ar, mdl_rng *rng) {
    static const struct {
        int norm_first, gelu, batch_first, causal, layers, B, T, E, heads, ff;
        const char *what;
    } c[] = {{0, 0, 1, 0, 2, 4, 16, 32, 4, 64,
              "encoder: 2 layers post-norm ReLU, batch_first (the benchmark's, smaller)"},
             {1, 1, 0, 1, 1, 3, 7, 12, 3, 20, "encoder: pre-norm GELU, [T,B,E], causal"},
             {0, 1, 0, 0, 1, 2, 5, 8, 2, 12, "encoder: post-norm GELU"},
             {1, 0, 1, 0, 1, 2, 5, 8, 1, 12, "encoder: pre-norm ReLU, one head"}};
    size_t i;
    for (i = 0; i < sizeof c / sizeof c[0]; i++) {
        mdl_params *ps = mdl_params_new();
        mdl_transformer_opts o = mdl_transformer_defaults();
        enc_case ec;
        mdl_tensor *in[1 + 24];
        int sx[3], k, n = 1;
        o.dim_feedforward = c[i].ff, o.dropout = 0, o.gelu = c[i].gelu;
        o.norm_first = c[i].norm_first, o.batch_first = c[i].batch_first;
        ec.layers = c[i].layers;
        ec.l[0] = mdl_transformer_encoder_layer(ps, "l0", c[i].E, c[i].heads, &o, rng);
        ec.l[1] = mdl_transformer_encoder_layer(ps, "l1", c[i].E, c[i].heads, &o, rng);
        memset(&ec.a, 0, sizeof ec.a);
        ec.a.causal = c[i].causal;
        sx[0] = c[i].batch_first ? c[i].B : c[i].T, sx[1] = c[i].batch_first ? c[i].T : c[i].B;
        sx[2] = c[i].E;
        in[0] = leaf(ar, rng, 3, sx, 1);
        for (k = 0; k < 12 * ec.layers; k++) { /* copies, moved off the init (norms' 1, 0) */
            mdl_tensor *p = mdl_params_get(ps, k);
            in[n] = mdl_add(ar, mdl_detach(ar, p), mdl_randn(ar, rng, p->ndim, p->shape, 0, 0.2));
            NN(in[n]);
            mdl_set_requires_grad(in[n++], 1);
        }
        compare(ar, c[i].what, f_enc, &ec, n, in);
        mdl_params_free(ps);
        mdl_arena_reset(ar);
    }
}

/* ---- errors ---- */

static void expect_error(int code, const char *fragment, const char *what) {
    CHECK(captured_code == code && strstr(captured_message, fragment) != NULL,
          "%s: expected error %d containing \"%s\", got %d: \"%s\"", what, code, fragment,
          captured_code, captured_message);
    mdl_clear_error();
    captured_code = 0;
    captured_message[0] = 0;
}

static void test_errors(mdl_arena *ar) {
    int s3[3] = {2, 3, 8}, s4[3] = {2, 4, 8}, s6[3] = {2, 3, 6}, s8[1] = {8}, s5[1] = {5};
    int w2[2] = {4, 6};
    mdl_tensor *a = mdl_zeros(ar, 3, s3), *b = mdl_zeros(ar, 3, s4), *c = mdl_zeros(ar, 3, s6);
    mdl_tensor *w8 = mdl_ones(ar, 1, s8), *w5 = mdl_ones(ar, 1, s5), *w = mdl_zeros(ar, 2, w2);
    CHECK(mdl_attention_heads(ar, a, a, a, 3, 0, 0) == NULL, "8 features in 3 heads");
    expect_error(MDL_ERR_ARG, "E = 8 must be divisible by heads = 3", "attention_heads' heads");
    CHECK(mdl_attention_heads(ar, a, b, a, 2, 0, 0) == NULL, "k and v of other T");
    expect_error(MDL_ERR_SHAPE, "q [2,3,8], k [2,4,8], v [2,3,8]: expected [B,Tq,E]",
                 "attention_heads' shapes");
    CHECK(mdl_add_layer_norm(ar, a, c, NULL, NULL, 1e-5) == NULL, "r of another shape");
    expect_error(MDL_ERR_SHAPE, "x [2,3,8], r [2,3,6]", "add_layer_norm's r");
    CHECK(mdl_add_layer_norm(ar, a, NULL, w5, NULL, 1e-5) == NULL, "weight [5]");
    expect_error(MDL_ERR_SHAPE, "weight [5] and bias must be [8]", "add_layer_norm's weight");
    CHECK(mdl_add_layer_norm(ar, a, a, w8, w8, 0) == NULL, "eps 0");
    expect_error(MDL_ERR_ARG, "eps = 0 must be above 0", "add_layer_norm's eps");
    CHECK(mdl_linear_act(ar, a, w, NULL, 1) == NULL, "weight [4,6] for 8 features");
    expect_error(MDL_ERR_SHAPE, "x [2,3,8], weight [4,6]", "linear_act's shapes");
    CHECK(mdl_linear_act(ar, c, w, w5, 0) == NULL, "bias [5] for 4 outputs");
    expect_error(MDL_ERR_SHAPE, "bias [5]: bias must be [4]", "linear_act's bias");
    mdl_arena_reset(ar);
}

int main(void) {
    mdl_arena *ar = mdl_arena_new(0);
    mdl_rng rng;
    capture_errors();
    mdl_rng_seed(&rng, 2024);
    test_heads(ar, &rng);
    test_layer_norm(ar, &rng);
    test_linear(ar, &rng);
    test_mha(ar, &rng);
    test_encoder(ar, &rng);
    test_errors(ar);
    mdl_arena_free(ar);
    return test_summary();
}
