// build-extra: -DMINIDL_DOUBLE
/* tests/test_rnn.c - recurrent layers in double precision: every cell's and every sequence
   layer's gradient against central differences (stacked, bidirectional, batch_first, with h0
   and c0 and with the final states' gradients, through the composed cells and through
   mdl_rnn_scan), the two paths against each other, forward values against the formulas worked
   out here, PyTorch's names, shapes, order and initialisation of the parameters, dropout between
   layers, truncated backpropagation through time with a carried state, and the error messages.
   (tests/test_rnn_float.c holds the float build's fast path, SIMD gates included, to the
   composed one; tests/torch/torch_rnn.c compares with PyTorch.)

   gcc -std=c99 -O1 -g -Wall -Wextra -Wpedantic -Werror -DMINIDL_DOUBLE -I. tests/test_rnn.c -o build/test_rnn -lm
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

static const char *const mode_names[4] = {"tanh", "relu", "LSTM", "GRU"};

static void check_grad(const char *what, mdl_fn f, void *user, int n, mdl_tensor *const *in) {
    mdl_gradcheck_report rep;
    int ok = mdl_gradcheck(f, user, n, in, 0, 0, 0, &rep);
    CHECK(ok && rep.checked > 0, "gradcheck %s: %zu of %zu failed, worst input %d [%zu]: "
          "analytic %g numeric %g (%s)", what, rep.failed, rep.checked, rep.worst_input,
          rep.worst_index, rep.analytic, rep.numeric, mdl_last_error());
}

/* relu's kink: random sums land within eps of 0 with a probability of about 1e-6 per value;
   inputs away from 0 do not change that, but keep the weights' scale moderate. */
static mdl_tensor *input(mdl_arena *ar, mdl_rng *rng, int ndim, const int *shape, double sd) {
    mdl_tensor *t = mdl_randn(ar, rng, ndim, shape, 0, sd);
    if (t) mdl_set_requires_grad(t, 1);
    return t;
}

/* ---- the cells ---- */

typedef struct cell_case {
    mdl_rnn_mode mode;
    int with_h, with_bias;
} cell_case;

/* inputs: x, w_ih, w_hh, [b_ih, b_hh], [h, [c]]; output h' (and c' beside it for the LSTM) */
static mdl_tensor *f_cell(mdl_arena *ar, mdl_tensor *const *in, void *user) {
    const cell_case *cc = (const cell_case *)user;
    int k = 3;
    mdl_tensor *b_ih = NULL, *b_hh = NULL, *h = NULL, *c = NULL, *c2 = NULL, *h2, *both[2];
    if (cc->with_bias) b_ih = in[k++], b_hh = in[k++];
    if (cc->with_h) {
        h = in[k++];
        if (cc->mode == MDL_LSTM) c = in[k++];
    }
    switch (cc->mode) {
    case MDL_LSTM:
        h2 = mdl_lstm_cell(ar, in[0], h, c, in[1], in[2], b_ih, b_hh, &c2);
        both[0] = h2, both[1] = c2;
        return h2 ? mdl_concat(ar, 2, both, 1) : NULL;
    case MDL_GRU:
        return mdl_gru_cell(ar, in[0], h, in[1], in[2], b_ih, b_hh);
    default:
        return mdl_rnn_cell(ar, in[0], h, in[1], in[2], b_ih, b_hh, cc->mode == MDL_RNN_RELU);
    }
}

static void test_cell_gradients(mdl_arena *ar, mdl_rng *rng) {
    int mode, v;
    for (mode = 0; mode < 4; mode++)
        for (v = 0; v < 2; v++) {
            const int G = mode == MDL_LSTM ? 4 : mode == MDL_GRU ? 3 : 1, B = 3, I = 4, H = 3;
            int sx[2] = {B, I}, swi[2] = {G * H, I}, swh[2] = {G * H, H}, sb[1] = {G * H};
            int sh[2] = {B, H}, n = 0;
            mdl_tensor *in[8];
            cell_case cc;
            char what[96];
            cc.mode = (mdl_rnn_mode)mode, cc.with_h = v == 0, cc.with_bias = v == 0;
            in[n++] = input(ar, rng, 2, sx, 1);
            in[n++] = input(ar, rng, 2, swi, 0.6);
            in[n++] = input(ar, rng, 2, swh, 0.6);
            if (cc.with_bias) in[n++] = input(ar, rng, 1, sb, 0.5), in[n++] = input(ar, rng, 1, sb, 0.5);
            if (cc.with_h) {
                in[n++] = input(ar, rng, 2, sh, 1);
                if (mode == MDL_LSTM) in[n++] = input(ar, rng, 2, sh, 1);
            }
            snprintf(what, sizeof what, "%s cell, %s", mode_names[mode],
                     v == 0 ? "h (c) and biases" : "no state, no bias");
            check_grad(what, f_cell, &cc, n, in);
        }
}

static double sigm(double x) { return 1 / (1 + exp(-x)); }

