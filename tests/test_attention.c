// build-extra: -DMINIDL_DOUBLE
/* tests/test_attention.c - attention in double precision: scaled dot-product attention's
   gradient against central differences with and without masks (additive, keep, block, causal,
   dropout with a fixed mask), its values against the formula computed here, causality,
   nn.MultiheadAttention's (projections, heads, masks, averaged weights) and the transformer
   encoder layer's gradients (post-norm ReLU, pre-norm GELU), parameter names and
   initialisation, the positional encodings, and the error messages. (tests/torch/torch_rnn.c
   compares all of it with PyTorch.)

   gcc -std=c99 -O1 -g -Wall -Wextra -Wpedantic -Werror -DMINIDL_DOUBLE -I. tests/test_attention.c -o build/test_attention -lm
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

static void check_grad(const char *what, mdl_fn f, void *user, int n, mdl_tensor *const *in) {
    mdl_gradcheck_report rep;
    int ok = mdl_gradcheck(f, user, n, in, 0, 0, 0, &rep);
    CHECK(ok && rep.checked > 0, "gradcheck %s: %zu of %zu failed, worst input %d [%zu]: "
          "analytic %g numeric %g (%s)", what, rep.failed, rep.checked, rep.worst_input,
          rep.worst_index, rep.analytic, rep.numeric, mdl_last_error());
}

static mdl_tensor *param(mdl_arena *ar, mdl_rng *rng, int ndim, const int *shape, double sd) {
    mdl_tensor *t = mdl_randn(ar, rng, ndim, shape, 0, sd);
    if (t) mdl_set_requires_grad(t, 1);
    return t;
}

/* ---- scaled dot-product attention ---- */

typedef struct sdpa_case {
    mdl_attention_opts o;
    int with_weights; /* return out and the weights side by side */
} sdpa_case;

static mdl_tensor *f_sdpa(mdl_arena *ar, mdl_tensor *const *in, void *user) {
    sdpa_case *c = (sdpa_case *)user;
    mdl_attention_opts o = c->o;
    mdl_rng rng; /* a fixed dropout mask: the same function at every evaluation */
    mdl_tensor *w, *y, *parts[2];
    int flat = -1;
    mdl_rng_seed(&rng, 11);
    o.rng = &rng;
    y = mdl_scaled_dot_product_attention(ar, in[0], in[1], in[2], &o, &w);
    if (!y || !c->with_weights) return y;
    parts[0] = mdl_reshape(ar, y, 1, &flat), parts[1] = mdl_reshape(ar, w, 1, &flat);
    return mdl_concat(ar, 2, parts, 0);
}

static void test_sdpa_gradients(mdl_arena *ar, mdl_rng *rng) {
    int sq[4] = {2, 3, 4, 5}, sk[4] = {2, 3, 6, 5}, sv[4] = {2, 3, 6, 4}, sqc[4] = {2, 3, 6, 5};
    int sm[2] = {4, 6}, spad[4] = {2, 1, 1, 6}, i;
    mdl_scalar keep[24], block[12];
    mdl_tensor *in[3];
    sdpa_case c;
    for (i = 0; i < 24; i++) keep[i] = (mdl_scalar)((i * 7) % 5 != 0 || i % 6 == 0); /* each row keeps some */
    for (i = 0; i < 12; i++) block[i] = (mdl_scalar)(i % 6 >= 4 - i / 6);            /* padding */
    in[0] = param(ar, rng, 4, sq, 1), in[1] = param(ar, rng, 4, sk, 1), in[2] = param(ar, rng, 4, sv, 1);
    memset(&c, 0, sizeof c);
    c.with_weights = 1;
    check_grad("attention [2,3,4,5] x [2,3,6,5], out and weights", f_sdpa, &c, 3, in);
    c.o.mask = mdl_randn(ar, rng, 2, sm, 0, 1);
    check_grad("attention, additive mask [4,6]", f_sdpa, &c, 3, in);
    c.o.mask = mdl_from_array(ar, 2, sm, keep), c.o.mask_kind = MDL_MASK_KEEP;
    check_grad("attention, keep mask [4,6]", f_sdpa, &c, 3, in);
    c.o.mask = mdl_from_array(ar, 4, spad, block), c.o.mask_kind = MDL_MASK_BLOCK;
    check_grad("attention, block mask [2,1,1,6] (key padding)", f_sdpa, &c, 3, in);
    memset(&c, 0, sizeof c);
    c.o.dropout = 0.3, c.o.scale = 0.7;
    check_grad("attention, dropout 0.3 (a fixed mask), scale 0.7", f_sdpa, &c, 3, in);
    in[0] = param(ar, rng, 4, sqc, 1);
    memset(&c, 0, sizeof c);
    c.o.causal = 1, c.with_weights = 1;
    check_grad("attention, causal [..,6,5]", f_sdpa, &c, 3, in);
}

