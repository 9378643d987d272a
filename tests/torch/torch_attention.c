/* tests/torch/torch_attention.c - minidl's attention, forward and backward, written as case
   files for tests/torch/compare.py, which recomputes each with PyTorch (see
   tests/torch/README.md).

   Cases:
   - "sdpa": mdl_scaled_dot_product_attention against softmax(q k^T * scale + mask) v written
     out in torch (torch 1.13 has no F.scaled_dot_product_attention), with each mask kind, the
     causal flag and a scale; out is the output and the weights, flattened and joined.
   - "mha": an mdl_mha_layer against nn.MultiheadAttention with the same settings (heads,
     batch_first, bias, key_padding_mask and attn_mask as booleans or floats, self- or
     cross-attention); its parameters are written under minidl's names without the prefix and
     must be the module's state_dict, in order. out is the output and the weights (averaged
     over the heads, PyTorch's default), joined; or, in the "fast_path" cases (no mask, no
     weights asked for: mdl_attention_heads and mdl_linear_act), the output alone.
   - "encoder": an mdl_transformer_encoder_layer against nn.TransformerEncoderLayer (dropout 0;
     post-norm ReLU, pre-norm GELU; a src_key_padding_mask), parameters as for "mha".
   - "sinusoid": mdl_sinusoidal_positions against the formula of PyTorch's tutorial.

   TOLERANCES. A score sums D products and an output Tk weighted values: tc_tol_sum(D + Tk), for
   the gradients too (they sum as many); the encoder's gradients sum over the B T positions,
   its output over E + FF. The worst case is under 0.1 of these.

   PyTorch 1.13 takes a float key_padding_mask as a boolean one (it masked_fills with it), where
   minidl (and PyTorch 2) add it; so the float-mask case gives an attn_mask alone.

   Build and run (tests/torch/run.sh does this):
       gcc -std=c99 -Wall -Wextra -Wpedantic -Werror -O1 -g -I. tests/torch/torch_attention.c \
           -o build/torch_attention -lm
       mkdir -p /tmp/cases && ./build/torch_attention /tmp/cases
       /usr/bin/python3 tests/torch/compare.py /tmp/cases */
#define MINIDL_IMPLEMENTATION
#include "minidl.h"
#include "torch_case.h"

static const char *const kinds[3] = {"add", "keep", "block"};

/* out and w flattened side by side (w may be NULL: out alone) */
static mdl_tensor *joined(mdl_arena *ar, mdl_tensor *out, mdl_tensor *w) {
    int flat = -1;
    mdl_tensor *parts[2];
    if (!out || !w) return out;
    parts[0] = mdl_reshape(ar, out, 1, &flat), parts[1] = mdl_reshape(ar, w, 1, &flat);
    return mdl_concat(ar, 2, parts, 0);
}

/* ---- scaled dot-product attention ---------------------------------------------------------- */

static void sdpa_case(tc *t, const char *name, int mask_kind, int with_mask, int causal,
                      double scale) {
    const int B = 2, Hh = 3, Tq = 4, Tk = causal ? 4 : 5, D = 6;
    mdl_attention_opts o;
    mdl_tensor *q, *k, *v, *w, *y;
    int i;
    tc_begin(t, name, "sdpa", "{\"mask_kind\": \"%s\", \"mask\": %d, \"causal\": %d, "
             "\"scale\": %.17g}", kinds[mask_kind], with_mask, causal, scale);
    q = tc_input(t, "query", 4, (const int[]){B, Hh, Tq, D}, 1); /* ("v" is torch_case.h's) */
    k = tc_input(t, "key", 4, (const int[]){B, Hh, Tk, D}, 1);
    v = tc_input(t, "value", 4, (const int[]){B, Hh, Tk, 5}, 1);
    memset(&o, 0, sizeof o);
    o.mask_kind = (mdl_mask_kind)mask_kind, o.causal = causal, o.scale = scale;
    if (with_mask) { /* [B,1,Tq,Tk]: broadcast over the heads; every query keeps a key */
        o.mask = tc_input(t, "mask", 4, (const int[]){B, 1, Tq, Tk}, 0);
        for (i = 0; i < B * Tq * Tk && mask_kind != MDL_MASK_ADD; i++) {
            int blocked = (i * 7) % 3 == 0 && i % Tk != 0;
            o.mask->data[i] = (mdl_scalar)(mask_kind == MDL_MASK_KEEP ? !blocked : blocked);
        }
    }
    tc_tol_sum(t, "out", D + Tk);
    tc_tol_sum(t, "*", D + Tk + Tq);
    y = mdl_scaled_dot_product_attention(t->ar, q, k, v, &o, &w);
    tc_finish(t, joined(t->ar, y, w));
}

