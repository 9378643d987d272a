/* tests/test_conv.c - conv2d, conv1d, max and average pooling (2-D, 1-D, adaptive) against
   direct loops written here in double: forward values, and the gradients of every input after
   mdl_backward_with(y, dy) with a random dy. The convolutions run under every GEMM kernel this
   CPU has ("auto", then "avx512", "avx2", "neon", "plain" where they run), so the SIMD and the
   plain paths are both checked against the same reference. With "auto" and "avx512", stride-1
   convolutions take the direct path (no im2col: products over shifted copies of the planes,
   see conv2d's block in minidl.h), the others im2col + GEMM; the "direct-runs" cases have
   several of the direct path's runs of images, as the "multi-run" ones have of im2col's.

   gcc -std=c99 -O1 -g -Wall -Wextra -Wpedantic -Werror -I. tests/test_conv.c -o build/test_conv -lm

   Tolerance. The inputs are floats, so every product of two of them is exact in double, and the
   reference sums in double (error ~ n 2^-53, negligible). The library sums in float (unit
   roundoff u = 2^-24) in an order of its own (GEMM blocking, FMA or not), and by the standard
   bound a value made of n rounded steps along any path of the sum is off by at most
   gamma_n * S = n u / (1 - n u) * S, where S = the sum of |terms| (+ |bias|). The steps along
   a path, for an output that nominally sums n products:
     y[b,o,oy,ox]  n = C/G*KH*KW: n products and additions in the GEMM, + 1 for the bias
     dw[o,c,i,j]   n = B*OH*OW: n in the GEMM of each run of images, + 1 per run (added into dw)
     dx[b,c,iy,ix] n = O/G*KH*KW: O/G in the GEMM, then up to KH*KW additions in col2im, and
                   O/G + KH*KW <= (O/G)(KH*KW) + 1
     dbias[o]      n = B*OH*OW values of dy (im2col's path sums them in double; the direct
                   path in 64 float sums per image, added in double: far inside the bound,
                   which allows any float summation)
   so at most 2n steps, and gamma_2n <= 2.01 n u for the sizes here (n u < 1e-2). The checks use
   |got - ref| <= C0 n u S with C0 = 3, which covers that with room. A term lost or doubled
   (|term| ~ 0.25 on average for values in [-1, 1)) is far outside it: C0 n u S ~ 3 n^2 u / 4
   is below 0.01 for n < 200. For larger n (dw and dbias sum B*OH*OW terms: 3136 in LeNet's
   conv1, 15680 and 62500 in the multi-run cases) one lost term could hide inside the bound,
   so those geometries also run as "exact" cases.
   Exact cases: values k/8 (k = -8..8) make every product a multiple of 1/64 and every partial
   sum exactly representable in float (|sum| * 64 < 2^24), so any summation order gives the
   exact result, and those cases demand got == ref. */
#define MINIDL_IMPLEMENTATION
#include "minidl.h"
#include "test.h"

#include <stdlib.h>

#define C0 3.0
#define U_ROUND (sizeof(mdl_scalar) == 4 ? 5.9604644775390625e-8 : 1.1102230246251565e-16)

static const char *kernels[] = {"auto", "avx512", "avx2", "neon", "plain"};
#define N_KERNELS ((int)(sizeof kernels / sizeof kernels[0]))

/* ---- helpers ---- */

static void *xmalloc(size_t n) {
    void *p = calloc(n ? n : 1, 1);
    if (!p) {
        fprintf(stderr, "test_conv: out of memory\n");
        exit(2);
    }
    return p;
}

/* Fill v[0..n) with uniform values in [-1, 1), or with k/8 for k = -8..8 when exact. */
static void fill(mdl_scalar *v, size_t n, mdl_rng *rng, int exact) {
    size_t i;
    for (i = 0; i < n; i++)
        v[i] = exact ? (mdl_scalar)(((int)(mdl_rng_u32(rng) % 17u) - 8) / 8.0)
                     : (mdl_scalar)(2.0 * mdl_rng_uniform(rng) - 1.0);
}

/* got vs ref, element by element: |got - ref| <= C0 * terms * u * mag[i] (0 when exact).
   One CHECK for the whole array; the first few differences are printed. */
static void compare(const char *ctx, const char *what, const mdl_scalar *got, const double *ref,
                    const double *mag, size_t n, double terms, int exact) {
    size_t i;
    int bad = 0;
    double worst = 0;
    CHECK(got != NULL, "%s: %s: no values (NULL)", ctx, what);
    if (!got) return;
    for (i = 0; i < n; i++) {
        double tol = exact ? 0.0 : C0 * terms * U_ROUND * mag[i];
        double err = fabs((double)got[i] - ref[i]);
        if (!(err <= tol)) { /* also catches NaN */
            if (bad < 4)
                fprintf(stderr, "  %s: %s[%zu] = %.9g, want %.9g (err %.3g, tol %.3g)\n", ctx,
                        what, i, (double)got[i], ref[i], err, tol);
            bad++;
        }
        if (err > worst) worst = err;
    }
    CHECK(bad == 0, "%s: %s: %d of %zu values outside the tolerance (worst error %.3g)", ctx, what,
          bad, n, worst);
}

/* a tensor of `shape` holding `values`, made a leaf that requires grad or not */
static mdl_tensor *leaf(mdl_arena *ar, int ndim, const int *shape, const mdl_scalar *values,
                        int requires_grad) {
    mdl_tensor *t = mdl_from_array(ar, ndim, shape, values);
    if (t) mdl_set_requires_grad(t, requires_grad);
    return t;
}

static int shape_is(const mdl_tensor *t, int ndim, const int *shape) {
    int d;
    if (!t || t->ndim != ndim) return 0;
    for (d = 0; d < ndim; d++)
        if (t->shape[d] != shape[d]) return 0;
    return 1;
}

/* ---- conv2d ---- */

typedef struct {
    const char *name;
    int B, C, H, W, O, KH, KW;
    int stride, padding, dilation, groups;
    int bias;   /* 1: with a bias [O] */
    int xgrad;  /* x requires grad (0: like a network's input) */
    int wgrad;  /* w (and bias) require grad */
    int exact;  /* values k/8: results must be exact */
    int params; /* w and bias live in an mdl_params set (persistent), as in a network */
    int nograd; /* forward only, with grad mode off */
} conv_case;

/* The reference, with everything it needs; built once per case, used for every kernel. */
typedef struct {
    int OH, OW;
    size_t nx, nw, ny;
    mdl_scalar *x, *w, *b, *dy;
    double *y, *ymag, *dx, *dxmag, *dw, *dwmag, *db, *dbmag;
} conv_ref;

/* The seven-loop convolution (PyTorch's conv2d, a cross-correlation), in double:
     y[b,o,oy,ox] = bias[o] + sum_{c,i,j} w[o,c,i,j] * x[b, g*Cg + c, iy, ix]
       with iy = oy*s - p + i*d, ix = ox*s - p + j*d (terms outside the image are 0),
       Cg = C/G input channels per group, g = o / (O/G) the group of output channel o.
   and, in the same loops, the gradients for dy = dL/dy. y is linear in each input, so each
   term w*x of y[b,o,oy,ox] contributes dy[b,o,oy,ox] * (the other factor) to the gradient of
   each factor, and the gradient of an input element is the sum over every term it is in:
     dw[o,c,i,j]            = sum_{b,oy,ox} dy[b,o,oy,ox] * x[b, g*Cg + c, iy, ix]
     dx[b, g*Cg + c, iy, ix] += dy[b,o,oy,ox] * w[o,c,i,j]   (over every o, oy, ox, i, j that
                                                             reach that input element)
     dbias[o]               = sum_{b,oy,ox} dy[b,o,oy,ox]
   mag holds the matching sums of |terms| (with |bias| for y) for the tolerance. */
static void conv2d_reference(const conv_case *cc, conv_ref *r) {
    const int Cg = cc->C / cc->groups, Og = cc->O / cc->groups;
    const int s = cc->stride, p = cc->padding, d = cc->dilation;
    int b, o, oy, ox, c, i, j;
    for (b = 0; b < cc->B; b++)
        for (o = 0; o < cc->O; o++)
            for (oy = 0; oy < r->OH; oy++)
                for (ox = 0; ox < r->OW; ox++) {
                    const size_t yi = (((size_t)b * cc->O + o) * r->OH + oy) * r->OW + ox;
                    const double g = r->dy[yi];
                    const int grp = o / Og;
                    double sum = cc->bias ? (double)r->b[o] : 0.0;
                    double mag = cc->bias ? fabs((double)r->b[o]) : 0.0;
                    for (c = 0; c < Cg; c++)
                        for (i = 0; i < cc->KH; i++)
                            for (j = 0; j < cc->KW; j++) {
                                const int iy = oy * s - p + i * d, ix = ox * s - p + j * d;
                                const int ci = grp * Cg + c;
                                size_t xi, wi;
                                double xv, wv;
                                if (iy < 0 || iy >= cc->H || ix < 0 || ix >= cc->W) continue;
                                xi = (((size_t)b * cc->C + ci) * cc->H + iy) * cc->W + ix;
                                wi = (((size_t)o * Cg + c) * cc->KH + i) * cc->KW + j;
                                xv = r->x[xi];
                                wv = r->w[wi];
                                sum += wv * xv;
                                mag += fabs(wv * xv);
                                r->dw[wi] += g * xv;
                                r->dwmag[wi] += fabs(g * xv);
                                r->dx[xi] += g * wv;
                                r->dxmag[xi] += fabs(g * wv);
                            }
                    r->y[yi] = sum;
                    r->ymag[yi] = mag;
                    r->db[o] += g;
                    r->dbmag[o] += fabs(g);
                }
}

static void conv_ref_free(conv_ref *r) {
    free(r->x), free(r->w), free(r->b), free(r->dy);
    free(r->y), free(r->ymag), free(r->dx), free(r->dxmag);
    free(r->dw), free(r->dwmag), free(r->db), free(r->dbmag);
}

static void conv_ref_make(const conv_case *cc, conv_ref *r, uint64_t seed) {
    mdl_rng rng;
    memset(r, 0, sizeof *r);
    /* PyTorch's output size, written out independently of the library */
    r->OH = (cc->H + 2 * cc->padding - cc->dilation * (cc->KH - 1) - 1) / cc->stride + 1;
    r->OW = (cc->W + 2 * cc->padding - cc->dilation * (cc->KW - 1) - 1) / cc->stride + 1;
    r->nx = (size_t)cc->B * cc->C * cc->H * cc->W;
    r->nw = (size_t)cc->O * (cc->C / cc->groups) * cc->KH * cc->KW;
    r->ny = (size_t)cc->B * cc->O * r->OH * r->OW;
    r->x = (mdl_scalar *)xmalloc(r->nx * sizeof(mdl_scalar));
    r->w = (mdl_scalar *)xmalloc(r->nw * sizeof(mdl_scalar));
    r->b = (mdl_scalar *)xmalloc((size_t)cc->O * sizeof(mdl_scalar));
    r->dy = (mdl_scalar *)xmalloc(r->ny * sizeof(mdl_scalar));
    r->y = (double *)xmalloc(r->ny * sizeof(double));
    r->ymag = (double *)xmalloc(r->ny * sizeof(double));
    r->dx = (double *)xmalloc(r->nx * sizeof(double));
    r->dxmag = (double *)xmalloc(r->nx * sizeof(double));
    r->dw = (double *)xmalloc(r->nw * sizeof(double));
    r->dwmag = (double *)xmalloc(r->nw * sizeof(double));
    r->db = (double *)xmalloc((size_t)cc->O * sizeof(double));
    r->dbmag = (double *)xmalloc((size_t)cc->O * sizeof(double));
    mdl_rng_seed(&rng, seed);
    fill(r->x, r->nx, &rng, cc->exact);
    fill(r->w, r->nw, &rng, cc->exact);
    fill(r->b, (size_t)cc->O, &rng, cc->exact);
    fill(r->dy, r->ny, &rng, cc->exact);
    conv2d_reference(cc, r);
}

