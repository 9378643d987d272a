// bench-variant: nocheck -DMINIDL_NO_STALE_CHECK
// bench-variant: aligned -falign-functions=64 -falign-loops=64
// bench-variant: aligned_nocheck -DMINIDL_NO_STALE_CHECK -falign-functions=64 -falign-loops=64
/* bench_debug.c - what does the stale-tensor check cost on a training step?

   minidl catches a tensor used after its arena was reset: each arena tensor's header is its
   own malloc instead of a piece of the arena, mdl_arena_reset marks the step's headers DEAD and
   keeps the newest 65536 in a graveyard (freeing the oldest beyond that), and every op checks
   its inputs' magic number. Issue 11 asked what that costs (it was then MINIDL_DEBUG's); under
   3% of a training step, and it would be on by default. It now is: -DMINIDL_NO_STALE_CHECK
   turns it off. This program times whole training steps built without the check and with it,
   in turns, and prints what the check costs per step and per tensor.

     mlp      digits-sized MLP 64-128-10, batch 32:
              x [32,64] @ W1 [64,128] + b1, relu, @ W2 [128,10] + b2, log_softmax, NLL loss
     lenet    LeNet-5, batch 64, x [64,1,28,28]:
              conv 1->6 5x5 padding 2, relu, max_pool 2, conv 6->16 5x5, relu, max_pool 2,
              flatten [64,400], @ [400,120] + b, relu, @ [120,84] + b, relu, @ [84,10] + b,
              log_softmax, NLL loss
     tensors  no math: 11 one-element tensors (mdl_zeros), as many as the MLP's step makes, and
              the reset; what is left is the price of a tensor's header in each build

   One step, as a training loop does it, only with minidl's tensor ops (the layers and losses
   are written out, to time the ops alone): the batch copied into a tensor (mdl_from_array),
   the forward pass, the loss (the log-probability of each example's label picked with
   mdl_index_select, summed, times -1/B), mdl_backward, a plain SGD update (w -= 0.01 dw) over
   every tensor of the mdl_params set, mdl_params_zero_grad and mdl_arena_reset. The data are
   random (mdl_rng); only the shapes matter here.

   Build and run from inside bench/ (`make bench` does this, and builds the variants too):
       gcc -std=c99 -O2 -Wall -Wextra -I.. -fopenmp bench_debug.c -o bench_debug -lm
       gcc -std=c99 -O2 -Wall -Wextra -I.. -fopenmp -DMINIDL_NO_STALE_CHECK bench_debug.c -o bench_debug-nocheck -lm
       MINIDL_BENCH_VARIANT_NOCHECK=./bench_debug-nocheck ./bench_debug [ROUNDS [SECONDS]]
   ROUNDS per row (default 201) of one block of about SECONDS of steps (default 0.02) per build;
   the run takes two minutes on a quiet machine, up to ten on a busy one. The
   `// bench-variant:` lines at the top ask tests/bench.sh to build each variant (the same
   command plus the flags on the line) and to pass its path in MINIDL_BENCH_VARIANT_<NAME>.
   Without MINIDL_BENCH_VARIANT_NOCHECK the program prints the commands above and times the
   build with the check alone. Without -fopenmp: 1-thread rows only. No -march=native, never
   -ffast-math.

   Why the second pair, "aligned" and "aligned_nocheck" (both with -falign-functions=64
   -falign-loops=64)? Any two builds of a program place its loops at different addresses, and
   a short loop that happens to straddle a 64-byte line runs slower: the check's code moved
   minidl's relu loops (40% of both steps: a branch on the sign of random data) and this
   program's SGD loop, and with that alone the MLP's step came out 5% slower with the check in
   one pair of builds and 9% faster in another. With every loop and function starting on 64
   bytes in both builds, that part of the lottery is gone. What remains besides the check: with
   it the arena holds no headers, so the tensors' data sit at other offsets from each other.
   The first table is what a student gets; the second, and the row without math, say how much
   of it is the check. The step and the update are kept out of main (NOINLINE) so that they are
   the same instructions in both builds.

   How two builds are compared. Each runs as a child process of this one (`--child MODEL
   THREADS`: this binary or a variant), driven through pipes one block of steps at a time, the
   two in turns (the build without the check first in even rounds, the other in odd ones), so
   that a change in the machine's load touches both alike; only one runs at a time. A row's
   rounds are shared among 10 pairs of processes, started one pair after another: where the
   system puts a process's memory moves a step's time by a few percent for the whole life of
   that process (LeNet's by 4% either way), so one pair would give a row one draw of that
   lottery. Each child builds the model from the same seed and fills the graveyard (128 times
   512 one-element tensors and a reset, in both builds): the check is then in the state of a
   long training run, where each reset frees as many old headers as it buries new ones. A block
   times its steps in one go, reset and update included, with the wall clock and with the
   process's CPU time. The steps per block are calibrated once per row, in this process, to
   last about SECONDS (at least 4 steps). Each pair first runs a tenth of its rounds (at least
   one) as a warm-up, not counted.

   Reading the tables: "no check" and "check" are the medians over the rounds of the
   microseconds per step of each build, with [min..max] over the rounds; "check/no check" is
   the median (and range) over the rounds of the ratio of the round's two blocks; "extra
   ns/tensor" is the round's difference divided by the tensors per step. The CPU-time columns
   give the same two from the time each child ran, which leaves out the time it waited for a
   core. "tensors" counts the tensors the step's ops return (each op used here returns one new
   tensor; backward and the update make none); it is checked against the arena: without the
   check the arena holds each tensor's header (sizeof(mdl_tensor) rounded up to 64 bytes),
   with it not, so the two arenas' bytes per step differ by exactly that many headers. Under
   each table, the check's own work: the no-math row's extra ns per tensor times each network's
   tensors, as a share of its step. The two builds must also end with the same loss to the bit
   (a check that changed a result would be a bug), and the loss must not have grown by half; a
   failed check prints a `!!` line and the program exits 1.
*/
#define _POSIX_C_SOURCE 200112L /* clock_gettime, fork, pipe, readlink under -std=c99 */
#define MINIDL_IMPLEMENTATION
#include "minidl.h"
#include "bench_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#ifdef _OPENMP
#include <omp.h>
#define OPENMP_FLAG " -fopenmp"
#else
#define OPENMP_FLAG ""
#endif

