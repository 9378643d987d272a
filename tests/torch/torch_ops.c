/* tests/torch/torch_ops.c - minidl's ops, forward and backward, written as case files for
   tests/torch/compare.py, which recomputes each with PyTorch (see tests/torch/README.md).

   Each case draws its inputs (N(0,1) unless said) from an mdl_rng seeded by its name, runs the
   op and the backward of sum(out * v), and writes everything with torch_case.h. The name of the
   reference in compare.py is the second argument of tc_begin, the op's arguments the third.

   Build and run (tests/torch/run.sh does this):
       gcc -std=c99 -Wall -Wextra -Wpedantic -Werror -O1 -g -I. tests/torch/torch_ops.c \
           -o build/torch_ops -lm
       mkdir -p /tmp/cases && ./build/torch_ops /tmp/cases
       /usr/bin/python3 tests/torch/compare.py /tmp/cases */
#define MINIDL_IMPLEMENTATION
#include "minidl.h"
#include "torch_case.h"

/* ---- matmul ------------------------------------------------------------------------------ */

/* a [..., M, K] @ b [..., K, N] (either may be 1-D): out sums K products; grad.a sums N of them,
   grad.b M times the batch an input is shared over (at most `shared` times, given by the case) */
static void matmul_case(tc *t, const char *name, int na, const int *sa, int nb, const int *sb,
                        int shared) {
    int K = sa[na - 1], M = na > 1 ? sa[na - 2] : 1, N = nb > 1 ? sb[nb - 1] : 1;
    mdl_tensor *a, *b;
    tc_begin(t, name, "matmul", "{}");
    a = tc_input(t, "a", na, sa, 1);
    b = tc_input(t, "b", nb, sb, 1);
    tc_tol_sum(t, "out", K);
    tc_tol_sum(t, "grad.a", (double)N * shared);
    tc_tol_sum(t, "grad.b", (double)M * shared);
    tc_finish(t, mdl_matmul(t->ar, a, b));
}

/* op(a) @ op(b) with the transposes of mdl_matmul_t, a and b stored as given */
static void matmul_t_case(tc *t, const char *name, int na, const int *sa, int nb, const int *sb,
                          int ta, int tb) {
    int K = ta ? sa[na - 2] : sa[na - 1], M = ta ? sa[na - 1] : sa[na - 2];
    int N = tb ? sb[nb - 2] : sb[nb - 1];
    mdl_tensor *a, *b;
    tc_begin(t, name, "matmul_t", "{\"trans_a\": %d, \"trans_b\": %d}", ta, tb);
    a = tc_input(t, "a", na, sa, 1);
    b = tc_input(t, "b", nb, sb, 1);
    tc_tol_sum(t, "out", K);
    tc_tol_sum(t, "grad.a", N);
    tc_tol_sum(t, "grad.b", (double)M * (na > nb ? sa[0] : 1));
    tc_finish(t, mdl_matmul_t(t->ar, a, b, ta, tb));
}

static void matmul_cases(tc *t) {
    matmul_case(t, "matmul/2d_7x5@5x3", 2, (const int[]){7, 5}, 2, (const int[]){5, 3}, 1);
    matmul_case(t, "matmul/2d_1x33@33x17", 2, (const int[]){1, 33}, 2, (const int[]){33, 17}, 1);
    matmul_case(t, "matmul/2d_67x45@45x53", 2, (const int[]){67, 45}, 2, (const int[]){45, 53}, 1);
    /* over 2^25 multiply-adds with more than 64 rows: the packed GEMM kernel (the others take
       the unpacked one, or the plain one when tiny) */
    matmul_case(t, "matmul/packed_330x330@330x330", 2, (const int[]){330, 330}, 2,
                (const int[]){330, 330}, 1);
    matmul_case(t, "matmul/batched_3x4x6@3x6x5", 3, (const int[]){3, 4, 6}, 3,
                (const int[]){3, 6, 5}, 1);
    matmul_case(t, "matmul/shared_b_2x5x9@9x4", 3, (const int[]){2, 5, 9}, 2,
                (const int[]){9, 4}, 2);
    matmul_case(t, "matmul/shared_a_6x8@3x8x5", 2, (const int[]){6, 8}, 3,
                (const int[]){3, 8, 5}, 3);
    matmul_case(t, "matmul/4d_2x3x4x6@2x3x6x5", 4, (const int[]){2, 3, 4, 6}, 4,
                (const int[]){2, 3, 6, 5}, 1);
    matmul_case(t, "matmul/broadcast_2x1x3x4@3x4x2", 4, (const int[]){2, 1, 3, 4}, 3,
                (const int[]){3, 4, 2}, 2);
    matmul_case(t, "matmul/vec_7@7x4", 1, (const int[]){7}, 2, (const int[]){7, 4}, 1);
    matmul_case(t, "matmul/mat_4x7@vec_7", 2, (const int[]){4, 7}, 1, (const int[]){7}, 1);
    matmul_case(t, "matmul/dot_9@9", 1, (const int[]){9}, 1, (const int[]){9}, 1);
    matmul_t_case(t, "matmul_t/x@wT_5x8_6x8", 2, (const int[]){5, 8}, 2, (const int[]){6, 8}, 0,
                  1);
    /* a linear layer's x @ W^T with few rows and a long K: the dot-product kernels */
    matmul_t_case(t, "matmul_t/linear_16x300_to_10", 2, (const int[]){16, 300}, 2,
                  (const int[]){10, 300}, 0, 1);
    matmul_t_case(t, "matmul_t/aT@b_9x4_9x3", 2, (const int[]){9, 4}, 2, (const int[]){9, 3}, 1,
                  0);
    matmul_t_case(t, "matmul_t/aT@bT_batched", 3, (const int[]){2, 7, 3}, 3,
                  (const int[]){2, 5, 7}, 1, 1);
}

