/* bench_gemm.c - how fast is minidl's matrix multiply, and how far is it from the machine?

   GFLOP/s of mdl_sgemm (C[M,N] = A[M,K] @ B[K,N], row-major) on squares 32..2048 and on the
   shapes deep learning runs (an MLP layer, a classifier head, LeNet and ResNet-like
   convolutions as im2col GEMMs, LSTM gates), side by side with minidl's plain reference
   kernel, with OpenBLAS's cblas_sgemm when it is installed, and with the FMA peak of this CPU
   measured by a loop of fused multiply-adds that never leaves the registers. A second table
   runs the same shapes on 2 threads.

   Build and run from inside bench/ (`make bench` does this, and finds OpenBLAS by itself):
     with OpenBLAS (apt-get install libopenblas-dev):
       gcc -std=c99 -O2 -Wall -Wextra -I.. -fopenmp -DMINIDL_BENCH_OPENBLAS bench_gemm.c -o bench_gemm -lopenblas -lm
     without it:
       gcc -std=c99 -O2 -Wall -Wextra -I.. -fopenmp bench_gemm.c -o bench_gemm -lm
   If cblas.h is not found, add `$(pkg-config --cflags openblas)`. Without -fopenmp only the
   1-thread table is printed. No -march=native: minidl picks its SIMD kernel when it runs, as
   it does in a student's build. Never -ffast-math.

   Usage: ./bench_gemm [SECONDS]   time spent on each figure (default 0.3). The whole run takes
   a minute or two on a 2-core Zen 4. It exits 1 if a result disagrees with the
   reference (a benchmark of a wrong answer is worth nothing), 0 otherwise.

   Reading the tables: each figure is 2*M*N*K / seconds, in GFLOP/s, the median of 5 to 9
   timed repeats after a warm-up, with [min..max] over the repeats as its spread. The figures
   of one row are timed in turns, repeat by repeat, so that a change in the machine's load
   touches them alike. The inputs stay in cache from one repeat to the next, as weights do in
   a training loop. "mdl/OB" is
   minidl's median over OpenBLAS's (1.00: as fast), "%peak" is minidl over the measured FMA
   peak of one core (over twice that in the 2-thread table). The machine's load average is
   printed at the start and the end: on a shared machine other programs take their share.
*/
#define _POSIX_C_SOURCE 199309L /* clock_gettime under -std=c99 */
#define MINIDL_IMPLEMENTATION
#include "minidl.h"
#include "bench_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#ifdef MINIDL_BENCH_OPENBLAS
#include <cblas.h>
#ifndef OPENBLAS_VERSION /* a cblas.h of another BLAS: OpenBLAS's own call is linked all the same */
void openblas_set_num_threads(int num_threads);
#endif
#endif

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define BENCH_X86 1
#include <immintrin.h>
#endif

/* ---- the shapes --------------------------------------------------------------------------- */

typedef struct shape {
    const char *name;
    int m, k, n;   /* C[M,N] = A[M,K] @ B[K,N] */
    int square;    /* 1 for the squares */
} shape;

/* A convolution as one GEMM (im2col): W[O, C*KH*KW] @ cols[C*KH*KW, B*OH*OW] -> [O, B*OH*OW],
   so M = O, K = C*KH*KW, N = OH*OW per image, times B for a batch. */
