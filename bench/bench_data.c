/* bench_data.c - what does it cost to serve shuffled mini-batches, and does the way matter?

   mdl_batches serves a shuffled epoch by shuffling the data set's rows in place at its start
   (mdl_dataset_shuffle: a random permutation, applied one cycle at a time so that each row is
   read and written once), after which every batch is a view: two tensor headers pointing into
   the data set, no copy. Two other ways are timed beside it, on data the size of MNIST's
   training set (60000 rows of 784 values, batches of 64):

     shuffle   one mdl_dataset_shuffle of the whole data set
     swap      the same shuffle done the first way that comes to mind: Fisher-Yates swapping
               whole rows as it draws, which moves every row twice
     views     one epoch of mdl_batches_next in order, with an arena reset after each batch:
               the cost of handing out views, nothing else
     gather    the way PyTorch's DataLoader does it: the data set stays as it is, a list of row
               numbers is shuffled, and each batch's rows of x and y are copied into the arena
               (mdl_index_select), then the arena is reset
     train     one epoch of the training it feeds, from 100 steps times the 938 steps of an
               epoch: an MLP 784-128-10 (Linear, ReLU, Linear, cross-entropy, backward, SGD,
               reset), in order

   and prints each as milliseconds per epoch (the median of the repeats, with min and max).

   Build and run from inside bench/ (`make bench` does this):
       gcc -std=c99 -O2 -Wall -Wextra -I.. -fopenmp bench_data.c -o bench_data -lm
       ./bench_data [REPEATS]          (default 7; about 30 seconds on a quiet machine)
   It needs 400 MB of memory (the data made in an arena, then the data set's copy). Never
   -ffast-math. */
#define _POSIX_C_SOURCE 199309L
#define MINIDL_IMPLEMENTATION
#include "minidl.h"
#include "bench_util.h"

#define N 60000
#define F 784
#define B 64

static void show(const char *name, double *ms, int reps, const char *what) {
    stats s = summarize(ms, reps);
    printf("%-8s %9.1f ms per epoch  (min %.1f, max %.1f)   %s\n", name, s.med, s.lo, s.hi, what);
}

int main(int argc, char **argv) {
    int reps = argc > 1 ? atoi(argv[1]) : 7, r, i, xs[2] = {N, F}, ys[1] = {N};
    mdl_arena *ar = mdl_arena_new(0);
    mdl_params *ps = mdl_params_new();
    mdl_rng rng;
    mdl_dataset *ds;
    mdl_batches it;
    mdl_tensor *xb, *yb, *x, *y;
    double *ms;
    int *order = (int *)malloc(sizeof(int) * N);
    if (reps < 1) reps = 1;
    ms = (double *)malloc(sizeof(double) * (size_t)reps);
    if (!ar || !ps || !order || !ms) return 1;
    mdl_rng_seed(&rng, 1);
    print_load("before");

    x = mdl_rand(ar, &rng, 2, xs, 0, 1);
    y = mdl_zeros(ar, 1, ys);
    for (i = 0; i < N; i++) y->data[i] = (mdl_scalar)(mdl_rng_u32(&rng) % 10);
    ds = mdl_dataset_new(x, y);
    mdl_arena_reset(ar);
    if (!ds) return 1;
    printf("data set: x [%d,%d] y [%d], %.0f MB; batches of %d, %d per epoch\n", N, F, N,
           (double)N * F * sizeof(mdl_scalar) / 1e6, B, (N + B - 1) / B);

    for (r = 0; r < reps; r++) {
        double t = now();
        mdl_dataset_shuffle(ds, &rng);
        ms[r] = 1e3 * (now() - t);
    }
    show("shuffle", ms, reps, "mdl_dataset_shuffle: a permutation, applied by cycles");

    for (r = 0; r < reps; r++) {
        double t = now();
        for (i = N - 1; i > 0; i--) { /* Fisher-Yates on the rows themselves */
            int j = (int)(mdl_rng_u32(&rng) % (uint32_t)(i + 1)), k;
            mdl_scalar *a = ds->x->data + (size_t)i * F, *b = ds->x->data + (size_t)j * F, v;
            for (k = 0; k < F; k++) v = a[k], a[k] = b[k], b[k] = v;
            v = ds->y->data[i], ds->y->data[i] = ds->y->data[j], ds->y->data[j] = v;
            k = ds->ids[i], ds->ids[i] = ds->ids[j], ds->ids[j] = k;
        }
        ms[r] = 1e3 * (now() - t);
    }
    show("swap", ms, reps, "Fisher-Yates swapping rows: each row moved twice");

    mdl_batches_init(&it, ds, B, 0, 0, NULL);
    for (r = 0; r < reps; r++) {
        double t = now();
        while (mdl_batches_next(&it, ar, &xb, &yb)) mdl_arena_reset(ar);
        ms[r] = 1e3 * (now() - t);
    }
    show("views", ms, reps, "mdl_batches_next in order: two headers a batch");

    for (r = 0; r < reps; r++) {
        double t = now();
        int start;
        for (i = 0; i < N; i++) order[i] = i;
        for (i = N - 1; i > 0; i--) { /* Fisher-Yates on the row numbers */
            int j = (int)(mdl_rng_u32(&rng) % (uint32_t)(i + 1)), k = order[i];
            order[i] = order[j];
            order[j] = k;
        }
        for (start = 0; start < N; start += B) {
            int b = N - start < B ? N - start : B;
            xb = mdl_index_select(ar, ds->x, 0, b, order + start);
            yb = mdl_index_select(ar, ds->y, 0, b, order + start);
            if (!xb || !yb) return 1;
            mdl_arena_reset(ar);
        }
        ms[r] = 1e3 * (now() - t);
    }
    show("gather", ms, reps, "shuffled row list, each batch copied by mdl_index_select");

    {
        mdl_layer fc1 = mdl_linear_layer(ps, "fc1", F, 128, 1, &rng);
        mdl_layer fc2 = mdl_linear_layer(ps, "fc2", 128, 10, 1, &rng);
        int steps = 100, s;
        for (r = 0; r < reps; r++) {
            double t = now();
            mdl_batches_init(&it, ds, B, 0, 0, NULL); /* the order does not change the time */
            for (s = 0; s < steps && mdl_batches_next(&it, ar, &xb, &yb); s++) {
                mdl_tensor *h = mdl_relu(ar, mdl_layer_forward(ar, &fc1, xb));
                mdl_backward(mdl_cross_entropy_loss(ar, mdl_layer_forward(ar, &fc2, h), yb, NULL));
                for (i = 0; i < mdl_params_count(ps); i++) {
                    mdl_tensor *p = mdl_params_get(ps, i);
                    size_t k;
                    for (k = 0; k < p->numel; k++) p->data[k] -= 0.01f * p->grad[k];
                }
                mdl_params_zero_grad(ps);
                mdl_arena_reset(ar);
            }
            ms[r] = 1e3 * (now() - t) * ((double)(N + B - 1) / B) / steps;
        }
        show("train", ms, reps, "MLP 784-128-10: 100 steps, times the steps of an epoch");
    }
    print_load("after");
    mdl_dataset_free(ds);
    mdl_params_free(ps);
    mdl_arena_free(ar);
    free(order);
    free(ms);
    return 0;
}
