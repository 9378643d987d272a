/* bench_vmath.c - what the vector math and the elementwise fast paths buy: each against the
   plain loop it replaces, in the same run.

     rows   exp, sigmoid, tanh over a float array: minidl's vector math with the kernel this
            CPU gets (and AVX2 where AVX-512 is the default) against the libm loop (expf,
            tanhf, and mdl_sigmoid's 1 / (1 + e^-x) split at 0), which is what the ops ran
            before and still run with mdl_set_gemm_kernel("plain");
            the ops mdl_tanh and mdl_sigmoid, forward and backward, with the default kernel
            against the plain one (their gradient loops are the same in both: this is the
            share of the activation itself);
            relu forward + backward: minidl's loops against the same loops written one element
            at a time over plain pointers, as they were (a branch per element, no vector);
            mul and div of two same-shape arrays, forward + backward: the flat loop
            (mdl__binary_flat) against the ops' general row functions (mdl__mul_rows and
            mdl__mul_grad_rows), which every binary op ran before.
     sizes  256 values (an LSTM's gate row, H = 64), 8192 (a batch of gates), 1048576 (out of
            the L2 cache)
   Each figure is ns per value: the median of ROUNDS blocks of about 2 ms each, the two
   versions' blocks in turns, with the range of the blocks. The program first checks that
   the versions agree (the vector math within 2 ulp of libm's float, the other pairs to the
   bit).

   Build and run from inside bench/ (`make bench` does this):
       gcc -std=c99 -O2 -Wall -Wextra -I.. bench_vmath.c -o bench_vmath -lm
       ./bench_vmath [ROUNDS]          (default 21) */
#define _POSIX_C_SOURCE 199309L
#define MINIDL_IMPLEMENTATION
#include "minidl.h"
#include "bench_util.h"

#include <string.h>

/* The plain loops, as the ops had them: one element at a time over plain pointers. */
static NOINLINE void plain_exp(float *y, const float *x, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) y[i] = expf(x[i]);
}
static NOINLINE void plain_sigmoid(float *y, const float *x, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) y[i] = mdl__sigmoid1(x[i]);
}
static NOINLINE void plain_tanh(float *y, const float *x, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) y[i] = tanhf(x[i]);
}
static NOINLINE void plain_relu(float *y, float *dx, const float *x, const float *g, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) y[i] = x[i] > 0 ? x[i] : 0;
    for (i = 0; i < n; i++) dx[i] += x[i] > 0 ? g[i] : 0;
}
static NOINLINE void fast_relu(float *y, float *dx, const float *x, const float *g, size_t n) {
    mdl__unary_io u;
    memset(&u, 0, sizeof u);
    u.x = x, u.y = y, u.n = n;
    mdl__relu_forward(u);
    u.g = g, u.dx = dx;
    mdl__relu_grad(u);
}

/* mul or div forward + backward, with the row functions or the flat loop */
static NOINLINE void binary(int flat, int div, const float *a, const float *b, float *out,
                            const float *g, float *ga, float *gb, size_t n) {
    mdl__binary_row r;
    memset(&r, 0, sizeof r);
    r.a = a, r.b = b, r.ia = r.ib = 1, r.n = n, r.out = out;
    if (flat)
        mdl__binary_flat(div ? MDL_OP_DIV : MDL_OP_MUL, 0, r);
    else if (div)
        mdl__div_rows(r);
    else
        mdl__mul_rows(r);
    r.g = g, r.ga = ga, r.gb = gb;
    if (flat)
        mdl__binary_flat(div ? MDL_OP_DIV : MDL_OP_MUL, 1, r);
    else if (div)
        mdl__div_grad_rows(r);
    else
        mdl__mul_grad_rows(r);
}

