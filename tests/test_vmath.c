/* tests/test_vmath.c - the vector math of >>kernels (e^x, sigmoid, tanh over float arrays with
   AVX-512, AVX2+FMA or NEON) and the elementwise fast paths of >>ops.

   1. Accuracy. Each vector function of each kernel this CPU runs, against libm in double
      rounded to float (the correctly rounded result, up to a double-rounding tie now and
      then), on 2^21 points that sweep every float exponent of both signs (4096 mantissas
      each, denormals, inf and NaN included), 2^20 random bit patterns, 2^20 random values in
      [-20, 20] where the functions bend, and the edges: +-0, the denormals, FLT_MIN, FLT_MAX,
      the overflow and underflow thresholds of e^x and their neighbours, the switch point of
      tanh's two formulas, +-inf and NaN. Asserted: at most 1 ulp from the correctly rounded
      result for e^x and tanh, 2 for sigmoid (the bounds the kernels' banner states); NaN
      for NaN; the exact values at the edges. Every SIMD lane gives the bits of the scalar
      version of the same algorithm (mdl__vm_exp1, ...), which is also held to the bounds (it
      is what the NEON and AVX2 rows use for their last few values); rows of every length
      from 0 to 40 at every alignment give the long row's bits; y may be x.
   2. The ops. mdl_exp, mdl_sigmoid, mdl_tanh, mdl_silu and mdl_gelu_tanh with each SIMD kernel
      against the same ops with the plain kernel (libm): values within the functions' ulp
      bounds, gradients within the difference those few ulp make (stated at each check).
      relu, leaky_relu, add_scalar and mul_scalar, whose loops are the same with every kernel,
      against loops written here: the same bits. add, sub, mul and div with the same shapes and
      with a broadcast row ([B,N] op [N]), forward and backward, against the ops' general row
      functions (mdl__add_rows, mdl__add_grad_rows, ...): the same bits, with a == b too.
   In a MINIDL_NO_SIMD or MINIDL_DOUBLE build there is no vector math: part 1 checks that the
   functions say so and part 2 runs on the plain loops.

   gcc -std=c99 -O1 -g -Wall -Wextra -Wpedantic -Werror -I. tests/test_vmath.c -o build/test_vmath -lm
*/
#define MINIDL_IMPLEMENTATION
#include "minidl.h"
#include "test.h"

#include <float.h>
#include <stdint.h>
#include <stdlib.h>

static const char *const simd_kernels[3] = {"avx512", "avx2", "neon"};

static uint32_t rng = 2463534242u;
static uint32_t next_u32(void) {
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
}

#if !defined(MINIDL_DOUBLE)
static float from_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}
static uint32_t to_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* The distance in ulps between two floats: how many floats lie between them, plus one (0 for
   equal ones, +0 and -0 equal). NaN is handled by the callers. */
static long long ulp_distance(float a, float b) {
    int64_t ka = (int64_t)to_bits(a), kb = (int64_t)to_bits(b);
    if (ka & 0x80000000) ka = 0x80000000 - ka; /* negative floats below the positive ones */
    if (kb & 0x80000000) kb = 0x80000000 - kb;
    return (long long)(ka > kb ? ka - kb : kb - ka);
}

/* The error of y from the exact value r in ulps of r's binade (the smallest denormal's below
   2^-126), for the printout: how close the bounds are. */
static double ulp_error(float y, double r) {
    int e;
    double u;
    if (isinf(y) || isinf((float)r)) return y == (float)r ? 0 : 1e9;
    if (r == 0) return fabs((double)y) / ldexp(1, -149);
    frexp(r, &e);
    u = ldexp(1, e - 24);
    if (u < ldexp(1, -149)) u = ldexp(1, -149);
    return fabs((double)y - r) / u;
}

enum { F_EXP, F_SIGMOID, F_TANH };
static const char *const fname[3] = {"exp", "sigmoid", "tanh"};
static const long long bound[3] = {1, 2, 1}; /* ulps from the correctly rounded result */

static double ref(int f, double x) {
    return f == F_EXP ? exp(x) : f == F_SIGMOID ? 1 / (1 + exp(-x)) : tanh(x);
}