/* One step with H = 2, I = 1, B = 1 worked out here from the formulas, against each cell. */
static void test_cell_values(mdl_arena *ar) {
    /* weights: row k of w_ih and w_hh belongs to gate k / H, unit k % H */
    static const mdl_scalar wi[8] = {0.5, -0.3, 0.8, 0.1, -0.6, 0.4, 0.2, -0.9};
    static const mdl_scalar wh[16] = {0.1, 0.2, -0.3, 0.4, 0.5, -0.6, 0.7, 0.8,
                                      -0.9, 0.15, 0.25, -0.35, 0.45, 0.55, -0.65, 0.75};
    static const mdl_scalar bi[8] = {0.01, -0.02, 0.03, -0.04, 0.05, -0.06, 0.07, -0.08};
    static const mdl_scalar bh[8] = {-0.1, 0.2, -0.3, 0.4, -0.5, 0.6, -0.7, 0.8};
    static const mdl_scalar xv[1] = {0.7}, hv[2] = {-0.4, 0.9}, cv[2] = {0.3, -1.2};
    int s1[2] = {1, 1}, s2[2] = {1, 2}, j, G;
    mdl_tensor *x = mdl_from_array(ar, 2, s1, xv), *h = mdl_from_array(ar, 2, s2, hv);
    mdl_tensor *c = mdl_from_array(ar, 2, s2, cv), *y, *c2;
    double a[8], want_h[2], want_c[2];
    NN(x); NN(h); NN(c);
    for (G = 1; G <= 4; G++) {
        int swi[2] = {2 * G, 1}, swh[2] = {2 * G, 2}, sb[1] = {2 * G}, k;
        mdl_tensor *Wi, *Wh, *Bi, *Bh;
        if (G == 2) continue;
        Wi = mdl_from_array(ar, 2, swi, wi), Wh = mdl_from_array(ar, 2, swh, wh);
        Bi = mdl_from_array(ar, 1, sb, bi), Bh = mdl_from_array(ar, 1, sb, bh);
        for (k = 0; k < 2 * G; k++) /* the pre-activations, input and recurrent parts */
            a[k] = wi[k] * xv[0] + bi[k] + wh[2 * k] * hv[0] + wh[2 * k + 1] * hv[1] + bh[k];
        if (G == 1) {
            y = mdl_rnn_cell(ar, x, h, Wi, Wh, Bi, Bh, 0);
            NN(y);
            for (j = 0; j < 2; j++) CHECK_NEAR(y->data[j], tanh(a[j]), 1e-14, "rnn_cell tanh");
            y = mdl_rnn_cell(ar, x, h, Wi, Wh, Bi, Bh, 1);
            NN(y);
            for (j = 0; j < 2; j++)
                CHECK_NEAR(y->data[j], a[j] > 0 ? a[j] : 0, 1e-14, "rnn_cell relu");
        } else if (G == 4) { /* gates i, f, g, o: rows 0-1, 2-3, 4-5, 6-7 */
            y = mdl_lstm_cell(ar, x, h, c, Wi, Wh, Bi, Bh, &c2);
            NN(y); NN(c2);
            for (j = 0; j < 2; j++) {
                want_c[j] = sigm(a[2 + j]) * cv[j] + sigm(a[j]) * tanh(a[4 + j]);
                want_h[j] = sigm(a[6 + j]) * tanh(want_c[j]);
                CHECK_NEAR(c2->data[j], want_c[j], 1e-14, "lstm_cell c' = f c + i g");
                CHECK_NEAR(y->data[j], want_h[j], 1e-14, "lstm_cell h' = o tanh(c')");
            }
        } else { /* gates r, z, n: rows 0-1, 2-3, 4-5; r multiplies W_hn h + b_hn only */
            y = mdl_gru_cell(ar, x, h, Wi, Wh, Bi, Bh);
            NN(y);
            for (j = 0; j < 2; j++) {
                double r = sigm(a[j]), z = sigm(a[2 + j]);
                double hn = wh[2 * (4 + j)] * hv[0] + wh[2 * (4 + j) + 1] * hv[1] + bh[4 + j];
                double n = tanh(wi[4 + j] * xv[0] + bi[4 + j] + r * hn);
                CHECK_NEAR(y->data[j], (1 - z) * n + z * hv[j], 1e-14,
                           "gru_cell h' = (1 - z) n + z h, n = tanh(W_in x + b_in + r (W_hn h + b_hn))");
            }
        }
    }
    /* no h, no c: zeros */
    {
        int swi[2] = {8, 1}, swh[2] = {8, 2};
        mdl_tensor *Wi = mdl_from_array(ar, 2, swi, wi), *Wh = mdl_from_array(ar, 2, swh, wh);
        mdl_tensor *z2 = mdl_zeros(ar, 2, s2), *ya, *yb, *ca, *cb;
        ya = mdl_lstm_cell(ar, x, NULL, NULL, Wi, Wh, NULL, NULL, &ca);
        yb = mdl_lstm_cell(ar, x, z2, z2, Wi, Wh, NULL, NULL, &cb);
        NN(ya); NN(yb);
        CHECK(ya->data[0] == yb->data[0] && ya->data[1] == yb->data[1] &&
                  ca->data[1] == cb->data[1],
              "a NULL state is zeros");
    }
}

/* ---- sequence layers ---- */

typedef struct seq_case {
    mdl_rnn r;       /* the layer; its parameters are replaced by the gradcheck's inputs */
    int n_params;    /* how many parameter tensors follow x (and h0, c0) in the inputs */
    int with_state;  /* inputs 1 (and 2): h0 (and c0) */
} seq_case;