/* Does this build have the stale-tensor check? minidl's rule: on unless MINIDL_NO_STALE_CHECK,
   and MINIDL_DEBUG keeps it on. */
#if !defined(MINIDL_NO_STALE_CHECK) || defined(MINIDL_DEBUG)
#define STALE_CHECK 1
#else
#define STALE_CHECK 0
#endif

#define N_BATCHES 4   /* random batches, used in turn */
#define LR 0.01f      /* SGD's learning rate */
#define N_EMPTY 11    /* tensors of the "tensors" step: as many as the MLP's */
#define MAX_ROUNDS 1001
#define SESSIONS 10   /* pairs of child processes per row, one after the other */
#define MIN_STEPS 4   /* steps per block at least: LeNet's step alone is longer than a block */

/* ---- the models -------------------------------------------------------------------------------
   Linear layers are y = x @ W + b with W [in,out], as the issue writes them (PyTorch keeps
   W [out,in] and computes x @ W^T; mdl_transpose would copy, so a student writes x @ W). */

enum { MLP, LENET, TENSORS, N_MODELS };
static const char *model_names[N_MODELS] = {"mlp", "lenet", "tensors"};
static const char *model_labels[N_MODELS] = {"mlp 64-128-10 b32", "lenet-5 b64",
                                             "11 tensors, no math"};

typedef struct model {
    int kind;                /* MLP, LENET or TENSORS */
    int B;                   /* batch */
    int xdim, xshape[4];     /* one batch of inputs */
    size_t per_batch;        /* its number of values */
    mdl_params *ps;          /* the weights and their gradients */
    mdl_arena *step;         /* everything one step makes; reset after each step */
    mdl_tensor *w[5], *b[5]; /* linear layers (MLP: 2, LeNet: 3), then LeNet's convolutions */
    float *x;                /* N_BATCHES batches of inputs */
    int *pick;               /* N_BATCHES x B: each example's label in its flat log-probs */
    long k;                  /* steps done */
    size_t used;             /* mdl_arena_used at the end of the last step, before its reset */
    int made;                /* tensors the last step made */
} model;

/* Every op call in a step goes through mk(): each public op returns one new tensor, so this
   counts the tensors a step makes (in both builds alike: one increment per op). */
static model *counting;
static mdl_tensor *mk(mdl_tensor *t) {
    counting->made++;
    return t;
}

/* A parameter, uniform in +-1/sqrt(fan_in) as PyTorch initializes. */
static mdl_tensor *param(model *m, mdl_rng *rng, const char *name, int ndim, const int *shape,
                         int fan_in) {
    mdl_tensor *t = mdl_params_add(m->ps, name, ndim, shape);
    double r = 1.0 / sqrt((double)fan_in);
    if (t) mdl_fill_uniform(t, rng, -r, r);
    return t;
}