/* The points: the sweep of every exponent, random bit patterns, random values in [-20, 20],
   and the edges. */
#define N_SWEEP (2 * 256 * 4096)
#define N_RANDOM (1 << 20)
static float *points;
static size_t npoints;

static void make_points(void) {
    static const uint32_t edge_bits[] = {
        0x00000000u, 0x80000000u, 0x00000001u, 0x80000001u, 0x007fffffu, 0x807fffffu,
        0x00800000u, 0x80800000u, 0x7f7fffffu, 0xff7fffffu, 0x7f800000u, 0xff800000u,
        0x7fc00000u, 0xffc00000u, 0x7f800001u, 0x7fbfffffu, /* NaNs, quiet and signalling */
        0x42b17217u, 0x42b17218u, /* 88.7228: the last x with e^x finite, the first inf */
        0xc2aeac4fu, 0xc2aeac50u, /* -87.3365: e^x crosses FLT_MIN */
        0xc2cff1b4u, 0xc2cff1b5u, /* -103.972: e^x crosses half the smallest denormal */
        0x42b20000u, 0xc2d00000u, /* 89 and -104, the clamp */
        0x3f200000u, 0xbf200000u, 0x3f1fffffu, 0xbf1fffffu, /* +-0.625, tanh's switch */
        0x3f800000u, 0xbf800000u, 0x41100000u, 0xc1100000u, 0x41200000u, 0xc1200000u,
        0x33800000u, 0xb3800000u, 0x39800000u, 0xb9800000u};
    const size_t nedges = sizeof edge_bits / sizeof edge_bits[0];
    size_t k = 0, i, s, e, m;
    npoints = N_SWEEP + 2 * N_RANDOM + nedges;
    points = (float *)malloc(npoints * sizeof(float));
    if (!points) return;
    for (s = 0; s < 2; s++)
        for (e = 0; e < 256; e++)
            for (m = 0; m < 4096; m++) {
                uint32_t mant = (uint32_t)(m << 11) | (next_u32() & 0x7ffu);
                points[k++] = from_bits((uint32_t)(s << 31) | (uint32_t)(e << 23) | mant);
            }
    for (i = 0; i < N_RANDOM; i++) points[k++] = from_bits(next_u32());
    for (i = 0; i < N_RANDOM; i++) points[k++] = -20.0f + 40.0f * (float)(next_u32() >> 8) / 16777216.0f;
    for (i = 0; i < nedges; i++) points[k++] = from_bits(edge_bits[i]);
}

static int vm(int f, float *y, const float *x, size_t n) {
    return f == F_EXP ? mdl__vm_exp(y, x, n) : f == F_SIGMOID ? mdl__vm_sigmoid(y, x, n)
                                                              : mdl__vm_tanh(y, x, n);
}

/* y against the bound for function f at x; updates the worst distance and error. Returns 0
   (and reports) on the first failure only. */
typedef struct worst {
    long long dist;
    double err;
    float at;
    int failed;
} worst;

static void judge(int f, const char *who, float x, float y, worst *w) {
    double r = ref(f, (double)x);
    long long d;
    double err;
    if (isnan(x) || isnan(y)) {
        if (!(isnan(x) && isnan(y)) && !w->failed) {
            w->failed = 1;
            CHECK(0, "%s %s(%.9g) = %.9g: NaN must give NaN and only NaN", who, fname[f], x, y);
        }
        return;
    }
    d = ulp_distance(y, (float)r);
    err = ulp_error(y, r);
    if (d > w->dist) w->dist = d, w->at = x;
    if (err > w->err) w->err = err;
    if (d > bound[f] && !w->failed) {
        w->failed = 1;
        CHECK(0, "%s %s(%.9g) = %.9g (%a), correctly rounded %.9g: %lld ulp (bound %lld)", who,
              fname[f], x, y, y, (double)(float)r, d, bound[f]);
    }
}

#if defined(MDL__X86) || defined(MDL__NEON)
static float scalar1(int f, float x) {
    return f == F_EXP ? mdl__vm_exp1(x) : f == F_SIGMOID ? mdl__vm_sigmoid1(x) : mdl__vm_tanh1(x);
}
#endif

