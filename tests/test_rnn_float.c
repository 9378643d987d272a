/* tests/test_rnn_float.c - the recurrent layers' fast path in the float build, where its SIMD
   gates run: the sigmoid and tanh rows of each kernel this CPU has (AVX-512, AVX2, plain)
   against double-precision libm on a grid and at the edges of their formulas; then every
   layer's output, final states and gradients through mdl_rnn_scan against the composed cells
   (libm's tanhf and expf), for each kernel; and an LSTM that learns to continue a sequence.
   (tests/test_rnn.c has the gradient checks in double.)

   gcc -std=c99 -O1 -g -Wall -Wextra -Wpedantic -Werror -I. tests/test_rnn_float.c -o build/test_rnn_float -lm
*/
#define MINIDL_IMPLEMENTATION
#include "minidl.h"
#include "test.h"

#include <stdlib.h>

static const char *const kernels[3] = {"avx512", "avx2", "plain"};
static const char *const mode_names[4] = {"tanh", "relu", "LSTM", "GRU"};

/* The rows against double libm: within 3 float ulps of the value (4e-7 relative), or 1e-37
   absolute where the value is below float's normal range (the exponential is clamped there:
   sigmoid(-100) is 4e-44, a denormal; the rows give about 1e-38). Lengths 1 to 40 run the
   kernels' tails. The rows are minidl's internal mdl__sigmoid_row and mdl__tanh_row (this file
   includes the implementation). */
static void test_rows(void) {
    enum { N = 24001 };
    static float x[N], y[N];
    static const float edges[] = {0.0f, 1e-8f, -1e-8f, 1e-3f, 0.6249f, 0.6251f, -0.6251f, 8.99f,
                                  9.01f, -9.01f, 20, -20, 87, -87, 88.5f, -88.5f, 100, -100};
    int k, isa, f, n;
    for (k = 0; k < N; k++) x[k] = -30.0f + 60.0f * (float)k / (float)(N - 1);
    for (k = 0; k < (int)(sizeof edges / sizeof edges[0]); k++) x[k * 997] = edges[k];
    for (isa = 0; isa < 3; isa++) {
        if (!mdl_set_gemm_kernel(kernels[isa])) continue;
        for (f = 0; f < 2; f++) {
            double worst = 0;
            int at = 0, tails_ok = 1;
            if (f)
                mdl__tanh_row(y, x, N);
            else
                mdl__sigmoid_row(y, x, N);
            for (k = 0; k < N; k++) {
                double ref = f ? tanh((double)x[k]) : 1 / (1 + exp(-(double)x[k]));
                double tol = fabs(ref) < 1.2e-38 ? 1e-37 : 4e-7 * fabs(ref);
                double r = fabs((double)y[k] - ref) / tol;
                if (!(r <= worst)) worst = r, at = k;
            }
            CHECK(worst <= 1, "%s %s row: x = %.9g gives %.9g, libm %.9g (%.2f of the tolerance)",
                  kernels[isa], f ? "tanh" : "sigmoid", x[at], y[at],
                  f ? tanh((double)x[at]) : 1 / (1 + exp(-(double)x[at])), worst);
            for (n = 1; n <= 40; n++) { /* every tail length, against the long row's values */
                float yn[40];
                if (f)
                    mdl__tanh_row(yn, x + 5000, n);
                else
                    mdl__sigmoid_row(yn, x + 5000, n);
                if (memcmp(yn, y + 5000, (size_t)n * sizeof(float)) != 0) tails_ok = 0;
            }
            CHECK(tails_ok, "%s %s rows of 1 to 40 values give the long row's numbers",
                  kernels[isa], f ? "tanh" : "sigmoid");
            printf("  %-7s %-8s row: worst error %.2f of 4e-7 relative\n", kernels[isa],
                   f ? "tanh" : "sigmoid", worst);
        }
    }
    mdl_set_gemm_kernel("auto");
}

