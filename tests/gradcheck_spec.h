/* tests/gradcheck_spec.h - one gradient-check case, described in plain C, and the code that runs
   it through minidl. Shared by test_gradcheck.c (the double build) and gradcheck_float_tu.c (the
   float build).

   The two files compile minidl twice, with mdl_scalar double and with mdl_scalar float, each
   under MINIDL_STATIC so nothing clashes. Their mdl_tensor layouts differ, so only plain C data
   crosses between them: a gc_spec (ints, doubles and a string) and arrays of double. gc_apply is
   static, so each file compiles its own copy against its own build of minidl: the double build
   and the float build run exactly the same sequence of minidl calls.

   Include minidl.h first. */
#ifndef MINIDL_GRADCHECK_SPEC_H
#define MINIDL_GRADCHECK_SPEC_H
#ifndef MINIDL_H
#error "include minidl.h before gradcheck_spec.h"
#endif
#include <stddef.h>
#include <string.h>

enum { GC_MAX_IN = 7, GC_MAX_IDX = 64 };

/* Functions that are not primitive ops: composites built from primitives, and small graphs. */
typedef enum gc_composite {
    GC_PRIMITIVE = 0, /* the case is the primitive op gc_spec.op */
    GC_NEG,
    GC_SUB_SCALAR,
    GC_DIV_SCALAR,
    GC_MEAN,
    GC_VAR,
    GC_TRANSPOSE,
    GC_FLATTEN,
    GC_SQUEEZE_UNSQUEEZE,
    GC_STACK,
    GC_SQUARE, /* mul(x, x): one tensor used twice, so backward must accumulate */
    GC_CONCAT_REUSE, /* concat(x, y, x) along axis 1: the same, through concat */
    GC_MLP,    /* sum(log_softmax(tanh(x @ W1 + b1) @ W2 + b2, -1)) */
    GC_CONV1D, /* conv1d: reshapes around conv2d */
    GC_RSUB_SCALAR,
    GC_MEAN_AXES,
    GC_VAR_AXES,
    GC_MASKED_FILL,
    GC_WHERE_GT, /* where(gt(a, b), a, b): a comparison steering the gradient, as maximum */
    GC_REPEAT,
    GC_SPLIT,    /* split, then the parts joined again in reverse order (concat) */
    GC_CHUNK,    /* chunk, then the same */
    GC_MAX_POOL1D, /* max_pool1d: reshapes around max_pool2d */
    GC_AVG_POOL1D, /* avg_pool1d: reshapes around avg_pool2d */
    GC_COMPOSITE_COUNT
} gc_composite;

/* How to draw an input's values (all avoid the points where the function has a kink). */
typedef enum gc_input_kind {
    GC_IN_UNIFORM = 0, /* uniform in [-2, 2] */
    GC_IN_AWAY0,       /* |x| in [0.1, 2], random sign: away from the kink of abs, relu, ... */
    GC_IN_POS,         /* uniform in [0.3, 2.5]: for log, sqrt, pow */
    GC_IN_DENOM,       /* |x| in [0.5, 2], random sign: a denominator */
    GC_IN_GRID_A,      /* -1.95 + 0.3 k; with GRID_B no pair is closer than 0.15 (maximum) */
    GC_IN_GRID_B,      /* -1.80 + 0.3 k */
    GC_IN_DISTINCT,    /* a shuffled grid with step 0.23: no ties anywhere (max) */
    GC_IN_CLAMP,       /* uniform in [-1.5, 1.5], at least 0.1 from the clamp bounds */
    GC_IN_ABOVE_M1,    /* uniform in [-0.8, 2]: for log1p */
    GC_IN_WIDE         /* uniform in [-25, 25]: far out, where the stable forms matter */,
    GC_IN_PROB         /* uniform in [0.05, 0.95]: a probability away from 0 and 1 (bce) */
} gc_input_kind;

