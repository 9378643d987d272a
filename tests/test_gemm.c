/* tests/test_gemm.c - mdl_sgemm, C = alpha op(A) op(B) + beta C, with every GEMM micro-kernel
   this machine runs (and "auto", which picks one per product), against a naive triple loop in
   double written here, and each SIMD kernel against the plain one.

   Covered, for every kernel: all m, n, k in 0..17 with both transposes, alpha in {0, 1, 0.7}
   and beta in {0, 1, 1.3}; larger shapes that cross the packed kernel's blocks (KC = 512 along
   k, NC = 1024 along n, tiles of 12x32, 6x16, 8x12; products of one or two row strips, where
   B is read in place) and both sides of the m*n*k < 512 cut below which the plain kernel runs
   instead of the packed one; the unpacked kernels (B not transposed: every such product in
   0..17, and the larger ones below: tiles of every row count, made of the sizes compiled by
   starting higher or by copying A with rows of zeros, whole 32- and 16-column strips and
   narrower ones); row strides wider than the rows, with
   NaN in the padding of A and B (reading it would poison the result) and a sentinel in C's
   padding (it must stay as it was); pointers one float off alignment; allocations that end
   right after the last element (so that AddressSanitizer sees any access past it); NaN and Inf
   in C with beta = 0 (they must vanish) and beta != 0 (they must propagate, as in BLAS);
   argument errors with a capturing handler.

   gcc -std=c99 -O1 -g -Wall -Wextra -Wpedantic -Werror -I. tests/test_gemm.c -o build/test_gemm -lm
*/
#define MINIDL_IMPLEMENTATION
#include "minidl.h"
#include "test.h"

#include <stdint.h>
#include <stdlib.h>

#ifdef MINIDL_DOUBLE
/* mdl_sgemm is single precision only; a double build has just the plain kernel. */
int main(void) {
    CHECK(strcmp(mdl_gemm_kernel(), "plain") == 0, "kernel %s", mdl_gemm_kernel());
    CHECK(mdl_set_gemm_kernel("avx2") == 0, "a double build claims the avx2 kernel");
    return test_summary();
}
#else

/* ---- the kernels to test: every name mdl_set_gemm_kernel accepts here, plain first ---- */

static const char *const all_names[] = {"avx512", "avx2", "neon", "plain"};
#define NAMES 4
static const char *kernels[NAMES + 1]; /* those that run here, plain first, then "auto" */
static int nkernels;

static void find_kernels(void) {
    int i;
    CHECK(mdl_set_gemm_kernel("plain") == 1, "the plain kernel is not available");
    kernels[nkernels++] = "plain";
    for (i = 0; i < NAMES - 1; i++)
        if (mdl_set_gemm_kernel(all_names[i])) {
            CHECK(strcmp(mdl_gemm_kernel(), all_names[i]) == 0, "set %s, in use %s",
                  all_names[i], mdl_gemm_kernel());
            kernels[nkernels++] = all_names[i];
        }
    kernels[nkernels++] = "auto"; /* the library's choice, product by product */
    printf("test_gemm: kernels tested:");
    for (i = 0; i < nkernels; i++) printf(" %s", kernels[i]);
    printf("\n");
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__)) && \
    !defined(MINIDL_NO_SIMD)
    /* what the CPU has, asked here independently of the library */
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        CHECK(mdl_set_gemm_kernel("avx2") == 1, "the CPU has AVX2+FMA but no avx2 kernel runs");
    if (__builtin_cpu_supports("avx512f"))
        CHECK(mdl_set_gemm_kernel("avx512") == 1, "the CPU has AVX-512F but no avx512 kernel runs");
#endif
#if defined(__aarch64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(MINIDL_NO_SIMD)
    CHECK(mdl_set_gemm_kernel("neon") == 1, "an AArch64 CPU without the neon kernel");
#endif
    /* an unknown name is refused and changes nothing */
    CHECK(mdl_set_gemm_kernel("plain") == 1 && mdl_set_gemm_kernel("sse9") == 0 &&
              strcmp(mdl_gemm_kernel(), "plain") == 0,
          "unknown kernel name: in use %s", mdl_gemm_kernel());
}

/* ---- data: a fixed-seed generator; values bounded away from 0, so every term matters ---- */

static uint32_t rng = 12345u;

static double uniform(void) { /* in [0, 1) */
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return (double)(rng >> 8) / 16777216.0;
}

/* +-[1/16, hi): a missing, doubled or misplaced term moves the sum far beyond the tolerance */
static float value(double hi) {
    double v = 0.0625 + (hi - 0.0625) * uniform();
    return (float)(uniform() < 0.5 ? -v : v);
}

/* ---- operands in memory ----
   A rows x cols operand with row stride ld starts `off` floats into its own allocation (off = 1
   makes the pointer 4 bytes off the 16-byte alignment of malloc), and the allocation ends right
   after its last element. The padding (columns cols..ld-1) and the `off` floats before it are
   "outside": NaN in A and B, a sentinel in C. */