static void conv2d_run(mdl_arena *ar, const conv_case *cc, const conv_ref *r, const char *kern) {
    int xs[4], ws[4], bs[1], ys[4];
    mdl_params *ps = NULL;
    mdl_tensor *x, *w, *bias = NULL, *y, *dy;
    char ctx[160];
    const double n_fwd = (double)(cc->C / cc->groups) * cc->KH * cc->KW + 1;
    const double n_dw = (double)cc->B * r->OH * r->OW + 1;
    const double n_dx = (double)(cc->O / cc->groups) * cc->KH * cc->KW + 1;
    int prev = 1;
    snprintf(ctx, sizeof ctx, "conv2d %s [kernel %s]", cc->name, kern);
    xs[0] = cc->B, xs[1] = cc->C, xs[2] = cc->H, xs[3] = cc->W;
    ws[0] = cc->O, ws[1] = cc->C / cc->groups, ws[2] = cc->KH, ws[3] = cc->KW;
    bs[0] = cc->O;
    ys[0] = cc->B, ys[1] = cc->O, ys[2] = r->OH, ys[3] = r->OW;

    x = leaf(ar, 4, xs, r->x, cc->xgrad);
    if (cc->params) {
        ps = mdl_params_new();
        w = mdl_params_add(ps, "conv.weight", 4, ws);
        if (w) memcpy(w->data, r->w, r->nw * sizeof(mdl_scalar));
        if (w && !cc->wgrad) mdl_set_requires_grad(w, 0);
        if (cc->bias) {
            bias = mdl_params_add(ps, "conv.bias", 1, bs);
            if (bias) memcpy(bias->data, r->b, (size_t)cc->O * sizeof(mdl_scalar));
            if (bias && !cc->wgrad) mdl_set_requires_grad(bias, 0);
        }
    } else {
        w = leaf(ar, 4, ws, r->w, cc->wgrad);
        if (cc->bias) bias = leaf(ar, 1, bs, r->b, cc->wgrad);
    }
    CHECK(x && w && (bias || !cc->bias), "%s: making the inputs failed: %s", ctx,
          mdl_last_error());
    if (!x || !w || (cc->bias && !bias)) goto done;

    if (cc->nograd) prev = mdl_set_grad_enabled(ar, 0);
    y = mdl_conv2d(ar, x, w, bias, conv_opts(cc->stride, cc->padding, cc->dilation, cc->groups));
    if (cc->nograd) mdl_set_grad_enabled(ar, prev);
    CHECK(y != NULL, "%s: mdl_conv2d returned NULL: %s", ctx, mdl_last_error());
    if (!y) goto done;
    CHECK(shape_is(y, 4, ys), "%s: output shape [%d,%d,%d,%d], want [%d,%d,%d,%d]", ctx,
          y->ndim > 0 ? y->shape[0] : -1, y->ndim > 1 ? y->shape[1] : -1,
          y->ndim > 2 ? y->shape[2] : -1, y->ndim > 3 ? y->shape[3] : -1, ys[0], ys[1], ys[2],
          ys[3]);
    if (!shape_is(y, 4, ys)) goto done;
    compare(ctx, "y", y->data, r->y, r->ymag, r->ny, n_fwd, cc->exact);
    if (cc->nograd) {
        CHECK(y->node == NULL, "%s: grad mode off, but the output has a tape node", ctx);
        goto done;
    }

    dy = mdl_from_array(ar, 4, ys, r->dy);
    CHECK(dy && mdl_backward_with(y, dy) == MDL_OK, "%s: backward_with: %s", ctx,
          mdl_last_error());
    if (cc->xgrad) compare(ctx, "dx", x->grad, r->dx, r->dxmag, r->nx, n_dx, cc->exact);
    else CHECK(x->grad == NULL, "%s: x does not require grad, but got a gradient", ctx);
    if (cc->wgrad) {
        compare(ctx, "dw", w->grad, r->dw, r->dwmag, r->nw, n_dw, cc->exact);
        if (cc->bias)
            compare(ctx, "dbias", bias->grad, r->db, r->dbmag, (size_t)cc->O, n_dw, cc->exact);
    } else if (!cc->params) {
        CHECK(w->grad == NULL && (!bias || bias->grad == NULL),
              "%s: w and bias do not require grad, but got a gradient", ctx);
    }
done:
    mdl_params_free(ps);
    mdl_arena_reset(ar);
}

/* How many images the library puts into one im2col run (it keeps cols within 2^17 values);
   written out here only to make sure the multi-run cases really have several runs. */
static int runs_of(const conv_case *cc, const conv_ref *r) {
    size_t per = (size_t)(cc->C / cc->groups) * cc->KH * cc->KW * r->OH * r->OW;
    size_t run = ((size_t)1 << 17) / per;
    if (run < 1) run = 1;
    return (int)((cc->B + run - 1) / run);
}

/* The same for the direct path (stride 1 with the AVX-512 kernels): its scratch per image is
   the KW shifted copies of each input plane, Hp x OW, and the padded grids of dy and dx. */
static int direct_runs_of(const conv_case *cc, const conv_ref *r) {
    size_t hp = (size_t)(cc->H + 2 * cc->padding), wp = (size_t)(cc->W + 2 * cc->padding);
    size_t cg = (size_t)(cc->C / cc->groups), og = (size_t)(cc->O / cc->groups);
    size_t per = cg * cc->KW * hp * r->OW + (cg + og) * hp * wp;
    size_t run = ((size_t)1 << 17) / per;
    if (run < 1) run = 1;
    return (int)((cc->B + run - 1) / run);
}

static const conv_case conv_cases[] = {
    /* name                  B  C  H  W   O KH KW  s p d g  bias xg wg exact params nograd */
    {"LeNet conv1",          4, 1, 28, 28, 6, 5, 5, 1, 2, 1, 1, 1, 1, 1, 0, 1, 0},
    {"LeNet conv1 exact",    4, 1, 28, 28, 6, 5, 5, 1, 2, 1, 1, 1, 1, 1, 1, 0, 0},
    {"LeNet conv1 input",    4, 1, 28, 28, 6, 5, 5, 1, 2, 1, 1, 1, 0, 1, 0, 1, 0},
    {"LeNet conv2",          4, 6, 14, 14, 16, 5, 5, 1, 0, 1, 1, 1, 1, 1, 0, 1, 0},
    {"multi-run LeNet conv2 8+2 exact", 10, 6, 14, 14, 16, 5, 5, 1, 0, 1, 1, 1, 1, 1, 1, 0, 0},
    {"LeNet conv2 no grad",  4, 6, 14, 14, 16, 5, 5, 1, 0, 1, 1, 1, 1, 1, 0, 1, 1},
    {"stride 2",             2, 3, 9, 8, 4, 3, 3, 2, 1, 1, 1, 1, 1, 1, 0, 0, 0},
    {"stride 3 4x3",         2, 2, 10, 8, 3, 4, 3, 3, 1, 1, 1, 1, 1, 1, 0, 0, 0},
    {"padding 1",            3, 2, 7, 5, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0},
    {"padding 3",            2, 3, 7, 5, 4, 3, 3, 1, 3, 1, 1, 1, 1, 1, 0, 0, 0},
    {"dilation 2",           2, 3, 11, 9, 4, 3, 3, 1, 2, 2, 1, 1, 1, 1, 0, 0, 0},
    {"dilation 3 stride 2",  2, 2, 13, 12, 3, 3, 2, 2, 1, 3, 1, 1, 1, 1, 0, 0, 0},
    {"groups 2",             2, 4, 7, 5, 6, 3, 3, 1, 1, 1, 2, 1, 1, 1, 0, 0, 0},
    {"groups 2 exact",       2, 4, 7, 5, 6, 3, 3, 1, 1, 1, 2, 1, 1, 1, 1, 0, 0},
    {"depthwise",            2, 5, 9, 7, 5, 3, 3, 1, 1, 1, 5, 1, 1, 1, 0, 0, 0},
    {"depthwise x2 stride 2", 2, 3, 7, 5, 6, 3, 3, 2, 1, 1, 3, 1, 1, 1, 0, 0, 0},
    {"kernel 3x2",           2, 3, 7, 5, 4, 3, 2, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0},
    {"kernel 1x5",           2, 2, 5, 9, 3, 1, 5, 1, 2, 1, 1, 1, 1, 1, 0, 0, 0},
    {"kernel 1x1",           3, 8, 5, 7, 4, 1, 1, 1, 0, 1, 1, 1, 1, 1, 0, 0, 0},
    {"kernel 1x1 s2 p1",     2, 3, 7, 5, 4, 1, 1, 2, 1, 1, 1, 1, 1, 1, 0, 0, 0},
    {"no bias",              2, 3, 7, 5, 4, 3, 3, 1, 1, 1, 1, 0, 1, 1, 0, 0, 0},
    {"batch 1",              1, 3, 7, 5, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0},
    {"w without grad",       2, 3, 7, 5, 4, 3, 3, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0},
    {"kernel = padded input", 2, 2, 5, 4, 3, 7, 6, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0},
    {"everything at once",   3, 6, 13, 11, 9, 3, 2, 2, 3, 2, 3, 1, 1, 1, 0, 0, 0},
    /* several im2col runs. When w needs a gradient, forward keeps the cols of every run for
       backward, up to 2^23 values in all; "25 x 1 g2" has 9.4M, so its backward builds them
       again, and so do the cases where w needs no gradient */
    {"multi-run 20 x 1 exact", 20, 16, 32, 32, 4, 5, 5, 1, 0, 1, 1, 1, 1, 1, 1, 1, 0},
    {"multi-run 25 x 1 g2 d2 exact", 25, 6, 50, 50, 2, 5, 5, 1, 4, 2, 2, 1, 1, 1, 1, 0, 0},
    {"multi-run 5 x 1 input", 5, 16, 40, 40, 2, 7, 7, 1, 0, 1, 1, 1, 0, 1, 0, 1, 0},
    {"multi-run 5 x 1 no grad", 5, 16, 40, 40, 2, 7, 7, 1, 0, 1, 1, 1, 1, 1, 0, 1, 1},
    /* the direct path (stride 1, AVX-512): several of its runs (LeNet's shapes at batch 40:
       4 and 3 runs), dx's bands of rows with a dilation that leaves rows of dx no tap reaches
       (OH = 1 < dilation 4), outputs one wide, and a dilation along one axis only */
    {"direct-runs LeNet conv1 b40 exact", 40, 1, 28, 28, 6, 5, 5, 1, 2, 1, 1, 1, 1, 1, 1, 1, 0},
    {"direct-runs LeNet conv2 b40 exact", 40, 6, 14, 14, 16, 5, 5, 1, 0, 1, 1, 1, 1, 1, 1, 1, 0},
    {"direct-runs LeNet conv2 b40",      40, 6, 14, 14, 16, 5, 5, 1, 0, 1, 1, 1, 1, 1, 0, 1, 0},
    {"dilation 4, rows of dx out of reach", 2, 2, 3, 6, 3, 2, 2, 1, 1, 4, 1, 1, 1, 1, 0, 0, 0},
    {"output 1 wide",        3, 3, 6, 5, 4, 3, 5, 1, 0, 1, 1, 1, 1, 1, 0, 0, 0},
    {"wide rows 70",         2, 2, 4, 70, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0},
    {"9 output channels, 13 input, exact", 3, 13, 9, 9, 9, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0},
};

static void test_conv2d(mdl_arena *ar) {
    int k, c;
    for (c = 0; c < (int)(sizeof conv_cases / sizeof conv_cases[0]); c++) {
        const conv_case *cc = &conv_cases[c];
        conv_ref r;
        conv_ref_make(cc, &r, 1000 + (uint64_t)c);
        if (strncmp(cc->name, "multi-run", 9) == 0)
            CHECK(runs_of(cc, &r) >= 2, "case %s has %d im2col run(s), meant to have several",
                  cc->name, runs_of(cc, &r));
        if (strncmp(cc->name, "direct-runs", 11) == 0)
            CHECK(direct_runs_of(cc, &r) >= 3, "case %s has %d direct run(s), meant to have "
                  "several", cc->name, direct_runs_of(cc, &r));
        for (k = 0; k < N_KERNELS; k++)
            if (mdl_set_gemm_kernel(kernels[k])) conv2d_run(ar, cc, &r, kernels[k]);
        conv_ref_free(&r);
    }
    mdl_set_gemm_kernel("auto");
}