/* ---- convolution ------------------------------------------------------------------------- */

typedef struct conv_spec {
    const char *name;
    int B, C, H, W, O, KH, KW;
    int sh, sw, ph, pw, dh, dw; /* along H and along W; conv1d uses sw, pw, dw */
    int groups, bias, x_grad;
} conv_spec;

static int conv_out(int n, int k, int s, int p, int d) {
    return (n + 2 * p - d * (k - 1) - 1) / s + 1;
}

/* the options as a student would set them: the shared fields when both axes agree, the _hw
   pairs when not, and NULL for a plain convolution */
static const mdl_conv_opts *conv_opts(const conv_spec *c, mdl_conv_opts *o) {
    memset(o, 0, sizeof *o);
    o->groups = c->groups;
    if (c->sh == c->sw && c->ph == c->pw && c->dh == c->dw) {
        o->stride = c->sh, o->padding = c->ph, o->dilation = c->dh;
    } else {
        o->stride_hw[0] = c->sh, o->stride_hw[1] = c->sw;
        o->padding_hw[0] = c->ph, o->padding_hw[1] = c->pw;
        o->dilation_hw[0] = c->dh, o->dilation_hw[1] = c->dw;
    }
    return c->sh == 1 && c->sw == 1 && c->ph == 0 && c->pw == 0 && c->dh == 1 && c->dw == 1 &&
                   c->groups == 1 ? NULL : o;
}

static void conv2d_case(tc *t, const conv_spec *c) {
    int OH = conv_out(c->H, c->KH, c->sh, c->ph, c->dh);
    int OW = conv_out(c->W, c->KW, c->sw, c->pw, c->dw);
    mdl_conv_opts o;
    mdl_tensor *x, *w, *b = NULL;
    tc_begin(t, c->name, "conv2d", "{\"stride\": [%d, %d], \"padding\": [%d, %d], "
             "\"dilation\": [%d, %d], \"groups\": %d}", c->sh, c->sw, c->ph, c->pw, c->dh,
             c->dw, c->groups);
    x = tc_input(t, "x", 4, (const int[]){c->B, c->C, c->H, c->W}, c->x_grad);
    w = tc_input(t, "w", 4, (const int[]){c->O, c->C / c->groups, c->KH, c->KW}, 1);
    if (c->bias) b = tc_input(t, "b", 1, (const int[]){c->O}, 1);
    tc_tol_sum(t, "out", c->C / c->groups * c->KH * c->KW + 1);
    tc_tol_sum(t, "grad.x", c->O / c->groups * c->KH * c->KW);
    tc_tol_sum(t, "grad.w", (double)c->B * OH * OW);
    tc_tol_sum(t, "grad.b", (double)c->B * OH * OW);
    tc_finish(t, mdl_conv2d(t->ar, x, w, b, conv_opts(c, &o)));
}

/* conv1d: the same fields, H unused (1), KW the kernel, sw pw dw its settings */
static void conv1d_case(tc *t, const conv_spec *c) {
    int OL = conv_out(c->W, c->KW, c->sw, c->pw, c->dw);
    mdl_conv_opts o;
    mdl_tensor *x, *w, *b = NULL;
    tc_begin(t, c->name, "conv1d", "{\"stride\": %d, \"padding\": %d, \"dilation\": %d, "
             "\"groups\": %d}", c->sw, c->pw, c->dw, c->groups);
    x = tc_input(t, "x", 3, (const int[]){c->B, c->C, c->W}, c->x_grad);
    w = tc_input(t, "w", 3, (const int[]){c->O, c->C / c->groups, c->KW}, 1);
    if (c->bias) b = tc_input(t, "b", 1, (const int[]){c->O}, 1);
    tc_tol_sum(t, "out", c->C / c->groups * c->KW + 1);
    tc_tol_sum(t, "grad.x", c->O / c->groups * c->KW);
    tc_tol_sum(t, "grad.w", (double)c->B * OL);
    tc_tol_sum(t, "grad.b", (double)c->B * OL);
    memset(&o, 0, sizeof o);
    o.stride = c->sw, o.padding = c->pw, o.dilation = c->dw, o.groups = c->groups;
    tc_finish(t, mdl_conv1d(t->ar, x, w, b, &o));
}