/* Weights from seed 1, random inputs and labels from seed 2: every child makes the same. */
static int model_make(model *m, int kind) {
    static const int mlp_sizes[3] = {64, 128, 10}, lenet_sizes[4] = {400, 120, 84, 10};
    static const char *wn[3] = {"fc1.weight", "fc2.weight", "fc3.weight"};
    static const char *bn[3] = {"fc1.bias", "fc2.bias", "fc3.bias"};
    const int *sizes = kind == LENET ? lenet_sizes : mlp_sizes;
    int n_lin = kind == LENET ? 3 : kind == MLP ? 2 : 0, i;
    mdl_rng rng;
    memset(m, 0, sizeof *m);
    m->kind = kind;
    m->B = kind == LENET ? 64 : 32;
    if (kind == LENET) {
        m->xdim = 4, m->xshape[0] = m->B, m->xshape[1] = 1, m->xshape[2] = 28, m->xshape[3] = 28;
        m->per_batch = (size_t)m->B * 28 * 28;
    } else {
        m->xdim = 2, m->xshape[0] = m->B, m->xshape[1] = 64;
        m->per_batch = (size_t)m->B * 64;
    }
    m->ps = mdl_params_new();
    m->step = mdl_arena_new(0);
    m->x = (float *)malloc(N_BATCHES * m->per_batch * sizeof(float));
    m->pick = (int *)malloc((size_t)N_BATCHES * m->B * sizeof(int));
    if (!m->ps || !m->step || !m->x || !m->pick) return 0;
    mdl_rng_seed(&rng, 1);
    if (kind == LENET) {
        int c1[4] = {6, 1, 5, 5}, c1b[1] = {6}, c2[4] = {16, 6, 5, 5}, c2b[1] = {16};
        m->w[3] = param(m, &rng, "conv1.weight", 4, c1, 1 * 5 * 5);
        m->b[3] = param(m, &rng, "conv1.bias", 1, c1b, 1 * 5 * 5);
        m->w[4] = param(m, &rng, "conv2.weight", 4, c2, 6 * 5 * 5);
        m->b[4] = param(m, &rng, "conv2.bias", 1, c2b, 6 * 5 * 5);
        if (!m->w[3] || !m->b[3] || !m->w[4] || !m->b[4]) return 0;
    }
    for (i = 0; i < n_lin; i++) {
        int ws[2], bs[1];
        ws[0] = sizes[i], ws[1] = sizes[i + 1], bs[0] = sizes[i + 1];
        m->w[i] = param(m, &rng, wn[i], 2, ws, sizes[i]);
        m->b[i] = param(m, &rng, bn[i], 1, bs, sizes[i]);
        if (!m->w[i] || !m->b[i]) return 0;
    }
    mdl_rng_seed(&rng, 2);
    for (i = 0; i < (int)(N_BATCHES * m->per_batch); i++) m->x[i] = (float)mdl_rng_normal(&rng);
    for (i = 0; i < N_BATCHES * m->B; i++) /* example i % B of its batch, label 0..9 */
        m->pick[i] = (i % m->B) * 10 + (int)(mdl_rng_u32(&rng) % 10);
    return 1;
}

static void model_free(model *m) {
    mdl_arena_free(m->step);
    mdl_params_free(m->ps);
    free(m->x);
    free(m->pick);
}

/* ---- one training step: the timed part ------------------------------------------------------- */

/* y = x @ W + b: two tensors. */
static mdl_tensor *linear(mdl_arena *ar, mdl_tensor *x, mdl_tensor *w, mdl_tensor *b) {
    return mk(mdl_add(ar, mk(mdl_matmul(ar, x, w)), b));
}

/* NLL of log_softmax: loss = -(1/B) sum_i logp[i, label_i]. The labels' log-probabilities are
   picked from the flattened [B*10] log-probs with mdl_index_select. Five tensors. */
static mdl_tensor *nll_loss(mdl_arena *ar, mdl_tensor *logits, const int *pick, int B) {
    int flat[1];
    mdl_tensor *logp = mk(mdl_log_softmax(ar, logits, -1));
    flat[0] = B * 10;
    logp = mk(mdl_reshape(ar, logp, 1, flat));
    logp = mk(mdl_index_select(ar, logp, 0, B, pick));
    return mk(mdl_mul_scalar(ar, mk(mdl_sum(ar, logp, MDL_ALL, 0)), -1.0f / (float)B));
}

/* Plain SGD over every tensor of the set: w -= lr dw. Then the gradients back to zero. */
NOINLINE static void sgd(mdl_params *ps, float lr) {
    int i, n = mdl_params_count(ps);
    size_t j;
    for (i = 0; i < n; i++) {
        mdl_tensor *t = mdl_params_get(ps, i);
        for (j = 0; j < t->numel; j++) t->data[j] -= lr * t->grad[j];
    }
    mdl_params_zero_grad(ps);
}

/* LeNet's first convolution keeps 28x28 with padding 2; the second has PyTorch's defaults. */
static const mdl_conv_opts pad2 = {.padding = 2};