/* The layer's parameters in registration order: w_ih, w_hh, [b_ih, b_hh] per slot. */
static int layer_params(const mdl_rnn *r, mdl_tensor **out) {
    int k, n = 0;
    for (k = 0; k < r->num_layers * r->directions; k++) {
        out[n++] = r->weight_ih[k], out[n++] = r->weight_hh[k];
        if (r->bias) out[n++] = r->bias_ih[k], out[n++] = r->bias_hh[k];
    }
    return n;
}

/* The output, h_n and c_n flattened side by side: one tensor, so that the gradient check's
   random v weighs all three (the final states' gradients included). */
static mdl_tensor *f_seq(mdl_arena *ar, mdl_tensor *const *in, void *user) {
    const seq_case *sc = (const seq_case *)user;
    mdl_rnn r = sc->r;
    int k, n = 1, flat = -1;
    mdl_tensor *h0 = NULL, *c0 = NULL, *y, *hn, *cn, *parts[3];
    if (sc->with_state) {
        h0 = in[n++];
        if (r.mode == MDL_LSTM) c0 = in[n++];
    }
    for (k = 0; k < r.num_layers * r.directions; k++) {
        r.weight_ih[k] = in[n++], r.weight_hh[k] = in[n++];
        if (r.bias) r.bias_ih[k] = in[n++], r.bias_hh[k] = in[n++];
    }
    y = mdl_rnn_forward(ar, &r, in[0], h0, c0, &hn, &cn);
    if (!y) return NULL;
    parts[0] = mdl_reshape(ar, y, 1, &flat);
    parts[1] = mdl_reshape(ar, hn, 1, &flat);
    if (r.mode != MDL_LSTM) return mdl_concat(ar, 2, parts, 0);
    parts[2] = mdl_reshape(ar, cn, 1, &flat);
    return mdl_concat(ar, 3, parts, 0);
}

typedef struct seq_setting {
    int layers, bidirectional, batch_first, no_bias, with_state, unbatched;
    const char *label;
} seq_setting;

static const seq_setting settings[] = {
    {1, 0, 0, 0, 1, 0, "1 layer, h0"},
    {1, 0, 0, 1, 0, 0, "1 layer, no bias, no h0"},
    {2, 0, 0, 0, 1, 0, "2 layers, h0"},
    {1, 1, 1, 0, 1, 0, "bidirectional, batch_first, h0"},
    {2, 1, 0, 0, 1, 0, "2 layers bidirectional, h0"},
    {2, 1, 0, 0, 0, 1, "2 layers bidirectional, unbatched"}};

static void test_seq_gradients(mdl_arena *ar, mdl_rng *rng) {
    int mode, si, composed;
    for (mode = 0; mode < 4; mode++)
        for (si = 0; si < (int)(sizeof settings / sizeof settings[0]); si++)
            for (composed = 0; composed < 2; composed++) {
                const seq_setting *st = &settings[si];
                const int T = 3, B = 2, I = 3, H = 2, D = st->bidirectional ? 2 : 1;
                mdl_params *ps = mdl_params_new();
                mdl_rnn_opts o;
                seq_case sc;
                mdl_tensor *in[40], *params[4 * 2 * MDL_RNN_MAX_LAYERS];
                int sx[3], shs[3], n = 0, k, np;
                char what[160];
                memset(&o, 0, sizeof o);
                o.num_layers = st->layers, o.bidirectional = st->bidirectional;
                o.batch_first = st->batch_first, o.no_bias = st->no_bias;
                sc.r = mdl_rnn_layer(ps, "rnn", (mdl_rnn_mode)mode, I, H, &o, rng);
                CHECK(sc.r.weight_ih[0] != NULL, "made the layer (%s)", mdl_last_error());
                if (!sc.r.weight_ih[0]) {
                    mdl_params_free(ps);
                    return;
                }
                sc.r.composed = composed;
                sc.with_state = st->with_state;
                if (st->unbatched)
                    sx[0] = T, sx[1] = I;
                else if (st->batch_first)
                    sx[0] = B, sx[1] = T, sx[2] = I;
                else
                    sx[0] = T, sx[1] = B, sx[2] = I;
                in[n++] = input(ar, rng, st->unbatched ? 2 : 3, sx, 1);
                shs[0] = st->layers * D, shs[1] = st->unbatched ? H : B, shs[2] = H;
                if (st->with_state) {
                    in[n++] = input(ar, rng, st->unbatched ? 2 : 3, shs, 1);
                    if (mode == MDL_LSTM) in[n++] = input(ar, rng, st->unbatched ? 2 : 3, shs, 1);
                }
                np = layer_params(&sc.r, params);
                for (k = 0; k < np; k++) { /* copies in the arena, scaled up from the init's
                                              1/sqrt(H) so that the recurrence matters */
                    mdl_tensor *p = mdl_mul_scalar(ar, mdl_detach(ar, params[k]), 1.5);
                    NN(p);
                    mdl_set_requires_grad(p, 1);
                    in[n++] = p;
                }
                sc.n_params = np;
                snprintf(what, sizeof what, "%s layer, %s, %s", mode_names[mode], st->label,
                         composed ? "composed" : "mdl_rnn_scan");
                check_grad(what, f_seq, &sc, n, in);
                mdl_params_free(ps);
                mdl_arena_reset(ar);
            }
}

/* The fast path and the composed one: the same output, states and gradients (in double, to
   rounding), for every mode and setting. */