static void conv_cases(tc *t) {
    static const conv_spec c2[] = {
        /* name                          B  C   H   W   O KH KW sh sw ph pw dh dw  g bias x_grad */
        {"conv2d/3x3_bias",              2, 3,  7,  9,  4, 3, 3, 1, 1, 0, 0, 1, 1, 1, 1, 1},
        {"conv2d/3x3_stride2_pad1",      3, 2,  9,  8,  5, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1},
        {"conv2d/3x3_dilation2_pad2",    2, 3, 10, 11,  4, 3, 3, 1, 1, 2, 2, 2, 2, 1, 1, 1},
        {"conv2d/groups2",               2, 4,  6,  7,  6, 3, 3, 1, 1, 1, 1, 1, 1, 2, 1, 1},
        {"conv2d/depthwise",             2, 5,  8,  6,  5, 3, 3, 1, 1, 1, 1, 1, 1, 5, 1, 1},
        {"conv2d/1x1_nobias",            3, 6,  5,  7,  4, 1, 1, 1, 1, 0, 0, 1, 1, 1, 0, 1},
        {"conv2d/5x5_stride3_pad2",      3, 2, 13, 11,  3, 5, 5, 3, 3, 2, 2, 1, 1, 1, 1, 1},
        {"conv2d/2x3_kernel",            2, 3,  6,  9,  2, 2, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1},
        {"conv2d/x_no_grad",             2, 3,  8,  8,  4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0},
        {"conv2d/stride2_dil2_g3_pad3",  2, 6, 12, 13,  9, 3, 3, 2, 2, 3, 3, 2, 2, 3, 1, 1},
        {"conv2d/per_axis_s1x2_p2x0_d1x2", 2, 3, 9, 14, 4, 3, 3, 1, 2, 2, 0, 1, 2, 1, 1, 1},
        {"conv2d/per_axis_1x5_pad0x2",   2, 2,  5, 12,  3, 1, 5, 1, 1, 0, 2, 1, 1, 1, 1, 1},
        {"conv2d/lenet1_1x28x28_to_6",   4, 1, 28, 28,  6, 5, 5, 1, 1, 0, 0, 1, 1, 1, 1, 0},
        {"conv2d/lenet2_6x14x14_to_16",  2, 6, 14, 14, 16, 5, 5, 1, 1, 0, 0, 1, 1, 1, 1, 1},
    };
    static const conv_spec c1[] = {
        {"conv1d/k3_pad1_bias",          3, 4,  1, 17,  5, 1, 3, 1, 1, 0, 1, 1, 1, 1, 1, 1},
        {"conv1d/k5_stride2_dil2_g2",    2, 4,  1, 23,  6, 1, 5, 1, 2, 0, 3, 1, 2, 2, 1, 1},
        {"conv1d/k1_nobias",             2, 7,  1, 10,  3, 1, 1, 1, 1, 0, 0, 1, 1, 1, 0, 1},
    };
    size_t i;
    for (i = 0; i < sizeof c2 / sizeof c2[0]; i++) conv2d_case(t, &c2[i]);
    for (i = 0; i < sizeof c1 / sizeof c1[0]; i++) conv1d_case(t, &c1[i]);
}

/* ---- pooling ----------------------------------------------------------------------------- */

/* One pooling case: op "max_pool2d", "avg_pool2d", "max_pool1d" or "avg_pool1d", on x [B,C,H,W]
   (1-D: [B,C,W]), with the options as given (compare.py applies PyTorch's defaults itself). */
typedef struct pool_spec {
    const char *name, *op;
    int B, C, H, W, kernel, stride, padding, dilation;
    int kernel_hw[2], stride_hw[2], padding_hw[2], dilation_hw[2];
    int ceil_mode, exclude_padding;
} pool_spec;