static const shape shapes[] = {
    {"square 32", 32, 32, 32, 1},
    {"square 64", 64, 64, 64, 1},
    {"square 128", 128, 128, 128, 1},
    {"square 256", 256, 256, 256, 1},
    {"square 512", 512, 512, 512, 1},
    {"square 1024", 1024, 1024, 1024, 1},
    {"square 2048", 2048, 2048, 2048, 1},
    {"mlp 784->128 b64", 64, 784, 128, 0},
    {"head 128->10 b32", 32, 128, 10, 0},
    {"lenet conv1 b1", 6, 25, 784, 0},
    {"lenet conv1 b64", 6, 25, 784 * 64, 0},
    {"lenet conv2 b1", 16, 150, 100, 0},
    {"lenet conv2 b64", 16, 150, 100 * 64, 0},
    {"res16 32x32 b1", 16, 16 * 9, 32 * 32, 0},
    {"res16 32x32 b64", 16, 16 * 9, 32 * 32 * 64, 0},
    {"res32 16x16 b1", 32, 32 * 9, 16 * 16, 0},
    {"res32 16x16 b64", 32, 32 * 9, 16 * 16 * 64, 0},
    {"res64 8x8 b1", 64, 64 * 9, 8 * 8, 0},
    {"res64 8x8 b64", 64, 64 * 9, 8 * 8 * 64, 0},
    {"lstm gates b32", 32, 224, 512, 0},
};
#define N_SHAPES ((int)(sizeof shapes / sizeof shapes[0]))

static const char *legend =
    "Shapes: C[M,N] = A[M,K] @ B[K,N], row-major, no transposes, alpha 1, beta 0.\n"
    "  mlp    fully connected layer 784 -> 128 on 64 MNIST images: X[64,784] @ W[784,128]\n"
    "  head   classifier 128 -> 10 on a batch of 32: X[32,128] @ W[128,10]\n"
    "  conv   im2col GEMM W[O, C*KH*KW] @ cols[C*KH*KW, B*OH*OW]: M=O, K=C*KH*KW, N=OH*OW*B\n"
    "         (b1: one image, b64: a batch of 64 in one GEMM)\n"
    "         lenet conv1: 1 -> 6 channels, 5x5, 32x32 -> 28x28: M=6, K=1*5*5=25, N=28*28=784\n"
    "         lenet conv2: 6 -> 16 channels, 5x5, 14x14 -> 10x10: M=16, K=6*5*5=150, N=100\n"
    "         resC HxW: ResNet-like 3x3 conv, padding 1, C -> C channels on HxW: M=C, K=C*9,\n"
    "         N=H*W (16 channels on 32x32, 32 on 16x16, 64 on 8x8)\n"
    "  lstm   the 4 gates of an LSTM, input 96, hidden 128, batch 32: [x,h][32,224] @ W[224,512]\n";

/* The plain kernel is not run above this many flops (the 2048 square: 17 GFLOP, seconds a
   call): the 1024 square shows where it stands. */
#define PLAIN_MAX_FLOPS 4e9

/* ---- timing and statistics ---------------------------------------------------------------- */

#define MAX_REPS 9

/* Seconds per figure (argv[1]). */
static double budget = 0.3;

/* ---- the GEMMs being timed ---------------------------------------------------------------- */

typedef void (*gemm_fn)(const shape *s, const float *a, const float *b, float *c);

static void gemm_minidl(const shape *s, const float *a, const float *b, float *c) {
    mdl_sgemm(0, 0, s->m, s->n, s->k, 1.0f, a, s->k, b, s->n, 0.0f, c, s->n);
}

#ifdef MINIDL_BENCH_OPENBLAS
static void gemm_openblas(const shape *s, const float *a, const float *b, float *c) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s->m, s->n, s->k, 1.0f, a, s->k, b,
                s->n, 0.0f, c, s->n);
}
#endif

static void set_threads(int n) {
#ifdef _OPENMP
    omp_set_num_threads(n);
#endif
#ifdef MINIDL_BENCH_OPENBLAS
    openblas_set_num_threads(n);
#endif
    (void)n;
}

/* ---- the FMA peak -------------------------------------------------------------------------- */

/* 12 independent chains of acc = acc * m + d. An FMA takes 4 cycles on current x86 cores and
   two can start per cycle, so at least 8 chains must be in flight to keep both units busy;
   12 leave a margin. m < 1 and d small keep every chain near 1: no overflow, no denormals.
   The chains start at different values so that the compiler cannot merge them. */
static volatile float sink; /* the loops' results go here, so they are not optimized away */