/* One step on the next batch. Returns the loss (0 for the step without math). */
NOINLINE static double train_step(model *m) {
    mdl_arena *ar = m->step;
    int batch = (int)(m->k % N_BATCHES), one[1] = {1}, i;
    mdl_tensor *x, *h, *loss;
    double value = 0;
    counting = m;
    m->made = 0;
    if (m->kind == TENSORS) {
        for (i = 0; i < N_EMPTY; i++) mk(mdl_zeros(ar, 1, one));
    } else {
        x = mk(mdl_from_array(ar, m->xdim, m->xshape, m->x + batch * m->per_batch));
        if (m->kind == LENET) {
            h = mk(mdl_conv2d(ar, x, m->w[3], m->b[3], &pad2));       /* [64,6,28,28] */
            h = mk(mdl_max_pool2d(ar, mk(mdl_relu(ar, h)), 2, NULL)); /* [64,6,14,14] */
            h = mk(mdl_conv2d(ar, h, m->w[4], m->b[4], NULL));        /* [64,16,10,10] */
            h = mk(mdl_max_pool2d(ar, mk(mdl_relu(ar, h)), 2, NULL)); /* [64,16,5,5] */
            h = mk(mdl_flatten(ar, h, 1, -1));                        /* [64,400] */
            h = mk(mdl_relu(ar, linear(ar, h, m->w[0], m->b[0])));    /* [64,120] */
            h = mk(mdl_relu(ar, linear(ar, h, m->w[1], m->b[1])));    /* [64,84] */
            h = linear(ar, h, m->w[2], m->b[2]);                      /* [64,10] */
        } else {
            h = mk(mdl_relu(ar, linear(ar, x, m->w[0], m->b[0])));    /* [32,128] */
            h = linear(ar, h, m->w[1], m->b[1]);                      /* [32,10] */
        }
        loss = nll_loss(ar, h, m->pick + batch * m->B, m->B);
        mdl_backward(loss);
        sgd(m->ps, LR);
        value = mdl_item(loss);
    }
    m->used = mdl_arena_used(ar);
    mdl_arena_reset(ar);
    m->k++;
    return value;
}

/* Bring the check's graveyard to the state of a long run (65536 dead headers, the oldest freed
   at each reset), with one-element tensors: 128 times 512 of them and a reset. The build
   without the check does the same (its arena just hands out and takes back 128 KiB each time). */
static void fill_graveyard(mdl_arena *ar) {
    int one[1] = {1}, i, j;
    for (i = 0; i < 128; i++) {
        for (j = 0; j < 512; j++) mdl_zeros(ar, 1, one);
        mdl_arena_reset(ar);
    }
}

/* ---- the child: one build, driven block by block through a pipe ------------------------------ */

/* Process CPU time in seconds: the time this process ran, whatever else the machine did. */
static double cpu_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* `--child MODEL THREADS`: builds the model, fills the graveyard, says
       "ready check=C threads=T"
   (C: 1 if this build has the stale-tensor check), then reads a number of steps per line from
   stdin, runs that many steps, and answers
       "us=<wall us per step> cpu=<CPU us per step>"
   until it reads 0 (or the pipe closes); then it says
       "done tensors=N used=BYTES first=LOSS loss=LOSS"
   with the tensors one step makes, the arena's bytes in use at the end of a step, the first
   step's loss and the last one's in %a (its exact bits). */
static int child(const char *name, int threads) {
    model m;
    char line[64];
    double first = 0, loss = 0;
    int kind, got_threads = 1, started = 0;
    for (kind = 0; kind < N_MODELS && strcmp(name, model_names[kind]) != 0; kind++) continue;
    if (kind == N_MODELS) {
        fprintf(stderr, "bench_debug --child: unknown model \"%s\" (mlp, lenet or tensors)\n",
                name);
        return 2;
    }
#ifdef _OPENMP
    omp_set_num_threads(threads);
    got_threads = omp_get_max_threads();
#endif
    (void)threads;
    if (!model_make(&m, kind)) {
        fprintf(stderr, "bench_debug --child: out of memory making %s\n", name);
        return 1;
    }
    fill_graveyard(m.step);
    printf("ready check=%d threads=%d\n", STALE_CHECK, got_threads);
    fflush(stdout);
    while (fgets(line, sizeof line, stdin)) {
        int i, steps = atoi(line);
        double t0, c0;
        if (steps <= 0) break;
        t0 = now();
        c0 = cpu_now();
        for (i = 0; i < steps; i++) {
            loss = train_step(&m);
            if (!started) first = loss, started = 1;
        }
        c0 = cpu_now() - c0;
        t0 = now() - t0;
        printf("us=%.4f cpu=%.4f\n", 1e6 * t0 / steps, 1e6 * c0 / steps);
        fflush(stdout);
    }
    printf("done tensors=%d used=%lu first=%.6f loss=%a\n", m.made, (unsigned long)m.used, first,
           loss);
    model_free(&m);
    return mdl_last_error_code() == MDL_OK ? 0 : 1;
}

/* ---- the parent: two children, block by block, in turns -------------------------------------- */

/* A child process and the two ends of its pipes. */
typedef struct proc {
    pid_t pid;
    FILE *to, *from;
} proc;