/* values against the formula, the mask kinds against each other, causality */
static void test_sdpa_values(mdl_arena *ar, mdl_rng *rng) {
    int sq[3] = {2, 3, 4}, sk[3] = {2, 5, 4}, sv[3] = {2, 5, 3}, sm[2] = {3, 5}, b, i, j, d;
    mdl_tensor *q = mdl_randn(ar, rng, 3, sq, 0, 1), *k = mdl_randn(ar, rng, 3, sk, 0, 1);
    mdl_tensor *v = mdl_randn(ar, rng, 3, sv, 0, 1), *keep = mdl_zeros(ar, 2, sm);
    mdl_tensor *add = mdl_zeros(ar, 2, sm), *blk = mdl_zeros(ar, 2, sm), *y, *w, *y2, *y3;
    mdl_attention_opts o;
    int bad = 0;
    NN(keep);
    NN(add);
    NN(blk);
    for (i = 0; i < 15; i++) { /* query i of 3 may see keys (i + j) % 2 == 0 */
        int allowed = ((i / 5) + (i % 5)) % 2 == 0;
        keep->data[i] = (mdl_scalar)allowed;
        blk->data[i] = (mdl_scalar)!allowed;
        add->data[i] = allowed ? 0 : (mdl_scalar)-INFINITY;
    }
    memset(&o, 0, sizeof o);
    o.mask = keep, o.mask_kind = MDL_MASK_KEEP;
    y = mdl_scaled_dot_product_attention(ar, q, k, v, &o, &w);
    NN(y);
    for (b = 0; b < 2; b++)
        for (i = 0; i < 3; i++) {
            double s[5], m = -1e300, z = 0;
            for (j = 0; j < 5; j++) {
                s[j] = 0;
                for (d = 0; d < 4; d++) s[j] += q->data[(b * 3 + i) * 4 + d] * k->data[(b * 5 + j) * 4 + d];
                s[j] = keep->data[i * 5 + j] ? s[j] / 2 : -INFINITY; /* 1/sqrt(4) */
                if (s[j] > m) m = s[j];
            }
            for (j = 0; j < 5; j++) z += exp(s[j] - m);
            for (d = 0; d < 3; d++) {
                double want = 0;
                for (j = 0; j < 5; j++) want += exp(s[j] - m) / z * v->data[(b * 5 + j) * 3 + d];
                if (fabs(y->data[(b * 3 + i) * 3 + d] - want) > 1e-13) bad++;
            }
            for (j = 0; j < 5; j++)
                if (fabs(w->data[(b * 3 + i) * 5 + j] - exp(s[j] - m) / z) > 1e-14) bad++;
        }
    CHECK(bad == 0, "attention = softmax(q k^T / sqrt(D), masked) v: %d values differ", bad);
    o.mask = blk, o.mask_kind = MDL_MASK_BLOCK;
    y2 = mdl_scaled_dot_product_attention(ar, q, k, v, &o, NULL);
    o.mask = add, o.mask_kind = MDL_MASK_ADD;
    y3 = mdl_scaled_dot_product_attention(ar, q, k, v, &o, NULL);
    NN(y2);
    NN(y3);
    CHECK(memcmp(y->data, y2->data, y->numel * sizeof(mdl_scalar)) == 0 &&
              memcmp(y->data, y3->data, y->numel * sizeof(mdl_scalar)) == 0,
          "a keep mask, its complement as a block mask and -inf as an additive mask agree");
    { /* causal: changing key/value j > i leaves query i's output alone */
        int s5[3] = {1, 5, 4};
        mdl_tensor *qc = mdl_randn(ar, rng, 3, s5, 0, 1), *kc = mdl_randn(ar, rng, 3, s5, 0, 1);
        mdl_tensor *vc = mdl_randn(ar, rng, 3, s5, 0, 1), *ya, *yb;
        memset(&o, 0, sizeof o);
        o.causal = 1;
        ya = mdl_scaled_dot_product_attention(ar, qc, kc, vc, &o, NULL);
        NN(ya);
        for (d = 0; d < 4; d++) kc->data[4 * 4 + d] += 3, vc->data[4 * 4 + d] -= 2;
        yb = mdl_scaled_dot_product_attention(ar, qc, kc, vc, &o, NULL);
        NN(yb);
        CHECK(memcmp(ya->data, yb->data, 16 * sizeof(mdl_scalar)) == 0 &&
                  ya->data[16] != yb->data[16],
              "causal: queries 0-3 ignore key 4, query 4 sees it");
        CHECK(ya->data[0] == vc->data[0] && ya->data[3] == vc->data[3],
              "causal: query 0 sees key 0 alone, its output is v[0]");
    }
    { /* a query whose every key is blocked: NaN, as PyTorch */
        int s1[2] = {1, 5};
        mdl_tensor *all = mdl_ones(ar, 2, s1);
        memset(&o, 0, sizeof o);
        o.mask = all, o.mask_kind = MDL_MASK_BLOCK;
        y = mdl_scaled_dot_product_attention(ar, q, k, v, &o, NULL);
        NN(y);
        CHECK(y->data[0] != y->data[0], "every key blocked gives NaN");
    }
}