static int same_bits(float a, float b) { return (isnan(a) && isnan(b)) || to_bits(a) == to_bits(b); }

static void test_accuracy(void) {
    float *y = (float *)malloc(npoints * sizeof(float));
    int k, f, ran = 0;
    if (!points || !y) {
        CHECK(0, "out of memory");
        free(y);
        return;
    }
#if defined(MDL__X86) || defined(MDL__NEON)
    for (f = 0; f < 3; f++) { /* the scalar version of the algorithm */
        worst w = {0, 0, 0, 0};
        size_t i;
        for (i = 0; i < npoints; i++) judge(f, "scalar", points[i], scalar1(f, points[i]), &w);
        CHECK(!w.failed, "scalar %s within %lld ulp", fname[f], bound[f]);
        printf("  scalar  %-7s %lld ulp from correctly rounded (at %.9g), %.3f ulp from exact\n",
               fname[f], w.dist, (double)w.at, w.err);
    }
#endif
#if defined(MDL__X86) || defined(MDL__NEON)
    for (k = 0; k < 3; k++) {
        if (!mdl_set_gemm_kernel(simd_kernels[k])) continue;
        ran++;
        for (f = 0; f < 3; f++) {
            worst w = {0, 0, 0, 0};
            size_t i;
            int lanes_ok = 1, tails_ok = 1, len, off;
            CHECK(vm(f, y, points, npoints) == 1, "%s has no %s", simd_kernels[k], fname[f]);
            for (i = 0; i < npoints; i++) judge(f, simd_kernels[k], points[i], y[i], &w);
            CHECK(!w.failed, "%s %s within %lld ulp", simd_kernels[k], fname[f], bound[f]);
            printf("  %-7s %-7s %lld ulp from correctly rounded (at %.9g), %.3f ulp from exact\n",
                   simd_kernels[k], fname[f], w.dist, (double)w.at, w.err);
            for (i = 0; i < npoints && lanes_ok; i++)
                if (!same_bits(y[i], scalar1(f, points[i]))) {
                    lanes_ok = 0;
                    CHECK(0, "%s %s(%a) = %a, the scalar algorithm %a", simd_kernels[k], fname[f],
                          (double)points[i], (double)y[i], (double)scalar1(f, points[i]));
                }
            CHECK(lanes_ok, "%s %s: every lane gives the scalar algorithm's bits", simd_kernels[k],
                  fname[f]);
            for (len = 0; len <= 40; len++) /* tails, at every alignment of a 64-byte line */
                for (off = 0; off < 16; off++) {
                    float out[64], in[64];
                    int j;
                    for (j = 0; j < 64; j++) out[j] = -7.0f;
                    memcpy(in, points + N_SWEEP + 4000 + (size_t)off, sizeof in);
                    vm(f, out + off, in, (size_t)len);
                    for (j = 0; j < 64; j++) {
                        int inside = j >= off && j < off + len;
                        if (inside ? !same_bits(out[j], y[N_SWEEP + 4000 + (size_t)off + (size_t)(j - off)])
                                   : out[j] != -7.0f)
                            tails_ok = 0;
                    }
                }
            CHECK(tails_ok, "%s %s: rows of 0 to 40 values at any alignment give the long row's "
                  "bits and write nothing else", simd_kernels[k], fname[f]);
            {   /* in place */
                float xs[37];
                int j, ok = 1;
                memcpy(xs, points + N_SWEEP + 100, sizeof xs);
                vm(f, xs, xs, 37);
                for (j = 0; j < 37; j++) ok &= same_bits(xs[j], y[N_SWEEP + 100 + (size_t)j]);
                CHECK(ok, "%s %s: y = x in place", simd_kernels[k], fname[f]);
            }
        }
        {   /* exact values at the edges */
            const float inf = from_bits(0x7f800000u), nan_ = from_bits(0x7fc00000u);
            float in[12], out[12];
            in[0] = 0.0f, in[1] = -0.0f, in[2] = inf, in[3] = -inf, in[4] = nan_;
            in[5] = from_bits(0x42b17217u), in[6] = from_bits(0x42b17218u), in[7] = -104.0f;
            in[8] = 1e-30f, in[9] = from_bits(1u), in[10] = -from_bits(1u), in[11] = 200.0f;
            mdl__vm_exp(out, in, 12);
            CHECK(out[0] == 1 && out[1] == 1 && out[2] == inf && out[3] == 0 && isnan(out[4]) &&
                      out[5] < inf && ulp_distance(out[5], (float)exp((double)in[5])) <= 1 &&
                      out[6] == inf && out[7] == 0 &&
                      out[8] == 1 && out[9] == 1 && out[10] == 1 && out[11] == inf,
                  "%s exp at the edges: %g %g %g %g %g %a %g %g %g", simd_kernels[k], out[0],
                  out[1], out[2], out[3], out[4], (double)out[5], out[6], out[7], out[8]);
            mdl__vm_sigmoid(out, in, 12);
            CHECK(out[0] == 0.5f && out[1] == 0.5f && out[2] == 1 && out[3] == 0 &&
                      isnan(out[4]) && out[5] == 1 && out[11] == 1,
                  "%s sigmoid at the edges: %g %g %g %g %g", simd_kernels[k], out[0], out[1],
                  out[2], out[3], out[4]);
            in[7] = -100.0f;
            mdl__vm_sigmoid(out, in, 12);
            CHECK(out[7] > 0 && ulp_distance(out[7], (float)(1 / (1 + exp(100.0)))) <= 3,
                  "%s sigmoid(-100) = %g keeps its precision among the denormals", simd_kernels[k],
                  out[7]);
            mdl__vm_tanh(out, in, 12);
            CHECK(out[0] == 0 && !signbit(out[0]) && out[1] == 0 && signbit(out[1]) &&
                      out[2] == 1 && out[3] == -1 && isnan(out[4]) && out[5] == 1 &&
                      out[8] == 1e-30f && out[9] == from_bits(1u) && out[10] == -from_bits(1u),
                  "%s tanh at the edges: %g %g %g %g %g %g %g", simd_kernels[k], out[0], out[1],
                  out[2], out[3], out[4], out[8], out[9]);
        }
    }
#else
    (void)k, (void)same_bits, (void)judge;
#endif
    printf("test_vmath: %d SIMD kernel%s of vector math on this CPU\n", ran, ran == 1 ? "" : "s");
    CHECK(mdl_set_gemm_kernel("plain") == 1, "the plain kernel");
    for (f = 0; f < 3; f++)
        CHECK(vm(f, y, points, 8) == 0, "with the plain kernel, %s leaves it to libm", fname[f]);
#if !defined(MINIDL_NO_SIMD) && defined(__GNUC__) && (defined(__x86_64__) || defined(__aarch64__))
    CHECK(ran >= 1 || !(mdl_set_gemm_kernel("avx2") || mdl_set_gemm_kernel("neon")),
          "a SIMD kernel runs but no vector math was tested");
#endif
    mdl_set_gemm_kernel("auto");
    free(y);
}
#endif /* !MINIDL_DOUBLE */