/* ---- conv1d: its own direct reference ----
     y[b,o,t] = bias[o] + sum_{c,k} w[o,c,k] * x[b, g*Cg + c, t*s - p + k*d]
     dw[o,c,k] = sum_{b,t} dy[b,o,t] * x[b, g*Cg + c, t*s - p + k*d]
     dx[b, g*Cg + c, t*s - p + k*d] += dy[b,o,t] * w[o,c,k]
     dbias[o] = sum_{b,t} dy[b,o,t] */

typedef struct {
    int B, C, L, O, K, stride, padding, dilation, groups, bias;
} conv1_case;

static void conv1d_case(mdl_arena *ar, const conv1_case *cc, uint64_t seed) {
    const int Cg = cc->C / cc->groups, Og = cc->O / cc->groups;
    const int OL = (cc->L + 2 * cc->padding - cc->dilation * (cc->K - 1) - 1) / cc->stride + 1;
    const size_t nx = (size_t)cc->B * cc->C * cc->L, nw = (size_t)cc->O * Cg * cc->K;
    const size_t ny = (size_t)cc->B * cc->O * OL;
    mdl_scalar *xv = (mdl_scalar *)xmalloc(nx * sizeof(mdl_scalar));
    mdl_scalar *wv = (mdl_scalar *)xmalloc(nw * sizeof(mdl_scalar));
    mdl_scalar *bv = (mdl_scalar *)xmalloc((size_t)cc->O * sizeof(mdl_scalar));
    mdl_scalar *dyv = (mdl_scalar *)xmalloc(ny * sizeof(mdl_scalar));
    double *y = (double *)xmalloc(ny * sizeof(double));
    double *ym = (double *)xmalloc(ny * sizeof(double));
    double *dx = (double *)xmalloc(nx * sizeof(double));
    double *dxm = (double *)xmalloc(nx * sizeof(double));
    double *dw = (double *)xmalloc(nw * sizeof(double));
    double *dwm = (double *)xmalloc(nw * sizeof(double));
    double *db = (double *)xmalloc((size_t)cc->O * sizeof(double));
    double *dbm = (double *)xmalloc((size_t)cc->O * sizeof(double));
    int b, o, t, c, kk, kn, xs[3], ws[3], bs[1], ys[3];
    mdl_rng rng;
    mdl_rng_seed(&rng, seed);
    fill(xv, nx, &rng, 0);
    fill(wv, nw, &rng, 0);
    fill(bv, (size_t)cc->O, &rng, 0);
    fill(dyv, ny, &rng, 0);
    for (b = 0; b < cc->B; b++)
        for (o = 0; o < cc->O; o++)
            for (t = 0; t < OL; t++) {
                const size_t yi = ((size_t)b * cc->O + o) * OL + t;
                const double g = dyv[yi];
                double sum = cc->bias ? (double)bv[o] : 0, mag = cc->bias ? fabs((double)bv[o]) : 0;
                for (c = 0; c < Cg; c++)
                    for (kk = 0; kk < cc->K; kk++) {
                        const int ix = t * cc->stride - cc->padding + kk * cc->dilation;
                        size_t xi, wi;
                        if (ix < 0 || ix >= cc->L) continue;
                        xi = ((size_t)b * cc->C + (o / Og) * Cg + c) * cc->L + ix;
                        wi = ((size_t)o * Cg + c) * cc->K + kk;
                        sum += (double)wv[wi] * xv[xi];
                        mag += fabs((double)wv[wi] * xv[xi]);
                        dw[wi] += g * xv[xi];
                        dwm[wi] += fabs(g * xv[xi]);
                        dx[xi] += g * wv[wi];
                        dxm[xi] += fabs(g * wv[wi]);
                    }
                y[yi] = sum;
                ym[yi] = mag;
                db[o] += g;
                dbm[o] += fabs(g);
            }
    xs[0] = cc->B, xs[1] = cc->C, xs[2] = cc->L;
    ws[0] = cc->O, ws[1] = Cg, ws[2] = cc->K;
    bs[0] = cc->O;
    ys[0] = cc->B, ys[1] = cc->O, ys[2] = OL;
    for (kn = 0; kn < N_KERNELS; kn++) {
        mdl_tensor *x, *w, *bias, *out, *dy;
        char ctx[160];
        if (!mdl_set_gemm_kernel(kernels[kn])) continue;
        snprintf(ctx, sizeof ctx, "conv1d x [%d,%d,%d] w [%d,%d,%d] s%d p%d d%d g%d%s [kernel %s]",
                 cc->B, cc->C, cc->L, cc->O, Cg, cc->K, cc->stride, cc->padding, cc->dilation,
                 cc->groups, cc->bias ? "" : " no bias", kernels[kn]);
        x = leaf(ar, 3, xs, xv, 1);
        w = leaf(ar, 3, ws, wv, 1);
        bias = cc->bias ? leaf(ar, 1, bs, bv, 1) : NULL;
        out = mdl_conv1d(ar, x, w, bias,
                         conv_opts(cc->stride, cc->padding, cc->dilation, cc->groups));
        CHECK(out && shape_is(out, 3, ys), "%s: NULL or wrong shape (%s)", ctx, mdl_last_error());
        if (out && shape_is(out, 3, ys)) {
            compare(ctx, "y", out->data, y, ym, ny, (double)Cg * cc->K + 1, 0);
            dy = mdl_from_array(ar, 3, ys, dyv);
            CHECK(dy && mdl_backward_with(out, dy) == MDL_OK, "%s: backward_with: %s", ctx,
                  mdl_last_error());
            compare(ctx, "dx", x->grad, dx, dxm, nx, (double)Og * cc->K + 1, 0);
            compare(ctx, "dw", w->grad, dw, dwm, nw, (double)cc->B * OL + 1, 0);
            if (bias)
                compare(ctx, "dbias", bias->grad, db, dbm, (size_t)cc->O, (double)cc->B * OL + 1,
                        0);
        }
        mdl_arena_reset(ar);
    }
    mdl_set_gemm_kernel("auto");
    free(xv), free(wv), free(bv), free(dyv), free(y), free(ym), free(dx), free(dxm), free(dw);
    free(dwm), free(db), free(dbm);
}

static void test_conv1d(mdl_arena *ar) {
    static const conv1_case cases[] = {
        /* B  C  L  O  K  s  p  d  g  bias */
        {2, 3, 17, 4, 3, 1, 1, 1, 1, 1},
        {3, 4, 20, 6, 5, 2, 2, 1, 2, 1},
        {2, 6, 15, 6, 3, 1, 2, 2, 6, 1},  /* depthwise, dilated */
        {1, 2, 9, 3, 4, 3, 0, 1, 1, 0},   /* stride 3 that does not divide, no bias */
        {4, 8, 33, 10, 7, 2, 3, 3, 2, 1}, /* everything at once */
    };
    int c;
    for (c = 0; c < (int)(sizeof cases / sizeof cases[0]); c++)
        conv1d_case(ar, &cases[c], 2000 + (uint64_t)c);
}

/* ---- pooling ----
   The reference counts windows and reads them one position at a time, from PyTorch's
   definitions rather than the library's formulas. Along an axis of n with kernel k, stride s,
   padding p and dilation d, window o reads positions o*s - p + i*d (i = 0..k-1):
     floor mode: every window that fits in the padded input -p .. n+p-1;
     ceil mode:  windows are added while the one before ends before the padded input does, and
                 none starts in the right padding (o*s - p < n), so the last may hang past.
   max: y = max over the positions inside x (padding is -inf, never chosen);
        dx[the argmax] += dy (values distinct, so the argmax is unique).
   avg: y = (sum over the positions inside x) / N, N = the window's positions inside the padded
        input (count_include_pad), or inside x (exclude_padding); dx[each of those] += dy / N. */

typedef struct {
    int B, C, H, W;
    int kh, kw, sh, sw, ph, pw, dh, dw; /* sh, sw 0: the kernel (PyTorch's default); dh, dw 0: 1 */
    int ceil_mode, exclude;             /* exclude: avg's exclude_padding */
    int ops;                            /* 1 max, 2 avg, 3 both */
    int one_d;                          /* mdl_*_pool1d on x [B,C,W] (then H, kh, sh = 1, ph = 0) */
} pool_case;

static int pool_stride(int s, int k) { return s ? s : k; }
static int pool_dilation(int d) { return d ? d : 1; }

/* The number of windows along an axis, counted one by one (see above). */
static int ref_windows(int n, int k, int s, int p, int d, int ceil_mode) {
    const int reach = d * (k - 1), last = n + 2 * p - 1; /* padded coordinates, from 0 */
    int o;
    for (o = 0;; o++) {
        int more = ceil_mode ? (o - 1) * s + reach < last && o * s - p < n : o * s + reach <= last;
        if (!more) return o;
    }
}

/* The call's options for a case: the scalar fields when both axes agree (always in 1-D), the
   per-axis pairs otherwise. Returns the kernel argument (0 with kernel_hw). */
static int pool_opts_of(const pool_case *pc, mdl_pool_opts *o) {
    memset(o, 0, sizeof *o);
    o->ceil_mode = pc->ceil_mode;
    o->exclude_padding = pc->exclude;
    if (pc->one_d || (pc->kh == pc->kw && pc->sh == pc->sw && pc->ph == pc->pw &&
                      pc->dh == pc->dw)) {
        o->stride = pc->sw, o->padding = pc->pw, o->dilation = pc->dw;
        return pc->kw;
    }
    o->kernel_hw[0] = pc->kh, o->kernel_hw[1] = pc->kw;
    o->stride_hw[0] = pc->sh, o->stride_hw[1] = pc->sw;
    o->padding_hw[0] = pc->ph, o->padding_hw[1] = pc->pw;
    o->dilation_hw[0] = pc->dh, o->dilation_hw[1] = pc->dw;
    return 0;
}

static mdl_tensor *pool_call(mdl_arena *ar, const pool_case *pc, int is_max, mdl_tensor *x) {
    mdl_pool_opts o;
    int k = pool_opts_of(pc, &o);
    if (pc->one_d) return is_max ? mdl_max_pool1d(ar, x, k, &o) : mdl_avg_pool1d(ar, x, k, &o);
    return is_max ? mdl_max_pool2d(ar, x, k, &o) : mdl_avg_pool2d(ar, x, k, &o);
}

/* "mdl_max_pool2d x [2,3,7,5] k3x3 s2x2 p1x1 d1x1 ceil 0 excl 0" */
static void pool_ctx(char *buf, size_t n, const pool_case *pc, int is_max) {
    snprintf(buf, n, "mdl_%s_pool%s x [%d,%d,%d,%d] k%dx%d s%dx%d p%dx%d d%dx%d ceil %d excl %d",
             is_max ? "max" : "avg", pc->one_d ? "1d" : "2d", pc->B, pc->C, pc->H, pc->W, pc->kh,
             pc->kw, pc->sh, pc->sw, pc->ph, pc->pw, pc->dh, pc->dw, pc->ceil_mode, pc->exclude);
}

/* x with distinct values: a shuffled 0..n-1, shifted and scaled (exact in float) */
static void distinct_values(mdl_scalar *x, size_t n, mdl_rng *rng) {
    size_t i;
    for (i = 0; i < n; i++) x[i] = (mdl_scalar)(((double)i - (double)n / 2) / 16.0);
    for (i = n; i > 1; i--) {
        size_t j = mdl_rng_u32(rng) % i;
        mdl_scalar t = x[i - 1];
        x[i - 1] = x[j];
        x[j] = t;
    }
}

/* The reference of one pooling in double: y (and ym, the sum of |terms| for the tolerance), and
   dx (dxm) for dy; the divisor of each output in div (avg), -1 in at (max) when a window has
   no position inside x. */
typedef struct {
    int OH, OW;
    double *y, *ym, *dx, *dxm;
    int *div;
} pool_ref;