/* ---- multi-head attention ---- */

typedef struct mha_case {
    mdl_mha m;
    mdl_mha_args a;
    int self;      /* one input for query, key and value */
    int weights;   /* return the weights beside the output */
} mha_case;

/* inputs: query, [key, value], in_proj_weight, in_proj_bias, out_proj.weight, out_proj.bias */
static mdl_tensor *f_mha(mdl_arena *ar, mdl_tensor *const *in, void *user) {
    mha_case *c = (mha_case *)user;
    mdl_mha m = c->m;
    int n = c->self ? 1 : 3, flat = -1;
    mdl_tensor *w, *y, *parts[2];
    m.in_proj_weight = in[n], m.in_proj_bias = in[n + 1];
    m.out_proj_weight = in[n + 2], m.out_proj_bias = in[n + 3];
    y = mdl_mha_forward(ar, &m, in[0], c->self ? in[0] : in[1], c->self ? in[0] : in[2], &c->a,
                        c->weights ? &w : NULL);
    if (!y || !c->weights) return y;
    parts[0] = mdl_reshape(ar, y, 1, &flat), parts[1] = mdl_reshape(ar, w, 1, &flat);
    return mdl_concat(ar, 2, parts, 0);
}

static void test_mha(mdl_arena *ar, mdl_rng *rng) {
    mdl_params *ps = mdl_params_new();
    mdl_mha_opts mo;
    mha_case c;
    int sq[3] = {3, 2, 6}, sk[3] = {4, 2, 6}, sw[2] = {18, 6}, sb[1] = {18}, so[2] = {6, 6};
    int sob[1] = {6}, skp[2] = {2, 4}, sam[2] = {3, 4}, n = 0, i;
    mdl_scalar pad[8] = {0, 0, 0, 1, 0, 0, 1, 1}; /* batch 0 ignores key 3, batch 1 keys 2, 3 */
    mdl_tensor *in[7], *w, *y;
    memset(&mo, 0, sizeof mo);
    c.m = mdl_mha_layer(ps, "attn", 6, 3, &mo, rng);
    CHECK(c.m.in_proj_weight && mdl_params_count(ps) == 4 &&
              strcmp(mdl_params_get(ps, 0)->name, "attn.in_proj_weight") == 0 &&
              strcmp(mdl_params_get(ps, 1)->name, "attn.in_proj_bias") == 0 &&
              strcmp(mdl_params_get(ps, 2)->name, "attn.out_proj.weight") == 0 &&
              strcmp(mdl_params_get(ps, 3)->name, "attn.out_proj.bias") == 0,
          "MultiheadAttention registers the state_dict's names in its order");
    if (!c.m.in_proj_weight) return;
    {
        double bound = sqrt(6.0 / (6 + 18)), hi = 0, bias = 0;
        size_t k;
        for (k = 0; k < c.m.in_proj_weight->numel; k++)
            if (fabs(c.m.in_proj_weight->data[k]) > hi) hi = fabs(c.m.in_proj_weight->data[k]);
        for (k = 0; k < 18; k++) bias += fabs(c.m.in_proj_bias->data[k]);
        for (k = 0; k < 6; k++) bias += fabs(c.m.out_proj_bias->data[k]);
        CHECK(hi <= bound && hi > 0.9 * bound && bias == 0,
              "in_proj_weight xavier uniform (|w| <= %g, largest %g), biases zero", bound, hi);
    }
    memset(&c.a, 0, sizeof c.a);
    c.self = 0, c.weights = 1;
    in[n++] = param(ar, rng, 3, sq, 1), in[n++] = param(ar, rng, 3, sk, 1);
    in[n++] = param(ar, rng, 3, sk, 1), in[n++] = param(ar, rng, 2, sw, 0.5);
    in[n++] = param(ar, rng, 1, sb, 0.5), in[n++] = param(ar, rng, 2, so, 0.5);
    in[n++] = param(ar, rng, 1, sob, 0.5);
    check_grad("MHA [T,B,E], 3 heads, cross-attention, averaged weights", f_mha, &c, n, in);
    c.a.key_padding_mask = mdl_from_array(ar, 2, skp, pad), c.a.mask_kind = MDL_MASK_BLOCK;
    c.a.attn_mask = mdl_zeros(ar, 2, sam);
    c.a.attn_mask->data[1] = 1;
    check_grad("MHA with key padding and attn_mask (block)", f_mha, &c, n, in);
    c.a.per_head_weights = 1;
    y = mdl_mha_forward(ar, &c.m, in[0], in[1], in[2], &c.a, &w);
    NN(y);
    CHECK(w->ndim == 4 && w->shape[1] == 3 && w->data[3] == 0 && w->data[1] == 0 &&
              w->data[4 * 3 + 2] != 0,
          "per-head weights [B,heads,Tq,Tk]: padded keys and the masked pair get weight 0");
    c.a.per_head_weights = 0;
    y = mdl_mha_forward(ar, &c.m, in[0], in[1], in[2], &c.a, &w);
    NN(y);
    CHECK(y->ndim == 3 && y->shape[0] == 3 && y->shape[1] == 2 && y->shape[2] == 6 &&
              w->ndim == 3 && w->shape[0] == 2 && w->shape[1] == 3 && w->shape[2] == 4,
          "output [Tq,B,E], averaged weights [B,Tq,Tk]");
    {
        double row = 0;
        for (i = 0; i < 4; i++) row += w->data[i];
        CHECK(fabs(row - 1) < 1e-12, "averaged weights: each row sums to 1 (%g)", row);
    }
    /* self-attention, batch_first, additive masks, causal */
    mo.batch_first = 1;
    c.m = mdl_mha_layer(ps, "self", 6, 2, &mo, rng);
    memset(&c.a, 0, sizeof c.a);
    c.a.causal = 1;
    c.a.key_padding_mask = mdl_zeros(ar, 2, skp);
    c.a.key_padding_mask->data[7] = -1.5;
    c.self = 1, c.weights = 0;
    n = 0;
    sq[0] = 2, sq[1] = 4;
    in[n++] = param(ar, rng, 3, sq, 1), in[n++] = param(ar, rng, 2, sw, 0.5);
    in[n++] = param(ar, rng, 1, sb, 0.5), in[n++] = param(ar, rng, 2, so, 0.5);
    in[n++] = param(ar, rng, 1, sob, 0.5);
    check_grad("MHA self-attention, batch_first, causal, additive key padding", f_mha, &c, n, in);
    mdl_params_free(ps);
}