typedef struct {
    int rows, cols, ld, off;
    size_t count; /* floats in the allocation */
    float *mem, *p;
} operand;

static int operand_new(operand *o, int rows, int cols, int ld, int off) {
    size_t used = rows > 0 && cols > 0 ? (size_t)(rows - 1) * (size_t)ld + (size_t)cols : 0;
    o->rows = rows, o->cols = cols, o->ld = ld, o->off = off;
    o->count = (size_t)off + used;
    o->mem = (float *)malloc((o->count ? o->count : 1) * sizeof(float));
    o->p = o->mem ? o->mem + off : NULL;
    if (!o->mem) CHECK(o->mem != NULL, "out of memory for %d x %d", rows, cols);
    return o->mem != NULL;
}

static int outside(const operand *o, size_t e) {
    return e < (size_t)o->off || (int)((e - (size_t)o->off) % (size_t)o->ld) >= o->cols;
}

/* Inside: value(hi), or `inside` if hi == 0; outside: `pad`. */
static void operand_fill(operand *o, double hi, float inside, float pad) {
    size_t e;
    for (e = 0; e < o->count; e++)
        o->mem[e] = outside(o, e) ? pad : hi > 0 ? value(hi) : inside;
}

/* Has anything outside the operand changed (compared bit for bit with `before`)? */
static int outside_changed(const operand *o, const float *before) {
    size_t e;
    for (e = 0; e < o->count; e++)
        if (outside(o, e) && memcmp(&o->mem[e], &before[e], sizeof(float)) != 0) return 1;
    return 0;
}

/* ---- the reference and the tolerance ----

   want[i,j] = sum_p alpha A[i,p] B[p,j] + beta C[i,j] in double (each product of floats is
   exact in double but for one rounding of 2^-53; the sums add k 2^-53 more: nothing next to
   the float errors below).

   The tolerance is what standard error analysis (Higham, "Accuracy and Stability of Numerical
   Algorithms", section 3.1) allows a float GEMM, u = 2^-24 the unit roundoff:
       tol[i,j] = c0 u (k S + (k + 1) |beta C[i,j]|),   S = sum_p |alpha A[i,p] B[p,j]|.
   Each term alpha a b meets at most k + 1 + ceil(k / 256) roundings on its way into C in the
   packed kernel (alpha a when A is packed, k fused multiply-adds, the add of beta C, one add
   per further block of KC = 256 along k) and at most k + 2 in the plain one (alpha a or alpha
   times the dot product, the product, the additions after it); both are <= 3k for k >= 1, and
   n roundings cost at most gamma_n = n u / (1 - n u) < 1.0001 n u relative to S here. beta C is
   rounded once and then meets every addition after it: k of them in the plain kernel, which
   adds the terms one by one into C, hence k + 1 and not 1. So c0 = 4 holds in the worst case
   with a margin of 4/3 on S (the worst error seen here is about half the tolerance). Yet for
   k <= 17 the tolerance stays under 1e-4, far below the smallest term (alpha/256 = 0.0027),
   so one missing, doubled or misplaced term anywhere fails; at k = 600 it is about 0.02,
   still ten times below a typical term (about 0.3), and a wrong block spoils many elements
   at once. A beta applied wrongly moves C by 0.3 |C| or more. */
#define U 5.9604644775390625e-08 /* 2^-24 */
#define C0 4.0

typedef struct {
    int ta, tb, m, n, k;
    float alpha, beta;
    int lda, ldb, ldc, off_a, off_b, off_c;
} gcase;

/* op(A)[i,p] and op(B)[p,j] of case g read from the operands' elements */
static float op_a(const gcase *g, const float *a, int i, int p) {
    size_t ld = (size_t)g->lda;
    return g->ta ? a[(size_t)p * ld + (size_t)i] : a[(size_t)i * ld + (size_t)p];
}
static float op_b(const gcase *g, const float *b, int p, int j) {
    size_t ld = (size_t)g->ldb;
    return g->tb ? b[(size_t)j * ld + (size_t)p] : b[(size_t)p * ld + (size_t)j];
}

