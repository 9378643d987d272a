/* tests/torch/torch_rnn.c - minidl's recurrent layers, forward and backward, written as case
   files for tests/torch/compare.py, which recomputes each with PyTorch (see
   tests/torch/README.md).

   Two kinds of case:
   - "rnn_cell": one step of each cell (mdl_rnn_cell tanh and relu, mdl_lstm_cell,
     mdl_gru_cell) against torch.rnn_tanh_cell, torch.rnn_relu_cell, torch.lstm_cell and
     torch.gru_cell (what nn.RNNCell, nn.LSTMCell and nn.GRUCell call); out is h' (the LSTM's
     [h', c'] side by side), and the gradients of x, the state and the four weights.
   - "rnn_layer": a sequence layer made by mdl_rnn_layer, against nn.RNN, nn.LSTM or nn.GRU
     with the same settings (layers, bidirectional, batch_first, bias, unbatched input). Every
     parameter is written as an input under minidl's name without the layer's prefix, in
     minidl's order, so compare.py checks that names and shapes are the module's state_dict
     keys and shapes, one to one and in order, then loads them. out is the output, h_n and
     (LSTM) c_n flattened and joined, so that v weighs the final states too; the results are
     out and the gradients of x, h0, c0 and every parameter. Each case runs the fast path
     (mdl_rnn_scan) or the composed cells, as its name says.

   TOLERANCES. A step's pre-activation sums I + H products, so out gets tc_tol_sum(I + H): the
   gates squash, and the rounding of one step does not grow through the next (|h| < 1). A
   weight's gradient sums a product per step and batch row: tc_tol_sum(T B) for the
   gradients. The worst case is about 0.05 of these (minidl and torch-f32 err alike).

   Build and run (tests/torch/run.sh does this):
       gcc -std=c99 -Wall -Wextra -Wpedantic -Werror -O1 -g -I. tests/torch/torch_rnn.c \
           -o build/torch_rnn -lm
       mkdir -p /tmp/cases && ./build/torch_rnn /tmp/cases
       /usr/bin/python3 tests/torch/compare.py /tmp/cases */
#define MINIDL_IMPLEMENTATION
#include "minidl.h"
#include "torch_case.h"

static const char *const modes[4] = {"tanh", "relu", "lstm", "gru"};

/* ---- cells --------------------------------------------------------------------------------- */

static void cell_case(tc *t, mdl_rnn_mode mode, int state, int bias) {
    const int B = 3, I = 5, H = 4, G = mode == MDL_LSTM ? 4 : mode == MDL_GRU ? 3 : 1;
    char name[96];
    mdl_tensor *x, *wi, *wh, *bi = NULL, *bh = NULL, *h = NULL, *c = NULL, *h2, *c2 = NULL;
    mdl_tensor *both[2];
    snprintf(name, sizeof name, "rnn_cell/%s%s%s", modes[mode], state ? "_state" : "_no_state",
             bias ? "_bias" : "_no_bias");
    tc_begin(t, name, "rnn_cell", "{\"mode\": \"%s\", \"state\": %d, \"bias\": %d}", modes[mode],
             state, bias);
    x = tc_input(t, "x", 2, (const int[]){B, I}, 1);
    wi = tc_input(t, "w_ih", 2, (const int[]){G * H, I}, 1);
    wh = tc_input(t, "w_hh", 2, (const int[]){G * H, H}, 1);
    if (bias) {
        bi = tc_input(t, "b_ih", 1, (const int[]){G * H}, 1);
        bh = tc_input(t, "b_hh", 1, (const int[]){G * H}, 1);
    }
    if (state) {
        h = tc_input(t, "h", 2, (const int[]){B, H}, 1);
        if (mode == MDL_LSTM) c = tc_input(t, "c", 2, (const int[]){B, H}, 1);
    }
    tc_tol_sum(t, "*", I + H + 2);
    switch (mode) {
    case MDL_LSTM:
        h2 = mdl_lstm_cell(t->ar, x, h, c, wi, wh, bi, bh, &c2);
        both[0] = h2, both[1] = c2;
        h2 = h2 ? mdl_concat(t->ar, 2, both, 1) : NULL;
        break;
    case MDL_GRU:
        h2 = mdl_gru_cell(t->ar, x, h, wi, wh, bi, bh);
        break;
    default:
        h2 = mdl_rnn_cell(t->ar, x, h, wi, wh, bi, bh, mode == MDL_RNN_RELU);
        break;
    }
    tc_finish(t, h2);
}

/* ---- sequence layers ------------------------------------------------------------------------ */

typedef struct layer_setting {
    int layers, bidirectional, batch_first, bias, state, unbatched, composed;
    const char *label;
} layer_setting;