/* Start `exe --child MODEL THREADS` with pipes to its stdin and from its stdout. 0 if it fails. */
static int proc_start(proc *p, const char *exe, const char *model_name, int threads) {
    int down[2], up[2];
    char th[16];
    snprintf(th, sizeof th, "%d", threads);
    fflush(stdout);
    if (pipe(down) != 0) return 0;
    if (pipe(up) != 0) {
        close(down[0]), close(down[1]);
        return 0;
    }
    p->pid = fork();
    if (p->pid < 0) return 0;
    if (p->pid == 0) { /* the child: stdin from `down`, stdout into `up`, then exec */
        char *args[5];
        args[0] = (char *)exe, args[1] = (char *)"--child", args[2] = (char *)model_name;
        args[3] = th, args[4] = NULL;
        dup2(down[0], 0);
        dup2(up[1], 1);
        close(down[0]), close(down[1]), close(up[0]), close(up[1]);
        execv(exe, args);
        fprintf(stderr, "bench_debug: cannot run %s\n", exe);
        _exit(127);
    }
    close(down[0]);
    close(up[1]);
    p->to = fdopen(down[1], "w");
    p->from = fdopen(up[0], "r");
    return p->to && p->from;
}

/* Send a number of steps, read the answer line. 0 if the child is gone. */
static int proc_ask(proc *p, int steps, char *line, int size) {
    fprintf(p->to, "%d\n", steps);
    fflush(p->to);
    return fgets(line, size, p->from) != NULL;
}

/* Close the pipes and wait for the child: its exit status, or -1. */
static int proc_end(proc *p) {
    int status;
    fclose(p->to);
    fclose(p->from);
    if (waitpid(p->pid, &status, 0) != p->pid || !WIFEXITED(status)) return -1;
    return WEXITSTATUS(status);
}

/* This program's own path, to run itself as a child. */
static const char *self_path(const char *argv0) {
    static char buf[4096];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n > 0) {
        buf[n] = 0;
        return buf;
    }
    return argv0;
}

static int failures = 0;
static const char *build_names[2] = {"no-check", "check"};

/* One row of a table: `rounds` rounds of `steps` steps per build, the two builds in turns. */
typedef struct row {
    int kind, threads, steps;
    int tensors;             /* per step */
    double first, last;      /* the loss of the first and the last step */
    stats us[2];             /* us per step, wall clock: [0] without the check, [1] with it */
    stats ratio, ns;         /* of each round's two blocks: check/no check, extra ns per tensor */
    stats cpu_ratio, cpu_ns; /* the same from CPU time */
} row;

/* The header bytes a tensor takes in the arena without the check: sizeof(mdl_tensor) rounded up
   to a cache line (every arena allocation starts on one). With the check it is a malloc. */
static unsigned long header_bytes(void) { return (sizeof(mdl_tensor) + 63) / 64 * 64; }

/* The ends of the children of one session (done[b] NULL: build b did not run): the same tensors,
   the same losses to the bit, arenas that differ by exactly the headers, a loss that did not
   grow. */
static void check_done(row *w, const char *const *done) {
    const char *name = model_names[w->kind];
    int t[2], b, first_b = done[0] ? 0 : 1;
    unsigned long used[2];
    double first[2];
    char loss[2][64];
    for (b = first_b; b < 2; b++)
        if (done[b] && sscanf(done[b], "done tensors=%d used=%lu first=%lf loss=%63s", &t[b],
                              &used[b], &first[b], loss[b]) != 4) {
            printf("  !! %s: the %s child ended without its summary\n", name, build_names[b]);
            failures++;
            return;
        }
    w->tensors = t[first_b];
    w->first = first[first_b];
    w->last = strtod(loss[first_b], NULL);
    /* Four batches learnt by heart: the MLP's loss falls from 2.4 to near 0 in a row; LeNet's
       barely moves in a few hundred steps. A wrong gradient sent the MLP's to 1e16. */
    if (w->kind != TENSORS && !(w->last < 1.5 * w->first)) {
        printf("  !! %s: the loss went from %g (first step) to %g (last)\n", name, w->first,
               w->last);
        failures++;
    }
    if (!done[0] || !done[1]) return;
    if (t[0] != t[1] || strcmp(loss[0], loss[1]) != 0) {
        printf("  !! %s: without the check %d tensors per step, last loss %s; with it %d, loss "
               "%s\n", name, t[0], loss[0], t[1], loss[1]);
        failures++;
    }
    if (used[0] - used[1] != (unsigned long)t[0] * header_bytes()) {
        printf("  !! %s: the arenas differ by %ld bytes per step, not %d headers of %lu bytes\n",
               name, (long)(used[0] - used[1]), t[0], header_bytes());
        failures++;
    }
}

/* One session of a row: a fresh child for each build that exe names (exe[0] without the check,
   exe[1] with it; either may be NULL), a warm-up of a tenth of the rounds (at least one:
   caches, the arena's growth, OpenMP's threads), then rounds r0..r1-1 of one block per build,
   in turns; the figures go to v[.][r]. 0 if a child failed. */
