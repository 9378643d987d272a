/* tests/test_threads.c - with OpenMP, GEMM gives the same result to the bit whatever the number
   of threads (minidl.h promises it: each tile of C is computed by the same operations in the
   same order whichever thread computes it). For every kernel this machine runs, on shapes big
   enough for the kernels to share their tiles among threads (512x512x512, 1000x37x300,
   64x784x128, 7x2000x64, 27x400x100; with B transposed, all but 512^3 and 7x2000x64 go to
   the unpacked path's dot products, 16x150x6400 a convolution's weight gradient, in strips
   of columns shared among threads; with B not transposed, all but 512^3
   go to the unpacked kernels, 7 rows as a tile of 8 over a copy of A, 27 as 12 + 12 + 3, the 3
   computed as 4 starting a row higher) with all four transposes, C computed with 1, 2 and 3
   threads (1 and 2 on 512^3) must be identical (memcmp), and the 2-thread C must match a naive
   triple loop in double within the error bound of a float GEMM. The same through mdl_matmul and its backward
   pass, on plain, batched and shared-B shapes, with each kernel and with "auto"; and
   mdl_conv2d forward and backward, whose runs of images are shared among threads; and the
   elementwise loops of large arrays (relu, add_scalar, mul_scalar and their gradients) and
   the planes of a large 2 x 2 max pooling.
   Under valgrind, libgomp's idle pool threads leave a "possibly lost" block each at exit:
   tests/valgrind.supp explains and suppresses exactly that.

   gcc -std=c99 -O1 -g -Wall -Wextra -Wpedantic -Werror -I. tests/test_threads.c -fopenmp -o build/test_threads -lm
*/
// build-extra: -fopenmp
#define MINIDL_IMPLEMENTATION
#include "minidl.h"
#include "test.h"

#include <omp.h>
#include <stdint.h>
#include <stdlib.h>

#ifdef MINIDL_DOUBLE
int main(void) { /* mdl_sgemm is single precision only */
    CHECK(strcmp(mdl_gemm_kernel(), "plain") == 0, "kernel %s", mdl_gemm_kernel());
    return test_summary();
}
#else

static const char *const all_names[] = {"avx512", "avx2", "neon", "plain"};
#define NAMES 4
static const char *kernels[NAMES];
static int nkernels;

/* thread counts compared with the first */
static const int thread_counts[] = {1, 2, 3};
#define RUNS 3

static uint32_t rng = 4242u;

static float value(double hi) { /* +-[1/16, hi), fixed seed */
    double v;
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    v = 0.0625 + (hi - 0.0625) * (double)(rng >> 8) / 16777216.0;
    return (float)(rng & 1 ? -v : v);
}

static float *new_floats(size_t count) {
    float *p = (float *)malloc((count ? count : 1) * sizeof(float));
    if (!p) CHECK(p != NULL, "out of memory for %zu floats", count);
    return p;
}

/* ---- the reference ----
   want = alpha op(A) op(B) + beta C in double, and the tolerance of tests/test_gemm.c, which
   explains it: tol = c0 u (k S + (k + 1) |beta C|), u = 2^-24, c0 = 4, S = sum_p |alpha a b|,
   a worst-case bound on the rounding errors of any of the kernels. op(A) is read as
   a[ta ? p * lda + i : i * lda + p], op(B) as b[tb ? j * ldb + p : p * ldb + j]. */
#define U 5.9604644775390625e-08
#define C0 4.0

static int reference(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
                     const float *b, int ldb, float beta, const float *c, int ldc, double *want,
                     double *tol) {
    double *ad = (double *)malloc(((size_t)m * (size_t)k + 1) * sizeof(double));
    double *bt = (double *)malloc(((size_t)n * (size_t)k + 1) * sizeof(double));
    int i, j, p;
    if (!ad || !bt) {
        CHECK(ad && bt, "out of memory for the reference");
        free(ad), free(bt);
        return 0;
    }
    /* op(A) and op(B)^T as dense rows, so that each dot product reads both contiguously */
    for (i = 0; i < m; i++)
        for (p = 0; p < k; p++)
            ad[(size_t)i * k + p] =
                (double)alpha * (ta ? a[(size_t)p * lda + i] : a[(size_t)i * lda + p]);
    for (j = 0; j < n; j++)
        for (p = 0; p < k; p++)
            bt[(size_t)j * k + p] = tb ? b[(size_t)j * ldb + p] : b[(size_t)p * ldb + j];
    for (i = 0; i < m; i++)
        for (j = 0; j < n; j++) {
            const double *ai = ad + (size_t)i * k, *bj = bt + (size_t)j * k;
            double sum = 0, mag = 0, bc = beta == 0 ? 0 : (double)beta * c[(size_t)i * ldc + j];
            for (p = 0; p < k; p++) {
                double t = ai[p] * bj[p];
                sum += t;
                mag += fabs(t);
            }
            want[(size_t)i * n + j] = sum + bc;
            tol[(size_t)i * n + j] = C0 * U * ((double)k * mag + (k + 1.0) * fabs(bc));
        }
    free(ad), free(bt);
    return 1;
}

