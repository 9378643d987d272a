/* bench_conv.c - how fast does minidl run LeNet-5's two convolutions, forward and backward?

   Milliseconds per call of mdl_conv2d on the convolutions of LeNet-5 at batch 64, forward alone
   and forward + backward, and of mdl_max_pool2d 2x2 on their outputs:
     conv1  x [64,1,28,28] * w [6,1,5,5] + bias [6], padding 2 -> y [64,6,28,28]
            x is the images: it needs no gradient, so backward computes dW and dbias only
     conv2  x [64,6,14,14] * w [16,6,5,5] + bias [16]          -> y [64,16,10,10]
            x is a second layer's input: it requires grad, so backward computes dX as well
   with the GEMM kernel minidl picks for this CPU (mdl_gemm_kernel()) and with the plain
   reference kernel (mdl_set_gemm_kernel("plain")), beside the figures that the issue gives for
   PyTorch 1.13's CPU convolution (oneDNN) on one thread, forward + backward: about 1.2 ms for
   conv1 (without input grad) and 2.1 ms for conv2. PyTorch is not installed here: those two are
   constants, not measurements. A second table runs the same on 2 threads.

   Build and run from inside bench/ (`make bench` does this):
       gcc -std=c99 -O2 -Wall -Wextra -I.. -fopenmp bench_conv.c -o bench_conv -lm
   Without -fopenmp only the 1-thread tables are printed. No -march=native: minidl picks its
   SIMD kernel when it runs, as it does in a student's build. Never -ffast-math.

   Usage: ./bench_conv [SECONDS]   time spent on each figure (default 0.3); the whole run takes
   about 10 seconds. It exits 1 if a result disagrees (the plain kernel with the fast one beyond
   1e-4 of the largest value, or 2 threads with 1 thread in any bit), 0 otherwise.

   What is timed, as in a training step: w and bias live in an mdl_params set, so their
   gradients persist and accumulate (they are zeroed before each repeat, outside the timer).
   x and dy (ones, of y's shape) are made once, before any timing, in an arena that is never
   reset. One call is `y = mdl_conv2d(step, x, w, bias, &(mdl_conv_opts){.padding = pad})`,
   and for forward + backward also `mdl_backward_with(y, dy)`; y, the tape and the im2col columns come from the
   per-step arena `step`, which is reset after each call, outside the timer. The forward is
   timed with grad mode on, as in training: it records the tape and keeps its im2col columns
   for the backward pass.

   Reading the tables: each figure is the median over 15 repeats of the milliseconds per call,
   with [min..max] over the repeats as its spread; a repeat times enough calls to last about
   SECONDS / 15, after a warm-up. The figures of one row are timed in turns, repeat by repeat,
   so that a change in the machine's load touches them alike. GFLOP/s counts 2*B*O*OH*OW*C*KH*KW
   flops for a forward, as many again for dW and again for dX (conv1 has no dX); bias and
   pooling flops are not counted. "PT/mdl" is PyTorch's time over minidl's: above 1.00 minidl is
   faster. The load average is printed at the start and the end, and the 2-thread table is
   framed by a busy loop on 2 threads that says whether the second core was free.
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
#define OPENMP 1
#else
#define OPENMP 0
#endif

/* ---- the layers ------------------------------------------------------------------------------ */

typedef struct layer {
    const char *name;
    int B, C, H, W;    /* input x [B,C,H,W] */
    int O, K, pad;     /* w [O,C,K,K], bias [O], stride 1 */
    int x_grad;        /* 1: x requires grad, so backward computes dX too */
    double pytorch_ms; /* forward + backward, 1 thread: the figure, not measured here */
} layer;

/* The reference: PyTorch 1.13's CPU convolution (oneDNN), 1 thread, batch 64,
   forward + backward. */
#define PYTORCH_NOTE "PyTorch 1.13 oneDNN, 1 thread, figure given in the issue, not measured here"

