/* bench_optim.c - what the block-wise optimizer loops buy: mdl_optim_step against the same
   update written the plain way, one element at a time, as a student would write it.

   An optimizer's update is a few multiply-adds per parameter, with a square root and a division
   for the adaptive ones. In a loop that calls sqrtf, gcc and clang vectorize nothing at -O2
   (sqrtf may set errno), so the plain loop does one element at a time; minidl's rules work in
   blocks of 16 that the compiler vectorizes, with the square roots taken by the CPU's vector
   instruction (see >>optim in minidl.h). Both compute the same numbers; this program checks
   that they agree, then times them.

     rows   SGD with momentum 0.9, RMSProp, Adam, AdamW
     sizes  9610 parameters (the digits MLP 64-128-10), 61706 (LeNet-5), 1048576 (a bigger
            model, out of the L2 cache)
   Each figure is ns per parameter per step: the median of ROUNDS blocks of about 2 ms each,
   minidl's and the plain loop's blocks in turns, with the range of the blocks. The plain
   loops live here, in bench_optim.c, so they are built exactly as minidl is (-O2, no
   -march=native).

   Build and run from inside bench/ (`make bench` does this):
       gcc -std=c99 -O2 -Wall -Wextra -I.. bench_optim.c -o bench_optim -lm
       ./bench_optim [ROUNDS]          (default 41) */
#define _POSIX_C_SOURCE 199309L
#define MINIDL_IMPLEMENTATION
#include "minidl.h"
#include "bench_util.h"

#include <string.h>

/* The plain loops: PyTorch's formulas (as minidl's blocks), one element at a time. */
typedef struct plain {
    float *w, *g, *m, *v;
    size_t n;
    long t;
} plain;

static NOINLINE void plain_sgd(plain *p, float lr, float mu) {
    size_t i;
    for (i = 0; i < p->n; i++) {
        p->m[i] = p->t == 1 ? p->g[i] : mu * p->m[i] + p->g[i];
        p->w[i] -= lr * p->m[i];
    }
}

static NOINLINE void plain_rmsprop(plain *p, float lr, float alpha, float eps) {
    size_t i;
    for (i = 0; i < p->n; i++) {
        p->v[i] = alpha * p->v[i] + (1 - alpha) * p->g[i] * p->g[i];
        p->w[i] -= lr * p->g[i] / (sqrtf(p->v[i]) + eps);
    }
}

static NOINLINE void plain_adam(plain *p, float lr, float b1, float b2, float eps, float wd) {
    float c1 = 1 - powf(b1, (float)p->t), c2 = sqrtf(1 - powf(b2, (float)p->t));
    size_t i;
    for (i = 0; i < p->n; i++) {
        p->w[i] *= 1 - lr * wd;
        p->m[i] = b1 * p->m[i] + (1 - b1) * p->g[i];
        p->v[i] = b2 * p->v[i] + (1 - b2) * p->g[i] * p->g[i];
        p->w[i] -= lr / c1 * p->m[i] / (sqrtf(p->v[i]) / c2 + eps);
    }
}

static const char *const names[] = {"SGD momentum", "RMSProp", "Adam", "AdamW"};

static void plain_step(int rule, plain *p) {
    p->t++;
    switch (rule) {
    case 0: plain_sgd(p, 0.01f, 0.9f); break;
    case 1: plain_rmsprop(p, 0.01f, 0.99f, 1e-8f); break;
    case 2: plain_adam(p, 1e-3f, 0.9f, 0.999f, 1e-8f, 0); break;
    default: plain_adam(p, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f); break;
    }
}

static mdl_optim *make_optim(int rule, mdl_params *ps) {
    mdl_optim_opts o;
    switch (rule) {
    case 0:
        o = mdl_optim_defaults(MDL_SGD);
        o.lr = 0.01;
        o.momentum = 0.9;
        break;
    case 1: o = mdl_optim_defaults(MDL_RMSPROP); break;
    case 2: o = mdl_optim_defaults(MDL_ADAM); break;
    default: o = mdl_optim_defaults(MDL_ADAMW); break;
    }
    return mdl_optim_new(ps, &o);
}