static void test_fast_vs_composed(mdl_arena *ar, mdl_rng *rng) {
    int mode, si;
    for (mode = 0; mode < 4; mode++)
        for (si = 0; si < (int)(sizeof settings / sizeof settings[0]); si++) {
            const seq_setting *st = &settings[si];
            const int T = 5, B = 3, I = 4, H = 3, D = st->bidirectional ? 2 : 1;
            mdl_params *ps = mdl_params_new();
            mdl_rnn_opts o;
            mdl_rnn r;
            mdl_tensor *x, *h0 = NULL, *c0 = NULL, *params[4 * 2 * MDL_RNN_MAX_LAYERS];
            mdl_tensor *y[2], *hn[2], *cn[2], *v = NULL;
            double *grads[2], worst = 0, worst_g = 0;
            size_t total = 0, k, off;
            int sx[3], shs[3], np, p, path;
            memset(&o, 0, sizeof o);
            o.num_layers = st->layers, o.bidirectional = st->bidirectional;
            o.batch_first = st->batch_first, o.no_bias = st->no_bias;
            r = mdl_rnn_layer(ps, "rnn", (mdl_rnn_mode)mode, I, H, &o, rng);
            np = layer_params(&r, params);
            for (p = 0; p < np; p++) total += params[p]->numel;
            if (st->unbatched) sx[0] = T, sx[1] = I;
            else if (st->batch_first) sx[0] = B, sx[1] = T, sx[2] = I;
            else sx[0] = T, sx[1] = B, sx[2] = I;
            shs[0] = st->layers * D, shs[1] = st->unbatched ? H : B, shs[2] = H;
            x = input(ar, rng, st->unbatched ? 2 : 3, sx, 1);
            if (st->with_state) {
                h0 = input(ar, rng, st->unbatched ? 2 : 3, shs, 1);
                if (mode == MDL_LSTM) c0 = input(ar, rng, st->unbatched ? 2 : 3, shs, 1);
            }
            NN(x);
            for (path = 0; path < 2; path++) {
                mdl_tensor *parts[3], *all;
                int flat = -1;
                r.composed = path;
                mdl_params_zero_grad(ps);
                mdl_zero_grad(x);
                y[path] = mdl_rnn_forward(ar, &r, x, h0, c0, &hn[path], &cn[path]);
                NN(y[path]);
                parts[0] = mdl_reshape(ar, y[path], 1, &flat);
                parts[1] = mdl_reshape(ar, hn[path], 1, &flat);
                parts[2] = mode == MDL_LSTM ? mdl_reshape(ar, cn[path], 1, &flat) : NULL;
                all = mdl_concat(ar, mode == MDL_LSTM ? 3 : 2, parts, 0);
                NN(all);
                if (path == 0) {
                    mdl_rng vr;
                    mdl_rng_seed(&vr, 99);
                    v = mdl_randn(ar, &vr, 1, all->shape, 0, 1);
                }
                mdl_backward_with(all, v);
                grads[path] = (double *)malloc((total + x->numel) * sizeof(double));
                if (!grads[path]) return;
                for (off = 0, p = 0; p < np; p++)
                    for (k = 0; k < params[p]->numel; k++) grads[path][off++] = params[p]->grad[k];
                for (k = 0; k < x->numel; k++) grads[path][off++] = x->grad[k];
            }
            for (k = 0; k < y[0]->numel; k++)
                if (fabs(y[0]->data[k] - y[1]->data[k]) > worst)
                    worst = fabs(y[0]->data[k] - y[1]->data[k]);
            for (k = 0; k < hn[0]->numel; k++)
                if (fabs(hn[0]->data[k] - hn[1]->data[k]) > worst)
                    worst = fabs(hn[0]->data[k] - hn[1]->data[k]);
            for (k = 0; k < total + x->numel; k++)
                if (fabs(grads[0][k] - grads[1][k]) > worst_g) worst_g = fabs(grads[0][k] - grads[1][k]);
            CHECK(worst < 1e-13 && worst_g < 1e-12, "%s %s: fast and composed differ by %g "
                  "(values) and %g (gradients)", mode_names[mode], st->label, worst, worst_g);
            free(grads[0]);
            free(grads[1]);
            mdl_params_free(ps);
            mdl_arena_reset(ar);
        }
}