static const layer layers[] = {
    {"conv1", 64, 1, 28, 28, 6, 5, 2, 0, 1.2},
    {"conv2", 64, 6, 14, 14, 16, 5, 0, 1, 2.1},
};
#define N_LAYERS ((int)(sizeof layers / sizeof layers[0]))

static int out_h(const layer *L) { return L->H + 2 * L->pad - L->K + 1; }
static int out_w(const layer *L) { return L->W + 2 * L->pad - L->K + 1; }

/* Flops of one forward: each output value is a dot product of length C*K*K. */
static double fwd_flops(const layer *L) {
    return 2.0 * L->B * L->O * out_h(L) * out_w(L) * L->C * L->K * L->K;
}

/* Forward + backward: dW = dY @ cols^T is one more product of the forward's size, and so is
   dX = W^T @ dY (then col2im) when x requires grad. */
static double fwdbwd_flops(const layer *L) { return fwd_flops(L) * (L->x_grad ? 3 : 2); }

/* ---- timing and statistics ------------------------------------------------------------------- */

#define REPS 15 /* repeats per figure: odd, so the median is one of them */

/* Seconds per figure (argv[1]). */
static double budget = 0.3;

static void set_threads(int n) {
#ifdef _OPENMP
    omp_set_num_threads(n);
#endif
    (void)n;
}

/* ---- the tensors of one layer ---------------------------------------------------------------- */

typedef struct bench {
    const layer *L;
    mdl_params *ps;       /* w and bias: persistent, their gradients accumulate until zeroed */
    mdl_arena *data;      /* x, dy and the pooling inputs: made once, never reset */
    mdl_arena *step;      /* what one call makes: y, the tape, im2col columns; reset after each */
    mdl_tensor *x, *w, *bias, *dy;
    mdl_tensor *px, *pdy; /* max_pool2d: its input (this layer's output) and a dy of ones */
} bench;

static int bench_make(bench *b, const layer *L, mdl_rng *rng) {
    int xs[4], ws[4], bs[1], ys[4], ps[4], was;
    double bound = 1.0 / sqrt((double)(L->C * L->K * L->K)); /* PyTorch's default init range */
    memset(b, 0, sizeof *b);
    b->L = L;
    xs[0] = L->B, xs[1] = L->C, xs[2] = L->H, xs[3] = L->W;
    ws[0] = L->O, ws[1] = L->C, ws[2] = L->K, ws[3] = L->K;
    bs[0] = L->O;
    ys[0] = L->B, ys[1] = L->O, ys[2] = out_h(L), ys[3] = out_w(L);
    ps[0] = L->B, ps[1] = L->O, ps[2] = out_h(L) / 2, ps[3] = out_w(L) / 2;
    b->ps = mdl_params_new();
    b->data = mdl_arena_new(0);
    b->step = mdl_arena_new(0);
    if (!b->ps || !b->data || !b->step) return 0;
    b->w = mdl_params_add(b->ps, "w", 4, ws);
    b->bias = mdl_params_add(b->ps, "bias", 1, bs);
    b->x = mdl_randn(b->data, rng, 4, xs, 0, 1);
    b->dy = mdl_ones(b->data, 4, ys);
    b->pdy = mdl_ones(b->data, 4, ps);
    if (!b->w || !b->bias || !b->x || !b->dy || !b->pdy) return 0;
    mdl_fill_uniform(b->w, rng, -bound, bound);
    mdl_fill_uniform(b->bias, rng, -bound, bound);
    mdl_set_requires_grad(b->x, L->x_grad);
    /* the pooling input is this layer's real output, made without a tape, then a leaf that
       wants a gradient (as the conv output would in training) */
    was = mdl_set_grad_enabled(b->data, 0);
    b->px = mdl_conv2d(b->data, b->x, b->w, b->bias, &(mdl_conv_opts){.padding = L->pad});
    mdl_set_grad_enabled(b->data, was);
    if (!b->px) return 0;
    mdl_set_requires_grad(b->px, 1);
    return 1;
}

static void bench_free(bench *b) {
    mdl_arena_free(b->step);
    mdl_arena_free(b->data);
    mdl_params_free(b->ps);
}