/* ---- part 2: the ops ---- */

static mdl_tensor *randn(mdl_arena *ar, int nd, const int *shape, double scale, int grad) {
    mdl_tensor *t = mdl_zeros(ar, nd, shape);
    size_t i;
    for (i = 0; i < t->numel; i++)
        t->data[i] = (mdl_scalar)(scale * ((double)(next_u32() >> 8) / 16777216.0 * 2 - 1));
    mdl_set_requires_grad(t, grad);
    return t;
}

typedef mdl_tensor *(*unary_op)(mdl_arena *, mdl_tensor *);
static mdl_tensor *op_silu(mdl_arena *ar, mdl_tensor *x) { return mdl_silu(ar, x); }
static mdl_tensor *op_elu(mdl_arena *ar, mdl_tensor *x) { return mdl_elu(ar, x, (mdl_scalar)1.3); }
static mdl_tensor *op_softplus(mdl_arena *ar, mdl_tensor *x) {
    return mdl_softplus(ar, x, (mdl_scalar)1.5, 6);
}

/* y = op(x) and dx from a random upstream gradient, with the current kernel. */
static void run_unary(unary_op op, const mdl_scalar *x0, const mdl_scalar *g0, int n,
                      mdl_scalar *y, mdl_scalar *dx) {
    mdl_arena *ar = mdl_arena_new(0);
    mdl_tensor *x = mdl_zeros(ar, 1, &n), *out, *loss;
    memcpy(x->data, x0, (size_t)n * sizeof(mdl_scalar));
    mdl_set_requires_grad(x, 1);
    out = op(ar, x);
    {   /* loss = sum(out * g0): d loss / d out = g0 */
        mdl_tensor *g = mdl_zeros(ar, 1, &n);
        memcpy(g->data, g0, (size_t)n * sizeof(mdl_scalar));
        loss = mdl_sum(ar, mdl_mul(ar, out, g), MDL_ALL, 0);
    }
    mdl_backward(loss);
    memcpy(y, out->data, (size_t)n * sizeof(mdl_scalar));
    memcpy(dx, x->grad, (size_t)n * sizeof(mdl_scalar));
    mdl_arena_free(ar);
}