/* Steps of one kind for about `seconds`; returns ns per parameter per step. */
static double block(int rule, int use_plain, mdl_optim *opt, plain *p, int steps) {
    double t0 = now();
    int s;
    for (s = 0; s < steps; s++) {
        if (use_plain)
            plain_step(rule, p);
        else
            mdl_optim_step(opt);
    }
    return (now() - t0) / steps / (double)p->n * 1e9;
}

int main(int argc, char **argv) {
    static const size_t sizes[] = {9610, 61706, 1048576};
    int rounds = argc > 1 ? atoi(argv[1]) : 41;
    int rule, si, r;
    mdl_rng rng;
    if (rounds < 1) rounds = 41;
    mdl_rng_seed(&rng, 5);
    print_load("before");
    printf("ns per parameter per step: median [min-max] of %d blocks of about 2 ms, in turns\n",
           rounds);
    printf("%-13s %9s  %-22s %-22s %s\n", "rule", "params", "minidl", "plain loop",
           "plain/minidl");
    for (rule = 0; rule < 4; rule++) {
        for (si = 0; si < 3; si++) {
            size_t n = sizes[si], i;
            int shape[1], steps;
            mdl_params *ps = mdl_params_new();
            mdl_tensor *w;
            mdl_optim *opt;
            plain p;
            double *a = (double *)malloc((size_t)rounds * sizeof(double));
            double *b = (double *)malloc((size_t)rounds * sizeof(double));
            double worst = 0, per;
            stats sa, sb;
            shape[0] = (int)n;
            w = mdl_params_add(ps, "w", 1, shape);
            mdl_fill_normal(w, &rng, 0, 1);
            for (i = 0; i < n; i++) w->grad[i] = (float)(mdl_rng_uniform(&rng) - 0.5);
            p.n = n;
            p.t = 0;
            p.w = (float *)malloc(n * sizeof(float));
            p.g = (float *)malloc(n * sizeof(float));
            p.m = (float *)calloc(n, sizeof(float));
            p.v = (float *)calloc(n, sizeof(float));
            memcpy(p.w, w->data, n * sizeof(float));
            memcpy(p.g, w->grad, n * sizeof(float));
            opt = make_optim(rule, ps);
            /* the same numbers: ten steps each, compared (to rounding, relative to 1 + |w|: the plain loop rounds
               1 - beta and the bias corrections in float, minidl in double as PyTorch) */
            for (i = 0; i < 10; i++) {
                mdl_optim_step(opt);
                plain_step(rule, &p);
            }
            for (i = 0; i < n; i++) {
                double d = fabs((double)w->data[i] - p.w[i]) / (1 + fabs(p.w[i]));
                if (d > worst) worst = d;
            }
            if (worst > 1e-5) {
                printf("%s: minidl and the plain loop differ by %.3g (relative)\n", names[rule],
                       worst);
                return 1;
            }
            /* steps per block: about 2 ms */
            per = block(rule, 1, opt, &p, 3);
            steps = (int)(2e6 / (per * (double)n)) + 1;
            for (r = 0; r < rounds; r++) {
                if (r % 2) {
                    a[r] = block(rule, 0, opt, &p, steps);
                    b[r] = block(rule, 1, opt, &p, steps);
                } else {
                    b[r] = block(rule, 1, opt, &p, steps);
                    a[r] = block(rule, 0, opt, &p, steps);
                }
            }
            sa = summarize(a, rounds);
            sb = summarize(b, rounds);
            printf("%-13s %9zu  %6.3f [%.3f-%.3f]  %6.3f [%.3f-%.3f]  %5.2f\n", names[rule], n,
                   sa.med, sa.lo, sa.hi, sb.med, sb.lo, sb.hi, sb.med / sa.med);
            fflush(stdout);
            mdl_optim_free(opt);
            mdl_params_free(ps);
            free(p.w);
            free(p.g);
            free(p.m);
            free(p.v);
            free(a);
            free(b);
        }
    }
    print_load("after");
    return 0;
}