/* Elements of got [m,n] (stride ldc) farther from want than tol; the first is printed. */
static int compare(const char *what, int m, int n, const float *got, int ldc, const double *want,
                   const double *tol) {
    int i, j, bad = 0;
    for (i = 0; i < m; i++)
        for (j = 0; j < n; j++) {
            double g = got[(size_t)i * ldc + j], w = want[(size_t)i * n + j];
            if (!(fabs(g - w) <= tol[(size_t)i * n + j])) {
                if (!bad)
                    fprintf(stderr, "  %s: [%d,%d] = %.9g, want %.9g (tol %.3g)\n", what, i, j, g,
                            w, tol[(size_t)i * n + j]);
                bad++;
            }
        }
    return bad;
}

/* Index of the first float where x and y differ bit for bit, or -1. */
static long first_difference(const float *x, const float *y, size_t count) {
    size_t e;
    if (memcmp(x, y, count * sizeof(float)) == 0) return -1;
    for (e = 0; memcmp(&x[e], &y[e], sizeof(float)) == 0; e++) continue;
    return (long)e;
}

/* ---- mdl_sgemm ----
   One shape, all four transposes: op(A) [m,k] and op(B) [k,n] are the same matrices each time,
   stored as they are or transposed, so one reference serves all four. Half the runs have
   alpha = 1, beta = 0 (C full of NaN before), half alpha = 0.7, beta = 1.3. */

/* x [rows, cols] (stride cols) into y, as it is or transposed ([cols, rows]) */
static void store(const float *x, int rows, int cols, int transpose, float *y) {
    int i, j;
    for (i = 0; i < rows; i++)
        for (j = 0; j < cols; j++)
            y[transpose ? (size_t)j * rows + i : (size_t)i * cols + j] = x[(size_t)i * cols + j];
}