/* an op forward and backward through the library, its tape in a fresh arena */
static NOINLINE void op_step(mdl_arena *ar, int which, const float *x0, const float *g0,
                             int n) {
    mdl_tensor *x = mdl_wrap(ar, 1, &n, (float *)x0), *y, *g = mdl_wrap(ar, 1, &n, (float *)g0);
    mdl_set_requires_grad(x, 1);
    y = which ? mdl_sigmoid(ar, x) : mdl_tanh(ar, x);
    mdl_backward(mdl_sum(ar, mdl_mul(ar, y, g), MDL_ALL, 0));
    mdl_arena_reset(ar);
}

enum { ROW_EXP, ROW_SIGMOID, ROW_TANH, ROW_TANH_OP, ROW_SIGMOID_OP, ROW_RELU, ROW_MUL, ROW_DIV };
static const char *const row_names[] = {"exp", "sigmoid", "tanh", "mdl_tanh f+b",
                                        "mdl_sigmoid f+b", "relu f+b", "mul f+b", "div f+b"};

typedef struct bufs {
    float *x, *b, *g, *y, *y2, *ga, *gb;
    size_t n;
    mdl_arena *ar;
    const char *kernel; /* for the vector math: the kernel to time with */
} bufs;

/* version 1: minidl's fast path; 0: the plain loop */
static double block(int row, int fast, bufs *s, int reps) {
    double t0;
    int r;
    mdl_set_gemm_kernel(fast ? s->kernel : "plain");
    t0 = now();
    for (r = 0; r < reps; r++) {
        switch (row) {
        case ROW_EXP: fast ? (void)mdl__vm_exp(s->y, s->x, s->n) : plain_exp(s->y, s->x, s->n); break;
        case ROW_SIGMOID:
            fast ? (void)mdl__vm_sigmoid(s->y, s->x, s->n) : plain_sigmoid(s->y, s->x, s->n);
            break;
        case ROW_TANH: fast ? (void)mdl__vm_tanh(s->y, s->x, s->n) : plain_tanh(s->y, s->x, s->n); break;
        case ROW_TANH_OP: op_step(s->ar, 0, s->x, s->g, (int)s->n); break;
        case ROW_SIGMOID_OP: op_step(s->ar, 1, s->x, s->g, (int)s->n); break;
        case ROW_RELU:
            (fast ? fast_relu : plain_relu)(s->y, s->ga, s->x, s->g, s->n);
            break;
        default: binary(fast, row == ROW_DIV, s->x, s->b, s->y, s->g, s->ga, s->gb, s->n); break;
        }
    }
    return (now() - t0) / reps / (double)s->n * 1e9;
}

/* Do the two versions agree? The vector math within 2 ulp of libm's float (both are within
   a few of the exact value); the other pairs to the bit. */
static int agree(int row, bufs *s) {
    size_t i;
    if (row >= ROW_TANH_OP && row <= ROW_SIGMOID_OP) return 1; /* test_vmath.c holds these */
    memset(s->ga, 0, s->n * sizeof(float));
    memset(s->gb, 0, s->n * sizeof(float));
    block(row, 1, s, 1);
    memcpy(s->y2, s->y, s->n * sizeof(float));
    if (row >= ROW_RELU) {
        float *ga = (float *)malloc(s->n * sizeof(float)), *gb = (float *)malloc(s->n * sizeof(float));
        int same;
        memcpy(ga, s->ga, s->n * sizeof(float));
        memcpy(gb, s->gb, s->n * sizeof(float));
        memset(s->ga, 0, s->n * sizeof(float));
        memset(s->gb, 0, s->n * sizeof(float));
        block(row, 0, s, 1);
        same = memcmp(s->y2, s->y, s->n * sizeof(float)) == 0 &&
               memcmp(ga, s->ga, s->n * sizeof(float)) == 0 &&
               memcmp(gb, s->gb, s->n * sizeof(float)) == 0;
        free(ga);
        free(gb);
        return same;
    }
    block(row, 0, s, 1);
    for (i = 0; i < s->n; i++) {
        float a = s->y2[i], b = s->y[i];
        if (fabsf(a - b) > 2.5e-7f * fabsf(b) + 1e-37f) {
            printf("%s: x = %.9g: %.9g against libm's %.9g\n", row_names[row], s->x[i], a, b);
            return 0;
        }
    }
    return 1;
}