static void pool_case(tc *t, const pool_spec *c) {
    const int is_max = c->op[0] == 'm', two_d = strchr(c->op, '2') != NULL;
    const int area = c->kernel ? (two_d ? c->kernel * c->kernel : c->kernel)
                               : c->kernel_hw[0] * c->kernel_hw[1];
    mdl_pool_opts o;
    mdl_tensor *x, *y;
    memset(&o, 0, sizeof o);
    o.stride = c->stride, o.padding = c->padding, o.dilation = c->dilation;
    memcpy(o.kernel_hw, c->kernel_hw, sizeof o.kernel_hw);
    memcpy(o.stride_hw, c->stride_hw, sizeof o.stride_hw);
    memcpy(o.padding_hw, c->padding_hw, sizeof o.padding_hw);
    memcpy(o.dilation_hw, c->dilation_hw, sizeof o.dilation_hw);
    o.ceil_mode = c->ceil_mode, o.exclude_padding = c->exclude_padding;
    tc_begin(t, c->name, c->op,
             "{\"kernel\": %d, \"stride\": %d, \"padding\": %d, \"dilation\": %d, "
             "\"kernel_hw\": [%d, %d], \"stride_hw\": [%d, %d], \"padding_hw\": [%d, %d], "
             "\"dilation_hw\": [%d, %d], \"ceil_mode\": %d, \"exclude_padding\": %d}",
             c->kernel, c->stride, c->padding, c->dilation, c->kernel_hw[0], c->kernel_hw[1],
             c->stride_hw[0], c->stride_hw[1], c->padding_hw[0], c->padding_hw[1],
             c->dilation_hw[0], c->dilation_hw[1], c->ceil_mode, c->exclude_padding);
    x = two_d ? tc_input(t, "x", 4, (const int[]){c->B, c->C, c->H, c->W}, 1)
              : tc_input(t, "x", 3, (const int[]){c->B, c->C, c->W}, 1);
    /* max copies a value and its gradient exactly; avg sums a window (and a pixel's gradient
       sums its share from each window it is in, fewer than a window's size here) */
    tc_tol_sum(t, "*", is_max ? 0 : area);
    if (two_d)
        y = is_max ? mdl_max_pool2d(t->ar, x, c->kernel, &o)
                   : mdl_avg_pool2d(t->ar, x, c->kernel, &o);
    else
        y = is_max ? mdl_max_pool1d(t->ar, x, c->kernel, &o)
                   : mdl_avg_pool1d(t->ar, x, c->kernel, &o);
    tc_finish(t, y);
}

/* adaptive_avg_pool2d of x [B,C,H,W] to [B,C,OH,OW]: a window holds at most
   (ceil(H / OH) + 1) (ceil(W / OW) + 1) values */
static void adaptive_case(tc *t, const char *name, int B, int C, int H, int W, int OH, int OW) {
    mdl_tensor *x;
    tc_begin(t, name, "adaptive_avg_pool2d", "{\"out_h\": %d, \"out_w\": %d}", OH, OW);
    x = tc_input(t, "x", 4, (const int[]){B, C, H, W}, 1);
    tc_tol_sum(t, "*", ((H + OH - 1) / OH + 1) * ((W + OW - 1) / OW + 1));
    tc_finish(t, mdl_adaptive_avg_pool2d(t->ar, x, OH, OW));
}