static void pool_reference(const pool_case *pc, int is_max, const mdl_scalar *xv,
                           const mdl_scalar *dyv, pool_ref *r) {
    const int sh = pool_stride(pc->sh, pc->kh), sw = pool_stride(pc->sw, pc->kw);
    const int dh = pool_dilation(pc->dh), dw = pool_dilation(pc->dw);
    int bc, oy, ox, i, j;
    for (bc = 0; bc < pc->B * pc->C; bc++)
        for (oy = 0; oy < r->OH; oy++)
            for (ox = 0; ox < r->OW; ox++) {
                const size_t yi = ((size_t)bc * r->OH + oy) * r->OW + ox;
                double best = -HUGE_VAL, sum = 0, mag = 0;
                size_t at = (size_t)-1;
                int in_padded = 0, in_x = 0, n;
                for (i = 0; i < pc->kh; i++)
                    for (j = 0; j < pc->kw; j++) {
                        const int iy = oy * sh - pc->ph + i * dh, ix = ox * sw - pc->pw + j * dw;
                        size_t xi;
                        if (iy < pc->H + pc->ph && ix < pc->W + pc->pw) in_padded++;
                        if (iy < 0 || iy >= pc->H || ix < 0 || ix >= pc->W) continue;
                        in_x++;
                        xi = ((size_t)bc * pc->H + iy) * pc->W + ix;
                        if (xv[xi] > best) best = xv[xi], at = xi;
                        sum += xv[xi];
                        mag += fabs((double)xv[xi]);
                    }
                n = pc->exclude ? in_x : in_padded;
                if (r->div) r->div[yi] = n;
                if (is_max) {
                    r->y[yi] = best, r->ym[yi] = 0; /* a max is exact */
                    if (at != (size_t)-1) {
                        r->dx[at] += dyv[yi];
                        r->dxm[at] += fabs((double)dyv[yi]);
                    }
                    continue;
                }
                r->y[yi] = sum / n, r->ym[yi] = mag / n;
                for (i = 0; i < pc->kh; i++) /* dy / n to each position inside x */
                    for (j = 0; j < pc->kw; j++) {
                        const int iy = oy * sh - pc->ph + i * dh, ix = ox * sw - pc->pw + j * dw;
                        size_t xi;
                        if (iy < 0 || iy >= pc->H || ix < 0 || ix >= pc->W) continue;
                        xi = ((size_t)bc * pc->H + iy) * pc->W + ix;
                        r->dx[xi] += (double)dyv[yi] / n;
                        r->dxm[xi] += fabs((double)dyv[yi]) / n;
                    }
            }
}

/* The shapes of x and y of a case: [B,C,H,W] or in 1-D [B,C,W]; returns the rank. */
static int pool_shapes(const pool_case *pc, int OH, int OW, int *xs, int *ys) {
    xs[0] = ys[0] = pc->B, xs[1] = ys[1] = pc->C;
    if (pc->one_d) {
        xs[2] = pc->W, ys[2] = OW;
        return 3;
    }
    xs[2] = pc->H, xs[3] = pc->W, ys[2] = OH, ys[3] = OW;
    return 4;
}

static void pool_case_run(mdl_arena *ar, const pool_case *pc, int is_max, uint64_t seed) {
    const int sh = pool_stride(pc->sh, pc->kh), sw = pool_stride(pc->sw, pc->kw);
    const int OH = ref_windows(pc->H, pc->kh, sh, pc->ph, pool_dilation(pc->dh), pc->ceil_mode);
    const int OW = ref_windows(pc->W, pc->kw, sw, pc->pw, pool_dilation(pc->dw), pc->ceil_mode);
    const size_t nx = (size_t)pc->B * pc->C * pc->H * pc->W, ny = (size_t)pc->B * pc->C * OH * OW;
    mdl_scalar *xv = (mdl_scalar *)xmalloc(nx * sizeof(mdl_scalar));
    mdl_scalar *dyv = (mdl_scalar *)xmalloc(ny * sizeof(mdl_scalar));
    pool_ref r;
    int xs[4], ys[4], nd, kn;
    char ctx[200];
    mdl_rng rng;
    r.OH = OH, r.OW = OW, r.div = NULL;
    r.y = (double *)xmalloc(ny * sizeof(double));
    r.ym = (double *)xmalloc(ny * sizeof(double));
    r.dx = (double *)xmalloc(nx * sizeof(double));
    r.dxm = (double *)xmalloc(nx * sizeof(double));
    mdl_rng_seed(&rng, seed);
    if (is_max) distinct_values(xv, nx, &rng);
    else fill(xv, nx, &rng, 0);
    fill(dyv, ny, &rng, 0);
    pool_reference(pc, is_max, xv, dyv, &r);
    nd = pool_shapes(pc, OH, OW, xs, ys);
    for (kn = 0; kn < N_KERNELS; kn++) { /* pooling uses no GEMM; run anyway, it is cheap */
        mdl_tensor *x, *out, *dy;
        char c0[160];
        if (!mdl_set_gemm_kernel(kernels[kn])) continue;
        pool_ctx(c0, sizeof c0, pc, is_max);
        snprintf(ctx, sizeof ctx, "%s [kernel %s]", c0, kernels[kn]);
        x = leaf(ar, nd, xs, xv, 1);
        out = pool_call(ar, pc, is_max, x);
        CHECK(out && shape_is(out, nd, ys), "%s: NULL or wrong shape, want %dx%d (%s)", ctx, OH,
              OW, mdl_last_error());
        if (out && shape_is(out, nd, ys)) {
            /* max: exact. avg: the window sum has up to kh*kw terms, then one division. */
            compare(ctx, "y", out->data, r.y, r.ym, ny, (double)pc->kh * pc->kw + 1, is_max);
            if (is_max && kn == 0) { /* x without a gradient: no positions kept, the same y */
                mdl_tensor *x0 = leaf(ar, nd, xs, xv, 0);
                mdl_tensor *y0 = x0 ? pool_call(ar, pc, is_max, x0) : NULL;
                CHECK(y0 && y0->node == NULL &&
                          memcmp(y0->data, out->data, ny * sizeof(mdl_scalar)) == 0,
                      "%s: y of an x without gradient differs from y of one with", ctx);
            }
            dy = mdl_from_array(ar, nd, ys, dyv);
            CHECK(dy && mdl_backward_with(out, dy) == MDL_OK, "%s: backward_with: %s", ctx,
                  mdl_last_error());
            /* each dx element sums at most kh*kw window contributions (and each a quotient) */
            compare(ctx, "dx", x->grad, r.dx, r.dxm, nx, (double)pc->kh * pc->kw + 2, 0);
        }
        mdl_arena_reset(ar);
    }
    mdl_set_gemm_kernel("auto");
    free(xv), free(dyv), free(r.y), free(r.ym), free(r.dx), free(r.dxm);
}

/* At a tie the gradient of an output goes to exactly one of the tied elements: with dy = 1 every
   dx is a whole number (no shares) and dx adds up to the number of outputs (nothing doubled);
   and whatever got gradient holds its window's maximum. A plane of -5 with padding: the padding
   is -inf, so every output is -5, not 0. */
static void test_max_pool_ties(mdl_arena *ar) {
    /* B C H W kh kw sh sw ph pw dh dw ceil excl ops 1-D */
    static const pool_case cases[] = {
        {2, 2, 7, 5, 3, 3, 1, 1, 0, 0, 0, 0, 0, 0, 1, 0},
        {2, 2, 7, 5, 3, 3, 2, 2, 1, 1, 0, 0, 0, 0, 1, 0},
        {1, 3, 6, 6, 2, 2, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0},
        {1, 1, 5, 4, 3, 3, 1, 1, 1, 1, 0, 0, 0, 0, 1, 0},
        {1, 2, 7, 8, 3, 2, 2, 2, 1, 1, 2, 1, 1, 0, 1, 0}, /* dilation, ceil_mode */
    };
    int c;
    for (c = 0; c < (int)(sizeof cases / sizeof cases[0]); c++) {
        const pool_case *pc = &cases[c];
        const int sh = pool_stride(pc->sh, pc->kh), sw = pool_stride(pc->sw, pc->kw);
        const int dh = pool_dilation(pc->dh), dw = pool_dilation(pc->dw);
        const int OH = ref_windows(pc->H, pc->kh, sh, pc->ph, dh, pc->ceil_mode);
        const int OW = ref_windows(pc->W, pc->kw, sw, pc->pw, dw, pc->ceil_mode);
        int xs[4], ys[4], pattern, pass;
        char ctx[160];
        pool_ctx(ctx, sizeof ctx, pc, 1);
        pool_shapes(pc, OH, OW, xs, ys);
        for (pattern = 0; pattern < 2; pattern++) {
            mdl_tensor *x = mdl_zeros(ar, 4, xs), *y, *dy;
            size_t n, i;
            int bad = 0;
            double total = 0;
            if (!x) break;
            n = x->numel;
            /* 0: 2x2 blocks of equal values, few levels (many ties); 1: all -5 */
            for (i = 0; i < n; i++) {
                size_t col = i % (size_t)pc->W, row = i / (size_t)pc->W % (size_t)pc->H;
                x->data[i] = pattern ? (mdl_scalar)-5 : (mdl_scalar)((row / 2 + col / 2) % 2);
            }
            mdl_set_requires_grad(x, 1);
            y = pool_call(ar, pc, 1, x);
            CHECK(y && shape_is(y, 4, ys), "%s ties: NULL or wrong shape", ctx);
            if (!y || !shape_is(y, 4, ys)) {
                mdl_arena_reset(ar);
                continue;
            }
            if (pattern) {
                for (i = 0; i < y->numel; i++)
                    if (y->data[i] != -5) bad++;
                CHECK(bad == 0, "%s of all -5: %d outputs are not -5 (padding must count as "
                      "-inf)", ctx, bad);
                bad = 0;
            }
            dy = mdl_ones(ar, 4, ys);
            CHECK(dy && mdl_backward_with(y, dy) == MDL_OK, "backward_with: %s", mdl_last_error());
            CHECK(x->grad != NULL, "max_pool2d ties: no gradient");
            if (!x->grad) {
                mdl_arena_reset(ar);
                continue;
            }
            for (i = 0; i < n; i++) {
                double g = x->grad[i];
                total += g;
                if (g < 0 || g != floor(g)) bad++;
            }
            CHECK(bad == 0, "%s ties, pattern %d: %d gradients are not whole numbers (a tie "
                  "split)", ctx, pattern, bad);
            CHECK(total == (double)y->numel, "%s ties, pattern %d: dx adds up to %g, want %zu "
                  "(one element per output)", ctx, pattern, total, y->numel);
            /* whatever got gradient is the maximum of a window it is in */
            bad = 0;
            {
                char *is_max = (char *)xmalloc(n);
                int bcq, oy, ox, a, e;
                for (bcq = 0; bcq < pc->B * pc->C; bcq++)
                    for (oy = 0; oy < OH; oy++)
                        for (ox = 0; ox < OW; ox++) {
                            double best = -HUGE_VAL;
                            for (pass = 0; pass < 2; pass++)
                                for (a = 0; a < pc->kh; a++)
                                    for (e = 0; e < pc->kw; e++) {
                                        int iy = oy * sh - pc->ph + a * dh;
                                        int ix = ox * sw - pc->pw + e * dw;
                                        size_t xi;
                                        if (iy < 0 || iy >= pc->H || ix < 0 || ix >= pc->W)
                                            continue;
                                        xi = ((size_t)bcq * pc->H + iy) * pc->W + ix;
                                        if (pass == 0 && x->data[xi] > best) best = x->data[xi];
                                        if (pass == 1 && x->data[xi] == best) is_max[xi] = 1;
                                    }
                        }
                for (i = 0; i < n; i++)
                    if (x->grad[i] > 0 && !is_max[i]) bad++;
                free(is_max);
            }
            CHECK(bad == 0, "%s ties: %d non-maximal elements got gradient", ctx, bad);
            mdl_arena_reset(ar);
        }
    }
}