/* ---- multi-head attention ------------------------------------------------------------------- */

/* Register the parameters of ps (after the case's own inputs) under their names without the
   first `skip` characters, and point `slots` (the layer's tensor pointers, in the same order)
   at the copies. */
static void take_params(tc *t, mdl_params *ps, size_t skip, mdl_tensor **const *slots, int n) {
    int i;
    for (i = 0; i < mdl_params_count(ps) && i < n; i++) {
        const mdl_tensor *p = mdl_params_get(ps, i);
        mdl_tensor *c = tc_input(t, p->name + skip, p->ndim, p->shape, 1);
        if (!c) return;
        memcpy(c->data, p->data, p->numel * sizeof(mdl_scalar));
        if (*slots[i] == p) *slots[i] = c;
    }
}

static void mha_case(tc *t, const char *name, int heads, int batch_first, int bias, int self,
                     int padding, int attn, int mask_kind, int weights) {
    const int E = 8, B = 2, Tq = 4, Tk = self ? 4 : 5;
    mdl_params *ps = mdl_params_new();
    mdl_mha_opts mo;
    mdl_mha_args a;
    mdl_mha m;
    mdl_tensor *q, *k, *v, *w, *y, **slots[4];
    int i;
    tc_begin(t, name, "mha", "{\"heads\": %d, \"batch_first\": %d, \"bias\": %d, \"self\": %d, "
             "\"mask_kind\": \"%s\", \"embed_dim\": %d, \"weights\": %d}", heads, batch_first,
             bias, self, kinds[mask_kind], E, weights);
    memset(&mo, 0, sizeof mo);
    mo.batch_first = batch_first, mo.no_bias = !bias;
    m = mdl_mha_layer(ps, "attn", E, heads, &mo, &t->rng);
    q = tc_input(t, "query", 3, batch_first ? (const int[]){B, Tq, E} : (const int[]){Tq, B, E}, 1);
    k = self ? q : tc_input(t, "key", 3, batch_first ? (const int[]){B, Tk, E}
                                                     : (const int[]){Tk, B, E}, 1);
    v = self ? q : tc_input(t, "value", 3, batch_first ? (const int[]){B, Tk, E}
                                                       : (const int[]){Tk, B, E}, 1);
    memset(&a, 0, sizeof a);
    a.mask_kind = (mdl_mask_kind)mask_kind;
    if (padding) { /* batch 1 ignores its last key */
        a.key_padding_mask = tc_input(t, "key_padding_mask", 2, (const int[]){B, Tk}, 0);
        for (i = 0; i < B * Tk; i++)
            a.key_padding_mask->data[i] = mask_kind == MDL_MASK_BLOCK
                                              ? (mdl_scalar)(i == B * Tk - 1)
                                              : a.key_padding_mask->data[i];
    }
    if (attn) { /* query 0 may not see key 1 */
        a.attn_mask = tc_input(t, "attn_mask", 2, (const int[]){Tq, Tk}, 0);
        for (i = 0; i < Tq * Tk; i++)
            a.attn_mask->data[i] = mask_kind == MDL_MASK_BLOCK ? (mdl_scalar)(i == 1)
                                                                : a.attn_mask->data[i];
    }
    i = 0; /* the layer's tensors in registration order, the biases only when it has them */
    slots[i++] = &m.in_proj_weight;
    if (bias) slots[i++] = &m.in_proj_bias;
    slots[i++] = &m.out_proj_weight;
    if (bias) slots[i++] = &m.out_proj_bias;
    take_params(t, ps, 5, slots, i);
    tc_tol_sum(t, "out", E + Tk);
    tc_tol_sum(t, "*", E + Tk);
    y = mdl_mha_forward(t->ar, &m, q, k, v, &a, weights ? &w : NULL); /* no weights, no mask:
                                                                        the fast path */
    tc_finish(t, joined(t->ar, y, weights ? w : NULL));
    mdl_params_free(ps);
}

/* ---- the encoder layer ----------------------------------------------------------------------- */