static void pool_cases(tc *t) {
    /* name, op, B, C, H, W, kernel, stride, padding, dilation, kernel_hw, stride_hw,
       padding_hw, dilation_hw, ceil_mode, exclude_padding */
    static const pool_spec c[] = {
        {"max_pool2d/2x2_fast_path", "max_pool2d", 2, 3, 8, 10, 2, 2, 0, 0, {0, 0}, {0, 0},
         {0, 0}, {0, 0}, 0, 0},
        {"max_pool2d/2x2_odd_7x9", "max_pool2d", 2, 2, 7, 9, 2, 2, 0, 0, {0, 0}, {0, 0},
         {0, 0}, {0, 0}, 0, 0},
        {"max_pool2d/3x3_stride2_pad1", "max_pool2d", 2, 3, 9, 8, 3, 2, 1, 0, {0, 0}, {0, 0},
         {0, 0}, {0, 0}, 0, 0},
        {"max_pool2d/3x3_stride1", "max_pool2d", 1, 2, 6, 7, 3, 1, 0, 0, {0, 0}, {0, 0},
         {0, 0}, {0, 0}, 0, 0},
        {"max_pool2d/3x3_default_stride", "max_pool2d", 3, 2, 10, 9, 3, 0, 0, 0, {0, 0},
         {0, 0}, {0, 0}, {0, 0}, 0, 0},
        {"max_pool2d/4x4_stride3_pad2", "max_pool2d", 2, 2, 11, 12, 4, 3, 2, 0, {0, 0}, {0, 0},
         {0, 0}, {0, 0}, 0, 0},
        {"max_pool2d/per_axis_3x2_s2x1_p1x0", "max_pool2d", 2, 2, 9, 8, 0, 0, 0, 0, {3, 2},
         {2, 1}, {1, 0}, {0, 0}, 0, 0},
        {"max_pool2d/dilation2_pad1", "max_pool2d", 2, 2, 9, 10, 3, 1, 1, 2, {0, 0}, {0, 0},
         {0, 0}, {0, 0}, 0, 0},
        {"max_pool2d/dilation_hw_3x1_ceil", "max_pool2d", 1, 2, 11, 9, 2, 2, 1, 0, {0, 0},
         {0, 0}, {0, 0}, {3, 1}, 1, 0},
        {"max_pool2d/2x2_ceil_7x9", "max_pool2d", 2, 2, 7, 9, 2, 0, 0, 0, {0, 0}, {0, 0},
         {0, 0}, {0, 0}, 1, 0},
        {"max_pool2d/3x3_s2_p1_ceil", "max_pool2d", 2, 2, 8, 11, 3, 2, 1, 0, {0, 0}, {0, 0},
         {0, 0}, {0, 0}, 1, 0},
        {"max_pool2d/ceil_drops_window_in_padding", "max_pool2d", 1, 2, 5, 6, 2, 3, 1, 0,
         {0, 0}, {0, 0}, {0, 0}, {0, 0}, 1, 0},
        {"avg_pool2d/2x2", "avg_pool2d", 2, 3, 8, 10, 2, 2, 0, 0, {0, 0}, {0, 0}, {0, 0},
         {0, 0}, 0, 0},
        {"avg_pool2d/3x3_stride2_pad1", "avg_pool2d", 2, 3, 9, 8, 3, 2, 1, 0, {0, 0}, {0, 0},
         {0, 0}, {0, 0}, 0, 0},
        {"avg_pool2d/3x3_stride1_pad1", "avg_pool2d", 1, 2, 6, 7, 3, 1, 1, 0, {0, 0}, {0, 0},
         {0, 0}, {0, 0}, 0, 0},
        {"avg_pool2d/4x4_stride3_pad2", "avg_pool2d", 2, 2, 11, 12, 4, 3, 2, 0, {0, 0}, {0, 0},
         {0, 0}, {0, 0}, 0, 0},
        {"avg_pool2d/3x3_s2_p1_exclude", "avg_pool2d", 2, 2, 9, 8, 3, 2, 1, 0, {0, 0}, {0, 0},
         {0, 0}, {0, 0}, 0, 1},
        {"avg_pool2d/3x3_s2_p1_ceil", "avg_pool2d", 2, 2, 8, 11, 3, 2, 1, 0, {0, 0}, {0, 0},
         {0, 0}, {0, 0}, 1, 0},
        {"avg_pool2d/3x3_s2_p1_ceil_exclude", "avg_pool2d", 2, 2, 8, 11, 3, 2, 1, 0, {0, 0},
         {0, 0}, {0, 0}, {0, 0}, 1, 1},
        {"avg_pool2d/4x4_s3_p2_ceil_past_edge", "avg_pool2d", 1, 2, 5, 6, 4, 3, 2, 0, {0, 0},
         {0, 0}, {0, 0}, {0, 0}, 1, 0},
        {"avg_pool2d/per_axis_ceil_exclude", "avg_pool2d", 2, 2, 6, 9, 0, 0, 0, 0, {2, 4},
         {1, 3}, {1, 2}, {0, 0}, 1, 1},
        {"max_pool1d/k3_s2_p1_ceil", "max_pool1d", 2, 3, 1, 13, 3, 2, 1, 0, {0, 0}, {0, 0},
         {0, 0}, {0, 0}, 1, 0},
        {"max_pool1d/k2_dilation3", "max_pool1d", 2, 3, 1, 12, 2, 1, 0, 3, {0, 0}, {0, 0},
         {0, 0}, {0, 0}, 0, 0},
        {"avg_pool1d/k3_default_stride", "avg_pool1d", 2, 3, 1, 14, 3, 0, 0, 0, {0, 0}, {0, 0},
         {0, 0}, {0, 0}, 0, 0},
        {"avg_pool1d/k4_s3_p2_ceil_exclude", "avg_pool1d", 2, 3, 1, 11, 4, 3, 2, 0, {0, 0},
         {0, 0}, {0, 0}, {0, 0}, 1, 1},
    };
    size_t i;
    for (i = 0; i < sizeof c / sizeof c[0]; i++) pool_case(t, &c[i]);
    adaptive_case(t, "adaptive_avg_pool2d/8x9_to_5x7", 1, 3, 8, 9, 5, 7);
    adaptive_case(t, "adaptive_avg_pool2d/10x9_to_7x7", 2, 2, 10, 9, 7, 7);
    adaptive_case(t, "adaptive_avg_pool2d/12x8_to_3x4_divides", 2, 2, 12, 8, 3, 4);
    adaptive_case(t, "adaptive_avg_pool2d/global_7x5", 2, 3, 7, 5, 1, 1);
    adaptive_case(t, "adaptive_avg_pool2d/3x4_to_5x6_larger", 1, 2, 3, 4, 5, 6);
}