/* want and tol, [m*n] each, from A, B and C before the call; c is ignored when beta == 0 */
static int reference(const gcase *g, const float *a, const float *b, const float *c, double *want,
                     double *tol) {
    int m = g->m, n = g->n, k = g->k, i, j, p;
    /* op(A) and op(B)^T copied into dense rows, so the dot products below read contiguously */
    double *ad = (double *)malloc(((size_t)m * (size_t)k + 1) * sizeof(double));
    double *bt = (double *)malloc(((size_t)n * (size_t)k + 1) * sizeof(double));
    if (!ad || !bt) {
        CHECK(ad && bt, "out of memory for the reference");
        free(ad), free(bt);
        return 0;
    }
    for (i = 0; i < m; i++)
        for (p = 0; p < k; p++)
            ad[(size_t)i * (size_t)k + (size_t)p] = (double)g->alpha * op_a(g, a, i, p);
    for (j = 0; j < n; j++)
        for (p = 0; p < k; p++) bt[(size_t)j * (size_t)k + (size_t)p] = op_b(g, b, p, j);
    for (i = 0; i < m; i++)
        for (j = 0; j < n; j++) {
            const double *ai = ad + (size_t)i * (size_t)k, *bj = bt + (size_t)j * (size_t)k;
            double sum = 0, mag = 0, bc = 0;
            for (p = 0; p < k; p++) {
                double t = ai[p] * bj[p];
                sum += t;
                mag += fabs(t);
            }
            if (g->beta != 0) bc = (double)g->beta * c[(size_t)i * (size_t)g->ldc + (size_t)j];
            want[(size_t)i * (size_t)n + (size_t)j] = sum + bc;
            tol[(size_t)i * (size_t)n + (size_t)j] =
                C0 * U * ((double)k * mag + (k + 1.0) * fabs(bc));
        }
    free(ad), free(bt);
    return 1;
}

/* ---- running a case ---- */

static int details_left = 12; /* failures printed in full, over the whole program */

static void describe(const char *what, const gcase *g) {
    fprintf(stderr, "  %s: m=%d n=%d k=%d trans_a=%d trans_b=%d alpha=%g beta=%g lda=%d ldb=%d "
            "ldc=%d offsets a,b,c=%d,%d,%d: ", what, g->m, g->n, g->k, g->ta, g->tb,
            (double)g->alpha, (double)g->beta, g->lda, g->ldb, g->ldc, g->off_a, g->off_b,
            g->off_c);
}

/* Elements of C (stride ldc) off want by more than scale * tol; the first printed in full. */
static int compare(const char *what, const gcase *g, const float *c, const double *want,
                   const double *tol, double scale) {
    int i, j, bad = 0;
    for (i = 0; i < g->m; i++)
        for (j = 0; j < g->n; j++) {
            double got = c[(size_t)i * (size_t)g->ldc + (size_t)j];
            size_t e = (size_t)i * (size_t)g->n + (size_t)j;
            if (!(fabs(got - want[e]) <= scale * tol[e])) {
                if (bad == 0 && details_left > 0) {
                    details_left--;
                    describe(what, g);
                    fprintf(stderr, "C[%d,%d] = %.9g, want %.9g (|diff| %.3g > tol %.3g)\n", i, j,
                            got, want[e], fabs(got - want[e]), scale * tol[e]);
                }
                bad++;
            }
        }
    return bad;
}

/* Per kernel: cases run and cases with anything wrong. */
static long cases_run[NAMES + 1], cases_bad[NAMES + 1], cases_bad_vs_plain[NAMES + 1];

/* Run case g with every kernel: fill A, B (NaN outside), C (NaN inside when beta == 0, the
   sentinel outside), compute the reference, call mdl_sgemm and check C's values, C's outside,
   and that A and B are unchanged; then each SIMD kernel's C against the plain kernel's. */
static void run_case(const gcase *g) {
    static const float sentinel = -1234.5f;
    int ra = g->ta ? g->k : g->m, ca = g->ta ? g->m : g->k;
    int rb = g->tb ? g->n : g->k, cb = g->tb ? g->k : g->n, q;
    size_t mn = (size_t)g->m * (size_t)g->n + 1;
    operand A, B, C;
    float *a0 = NULL, *b0 = NULL, *c0 = NULL, *plain = NULL;
    double *want = NULL, *tol = NULL, *plain_d = NULL;
    if (!operand_new(&A, ra, ca, g->lda, g->off_a)) return;
    if (!operand_new(&B, rb, cb, g->ldb, g->off_b)) goto out_a;
    if (!operand_new(&C, g->m, g->n, g->ldc, g->off_c)) goto out_b;
    a0 = (float *)malloc((A.count + 1) * sizeof(float));
    b0 = (float *)malloc((B.count + 1) * sizeof(float));
    c0 = (float *)malloc((C.count + 1) * sizeof(float));
    plain = (float *)malloc((C.count + 1) * sizeof(float));
    want = (double *)malloc(mn * sizeof(double));
    tol = (double *)malloc(mn * sizeof(double));
    plain_d = (double *)malloc(mn * sizeof(double));
    if (!a0 || !b0 || !c0 || !plain || !want || !tol || !plain_d) {
        CHECK(a0 && b0 && c0 && plain && want && tol && plain_d, "out of memory");
        goto out;
    }

    operand_fill(&A, 1.0, 0, (float)NAN);
    operand_fill(&B, 1.0, 0, (float)NAN);
    if (g->beta == 0) operand_fill(&C, 0, (float)NAN, sentinel);
    else operand_fill(&C, 2.0, 0, sentinel);
    memcpy(a0, A.mem, A.count * sizeof(float));
    memcpy(b0, B.mem, B.count * sizeof(float));
    memcpy(c0, C.mem, C.count * sizeof(float));
    if (!reference(g, A.p, B.p, C.p, want, tol)) goto out;

    for (q = 0; q < nkernels; q++) {
        int bad = 0;
        memcpy(C.mem, c0, C.count * sizeof(float));
        mdl_set_gemm_kernel(kernels[q]);
        mdl_sgemm(g->ta, g->tb, g->m, g->n, g->k, g->alpha, A.p, g->lda, B.p, g->ldb, g->beta,
                  C.p, g->ldc);
        bad += compare(kernels[q], g, C.p, want, tol, 1.0);
        if (outside_changed(&C, c0)) {
            if (details_left-- > 0) {
                describe(kernels[q], g);
                fprintf(stderr, "wrote into C's padding or before C\n");
            }
            bad++;
        }
        if (memcmp(A.mem, a0, A.count * sizeof(float)) ||
            memcmp(B.mem, b0, B.count * sizeof(float))) {
            if (details_left-- > 0) {
                describe(kernels[q], g);
                fprintf(stderr, "changed A or B\n");
            }
            bad++;
        }
        cases_run[q]++;
        if (bad) cases_bad[q]++;
        if (q == 0) { /* the plain kernel: keep its result for the SIMD kernels */
            int i, j;
            memcpy(plain, C.mem, C.count * sizeof(float));
            for (i = 0; i < g->m; i++)
                for (j = 0; j < g->n; j++)
                    plain_d[(size_t)i * (size_t)g->n + (size_t)j] =
                        C.p[(size_t)i * (size_t)g->ldc + (size_t)j];
        } else {
            /* both are within tol of the exact value, so within 2 tol of each other */
            char what[64];
            snprintf(what, sizeof what, "%s vs plain", kernels[q]);
            if (compare(what, g, C.p, plain_d, tol, 2.0)) cases_bad_vs_plain[q]++;
        }
    }
out:
    free(a0), free(b0), free(c0), free(plain), free(want), free(tol), free(plain_d);
    free(C.mem);
out_b:
    free(B.mem);
out_a:
    free(A.mem);
}