int main(int argc, char **argv) {
    static const size_t sizes[] = {256, 8192, 1048576};
    int rounds = argc > 1 ? atoi(argv[1]) : 21;
    int row, si, r, k;
    const char *best;
    const char *kernels[2];
    int nk = 0;
    mdl_rng rng;
    if (rounds < 1) rounds = 21;
    mdl_rng_seed(&rng, 7);
    mdl_set_gemm_kernel("auto");
    best = mdl_gemm_kernel();
    kernels[nk++] = best;
    if (strcmp(best, "avx512") == 0 && mdl_set_gemm_kernel("avx2")) kernels[nk++] = "avx2";
    mdl_set_gemm_kernel("auto");
    print_load("before");
    printf("kernel chosen for this CPU: %s\n", best);
    printf("ns per value: median [min-max] of %d blocks of about 2 ms, in turns\n", rounds);
    printf("%-16s %-7s %8s  %-24s %-24s %s\n", "row", "kernel", "values", "minidl", "plain loop",
           "plain/minidl");
    for (row = 0; row <= ROW_DIV; row++) {
        for (k = 0; k < (row <= ROW_TANH ? nk : 1); k++) {
            for (si = 0; si < 3; si++) {
                bufs s;
                size_t i;
                double *a = (double *)malloc((size_t)rounds * sizeof(double));
                double *b = (double *)malloc((size_t)rounds * sizeof(double));
                double per;
                int reps;
                stats sa, sb;
                s.n = sizes[si];
                s.kernel = kernels[k];
                s.x = (float *)malloc(s.n * sizeof(float));
                s.b = (float *)malloc(s.n * sizeof(float));
                s.g = (float *)malloc(s.n * sizeof(float));
                s.y = (float *)malloc(s.n * sizeof(float));
                s.y2 = (float *)malloc(s.n * sizeof(float));
                s.ga = (float *)calloc(s.n, sizeof(float));
                s.gb = (float *)calloc(s.n, sizeof(float));
                s.ar = mdl_arena_new(0);
                for (i = 0; i < s.n; i++) { /* pre-activations of a trained net: mostly in [-4, 4] */
                    s.x[i] = (float)(4 * mdl_rng_normal(&rng) / 2);
                    s.b[i] = (float)(0.5 + mdl_rng_uniform(&rng));
                    s.g[i] = (float)(mdl_rng_uniform(&rng) - 0.5);
                }
                if (!agree(row, &s)) {
                    printf("%s: minidl and the plain loop disagree\n", row_names[row]);
                    return 1;
                }
                per = block(row, 0, &s, 3);
                reps = (int)(2e6 / (per * (double)s.n)) + 1;
                for (r = 0; r < rounds; r++) {
                    if (r % 2) {
                        a[r] = block(row, 1, &s, reps);
                        b[r] = block(row, 0, &s, reps);
                    } else {
                        b[r] = block(row, 0, &s, reps);
                        a[r] = block(row, 1, &s, reps);
                    }
                }
                sa = summarize(a, rounds);
                sb = summarize(b, rounds);
                printf("%-16s %-7s %8zu  %7.3f [%.3f-%.3f]  %7.3f [%.3f-%.3f]  %5.2f\n",
                       row_names[row], row <= ROW_SIGMOID_OP ? s.kernel : "-", s.n, sa.med,
                       sa.lo, sa.hi, sb.med, sb.lo, sb.hi, sb.med / sa.med);
                fflush(stdout);
                mdl_arena_free(s.ar);
                free(s.x), free(s.b), free(s.g), free(s.y), free(s.y2), free(s.ga), free(s.gb);
                free(a), free(b);
            }
        }
    }
    mdl_set_gemm_kernel("auto");
    print_load("after");
    return 0;
}