/* ---- softmax, log_softmax ---------------------------------------------------------------- */

static void softmax_case(tc *t, const char *name, int log, int ndim, const int *shape, int axis,
                         double scale) {
    mdl_tensor *x;
    size_t i;
    tc_begin(t, name, log ? "log_softmax" : "softmax", "{\"axis\": %d}", axis);
    x = tc_input(t, "x", ndim, shape, 1);
    for (i = 0; i < x->numel; i++) x->data[i] *= (mdl_scalar)scale;
    /* log_softmax's output is x - max - log(sum): an absolute error of a few u times |x| */
    tc_tol(t, "*", 1e-6 + 8 * scale * TC_U, 1e-5);
    tc_finish(t, log ? mdl_log_softmax(t->ar, x, axis) : mdl_softmax(t->ar, x, axis));
}

static void softmax_cases(tc *t) {
    softmax_case(t, "softmax/last_5x11", 0, 2, (const int[]){5, 11}, -1, 1);
    softmax_case(t, "softmax/axis1_3x7x4", 0, 3, (const int[]){3, 7, 4}, 1, 1);
    softmax_case(t, "softmax/axis0_6x5", 0, 2, (const int[]){6, 5}, 0, 1);
    softmax_case(t, "softmax/large_logits_x30", 0, 2, (const int[]){4, 9}, -1, 30);
    softmax_case(t, "log_softmax/last_6x10", 1, 2, (const int[]){6, 10}, -1, 1);
    softmax_case(t, "log_softmax/axis1_2x9x3", 1, 3, (const int[]){2, 9, 3}, 1, 1);
    softmax_case(t, "log_softmax/large_logits_x50", 1, 2, (const int[]){3, 8}, -1, 50);
}

/* ---- activations ------------------------------------------------------------------------- */

typedef enum act { RELU, LEAKY_RELU, SIGMOID, TANH, GELU, SILU, ELU } act;

static void act_case(tc *t, const char *name, act a, double p, double scale) {
    static const char *const ops[] = {"relu", "leaky_relu", "sigmoid", "tanh", "gelu", "silu",
                                      "elu"};
    mdl_tensor *x, *y = NULL;
    size_t i;
    tc_begin(t, name, ops[a], "{\"p\": %.9g}", p);
    x = tc_input(t, "x", 3, (const int[]){3, 5, 37}, 1);
    for (i = 0; i < x->numel; i++) x->data[i] *= (mdl_scalar)scale;
    tc_tol_pointwise(t, "*");
    switch (a) {
    case RELU: y = mdl_relu(t->ar, x); break;
    case LEAKY_RELU: y = mdl_leaky_relu(t->ar, x, (mdl_scalar)p); break;
    case SIGMOID: y = mdl_sigmoid(t->ar, x); break;
    case TANH: y = mdl_tanh(t->ar, x); break;
    case GELU: y = mdl_gelu(t->ar, x); break;
    case SILU: y = mdl_silu(t->ar, x); break;
    case ELU: y = mdl_elu(t->ar, x, (mdl_scalar)p); break;
    }
    tc_finish(t, y);
}

static void act_cases(tc *t) {
    /* scale 3: inputs up to about +-12, into the flat tails of sigmoid, tanh, gelu, elu */
    act_case(t, "relu", RELU, 0, 1);
    act_case(t, "leaky_relu/0.01", LEAKY_RELU, 0.01, 1);
    act_case(t, "leaky_relu/0.2", LEAKY_RELU, 0.2, 1);
    act_case(t, "sigmoid", SIGMOID, 0, 3);
    act_case(t, "tanh", TANH, 0, 3);
    act_case(t, "gelu", GELU, 0, 3);
    act_case(t, "silu", SILU, 0, 3);
    act_case(t, "elu/1.0", ELU, 1.0, 3);
    act_case(t, "elu/0.5", ELU, 0.5, 3);
}

/* ---- reductions: var, sum, mean, max, argmax --------------------------------------------- */

static void var_case(tc *t, const char *name, int ndim, const int *shape, int axis,
                     int correction, int keepdim, double mean) {
    mdl_tensor *x;
    size_t i, n;
    tc_begin(t, name, "var", "{\"axis\": %d, \"correction\": %d, \"keepdim\": %d}",
             axis == MDL_ALL ? -128 : axis, correction, keepdim);
    x = tc_input(t, "x", ndim, shape, 1);
    for (i = 0; i < x->numel; i++) x->data[i] += (mdl_scalar)mean;
    n = axis == MDL_ALL ? x->numel : (size_t)shape[axis < 0 ? axis + ndim : axis];
    /* two passes: the mean, then the sum of n squares; x's rounding to float (|mean| u) is in
       the inputs compare.py reads, so only the passes' own rounding counts */
    tc_tol_sum(t, "*", (double)n);
    tc_finish(t, mdl_var(t->ar, x, axis, correction, keepdim));
}