static int session(row *w, const char *const *exe, int r0, int r1, double (*v)[MAX_ROUNDS]) {
    double us[2][2]; /* [build][wall, CPU] of this round */
    char line[2][256], done[2][256];
    const char *done_p[2];
    proc p[2];
    int b, r, ok = 1, started[2] = {0, 0};
    for (b = 0; ok && b < 2; b++) {
        int check, threads;
        if (!exe[b]) continue;
        if (!proc_start(&p[b], exe[b], model_names[w->kind], w->threads)) {
            printf("  !! %s --child %s %d did not start\n", exe[b], model_names[w->kind],
                   w->threads);
            ok = 0;
            break;
        }
        started[b] = 1;
        if (!fgets(line[b], sizeof line[b], p[b].from) ||
            sscanf(line[b], "ready check=%d threads=%d", &check, &threads) != 2) {
            printf("  !! %s --child %s %d did not say it was ready\n", exe[b],
                   model_names[w->kind], w->threads);
            ok = 0;
        } else if (check != b || threads != w->threads) {
            printf("  !! %s says check=%d threads=%d, wanted check=%d threads=%d\n", exe[b],
                   check, threads, b, w->threads);
            ok = 0;
        }
    }
    for (r = 0; ok && r < 1 + (r1 - r0) / 10; r++)
        for (b = 0; ok && b < 2; b++)
            if (exe[b]) ok = proc_ask(&p[b], w->steps, line[b], sizeof line[b]);
    for (r = r0; ok && r < r1; r++) {
        int j;
        for (j = 0; ok && j < 2; j++) {
            b = (j + r) % 2; /* even rounds: without the check first; odd rounds: with it */
            if (!exe[b]) continue;
            ok = proc_ask(&p[b], w->steps, line[b], sizeof line[b]) &&
                 sscanf(line[b], "us=%lf cpu=%lf", &us[b][0], &us[b][1]) == 2;
        }
        if (!ok) break;
        for (b = 0; b < 2; b++)
            if (exe[b]) v[b][r] = us[b][0];
        if (!exe[0] || !exe[1]) continue;
        v[2][r] = us[1][0] / us[0][0];
        v[3][r] = 1e3 * (us[1][0] - us[0][0]); /* ns per step; per tensor once counted */
        v[4][r] = us[1][1] / us[0][1];
        v[5][r] = 1e3 * (us[1][1] - us[0][1]);
    }
    for (b = 0; b < 2; b++) {
        int status;
        done_p[b] = NULL;
        if (!started[b]) continue;
        fprintf(p[b].to, "0\n");
        fflush(p[b].to);
        if (fgets(done[b], sizeof done[b], p[b].from)) done_p[b] = done[b];
        status = proc_end(&p[b]);
        if (status != 0) {
            printf("  !! %s --child %s %d exited with status %d\n", exe[b],
                   model_names[w->kind], w->threads, status);
            ok = 0;
        }
    }
    if (ok) check_done(w, done_p);
    return ok;
}

/* Time one row: exe[0] (without the check) and exe[1] (with it), either may be NULL, in turns,
   in SESSIONS pairs of processes one after the other. One pair of processes is not enough:
   where the system put a process's memory moved LeNet's step by 4% either way, the same in
   every round of the pair, so each pair gets a share of the rounds. */
static void measure(row *w, int rounds, const char *const *exe) {
    static double v[6][MAX_ROUNDS]; /* us without, us with, ratio, ns, CPU ratio, CPU ns */
    int b, r, s, sessions = rounds < SESSIONS ? rounds : SESSIONS;
    for (s = 0; s < sessions; s++)
        if (!session(w, exe, rounds * s / sessions, rounds * (s + 1) / sessions, v)) {
            printf("  !! %s, %d thread(s): not measured\n", model_names[w->kind], w->threads);
            failures++;
            return;
        }
    for (b = 0; b < 2; b++)
        if (exe[b]) w->us[b] = summarize(v[b], rounds);
    if (!exe[0] || !exe[1]) return;
    for (r = 0; r < rounds; r++) v[3][r] /= w->tensors, v[5][r] /= w->tensors;
    w->ratio = summarize(v[2], rounds);
    w->ns = summarize(v[3], rounds);
    w->cpu_ratio = summarize(v[4], rounds);
    w->cpu_ns = summarize(v[5], rounds);
}

/* Steps per block: enough to last about `seconds`, from 0.2 s of steps in this process. */
static int calibrate(int kind, int threads, double seconds) {
    model m;
    double t0;
    int i = 0, steps;
#ifdef _OPENMP
    omp_set_num_threads(threads);
#endif
    (void)threads;
    if (!model_make(&m, kind)) return 0;
    train_step(&m);
    t0 = now();
    do {
        train_step(&m);
        i++;
    } while (i < 3 || now() - t0 < 0.2);
    steps = (int)(seconds / ((now() - t0) / i));
    model_free(&m);
#ifdef _OPENMP
    omp_set_num_threads(1);
#endif
    return steps < MIN_STEPS ? MIN_STEPS : steps;
}

