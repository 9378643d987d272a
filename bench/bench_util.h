/* bench/bench_util.h - what every benchmark in bench/ shares: a clock, the median and spread of
   repeated measurements, and the machine's load average. Included by each benchmark program after
   _POSIX_C_SOURCE is defined (clock_gettime under -std=c99). */
#ifndef MINIDL_BENCH_UTIL_H
#define MINIDL_BENCH_UTIL_H
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* NOINLINE keeps a timed function a call of its own, so that the compiler cannot merge the
   versions being compared or hoist their work out of the timing loop. */
#if defined(__GNUC__) || defined(__clang__)
#define NOINLINE __attribute__((noinline))
#else
#define NOINLINE
#endif

/* Seconds on a clock that only goes forward. */
static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Repeated measurements of one figure, in the unit the benchmark reports (ms, GFLOP/s). */
typedef struct stats {
    double med, lo, hi; /* median, min and max of the repeats */
    int ok;             /* 0: not measured */
} stats;

static int cmp_double(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

/* Sorts v (n > 0 values) and returns its median and range. */
static stats summarize(double *v, int n) {
    stats s;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    s.med = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
    s.lo = v[0];
    s.hi = v[n - 1];
    s.ok = 1;
    return s;
}

/* The machine's load average (Linux), or nothing: on a shared machine it says how much of the
   CPU other programs were taking while these figures were measured. */
static void print_load(const char *when) {
    FILE *f = fopen("/proc/loadavg", "r");
    double l1, l5;
    if (f && fscanf(f, "%lf %lf", &l1, &l5) == 2)
        printf("load average %s: %.2f (1 min), %.2f (5 min)\n", when, l1, l5);
    if (f) fclose(f);
}

#endif