/* Fill in the row strides from the widths plus a padding, and the offsets. */
static void layout(gcase *g, int pad_a, int pad_b, int pad_c, int off_a, int off_b, int off_c) {
    int ca = g->ta ? g->m : g->k, cb = g->tb ? g->k : g->n;
    g->lda = (ca > 1 ? ca : 1) + pad_a;
    g->ldb = (cb > 1 ? cb : 1) + pad_b;
    g->ldc = (g->n > 1 ? g->n : 1) + pad_c;
    g->off_a = off_a, g->off_b = off_b, g->off_c = off_c;
}

static const float alphas[3] = {0.0f, 1.0f, 0.7f}, betas[3] = {0.0f, 1.0f, 1.3f};

static void report(const char *section) {
    int q;
    for (q = 0; q < nkernels; q++) {
        CHECK(cases_bad[q] == 0, "%s, kernel %s: %ld of %ld cases wrong", section, kernels[q],
              cases_bad[q], cases_run[q]);
        if (q > 0)
            CHECK(cases_bad_vs_plain[q] == 0, "%s, kernel %s: %ld of %ld cases differ from plain",
                  section, kernels[q], cases_bad_vs_plain[q], cases_run[q]);
        CHECK(cases_run[q] > 0, "%s: kernel %s ran no case", section, kernels[q]);
        cases_run[q] = cases_bad[q] = cases_bad_vs_plain[q] = 0;
    }
}

/* Every m, n, k in 0..17, both transposes, every alpha and beta: 18^3 * 36 cases. The paddings
   (0, 1, 3 or 16 floats) and offsets (0 or 1 float) cycle with the case number. */
static void test_small(void) {
    static const int pads[4] = {0, 1, 3, 16};
    gcase g;
    unsigned idx = 0;
    int ta, tb, ai, bi;
    for (ta = 0; ta < 2; ta++)
        for (tb = 0; tb < 2; tb++)
            for (ai = 0; ai < 3; ai++)
                for (bi = 0; bi < 3; bi++)
                    for (g.m = 0; g.m <= 17; g.m++)
                        for (g.n = 0; g.n <= 17; g.n++)
                            for (g.k = 0; g.k <= 17; g.k++) {
                                unsigned h = (idx++) * 2654435761u;
                                g.ta = ta, g.tb = tb, g.alpha = alphas[ai], g.beta = betas[bi];
                                layout(&g, pads[(h >> 8) & 3], pads[(h >> 12) & 3],
                                       pads[(h >> 16) & 3], (int)(h >> 20) & 1,
                                       (int)(h >> 22) & 1, (int)(h >> 24) & 1);
                                run_case(&g);
                            }
    report("m, n, k in 0..17");
}