typedef struct gc_spec {
    const char *label;  /* what the case covers, printed on failure */
    int op;             /* an mdl_op, when comp is GC_PRIMITIVE */
    int comp;           /* a gc_composite */
    int n_in;
    int ndim[GC_MAX_IN];
    int shape[GC_MAX_IN][MDL_MAX_DIMS];
    int kind[GC_MAX_IN]; /* gc_input_kind of each input */
    int axis, axis1, keepdim, correction;
    double p0, p1; /* scalar parameters: s, p, slope, alpha, lo and hi */
    int perm[MDL_MAX_DIMS];
    int start, end;
    int n_idx, idx[GC_MAX_IDX]; /* index_select's list; or, with idx_ndim and idx_shape, the
                                   values of a constant tensor: gather's index, where's cond,
                                   masked_fill's mask (never an input of the gradcheck) */
    int idx_ndim, idx_shape[MDL_MAX_DIMS];
    int n_list, list[GC_MAX_IDX]; /* the axes of sum_axes, mean_axes and var_axes, the repeats
                                     of repeat, the sizes of split */
    int chunks;                   /* chunk's */
    int out_ndim, out_shape[MDL_MAX_DIMS]; /* reshape's and expand's target; adaptive
                                              pooling's (OH, OW) */
    int expect_view; /* 1 if the output must share the data of input 0 */
    int stride, padding, dilation, groups, kernel; /* convolution and pooling */
    int kernel_hw[2], stride_hw[2], padding_hw[2], dilation_hw[2]; /* pooling's per-axis pairs */
    int ceil_mode, exclude_padding;                                /* pooling */
    int trans_a, trans_b; /* matmul: mdl_matmul_t's transposes */
    int sumlike;     /* 1 if each output is a sum of K terms (sum, mean, matmul): the float
                        tolerance then grows by K * 2^-24 * sum|terms| */
    /* losses: the reduction (an mdl_reduction), kl_div's log_target, and for cross-entropy
       and nll a class-index target of shape tgt_shape holding idx[], the class weights w[]
       (n_w of them; 0: none), ignore_index and label smoothing; bce_with_logits takes its
       pos_weight from w[] */
    int reduction, log_target;
    int tgt_ndim, tgt_shape[MDL_MAX_DIMS];
    int n_w;
    double w[GC_MAX_IDX];
    int ignore, ignore_index;
    double smoothing;
} gc_spec;

/* The float build: run `s` on inputs in[i] (converted to float) and write the output, converted
   back to double, into out (at most cap values), its rank into *ndim and its sizes into shape.
   Returns the number of output values, or -1 if minidl reported an error (printed to stderr). */
int gc_float_forward(const gc_spec *s, const double *const *in, double *out, size_t cap,
                     int *ndim, int *shape);

/* The constant tensor that s->idx describes (shape idx_ndim, idx_shape), from `ar`. */
static mdl_tensor *gc_idx_tensor(mdl_arena *ar, const gc_spec *s) {
    mdl_scalar v[GC_MAX_IDX];
    int k;
    for (k = 0; k < s->n_idx; k++) v[k] = (mdl_scalar)s->idx[k];
    return mdl_from_array(ar, s->idx_ndim, s->idx_shape, v);
}

/* The spec's weights w[0..n_w-1] as a constant tensor [n_w], or NULL when n_w is 0. */
static mdl_tensor *gc_weights(mdl_arena *ar, const gc_spec *s) {
    mdl_scalar w[GC_MAX_IDX];
    int k;
    if (s->n_w == 0) return NULL;
    for (k = 0; k < s->n_w; k++) w[k] = (mdl_scalar)s->w[k];
    return mdl_from_array(ar, 1, &s->n_w, w);
}

/* Run the function described by `s` on inputs x[0..n_in-1]. The switch on mdl_op has no default,
   so -Wswitch (in -Wall) stops the build when an op is added to MDL_OPS without a case here. */