/* Before each repeat, outside the timer: gradients back to zero, as a training loop does. */
static void zero_grads(bench *b) {
    mdl_params_zero_grad(b->ps);
    mdl_zero_grad(b->x);  /* no-op while x has no gradient */
    mdl_zero_grad(b->px);
}

/* ---- what one call does: the timed part ------------------------------------------------------ */

typedef void (*task_fn)(bench *b);

static void conv_fwd(bench *b) {
    mdl_conv2d(b->step, b->x, b->w, b->bias, &(mdl_conv_opts){.padding = b->L->pad});
}

static void conv_fwdbwd(bench *b) {
    mdl_tensor *y =
        mdl_conv2d(b->step, b->x, b->w, b->bias, &(mdl_conv_opts){.padding = b->L->pad});
    mdl_backward_with(y, b->dy);
}

static void pool_fwd(bench *b) { mdl_max_pool2d(b->step, b->px, 2, NULL); } /* stride 2 */

static void pool_fwdbwd(bench *b) {
    mdl_tensor *y = mdl_max_pool2d(b->step, b->px, 2, NULL);
    mdl_backward_with(y, b->pdy);
}

/* ---- measuring: contenders timed side by side ------------------------------------------------ */

/* One contender: which minidl GEMM kernel, on how many threads. */
typedef struct entry {
    const char *kernel; /* "auto" or "plain" */
    int threads;
    stats ms;
} entry;

#define MAX_ENTRIES 2

static void entry_setup(const entry *e) {
    set_threads(e->threads);
    mdl_set_gemm_kernel(e->kernel);
}

/* Milliseconds per call over `calls` calls, each timed alone: the gradients are zeroed before,
   and the per-step arena is reset after each call, outside the timer. */
static double timed_calls(bench *b, task_fn fn, int calls) {
    double total = 0, t0;
    int i;
    zero_grads(b);
    for (i = 0; i < calls; i++) {
        t0 = now();
        fn(b);
        total += now() - t0;
        mdl_arena_reset(b->step);
    }
    return 1e3 * total / calls;
}

/* Time n contenders on one task, their repeats interleaved (repeat r of each in turn), so that a
   change in the machine's load touches all of them alike. Each first warms up (at least 3 calls
   and 30 ms: caches, page faults, the arena's first growth, clock ramp, thread start) and
   calibrates: a repeat is as many calls as last about budget / REPS. */
static void measure(bench *b, task_fn fn, entry *e, int n) {
    double per_call, t0, v[MAX_ENTRIES][REPS];
    int calls[MAX_ENTRIES], i, j, r;
    for (j = 0; j < n; j++) {
        entry_setup(&e[j]);
        zero_grads(b);
        i = 0;
        t0 = now();
        do {
            fn(b);
            mdl_arena_reset(b->step);
            i++;
        } while (i < 3 || now() - t0 < 0.03);
        per_call = (now() - t0) / i;
        calls[j] = (int)(budget / REPS / per_call);
        if (calls[j] < 1) calls[j] = 1;
    }
    for (r = 0; r < REPS; r++)
        for (j = 0; j < n; j++) {
            entry_setup(&e[j]);
            v[j][r] = timed_calls(b, fn, calls[j]);
        }
    for (j = 0; j < n; j++) e[j].ms = summarize(v[j], REPS);
    set_threads(1);
    mdl_set_gemm_kernel("auto");
}

/* ---- checking: a benchmark of a wrong answer is worth nothing -------------------------------- */

static int failures = 0;

/* The four results of one forward + backward: y, dW, dbias and dX (conv2 only). */
#define N_PARTS 4
static const char *part_names[N_PARTS] = {"y", "dW", "dbias", "dX"};

static void part_sizes(const bench *b, size_t *n) {
    n[0] = mdl_numel(b->dy), n[1] = mdl_numel(b->w), n[2] = mdl_numel(b->bias);
    n[3] = b->L->x_grad ? mdl_numel(b->x) : 0;
}