/* one head, no bias: the projections and attention computed by hand */
static void test_mha_values(mdl_arena *ar, mdl_rng *rng) {
    mdl_params *ps = mdl_params_new();
    mdl_mha_opts mo;
    mdl_mha m;
    int sx[3] = {2, 3, 4}, e3[2] = {4, 4};
    mdl_tensor *x, *y, *q, *k, *v, *ref, *wq, *wk, *wv;
    memset(&mo, 0, sizeof mo);
    mo.batch_first = 1, mo.no_bias = 1;
    m = mdl_mha_layer(ps, "m", 4, 1, &mo, rng);
    CHECK(m.in_proj_bias == NULL && m.out_proj_bias == NULL && mdl_params_count(ps) == 2,
          "no_bias: in_proj_weight and out_proj.weight only");
    x = mdl_randn(ar, rng, 3, sx, 0, 1);
    y = mdl_mha_forward(ar, &m, x, x, x, NULL, NULL);
    wq = mdl_from_array(ar, 2, e3, m.in_proj_weight->data);
    wk = mdl_from_array(ar, 2, e3, m.in_proj_weight->data + 16);
    wv = mdl_from_array(ar, 2, e3, m.in_proj_weight->data + 32);
    q = mdl_linear(ar, x, wq, NULL), k = mdl_linear(ar, x, wk, NULL), v = mdl_linear(ar, x, wv, NULL);
    ref = mdl_linear(ar, mdl_scaled_dot_product_attention(ar, q, k, v, NULL, NULL),
                     m.out_proj_weight, NULL);
    NN(y);
    NN(ref);
    {
        size_t i;
        double worst = 0;
        for (i = 0; i < y->numel; i++)
            if (fabs(y->data[i] - ref->data[i]) > worst) worst = fabs(y->data[i] - ref->data[i]);
        CHECK(worst < 1e-14, "one head: out_proj(attention(x W_q^T, x W_k^T, x W_v^T)), the "
              "rows of in_proj_weight in the order q, k, v (%g)", worst);
    }
    mdl_params_free(ps);
}