static void layer_case(tc *t, mdl_rnn_mode mode, const layer_setting *s) {
    const int T = 5, B = 3, I = 4, H = 6, D = s->bidirectional ? 2 : 1, L = s->layers;
    mdl_params *ps = mdl_params_new();
    mdl_rnn_opts o;
    mdl_rnn r;
    char name[96];
    int xs[3], hs[3], nd = s->unbatched ? 2 : 3, i, flat = -1;
    mdl_tensor *x, *h0 = NULL, *c0 = NULL, *y, *hn = NULL, *cn = NULL, *parts[3];
    snprintf(name, sizeof name, "rnn_layer/%s_%s%s", modes[mode], s->label,
             s->composed ? "_composed" : "");
    tc_begin(t, name, "rnn_layer", "{\"mode\": \"%s\", \"num_layers\": %d, \"bidirectional\": %d, "
             "\"batch_first\": %d, \"bias\": %d, \"state\": %d, \"unbatched\": %d, "
             "\"input_size\": %d, \"hidden_size\": %d}", modes[mode], L, s->bidirectional,
             s->batch_first, s->bias, s->state, s->unbatched, I, H);
    if (!ps) {
        tc_end(t);
        return;
    }
    memset(&o, 0, sizeof o);
    o.num_layers = L, o.bidirectional = s->bidirectional, o.batch_first = s->batch_first;
    o.no_bias = !s->bias;
    r = mdl_rnn_layer(ps, "rnn", mode, I, H, &o, &t->rng);
    r.composed = s->composed;
    if (s->unbatched) xs[0] = T, xs[1] = I;
    else if (s->batch_first) xs[0] = B, xs[1] = T, xs[2] = I;
    else xs[0] = T, xs[1] = B, xs[2] = I;
    hs[0] = L * D, hs[1] = s->unbatched ? H : B, hs[2] = H;
    x = tc_input(t, "x", nd, xs, 1);
    if (s->state) {
        h0 = tc_input(t, "h0", nd, hs, 1);
        if (mode == MDL_LSTM) c0 = tc_input(t, "c0", nd, hs, 1);
    }
    /* the layer's parameters, in its order, under their names without "rnn.": the case's
       copies take their places in the layer */
    for (i = 0; i < mdl_params_count(ps); i++) {
        const mdl_tensor *p = mdl_params_get(ps, i);
        mdl_tensor *c = tc_input(t, p->name + 4, p->ndim, p->shape, 1), **slot = NULL;
        int k;
        if (!c) break;
        memcpy(c->data, p->data, p->numel * sizeof(mdl_scalar));
        for (k = 0; k < L * D && !slot; k++) {
            if (p == r.weight_ih[k]) slot = &r.weight_ih[k];
            else if (p == r.weight_hh[k]) slot = &r.weight_hh[k];
            else if (p == r.bias_ih[k]) slot = &r.bias_ih[k];
            else if (p == r.bias_hh[k]) slot = &r.bias_hh[k];
        }
        if (slot) *slot = c;
    }
    tc_tol_sum(t, "out", I + H);
    tc_tol_sum(t, "*", T * B);
    y = mdl_rnn_forward(t->ar, &r, x, h0, c0, &hn, mode == MDL_LSTM ? &cn : NULL);
    if (y) {
        parts[0] = mdl_reshape(t->ar, y, 1, &flat);
        parts[1] = mdl_reshape(t->ar, hn, 1, &flat);
        parts[2] = cn ? mdl_reshape(t->ar, cn, 1, &flat) : NULL;
        y = mdl_concat(t->ar, cn ? 3 : 2, parts, 0);
    }
    tc_finish(t, y);
    mdl_params_free(ps);
}

int main(int argc, char **argv) {
    static const layer_setting settings[] = {
        {1, 0, 0, 1, 0, 0, 0, "1_layer"},
        {1, 0, 0, 1, 1, 0, 0, "1_layer_h0"},
        {1, 0, 0, 0, 1, 0, 0, "no_bias_h0"},
        {2, 0, 0, 1, 1, 0, 0, "2_layers_h0"},
        {1, 1, 0, 1, 1, 0, 0, "bidirectional_h0"},
        {2, 1, 1, 1, 1, 0, 0, "2_layers_bidirectional_batch_first_h0"},
        {2, 1, 0, 1, 1, 1, 0, "2_layers_bidirectional_unbatched_h0"},
        {2, 1, 0, 1, 1, 0, 1, "2_layers_bidirectional_h0"}};
    tc t;
    int mode, k;
    if (tc_open(&t, argc, argv, "torch_rnn")) return 1;
    for (mode = 0; mode < 4; mode++) {
        cell_case(&t, (mdl_rnn_mode)mode, 1, 1);
        cell_case(&t, (mdl_rnn_mode)mode, 0, 0);
    }
    for (mode = 0; mode < 4; mode++)
        for (k = 0; k < (int)(sizeof settings / sizeof settings[0]); k++)
            layer_case(&t, (mdl_rnn_mode)mode, &settings[k]);
    return tc_close(&t);
}