/* The output, h_n, c_n and every gradient of the fast path against the composed one. H = 20
   and I = 9 are not multiples of the vector widths or of the 16-value spans. Float rounding
   (the fast gates' few ulps, the GEMMs' order of summation) over 7 steps and 2 layers stays
   within 1e-6 of the values (all of them in [-1, 1]) and 1e-5 of the largest gradient: a
   gradient that sums many terms of both signs has a relative error of no use, and a wrong
   term is far above either bound. */
static void test_fast_vs_composed(mdl_arena *ar) {
    int isa, mode, bidir;
    for (isa = 0; isa < 3; isa++) {
        if (!mdl_set_gemm_kernel(kernels[isa])) continue;
        for (mode = 0; mode < 4; mode++)
            for (bidir = 0; bidir < 2; bidir++) {
                mdl_params *ps = mdl_params_new();
                mdl_rng rng;
                mdl_rnn_opts o;
                mdl_rnn r;
                int sx[3] = {7, 5, 9}, sh[3] = {2 * (1 + bidir), 5, 20}, path, p, flat = -1;
                mdl_tensor *x, *h0, *c0, *v = NULL, *out[2];
                float *g[2];
                size_t total = 0, k, off;
                double worst_v = 0, worst_g = 0, gmax = 0;
                mdl_rng_seed(&rng, (uint64_t)(100 + 10 * mode + bidir));
                memset(&o, 0, sizeof o);
                o.num_layers = 2, o.bidirectional = bidir;
                r = mdl_rnn_layer(ps, "r", (mdl_rnn_mode)mode, 9, 20, &o, &rng);
                for (p = 0; p < mdl_params_count(ps); p++) total += mdl_params_get(ps, p)->numel;
                x = mdl_randn(ar, &rng, 3, sx, 0, 1);
                h0 = mdl_randn(ar, &rng, 3, sh, 0, 0.5);
                c0 = mode == MDL_LSTM ? mdl_randn(ar, &rng, 3, sh, 0, 0.5) : NULL;
                mdl_set_requires_grad(x, 1);
                mdl_set_requires_grad(h0, 1);
                for (path = 0; path < 2; path++) {
                    mdl_tensor *hn, *cn, *y, *parts[3];
                    r.composed = path;
                    mdl_params_zero_grad(ps);
                    mdl_zero_grad(x);
                    mdl_zero_grad(h0);
                    y = mdl_rnn_forward(ar, &r, x, h0, c0, &hn, &cn);
                    CHECK(y != NULL, "forward: %s", mdl_last_error());
                    if (!y) return;
                    parts[0] = mdl_reshape(ar, y, 1, &flat);
                    parts[1] = mdl_reshape(ar, hn, 1, &flat);
                    parts[2] = mode == MDL_LSTM ? mdl_reshape(ar, cn, 1, &flat) : NULL;
                    out[path] = mdl_concat(ar, mode == MDL_LSTM ? 3 : 2, parts, 0);
                    if (!v) v = mdl_randn(ar, &rng, 1, out[path]->shape, 0, 1);
                    mdl_backward_with(out[path], v);
                    g[path] = (float *)malloc((total + x->numel + h0->numel) * sizeof(float));
                    if (!g[path]) return;
                    for (off = 0, p = 0; p < mdl_params_count(ps); p++) {
                        const mdl_tensor *t = mdl_params_get(ps, p);
                        for (k = 0; k < t->numel; k++) g[path][off++] = t->grad[k];
                    }
                    for (k = 0; k < x->numel; k++) g[path][off++] = x->grad[k];
                    for (k = 0; k < h0->numel; k++) g[path][off++] = h0->grad[k];
                }
                for (k = 0; k < total + x->numel + h0->numel; k++)
                    if (fabs(g[1][k]) > gmax) gmax = fabs(g[1][k]);
                for (k = 0; k < out[0]->numel; k++) {
                    double e = fabs(out[0]->data[k] - out[1]->data[k]);
                    if (!(e <= worst_v)) worst_v = e;
                }
                for (k = 0; k < total + x->numel + h0->numel; k++) {
                    double e = fabs(g[0][k] - g[1][k]) / gmax;
                    if (!(e <= worst_g)) worst_g = e;
                }
                CHECK(worst_v <= 1e-6 && worst_g <= 1e-5, "%s kernel, %s, 2 layers%s: fast vs "
                      "composed: values %.3g apart, gradients %.3g of the largest", kernels[isa],
                      mode_names[mode], bidir ? " bidirectional" : "", worst_v, worst_g);
                free(g[0]);
                free(g[1]);
                mdl_params_free(ps);
                mdl_arena_reset(ar);
            }
    }
    mdl_set_grad_enabled(ar, 1);
    mdl_set_gemm_kernel("auto");
}