/* Shapes that cross the blocks: k = 511, 512, 513, 1100 around KC = 512 (and 255, 256, 257,
   600 around its former 256: both stay); n = 511, 512, 513,
   1023, 1024, 1025, 1100, 2100 around 512 and NC = 1024 (the column block was 512 once: both
   stay); m = 11, 12, 13, 24, 25, 100 around the 12-row tile (and 5, 6, 7 around the 6-row
   tile); products of up to four strips of A read B in place (three or four only when k*n <=
   2^21): m = 24/25 (6-row tiles), 32/33 (8-row), 48/49 (12-row) on either side of that, and
   {13, 2100, 1000} past the k*n limit (3 strips of the 6-row tile); the cut at m*n*k = 512
   from both sides (511 runs the plain kernel, 512 the packed one, with any alpha != 0); the
   4 x 3 dot-product path (A B^T with fewer than 32 rows, m*n <= 4096 and k >= 256; since the
   unpacked path computes such products with 8 rows or more as dot products of its own, only
   those with fewer rows now take it, so some shapes below reach the other): k = 255/256,
   2047/2048/2049 and 4097 around its block of 2048 (and 511/512/513 and 1025 around its
   former 512), m*n = 4096 and 4160 on either side of its limit ({16, 256} and {16, 260}; {64,
   64} and {64, 65} now go to the unpacked kernels), its second limit (m*n <= 512 with k >=
   128: {31, 10, 128} in, {31, 10, 127} and {24, 24, 128} out), and shapes whose
   4 x 3 tiles are taken from A's rows ({16, 150}) or B's ({3, 37}, {25, 6}); the unpacked
   path (B not transposed): 27 rows (12 + 12 + 3, the 3 computed as 4 starting a row higher),
   203 rows (17 tiles of 11 or 12 rows, the 11 computed as 12 that read the next tile's first
   row), 15 rows of 100 columns (8 + 7), 10 rows (a size compiled) of 16 columns (a whole AVX2
   strip), 3 rows with A copied over rows of zeros on the stack and, k = 3000, on the heap (and
   test_long_k below, where that copy would be too big), 29 rows of 64 columns (two whole
   strips of 32), 7 rows of 8 columns (AVX2's 8-lane tiles of 8 rows, under AVX-512 too); with
   B transposed, B^T copied out first (on the stack, or the heap) when k < 64 or m < 8, and
   otherwise every column as a dot product of the unpacked path ({31, 10, 128} and {32, 10,
   128}, once on either side of the 4 x 3 kernels' m = 32); the unpacked kernels' last n % 8
   columns as dot products (with 8 rows or more and k >= 64): 1 to 7 of them ({40, 9},
   {21, 2}, {9, 3}, {18, 12}, {33, 13}, {10, 14}, {17, 23}: groups of 4 and the rest), with k
   not a multiple of 8, rows in whole tiles and in the half-height tiles that take the last
   rows, after a whole strip ({12, 42}), and just outside the rule ({64, 26}: the strip stays
   32 wide; {8, 1, 63}: k too short; {7, 10}: too few rows). Each shape runs with all four
   transposes, each with the next of the six (alpha, beta) pairs with alpha != 0, with
   paddings and offsets varying too. */
static void test_large(void) {
    static const int shapes[][3] = {
        {11, 511, 255}, {12, 512, 256}, {13, 513, 257}, {25, 1100, 600}, {100, 40, 600},
        {100, 1100, 9}, {7, 33, 257},   {5, 17, 600},   {6, 16, 256},    {1, 1, 512},
        {1, 1, 511},    {512, 1, 1},    {511, 1, 1},    {1, 512, 1},     {1, 511, 1},
        {8, 8, 8},      {7, 73, 1},     {8, 64, 1},     {2, 16, 16},     {3, 13, 13},
        {24, 64, 2},    {37, 3, 300},   {12, 32, 1},    {13, 33, 1},     {11, 1023, 20},
        {12, 1024, 33}, {24, 1025, 40}, {25, 2100, 30}, {49, 97, 70},  {64, 64, 256},
        {64, 65, 256},  {3, 37, 513},   {25, 6, 1025},  {16, 150, 511}, {6, 25, 512},
        {1, 7, 255},    {2, 2, 1025},   {48, 130, 300}, {32, 70, 20},   {33, 70, 20},
        {24, 1100, 256}, {13, 2100, 1000}, {70, 70, 511}, {70, 70, 512}, {13, 600, 513}, {65, 80, 1100},
        {32, 10, 128},  {32, 10, 127},  {24, 24, 128},  {27, 40, 31},   {203, 45, 31},
        {15, 100, 40},  {10, 16, 50},   {3, 40, 3000},  {29, 64, 20},   {7, 8, 700},
        {31, 10, 128},  {31, 10, 127},  {16, 256, 256}, {16, 260, 256}, {3, 37, 2049},
        {25, 6, 4097},  {16, 150, 2047}, {6, 25, 2048}, {40, 9, 64},   {21, 2, 67},
        {9, 3, 100},    {18, 12, 64},   {33, 13, 129},  {10, 14, 70},   {17, 23, 65},
        {64, 26, 128},  {12, 42, 200},  {8, 1, 63},     {7, 10, 200}};
    int s, t, pair = 0;
    for (s = 0; s < (int)(sizeof shapes / sizeof shapes[0]); s++)
        for (t = 0; t < 4; t++, pair++) {
            gcase g;
            g.m = shapes[s][0], g.n = shapes[s][1], g.k = shapes[s][2];
            g.ta = t >> 1, g.tb = t & 1;
            g.alpha = alphas[1 + (pair / 3) % 2]; /* alpha = 0 never packs: see test_small */
            g.beta = betas[pair % 3];
            layout(&g, t, 3 - t, 1 + t % 2, t & 1, (t >> 1) & 1, 1 - (t & 1));
            run_case(&g);
        }
    report("large shapes");
}