static void test_pooling(mdl_arena *ar) {
    static const pool_case cases[] = {
        /* B  C  H  W kh kw sh sw ph pw dh dw ceil excl ops 1-D */
        {2, 3, 7, 5, 2, 2, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0},   /* stride = kernel; odd: floor */
        {4, 6, 28, 28, 2, 2, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0}, /* LeNet's pooling */
        {2, 3, 7, 5, 3, 3, 2, 2, 1, 1, 0, 0, 0, 0, 3, 0},   /* kernel 3 stride 2 padding 1 */
        {2, 2, 6, 7, 3, 3, 1, 1, 0, 0, 0, 0, 0, 0, 3, 0},   /* overlapping: gradients add up */
        {1, 2, 5, 5, 3, 3, 1, 1, 1, 1, 0, 0, 0, 0, 3, 0},   /* overlapping, padded */
        {1, 1, 4, 3, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0, 3, 0},
        {2, 1, 9, 11, 4, 4, 3, 3, 2, 2, 0, 0, 0, 0, 3, 0},  /* padding = kernel / 2, the most */
        /* per-axis kernel, stride and padding (the pairs of mdl_pool_opts) */
        {2, 2, 7, 6, 3, 2, 2, 1, 1, 0, 0, 0, 0, 0, 3, 0},
        {1, 2, 5, 9, 1, 4, 0, 0, 0, 2, 0, 0, 0, 0, 3, 0},   /* stride = kernel, per axis */
        /* dilation (max only) */
        {1, 2, 9, 8, 3, 3, 1, 1, 1, 1, 2, 2, 0, 0, 1, 0},
        {2, 1, 10, 9, 3, 2, 2, 1, 0, 1, 3, 1, 0, 0, 1, 0},
        /* ceil_mode: without padding, with padding, dropping a window that would start in the
           padding, one that hangs past the padded edge, with dilation */
        {2, 2, 7, 9, 2, 2, 0, 0, 0, 0, 0, 0, 1, 0, 3, 0},
        {2, 2, 8, 11, 3, 3, 2, 2, 1, 1, 0, 0, 1, 0, 3, 0},
        {1, 2, 5, 6, 2, 2, 3, 3, 1, 1, 0, 0, 1, 0, 3, 0},
        {1, 2, 5, 6, 4, 4, 3, 3, 2, 2, 0, 0, 1, 0, 3, 0},
        {1, 2, 11, 9, 2, 2, 2, 2, 1, 1, 3, 1, 1, 0, 1, 0},
        {2, 2, 8, 10, 2, 2, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0},  /* even: still the 2x2 loop */
        /* exclude_padding (avg only), alone and with ceil_mode and per-axis pairs */
        {2, 2, 9, 8, 3, 3, 2, 2, 1, 1, 0, 0, 0, 1, 2, 0},
        {2, 2, 8, 11, 3, 3, 2, 2, 1, 1, 0, 0, 1, 1, 2, 0},
        {1, 2, 5, 6, 4, 4, 3, 3, 2, 2, 0, 0, 1, 1, 2, 0},
        {2, 2, 6, 9, 2, 4, 1, 3, 1, 2, 0, 0, 1, 1, 2, 0},
        /* 1-D: x [B,C,L] */
        {2, 3, 1, 13, 1, 3, 1, 2, 0, 1, 1, 0, 1, 0, 3, 1},
        {2, 3, 1, 12, 1, 2, 1, 1, 0, 0, 1, 3, 0, 0, 1, 1},
        {2, 3, 1, 14, 1, 3, 1, 0, 0, 0, 1, 0, 0, 0, 3, 1},
        {2, 3, 1, 11, 1, 4, 1, 3, 0, 2, 1, 0, 1, 1, 2, 1},
        {2, 3, 1, 16, 1, 2, 1, 0, 0, 0, 1, 0, 0, 0, 3, 1},
    };
    int c, is_max;
    for (is_max = 0; is_max < 2; is_max++)
        for (c = 0; c < (int)(sizeof cases / sizeof cases[0]); c++)
            if (cases[c].ops & (is_max ? 1 : 2))
                pool_case_run(ar, &cases[c], is_max, 3000 + (uint64_t)(c * 2 + is_max));
    test_max_pool_ties(ar);
}

/* Average pooling of ones: each output is (pixels of x in the window) / N, two small whole
   numbers and one division, computed here in float as the library must: equal to the bit, so
   a divisor off by one anywhere fails. Every padding up to half the kernel, with and without
   ceil_mode and exclude_padding, on sizes where ceil_mode adds windows that hang past the
   padded edge. The gradient of sum(y) is checked too: each pixel gets 1/N from each window. */
static void test_avg_pool_divisors(mdl_arena *ar) {
    static const int geo[][5] = {/* H W kh kw s */
                                 {5, 6, 4, 3, 3}, {7, 4, 3, 3, 2}, {4, 9, 2, 4, 3},
                                 {6, 5, 5, 2, 4}, {3, 3, 2, 2, 2}};
    int g, ph, pw, ceil_mode, exclude, bad = 0, runs = 0;
    for (g = 0; g < (int)(sizeof geo / sizeof geo[0]); g++)
        for (ph = 0; 2 * ph <= geo[g][2]; ph++)
            for (pw = 0; 2 * pw <= geo[g][3]; pw++)
                for (ceil_mode = 0; ceil_mode < 2; ceil_mode++)
                    for (exclude = 0; exclude < 2; exclude++) {
                        pool_case pc;
                        pool_ref r;
                        int xs[4], ys[4];
                        size_t nx, ny, i;
                        mdl_scalar *ones, *dyv;
                        mdl_tensor *x, *y;
                        char ctx[160];
                        memset(&pc, 0, sizeof pc);
                        pc.B = 1, pc.C = 2, pc.H = geo[g][0], pc.W = geo[g][1];
                        pc.kh = geo[g][2], pc.kw = geo[g][3], pc.sh = pc.sw = geo[g][4];
                        pc.ph = ph, pc.pw = pw, pc.ceil_mode = ceil_mode, pc.exclude = exclude;
                        pc.ops = 2;
                        r.OH = ref_windows(pc.H, pc.kh, pc.sh, ph, 1, ceil_mode);
                        r.OW = ref_windows(pc.W, pc.kw, pc.sw, pw, 1, ceil_mode);
                        if (r.OH < 1 || r.OW < 1) continue;
                        pool_ctx(ctx, sizeof ctx, &pc, 0);
                        nx = (size_t)pc.C * pc.H * pc.W, ny = (size_t)pc.C * r.OH * r.OW;
                        ones = (mdl_scalar *)xmalloc(nx * sizeof(mdl_scalar));
                        dyv = (mdl_scalar *)xmalloc(ny * sizeof(mdl_scalar));
                        for (i = 0; i < nx; i++) ones[i] = 1;
                        for (i = 0; i < ny; i++) dyv[i] = 1;
                        r.y = (double *)xmalloc(ny * sizeof(double));
                        r.ym = (double *)xmalloc(ny * sizeof(double));
                        r.dx = (double *)xmalloc(nx * sizeof(double));
                        r.dxm = (double *)xmalloc(nx * sizeof(double));
                        r.div = (int *)xmalloc(ny * sizeof(int));
                        pool_reference(&pc, 0, ones, dyv, &r);
                        pool_shapes(&pc, r.OH, r.OW, xs, ys);
                        x = leaf(ar, 4, xs, ones, 1);
                        y = pool_call(ar, &pc, 0, x);
                        CHECK(y && shape_is(y, 4, ys), "%s: NULL or wrong shape, want %dx%d",
                              ctx, r.OH, r.OW);
                        if (y && shape_is(y, 4, ys)) {
                            for (i = 0; i < ny; i++) { /* r.y * N: the pixels in the window */
                                mdl_scalar want = (mdl_scalar)(int)(r.y[i] * r.div[i] + 0.5) /
                                                  (mdl_scalar)r.div[i];
                                if (y->data[i] != want) {
                                    if (bad < 4)
                                        fprintf(stderr, "  %s: y[%zu] = %.9g, want %.9g "
                                                "(divisor %d)\n", ctx, i, (double)y->data[i],
                                                (double)want, r.div[i]);
                                    bad++;
                                }
                            }
                            mdl_backward(mdl_sum(ar, y, MDL_ALL, 0));
                            compare(ctx, "dx of sum(y)", x->grad, r.dx, r.dxm, nx,
                                    (double)pc.kh * pc.kw + 2, 0);
                        }
                        runs++;
                        free(ones), free(dyv), free(r.y), free(r.ym), free(r.dx), free(r.dxm);
                        free(r.div);
                        mdl_arena_reset(ar);
                    }
    CHECK(bad == 0, "avg pooling of ones: %d outputs with a wrong divisor", bad);
    CHECK(runs > 100, "avg pooling divisors: only %d runs", runs);
}

/* Values PyTorch 1.13 gives (F.avg_pool2d, F.avg_pool1d, F.max_pool1d, recomputed by hand in
   the comments), and the output sizes of the examples in PyTorch's documentation. */
static void test_pool_pytorch_values(mdl_arena *ar) {
    /* avg_pool2d(ones [1,1,5,6], (4,3), stride (3,2), padding (2,1), ceil_mode=True): rows
       windows from -2, 1, 4 hold 2, 4, 1 pixels of 4, 4, 3 in the padded input (the last cut
       at 5 + 2), columns from -1, 1, 3, 5 hold 2, 3, 3, 1 of 3, 3, 3, 2 */
    static const double include[12] = {1 / 3., 1 / 2., 1 / 2., 1 / 4., 2 / 3., 1, 1, 1 / 2.,
                                       2 / 9., 1 / 3., 1 / 3., 1 / 6.};
    static const mdl_scalar seven[7] = {1, 2, 3, 4, 5, 6, 7};
    int s4[4] = {1, 1, 5, 6}, s3[3] = {1, 1, 7}, i, bad = 0;
    mdl_pool_opts o;
    mdl_tensor *x, *y, *z;
    memset(&o, 0, sizeof o);
    o.kernel_hw[0] = 4, o.kernel_hw[1] = 3;
    o.stride_hw[0] = 3, o.stride_hw[1] = 2;
    o.padding_hw[0] = 2, o.padding_hw[1] = 1;
    o.ceil_mode = 1;
    x = mdl_ones(ar, 4, s4);
    y = mdl_avg_pool2d(ar, x, 0, &o);
    o.exclude_padding = 1;
    z = mdl_avg_pool2d(ar, x, 0, &o);
    CHECK(y && z && y->shape[2] == 3 && y->shape[3] == 4 && z->numel == 12,
          "avg_pool2d ceil_mode [1,1,5,6] -> [1,1,3,4]");
    if (y && z && y->numel == 12 && z->numel == 12)
        for (i = 0; i < 12; i++) {
            if (y->data[i] != (mdl_scalar)include[i]) bad++;
            if (z->data[i] != 1) bad++; /* exclude_padding: a mean of ones */
        }
    CHECK(bad == 0, "avg_pool2d ceil_mode with padding: %d values differ from PyTorch's", bad);

    /* x = 1..7 at positions 0..6: avg_pool1d(x, 3, stride 2) = 2, 4, 6 (PyTorch's AvgPool1d
       example); max_pool1d(x, 3, 2, padding 1, ceil_mode=True) = 2, 4, 6, 7 (the last window,
       6..8, holds x[6] alone); avg_pool1d(x, 4, 3, padding 2, ceil_mode=True): windows -2..1,
       1..4, 4..7 (all inside the padded -2..8) sum 3, 14, 18, over 4 each, or with
       exclude_padding over 2, 4, 3 */
    x = mdl_from_array(ar, 3, s3, seven);
    memset(&o, 0, sizeof o);
    o.stride = 2;
    y = mdl_avg_pool1d(ar, x, 3, &o);
    CHECK(y && y->ndim == 3 && y->shape[2] == 3 && y->data[0] == 2 && y->data[1] == 4 &&
              y->data[2] == 6, "avg_pool1d(1..7, 3, stride 2) must be 2, 4, 6");
    o.padding = 1, o.ceil_mode = 1;
    y = mdl_max_pool1d(ar, x, 3, &o);
    CHECK(y && y->shape[2] == 4 && y->data[0] == 2 && y->data[1] == 4 && y->data[2] == 6 &&
              y->data[3] == 7, "max_pool1d(1..7, 3, 2, padding 1, ceil_mode) must be 2, 4, 6, 7");
    o.stride = 3, o.padding = 2;
    y = mdl_avg_pool1d(ar, x, 4, &o);
    o.exclude_padding = 1;
    z = mdl_avg_pool1d(ar, x, 4, &o);
    CHECK(y && z && y->shape[2] == 3 && z->shape[2] == 3 && y->data[0] == 0.75f &&
              y->data[1] == 3.5f && y->data[2] == 4.5f && z->data[0] == 1.5f &&
              z->data[1] == 3.5f && z->data[2] == 6,
          "avg_pool1d(1..7, 4, 3, padding 2, ceil_mode): 0.75 3.5 4.5, excluding padding "
          "1.5 3.5 6");

    /* the documentation's examples: shapes only */
    {
        int s2d[4] = {20, 16, 50, 32}, s1d[3] = {20, 16, 50}, sa[4] = {1, 64, 8, 9};
        int sb[4] = {1, 64, 10, 9}, is_max;
        mdl_tensor *big = mdl_zeros(ar, 4, s2d), *seq = mdl_zeros(ar, 3, s1d);
        for (is_max = 0; is_max < 2; is_max++) {
            const char *name = is_max ? "MaxPool2d" : "AvgPool2d";
            memset(&o, 0, sizeof o);
            o.stride = 2; /* nn.MaxPool2d(3, stride=2): [20,16,24,15] */
            y = is_max ? mdl_max_pool2d(ar, big, 3, &o) : mdl_avg_pool2d(ar, big, 3, &o);
            CHECK(y && y->shape[0] == 20 && y->shape[1] == 16 && y->shape[2] == 24 &&
                      y->shape[3] == 15, "%s(3, stride=2) of [20,16,50,32] must be [20,16,24,15]",
                  name);
            memset(&o, 0, sizeof o); /* nn.MaxPool2d((3, 2), stride=(2, 1)): [20,16,24,31] */
            o.kernel_hw[0] = 3, o.kernel_hw[1] = 2, o.stride_hw[0] = 2, o.stride_hw[1] = 1;
            y = is_max ? mdl_max_pool2d(ar, big, 0, &o) : mdl_avg_pool2d(ar, big, 0, &o);
            CHECK(y && y->shape[2] == 24 && y->shape[3] == 31,
                  "%s((3, 2), stride=(2, 1)) of [20,16,50,32] must be [20,16,24,31]", name);
        }
        memset(&o, 0, sizeof o); /* nn.MaxPool1d(3, stride=2) of [20,16,50]: [20,16,24] */
        o.stride = 2;
        y = mdl_max_pool1d(ar, seq, 3, &o);
        CHECK(y && y->ndim == 3 && y->shape[0] == 20 && y->shape[1] == 16 && y->shape[2] == 24,
              "MaxPool1d(3, stride=2) of [20,16,50] must be [20,16,24]");
        y = mdl_adaptive_avg_pool2d(ar, mdl_zeros(ar, 4, sa), 5, 7);
        CHECK(y && y->shape[1] == 64 && y->shape[2] == 5 && y->shape[3] == 7,
              "AdaptiveAvgPool2d((5, 7)) of [1,64,8,9] must be [1,64,5,7]");
        y = mdl_adaptive_avg_pool2d(ar, mdl_zeros(ar, 4, sb), 7, 7);
        CHECK(y && y->shape[2] == 7 && y->shape[3] == 7,
              "AdaptiveAvgPool2d(7) of [1,64,10,9] must be [1,64,7,7]");
    }
    mdl_arena_reset(ar);
}