/* An LSTM learns to continue the sequence 0 1 2 3 2 1 0 1 2 ... (4 symbols, one-hot): the next
   symbol depends on the direction of travel, which only the state can remember. Truncated
   BPTT over windows of 8, the state carried; cross-entropy falls from log 4 = 1.39 to under
   0.1 within 150 steps of SGD. */
static void test_learns(mdl_arena *ar) {
    static const int seq[6] = {0, 1, 2, 3, 2, 1};
    mdl_params *ps = mdl_params_new();
    mdl_rng rng;
    mdl_rnn lstm;
    mdl_layer head;
    mdl_optim *opt;
    mdl_tensor *ch, *cc;
    int xs[3] = {8, 4, 4}, hs[3] = {1, 4, 16}, fl[2] = {32, 16}, ts[1] = {32}, step, pos[4];
    double first = 0, last = 0;
    mdl_rng_seed(&rng, 3);
    lstm = mdl_rnn_layer(ps, "lstm", MDL_LSTM, 4, 16, NULL, &rng);
    head = mdl_linear_layer(ps, "head", 16, 4, 1, &rng);
    ch = mdl_params_add_buffer(ps, "carry.h", 3, hs);
    cc = mdl_params_add_buffer(ps, "carry.c", 3, hs);
    opt = mdl_sgd_new(ps, 1.0, 0.9);
    for (step = 0; step < 4; step++) pos[step] = step; /* 4 streams, each at its own phase */
    for (step = 0; step < 150; step++) {
        mdl_tensor *x = mdl_zeros(ar, 3, xs), *tg = mdl_zeros(ar, 1, ts), *hn, *cn, *y, *loss;
        int t, b;
        for (t = 0; t < 8; t++)
            for (b = 0; b < 4; b++) {
                x->data[(t * 4 + b) * 4 + seq[(pos[b] + t) % 6]] = 1;
                tg->data[t * 4 + b] = (mdl_scalar)seq[(pos[b] + t + 1) % 6];
            }
        for (b = 0; b < 4; b++) pos[b] = (pos[b] + 8) % 6;
        y = mdl_rnn_forward(ar, &lstm, x, ch, cc, &hn, &cn);
        loss = mdl_cross_entropy_loss(ar, mdl_layer_forward(ar, &head, mdl_reshape(ar, y, 2, fl)),
                                      tg, NULL);
        if (!loss) break;
        mdl_backward(loss);
        mdl_clip_grad_norm(ps, 1.0, 2);
        mdl_optim_step(opt);
        mdl_optim_zero_grad(opt);
        if (step == 0) first = mdl_item(loss);
        last = mdl_item(loss);
        mdl_copy(ch, hn);
        mdl_copy(cc, cn);
        mdl_arena_reset(ar);
    }
    CHECK(first > 1.2 && last < 0.1, "the LSTM learns the sequence: loss %.3f -> %.3f", first,
          last);
    printf("  char LSTM on 0 1 2 3 2 1 ...: loss %.3f -> %.4f in 150 steps\n", first, last);
    mdl_optim_free(opt);
    mdl_params_free(ps);
}

int main(void) {
    mdl_arena *ar = mdl_arena_new(0);
    capture_errors();
    test_rows();
    test_fast_vs_composed(ar);
    test_learns(ar);
    mdl_arena_free(ar);
    return test_summary();
}