#ifdef BENCH_X86
#define FMA12(fma)                                                                           \
    do {                                                                                     \
        x0 = fma(x0, m, d); x1 = fma(x1, m, d); x2 = fma(x2, m, d); x3 = fma(x3, m, d);        \
        x4 = fma(x4, m, d); x5 = fma(x5, m, d); x6 = fma(x6, m, d); x7 = fma(x7, m, d);        \
        x8 = fma(x8, m, d); x9 = fma(x9, m, d); x10 = fma(x10, m, d); x11 = fma(x11, m, d);    \
    } while (0)

/* 12 chains x 8 floats x 2 flops = 192 flops per iteration. */
__attribute__((target("avx2,fma"))) static float fma_loop_avx2(long iters, float seed) {
    __m256 m = _mm256_set1_ps(0.999999f), d = _mm256_set1_ps(1e-6f);
    __m256 x0 = _mm256_set1_ps(seed), x1 = _mm256_set1_ps(seed + 0.01f);
    __m256 x2 = _mm256_set1_ps(seed + 0.02f), x3 = _mm256_set1_ps(seed + 0.03f);
    __m256 x4 = _mm256_set1_ps(seed + 0.04f), x5 = _mm256_set1_ps(seed + 0.05f);
    __m256 x6 = _mm256_set1_ps(seed + 0.06f), x7 = _mm256_set1_ps(seed + 0.07f);
    __m256 x8 = _mm256_set1_ps(seed + 0.08f), x9 = _mm256_set1_ps(seed + 0.09f);
    __m256 x10 = _mm256_set1_ps(seed + 0.10f), x11 = _mm256_set1_ps(seed + 0.11f);
    long i;
    for (i = 0; i < iters; i++) FMA12(_mm256_fmadd_ps);
    x0 = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(x0, x1), _mm256_add_ps(x2, x3)),
                       _mm256_add_ps(_mm256_add_ps(x4, x5), _mm256_add_ps(x6, x7)));
    x0 = _mm256_add_ps(x0, _mm256_add_ps(_mm256_add_ps(x8, x9), _mm256_add_ps(x10, x11)));
    return _mm_cvtss_f32(_mm256_castps256_ps128(x0));
}

/* 12 chains x 16 floats x 2 flops = 384 flops per iteration. */
__attribute__((target("avx512f"))) static float fma_loop_avx512(long iters, float seed) {
    __m512 m = _mm512_set1_ps(0.999999f), d = _mm512_set1_ps(1e-6f);
    __m512 x0 = _mm512_set1_ps(seed), x1 = _mm512_set1_ps(seed + 0.01f);
    __m512 x2 = _mm512_set1_ps(seed + 0.02f), x3 = _mm512_set1_ps(seed + 0.03f);
    __m512 x4 = _mm512_set1_ps(seed + 0.04f), x5 = _mm512_set1_ps(seed + 0.05f);
    __m512 x6 = _mm512_set1_ps(seed + 0.06f), x7 = _mm512_set1_ps(seed + 0.07f);
    __m512 x8 = _mm512_set1_ps(seed + 0.08f), x9 = _mm512_set1_ps(seed + 0.09f);
    __m512 x10 = _mm512_set1_ps(seed + 0.10f), x11 = _mm512_set1_ps(seed + 0.11f);
    long i;
    for (i = 0; i < iters; i++) FMA12(_mm512_fmadd_ps);
    x0 = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(x0, x1), _mm512_add_ps(x2, x3)),
                       _mm512_add_ps(_mm512_add_ps(x4, x5), _mm512_add_ps(x6, x7)));
    x0 = _mm512_add_ps(x0, _mm512_add_ps(_mm512_add_ps(x8, x9), _mm512_add_ps(x10, x11)));
    return _mm_cvtss_f32(_mm512_castps512_ps128(x0));
}
#endif /* BENCH_X86 */