/* The results after one forward + backward from zero gradients, one after another in one
   buffer (freed by the caller); NULL if the call failed. */
static float *snapshot(bench *b, const char *kernel, int threads) {
    size_t n[N_PARTS];
    float *out;
    mdl_tensor *y;
    entry e;
    part_sizes(b, n);
    out = (float *)malloc((n[0] + n[1] + n[2] + n[3]) * sizeof(float));
    e.kernel = kernel, e.threads = threads;
    entry_setup(&e);
    zero_grads(b);
    y = mdl_conv2d(b->step, b->x, b->w, b->bias, &(mdl_conv_opts){.padding = b->L->pad});
    if (out && y && mdl_backward_with(y, b->dy) == MDL_OK) {
        memcpy(out, y->data, n[0] * sizeof(float));
        memcpy(out + n[0], b->w->grad, n[1] * sizeof(float));
        memcpy(out + n[0] + n[1], b->bias->grad, n[2] * sizeof(float));
        if (n[3]) memcpy(out + n[0] + n[1] + n[2], b->x->grad, n[3] * sizeof(float));
    } else {
        free(out);
        out = NULL;
    }
    mdl_arena_reset(b->step);
    set_threads(1);
    mdl_set_gemm_kernel("auto");
    return out;
}

/* Compare with the fast kernel on 1 thread, result by result: the same bits on 2 threads (the
   header promises it); within 1e-4 of the result's largest |value| for the plain kernel, which
   adds in another order. */
static void check(bench *b, const char *kernel, int threads, const float *ref, int exact) {
    size_t n[N_PARTS], at = 0, i;
    float *got = snapshot(b, kernel, threads);
    int k;
    if (!got || !ref) {
        printf("  !! %s: the %s kernel on %d thread(s) failed to run\n", b->L->name, kernel,
               threads);
        failures++;
        free(got);
        return;
    }
    part_sizes(b, n);
    for (k = 0; k < N_PARTS; at += n[k], k++) {
        double err = 0, big = 0;
        for (i = at; i < at + n[k]; i++) {
            double d = fabs((double)got[i] - ref[i]);
            if (!(d <= err)) err = d; /* NaN counts as an error */
            if (fabs(ref[i]) > big) big = fabs(ref[i]);
        }
        if (exact ? err != 0 : !(err <= 1e-4 * (big > 1 ? big : 1))) {
            printf("  !! %s: %s with the %s kernel on %d thread(s) differs from the %s kernel on 1 "
                   "thread by up to %g (largest |%s| %g)\n", b->L->name, part_names[k], kernel,
                   threads, mdl_gemm_kernel(), err, part_names[k], big);
            failures++;
        }
    }
    free(got);
}

/* ---- is the second core free? ---------------------------------------------------------------- */

#ifdef _OPENMP
/* A loop that keeps a core busy without touching memory: 4 independent chains of 64-bit
   multiply-adds. Run on 2 threads, it does twice the work of 1 thread in the same time only if
   nothing else holds the second core. */
static volatile unsigned long long spin_sink;

static void spin(long iters) {
    unsigned long long a = 1, b = 2, c = 3, d = 4;
    long i;
    for (i = 0; i < iters; i++) {
        a = a * 6364136223846793005ull + 1442695040888963407ull;
        b = b * 6364136223846793005ull + 1442695040888963407ull;
        c = c * 6364136223846793005ull + 1442695040888963407ull;
        d = d * 6364136223846793005ull + 1442695040888963407ull;
    }
    spin_sink = a ^ b ^ c ^ d;
}

static double spin_time(long iters, int threads) {
    double t0 = now();
#pragma omp parallel num_threads(threads)
    spin(iters);
    return now() - t0;
}

/* Work done per second by 2 threads over 1: median of 5 pairs of 20 ms runs. */
static double second_core(void) {
    long iters = 100000;
    double v[5];
    int r;
    while (spin_time(iters, 1) < 0.02) iters *= 2; /* warm-up and calibration */
    for (r = 0; r < 5; r++) {
        double t1 = spin_time(iters, 1), t2 = spin_time(iters, 2);
        v[r] = 2 * t1 / t2;
    }
    return summarize(v, 5).med;
}
#endif