/* Max pooling whose window has no pixel of x, which only dilation can make (x of length 1,
   kernel 2, padding 1, dilation 2 reads positions -1 and 1): -inf, as PyTorch, and no
   gradient anywhere. */
static void test_max_pool_empty_window(mdl_arena *ar) {
    static const mdl_scalar v[2] = {5, 7};
    int s[3] = {1, 2, 1};
    mdl_pool_opts o;
    mdl_tensor *x = mdl_from_array(ar, 3, s, v), *y, *dy = mdl_ones(ar, 3, s);
    memset(&o, 0, sizeof o);
    o.stride = 1, o.padding = 1, o.dilation = 2;
    mdl_set_requires_grad(x, 1);
    y = mdl_max_pool1d(ar, x, 2, &o);
    CHECK(y && y->numel == 2 && isinf(y->data[0]) && y->data[0] < 0 && isinf(y->data[1]),
          "max_pool1d of a window outside x must give -inf");
    CHECK(y && dy && mdl_backward_with(y, dy) == MDL_OK, "backward_with: %s", mdl_last_error());
    CHECK(x->grad && x->grad[0] == 0 && x->grad[1] == 0,
          "max_pool1d: a window outside x passes no gradient");
    mdl_arena_reset(ar);
}

/* Adaptive average pooling against windows read one by one (floor(i H / OH) .. ceil((i + 1) H
   / OH) - 1, computed here with doubles), forward and backward; and when the sizes divide, the
   same values as avg_pool2d with kernel = stride = H / OH, to the bit. */
static void test_adaptive_pool(mdl_arena *ar) {
    static const int cases[][6] = {/* B C H W OH OW */
                                   {2, 3, 8, 9, 5, 7}, {1, 2, 10, 9, 7, 7}, {2, 2, 12, 8, 3, 4},
                                   {2, 3, 7, 5, 1, 1}, {1, 2, 3, 4, 5, 6}, {3, 1, 6, 6, 4, 6},
                                   {1, 1, 1, 9, 1, 2}};
    int c;
    for (c = 0; c < (int)(sizeof cases / sizeof cases[0]); c++) {
        const int B = cases[c][0], C = cases[c][1], H = cases[c][2], W = cases[c][3];
        const int OH = cases[c][4], OW = cases[c][5];
        const size_t nx = (size_t)B * C * H * W, ny = (size_t)B * C * OH * OW;
        mdl_scalar *xv = (mdl_scalar *)xmalloc(nx * sizeof(mdl_scalar));
        mdl_scalar *dyv = (mdl_scalar *)xmalloc(ny * sizeof(mdl_scalar));
        double *y = (double *)xmalloc(ny * sizeof(double));
        double *ym = (double *)xmalloc(ny * sizeof(double));
        double *dx = (double *)xmalloc(nx * sizeof(double));
        double *dxm = (double *)xmalloc(nx * sizeof(double));
        int xs[4], ys[4], bc, oy, ox, iy, ix, most = 0;
        char ctx[120];
        mdl_rng rng;
        mdl_tensor *x, *out, *dy;
        mdl_rng_seed(&rng, 5000 + (uint64_t)c);
        fill(xv, nx, &rng, 0);
        fill(dyv, ny, &rng, 0);
        for (bc = 0; bc < B * C; bc++)
            for (oy = 0; oy < OH; oy++)
                for (ox = 0; ox < OW; ox++) {
                    const int y0 = (int)floor((double)oy * H / OH);
                    const int y1 = (int)ceil((double)(oy + 1) * H / OH);
                    const int x0 = (int)floor((double)ox * W / OW);
                    const int x1 = (int)ceil((double)(ox + 1) * W / OW);
                    const int n = (y1 - y0) * (x1 - x0);
                    const size_t yi = ((size_t)bc * OH + oy) * OW + ox;
                    double sum = 0, mag = 0;
                    if (n > most) most = n;
                    for (iy = y0; iy < y1; iy++)
                        for (ix = x0; ix < x1; ix++) {
                            const size_t xi = ((size_t)bc * H + iy) * W + ix;
                            sum += xv[xi], mag += fabs((double)xv[xi]);
                            dx[xi] += (double)dyv[yi] / n;
                            dxm[xi] += fabs((double)dyv[yi]) / n;
                        }
                    y[yi] = sum / n, ym[yi] = mag / n;
                }
        xs[0] = ys[0] = B, xs[1] = ys[1] = C, xs[2] = H, xs[3] = W, ys[2] = OH, ys[3] = OW;
        snprintf(ctx, sizeof ctx, "mdl_adaptive_avg_pool2d [%d,%d,%d,%d] -> %dx%d", B, C, H, W,
                 OH, OW);
        x = leaf(ar, 4, xs, xv, 1);
        out = mdl_adaptive_avg_pool2d(ar, x, OH, OW);
        CHECK(out && shape_is(out, 4, ys), "%s: NULL or wrong shape (%s)", ctx, mdl_last_error());
        if (out && shape_is(out, 4, ys)) {
            compare(ctx, "y", out->data, y, ym, ny, (double)most + 1, 0);
            if (H % OH == 0 && W % OW == 0) { /* avg_pool2d's windows: the same to the bit */
                mdl_pool_opts o;
                mdl_tensor *a;
                memset(&o, 0, sizeof o);
                o.kernel_hw[0] = H / OH, o.kernel_hw[1] = W / OW;
                a = mdl_avg_pool2d(ar, leaf(ar, 4, xs, xv, 0), 0, &o);
                CHECK(a && a->numel == ny && memcmp(a->data, out->data, ny * sizeof *a->data) == 0,
                      "%s: differs from avg_pool2d with kernel %dx%d", ctx, H / OH, W / OW);
            }
            dy = mdl_from_array(ar, 4, ys, dyv);
            CHECK(dy && mdl_backward_with(out, dy) == MDL_OK, "%s: backward: %s", ctx,
                  mdl_last_error());
            compare(ctx, "dx", x->grad, dx, dxm, nx, (double)most + 2, 0);
        }
        mdl_arena_reset(ar);
        free(xv), free(dyv), free(y), free(ym), free(dx), free(dxm);
    }
}

/* ---- contract errors ---- */

/* The last call failed with `code`, once, and its message holds fn and (if not NULL) s1, s2. */
static void expect_error(const char *what, const mdl_tensor *got, int code, const char *fn,
                         const char *s1, const char *s2) {
    CHECK(got == NULL, "%s: did not return NULL", what);
    CHECK(captured_count == 1 && captured_code == code, "%s: %d errors, last %s, want one %s",
          what, captured_count, mdl_error_name((mdl_error)captured_code),
          mdl_error_name((mdl_error)code));
    CHECK(strstr(captured_message, fn) != NULL, "%s: message does not name %s: '%s'", what, fn,
          captured_message);
    if (s1)
        CHECK(strstr(captured_message, s1) != NULL, "%s: message does not show %s: '%s'", what,
              s1, captured_message);
    if (s2)
        CHECK(strstr(captured_message, s2) != NULL, "%s: message does not show %s: '%s'", what,
              s2, captured_message);
    capture_errors();
}