enum { ISA_AVX2 = 256, ISA_AVX512 = 512 };

/* Run the loop of the given width `iters` times on each of `threads` threads; return seconds. */
static double fma_run(int isa, long iters, int threads) {
    double t0 = now();
#ifdef _OPENMP
#pragma omp parallel num_threads(threads)
#endif
    {
        float r = 0;
#ifdef BENCH_X86
        r = isa == ISA_AVX512 ? fma_loop_avx512(iters, 1.0f) : fma_loop_avx2(iters, 1.0f);
#endif
        if (r == 12345.0f) sink = r; /* never true: only keeps r alive */
    }
    (void)isa;
    (void)threads;
    return now() - t0;
}

/* FMA peak in GFLOP/s over `threads` threads: warm up for 0.1 s, then 7 samples of about
   40 ms each; median and [min..max]. */
static stats fma_peak(int isa, int threads) {
    double flops_per_iter = (isa == ISA_AVX512 ? 384.0 : 192.0) * threads, v[7], t;
    long iters = 100000;
    int r;
    while ((t = fma_run(isa, iters, threads)) < 0.1) iters *= 2; /* warm-up and calibration */
    iters = (long)(iters * 0.04 / t) + 1;
    for (r = 0; r < 7; r++) v[r] = flops_per_iter * (double)iters / fma_run(isa, iters, threads) * 1e-9;
    return summarize(v, 7);
}

/* ---- the data --------------------------------------------------------------------------------- */

static unsigned long long rng_state = 0x9E3779B97F4A7C15ull;

static float uniform(void) { /* xorshift64*, top 24 bits to a float in [-1, 1) */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (float)((rng_state * 0x2545F4914F6CDD1Dull) >> 40) / 8388608.0f - 1.0f;
}

typedef struct buffers {
    float *a, *b, *c, *ref; /* ref: minidl's result, checked against the others */
} buffers;

static int buffers_make(buffers *bf, const shape *s) {
    size_t na = (size_t)s->m * s->k, nb = (size_t)s->k * s->n, nc = (size_t)s->m * s->n, i;
    bf->a = (float *)malloc(na * sizeof(float));
    bf->b = (float *)malloc(nb * sizeof(float));
    bf->c = (float *)malloc(nc * sizeof(float));
    bf->ref = (float *)malloc(nc * sizeof(float));
    if (!bf->a || !bf->b || !bf->c || !bf->ref) {
        fprintf(stderr, "bench_gemm: out of memory for %s\n", s->name);
        return 0;
    }
    for (i = 0; i < na; i++) bf->a[i] = uniform();
    for (i = 0; i < nb; i++) bf->b[i] = uniform();
    return 1;
}

static void buffers_free(buffers *bf) {
    free(bf->a);
    free(bf->b);
    free(bf->c);
    free(bf->ref);
}

/* ---- measuring: contenders timed side by side ----------------------------------------------- */

/* One contender: which GEMM, with which minidl kernel, on how many threads. */
typedef struct entry {
    const char *label;  /* for messages */
    gemm_fn fn;
    const char *kernel; /* minidl's kernel ("auto", "plain"); NULL for OpenBLAS */
    int threads;
    int exact;          /* 1: must give minidl's 1-thread result to the bit */
    stats result;
} entry;

#define MAX_ENTRIES 4

static int failures = 0;

static void entry_setup(const entry *e) {
    set_threads(e->threads);
    if (e->kernel) mdl_set_gemm_kernel(e->kernel);
}

/* Does c (what entry e computed) agree with ref (minidl on one thread)? minidl promises the
   same bits on any number of threads. Other kernels add in another order, which moves the
   last bits of the largest partial sums; 1e-4 of the largest |ref| is far above that and far
   below a real bug. */