/* h_n and c_n against the output; batch_first, unbatched and bidirectional layouts */
static void test_seq_semantics(mdl_arena *ar, mdl_rng *rng) {
    const int T = 4, B = 3, I = 5, H = 2;
    mdl_params *ps = mdl_params_new();
    mdl_rnn_opts o;
    mdl_rnn r, rb;
    mdl_tensor *x, *xb, *y, *yb, *hn, *cn, *y1, *hn1;
    int sx[3] = {4, 3, 5}, t, b, j, bad = 0, s1[2] = {4, 5};
    memset(&o, 0, sizeof o);
    o.num_layers = 2, o.bidirectional = 1;
    r = mdl_rnn_layer(ps, "lstm", MDL_LSTM, I, H, &o, rng);
    x = mdl_randn(ar, rng, 3, sx, 0, 1);
    y = mdl_rnn_forward(ar, &r, x, NULL, NULL, &hn, &cn);
    NN(y); NN(hn); NN(cn);
    CHECK(y->ndim == 3 && y->shape[0] == T && y->shape[1] == B && y->shape[2] == 2 * H,
          "output [T,B,2H]");
    CHECK(hn->ndim == 3 && hn->shape[0] == 4 && hn->shape[1] == B && hn->shape[2] == H &&
              cn->shape[0] == 4,
          "h_n and c_n [layers*directions, B, H] = [4,3,2]");
    for (b = 0; b < B; b++) /* the last layer: forward's state at T-1, reverse's at 0 */
        for (j = 0; j < H; j++) {
            if (hn->data[(2 * B + b) * H + j] != y->data[((T - 1) * B + b) * 2 * H + j]) bad++;
            if (hn->data[(3 * B + b) * H + j] != y->data[(0 * B + b) * 2 * H + H + j]) bad++;
        }
    CHECK(bad == 0, "h_n[2] is the output's forward half at T-1, h_n[3] its reverse half at 0");
    /* batch_first: the same layer's numbers, axes 0 and 1 swapped */
    rb = r;
    rb.batch_first = 1;
    xb = mdl_transpose(ar, x, 0, 1);
    yb = mdl_rnn_forward(ar, &rb, xb, NULL, NULL, NULL, NULL);
    NN(yb);
    for (bad = 0, t = 0; t < T; t++)
        for (b = 0; b < B; b++)
            for (j = 0; j < 2 * H; j++)
                if (yb->data[(b * T + t) * 2 * H + j] != y->data[(t * B + b) * 2 * H + j]) bad++;
    CHECK(yb->shape[0] == B && yb->shape[1] == T && bad == 0,
          "batch_first gives the output [B,T,2H] with the same numbers");
    /* unbatched: [T,I] is batch element 0 of a batch of one */
    x = mdl_randn(ar, rng, 2, s1, 0, 1);
    y1 = mdl_rnn_forward(ar, &r, x, NULL, NULL, &hn1, NULL);
    NN(y1); NN(hn1);
    sx[1] = 1;
    y = mdl_rnn_forward(ar, &r, mdl_reshape(ar, x, 3, sx), NULL, NULL, &hn, NULL);
    NN(y);
    CHECK(y1->ndim == 2 && y1->shape[0] == T && y1->shape[1] == 2 * H && hn1->ndim == 2 &&
              hn1->shape[0] == 4 && hn1->shape[1] == H &&
              memcmp(y1->data, y->data, y->numel * sizeof(mdl_scalar)) == 0 &&
              memcmp(hn1->data, hn->data, hn->numel * sizeof(mdl_scalar)) == 0,
          "unbatched [T,I] -> [T,2H] and h_n [4,H], the numbers of a batch of one");
    /* h0 and c0 matter, and only an LSTM gives c_n */
    {
        mdl_rnn g = mdl_rnn_layer(ps, "gru", MDL_GRU, I, H, NULL, rng);
        int hs[3] = {1, 3, 2};
        mdl_tensor *h0 = mdl_ones(ar, 3, hs), *ya, *yb2, *cnull = x;
        sx[1] = 3;
        x = mdl_randn(ar, rng, 3, sx, 0, 1);
        ya = mdl_rnn_forward(ar, &g, x, NULL, NULL, NULL, &cnull);
        yb2 = mdl_rnn_forward(ar, &g, x, h0, NULL, NULL, NULL);
        NN(ya); NN(yb2);
        CHECK(cnull == NULL, "c_n is NULL for a GRU");
        CHECK(ya->data[0] != yb2->data[0], "h0 changes the output");
    }
    mdl_params_free(ps);
}

/* ---- parameters: names, shapes, order, initialisation ---- */