static void test_sgemm(int m, int n, int k) {
    size_t na = (size_t)m * k, nb = (size_t)k * n, nc = (size_t)m * n, e;
    float *opa = new_floats(na), *opb = new_floats(nb), *a = new_floats(na), *b = new_floats(nb);
    float *c0[2], *c[RUNS] = {NULL, NULL, NULL};
    double *want[2], *tol[2];
    int q, r, t, x;
    c0[0] = new_floats(nc), c0[1] = new_floats(nc);
    want[0] = (double *)malloc((nc + 1) * sizeof(double));
    want[1] = (double *)malloc((nc + 1) * sizeof(double));
    tol[0] = (double *)malloc((nc + 1) * sizeof(double));
    tol[1] = (double *)malloc((nc + 1) * sizeof(double));
    for (r = 0; r < RUNS; r++) c[r] = new_floats(nc);
    if (!opa || !opb || !a || !b || !c0[0] || !c0[1] || !c[0] || !c[1] || !c[2] || !want[0] ||
        !want[1] || !tol[0] || !tol[1]) {
        CHECK(want[0] && want[1] && tol[0] && tol[1], "out of memory");
        goto out;
    }
    for (e = 0; e < na; e++) opa[e] = value(1.0);
    for (e = 0; e < nb; e++) opb[e] = value(1.0);
    for (e = 0; e < nc; e++) c0[0][e] = (float)NAN, c0[1][e] = value(2.0);
    if (!reference(0, 0, m, n, k, 1.0f, opa, k, opb, n, 0.0f, c0[0], n, want[0], tol[0]) ||
        !reference(0, 0, m, n, k, 0.7f, opa, k, opb, n, 1.3f, c0[1], n, want[1], tol[1]))
        goto out;
    for (t = 0; t < 4; t++) {
        int ta = t >> 1, tb = t & 1, lda = ta ? m : k, ldb = tb ? k : n, ldc = n;
        float alpha, beta;
        x = (m + t) & 1; /* which of the two settings */
        alpha = x ? 0.7f : 1.0f, beta = x ? 1.3f : 0.0f;
        store(opa, m, k, ta, a);
        store(opb, k, n, tb, b);
        for (q = 0; q < nkernels; q++) {
            /* 512^3 takes most of this program's time (a minute and more under valgrind, which
               emulates AVX slowly): there, 1 and 2 threads only. The plain kernel has no
               parallel loop, so for it this only shows that the thread count changes nothing:
               1 and 2 threads, and on 512^3 one transpose. */
            int plain = strcmp(kernels[q], "plain") == 0, big = na * (size_t)n > 100000000u;
            int runs = plain || big ? 2 : RUNS;
            char what[128];
            if (plain && big && t > 0) continue;
            CHECK(mdl_set_gemm_kernel(kernels[q]) == 1, "set %s", kernels[q]);
            for (r = 0; r < runs; r++) {
                memcpy(c[r], c0[x], nc * sizeof(float));
                omp_set_num_threads(thread_counts[r]);
                CHECK(omp_get_max_threads() == thread_counts[r], "omp_get_max_threads() = %d, "
                      "want %d", omp_get_max_threads(), thread_counts[r]);
                mdl_sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c[r], ldc);
            }
            snprintf(what, sizeof what, "%s m=%d n=%d k=%d trans_a=%d trans_b=%d alpha=%g beta=%g",
                     kernels[q], m, n, k, ta, tb, (double)alpha, (double)beta);
            for (r = 1; r < runs; r++) {
                long d = first_difference(c[0], c[r], nc);
                CHECK(d < 0, "%s: %d threads differ from 1 thread at C[%ld,%ld]: %.9g vs %.9g",
                      what, thread_counts[r], d / n, d % n, (double)c[r][d < 0 ? 0 : d],
                      (double)c[0][d < 0 ? 0 : d]);
            }
            CHECK(compare(what, m, n, c[1], ldc, want[x], tol[x]) == 0, "%s: 2 threads: wrong "
                  "values", what);
        }
    }
out:
    omp_set_num_threads(1);
    free(opa), free(opb), free(a), free(b), free(c0[0]), free(c0[1]);
    free(want[0]), free(want[1]), free(tol[0]), free(tol[1]);
    for (r = 0; r < RUNS; r++) free(c[r]);
}

/* ---- mdl_matmul and its backward ----
   y = a @ b, then backward from a given dy: dA = dY @ B^T, dB = A^T @ dY (summed over the batch
   when b is shared). y, a->grad and b->grad must not depend on the thread count, and must match
   the reference. a is [batch, m, k] (or [m, k] when batch == 0), b is [batch, k, n] when
   b_batched, else [k, n]. */