static void check(const entry *e, const shape *s, const buffers *bf) {
    size_t n = (size_t)s->m * s->n, i;
    double err = 0, big = 0;
    if (e->exact) {
        if (memcmp(bf->c, bf->ref, n * sizeof(float)) != 0) {
            printf("  !! %s on %s: other bits than minidl on 1 thread\n", e->label, s->name);
            failures++;
        }
        return;
    }
    for (i = 0; i < n; i++) {
        double d = fabs((double)bf->c[i] - bf->ref[i]);
        if (!(d <= err)) err = d; /* NaN counts as an error */
        if (fabs(bf->ref[i]) > big) big = fabs(bf->ref[i]);
    }
    if (!(err <= 1e-4 * (big > 1 ? big : 1))) {
        printf("  !! %s on %s disagrees with minidl: max |difference| %g (largest |c| %g)\n",
               e->label, s->name, err, big);
        failures++;
    }
}

/* Time n contenders on one shape, their samples interleaved (round r times each in turn), so
   that a change in the machine's load touches all of them alike and their ratios stay fair.
   Each first warms up (at least 2 calls and 20 ms: caches, page faults, clock ramp, thread
   start) and calibrates: a sample is `inner` calls, so that each contender gets about `budget`
   seconds: 9 samples when every call is short, 5 when one is long. The output of each one's
   last sample is checked against bf->ref. */
static void measure(entry *e, int n, const shape *s, const buffers *bf) {
    double flops = 2.0 * s->m * s->n * s->k, t0, per_call[MAX_ENTRIES], v[MAX_ENTRIES][MAX_REPS];
    int inner[MAX_ENTRIES], reps = MAX_REPS, calls, i, j, r;
    for (j = 0; j < n; j++) {
        entry_setup(&e[j]);
        calls = 0;
        t0 = now();
        do {
            e[j].fn(s, bf->a, bf->b, bf->c);
            calls++;
        } while (calls < 2 || now() - t0 < 0.02);
        per_call[j] = (now() - t0) / calls;
        if (per_call[j] * MAX_REPS > budget) reps = 5;
    }
    for (j = 0; j < n; j++) {
        inner[j] = (int)(budget / (reps * per_call[j]));
        if (inner[j] < 1) inner[j] = 1;
    }
    for (r = 0; r < reps; r++)
        for (j = 0; j < n; j++) {
            entry_setup(&e[j]);
            t0 = now();
            for (i = 0; i < inner[j]; i++) e[j].fn(s, bf->a, bf->b, bf->c);
            v[j][r] = flops * inner[j] / (now() - t0) * 1e-9;
            if (r == reps - 1) check(&e[j], s, bf);
        }
    for (j = 0; j < n; j++) e[j].result = summarize(v[j], reps);
    set_threads(1);
    mdl_set_gemm_kernel("auto");
}

/* minidl's result on one thread: the reference the others are checked against. */
static void reference(const shape *s, buffers *bf) {
    set_threads(1);
    mdl_set_gemm_kernel("auto");
    gemm_minidl(s, bf->a, bf->b, bf->ref);
}

#if defined(MINIDL_BENCH_OPENBLAS) && defined(_OPENMP)
/* Sleep, so that OpenBLAS's worker threads, which spin for about 0.1 s after a call before
   they sleep, stop taking a core from what comes next. */
static void pause_s(double seconds) {
    struct timespec t;
    t.tv_sec = (time_t)seconds;
    t.tv_nsec = (long)((seconds - (double)t.tv_sec) * 1e9);
    nanosleep(&t, NULL);
}
#endif

/* ---- printing ------------------------------------------------------------------------------ */

/* "  123.4 [ 120.1.. 125.0]" (23 characters), or a note of the same width. */
static const char *fmt_stat(char *buf, size_t size, stats s, const char *missing) {
    if (s.ok)
        snprintf(buf, size, "%6.1f [%6.1f..%6.1f]", s.med, s.lo, s.hi);
    else
        snprintf(buf, size, "%-22s", missing);
    return buf;
}