static mdl_tensor *gc_apply(mdl_arena *ar, const gc_spec *s, mdl_tensor *const *x) {
    mdl_scalar p0 = (mdl_scalar)s->p0, p1 = (mdl_scalar)s->p1;
    mdl_conv_opts co; /* conv1d and conv2d: the spec's settings by name */
    mdl_pool_opts po; /* pooling: the same */
    memset(&co, 0, sizeof co);
    co.stride = s->stride;
    co.padding = s->padding;
    co.dilation = s->dilation;
    co.groups = s->groups;
    memset(&po, 0, sizeof po);
    po.stride = s->stride;
    po.padding = s->padding;
    po.dilation = s->dilation;
    memcpy(po.kernel_hw, s->kernel_hw, sizeof po.kernel_hw);
    memcpy(po.stride_hw, s->stride_hw, sizeof po.stride_hw);
    memcpy(po.padding_hw, s->padding_hw, sizeof po.padding_hw);
    memcpy(po.dilation_hw, s->dilation_hw, sizeof po.dilation_hw);
    po.ceil_mode = s->ceil_mode;
    po.exclude_padding = s->exclude_padding;
    switch ((gc_composite)s->comp) {
    case GC_PRIMITIVE:
    case GC_COMPOSITE_COUNT:
        break;
    case GC_NEG:
        return mdl_neg(ar, x[0]);
    case GC_SUB_SCALAR:
        return mdl_sub_scalar(ar, x[0], p0);
    case GC_DIV_SCALAR:
        return mdl_div_scalar(ar, x[0], p0);
    case GC_MEAN:
        return mdl_mean(ar, x[0], s->axis, s->keepdim);
    case GC_VAR:
        return mdl_var(ar, x[0], s->axis, s->correction, s->keepdim);
    case GC_TRANSPOSE:
        return mdl_transpose(ar, x[0], s->axis, s->axis1);
    case GC_FLATTEN:
        return mdl_flatten(ar, x[0], s->axis, s->axis1);
    case GC_SQUEEZE_UNSQUEEZE:
        return mdl_unsqueeze(ar, mdl_squeeze(ar, x[0], s->axis), s->axis1);
    case GC_STACK:
        return mdl_stack(ar, s->n_in, x, s->axis);
    case GC_SQUARE:
        return mdl_mul(ar, x[0], x[0]);
    case GC_CONCAT_REUSE: {
        mdl_tensor *xyx[3];
        xyx[0] = x[0];
        xyx[1] = x[1];
        xyx[2] = x[0];
        return mdl_concat(ar, 3, xyx, 1);
    }
    case GC_MLP: {
        /* x [B,D] W1 [D,H] b1 [H] W2 [H,C] b2 [C] */
        mdl_tensor *h = mdl_tanh(ar, mdl_add(ar, mdl_matmul(ar, x[0], x[1]), x[2]));
        mdl_tensor *z = mdl_add(ar, mdl_matmul(ar, h, x[3]), x[4]);
        return mdl_sum(ar, mdl_log_softmax(ar, z, -1), MDL_ALL, 0);
    }
    case GC_CONV1D:
        return mdl_conv1d(ar, x[0], x[1], s->n_in > 2 ? x[2] : NULL, &co);
    case GC_RSUB_SCALAR:
        return mdl_rsub_scalar(ar, x[0], p0);
    case GC_MEAN_AXES:
        return mdl_mean_axes(ar, x[0], s->n_list, s->list, s->keepdim);
    case GC_VAR_AXES:
        return mdl_var_axes(ar, x[0], s->n_list, s->list, s->correction, s->keepdim);
    case GC_MASKED_FILL:
        return mdl_masked_fill(ar, x[0], gc_idx_tensor(ar, s), p0);
    case GC_WHERE_GT:
        return mdl_where(ar, mdl_gt(ar, x[0], x[1]), x[0], x[1]);
    case GC_REPEAT:
        return mdl_repeat(ar, x[0], s->n_list, s->list);
    case GC_SPLIT:
    case GC_CHUNK: {
        mdl_tensor *parts[GC_MAX_IDX], *reversed[GC_MAX_IDX];
        int n, k;
        if (s->comp == GC_SPLIT)
            n = mdl_split(ar, x[0], s->axis, s->n_list, s->list, parts);
        else
            n = mdl_chunk(ar, x[0], s->chunks, s->axis, parts);
        for (k = 0; k < n; k++) reversed[k] = parts[n - 1 - k];
        return n > 0 ? mdl_concat(ar, n, reversed, s->axis) : NULL;
    }
    case GC_MAX_POOL1D:
        return mdl_max_pool1d(ar, x[0], s->kernel, &po);
    case GC_AVG_POOL1D:
        return mdl_avg_pool1d(ar, x[0], s->kernel, &po);
    }
    switch ((mdl_op)s->op) {
    case MDL_OP_ADD:
        return mdl_add(ar, x[0], x[1]);
    case MDL_OP_SUB:
        return mdl_sub(ar, x[0], x[1]);
    case MDL_OP_MUL:
        return mdl_mul(ar, x[0], x[1]);
    case MDL_OP_DIV:
        return mdl_div(ar, x[0], x[1]);
    case MDL_OP_MAXIMUM:
        return mdl_maximum(ar, x[0], x[1]);
    case MDL_OP_MINIMUM:
        return mdl_minimum(ar, x[0], x[1]);
    case MDL_OP_WHERE:
        return mdl_where(ar, gc_idx_tensor(ar, s), x[0], x[1]);
    case MDL_OP_ADD_SCALAR:
        return mdl_add_scalar(ar, x[0], p0);
    case MDL_OP_MUL_SCALAR:
        return mdl_mul_scalar(ar, x[0], p0);
    case MDL_OP_EXP:
        return mdl_exp(ar, x[0]);
    case MDL_OP_EXPM1:
        return mdl_expm1(ar, x[0]);
    case MDL_OP_LOG:
        return mdl_log(ar, x[0]);
    case MDL_OP_LOG1P:
        return mdl_log1p(ar, x[0]);
    case MDL_OP_SQRT:
        return mdl_sqrt(ar, x[0]);
    case MDL_OP_ABS:
        return mdl_abs(ar, x[0]);
    case MDL_OP_POW:
        return mdl_pow(ar, x[0], p0);
    case MDL_OP_CLAMP:
        return mdl_clamp(ar, x[0], p0, p1);
    case MDL_OP_RELU:
        return mdl_relu(ar, x[0]);
    case MDL_OP_LEAKY_RELU:
        return mdl_leaky_relu(ar, x[0], p0);
    case MDL_OP_SIGMOID:
        return mdl_sigmoid(ar, x[0]);
    case MDL_OP_LOGSIGMOID:
        return mdl_logsigmoid(ar, x[0]);
    case MDL_OP_TANH:
        return mdl_tanh(ar, x[0]);
    case MDL_OP_GELU:
        return mdl_gelu(ar, x[0]);
    case MDL_OP_GELU_TANH:
        return mdl_gelu_tanh(ar, x[0]);
    case MDL_OP_SILU:
        return mdl_silu(ar, x[0]);
    case MDL_OP_ELU:
        return mdl_elu(ar, x[0], p0);
    case MDL_OP_SOFTPLUS:
        return mdl_softplus(ar, x[0], p0, p1);
    case MDL_OP_SOFTMAX:
        return mdl_softmax(ar, x[0], s->axis);
    case MDL_OP_LOG_SOFTMAX:
        return mdl_log_softmax(ar, x[0], s->axis);
    case MDL_OP_SUM:
        return mdl_sum(ar, x[0], s->axis, s->keepdim);
    case MDL_OP_SUM_AXES:
        return mdl_sum_axes(ar, x[0], s->n_list, s->list, s->keepdim);
    case MDL_OP_MAX:
        return mdl_max(ar, x[0], s->axis, s->keepdim);
    case MDL_OP_LOGSUMEXP:
        return mdl_logsumexp(ar, x[0], s->axis, s->keepdim);
    case MDL_OP_MATMUL:
        if (s->trans_a || s->trans_b) return mdl_matmul_t(ar, x[0], x[1], s->trans_a, s->trans_b);
        return mdl_matmul(ar, x[0], x[1]);
    case MDL_OP_CONV2D:
        return mdl_conv2d(ar, x[0], x[1], s->n_in > 2 ? x[2] : NULL, &co);
    case MDL_OP_MAX_POOL2D:
        return mdl_max_pool2d(ar, x[0], s->kernel, &po);
    case MDL_OP_AVG_POOL2D:
        return mdl_avg_pool2d(ar, x[0], s->kernel, &po);
    case MDL_OP_ADAPTIVE_AVG_POOL2D:
        return mdl_adaptive_avg_pool2d(ar, x[0], s->out_shape[0], s->out_shape[1]);
    case MDL_OP_RESHAPE:
        return mdl_reshape(ar, x[0], s->out_ndim, s->out_shape);
    case MDL_OP_PERMUTE:
        return mdl_permute(ar, x[0], s->perm);
    case MDL_OP_EXPAND:
        return mdl_expand(ar, x[0], s->out_ndim, s->out_shape);
    case MDL_OP_SLICE:
        return mdl_slice(ar, x[0], s->axis, s->start, s->end);
    case MDL_OP_CONCAT:
        return mdl_concat(ar, s->n_in, x, s->axis);
    case MDL_OP_INDEX_SELECT:
        return mdl_index_select(ar, x[0], s->axis, s->n_idx, s->idx);
    case MDL_OP_GATHER:
        return mdl_gather(ar, x[0], s->axis, gc_idx_tensor(ar, s));
    case MDL_OP_RNN_SCAN: /* x, w_ih, w_hh, then h0, b_ih, b_hh, c0 when given; axis the
                             mode, start the direction */
        return mdl_rnn_scan(ar, (mdl_rnn_mode)s->axis, x[0], s->n_in > 3 ? x[3] : NULL,
                            s->n_in > 6 ? x[6] : NULL, x[1], x[2], s->n_in > 4 ? x[4] : NULL,
                            s->n_in > 5 ? x[5] : NULL, s->start);
    case MDL_OP_ATTENTION_HEADS: /* q, k, v; axis the heads, p0 the scale, start causal */
        return mdl_attention_heads(ar, x[0], x[1], x[2], s->axis, s->p0, s->start);
    case MDL_OP_ADD_LAYER_NORM: { /* x, then r, weight, bias as bits 1, 2, 4 of axis say; p0
                                     eps */
        int k = 1;
        mdl_tensor *r = s->axis & 1 ? x[k++] : NULL, *w, *b;
        w = s->axis & 2 ? x[k++] : NULL;
        b = s->axis & 4 ? x[k++] : NULL;
        return mdl_add_layer_norm(ar, x[0], r, w, b, s->p0);
    }
    case MDL_OP_LINEAR_ACT: /* x, weight, then bias when given; start relu */
        return mdl_linear_act(ar, x[0], x[1], s->n_in > 2 ? x[2] : NULL, s->start);
    case MDL_OP_BCE:
        return mdl_bce_loss(ar, x[0], x[1], NULL, (mdl_reduction)s->reduction);
    case MDL_OP_BCE_WITH_LOGITS:
        return mdl_bce_with_logits_loss(ar, x[0], x[1], NULL, gc_weights(ar, s),
                                        (mdl_reduction)s->reduction);
    case MDL_OP_CROSS_ENTROPY:
    case MDL_OP_NLL_LOSS: {
        mdl_cross_entropy_opts o;
        mdl_scalar t[GC_MAX_IDX];
        int k;
        for (k = 0; k < s->n_idx; k++) t[k] = (mdl_scalar)s->idx[k];
        memset(&o, 0, sizeof o);
        o.reduction = (mdl_reduction)s->reduction;
        o.weight = gc_weights(ar, s);
        o.ignore = s->ignore;
        o.ignore_index = s->ignore_index;
        o.label_smoothing = s->smoothing;
        if (s->op == MDL_OP_NLL_LOSS)
            return mdl_nll_loss(ar, x[0], mdl_from_array(ar, s->tgt_ndim, s->tgt_shape, t), &o);
        return mdl_cross_entropy_loss(ar, x[0], mdl_from_array(ar, s->tgt_ndim, s->tgt_shape, t),
                                      &o);
    }
    case MDL_OP_KL_DIV:
        return mdl_kl_div_loss(ar, x[0], x[1], (mdl_reduction)s->reduction, s->log_target);
    case MDL_OP_COUNT:
        break;
    }
    return NULL;
}

#endif