static void test_params(mdl_rng *rng) {
    mdl_params *ps = mdl_params_new();
    static const char *const names[] = {
        "lstm.weight_ih_l0", "lstm.weight_hh_l0", "lstm.bias_ih_l0", "lstm.bias_hh_l0",
        "lstm.weight_ih_l0_reverse", "lstm.weight_hh_l0_reverse", "lstm.bias_ih_l0_reverse",
        "lstm.bias_hh_l0_reverse", "lstm.weight_ih_l1", "lstm.weight_hh_l1", "lstm.bias_ih_l1",
        "lstm.bias_hh_l1", "lstm.weight_ih_l1_reverse", "lstm.weight_hh_l1_reverse",
        "lstm.bias_ih_l1_reverse", "lstm.bias_hh_l1_reverse"};
    static const int rows[16] = {80, 80, 80, 80, 80, 80, 80, 80, 80, 80, 80, 80, 80, 80, 80, 80};
    static const int cols[16] = {7, 20, 0, 0, 7, 20, 0, 0, 40, 20, 0, 0, 40, 20, 0, 0};
    mdl_rnn_opts o;
    mdl_rnn r, g, cell;
    int i, ok = 1, in_bounds = 1;
    double bound = 1 / sqrt(20.0), lo = 1, hi = -1;
    memset(&o, 0, sizeof o);
    o.num_layers = 2, o.bidirectional = 1;
    r = mdl_rnn_layer(ps, "lstm", MDL_LSTM, 7, 20, &o, rng);
    CHECK(r.weight_ih[0] && mdl_params_count(ps) == 16, "2 bidirectional LSTM layers register 16");
    for (i = 0; i < 16 && i < mdl_params_count(ps); i++) {
        const mdl_tensor *t = mdl_params_get(ps, i);
        size_t k;
        if (strcmp(t->name, names[i]) != 0 || t->shape[0] != rows[i] ||
            (cols[i] ? t->ndim != 2 || t->shape[1] != cols[i] : t->ndim != 1)) {
            ok = 0;
            fprintf(stderr, "  param %d: %s, want %s [%d,%d]\n", i, t->name, names[i], rows[i],
                    cols[i]);
        }
        for (k = 0; k < t->numel; k++) {
            if (fabs(t->data[k]) > bound) in_bounds = 0;
            if (t->data[k] < lo) lo = t->data[k];
            if (t->data[k] > hi) hi = t->data[k];
        }
    }
    CHECK(ok, "names, shapes and order are the state_dict's (weight_ih_l0 [4H,I], ..., "
          "weight_ih_l1 [4H,2H], _reverse after each layer's forward)");
    CHECK(in_bounds && lo < -0.95 * bound && hi > 0.95 * bound,
          "every value in U(-1/sqrt(H), 1/sqrt(H)), spread to the bounds: [%g, %g] vs %g", lo,
          hi, bound);
    CHECK(mdl_rnn_param_count(&r) == 2 * (80 * 7 + 80 * 20 + 160) + 2 * (80 * 40 + 80 * 20 + 160),
          "param count %zu", mdl_rnn_param_count(&r));
    o.num_layers = 1, o.bidirectional = 0, o.no_bias = 1;
    g = mdl_rnn_layer(ps, "gru", MDL_GRU, 3, 5, &o, rng);
    CHECK(g.weight_ih[0] && g.bias_ih[0] == NULL && mdl_params_find(ps, "gru.weight_hh_l0") &&
              mdl_params_find(ps, "gru.weight_hh_l0")->shape[0] == 15 &&
              !mdl_params_find(ps, "gru.bias_ih_l0"),
          "GRU without bias: weight_hh_l0 [3H,H], no biases");
    cell = mdl_rnn_cell_layer(ps, "cell", MDL_RNN_TANH, 3, 4, 1, rng);
    CHECK(cell.cell && mdl_params_find(ps, "cell.weight_ih") &&
              mdl_params_find(ps, "cell.weight_ih")->shape[0] == 4 &&
              mdl_params_find(ps, "cell.bias_hh") && !mdl_params_find(ps, "cell.weight_ih_l0"),
          "RNNCell: weight_ih [H,I], weight_hh, bias_ih, bias_hh, no _l0");
    mdl_params_free(ps);
}

/* the cell objects run the functional cells on their own parameters */
static void test_cell_layers(mdl_arena *ar, mdl_rng *rng) {
    mdl_params *ps = mdl_params_new();
    mdl_rnn c = mdl_rnn_cell_layer(ps, "lc", MDL_LSTM, 3, 4, 1, rng);
    int sx[2] = {2, 3};
    mdl_tensor *x = mdl_randn(ar, rng, 2, sx, 0, 1), *c1, *c2;
    mdl_tensor *h1 = mdl_rnn_cell_forward(ar, &c, x, NULL, NULL, &c1);
    mdl_tensor *h2 = mdl_lstm_cell(ar, x, NULL, NULL, c.weight_ih[0], c.weight_hh[0],
                                   c.bias_ih[0], c.bias_hh[0], &c2);
    NN(h1); NN(h2); NN(c1);
    CHECK(memcmp(h1->data, h2->data, h1->numel * sizeof(mdl_scalar)) == 0 &&
              memcmp(c1->data, c2->data, c1->numel * sizeof(mdl_scalar)) == 0,
          "an LSTMCell object computes mdl_lstm_cell with its parameters");
    mdl_params_free(ps);
}

/* ---- dropout between layers ---- */

static void test_dropout(mdl_arena *ar, mdl_rng *rng) {
    mdl_params *ps = mdl_params_new();
    mdl_rnn_opts o;
    mdl_rnn r, r0;
    int sx[3] = {6, 4, 3}, i, differs = 0;
    mdl_tensor *x, *ye, *yt, *y0, *hn_e, *hn_0;
    memset(&o, 0, sizeof o);
    o.num_layers = 2, o.dropout = 0.5;
    r = mdl_rnn_layer(ps, "r", MDL_GRU, 3, 5, &o, rng);
    r0 = r;
    r0.dropout = 0;
    x = mdl_randn(ar, rng, 3, sx, 0, 1);
    yt = mdl_rnn_forward(ar, &r, x, NULL, NULL, NULL, NULL);
    mdl_rnn_train(&r, 0);
    ye = mdl_rnn_forward(ar, &r, x, NULL, NULL, &hn_e, NULL);
    y0 = mdl_rnn_forward(ar, &r0, x, NULL, NULL, &hn_0, NULL);
    NN(yt); NN(ye); NN(y0);
    for (i = 0; i < (int)yt->numel; i++) differs += yt->data[i] != y0->data[i];
    CHECK(differs > 0, "in training, dropout between the layers changes the output");
    CHECK(memcmp(ye->data, y0->data, ye->numel * sizeof(mdl_scalar)) == 0 &&
              memcmp(hn_e->data, hn_0->data, hn_e->numel * sizeof(mdl_scalar)) == 0,
          "in evaluation, no dropout: the output of dropout = 0");
    /* one layer: nothing to drop between, training or not (PyTorch warns and does the same) */
    o.num_layers = 1;
    r = mdl_rnn_layer(ps, "one", MDL_RNN_TANH, 3, 5, &o, rng);
    r0 = r;
    r0.dropout = 0;
    yt = mdl_rnn_forward(ar, &r, x, NULL, NULL, NULL, NULL);
    y0 = mdl_rnn_forward(ar, &r0, x, NULL, NULL, NULL, NULL);
    NN(yt); NN(y0);
    CHECK(memcmp(yt->data, y0->data, yt->numel * sizeof(mdl_scalar)) == 0,
          "dropout never applies to the last layer's output");
    mdl_params_free(ps);
}