static void encoder_case(tc *t, const char *name, int norm_first, int gelu, int batch_first,
                         int padding) {
    const int E = 8, B = 3, T = 5, FF = 12;
    mdl_params *ps = mdl_params_new();
    mdl_transformer_opts o = mdl_transformer_defaults();
    mdl_transformer_layer l;
    mdl_mha_args a;
    mdl_tensor *x, **slots[12];
    int i;
    tc_begin(t, name, "encoder", "{\"norm_first\": %d, \"gelu\": %d, \"batch_first\": %d, "
             "\"d_model\": %d, \"nhead\": 2, \"dim_feedforward\": %d}", norm_first, gelu,
             batch_first, E, FF);
    o.dim_feedforward = FF, o.dropout = 0, o.norm_first = norm_first, o.gelu = gelu;
    o.batch_first = batch_first;
    l = mdl_transformer_encoder_layer(ps, "enc", E, 2, &o, &t->rng);
    x = tc_input(t, "x", 3, batch_first ? (const int[]){B, T, E} : (const int[]){T, B, E}, 1);
    memset(&a, 0, sizeof a);
    if (padding) { /* PyTorch's boolean src_key_padding_mask: True = padding */
        a.mask_kind = MDL_MASK_BLOCK;
        a.key_padding_mask = tc_input(t, "src_key_padding_mask", 2, (const int[]){B, T}, 0);
        for (i = 0; i < B * T; i++) a.key_padding_mask->data[i] = (mdl_scalar)(i % T >= T - i / T);
    }
    slots[0] = &l.self_attn.in_proj_weight, slots[1] = &l.self_attn.in_proj_bias;
    slots[2] = &l.self_attn.out_proj_weight, slots[3] = &l.self_attn.out_proj_bias;
    slots[4] = &l.linear1.weight, slots[5] = &l.linear1.bias, slots[6] = &l.linear2.weight;
    slots[7] = &l.linear2.bias, slots[8] = &l.norm1.weight, slots[9] = &l.norm1.bias;
    slots[10] = &l.norm2.weight, slots[11] = &l.norm2.bias;
    take_params(t, ps, 4, slots, 12);
    for (i = 8; i < 12; i++) { /* LayerNorm's 1 and 0 moved, so that a swap would show */
        size_t k;
        for (k = 0; k < (*slots[i])->numel; k++)
            (*slots[i])->data[k] += (mdl_scalar)(0.1 * sin(3.0 * (double)(k + 7 * (size_t)i)));
    }
    tc_tol_sum(t, "out", E + FF);
    tc_tol_sum(t, "*", B * T);
    tc_finish(t, mdl_transformer_encoder_layer_forward(t->ar, &l, x, &a));
    mdl_params_free(ps);
}

int main(int argc, char **argv) {
    tc t;
    if (tc_open(&t, argc, argv, "torch_attention")) return 1;
    sdpa_case(&t, "sdpa/plain", MDL_MASK_ADD, 0, 0, 0);
    sdpa_case(&t, "sdpa/additive_mask", MDL_MASK_ADD, 1, 0, 0);
    sdpa_case(&t, "sdpa/keep_mask", MDL_MASK_KEEP, 1, 0, 0);
    sdpa_case(&t, "sdpa/block_mask_scale", MDL_MASK_BLOCK, 1, 0, 0.3);
    sdpa_case(&t, "sdpa/causal", MDL_MASK_ADD, 0, 1, 0);
    sdpa_case(&t, "sdpa/causal_additive_mask", MDL_MASK_ADD, 1, 1, 0);
    mha_case(&t, "mha/self_4_heads", 4, 0, 1, 1, 0, 0, MDL_MASK_BLOCK, 1);
    mha_case(&t, "mha/cross_2_heads_batch_first", 2, 1, 1, 0, 0, 0, MDL_MASK_BLOCK, 1);
    mha_case(&t, "mha/cross_bool_masks", 2, 0, 1, 0, 1, 1, MDL_MASK_BLOCK, 1);
    mha_case(&t, "mha/self_float_attn_mask_batch_first", 4, 1, 1, 1, 0, 1, MDL_MASK_ADD, 1);
    mha_case(&t, "mha/self_no_bias_1_head", 1, 0, 0, 1, 1, 0, MDL_MASK_BLOCK, 1);
    mha_case(&t, "mha/self_4_heads_fast_path", 4, 0, 1, 1, 0, 0, MDL_MASK_BLOCK, 0);
    mha_case(&t, "mha/cross_2_heads_batch_first_fast_path", 2, 1, 1, 0, 0, 0, MDL_MASK_BLOCK, 0);
    encoder_case(&t, "encoder/post_norm_relu", 0, 0, 0, 0);
    encoder_case(&t, "encoder/pre_norm_gelu_batch_first", 1, 1, 1, 0);
    encoder_case(&t, "encoder/post_norm_padding", 0, 0, 1, 1);
    tc_begin(&t, "sinusoid/50x16", "sinusoid", "{\"T\": 50, \"d\": 16}");
    {
        mdl_tensor *pe = mdl_sinusoidal_positions(t.ar, 50, 16);
        tc_tol(&t, "pe", 1e-6, 1e-6);
        if (pe) tc_result(&t, "pe", 2, pe->shape, pe->data);
        tc_end(&t);
    }
    return tc_close(&t);
}