/* ---- printing -------------------------------------------------------------------------------- */

/* "  1.234 [  1.200..  1.500]" (26 characters), or a note of the same width. */
static const char *fmt_ms(char *buf, size_t size, stats s) {
    if (s.ok)
        snprintf(buf, size, "%7.3f [%7.3f..%7.3f]", s.med, s.lo, s.hi);
    else
        snprintf(buf, size, "%-25s", "-");
    return buf;
}

/* GFLOP/s of a median time in ms. */
static double gflops(double flops, stats s) {
    return s.ok && s.med > 0 ? flops / (s.med * 1e6) : 0;
}


/* Environment variables that change the figures, when they are set. */
static void print_env(void) {
    const char *names[] = {"OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT"};
    int i;
    for (i = 0; i < (int)(sizeof names / sizeof names[0]); i++)
        if (getenv(names[i])) printf("environment: %s=%s\n", names[i], getenv(names[i]));
}

/* ---- main ------------------------------------------------------------------------------------ */

int main(int argc, char **argv) {
    bench bs[N_LAYERS];
    mdl_rng rng;
    char s1[64], s2[64], when[64], shape[64];
    const char *pass[2] = {"fwd", "fwd+bwd"};
    task_fn conv_task[2] = {conv_fwd, conv_fwdbwd}, pool_task[2] = {pool_fwd, pool_fwdbwd};
    double total_mdl = 0, total_pt = 0, fwdbwd_ms[N_LAYERS];
    time_t t = time(NULL);
    int i, p, procs = 1, have_plain;

    if (argc > 1) budget = atof(argv[1]);
    if (!(budget > 0 && budget <= 60)) {
        fprintf(stderr, "usage: %s [SECONDS per figure, default 0.3]\n", argv[0]);
        return 2;
    }
#ifdef _OPENMP
    procs = omp_get_num_procs();
#endif
    (void)procs; /* used with OpenMP only */

    /* 0. what runs, and where */
    strftime(when, sizeof when, "%Y-%m-%d %H:%M", localtime(&t));
    printf("minidl convolution benchmark (LeNet-5, batch 64), %s\n", when);
    printf("minidl kernel: %s (mdl_gemm_kernel(), chosen for this CPU at run time)\n",
           mdl_gemm_kernel());
#ifdef __VERSION__
    printf("compiler: %s; ", __VERSION__);
#endif
#ifdef _OPENMP
    printf("OpenMP: yes, %d processors\n", procs);
#else
    printf("OpenMP: no (built without -fopenmp): 1-thread tables only\n");
#endif
    print_env();
    print_load("at the start");
    printf("Each figure: ms per call, median of %d repeats [min..max] after a warm-up, about "
           "%.2f s each;\nthe figures of one row are measured in turns, repeat by repeat. "
           "Forward with grad mode on, as in training.\n", REPS, budget);
    printf("  conv1  x [64,1,28,28] (no grad) * w [6,1,5,5] + bias [6], padding 2 -> "
           "[64,6,28,28]; backward: dW, dbias\n");
    printf("  conv2  x [64,6,14,14] (requires grad) * w [16,6,5,5] + bias [16] -> "
           "[64,16,10,10]; backward: dW, dbias, dX\n");
    printf("GFLOP/s: 2*B*O*OH*OW*C*KH*KW per forward, as many again for dW and for dX.\n\n");
    fflush(stdout);

    set_threads(1);
    mdl_rng_seed(&rng, 5);
    for (i = 0; i < N_LAYERS; i++)
        if (!bench_make(&bs[i], &layers[i], &rng)) {
            fprintf(stderr, "bench_conv: out of memory making %s\n", layers[i].name);
            return 1;
        }
    have_plain = mdl_set_gemm_kernel("plain");
    mdl_set_gemm_kernel("auto");

    /* 1. results checked before they are timed: plain vs fast kernel, 2 threads vs 1 */
    for (i = 0; i < N_LAYERS; i++) {
        float *ref = snapshot(&bs[i], "auto", 1);
        if (have_plain) check(&bs[i], "plain", 1, ref, 0);
#ifdef _OPENMP
        if (procs >= 2) check(&bs[i], "auto", 2, ref, 1);
#endif
        free(ref);
    }
    printf("Checked: y, dW, dbias, dX of the plain kernel within 1e-4 of the %s kernel's%s: %s\n\n",
           mdl_gemm_kernel(), procs >= 2 && OPENMP ? "; on 2 threads the same bits" : "",
           failures ? "NO, see the !! lines" : "yes");

    /* 2. one thread: the fast kernel, the plain kernel, PyTorch's figure */
    printf("== convolution, 1 thread ==\n");
    printf("%-13s %6s | %-25s %7s | %-25s %7s %6s | %10s %6s\n", "layer, pass", "MFLOP",
           "minidl ms [min..max]", "GFLOP/s", "plain kernel ms", "GFLOP/s", "mdl x",
           "PyTorch ms", "PT/mdl");
    fflush(stdout);
    for (i = 0; i < N_LAYERS; i++)
        for (p = 0; p < 2; p++) {
            bench *b = &bs[i];
            const layer *L = b->L;
            double flops = p ? fwdbwd_flops(L) : fwd_flops(L);
            entry e[2];
            int n = 1;
            char label[32], pt[16], ratio[16];
            memset(e, 0, sizeof e);
            e[0].kernel = "auto", e[0].threads = 1;
            if (have_plain) e[1].kernel = "plain", e[1].threads = 1, n = 2;
            measure(b, conv_task[p], e, n);
            snprintf(label, sizeof label, "%s %s", L->name, pass[p]);
            snprintf(pt, sizeof pt, "%10s", "-");
            snprintf(ratio, sizeof ratio, "%6s", "-");
            if (p) {
                snprintf(pt, sizeof pt, "%10.2f", L->pytorch_ms);
                snprintf(ratio, sizeof ratio, "%6.2f", L->pytorch_ms / e[0].ms.med);
                fwdbwd_ms[i] = e[0].ms.med;
                total_mdl += e[0].ms.med;
                total_pt += L->pytorch_ms;
            }
            if (n == 2)
                snprintf(s2, sizeof s2, "%s %7.1f %5.1fx", fmt_ms(s1, sizeof s1, e[1].ms),
                         gflops(flops, e[1].ms), e[1].ms.med / e[0].ms.med);
            else
                snprintf(s2, sizeof s2, "%-40s", "(no plain kernel in this build)");
            printf("%-13s %6.1f | %s %7.1f | %s | %s %s\n", label, flops * 1e-6,
                   fmt_ms(s1, sizeof s1, e[0].ms), gflops(flops, e[0].ms), s2, pt, ratio);
            fflush(stdout);
        }
    printf("PyTorch ms: " PYTORCH_NOTE ".\nPT/mdl: PyTorch's time over minidl's (above 1.00: "
           "minidl is faster). mdl x: how many times\nfaster minidl's %s kernel is than the plain "
           "kernel (three C loops, the tests' reference).\n", mdl_gemm_kernel());
    printf("Target, conv1 + conv2 fwd+bwd at batch 64 on 1 thread faster than PyTorch "
           "(%.1f + %.1f = %.1f ms):\n  minidl %.3f + %.3f = %.3f ms, PT/mdl %.2f: %s\n\n",
           layers[0].pytorch_ms, layers[1].pytorch_ms, total_pt, fwdbwd_ms[0], fwdbwd_ms[1],
           total_mdl, total_pt / total_mdl, total_mdl < total_pt ? "met" : "NOT met");
    fflush(stdout);

    /* 3. max pooling on the convolutions' outputs (no GEMM: one row per input) */
    printf("== max_pool2d 2x2 (stride 2) on the convolutions' outputs, 1 thread ==\n");
    printf("%-38s | %-25s | %s\n", "input -> output", "fwd ms [min..max]",
           "fwd+bwd ms [min..max]");
    for (i = 0; i < N_LAYERS; i++) {
        bench *b = &bs[i];
        entry f, fb;
        memset(&f, 0, sizeof f);
        f.kernel = "auto", f.threads = 1;
        fb = f;
        measure(b, pool_task[0], &f, 1);
        measure(b, pool_task[1], &fb, 1);
        snprintf(shape, sizeof shape, "%s out [%d,%d,%d,%d] -> [%d,%d,%d,%d]", b->L->name,
                 b->px->shape[0], b->px->shape[1], b->px->shape[2], b->px->shape[3],
                 b->pdy->shape[0], b->pdy->shape[1], b->pdy->shape[2], b->pdy->shape[3]);
        printf("%-38s | %s | %s\n", shape, fmt_ms(s1, sizeof s1, f.ms),
               fmt_ms(s2, sizeof s2, fb.ms));
        fflush(stdout);
    }
    printf("\n");

    /* 4. two threads: minidl on 1 and 2 threads in turns */
#ifdef _OPENMP
    if (procs < 2) {
        printf("== 2 threads: skipped, this machine has 1 processor ==\n");
    } else {
        double free2 = second_core();
        printf("== 2 threads (omp_set_num_threads(2)), %s kernel ==\n", mdl_gemm_kernel());
        printf("busy loop on 2 threads before the table: %.2fx the work of 1 thread%s\n", free2,
               free2 < 1.6 ? ": the second core is busy with other programs" : "");
        printf("%-19s | %7s | %-25s %7s | %5s\n", "layer, pass", "1T ms", "2 threads ms [min..max]",
               "GFLOP/s", "2T/1T");
        for (i = 0; i < N_LAYERS; i++)
            for (p = 0; p < 2; p++) {
                bench *b = &bs[i];
                double flops = p ? fwdbwd_flops(b->L) : fwd_flops(b->L);
                char label[32];
                entry e[2];
                memset(e, 0, sizeof e);
                e[0].kernel = "auto", e[0].threads = 1;
                e[1].kernel = "auto", e[1].threads = 2;
                measure(b, conv_task[p], e, 2);
                snprintf(label, sizeof label, "%s %s", b->L->name, pass[p]);
                printf("%-19s | %7.3f | %s %7.1f | %5.2f\n", label, e[0].ms.med,
                       fmt_ms(s1, sizeof s1, e[1].ms), gflops(flops, e[1].ms),
                       e[0].ms.med / e[1].ms.med);
                fflush(stdout);
            }
        for (i = 0; i < N_LAYERS; i++)
            for (p = 0; p < 2; p++) {
                bench *b = &bs[i];
                char label[40];
                entry e[2];
                memset(e, 0, sizeof e);
                e[0].kernel = "auto", e[0].threads = 1;
                e[1].kernel = "auto", e[1].threads = 2;
                measure(b, pool_task[p], e, 2);
                snprintf(label, sizeof label, "pool(%s) %s", b->L->name, pass[p]);
                printf("%-19s | %7.3f | %s %7s | %5.2f\n", label, e[0].ms.med,
                       fmt_ms(s1, sizeof s1, e[1].ms), "", e[0].ms.med / e[1].ms.med);
                fflush(stdout);
            }
        free2 = second_core();
        printf("busy loop on 2 threads after the table:  %.2fx the work of 1 thread%s\n", free2,
               free2 < 1.6 ? ": the second core is busy with other programs" : "");
        printf("2T/1T: speedup of 2 threads over 1 (2.00 is perfect). The issue gives no 2-thread "
               "PyTorch figure.\n");
    }
#else
    printf("== 2 threads: not built with -fopenmp ==\n");
#endif
    print_load("at the end");
    for (i = 0; i < N_LAYERS; i++) bench_free(&bs[i]);
    if (failures) printf("\n%d result(s) disagreed: see the !! lines above\n", failures);
    return failures ? 1 : 0;
}