/* ---- truncated backpropagation through time ---- */

static void test_tbptt(mdl_arena *ar, mdl_rng *rng) {
    mdl_params *ps = mdl_params_new();
    mdl_rnn r = mdl_rnn_layer(ps, "lstm", MDL_LSTM, 2, 3, NULL, rng);
    int xs[3] = {5, 2, 2}, hs[3] = {1, 2, 3}, w;
    mdl_tensor *ch = mdl_params_add_buffer(ps, "carry.h", 3, hs);
    mdl_tensor *cc = mdl_params_add_buffer(ps, "carry.c", 3, hs);
    mdl_scalar x2[20];
    double g_carried = 0, g_fresh = 0, y_carried = 0, y_fresh = 0;
    size_t k;
    NN(ch); NN(cc);
    for (k = 0; k < 20; k++) x2[k] = (mdl_scalar)sin(0.7 * (double)k);
    for (w = 0; w < 2; w++) { /* window 0, then window 1 from the carried state */
        mdl_tensor *x = w ? mdl_from_array(ar, 3, xs, x2) : mdl_randn(ar, rng, 3, xs, 0, 1);
        mdl_tensor *hn, *cn, *y = mdl_rnn_forward(ar, &r, x, ch, cc, &hn, &cn);
        NN(y);
        mdl_backward(mdl_sum(ar, y, MDL_ALL, 0));
        if (w) g_carried = r.weight_hh[0]->grad[0], y_carried = y->data[0];
        mdl_copy(ch, hn);
        mdl_copy(cc, cn);
        mdl_params_zero_grad(ps);
        mdl_arena_reset(ar);
    }
    CHECK(ch->grad == NULL && cc->grad == NULL && !ch->requires_grad,
          "the carried state is a buffer: no gradient reaches it (detached)");
    { /* window 1 again, from zeros: a different start, so different numbers */
        mdl_tensor *x = mdl_from_array(ar, 3, xs, x2);
        mdl_tensor *y = mdl_rnn_forward(ar, &r, x, NULL, NULL, NULL, NULL);
        NN(y);
        mdl_backward(mdl_sum(ar, y, MDL_ALL, 0));
        g_fresh = r.weight_hh[0]->grad[0], y_fresh = y->data[0];
        mdl_params_zero_grad(ps);
        mdl_arena_reset(ar);
    }
    CHECK(y_carried != y_fresh && g_carried != g_fresh,
          "the window starts from the carried state (output %g vs %g from zeros)", y_carried,
          y_fresh);
    CHECK(mdl_arena_high_water(ar) < (size_t)1 << 20,
          "each window's graph is freed with the arena: high water %zu bytes",
          mdl_arena_high_water(ar));
    mdl_params_free(ps);
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
    mdl_rnn_opts o;
    mdl_rnn r, g, cell, bad;
    int sx[3] = {6, 4, 80}, sh[3] = {1, 4, 100}, s2[2] = {4, 3}, sw[2] = {10, 3}, s7[2] = {4, 7};
    mdl_tensor *x, *y, *h0, *hn = (mdl_tensor *)1;
    memset(&o, 0, sizeof o);
    o.num_layers = 2;
    r = mdl_rnn_layer(ps, "lstm", MDL_LSTM, 75, 128, &o, rng);
    x = mdl_zeros(ar, 3, sx);
    y = mdl_rnn_forward(ar, &r, x, NULL, NULL, &hn, NULL);
    CHECK(y == NULL && hn == NULL, "a wrong input gives NULL and h_n NULL");
    expect_error(MDL_ERR_SHAPE, "lstm (LSTM 75->128, 2 layers): x [6,4,80]: expected [T,B,I] with "
                 "75 features", "input size not matching the layer");
    sx[2] = 75;
    x = mdl_zeros(ar, 3, sx);
    h0 = mdl_zeros(ar, 3, sh);
    CHECK(mdl_rnn_forward(ar, &r, x, h0, NULL, NULL, NULL) == NULL, "wrong h0: NULL");
    expect_error(MDL_ERR_SHAPE, "h0 [1,4,100]: expected [layers*directions, B, H] = [2,4,128]",
                 "wrong h0 names the expected shape");
    CHECK(mdl_rnn_forward(ar, &r, x, NULL, h0, NULL, NULL) == NULL, "wrong c0: NULL");
    expect_error(MDL_ERR_SHAPE, "c0 [1,4,100]: expected [layers*directions, B, H] = [2,4,128]",
                 "wrong c0");
    g = mdl_rnn_layer(ps, "gru", MDL_GRU, 75, 128, NULL, rng);
    sh[0] = 1, sh[2] = 128;
    h0 = mdl_zeros(ar, 3, sh);
    CHECK(mdl_rnn_forward(ar, &g, x, NULL, h0, NULL, NULL) == NULL, "c0 to a GRU: NULL");
    expect_error(MDL_ERR_ARG, "only an LSTM has a cell state", "c0 to a GRU");
    o.batch_first = 1, o.num_layers = 1;
    bad = mdl_rnn_layer(ps, "bf", MDL_RNN_TANH, 5, 3, &o, rng);
    CHECK(mdl_rnn_forward(ar, &bad, mdl_zeros(ar, 2, s2), NULL, NULL, NULL, NULL) == NULL,
          "[4,3] to a layer of 5 inputs");
    expect_error(MDL_ERR_SHAPE, "expected [B,T,I] with 5 features", "batch_first names [B,T,I]");
    /* constructors */
    o.num_layers = MDL_RNN_MAX_LAYERS + 1;
    bad = mdl_rnn_layer(ps, "deep", MDL_LSTM, 5, 3, &o, rng);
    CHECK(bad.weight_ih[0] == NULL, "too many layers: not made");
    expect_error(MDL_ERR_ARG, "num_layers 9 must be 1 to 8", "num_layers out of range");
    o.num_layers = 1, o.dropout = 1.5;
    bad = mdl_rnn_layer(ps, "drop", MDL_LSTM, 5, 3, &o, rng);
    expect_error(MDL_ERR_ARG, "dropout 1.5 between 0 and 1", "dropout out of range");
    bad = mdl_rnn_layer(ps, "nohidden", MDL_GRU, 5, 0, NULL, rng);
    expect_error(MDL_ERR_SIZE, "must be at least 1", "hidden_size 0");
    bad = mdl_rnn_layer(ps, "norng", MDL_GRU, 5, 3, NULL, NULL);
    expect_error(MDL_ERR_NULL, "rng is NULL", "no generator");
    bad = mdl_rnn_layer(ps, "mode", (mdl_rnn_mode)7, 5, 3, NULL, rng);
    expect_error(MDL_ERR_ARG, "mode 7 is not an mdl_rnn_mode", "unknown mode");
    CHECK(mdl_rnn_forward(ar, &bad, x, NULL, NULL, NULL, NULL) == NULL,
          "a layer that was not made");
    expect_error(MDL_ERR_ARG, "was not made", "running a failed layer");
    /* cells */
    cell = mdl_rnn_cell_layer(ps, "cell", MDL_GRU, 3, 5, 1, rng);
    CHECK(mdl_rnn_forward(ar, &cell, x, NULL, NULL, NULL, NULL) == NULL, "cell as a sequence");
    expect_error(MDL_ERR_ARG, "mdl_rnn_cell_forward", "a cell given to mdl_rnn_forward");
    CHECK(mdl_rnn_cell_forward(ar, &r, x, NULL, NULL, NULL) == NULL, "sequence as a cell");
    expect_error(MDL_ERR_ARG, "mdl_rnn_forward", "a sequence layer given to the cell's forward");
    CHECK(mdl_rnn_cell_forward(ar, &cell, mdl_zeros(ar, 2, s7), NULL, NULL, NULL) == NULL,
          "cell: wrong x");
    expect_error(MDL_ERR_SHAPE, "cell (GRUCell 3->5): x [4,7]: expected [B,3]", "cell input");
    CHECK(mdl_gru_cell(ar, mdl_zeros(ar, 2, s2), mdl_zeros(ar, 2, sw), cell.weight_ih[0],
                       cell.weight_hh[0], NULL, NULL) == NULL, "gru_cell: wrong h");
    expect_error(MDL_ERR_SHAPE, "h [10,3]: the state must be [B, H] = [4,5]", "cell state");
    CHECK(mdl_lstm_cell(ar, mdl_zeros(ar, 2, s2), NULL, NULL, cell.weight_ih[0], cell.weight_hh[0],
                        NULL, NULL, NULL) == NULL, "lstm_cell with GRU weights");
    expect_error(MDL_ERR_SHAPE, "w_hh [15,5] must be [4*H, H]", "gate count");
    /* the scan */
    CHECK(mdl_rnn_scan(ar, MDL_GRU, x, NULL, NULL, g.weight_hh[0], g.weight_hh[0], NULL, NULL,
                       0) == NULL, "scan: w_ih of the wrong width");
    expect_error(MDL_ERR_SHAPE, "w_ih [384,128]: x must be [T, B, I]", "scan input");
    mdl_params_free(ps);
}

int main(void) {
    mdl_arena *ar = mdl_arena_new(0);
    mdl_rng rng;
    capture_errors(); /* a contract error is a failure below, not an abort */
    mdl_rng_seed(&rng, 14);
    test_cell_gradients(ar, &rng);
    mdl_arena_reset(ar);
    test_cell_values(ar);
    test_seq_gradients(ar, &rng);
    test_fast_vs_composed(ar, &rng);
    test_seq_semantics(ar, &rng);
    mdl_arena_reset(ar);
    test_params(&rng);
    test_cell_layers(ar, &rng);
    test_dropout(ar, &rng);
    mdl_arena_reset(ar);
    test_tbptt(ar, &rng);
    test_errors(ar, &rng);
    mdl_arena_free(ar);
    return test_summary();
}