static void test_unary_ops(void) {
    static const struct {
        const char *name;
        unary_op op;
        double val_rel, grad_abs; /* tolerances of fast against plain */
    } ops[8] = {
        /* values: the functions' bounds (3 ulp = 1.8e-7 relative, and more for the ops that
           feed a slightly different tanh into more arithmetic); gradients: they read the
           saved y (exp, sigmoid, tanh) or recompute the function (silu, gelu_tanh), so they
           move by about |g| times the few ulp of y: 1e-6 absolute for |g| <= 1, |x| <= 8 */
        {"exp", mdl_exp, 3e-7, 2e-6 * 3000}, /* e^8 ~ 3000: relative to the value */
        {"sigmoid", mdl_sigmoid, 3e-7, 1e-6},
        {"tanh", mdl_tanh, 3e-7, 1e-6},
        {"silu", op_silu, 5e-7, 1e-6},
        {"gelu_tanh", mdl_gelu_tanh, 1e-6, 2e-6},
        /* elu: a_ (e^x - 1) near x = 0, where an ulp of e^x (6e-8 near 1) is 6e-8 / |x| of
           e^x - 1: up to 1e-5 at the grid's smallest |x|, 0.008 (libm's expf is off by as
           much; expm1 would not be); gradients from the saved y */
        {"elu", op_elu, 2e-5, 1e-6},
        /* logsigmoid and softplus: the values are libm's in both (log1p); only the gradient's
           sigmoid changes */
        {"logsigmoid", mdl_logsigmoid, 0, 1e-6},
        {"softplus", op_softplus, 0, 1e-6},
    };
    enum { N = 1003 }; /* odd: every tail */
    static mdl_scalar x[N], g[N], yp[N], dp[N], yf[N], df[N];
    int i, k, o;
    for (i = 0; i < N; i++) {
        x[i] = (mdl_scalar)(-8.0 + 16.0 * (double)i / (N - 1));
        g[i] = (mdl_scalar)((double)(next_u32() >> 8) / 16777216.0 * 2 - 1);
    }
    x[0] = 0, x[1] = (mdl_scalar)-0.0, x[2] = (mdl_scalar)1e-30;
    for (o = 0; o < 8; o++) {
        mdl_set_gemm_kernel("plain");
        run_unary(ops[o].op, x, g, N, yp, dp);
        for (k = 0; k < 3; k++) {
            double wv = 0, wg = 0;
            if (!mdl_set_gemm_kernel(simd_kernels[k])) continue;
            run_unary(ops[o].op, x, g, N, yf, df);
            for (i = 0; i < N; i++) {
                double dv = fabs((double)yf[i] - yp[i]) / (fabs((double)yp[i]) + 1e-30);
                double dg = fabs((double)df[i] - dp[i]);
                if (fabs((double)yp[i]) < 1e-30) dv = fabs((double)yf[i] - yp[i]) * 1e30;
                if (dv > wv) wv = dv;
                if (dg > wg) wg = dg;
            }
            CHECK(wv <= ops[o].val_rel && wg <= ops[o].grad_abs,
                  "%s with %s against plain: values %.3g relative (tol %.1g), gradients %.3g (tol %.1g)",
                  ops[o].name, simd_kernels[k], wv, ops[o].val_rel, wg, ops[o].grad_abs);
            printf("  %-9s %-7s vs plain: values %.2g relative, gradients %.2g absolute\n",
                   ops[o].name, simd_kernels[k], wv, wg);
        }
    }
    mdl_set_gemm_kernel("auto");
}