/* ---- the transformer encoder layer ---- */

typedef struct enc_case {
    mdl_transformer_layer l;
    mdl_mha_args a;
} enc_case;

/* inputs: x, then the layer's 12 parameters in registration order */
static mdl_tensor *f_enc(mdl_arena *ar, mdl_tensor *const *in, void *user) {
    enc_case *c = (enc_case *)user;
    mdl_transformer_layer l = c->l;
    l.self_attn.in_proj_weight = in[1], l.self_attn.in_proj_bias = in[2];
    l.self_attn.out_proj_weight = in[3], l.self_attn.out_proj_bias = in[4];
    l.linear1.weight = in[5], l.linear1.bias = in[6], l.linear2.weight = in[7];
    l.linear2.bias = in[8], l.norm1.weight = in[9], l.norm1.bias = in[10];
    l.norm2.weight = in[11], l.norm2.bias = in[12];
    return mdl_transformer_encoder_layer_forward(ar, &l, in[0], &c->a);
}

static void test_encoder(mdl_arena *ar, mdl_rng *rng) {
    static const char *const names[12] = {
        "enc.self_attn.in_proj_weight", "enc.self_attn.in_proj_bias",
        "enc.self_attn.out_proj.weight", "enc.self_attn.out_proj.bias", "enc.linear1.weight",
        "enc.linear1.bias", "enc.linear2.weight", "enc.linear2.bias", "enc.norm1.weight",
        "enc.norm1.bias", "enc.norm2.weight", "enc.norm2.bias"};
    int v;
    for (v = 0; v < 2; v++) {
        mdl_params *ps = mdl_params_new();
        mdl_transformer_opts o = mdl_transformer_defaults();
        enc_case c;
        mdl_tensor *in[13];
        int sx[3] = {3, 2, 4}, i, ok = 1;
        CHECK(o.dim_feedforward == 2048 && o.dropout == 0.1 && o.layer_norm_eps == 1e-5 &&
                  !o.gelu && !o.norm_first && !o.batch_first,
              "PyTorch's defaults: 2048, dropout 0.1, ReLU, eps 1e-5, post-norm, [T,B,E]");
        o.dim_feedforward = 6, o.dropout = 0, o.gelu = v, o.norm_first = v, o.batch_first = v;
        c.l = mdl_transformer_encoder_layer(ps, "enc", 4, 2, &o, rng);
        memset(&c.a, 0, sizeof c.a);
        c.a.causal = v;
        for (i = 0; i < 12 && i < mdl_params_count(ps); i++)
            ok &= strcmp(mdl_params_get(ps, i)->name, names[i]) == 0;
        CHECK(ok && mdl_params_count(ps) == 12, "the encoder layer's 12 names, in order");
        in[0] = param(ar, rng, 3, sx, 1);
        for (i = 0; i < 12; i++) { /* copies, moved off the init (norms' 1 and 0) */
            mdl_tensor *p = mdl_params_get(ps, i);
            in[i + 1] = mdl_add(ar, mdl_detach(ar, p), mdl_randn(ar, rng, p->ndim, p->shape, 0, 0.3));
            NN(in[i + 1]);
            mdl_set_requires_grad(in[i + 1], 1);
        }
        check_grad(v ? "encoder layer: pre-norm, GELU, batch_first, causal"
                     : "encoder layer: post-norm, ReLU", f_enc, &c, 13, in);
        mdl_params_free(ps);
        mdl_arena_reset(ar);
    }
}