static void reduce_case(tc *t, const char *name, const char *op, int axis, int keepdim) {
    mdl_tensor *x, *y = NULL;
    const int shape[3] = {4, 7, 5};
    tc_begin(t, name, op, "{\"axis\": %d, \"keepdim\": %d}", axis == MDL_ALL ? -128 : axis,
             keepdim);
    x = tc_input(t, "x", 3, shape, 1);
    tc_tol_sum(t, "*", axis == MDL_ALL ? 140 : shape[axis < 0 ? axis + 3 : axis]);
    if (strcmp(op, "sum") == 0) y = mdl_sum(t->ar, x, axis, keepdim);
    if (strcmp(op, "mean") == 0) y = mdl_mean(t->ar, x, axis, keepdim);
    if (strcmp(op, "max") == 0) y = mdl_max(t->ar, x, axis, keepdim);
    tc_finish(t, y);
}

/* argmax has no gradient: a case of the other kind, its result written with tc_result */
static void argmax_case(tc *t, const char *name, int axis) {
    mdl_tensor *x, *y;
    tc_begin(t, name, "argmax", "{\"axis\": %d}", axis);
    x = tc_input(t, "x", 3, (const int[]){3, 6, 5}, 0);
    tc_tol(t, "out", 0, 0);
    y = mdl_argmax(t->ar, x, axis, 0);
    if (y) tc_result(t, "out", y->ndim, y->shape, y->data);
    tc_end(t);
}

static void reduce_cases(tc *t) {
    var_case(t, "var/last_corr1", 2, (const int[]){5, 13}, -1, 1, 0, 0);
    var_case(t, "var/axis0_corr0_keepdim", 3, (const int[]){9, 4, 3}, 0, 0, 1, 0);
    var_case(t, "var/all_corr1", 2, (const int[]){6, 7}, MDL_ALL, 1, 0, 0);
    var_case(t, "var/all_corr0", 2, (const int[]){6, 7}, MDL_ALL, 0, 0, 0);
    var_case(t, "var/offset_mean_100", 2, (const int[]){4, 50}, 1, 1, 0, 100);
    reduce_case(t, "sum/axis1", "sum", 1, 0);
    reduce_case(t, "mean/all", "mean", MDL_ALL, 0);
    reduce_case(t, "max/axis2_keepdim", "max", 2, 1);
    argmax_case(t, "argmax/axis1", 1);
}

/* ---- index_select ------------------------------------------------------------------------ */

static void index_select_cases(tc *t) {
    static const int i0[] = {3, 0, 3, 9, 5, 3}, i1[] = {7, 1, 1, 2};
    mdl_tensor *x;
    /* an embedding lookup: rows copied, repeated rows' gradients added (3 appears 3 times) */
    tc_begin(t, "index_select/axis0_embedding", "index_select",
             "{\"axis\": 0, \"index\": [3, 0, 3, 9, 5, 3]}");
    x = tc_input(t, "x", 2, (const int[]){10, 6}, 1);
    tc_tol_sum(t, "*", 3);
    tc_finish(t, mdl_index_select(t->ar, x, 0, 6, i0));
    tc_begin(t, "index_select/axis1", "index_select", "{\"axis\": 1, \"index\": [7, 1, 1, 2]}");
    x = tc_input(t, "x", 3, (const int[]){3, 8, 4}, 1);
    tc_tol_sum(t, "*", 2);
    tc_finish(t, mdl_index_select(t->ar, x, 1, 4, i1));
}

/* ---- a small MLP: linear layers written as x @ W + b, W [in, out] ------------------------- */

/* log_softmax(act(x @ W1 + b1) @ W2 + b2): every op's backward feeds the next one's */
static void mlp_case(tc *t, const char *name, const char *act_name, int B, int D, int H, int C) {
    mdl_tensor *x, *w1, *b1, *w2, *b2, *h;
    tc_begin(t, name, "mlp", "{\"act\": \"%s\"}", act_name);
    x = tc_input(t, "x", 2, (const int[]){B, D}, 1);
    w1 = tc_input(t, "w1", 2, (const int[]){D, H}, 1);
    b1 = tc_input(t, "b1", 1, (const int[]){H}, 1);
    w2 = tc_input(t, "w2", 2, (const int[]){H, C}, 1);
    b2 = tc_input(t, "b2", 1, (const int[]){C}, 1);
    /* the sums are of D + H products on the way forward and back, of B for the weights; the
       hidden values are O(sqrt(D)), so one more factor of that */
    tc_tol_sum(t, "*", (double)(D + H) * 4);
    tc_tol_sum(t, "grad.w1", (double)B * (D + H));
    tc_tol_sum(t, "grad.w2", (double)B * (D + H));
    h = mdl_add(t->ar, mdl_matmul(t->ar, x, w1), b1);
    h = strcmp(act_name, "relu") == 0 ? mdl_relu(t->ar, h) : mdl_tanh(t->ar, h);
    tc_finish(t, mdl_log_softmax(t->ar, mdl_add(t->ar, mdl_matmul(t->ar, h, w2), b2), -1));
}