/* ---- printing -------------------------------------------------------------------------------- */

/* "  52.1234 [  50.0000..  60.0000]" with the format f, or "-" in the same width. */
static const char *fmt_stats(char *buf, size_t size, stats s, const char *f, int width) {
    char fmt[64];
    if (!s.ok) {
        snprintf(buf, size, "%-*s", width, "-");
        return buf;
    }
    snprintf(fmt, sizeof fmt, "%s [%s..%s]", f, f, f);
    snprintf(buf, size, fmt, s.med, s.lo, s.hi);
    return buf;
}

/* A comparison: two builds, [0] without the check, [1] with it (either may be missing). */
typedef struct comparison {
    const char *title;
    const char *exe[2];
    row rows[8];
    int n_rows;
} comparison;

static void print_table(comparison *c, int rounds) {
    char s[6][64], label[48];
    int i, j;
    printf("== %s ==\n", c->title);
    printf("%-24s %7s %6s | %-32s | %-32s | %-21s | %-21s | %-21s | %s\n", "model, threads",
           "tensors", "steps", "no check: us/step [min..max]", "check: us/step [min..max]",
           "check/no check", "extra ns/tensor", "CPU time: check/no check", "extra ns/tensor");
    fflush(stdout);
    for (i = 0; i < c->n_rows; i++) {
        row *w = &c->rows[i];
        measure(w, rounds, c->exe);
        if (!w->us[0].ok && !w->us[1].ok) continue;
        snprintf(label, sizeof label, "%s, %dT", model_labels[w->kind], w->threads);
        printf("%-24s %7d %6d | %s | %s | %s | %s | %s | %s\n", label, w->tensors, w->steps,
               fmt_stats(s[0], sizeof s[0], w->us[0], "%9.3f", 32),
               fmt_stats(s[1], sizeof s[1], w->us[1], "%9.3f", 32),
               fmt_stats(s[2], sizeof s[2], w->ratio, "%5.3f", 21),
               fmt_stats(s[3], sizeof s[3], w->ns, "%5.0f", 21),
               fmt_stats(s[4], sizeof s[4], w->cpu_ratio, "%5.3f", 21),
               fmt_stats(s[5], sizeof s[5], w->cpu_ns, "%5.0f", 0));
        fflush(stdout);
    }
    if (!c->exe[0] || !c->exe[1]) {
        printf("\n");
        return;
    }
    printf("Issue 11's bar, check/no check under 1.03 (median of the rounds, wall clock):");
    for (i = 0; i < c->n_rows; i++)
        if (c->rows[i].ratio.ok && c->rows[i].kind != TENSORS)
            printf("%s %s %dT %.3f %s", i ? "," : "", model_names[c->rows[i].kind],
                   c->rows[i].threads, c->rows[i].ratio.med,
                   c->rows[i].ratio.med < 1.03 ? "under" : "NOT under");
    printf("\n");
    for (i = 0; i < c->n_rows && c->rows[i].kind != TENSORS; i++) continue;
    if (i < c->n_rows && c->rows[i].ns.ok) {
        double ns = c->rows[i].ns.med;
        printf("The check's own work, from the no-math row: %.0f ns per tensor;", ns);
        for (j = 0; j < c->n_rows; j++)
            if (c->rows[j].kind != TENSORS && c->rows[j].us[0].ok && c->rows[j].threads == 1)
                printf(" %s %d tensors = %.2f us = %.3f%% of its step;",
                       model_names[c->rows[j].kind], c->rows[j].tensors,
                       1e-3 * ns * c->rows[j].tensors,
                       100 * 1e-3 * ns * c->rows[j].tensors / c->rows[j].us[0].med);
        printf("\n");
    }
    printf("\n");
}

/* ---- main ------------------------------------------------------------------------------------ */