static void test_matmul(int batch, int m, int k, int n, int b_batched) {
    int sa[3], sb[3], sy[3], nda = batch ? 3 : 2, ndb = b_batched ? 3 : 2, nb_ = batch ? batch : 1;
    size_t na = (size_t)nb_ * m * k, nbv = (size_t)(b_batched ? nb_ : 1) * k * n;
    size_t ny = (size_t)nb_ * m * n, e;
    float *av = new_floats(na), *bv = new_floats(nbv), *dyv = new_floats(ny);
    float *out[RUNS][3]; /* y, dA, dB per run */
    double *want = (double *)malloc((na + nbv + ny + 1) * sizeof(double));
    double *tol = (double *)malloc((na + nbv + ny + 1) * sizeof(double));
    mdl_arena *ar = mdl_arena_new(0);
    int q, r, i, x;
    char what[128];
    memset(out, 0, sizeof out);
    for (r = 0; r < RUNS; r++) {
        out[r][0] = new_floats(ny);
        out[r][1] = new_floats(na);
        out[r][2] = new_floats(nbv);
    }
    if (!av || !bv || !dyv || !want || !tol || !ar) {
        CHECK(want && tol && ar, "out of memory");
        goto out;
    }
    for (r = 0; r < RUNS; r++)
        for (x = 0; x < 3; x++)
            if (!out[r][x]) goto out;
    if (batch) sa[0] = sb[0] = sy[0] = batch;
    sa[nda - 2] = m, sa[nda - 1] = k;
    sb[ndb - 2] = k, sb[ndb - 1] = n;
    sy[nda - 2] = m, sy[nda - 1] = n;
    for (e = 0; e < na; e++) av[e] = value(1.0);
    for (e = 0; e < nbv; e++) bv[e] = value(1.0);
    for (e = 0; e < ny; e++) dyv[e] = value(1.0);

    /* the reference, batch entry by batch entry: y, then dA, then dB (dB added up over the
       batch when b is shared: a reference over [nb_*m] rows of A^T at once does that) */
    for (i = 0; i < nb_; i++) {
        const float *ai = av + (size_t)i * m * k, *bi = bv + (b_batched ? (size_t)i * k * n : 0);
        const float *dyi = dyv + (size_t)i * m * n;
        size_t oy = na + nbv + (size_t)i * m * n, oa = (size_t)i * m * k;
        if (!reference(0, 0, m, n, k, 1.0f, ai, k, bi, n, 0.0f, NULL, n, want + oy, tol + oy) ||
            !reference(0, 1, m, k, n, 1.0f, dyi, n, bi, n, 0.0f, NULL, k, want + oa, tol + oa))
            goto out;
        if (b_batched &&
            !reference(1, 0, k, n, m, 1.0f, ai, k, dyi, n, 0.0f, NULL, n,
                       want + na + (size_t)i * k * n, tol + na + (size_t)i * k * n))
            goto out;
    }
    if (!b_batched && !reference(1, 0, k, n, nb_ * m, 1.0f, av, k, dyv, n, 0.0f, NULL, n,
                                 want + na, tol + na))
        goto out;

    capture_errors();
    for (q = 0; q <= nkernels; q++) { /* the last time with "auto", as users run it */
        const char *kernel = q < nkernels ? kernels[q] : "auto";
        mdl_set_gemm_kernel(kernel);
        for (r = 0; r < RUNS; r++) {
            mdl_tensor *a, *b, *y, *dy;
            omp_set_num_threads(thread_counts[r]);
            a = mdl_from_array(ar, nda, sa, av);
            b = mdl_from_array(ar, ndb, sb, bv);
            dy = mdl_from_array(ar, nda, sy, dyv);
            if (!a || !b || !dy) {
                CHECK(a && b && dy, "from_array: %s", mdl_last_error());
                goto out;
            }
            mdl_set_requires_grad(a, 1);
            mdl_set_requires_grad(b, 1);
            y = mdl_matmul(ar, a, b);
            CHECK(y != NULL && mdl_backward_with(y, dy) == MDL_OK && a->grad && b->grad,
                  "matmul/backward: %s", mdl_last_error());
            if (!y || !a->grad || !b->grad) goto out;
            memcpy(out[r][0], y->data, ny * sizeof(float));
            memcpy(out[r][1], a->grad, na * sizeof(float));
            memcpy(out[r][2], b->grad, nbv * sizeof(float));
            mdl_arena_reset(ar);
        }
        snprintf(what, sizeof what, "%s mdl_matmul batch=%d m=%d k=%d n=%d b %s", kernel,
                 batch, m, k, n, b_batched ? "batched" : "shared");
        for (r = 1; r < RUNS; r++) {
            static const char *const part[3] = {"y", "dA", "dB"};
            size_t count[3];
            count[0] = ny, count[1] = na, count[2] = nbv;
            for (x = 0; x < 3; x++) {
                long d = first_difference(out[0][x], out[r][x], count[x]);
                CHECK(d < 0, "%s: %s with %d threads differs from 1 thread at element %ld", what,
                      part[x], thread_counts[r], d);
            }
        }
        /* the 2-thread results against the reference */
        {
            int bad = 0;
            for (i = 0; i < nb_; i++) {
                size_t oy = (size_t)i * m * n, oa = (size_t)i * m * k;
                bad += compare(what, m, n, out[1][0] + oy, n, want + na + nbv + oy,
                               tol + na + nbv + oy);
                bad += compare(what, m, k, out[1][1] + oa, k, want + oa, tol + oa);
            }
            for (i = 0; i < (b_batched ? nb_ : 1); i++) {
                size_t ob = (size_t)i * k * n;
                bad += compare(what, k, n, out[1][2] + ob, n, want + na + ob, tol + na + ob);
            }
            CHECK(bad == 0, "%s: 2 threads: %d wrong values in y, dA, dB", what, bad);
        }
    }
    CHECK(captured_count == 0, "unexpected error: %s", captured_message);
out:
    omp_set_num_threads(1);
    mdl_arena_free(ar);
    free(av), free(bv), free(dyv), free(want), free(tol);
    for (r = 0; r < RUNS; r++)
        for (x = 0; x < 3; x++) free(out[r][x]);
}