static const char *fmt_ratio(char *buf, size_t size, stats x, stats y) {
    if (x.ok && y.ok && y.med > 0)
        snprintf(buf, size, "%5.2f", x.med / y.med);
    else
        snprintf(buf, size, "%5s", "-");
    return buf;
}

static const char *fmt_pct(char *buf, size_t size, stats x, double peak) {
    if (x.ok && peak > 0)
        snprintf(buf, size, "%4.0f%%", 100.0 * x.med / peak);
    else
        snprintf(buf, size, "%5s", "-");
    return buf;
}


/* Environment variables that change the figures, when they are set. */
static void print_env(void) {
    const char *names[] = {"OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT",
                           "OPENBLAS_NUM_THREADS"};
    int i;
    for (i = 0; i < (int)(sizeof names / sizeof names[0]); i++)
        if (getenv(names[i])) printf("environment: %s=%s\n", names[i], getenv(names[i]));
}

/* ---- main ---------------------------------------------------------------------------------- */

int main(int argc, char **argv) {
    stats peak_avx2, peak_avx512, none;
    double peak1 = 0;
    char s1[64], s2[64], s3[64], r1[16], p1[16], when[64], far[512] = "";
    time_t t = time(NULL);
    int i, have_openblas = 0, procs = 1;

    if (argc > 1) budget = atof(argv[1]);
    if (!(budget > 0 && budget <= 60)) {
        fprintf(stderr, "usage: %s [SECONDS per figure, default 0.3]\n", argv[0]);
        return 2;
    }
    (void)procs; /* used with OpenMP only */
    memset(&none, 0, sizeof none);
    peak_avx2 = peak_avx512 = none;
#ifdef MINIDL_BENCH_OPENBLAS
    have_openblas = 1;
#endif
#ifdef _OPENMP
    procs = omp_get_num_procs();
#endif

    /* 0. what runs, and where */
    strftime(when, sizeof when, "%Y-%m-%d %H:%M", localtime(&t));
    printf("minidl GEMM benchmark, %s\n", when);
    printf("minidl kernel: %s (mdl_gemm_kernel(), chosen for this CPU at run time)\n",
           mdl_gemm_kernel());
#ifdef __VERSION__
    printf("compiler: %s; ", __VERSION__);
#endif
#ifdef _OPENMP
    printf("OpenMP: yes, %d processors\n", procs);
#else
    printf("OpenMP: no (built without -fopenmp): 1-thread table only\n");
#endif
#ifdef MINIDL_BENCH_OPENBLAS
#ifdef OPENBLAS_VERSION
    printf("OpenBLAS:%s(%s)\n", OPENBLAS_VERSION, openblas_get_config());
#else
    printf("OpenBLAS: linked (the cblas.h found is another BLAS's)\n");
#endif
#else
    printf("OpenBLAS: not installed (apt-get install libopenblas-dev), column left empty\n");
#endif
    print_env();
    print_load("at the start");
    printf("Each figure: GFLOP/s = 2*M*N*K / time, median of 5..9 repeats [min..max] after a "
           "warm-up, about %.2f s each;\nthe figures of one row are measured in turns, "
           "repeat by repeat.\n\n", budget);
    fflush(stdout);

    /* 1. the FMA peak of one core */
#ifdef BENCH_X86
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        peak_avx2 = fma_peak(ISA_AVX2, 1);
        printf("FMA peak, 1 core, 256-bit (AVX2+FMA), 12 chains: %s GFLOP/s\n",
               fmt_stat(s1, sizeof s1, peak_avx2, ""));
    }
    if (__builtin_cpu_supports("avx512f")) {
        peak_avx512 = fma_peak(ISA_AVX512, 1);
        printf("FMA peak, 1 core, 512-bit (AVX-512F), 12 chains: %s GFLOP/s\n",
               fmt_stat(s1, sizeof s1, peak_avx512, ""));
    }
    peak1 = peak_avx2.med > peak_avx512.med ? peak_avx2.med : peak_avx512.med;
    if (peak1 > 0) printf("peak = %.1f GFLOP/s for one core: %%peak is minidl / peak\n\n", peak1);