/* Products too long for the tolerance above to see one row of C missing (at k = 300000 it is
   thousands of times the size of an element), so exact ones: A and B of -1, 0 and 1, whose
   sums are integers below 2^24, exact in floats whatever the order of the additions; every
   kernel must give the reference to the bit. m = 3 and 11 rows are not tile sizes, and with
   k this long A is not copied over rows of zeros (see mdl__gemm_sup): the unpacked path takes
   them as tiles of the sizes below (2 + 1, 8 + 2 + 1). */
static void test_long_k(void) {
    static const int shapes[][3] = {{3, 5, 300000}, {11, 20, 100000}};
    int s, q, t;
    for (s = 0; s < 2; s++) {
        int m = shapes[s][0], n = shapes[s][1], k = shapes[s][2], i, j, p;
        float *a = (float *)malloc((size_t)m * (size_t)k * sizeof(float));
        float *b = (float *)malloc((size_t)k * (size_t)n * sizeof(float));
        float *c = (float *)malloc((size_t)m * (size_t)n * sizeof(float));
        double *want = (double *)malloc((size_t)m * (size_t)n * sizeof(double));
        if (!a || !b || !c || !want) {
            CHECK(a && b && c && want, "out of memory");
            free(a), free(b), free(c), free(want);
            return;
        }
        for (i = 0; i < m * k; i++) a[i] = (float)((int)(uniform() * 3) - 1);
        for (i = 0; i < k * n; i++) b[i] = (float)((int)(uniform() * 3) - 1);
        for (t = 0; t < 2; t++) { /* A as it is, then transposed (A^T stored k x m) */
            if (t == 1) { /* the same op(A): transpose the storage */
                float *at = (float *)malloc((size_t)m * (size_t)k * sizeof(float));
                if (!at) break;
                for (i = 0; i < m; i++)
                    for (p = 0; p < k; p++) at[(size_t)p * m + i] = a[(size_t)i * k + p];
                free(a);
                a = at;
            }
            for (i = 0; i < m; i++)
                for (j = 0; j < n; j++) {
                    double sum = 0;
                    for (p = 0; p < k; p++)
                        sum += (double)(t ? a[(size_t)p * m + i] : a[(size_t)i * k + p]) *
                               b[(size_t)p * n + j];
                    want[i * n + j] = sum;
                }
            for (q = 0; q < nkernels; q++) {
                int bad = 0;
                mdl_set_gemm_kernel(kernels[q]);
                for (i = 0; i < m * n; i++) c[i] = (float)NAN;
                mdl_sgemm(t, 0, m, n, k, 1.0f, a, t ? m : k, b, n, 0.0f, c, n);
                for (i = 0; i < m * n; i++) bad += (double)c[i] != want[i];
                CHECK(bad == 0, "%s %dx%dx%d trans_a=%d, integer operands: %d of %d elements "
                      "not exact", kernels[q], m, n, k, t, bad, m * n);
            }
        }
        free(a), free(b), free(c), free(want);
    }
}

/* NaN and Inf in C: gone with beta = 0, kept (only where they were) with beta != 0. NaN in one
   element of A (B) makes its row (column) of C NaN and nothing else. A and B are not read when
   alpha = 0, as in BLAS: NaN there does not show and NULL is allowed. */