/* ---- mdl_conv2d and its backward ----
   The runs of images that conv2d shares among threads: y, dx, dw and dbias after
   mdl_backward_with(y, dy) must be the same bits with 1, 2 and 3 threads (test_conv checks the
   values themselves against direct loops). The cases have several runs (the library puts up to
   2^17 values of im2col columns in one), with the columns kept from forward for dW or built
   again (w without grad: dx only; or x without grad: dW and dbias only), groups, padding,
   stride, and more runs (15) than the 8 parts backward sums dW in; and the same for the direct
   path that stride-1 convolutions take with the AVX-512 kernel. */
typedef struct tconv {
    const char *name;
    int B, C, H, W, O, K, stride, pad, groups, xgrad, wgrad;
} tconv;

static void test_conv(const tconv *tc) {
    int xs[4] = {tc->B, tc->C, tc->H, tc->W}, ws[4] = {tc->O, tc->C / tc->groups, tc->K, tc->K};
    int bs[1] = {tc->O};
    size_t nx = (size_t)tc->B * tc->C * tc->H * tc->W, nw = (size_t)ws[0] * ws[1] * ws[2] * ws[3];
    float *xv = new_floats(nx), *wv = new_floats(nw), *bv = new_floats((size_t)tc->O);
    float *got[RUNS][4]; /* y, dx, dw, db per thread count */
    size_t count[4] = {0, 0, 0, 0};
    mdl_arena *ar = mdl_arena_new(0);
    int r, x, q;
    size_t e;
    memset(got, 0, sizeof got);
    if (!xv || !wv || !bv || !ar) {
        CHECK(0, "%s: out of memory", tc->name);
        goto out;
    }
    for (e = 0; e < nx; e++) xv[e] = value(1.0);
    for (e = 0; e < nw; e++) wv[e] = value(1.0);
    for (e = 0; e < (size_t)tc->O; e++) bv[e] = value(1.0);
    capture_errors();
    for (q = 0; q <= nkernels; q++) {
        const char *kernel = q < nkernels ? kernels[q] : "auto";
        mdl_set_gemm_kernel(kernel);
        for (r = 0; r < RUNS; r++) {
            mdl_tensor *xt, *wt, *bt, *y, *dy;
            const float *parts[4];
            omp_set_num_threads(thread_counts[r]);
            xt = mdl_from_array(ar, 4, xs, xv);
            wt = mdl_from_array(ar, 4, ws, wv);
            bt = mdl_from_array(ar, 1, bs, bv);
            if (!xt || !wt || !bt) {
                CHECK(0, "%s: from_array: %s", tc->name, mdl_last_error());
                goto out;
            }
            mdl_set_requires_grad(xt, tc->xgrad);
            mdl_set_requires_grad(wt, tc->wgrad);
            mdl_set_requires_grad(bt, tc->wgrad);
            y = mdl_conv2d(ar, xt, wt, bt,
                           conv_opts(tc->stride, tc->pad, 1, tc->groups));
            dy = y ? mdl_zeros(ar, 4, y->shape) : NULL;
            if (dy) /* the same dy each time: from the values of y's shape, not a generator */
                for (e = 0; e < dy->numel; e++) dy->data[e] = (float)((e * 7919u) % 17) / 8.0f - 1.0f;
            CHECK(y && dy && mdl_backward_with(y, dy) == MDL_OK, "%s: conv2d/backward: %s",
                  tc->name, mdl_last_error());
            if (!y || !dy) goto out;
            parts[0] = y->data, parts[1] = xt->grad, parts[2] = wt->grad, parts[3] = bt->grad;
            count[0] = y->numel, count[1] = tc->xgrad ? nx : 0;
            count[2] = tc->wgrad ? nw : 0, count[3] = tc->wgrad ? (size_t)tc->O : 0;
            for (x = 0; x < 4; x++) {
                if (!count[x]) continue;
                if (!got[r][x]) got[r][x] = new_floats(count[x]);
                if (!got[r][x] || !parts[x]) {
                    CHECK(0, "%s: part %d missing", tc->name, x);
                    goto out;
                }
                memcpy(got[r][x], parts[x], count[x] * sizeof(float));
            }
            mdl_arena_reset(ar);
        }
        for (r = 1; r < RUNS; r++) {
            static const char *const what[4] = {"y", "dx", "dw", "dbias"};
            for (x = 0; x < 4; x++) {
                long d;
                if (!count[x]) continue;
                d = first_difference(got[0][x], got[r][x], count[x]);
                CHECK(d < 0, "%s conv2d %s: %s with %d threads differs from 1 thread at element "
                      "%ld", kernel, tc->name, what[x], thread_counts[r], d);
            }
        }
    }
    CHECK(captured_count == 0, "%s: unexpected error: %s", tc->name, captured_message);
out:
    omp_set_num_threads(1);
    mdl_arena_free(ar);
    free(xv), free(wv), free(bv);
    for (r = 0; r < RUNS; r++)
        for (x = 0; x < 4; x++) free(got[r][x]);
}