/* ---- kinks and ties: where the gradient is a convention, minidl's must be torch's -------- */

/* x on a grid of steps of 0.5 in [-1.5, 1.5]: exact zeros, exact bounds, many ties */
static mdl_tensor *grid_input(tc *t, const char *name, int ndim, const int *shape) {
    mdl_tensor *x = tc_input(t, name, ndim, shape, 1);
    size_t i;
    for (i = 0; x && i < x->numel; i++)
        x->data[i] = (mdl_scalar)((int)(mdl_rng_u32(&t->rng) % 7u) - 3) / 2;
    return x;
}

static void kink_cases(tc *t) {
    static const char *const unary[] = {"relu", "leaky_relu", "elu", "abs"};
    const int shape[2] = {6, 11};
    mdl_tensor *x, *y;
    int i;
    for (i = 0; i < 4; i++) {
        char name[64];
        snprintf(name, sizeof name, "kink/%s_at_0", unary[i]);
        tc_begin(t, name, unary[i], "{\"p\": 0.25}");
        x = grid_input(t, "x", 2, shape);
        tc_tol_pointwise(t, "*");
        y = i == 0 ? mdl_relu(t->ar, x) : i == 1 ? mdl_leaky_relu(t->ar, x, 0.25f)
            : i == 2 ? mdl_elu(t->ar, x, 0.25f) : mdl_abs(t->ar, x);
        tc_finish(t, y);
    }
    tc_begin(t, "kink/clamp_at_bounds", "clamp", "{\"lo\": -0.5, \"hi\": 1.0}");
    x = grid_input(t, "x", 2, shape);
    tc_tol_pointwise(t, "*");
    tc_finish(t, mdl_clamp(t->ar, x, -0.5f, 1.0f));
    tc_begin(t, "tie/maximum", "maximum", "{}");
    x = grid_input(t, "a", 2, shape);
    y = grid_input(t, "b", 2, shape);
    tc_tol_pointwise(t, "*");
    tc_finish(t, mdl_maximum(t->ar, x, y));
    tc_begin(t, "tie/max_axis1", "max", "{\"axis\": 1, \"keepdim\": 0}");
    x = grid_input(t, "x", 2, shape);
    tc_tol_pointwise(t, "*");
    tc_finish(t, mdl_max(t->ar, x, 1, 0));
    tc_begin(t, "tie/max_all", "max", "{\"axis\": -128, \"keepdim\": 0}");
    x = grid_input(t, "x", 2, shape);
    tc_tol_pointwise(t, "*");
    tc_finish(t, mdl_max(t->ar, x, MDL_ALL, 0));
    tc_begin(t, "tie/max_pool2d_3x3_stride1", "max_pool2d",
             "{\"kernel\": 3, \"stride\": 1, \"padding\": 1}");
    x = grid_input(t, "x", 4, (const int[]){2, 2, 7, 6});
    tc_tol_pointwise(t, "*");
    {
        mdl_pool_opts o;
        memset(&o, 0, sizeof o);
        o.stride = 1, o.padding = 1;
        tc_finish(t, mdl_max_pool2d(t->ar, x, 3, &o));
    }
    tc_begin(t, "tie/max_pool2d_2x2_fast_path", "max_pool2d",
             "{\"kernel\": 2, \"stride\": 2, \"padding\": 0}");
    x = grid_input(t, "x", 4, (const int[]){2, 2, 8, 10});
    tc_tol_pointwise(t, "*");
    tc_finish(t, mdl_max_pool2d(t->ar, x, 2, NULL));
}

int main(int argc, char **argv) {
    tc t;
    if (tc_open(&t, argc, argv, "torch_ops") != 0) return 2;
    matmul_cases(&t);
    conv_cases(&t);
    pool_cases(&t);
    softmax_cases(&t);
    act_cases(&t);
    reduce_cases(&t);
    index_select_cases(&t);
    mlp_case(&t, "mlp/relu_8x13_32_10", "relu", 8, 13, 32, 10);
    mlp_case(&t, "mlp/tanh_5x20_17_3", "tanh", 5, 20, 17, 3);
    kink_cases(&t);
    return tc_close(&t);
}