/* ---- positional encodings ---- */

static void test_positions(mdl_arena *ar, mdl_rng *rng) {
    mdl_tensor *pe = mdl_sinusoidal_positions(ar, 50, 6), *table, *pos, *y;
    int t, i, bad = 0, st[2] = {10, 3};
    NN(pe);
    for (t = 0; t < 50; t++)
        for (i = 0; i < 3; i++) {
            double a = t / pow(10000.0, 2.0 * i / 6);
            if (fabs(pe->data[t * 6 + 2 * i] - sin(a)) > 1e-14 ||
                fabs(pe->data[t * 6 + 2 * i + 1] - cos(a)) > 1e-14)
                bad++;
        }
    CHECK(bad == 0 && pe->data[0] == 0 && pe->data[1] == 1,
          "pe[t, 2i] = sin(t / 10000^(2i/d)), pe[t, 2i+1] = cos(...): %d differ", bad);
    table = param(ar, rng, 2, st, 1);
    pos = mdl_learned_positions(ar, table, 4);
    NN(pos);
    CHECK(pos->shape[0] == 4 && pos->data == table->data, "learned positions: a view of 4 rows");
    y = mdl_sum(ar, pos, MDL_ALL, 0);
    mdl_backward(y);
    CHECK(table->grad && table->grad[11] == 1 && table->grad[12] == 0,
          "the gradient reaches rows 0-3 of the table only");
}

/* ---- errors ---- */

static void expect_error(int code, const char *needle, const char *what) {
    CHECK(captured_code == code && strstr(captured_message, needle) != NULL,
          "%s: got %s \"%s\", want %s with \"%s\"", what, mdl_error_name((mdl_error)captured_code),
          captured_message, mdl_error_name((mdl_error)code), needle);
    mdl_clear_error();
    captured_code = 0;
    captured_message[0] = 0;
}