/* The elementwise loops share arrays of at least 65536 values among the threads: relu,
   add_scalar, mul_scalar forward and backward (and the store and add forms of their
   gradients: x is read twice) over 70,001 values (parts that are not a whole number of
   spans), 1, 2 and 3 threads, the same bits; and 65,535 values stay on one thread. */
static void test_elementwise(void) {
    static const int sizes[2] = {70001, 65535};
    int si, t, op;
    for (si = 0; si < 2; si++)
        for (op = 0; op < 3; op++) {
            const int n = sizes[si];
            mdl_scalar *first_y = (mdl_scalar *)malloc((size_t)n * sizeof(mdl_scalar));
            mdl_scalar *first_g = (mdl_scalar *)malloc((size_t)n * sizeof(mdl_scalar));
            int same = 1;
            for (t = 1; t <= 3; t++) {
                mdl_arena *ar = mdl_arena_new(0);
                mdl_rng rng;
                mdl_tensor *x, *h, *y, *w;
                mdl_rng_seed(&rng, 5);
                omp_set_num_threads(t);
                x = mdl_randn(ar, &rng, 1, &n, 0, 1);
                w = mdl_randn(ar, &rng, 1, &n, 0, 1);
                mdl_set_requires_grad(x, 1);
                h = mdl_mul_scalar(ar, x, (mdl_scalar)1.5); /* a fresh gradient buffer */
                y = op == 0 ? mdl_relu(ar, h) : op == 1 ? mdl_add_scalar(ar, h, 0.25)
                                                        : mdl_mul_scalar(ar, h, -0.75);
                y = mdl_add(ar, mdl_relu(ar, y), mdl_mul_scalar(ar, h, 0.5)); /* h read twice */
                mdl_backward(mdl_sum(ar, mdl_mul(ar, y, w), MDL_ALL, 0));
                if (t == 1) {
                    memcpy(first_y, y->data, (size_t)n * sizeof(mdl_scalar));
                    memcpy(first_g, x->grad, (size_t)n * sizeof(mdl_scalar));
                } else if (memcmp(first_y, y->data, (size_t)n * sizeof(mdl_scalar)) != 0 ||
                           memcmp(first_g, x->grad, (size_t)n * sizeof(mdl_scalar)) != 0) {
                    same = 0;
                }
                mdl_arena_free(ar);
            }
            CHECK(same, "elementwise op %d over %d values: 1, 2 and 3 threads give the same bits",
                  op, n);
            free(first_y);
            free(first_g);
        }
    omp_set_num_threads(omp_get_num_procs());
}

/* max pooling 2 x 2 of a large x ([2,16,48,48]: planes on the threads) forward and backward,
   with 1, 2 and 3 threads: the same bits */