static void nan_case(const char *kernel, int m, int n, int k, int ta, int tb) {
    const float special[3] = {(float)NAN, (float)INFINITY, -(float)INFINITY};
    int lda = ta ? m : k, ldb = tb ? k : n, ldc = n, mn = m * n, i, j, bi;
    int bad_nan = 0, bad_keep = 0, bad_row = 0, bad_col = 0, bad_alpha0 = 0;
    float *a = (float *)malloc((size_t)m * (size_t)k * sizeof(float));
    float *b = (float *)malloc((size_t)k * (size_t)n * sizeof(float));
    float *c = (float *)malloc((size_t)mn * sizeof(float));
    float *c0 = (float *)malloc((size_t)mn * sizeof(float));
    if (!a || !b || !c || !c0) {
        CHECK(a && b && c && c0, "out of memory");
        free(a), free(b), free(c), free(c0);
        return;
    }
    mdl_set_gemm_kernel(kernel);
    for (i = 0; i < m * k; i++) a[i] = value(1.0);
    for (i = 0; i < k * n; i++) b[i] = value(1.0);
    for (bi = 0; bi < 3; bi++) { /* beta = 0: NaN, Inf, -Inf in C; else NaN in every 7th */
        float beta = betas[bi];
        for (i = 0; i < mn; i++)
            c0[i] = beta == 0 ? special[i % 3] : i % 7 == 3 ? (float)NAN : value(2.0);
        memcpy(c, c0, (size_t)mn * sizeof(float));
        mdl_sgemm(ta, tb, m, n, k, 1.0f, a, lda, b, ldb, beta, c, ldc);
        for (i = 0; i < mn; i++) {
            if (beta == 0 && !isfinite(c[i])) bad_nan++;
            if (beta != 0 && (!isnan(c0[i]) != !isnan(c[i]) || isinf(c[i]))) bad_keep++;
        }
    }
    {   /* one NaN in A at op(A)[i0, p0] and one in B at op(B)[p1, j1] */
        int i0 = m / 2, p0 = k / 3, p1 = k - 1, j1 = n / 2;
        a[ta ? p0 * lda + i0 : i0 * lda + p0] = (float)NAN;
        b[tb ? j1 * ldb + p1 : p1 * ldb + j1] = (float)NAN;
        mdl_sgemm(ta, tb, m, n, k, 0.7f, a, lda, b, ldb, 0.0f, c, ldc);
        for (i = 0; i < m; i++)
            for (j = 0; j < n; j++) {
                float x = c[i * ldc + j];
                if (i == i0 && !isnan(x)) bad_row++;
                if (j == j1 && !isnan(x)) bad_col++;
                if (i != i0 && j != j1 && !isfinite(x)) bad_row++, bad_col++;
            }
    }
    /* alpha = 0: C = beta C, with A and B all NaN, then NULL */
    for (i = 0; i < m * k; i++) a[i] = (float)NAN;
    for (i = 0; i < k * n; i++) b[i] = (float)NAN;
    for (i = 0; i < mn; i++) c0[i] = c[i] = value(2.0);
    mdl_sgemm(ta, tb, m, n, k, 0.0f, a, lda, b, ldb, 1.3f, c, ldc);
    for (i = 0; i < mn; i++)
        if (!(fabs(c[i] - 1.3 * c0[i]) <= 2 * U * fabs(1.3 * c0[i]))) bad_alpha0++;
    capture_errors();
    mdl_sgemm(ta, tb, m, n, k, 0.0f, NULL, lda, NULL, ldb, 0.0f, c, ldc);
    for (i = 0; i < mn; i++)
        if (c[i] != 0) bad_alpha0++;
    CHECK(captured_count == 0, "alpha = 0 with NULL a, b: error '%s'", captured_message);
    CHECK(bad_nan == 0, "%s %dx%dx%d ta=%d tb=%d: beta = 0 let %d NaN/Inf of C through", kernel,
          m, n, k, ta, tb, bad_nan);
    CHECK(bad_keep == 0, "%s %dx%dx%d ta=%d tb=%d: beta != 0: %d elements where NaN in C did "
          "not propagate, or appeared", kernel, m, n, k, ta, tb, bad_keep);
    CHECK(bad_row == 0 && bad_col == 0, "%s %dx%dx%d ta=%d tb=%d: NaN in one element of A and "
          "of B: %d wrong in the row, %d in the column or elsewhere", kernel, m, n, k, ta, tb,
          bad_row, bad_col);
    CHECK(bad_alpha0 == 0, "%s %dx%dx%d ta=%d tb=%d: alpha = 0: %d wrong", kernel, m, n, k, ta,
          tb, bad_alpha0);
    free(a), free(b), free(c), free(c0);
}

/* 5x7x3 runs the plain kernel whichever is chosen (m*n*k < 512); the others the packed one. */
static void test_nan(void) {
    static const int shapes[][3] = {{5, 7, 3}, {20, 40, 30}, {13, 33, 257}};
    int s, q, t;
    for (s = 0; s < 3; s++)
        for (q = 0; q < nkernels; q++)
            for (t = 0; t < 4; t++)
                nan_case(kernels[q], shapes[s][0], shapes[s][1], shapes[s][2], t >> 1, t & 1);
}

/* Argument errors: the code, "mdl_sgemm" in the message, and C left alone. */
static void expect_error(const char *what, int code, int ta, int tb, int m, int n, int k,
                         const float *a, int lda, const float *b, int ldb, float *c, int ldc) {
    float before[16];
    memcpy(before, c, sizeof before);
    capture_errors();
    mdl_sgemm(ta, tb, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c, ldc);
    CHECK(captured_count == 1 && captured_code == code, "%s: %d errors, code %s, want %s", what,
          captured_count, mdl_error_name((mdl_error)captured_code),
          mdl_error_name((mdl_error)code));
    CHECK(strstr(captured_message, "mdl_sgemm") != NULL, "%s: message '%s'", what,
          captured_message);
    CHECK(memcmp(before, c, sizeof before) == 0, "%s: C was written", what);
}