static void test_errors(mdl_arena *ar, mdl_rng *rng) {
    mdl_params *ps = mdl_params_new();
    int sq[4] = {2, 3, 4, 5}, sk[4] = {2, 3, 6, 5}, sm[2] = {4, 5}, sx[3] = {3, 2, 8};
    int s2[2] = {2, 4}, s7[2] = {7, 7};
    mdl_tensor *q = mdl_zeros(ar, 4, sq), *k = mdl_zeros(ar, 4, sk), *x = mdl_zeros(ar, 3, sx);
    mdl_attention_opts o;
    mdl_mha m;
    mdl_mha_args a;
    mdl_transformer_layer l;
    memset(&o, 0, sizeof o);
    o.mask = mdl_zeros(ar, 2, sm);
    CHECK(mdl_scaled_dot_product_attention(ar, q, k, k, &o, NULL) == NULL, "mask [4,5]");
    expect_error(MDL_ERR_SHAPE, "mask [4,5] does not broadcast to the scores [2,3,4,6]",
                 "a mask that does not broadcast");
    CHECK(mdl_scaled_dot_product_attention(ar, q, q, k, NULL, NULL) == NULL, "v of other Tk");
    expect_error(MDL_ERR_SHAPE, "expected [..., Tq, D], [..., Tk, D]", "q, k, v shapes");
    m = mdl_mha_layer(ps, "attn", 8, 3, NULL, rng);
    CHECK(m.in_proj_weight == NULL, "8 features in 3 heads: not made");
    expect_error(MDL_ERR_ARG, "embed_dim 8 must be divisible by num_heads 3",
                 "d_model not divisible by heads");
    l = mdl_transformer_encoder_layer(ps, "enc", 10, 4, NULL, rng);
    CHECK(l.self_attn.in_proj_weight == NULL, "transformer 10 in 4 heads: not made");
    expect_error(MDL_ERR_ARG, "embed_dim 10 must be divisible by num_heads 4",
                 "the transformer layer's d_model not divisible by heads");
    m = mdl_mha_layer(ps, "attn", 8, 2, NULL, rng);
    memset(&a, 0, sizeof a);
    a.key_padding_mask = mdl_zeros(ar, 2, s2);
    CHECK(mdl_mha_forward(ar, &m, x, x, x, &a, NULL) == NULL, "key padding [2,4]");
    expect_error(MDL_ERR_SHAPE, "attn (MultiheadAttention 8, 2 heads): key_padding_mask [2,4]: "
                 "expected [B,Tk] = [2,3]", "key padding of the wrong length");
    a.key_padding_mask = NULL;
    a.attn_mask = mdl_zeros(ar, 2, s7);
    CHECK(mdl_mha_forward(ar, &m, x, x, x, &a, NULL) == NULL, "attn_mask [7,7]");
    expect_error(MDL_ERR_SHAPE, "attn_mask [7,7]: expected [Tq,Tk] = [3,3] or [B*heads,Tq,Tk] = "
                 "[4,3,3]", "attn_mask of the wrong shape");
    CHECK(mdl_mha_forward(ar, &m, q, q, q, NULL, NULL) == NULL, "4-D query");
    expect_error(MDL_ERR_SHAPE, "expected [T,B,E] with E = 8", "query of the wrong shape");
    CHECK(mdl_sinusoidal_positions(ar, 5, 7) == NULL, "odd d");
    expect_error(MDL_ERR_ARG, "d = 7 even", "odd d");
    CHECK(mdl_learned_positions(ar, x, 2) == NULL, "3-D table");
    expect_error(MDL_ERR_SHAPE, "must be [max_len, d]", "table of the wrong rank");
    mdl_params_free(ps);
}

int main(void) {
    mdl_arena *ar = mdl_arena_new(0);
    mdl_rng rng;
    capture_errors();
    mdl_rng_seed(&rng, 2017);
    test_sdpa_gradients(ar, &rng);
    test_sdpa_values(ar, &rng);
    mdl_arena_reset(ar);
    test_mha(ar, &rng);
    test_mha_values(ar, &rng);
    mdl_arena_reset(ar);
    test_encoder(ar, &rng);
    test_positions(ar, &rng);
    test_errors(ar, &rng);
    mdl_arena_free(ar);
    return test_summary();
}