static void test_errors(mdl_arena *ar) {
    mdl_conv_opts pair_opts; /* per-axis padding, which conv1d has no use for */
    int sx[4] = {4, 6, 14, 14}, sw[4] = {16, 6, 5, 5}, sb[1] = {16};
    int sw3[3] = {16, 6, 5}, sx3[3] = {4, 6, 14}, swc[4] = {16, 5, 5, 5}, swg[4] = {16, 2, 5, 5};
    int swg4[4] = {16, 1, 5, 5}, sb15[1] = {15}, sb2[2] = {16, 1}, swbig[4] = {16, 6, 15, 15};
    int s1x[3] = {4, 6, 14}, s1w[3] = {8, 6, 3}, s1wc[3] = {8, 4, 3}, s1w4[4] = {8, 6, 1, 3};
    int sp[4] = {1, 1, 3, 3};
    mdl_tensor *x = mdl_zeros(ar, 4, sx), *w = mdl_zeros(ar, 4, sw), *b = mdl_zeros(ar, 1, sb);
    mdl_tensor *w3 = mdl_zeros(ar, 3, sw3), *x3 = mdl_zeros(ar, 3, sx3);
    mdl_tensor *wc = mdl_zeros(ar, 4, swc);
    mdl_tensor *wg = mdl_zeros(ar, 4, swg), *wg4 = mdl_zeros(ar, 4, swg4);
    mdl_tensor *b15 = mdl_zeros(ar, 1, sb15), *b2 = mdl_zeros(ar, 2, sb2);
    mdl_tensor *wbig = mdl_zeros(ar, 4, swbig), *x1 = mdl_zeros(ar, 3, s1x);
    mdl_tensor *w1 = mdl_zeros(ar, 3, s1w), *w1c = mdl_zeros(ar, 3, s1wc);
    mdl_tensor *w14 = mdl_zeros(ar, 4, s1w4);
    mdl_tensor *xp = mdl_zeros(ar, 4, sp);
    CHECK(x && w && b && w3 && x3 && wc && wg && wg4 && b15 && b2 && wbig && x1 && w1 && w1c &&
              w14 && xp,
          "zeros");
    if (!(x && w && b && w3 && x3 && wc && wg && wg4 && b15 && b2 && wbig && x1 && w1 && w1c &&
          w14 && xp))
        return;
    memset(&pair_opts, 0, sizeof pair_opts);
    pair_opts.padding_hw[0] = 1;

    /* the valid call first: these tensors are fine together */
    capture_errors();
    CHECK(mdl_conv2d(ar, x, w, b, NULL) != NULL && captured_count == 0, "valid conv2d: %s",
          captured_message);

    capture_errors();
    expect_error("conv2d w rank 3", mdl_conv2d(ar, x, w3, b, NULL), MDL_ERR_SHAPE,
                 "mdl_conv2d", "[4,6,14,14]", "[16,6,5]");
    expect_error("conv2d x rank 3", mdl_conv2d(ar, x3, w, b, NULL), MDL_ERR_SHAPE,
                 "mdl_conv2d", "[4,6,14]", "[16,6,5,5]");
    expect_error("conv2d channel mismatch", mdl_conv2d(ar, x, wc, b, NULL), MDL_ERR_SHAPE,
                 "mdl_conv2d", "[4,6,14,14]", "[16,5,5,5]");
    /* groups 2 wants w.shape[1] = 3: 6 is the mismatch of forgetting the groups */
    expect_error("conv2d groups 2 with w [16,6,5,5]",
                 mdl_conv2d(ar, x, w, b, conv_opts(1, 0, 1, 2)),
                 MDL_ERR_SHAPE, "mdl_conv2d", "[4,6,14,14]", "[16,6,5,5]");
    expect_error("conv2d groups 4 does not divide C 6",
                 mdl_conv2d(ar, x, wg4, b, conv_opts(1, 0, 1, 4)),
                 MDL_ERR_SHAPE, "mdl_conv2d", "[4,6,14,14]", "[16,1,5,5]");
    expect_error("conv2d groups 3 does not divide O 16",
                 mdl_conv2d(ar, x, wg, b, conv_opts(1, 0, 1, 3)),
                 MDL_ERR_SHAPE, "mdl_conv2d", "[4,6,14,14]", "[16,2,5,5]");
    expect_error("conv2d bias [15]", mdl_conv2d(ar, x, w, b15, NULL), MDL_ERR_SHAPE,
                 "mdl_conv2d", "[15]", NULL);
    expect_error("conv2d bias [16,1]", mdl_conv2d(ar, x, w, b2, NULL), MDL_ERR_SHAPE,
                 "mdl_conv2d", "[16,1]", NULL);
    /* 0 in an option is PyTorch's default, not an error */
    {
        mdl_tensor *y0 = mdl_conv2d(ar, x, w, b, conv_opts(0, 0, 0, 0));
        mdl_tensor *y1 = mdl_conv2d(ar, x, w, b, NULL);
        mdl_tensor *yn = mdl_conv2d(ar, x, w, b, NULL);
        CHECK(y0 && y1 && yn && captured_count == 0 && y0->numel == y1->numel &&
                  yn->numel == y1->numel &&
                  memcmp(y0->data, y1->data, y1->numel * sizeof *y1->data) == 0 &&
                  memcmp(yn->data, y1->data, y1->numel * sizeof *y1->data) == 0,
              "conv2d with zeroed options or NULL must equal stride 1, dilation 1, groups 1: %s",
              captured_message);
    }
    expect_error("conv1d given padding_hw", mdl_conv1d(ar, x1, w1, NULL, &pair_opts), MDL_ERR_ARG,
                 "mdl_conv1d", "padding_hw", NULL);
    expect_error("conv2d stride -1", mdl_conv2d(ar, x, w, b, conv_opts(-1, 0, 1, 1)), MDL_ERR_ARG,
                 "mdl_conv2d", NULL, NULL);
    expect_error("conv2d padding -1", mdl_conv2d(ar, x, w, b, conv_opts(1, -1, 1, 1)), MDL_ERR_ARG,
                 "mdl_conv2d", NULL, NULL);
    expect_error("conv2d dilation -1", mdl_conv2d(ar, x, w, b, conv_opts(1, 0, -1, 1)),
                 MDL_ERR_ARG, "mdl_conv2d", NULL, NULL);
    expect_error("conv2d groups -2", mdl_conv2d(ar, x, w, b, conv_opts(1, 0, 1, -2)), MDL_ERR_ARG,
                 "mdl_conv2d", NULL, NULL);
    expect_error("conv2d kernel 15 > input 14", mdl_conv2d(ar, x, wbig, b, NULL),
                 MDL_ERR_SHAPE, "mdl_conv2d", "[4,6,14,14]", "[16,6,15,15]");
    /* dilation 4 makes the 5x5 kernel span 17 > 14 */
    expect_error("conv2d dilated kernel 17 > input 14",
                 mdl_conv2d(ar, x, w, b, conv_opts(1, 0, 4, 1)),
                 MDL_ERR_SHAPE, "mdl_conv2d", "[4,6,14,14]", "[16,6,5,5]");
    /* with padding 1 the 15x15 kernel fits the 16x16 padded input: no error */
    CHECK(mdl_conv2d(ar, x, wbig, b, conv_opts(1, 1, 1, 1)) != NULL && captured_count == 0,
          "conv2d 15x15 kernel on 14x14 input with padding 1 must work: %s", captured_message);
    capture_errors();

    expect_error("conv1d x rank 4", mdl_conv1d(ar, x, w1, NULL, NULL), MDL_ERR_SHAPE,
                 "mdl_conv1d", "[4,6,14,14]", "[8,6,3]");
    expect_error("conv1d w rank 4", mdl_conv1d(ar, x1, w14, NULL, NULL), MDL_ERR_SHAPE,
                 "mdl_conv1d", "[4,6,14]", "[8,6,1,3]");
    expect_error("conv1d channel mismatch", mdl_conv1d(ar, x1, w1c, NULL, NULL),
                 MDL_ERR_SHAPE, "mdl_conv1d", "[4,6,14]", "[8,4,3]");
    expect_error("conv1d stride -3", mdl_conv1d(ar, x1, w1, NULL, conv_opts(-3, 0, 1, 1)),
                 MDL_ERR_ARG, "mdl_conv1d", NULL, NULL);
    expect_error("conv1d padding -2", mdl_conv1d(ar, x1, w1, NULL, conv_opts(1, -2, 1, 1)),
                 MDL_ERR_ARG,
                 "mdl_conv1d", NULL, NULL);
    expect_error("conv1d bias [15]", mdl_conv1d(ar, x1, w1, b15, NULL), MDL_ERR_SHAPE,
                 "mdl_conv1d", "[15]", NULL);

    expect_error("max_pool2d x rank 3", mdl_max_pool2d(ar, x3, 2, NULL), MDL_ERR_SHAPE,
                 "mdl_max_pool2d", "[4,6,14]", NULL);
    expect_error("avg_pool2d x rank 3", mdl_avg_pool2d(ar, x3, 2, NULL), MDL_ERR_SHAPE,
                 "mdl_avg_pool2d", "[4,6,14]", NULL);
    expect_error("max_pool1d x rank 4", mdl_max_pool1d(ar, x, 2, NULL), MDL_ERR_SHAPE,
                 "mdl_max_pool1d", "[4,6,14,14]", "[B,C,L]");
    expect_error("avg_pool1d x rank 4", mdl_avg_pool1d(ar, x, 2, NULL), MDL_ERR_SHAPE,
                 "mdl_avg_pool1d", "[4,6,14,14]", "[B,C,L]");
    expect_error("max_pool2d padding 2 > kernel 3 / 2",
                 mdl_max_pool2d(ar, x, 3, pool_opts(1, 2, 0, 0, 0)), MDL_ERR_ARG,
                 "mdl_max_pool2d", "padding 2,2", "half the kernel");
    expect_error("avg_pool2d padding 2 > kernel 3 / 2",
                 mdl_avg_pool2d(ar, x, 3, pool_opts(1, 2, 0, 0, 0)), MDL_ERR_ARG,
                 "mdl_avg_pool2d", "padding 2,2", "half the kernel");
    expect_error("avg_pool1d padding 3 > kernel 5 / 2",
                 mdl_avg_pool1d(ar, x1, 5, pool_opts(0, 3, 0, 0, 0)), MDL_ERR_ARG,
                 "mdl_avg_pool1d", "kernel 5, stride 5, padding 3", NULL);
    /* negative values: the message names the op and every setting */
    expect_error("max_pool2d padding -1", mdl_max_pool2d(ar, x, 2, pool_opts(0, -1, 0, 0, 0)),
                 MDL_ERR_ARG, "mdl_max_pool2d",
                 "kernel 2,2, stride 2,2, padding -1,-1, dilation 1,1, ceil_mode 0, "
                 "exclude_padding 0", "negative");
    expect_error("avg_pool2d stride -1", mdl_avg_pool2d(ar, x, 2, pool_opts(-1, 0, 0, 0, 0)),
                 MDL_ERR_ARG, "mdl_avg_pool2d", "stride -1,-1", "negative");
    expect_error("max_pool2d dilation -2", mdl_max_pool2d(ar, x, 3, pool_opts(1, 0, -2, 0, 0)),
                 MDL_ERR_ARG, "mdl_max_pool2d", "dilation -2,-2", "negative");
    expect_error("max_pool2d ceil_mode -1", mdl_max_pool2d(ar, x, 3, pool_opts(0, 0, 0, -1, 0)),
                 MDL_ERR_ARG, "mdl_max_pool2d", "ceil_mode -1", "negative");
    expect_error("avg_pool2d exclude_padding -1",
                 mdl_avg_pool2d(ar, x, 3, pool_opts(0, 0, 0, 0, -1)), MDL_ERR_ARG,
                 "mdl_avg_pool2d", "exclude_padding -1", "negative");
    expect_error("max_pool2d kernel -3", mdl_max_pool2d(ar, x, -3, NULL), MDL_ERR_ARG,
                 "mdl_max_pool2d", "kernel -3,-3", "negative");
    expect_error("max_pool1d stride -2", mdl_max_pool1d(ar, x1, 3, pool_opts(-2, 0, 0, 0, 0)),
                 MDL_ERR_ARG, "mdl_max_pool1d",
                 "kernel 3, stride -2, padding 0, dilation 1, ceil_mode 0, exclude_padding 0",
                 "negative");
    {
        mdl_pool_opts o;
        memset(&o, 0, sizeof o); /* a negative value in a pair */
        o.kernel_hw[0] = 3, o.kernel_hw[1] = 2, o.padding_hw[1] = -1;
        expect_error("max_pool2d padding_hw 0,-1", mdl_max_pool2d(ar, x, 0, &o), MDL_ERR_ARG,
                     "mdl_max_pool2d", "kernel 3,2, stride 3,2, padding 0,-1", "negative");
        memset(&o, 0, sizeof o); /* padding over half the kernel along W only */
        o.kernel_hw[0] = 3, o.kernel_hw[1] = 2, o.padding_hw[1] = 2;
        expect_error("avg_pool2d padding_hw 0,2 with kernel_hw 3,2", mdl_avg_pool2d(ar, x, 0, &o),
                     MDL_ERR_ARG, "mdl_avg_pool2d", "padding 0,2", "half the kernel");
        memset(&o, 0, sizeof o); /* the window given twice */
        o.kernel_hw[0] = 3, o.kernel_hw[1] = 2;
        expect_error("max_pool2d kernel 2 and kernel_hw 3,2", mdl_max_pool2d(ar, x, 2, &o),
                     MDL_ERR_ARG, "mdl_max_pool2d", "kernel_hw 3,2", NULL);
        o.kernel_hw[0] = 0; /* half a pair */
        expect_error("max_pool2d kernel_hw 0,2", mdl_max_pool2d(ar, x, 0, &o), MDL_ERR_ARG,
                     "mdl_max_pool2d", "kernel 0,2", "at least 1");
        memset(&o, 0, sizeof o); /* per-axis pairs in 1-D */
        o.stride_hw[1] = 2;
        expect_error("max_pool1d given stride_hw", mdl_max_pool1d(ar, x1, 2, &o), MDL_ERR_ARG,
                     "mdl_max_pool1d", "stride_hw", NULL);
        memset(&o, 0, sizeof o);
        o.kernel_hw[0] = 2, o.kernel_hw[1] = 2;
        expect_error("avg_pool1d given kernel_hw", mdl_avg_pool1d(ar, x1, 0, &o), MDL_ERR_ARG,
                     "mdl_avg_pool1d", "kernel_hw", NULL);
        memset(&o, 0, sizeof o); /* dilation for avg: PyTorch's avg pooling has none */
        o.dilation_hw[0] = 2;
        expect_error("avg_pool2d dilation_hw 2,0", mdl_avg_pool2d(ar, x, 2, &o), MDL_ERR_ARG,
                     "mdl_avg_pool2d", "dilation 2,1", "max pooling");
    }
    expect_error("max_pool2d kernel 0 and no kernel_hw", mdl_max_pool2d(ar, x, 0, NULL),
                 MDL_ERR_ARG, "mdl_max_pool2d", "kernel 0,0", "kernel_hw");
    expect_error("max_pool1d kernel 0", mdl_max_pool1d(ar, x1, 0, NULL), MDL_ERR_ARG,
                 "mdl_max_pool1d", "kernel 0", "at least 1");
    expect_error("avg_pool1d dilation 2", mdl_avg_pool1d(ar, x1, 2, pool_opts(0, 0, 2, 0, 0)),
                 MDL_ERR_ARG, "mdl_avg_pool1d", "dilation 2", "max pooling");
    expect_error("max_pool2d exclude_padding", mdl_max_pool2d(ar, x, 2, pool_opts(0, 0, 0, 0, 1)),
                 MDL_ERR_ARG, "mdl_max_pool2d", "exclude_padding 1", "average pooling");
    /* a 6x6 window on a 3x3 input padded by 1 (5x5) does not fit */
    expect_error("max_pool2d window 6 > padded input 5",
                 mdl_max_pool2d(ar, xp, 6, pool_opts(1, 1, 0, 0, 0)), MDL_ERR_SHAPE,
                 "mdl_max_pool2d", "[1,1,3,3]", "kernel 6,6, stride 1,1, padding 1,1");
    expect_error("avg_pool2d window 6 > padded input 5",
                 mdl_avg_pool2d(ar, xp, 6, pool_opts(1, 1, 0, 0, 0)), MDL_ERR_SHAPE,
                 "mdl_avg_pool2d", "[1,1,3,3]", NULL);
    /* dilation 3 makes a 3x3 window span 7 > 5 */
    expect_error("max_pool2d dilated window 7 > padded input 5",
                 mdl_max_pool2d(ar, xp, 3, pool_opts(1, 1, 3, 0, 0)), MDL_ERR_SHAPE,
                 "mdl_max_pool2d", "[1,1,3,3]", "dilation 3,3");
    expect_error("max_pool1d window 17 > input 14", mdl_max_pool1d(ar, x1, 17, NULL),
                 MDL_ERR_SHAPE, "mdl_max_pool1d", "[4,6,14]", "kernel 17");
    /* ... a 5x5 window fits it exactly: one output; and in ceil_mode a 4x4 window with stride
       2 fits the 3x3 input without padding: it starts inside x and may hang past (PyTorch
       gives one output), where floor mode has no room for it */
    {
        mdl_tensor *y = mdl_max_pool2d(ar, xp, 5, pool_opts(1, 1, 0, 0, 0));
        mdl_tensor *yc = mdl_avg_pool2d(ar, xp, 4, pool_opts(2, 0, 0, 1, 0));
        CHECK(y && y->numel == 1 && yc && yc->numel == 1 && captured_count == 0,
              "max_pool2d 5x5 window on 3x3 padded by 1, avg 4x4 ceil_mode on 3x3: one output "
              "each: %s", captured_message);
    }
    expect_error("avg_pool2d 4x4 window on 3x3, floor mode",
                 mdl_avg_pool2d(ar, xp, 4, pool_opts(2, 0, 0, 0, 0)), MDL_ERR_SHAPE,
                 "mdl_avg_pool2d", "[1,1,3,3]", "ceil_mode 0");
    expect_error("avg_pool2d 4x4 window on 3x3, ceil_mode, stride 1",
                 mdl_avg_pool2d(ar, xp, 4, pool_opts(1, 0, 0, 1, 0)), MDL_ERR_SHAPE,
                 "mdl_avg_pool2d", "[1,1,3,3]", "ceil_mode 1");
    /* adaptive pooling */
    expect_error("adaptive_avg_pool2d x rank 3", mdl_adaptive_avg_pool2d(ar, x3, 2, 2),
                 MDL_ERR_SHAPE, "mdl_adaptive_avg_pool2d", "[4,6,14]", NULL);
    expect_error("adaptive_avg_pool2d out 0x2", mdl_adaptive_avg_pool2d(ar, x, 0, 2),
                 MDL_ERR_ARG, "mdl_adaptive_avg_pool2d", "out_h 0, out_w 2", NULL);
    expect_error("adaptive_avg_pool2d out 3x-1", mdl_adaptive_avg_pool2d(ar, x, 3, -1),
                 MDL_ERR_ARG, "mdl_adaptive_avg_pool2d", "out_w -1", NULL);
    capture_errors();
    mdl_arena_reset(ar);
}