static void test_pool_threads(void) {
    const int xs[4] = {2, 16, 48, 48};
    const size_t n = 2 * 16 * 48 * 48, m = 2 * 16 * 24 * 24;
    mdl_scalar *first_y = (mdl_scalar *)malloc(m * sizeof(mdl_scalar));
    mdl_scalar *first_g = (mdl_scalar *)malloc(n * sizeof(mdl_scalar));
    int t, same = 1;
    for (t = 1; t <= 3; t++) {
        mdl_arena *ar = mdl_arena_new(0);
        mdl_rng rng;
        mdl_tensor *x, *y;
        mdl_rng_seed(&rng, 9);
        omp_set_num_threads(t);
        x = mdl_randn(ar, &rng, 4, xs, 0, 1);
        mdl_set_requires_grad(x, 1);
        y = mdl_max_pool2d(ar, x, 2, NULL);
        mdl_backward_with(y, mdl_randn(ar, &rng, 4, y->shape, 0, 1));
        if (t == 1) {
            memcpy(first_y, y->data, m * sizeof(mdl_scalar));
            memcpy(first_g, x->grad, n * sizeof(mdl_scalar));
        } else if (memcmp(first_y, y->data, m * sizeof(mdl_scalar)) != 0 ||
                   memcmp(first_g, x->grad, n * sizeof(mdl_scalar)) != 0) {
            same = 0;
        }
        mdl_arena_free(ar);
    }
    CHECK(same, "max_pool2d 2x2 of [2,16,48,48]: 1, 2 and 3 threads give the same bits");
    free(first_y);
    free(first_g);
    omp_set_num_threads(omp_get_num_procs());
}

int main(void) {
    static const int shapes[][3] = {
        {512, 512, 512}, {1000, 37, 300}, {64, 784, 128}, {7, 2000, 64}, {16, 150, 6400},
        {27, 400, 100}};
    int i, s;
    capture_errors();
    for (i = 0; i < NAMES; i++)
        if (mdl_set_gemm_kernel(all_names[i])) kernels[nkernels++] = all_names[i];
    CHECK(nkernels > 0 && strcmp(kernels[nkernels - 1], "plain") == 0, "no plain kernel");
    printf("test_threads: kernels tested:");
    for (i = 0; i < nkernels; i++) printf(" %s", kernels[i]);
    printf("; %d processors, thread counts 1, 2, 3\n", omp_get_num_procs());
    for (s = 0; s < (int)(sizeof shapes / sizeof shapes[0]); s++)
        test_sgemm(shapes[s][0], shapes[s][1], shapes[s][2]);
    test_matmul(0, 64, 784, 128, 0);
    test_matmul(3, 100, 37, 300, 1);
    test_matmul(4, 50, 64, 200, 0);
    {
        static const tconv convs[] = {
            /* name                        B   C   H   W   O  K  s  p  g  xgrad wgrad */
            {"LeNet conv2, runs 8+8+4",    20, 6, 14, 14, 16, 5, 1, 0, 1, 1, 1},
            {"LeNet conv1, runs 6+6+6+2",  20, 1, 28, 28, 6, 5, 1, 2, 1, 0, 1},
            {"w without grad",             9, 4, 40, 40, 5, 3, 1, 1, 1, 1, 0},
            {"groups 2, stride 2",         7, 8, 40, 40, 6, 3, 2, 1, 2, 1, 1},
            {"15 runs in 8 parts",         30, 16, 20, 20, 8, 3, 1, 1, 1, 1, 1},
            /* the direct path (stride 1, AVX-512), whose runs are sized by its own scratch:
               LeNet's layers at batch 64 (6 and 5 runs), 10 runs in 8 parts, groups */
            {"direct: LeNet conv1 b64",    64, 1, 28, 28, 6, 5, 1, 2, 1, 0, 1},
            {"direct: LeNet conv2 b64",    64, 6, 14, 14, 16, 5, 1, 0, 1, 1, 1},
            {"direct: 10 runs in 8 parts", 40, 16, 20, 20, 8, 3, 1, 1, 1, 1, 1},
            {"direct: groups 2",           24, 8, 16, 16, 6, 3, 1, 1, 2, 1, 1}};
        for (s = 0; s < (int)(sizeof convs / sizeof convs[0]); s++) test_conv(&convs[s]);
    }
    mdl_set_gemm_kernel("auto");
    test_elementwise();
    test_pool_threads();
    return test_summary();
}

#endif /* MINIDL_DOUBLE */