/* relu, leaky_relu, add_scalar, mul_scalar: the loops written here, bit for bit */
static void test_simple_unary(void) {
    enum { N = 211 };
    mdl_arena *ar = mdl_arena_new(0);
    int n = N, i, ok_y = 1, ok_g = 1, which;
    for (which = 0; which < 4; which++) {
        mdl_tensor *x = randn(ar, 1, &n, 3, 1), *gt = randn(ar, 1, &n, 1, 0), *y;
        mdl_scalar want_y[N], want_g[N];
        const mdl_scalar s = (mdl_scalar)0.37;
        x->data[5] = 0, x->data[6] = (mdl_scalar)-0.0;
        y = which == 0 ? mdl_relu(ar, x) : which == 1 ? mdl_leaky_relu(ar, x, s)
            : which == 2 ? mdl_add_scalar(ar, x, s) : mdl_mul_scalar(ar, x, s);
        mdl_backward(mdl_sum(ar, mdl_mul(ar, y, gt), MDL_ALL, 0));
        for (i = 0; i < N; i++) {
            mdl_scalar xi = x->data[i], gi = gt->data[i];
            want_y[i] = which == 0 ? (xi > 0 ? xi : 0) : which == 1 ? (xi > 0 ? xi : s * xi)
                        : which == 2 ? xi + s : xi * s;
            want_g[i] = which == 0 ? (xi > 0 ? gi : 0) : which == 1 ? (xi > 0 ? gi : s * gi)
                        : which == 2 ? gi : gi * s;
            /* the gradient arrives as 0 + g * 1 from mul's backward, exactly g */
            want_g[i] = 0 + want_g[i];
        }
        for (i = 0; i < N; i++) {
            if (memcmp(&want_y[i], &y->data[i], sizeof(mdl_scalar)) != 0) ok_y = 0;
            if (want_g[i] != x->grad[i]) ok_g = 0;
        }
        mdl_arena_reset(ar);
    }
    CHECK(ok_y, "relu, leaky_relu, add_scalar, mul_scalar: the values of the plain loops, bit for bit");
    CHECK(ok_g, "relu, leaky_relu, add_scalar, mul_scalar: the gradients of the plain loops");
    mdl_arena_free(ar);
}