int main(int argc, char **argv) {
    static comparison cmp[2];
    row rows[8];
    int n_rows = 0, i, k, procs = 1, th, rounds = 201;
    double seconds = 0.02;
    const char *self = self_path(argv[0]);
    const char *off = getenv("MINIDL_BENCH_VARIANT_NOCHECK");
    const char *al = getenv("MINIDL_BENCH_VARIANT_ALIGNED");
    const char *al_off = getenv("MINIDL_BENCH_VARIANT_ALIGNED_NOCHECK");
    char when[64];
    time_t t = time(NULL);

    if (argc > 1 && strcmp(argv[1], "--child") == 0) {
        if (argc != 4 || atoi(argv[3]) < 1) {
            fprintf(stderr, "usage: %s --child mlp|lenet|tensors THREADS\n", argv[0]);
            return 2;
        }
        return child(argv[2], atoi(argv[3]));
    }
    if (argc > 1) rounds = atoi(argv[1]);
    if (argc > 2) seconds = atof(argv[2]);
    if (argc > 3 || rounds < 1 || rounds > MAX_ROUNDS || !(seconds > 0 && seconds <= 10)) {
        fprintf(stderr, "usage: %s [ROUNDS, default 201 [SECONDS per block, default 0.02]]\n",
                argv[0]);
        return 2;
    }
    if (off && !off[0]) off = NULL;
    if (al && !al[0]) al = NULL;
    if (al_off && !al_off[0]) al_off = NULL;
#ifdef _OPENMP
    procs = omp_get_num_procs();
#endif

    /* 0. what runs, and where */
    strftime(when, sizeof when, "%Y-%m-%d %H:%M", localtime(&t));
    printf("minidl: what the stale-tensor check costs on a training step, %s\n", when);
    printf("minidl kernel: %s (mdl_gemm_kernel(), chosen for this CPU at run time)\n",
           mdl_gemm_kernel());
#ifdef __VERSION__
    printf("compiler: %s; ", __VERSION__);
#endif
    printf("OpenMP: %s, %d processor(s)\n", OPENMP_FLAG[0] ? "yes" : "no", procs);
    print_load("at the start");
    if (!STALE_CHECK) {
        printf("This binary was built with -DMINIDL_NO_STALE_CHECK: build the main program "
               "without it.\n");
        return 2;
    }
    if (!off)
        printf("MINIDL_BENCH_VARIANT_NOCHECK is not set: this build (with the check, minidl's "
               "default) is timed\nalone. To compare, build the variant beside this program and "
               "run again, from inside bench/:\n  gcc -std=c99 -O2 -Wall -Wextra -I..%s "
               "-DMINIDL_NO_STALE_CHECK bench_debug.c -o bench_debug-nocheck -lm\n"
               "  MINIDL_BENCH_VARIANT_NOCHECK=./bench_debug-nocheck %s\n", OPENMP_FLAG, argv[0]);
    if (!al || !al_off)
        printf("MINIDL_BENCH_VARIANT_ALIGNED and _ALIGNED_NOCHECK are not both set: no second "
               "table (`make bench`\nbuilds them; by hand, this program's command and the one "
               "above with -falign-functions=64\n-falign-loops=64 added).\n");
    printf("One step: batch into a tensor, forward, NLL loss, mdl_backward, SGD over the "
           "parameters,\nmdl_params_zero_grad, mdl_arena_reset. One child process per build "
           "(graveyard filled: 65536 dead headers),\ndriven in blocks of about %.3f s of steps, "
           "the two builds in turns; %d rounds of one block each\nper row, shared among %d "
           "pairs of processes, each pair after a warm-up. Each figure: the median of the\n"
           "rounds [min..max]; ratios and differences are taken within each round.\n\n",
           seconds, rounds, rounds < SESSIONS ? rounds : SESSIONS);
    fflush(stdout);

    /* 1. the rows: each model on 1 thread, then the two networks on 2; steps per block once */
    for (th = 1; th <= (OPENMP_FLAG[0] && procs >= 2 ? 2 : 1); th++)
        for (k = 0; k < N_MODELS; k++) {
            row *w = &rows[n_rows];
            if (th == 2 && k == TENSORS) continue;
            memset(w, 0, sizeof *w);
            w->kind = k;
            w->threads = th;
            w->steps = calibrate(k, th, seconds);
            n_rows++;
        }

    /* 2. the two comparisons */
    cmp[0].title = "as students build: -O2";
    cmp[0].exe[0] = off, cmp[0].exe[1] = self;
    cmp[1].title = "both builds with every loop and function on 64 bytes "
                   "(-falign-functions=64 -falign-loops=64)";
    cmp[1].exe[0] = al_off, cmp[1].exe[1] = al;
    for (i = 0; i < 2; i++) {
        if (i == 1 && (!al || !al_off)) continue;
        memcpy(cmp[i].rows, rows, sizeof rows);
        cmp[i].n_rows = n_rows;
        print_table(&cmp[i], rounds);
    }
    printf("tensors: per step, counted as the step's ops return them; checked: without the "
           "check the arena holds\n  that many headers of %lu bytes more per step than with "
           "it. steps: per block.\n", header_bytes());
    printf("check/no check, extra ns/tensor: of the two blocks of each round; CPU time: from "
           "CLOCK_PROCESS_CPUTIME_ID,\n  which leaves out the time a child waited for a core "
           "(on 2 threads it includes OpenMP's waiting).\n");
    printf("Loss, the same bits in both builds, first step -> last:");
    for (i = 0; i < n_rows; i++)
        if (cmp[0].rows[i].kind != TENSORS && cmp[0].rows[i].us[1].ok)
            printf(" %s %dT %.3f -> %.4f;", model_names[cmp[0].rows[i].kind],
                   cmp[0].rows[i].threads, cmp[0].rows[i].first, cmp[0].rows[i].last);
    printf("\n");
    print_load("at the end");
    if (failures) printf("\n%d check(s) failed: see the !! lines and messages above\n", failures);
    return failures ? 1 : 0;
}