#endif
    if (peak1 == 0) printf("FMA peak: not measured (x86 only), %%peak left empty\n\n");
    printf("%s\n", legend);

    /* 2. one thread: minidl, the plain kernel and OpenBLAS */
    printf("== 1 thread ==\n");
    printf("%-17s %4s %4s %5s | %-22s | %-14s | %-22s | %5s | %5s\n", "shape", "M", "K", "N",
           "minidl GFLOP/s", "plain (mdl x)", "OpenBLAS GFLOP/s", "mdl/OB", "%peak");
    fflush(stdout);
    for (i = 0; i < N_SHAPES; i++) {
        const shape *s = &shapes[i];
        entry e[3];
        int n = 0, plain = -1, ob = -1;
        buffers bf;
        if (!buffers_make(&bf, s)) return 1;
        reference(s, &bf);
        memset(e, 0, sizeof e);
        e[n].label = "minidl";
        e[n].fn = gemm_minidl, e[n].kernel = "auto", e[n].threads = 1, e[n].exact = 1;
        n++;
        if (2.0 * s->m * s->n * s->k <= PLAIN_MAX_FLOPS) {
            plain = n;
            e[n].label = "the plain kernel";
            e[n].fn = gemm_minidl, e[n].kernel = "plain", e[n].threads = 1;
            n++;
        }
#ifdef MINIDL_BENCH_OPENBLAS
        ob = n;
        e[n].label = "OpenBLAS";
        e[n].fn = gemm_openblas, e[n].threads = 1;
        n++;
#endif
        measure(e, n, s, &bf);
        buffers_free(&bf);
        if (plain >= 0)
            snprintf(s2, sizeof s2, "%6.1f (%5.1fx)", e[plain].result.med,
                     e[0].result.med / e[plain].result.med);
        else
            snprintf(s2, sizeof s2, "%-14s", "not run (*)");
        printf("%-17s %4d %4d %5d | %s | %s | %s | %s | %s\n", s->name, s->m, s->k, s->n,
               fmt_stat(s1, sizeof s1, e[0].result, ""), s2,
               fmt_stat(s3, sizeof s3, ob >= 0 ? e[ob].result : none,
                        have_openblas ? "" : "(not installed)"),
               fmt_ratio(r1, sizeof r1, e[0].result, ob >= 0 ? e[ob].result : none),
               fmt_pct(p1, sizeof p1, e[0].result, peak1));
        fflush(stdout);
        if (ob >= 0 && e[0].result.med < 0.5 * e[ob].result.med && strlen(far) < 400)
            sprintf(far + strlen(far), "%s %s %.2f", far[0] ? "," : "", s->name,
                    e[0].result.med / e[ob].result.med);
    }
    printf("(*) the plain kernel is not run above %.0f GFLOP per call, to keep the run short.\n"
           "The plain kernel is one thread of plain C loops, as gcc -O2 compiles them.\n\n",
           PLAIN_MAX_FLOPS * 1e-9);
    if (far[0]) printf("minidl below half of OpenBLAS (mdl/OB):%s\n\n", far);

    /* 3. two threads. Per shape, minidl on 1 and 2 threads in turns, then OpenBLAS on 1 and 2
       threads in turns, then a pause while OpenBLAS's threads stop spinning. */