static void test_errors(void) {
    float a[16], b[16], c[16];
    int i;
    for (i = 0; i < 16; i++) a[i] = b[i] = 1, c[i] = 7;
    /* m = 3, n = 2, k = 4; A [3,4] (or [4,3] transposed), B [4,2] (or [2,4]), C [3,2] */
    expect_error("m = -1", MDL_ERR_SIZE, 0, 0, -1, 2, 4, a, 4, b, 2, c, 2);
    expect_error("n = -1", MDL_ERR_SIZE, 0, 0, 3, -1, 4, a, 4, b, 2, c, 2);
    expect_error("k = -1", MDL_ERR_SIZE, 0, 0, 3, 2, -1, a, 4, b, 2, c, 2);
    expect_error("lda 3 < k 4", MDL_ERR_ARG, 0, 0, 3, 2, 4, a, 3, b, 2, c, 2);
    expect_error("trans_a, lda 2 < m 3", MDL_ERR_ARG, 1, 0, 3, 2, 4, a, 2, b, 2, c, 2);
    expect_error("ldb 1 < n 2", MDL_ERR_ARG, 0, 0, 3, 2, 4, a, 4, b, 1, c, 2);
    expect_error("trans_b, ldb 3 < k 4", MDL_ERR_ARG, 0, 1, 3, 2, 4, a, 4, b, 3, c, 2);
    expect_error("ldc 1 < n 2", MDL_ERR_ARG, 0, 0, 3, 2, 4, a, 4, b, 2, c, 1);
    expect_error("lda 0, k 0", MDL_ERR_ARG, 0, 0, 3, 2, 0, a, 0, b, 2, c, 2);
    expect_error("a NULL, k 4", MDL_ERR_NULL, 0, 0, 3, 2, 4, NULL, 4, b, 2, c, 2);
    expect_error("b NULL, k 4", MDL_ERR_NULL, 0, 0, 3, 2, 4, a, 4, NULL, 2, c, 2);
    {   /* c NULL: nothing to compare afterwards */
        capture_errors();
        mdl_sgemm(0, 0, 3, 2, 4, 1.0f, a, 4, b, 2, 0.0f, NULL, 2);
        CHECK(captured_count == 1 && captured_code == MDL_ERR_NULL, "c NULL: code %s",
              mdl_error_name((mdl_error)captured_code));
        CHECK(strstr(captured_message, "mdl_sgemm") != NULL, "c NULL: message '%s'",
              captured_message);
    }
    /* valid calls next to the invalid ones: no error. A transposed [4,3] has rows of 3 (lda 3
       is enough although k = 4); k = 0 with a, b NULL means C = beta C; m = 0 with c NULL. */
    capture_errors();
    mdl_sgemm(1, 0, 3, 2, 4, 1.0f, a, 3, b, 2, 0.0f, c, 2);
    CHECK(captured_count == 0 && c[0] == 4, "trans_a, lda 3: %d errors (%s), c[0] = %g",
          captured_count, captured_message, (double)c[0]);
    for (i = 0; i < 6; i++) c[i] = 2;
    mdl_sgemm(0, 0, 3, 2, 0, 1.0f, NULL, 1, NULL, 2, 0.5f, c, 2);
    CHECK(captured_count == 0 && c[0] == 1 && c[5] == 1,
          "k = 0, NULL a, b: %d errors (%s), c[0] = %g", captured_count, captured_message,
          (double)c[0]);
    mdl_sgemm(0, 0, 0, 2, 4, 1.0f, a, 4, b, 2, 0.0f, NULL, 2);
    CHECK(captured_count == 0, "m = 0, NULL c: %d errors (%s)", captured_count, captured_message);
}

int main(void) {
    int i, known = 0;
    const char *chosen;
    capture_errors();
    find_kernels();
    test_small();
    test_large();
    test_long_k();
    CHECK(captured_count == 0, "%d unexpected errors; last: %s", captured_count, captured_message);
    test_nan();
    test_errors();

    /* back to the automatic choice: a known name, and the first in order of preference that
       this machine runs (the order of all_names, which is the library's) */
    CHECK(mdl_set_gemm_kernel("auto") == 1, "set auto");
    chosen = mdl_gemm_kernel();
    for (i = 0; i < NAMES; i++)
        if (strcmp(chosen, all_names[i]) == 0) known = 1;
    CHECK(known, "auto chose '%s'", chosen);
    for (i = 0; i < NAMES; i++) {
        int j, runs = 0;
        for (j = 0; j < nkernels; j++) runs |= strcmp(kernels[j], all_names[i]) == 0;
        if (runs) {
            CHECK(strcmp(chosen, all_names[i]) == 0, "auto chose %s, the best here is %s", chosen,
                  all_names[i]);
            break;
        }
    }
    CHECK(mdl_set_gemm_kernel(NULL) == 1 && strcmp(mdl_gemm_kernel(), chosen) == 0,
          "set NULL: %s", mdl_gemm_kernel());
    printf("test_gemm: automatic kernel: %s\n", chosen);
    return test_summary();
}

#endif /* MINIDL_DOUBLE */