/* Max pooling and NaN: a NaN in a window makes that output NaN (as PyTorch), windows without
   one are unaffected, and the gradient of a NaN output goes to the NaN pixel, only there. */
static void test_pool_nan(mdl_arena *ar) {
    int shape[4] = {1, 1, 4, 4}, i;
    mdl_scalar v[16], total = 0;
    mdl_tensor *x, *y;
    for (i = 0; i < 16; i++) v[i] = (mdl_scalar)i; /* the max of each 2x2 window: its last pixel */
    v[4] = (mdl_scalar)NAN;                        /* in the top-left window, not its max */
    x = mdl_from_array(ar, 4, shape, v);
    mdl_set_requires_grad(x, 1);
    y = mdl_max_pool2d(ar, x, 2, NULL);
    CHECK(y != NULL && y->numel == 4, "max_pool2d of [1,1,4,4]");
    if (!y) return;
    CHECK(isnan(y->data[0]), "a NaN in the window must give NaN, got %g", (double)y->data[0]);
    CHECK(y->data[1] == 7 && y->data[2] == 13 && y->data[3] == 15,
          "windows without NaN: got %g %g %g, want 7 13 15", (double)y->data[1],
          (double)y->data[2], (double)y->data[3]);
    {   /* the same from an x that needs no gradient (forward keeps no positions then) */
        mdl_tensor *x0 = mdl_from_array(ar, 4, shape, v), *y0;
        y0 = x0 ? mdl_max_pool2d(ar, x0, 2, NULL) : NULL;
        CHECK(y0 && isnan(y0->data[0]) && y0->data[1] == 7 && y0->data[3] == 15,
              "max_pool2d of an x without gradient: NaN, 7, 15 expected");
    }
    mdl_backward(mdl_sum(ar, y, MDL_ALL, 0));
    CHECK(x->grad != NULL, "x has a gradient");
    if (!x->grad) return;
    for (i = 0; i < 16; i++) total += x->grad[i];
    CHECK(x->grad[4] == 1 && x->grad[5] == 0 && x->grad[7] == 1 && x->grad[13] == 1 &&
              x->grad[15] == 1 && total == 4,
          "gradient to the NaN pixel (4) and the maxima 7, 13, 15 only: got %g at 4, %g at 5, "
          "total %g", (double)x->grad[4], (double)x->grad[5], (double)total);
}

/* 2 x 2 windows side by side (x [1,1,2,16 reps]), eight kinds repeated reps times, as the
   SIMD loops of max_pool2d take them four (SSE) or sixteen (AVX-512) at a time, with the end
   of a row partway through a register: NaN, ties and maxima at each of a window's four pixels
   a b / c d. y is NaN where the window has one, and the gradient goes to the first NaN, or
   without one to the first pixel holding the maximum; y is the same without a gradient. */
static void test_pool_nan_wide(mdl_arena *ar, int reps, const char *kern) {
    /* per window: a, b, c, d (N: NaN), the pixel that gets the gradient, and whether y is NaN */
    static const struct { double v[4]; int at, nan; } w[8] = {
        {{10, 1, 2, 3}, 0, 0}, {{10, 1, 2, -1}, 3, 1}, {{1, -1, -1, 9}, 1, 1},
        {{7, 1, 2, 7}, 0, 0},  {{-1, 5, 6, 7}, 0, 1},  {{1, 2, 8, 3}, 2, 0},
        {{-1, -1, -1, -1}, 0, 1}, {{1, 4, 4, 2}, 1, 0}};
    const int n = 8 * reps, row = 2 * n; /* windows, pixels in a row */
    int shape[4], i, q, bad = 0;
    mdl_scalar v[4 * 8 * 5];
    mdl_tensor *x, *y, *x0, *y0;
    shape[0] = 1, shape[1] = 1, shape[2] = 2, shape[3] = row;
    if (reps > 5) return;
    for (i = 0; i < n; i++)
        for (q = 0; q < 4; q++) { /* NaN: -1 in windows flagged nan (all of them in window 6) */
            mdl_scalar val = (mdl_scalar)w[i % 8].v[q];
            if (w[i % 8].nan && val == -1) val = (mdl_scalar)NAN;
            v[(q / 2) * row + 2 * i + q % 2] = val;
        }
    x = mdl_from_array(ar, 4, shape, v);
    mdl_set_requires_grad(x, 1);
    y = mdl_max_pool2d(ar, x, 2, NULL);
    x0 = mdl_from_array(ar, 4, shape, v);
    y0 = x0 ? mdl_max_pool2d(ar, x0, 2, NULL) : NULL;
    CHECK(y && y0 && y->numel == (size_t)n && y0->numel == (size_t)n,
          "max_pool2d of [1,1,2,%d] [kernel %s]", row, kern);
    if (!y || !y0) return;
    for (i = 0; i < n; i++) {
        double want = w[i % 8].v[0];
        for (q = 1; q < 4; q++) want = w[i % 8].v[q] > want ? w[i % 8].v[q] : want;
        if (w[i % 8].nan ? !isnan(y->data[i]) : y->data[i] != (mdl_scalar)want) bad++;
        if (w[i % 8].nan ? !isnan(y0->data[i]) : y0->data[i] != (mdl_scalar)want) bad++;
    }
    CHECK(bad == 0, "max_pool2d, %d windows with NaN and ties [kernel %s]: %d wrong outputs", n,
          kern, bad);
    mdl_backward(mdl_sum(ar, y, MDL_ALL, 0));
    CHECK(x->grad != NULL, "x has a gradient");
    if (!x->grad) return;
    bad = 0;
    for (i = 0; i < n; i++)
        for (q = 0; q < 4; q++)
            if (x->grad[(q / 2) * row + 2 * i + q % 2] != (q == w[i % 8].at ? 1 : 0)) bad++;
    CHECK(bad == 0, "max_pool2d, %d windows with NaN and ties [kernel %s]: %d pixels with the "
          "wrong gradient (want 1 at the first NaN, or at the first maximum)", n, kern, bad);
    mdl_arena_reset(ar);
}

int main(void) {
    mdl_arena *ar = mdl_arena_new(0);
    int k, have = 0;
    capture_errors();
    CHECK(ar != NULL, "arena_new");
    if (!ar) return test_summary();
    for (k = 0; k < N_KERNELS; k++)
        if (mdl_set_gemm_kernel(kernels[k])) {
            have++;
            if (strcmp(kernels[k], "auto") != 0)
                CHECK(strcmp(mdl_gemm_kernel(), kernels[k]) == 0, "set_gemm_kernel(%s) gave %s",
                      kernels[k], mdl_gemm_kernel());
        }
    mdl_set_gemm_kernel("auto");
    printf("GEMM kernels checked: %d (auto is %s)\n", have, mdl_gemm_kernel());
    CHECK(mdl_set_gemm_kernel("plain") == 1, "the plain kernel must always be available");
    mdl_set_gemm_kernel("auto");

    test_conv2d(ar);
    test_conv1d(ar);
    test_pooling(ar);
    test_avg_pool_divisors(ar);
    test_pool_pytorch_values(ar);
    test_max_pool_empty_window(ar);
    test_adaptive_pool(ar);
    test_pool_nan(ar);
    for (k = 0; k < N_KERNELS; k++) /* the SIMD loops of max_pool2d go with the GEMM kernel */
        if (mdl_set_gemm_kernel(kernels[k])) {
            test_pool_nan_wide(ar, 1, kernels[k]);
            test_pool_nan_wide(ar, 3, kernels[k]);
            test_pool_nan_wide(ar, 5, kernels[k]);
        }
    mdl_set_gemm_kernel("auto");
    CHECK(captured_count == 0, "%d unexpected contract errors; last: %s", captured_count,
          captured_message);
    test_errors(ar);
    mdl_set_gemm_kernel("auto");
    mdl_arena_free(ar);
    return test_summary();
}