#ifdef _OPENMP
    if (procs < 2) {
        printf("== 2 threads: skipped, this machine has 1 processor ==\n");
    } else {
        int met = 1, any = 0;
        char target[128] = "";
        stats fma2;
        fma2 = fma_peak(peak_avx512.med > peak_avx2.med ? ISA_AVX512 : ISA_AVX2, 2);
        printf("== 2 threads == (squares 256..2048 and the deep-learning shapes)\n");
        if (peak1 > 0)
            printf("FMA loop on 2 threads before the table: %s GFLOP/s, %.2fx one core%s\n",
                   fmt_stat(s1, sizeof s1, fma2, ""), fma2.med / peak1,
                   fma2.med < 1.6 * peak1 ? ": the second core is busy with other programs" : "");
        printf("%-17s %4s %4s %5s | %6s | %-22s | %5s | %6s | %-22s | %5s | %5s | %5s\n",
               "shape", "M", "K", "N", "mdl 1T", "minidl 2T GFLOP/s", "2T/1T", "OB 1T",
               "OpenBLAS 2T GFLOP/s", "2T/1T", "mdl/OB", "%peak");
        fflush(stdout);
        for (i = 0; i < N_SHAPES; i++) {
            const shape *s = &shapes[i];
            entry m[2], o[2];
            buffers bf;
            if (s->square && s->m < 256) continue;
            if (!buffers_make(&bf, s)) return 1;
            reference(s, &bf);
            memset(m, 0, sizeof m);
            memset(o, 0, sizeof o);
            m[0].label = "minidl", m[0].fn = gemm_minidl, m[0].kernel = "auto";
            m[0].threads = 1, m[0].exact = 1;
            m[1] = m[0];
            m[1].label = "minidl on 2 threads", m[1].threads = 2;
            measure(m, 2, s, &bf);
            o[0].result = o[1].result = none;
#ifdef MINIDL_BENCH_OPENBLAS
            o[0].label = "OpenBLAS", o[0].fn = gemm_openblas, o[0].threads = 1;
            o[1] = o[0];
            o[1].label = "OpenBLAS on 2 threads", o[1].threads = 2;
            measure(o, 2, s, &bf);
            pause_s(0.15);
#endif
            buffers_free(&bf);
            if (o[0].result.ok)
                snprintf(s2, sizeof s2, "%6.1f", o[0].result.med);
            else
                snprintf(s2, sizeof s2, "%6s", "-");
            printf("%-17s %4d %4d %5d | %6.1f | %s | %s | %s | %s | ", s->name, s->m, s->k,
                   s->n, m[0].result.med, fmt_stat(s1, sizeof s1, m[1].result, ""),
                   fmt_ratio(r1, sizeof r1, m[1].result, m[0].result), s2,
                   fmt_stat(s3, sizeof s3, o[1].result, have_openblas ? "" : "(not installed)"));
            printf("%s | ", fmt_ratio(r1, sizeof r1, o[1].result, o[0].result));
            printf("%s | %s\n", fmt_ratio(r1, sizeof r1, m[1].result, o[1].result),
                   fmt_pct(p1, sizeof p1, m[1].result, 2 * peak1));
            fflush(stdout);
            if (s->square && s->m >= 512) {
                double speedup = m[1].result.med / m[0].result.med;
                sprintf(target + strlen(target), " %d: %.2f", s->m, speedup);
                any = 1;
                if (speedup < 1.8) met = 0;
            }
        }
        fma2 = fma_peak(peak_avx512.med > peak_avx2.med ? ISA_AVX512 : ISA_AVX2, 2);
        if (peak1 > 0)
            printf("FMA loop on 2 threads after the table:  %s GFLOP/s, %.2fx one core%s\n",
                   fmt_stat(s1, sizeof s1, fma2, ""), fma2.med / peak1,
                   fma2.med < 1.6 * peak1 ? ": the second core is busy with other programs" : "");
        printf("2T/1T: speedup of 2 threads over 1 (2.00 is perfect); %%peak: minidl on 2 threads "
               "over twice the one-core peak.\n");
        printf("Target, minidl 2T/1T >= 1.80 for the squares 512 and up:%s%s\n", target,
               !any ? " not measured" : met ? ": met" : ": NOT met");
    }
#else
    printf("== 2 threads: not built with -fopenmp ==\n");
#endif
    print_load("at the end");
    if (failures) printf("\n%d result(s) disagreed: see the !! lines above\n", failures);
    return failures ? 1 : 0;
}