/* add, sub, mul, div: the flat loops against the row functions, forward and backward */
static void test_binary_flat(void) {
    static const mdl_op opcode[4] = {MDL_OP_ADD, MDL_OP_SUB, MDL_OP_MUL, MDL_OP_DIV};
    static const mdl__binary_row_fn rows[4] = {mdl__add_rows, mdl__sub_rows, mdl__mul_rows,
                                               mdl__div_rows};
    static const mdl__binary_row_fn grads[4] = {mdl__add_grad_rows, mdl__sub_grad_rows,
                                                mdl__mul_grad_rows, mdl__div_grad_rows};
    static const char *const names[4] = {"add", "sub", "mul", "div"};
    int o, n, same, bad = 0;
    for (o = 0; o < 4; o++)
        for (n = 0; n <= 70; n++)
            for (same = 0; same < 2; same++) { /* same: a and b one array (x op x) */
                mdl_scalar a[70], b[70], g[70], out1[70], out2[70], ga1[70], gb1[70], ga2[70],
                    gb2[70];
                mdl__binary_row r;
                int i;
                for (i = 0; i < n; i++) {
                    a[i] = (mdl_scalar)((double)(next_u32() >> 8) / 16777216.0 * 4 - 2);
                    b[i] = (mdl_scalar)((double)(next_u32() >> 8) / 16777216.0 * 4 + 0.1);
                    g[i] = (mdl_scalar)((double)(next_u32() >> 8) / 16777216.0 * 2 - 1);
                    ga1[i] = ga2[i] = (mdl_scalar)0.25 * (mdl_scalar)i;
                    gb1[i] = gb2[i] = (mdl_scalar)-0.5 * (mdl_scalar)i;
                }
                memset(&r, 0, sizeof r);
                r.a = a, r.b = same ? a : b, r.ia = r.ib = 1, r.n = (size_t)n;
                r.out = out1;
                rows[o](r);
                r.out = out2;
                CHECK(mdl__binary_flat(opcode[o], 0, r) == 1, "no flat %s", names[o]);
                r.g = g, r.ga = ga1, r.gb = same ? ga1 : gb1;
                grads[o](r);
                r.ga = ga2, r.gb = same ? ga2 : gb2;
                mdl__binary_flat(opcode[o], 1, r);
                if (n && (memcmp(out1, out2, (size_t)n * sizeof(mdl_scalar)) != 0 ||
                          memcmp(ga1, ga2, (size_t)n * sizeof(mdl_scalar)) != 0 ||
                          memcmp(gb1, gb2, (size_t)n * sizeof(mdl_scalar)) != 0)) {
                    if (!bad) CHECK(0, "flat %s differs from its row function, n = %d%s", names[o], n,
                                    same ? ", a = b" : "");
                    bad = 1;
                }
            }
    CHECK(!bad, "add, sub, mul, div: the flat loops give the row functions' bits, n = 0..70");
    {
        mdl__binary_row r;
        memset(&r, 0, sizeof r);
        CHECK(mdl__binary_flat(MDL_OP_MAXIMUM, 0, r) == 0, "maximum has no flat loop");
    }
    {   /* through the ops: same shape, and [B,N] op [N] (a broadcast row, stride 1 each) */
        mdl_arena *ar = mdl_arena_new(0);
        int s2[2] = {5, 37}, s1 = 37, i, ok = 1;
        mdl_tensor *a = randn(ar, 2, s2, 2, 1), *b = randn(ar, 1, &s1, 2, 1);
        mdl_tensor *c = randn(ar, 2, s2, 2, 1);
        mdl_tensor *y1 = mdl_mul(ar, a, b), *y2 = mdl_div(ar, a, mdl_add_scalar(ar, mdl_abs(ar, c), 1));
        mdl_backward(mdl_sum(ar, mdl_add(ar, y1, mdl_sub(ar, y2, a)), MDL_ALL, 0));
        for (i = 0; i < 5 * 37; i++) {
            double bb = b->data[i % 37], cc = fabs((double)c->data[i]) + 1;
            double want_a = (double)b->data[i % 37] + 1 / cc - 1;
            ok &= fabs((double)y1->data[i] - (double)a->data[i] * bb) <= 1e-6 * (1 + fabs(a->data[i] * bb));
            ok &= fabs((double)a->grad[i] - want_a) <= 1e-5;
        }
        for (i = 0; i < 37; i++) {
            double want = 0;
            int r;
            for (r = 0; r < 5; r++) want += a->data[r * 37 + i];
            ok &= fabs((double)b->grad[i] - want) <= 1e-5;
        }
        CHECK(ok, "mul, div, add, sub with the same shapes and [B,N] * [N]: values and gradients");
        mdl_arena_free(ar);
    }
}

/* cross-entropy over rows of C classes ([N, C]: inner 1), whose e^ is the vector e^x with a
   SIMD kernel: loss per row and dx against the plain kernel (libm's exp in double). With the
   defaults, and with class weights, label smoothing and an ignored target. C from 1 to 1000
   (several rows to a 256-value piece, one, or a row in pieces); logits spread by 10, one row
   by 200 (e^-200 is 0 in float: such classes get 0 in both). */
static void run_ce(int N, int C, const mdl_scalar *x0, const int *cls, int opt, mdl_scalar *loss,
                   mdl_scalar *dx) {
    mdl_arena *ar = mdl_arena_new(0);
    int xs[2] = {N, C}, i;
    mdl_tensor *x = mdl_zeros(ar, 2, xs), *t = mdl_zeros(ar, 1, &N), *w = mdl_zeros(ar, 1, &C), *l;
    mdl_tensor *g = mdl_zeros(ar, 1, &N);
    mdl_cross_entropy_opts o;
    memset(&o, 0, sizeof o);
    memcpy(x->data, x0, (size_t)N * (size_t)C * sizeof(mdl_scalar));
    for (i = 0; i < N; i++) t->data[i] = (mdl_scalar)cls[i];
    for (i = 0; i < C; i++) w->data[i] = (mdl_scalar)(0.5 + (i % 3));
    for (i = 0; i < N; i++) g->data[i] = (mdl_scalar)(1 + 0.25 * i);
    mdl_set_requires_grad(x, 1);
    o.reduction = MDL_NONE;
    if (opt) {
        o.weight = w, o.label_smoothing = 0.2, o.ignore = 1, o.ignore_index = cls[N - 1];
        t->data[N - 1] = (mdl_scalar)cls[N - 1];
    }
    l = mdl_cross_entropy_loss(ar, x, t, &o);
    mdl_backward(mdl_sum(ar, mdl_mul(ar, l, g), MDL_ALL, 0)); /* d loss_p = 1 + p / 4 */
    memcpy(loss, l->data, (size_t)N * sizeof(mdl_scalar));
    memcpy(dx, x->grad, (size_t)N * (size_t)C * sizeof(mdl_scalar));
    mdl_arena_free(ar);
}

static void test_cross_entropy(void) {
    enum { N = 60, CMAX = 1000 }; /* 60 rows: 2 blocks and a part for C = 10 */
    static const int cs[7] = {1, 3, 10, 75, 256, 257, 1000};
    static mdl_scalar x[N * CMAX], lp[N], lf[N], dp[N * CMAX], df[N * CMAX];
    int cls[N], ci, i, k, opt;
    for (ci = 0; ci < 7; ci++)
        for (opt = 0; opt < 2; opt++) {
            const int C = cs[ci];
            for (i = 0; i < N * C; i++)
                x[i] = (mdl_scalar)(10 * ((double)(next_u32() >> 8) / 16777216.0 * 2 - 1));
            for (i = 0; i < C; i++) x[C + i] *= 20; /* row 1: spread by 200 */
            for (i = 0; i < N; i++) cls[i] = (int)(next_u32() % (uint32_t)C);
            mdl_set_gemm_kernel("plain");
            run_ce(N, C, x, cls, opt, lp, dp);
            for (k = 0; k < 3; k++) {
                double wl = 0, wd = 0;
                if (!mdl_set_gemm_kernel(simd_kernels[k])) continue;
                run_ce(N, C, x, cls, opt, lf, df);
                for (i = 0; i < N; i++) { /* beyond 4 float ulp of the loss, in its ulp */
                    double d = (fabs((double)lf[i] - lp[i]) - 4.8e-7 * fabs((double)lp[i])) / 6e-8;
                    if (d > wl) wl = d;
                }
                for (i = 0; i < N * C; i++) {
                    double d = fabs((double)df[i] - dp[i]);
                    if (d > wd) wd = d;
                }
                /* the loss: (m - x_y) + log sum, the sum's terms each within 1 ulp (e^x) of
                   float from x - m rounded to float, so log sum within a few 1e-7; asserted:
                   within 4 float ulp of the loss (losses up to about 400 here) plus 5 ulp of 1.
                   dx: softmax within a few 1e-7 relative, times |g| <= 16 and the weights */
                CHECK(wl <= 5 && wd <= 2e-6,
                      "cross-entropy C=%d%s with %s against plain: loss %.3g ulp of 1 beyond 4 "
                      "ulp of its value (tol 5), dx %.3g (tol 2e-6)", C,
                      opt ? " (weights, smoothing, ignore)" : "", simd_kernels[k], wl, wd);
                if (ci == 3)
                    printf("  cross-entropy C=%d%s %s vs plain: loss %.2g (ulp of 1 beyond 4 of "
                           "its own), dx %.2g absolute\n", C, opt ? " (options)" : "",
                           simd_kernels[k], wl, wd);
            }
        }
    mdl_set_gemm_kernel("auto");
}

int main(void) {
#if !defined(MINIDL_DOUBLE)
    make_points();
    printf("test_vmath: %zu points per function\n", npoints);
    test_accuracy();
    free(points);
#else
    CHECK(mdl__vm_exp(NULL, NULL, 0) == 0, "a double build has no vector math");
#endif
    test_unary_ops();
    test_simple_unary();
    test_binary_flat();
    test_cross_entropy();
    return test_summary();
}
