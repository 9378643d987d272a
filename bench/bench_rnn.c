/* bench_rnn.c - one training step of a recurrent model, minidl against PyTorch, on one thread.

   The steps (bench_rnn.py runs the same in PyTorch):
     lstm, gru, rnn   a character model: one-hot input of 75 symbols -> the layer with H = 128
                      -> Linear 128 -> 75; sequence 64 (time first), batch 32; cross-entropy
                      over all 64 * 32 positions; backward; a plain SGD step (lr 0.1)
     transformer      2 encoder layers (d_model 64, 4 heads, feed-forward 256, ReLU, post-norm,
                      dropout 0), batch 64, sequence 32, batch first, on N(0,1) inputs
                      [64,32,64]; the loss is the mean of the output's squares; backward; SGD
   Each model runs in a process of its own (this program starts itself with --child MODEL), so
   that each process's peak resident memory is that model's; its figure is the median over
   STEPS steps, after 3 steps of warm-up, of the wall-clock time and of the CPU time of one
   step. The minidl and PyTorch processes run in turns, ROUNDS times, and the table gives the
   medians over the rounds, so that a change in the machine's load touches both alike. On a
   machine shared with other jobs the CPU times are the steadier figures (a process that waits
   for a core is not charged for it); the load average is printed before and after.

   The target: a step in at most a third of PyTorch's time, and a peak memory under a
   fifth of PyTorch's. PyTorch's figures depend on the BLAS library it loads (the table names
   it): Debian's python3-torch uses the system's libblas.so.3, the reference BLAS unless
   OpenBLAS is installed; to time it with OpenBLAS without installing it system-wide, point
   TORCH_LD_LIBRARY_PATH at a folder holding OpenBLAS's libblas.so.3.

   Build and run from inside bench/ (`make bench` does this):
       gcc -std=c99 -O2 -Wall -Wextra -I.. bench_rnn.c -o bench_rnn -lm
       ./bench_rnn [ROUNDS [STEPS [MODEL]]] (default 5 rounds of 15 steps of all four models;
                                            some 4 minutes with PyTorch's reference BLAS, 1
                                            without PyTorch; MODEL: only that one)
   Environment: TORCH_PYTHON (default /usr/bin/python3), TORCH_LD_LIBRARY_PATH (see above). */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, popen, getrusage under -std=c99 */
#define MINIDL_IMPLEMENTATION
#include "minidl.h"
#include "bench_util.h"

#include <string.h>
#include <sys/resource.h>

enum { T = 64, B = 32, V = 75, H = 128 };
enum { TB = 64, TT = 32, TD = 64, THEADS = 4, TFF = 256 }; /* the transformer's sizes */

static double cpu_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* The model and its data, made once. */
typedef struct model {
    mdl_params *ps;
    mdl_arena *ar;
    mdl_optim *opt;
    mdl_rnn rnn;
    mdl_layer head;
    mdl_scalar *x, *target; /* one-hot [T,B,V] and class ids [T*B]; transformer: x [TB,TT,TD] */
    int transformer;
    mdl_transformer_layer enc[2];
} model;

static int model_new(model *m, const char *kind) {
    mdl_rng rng;
    mdl_rnn_mode mode = MDL_LSTM;
    int i;
    mdl_rng_seed(&rng, 1);
    m->ps = mdl_params_new();
    m->ar = mdl_arena_new(0);
    if (strcmp(kind, "transformer") == 0) {
        mdl_transformer_opts o = mdl_transformer_defaults();
        o.dim_feedforward = TFF, o.dropout = 0, o.batch_first = 1;
        m->transformer = 1;
        m->enc[0] = mdl_transformer_encoder_layer(m->ps, "layers.0", TD, THEADS, &o, &rng);
        m->enc[1] = mdl_transformer_encoder_layer(m->ps, "layers.1", TD, THEADS, &o, &rng);
        m->x = (mdl_scalar *)malloc((size_t)TB * TT * TD * sizeof(mdl_scalar));
        m->opt = mdl_sgd_new(m->ps, 0.1, 0);
        if (!m->x || !m->opt || !m->enc[1].self_attn.in_proj_weight) return 0;
        for (i = 0; i < TB * TT * TD; i++) m->x[i] = (mdl_scalar)mdl_rng_normal(&rng);
        return 1;
    }
    if (strcmp(kind, "lstm") == 0) mode = MDL_LSTM;
    else if (strcmp(kind, "gru") == 0) mode = MDL_GRU;
    else if (strcmp(kind, "rnn") == 0) mode = MDL_RNN_TANH;
    else return 0;
    m->rnn = mdl_rnn_layer(m->ps, kind, mode, V, H, NULL, &rng);
    m->head = mdl_linear_layer(m->ps, "head", H, V, 1, &rng);
    m->opt = mdl_sgd_new(m->ps, 0.1, 0);
    m->x = (mdl_scalar *)calloc((size_t)T * B * V, sizeof(mdl_scalar));
    m->target = (mdl_scalar *)malloc((size_t)T * B * sizeof(mdl_scalar));
    if (!m->ps || !m->ar || !m->opt || !m->x || !m->target || !m->rnn.weight_ih[0]) return 0;
    for (i = 0; i < T * B; i++) {
        m->x[(size_t)i * V + mdl_rng_u32(&rng) % V] = 1;
        m->target[i] = (mdl_scalar)(mdl_rng_u32(&rng) % V);
    }
    return 1;
}

/* One training step: forward, loss, backward, SGD; the arena reset. Returns the loss. */
static double model_step(model *m) {
    int xs[3] = {T, B, V}, ts[1] = {T * B}, flat[2] = {T * B, H}, es[3] = {TB, TT, TD};
    mdl_tensor *loss;
    double value;
    if (m->transformer) {
        mdl_tensor *y = mdl_wrap(m->ar, 3, es, m->x);
        y = mdl_transformer_encoder_layer_forward(m->ar, &m->enc[0], y, NULL);
        y = mdl_transformer_encoder_layer_forward(m->ar, &m->enc[1], y, NULL);
        loss = mdl_mean(m->ar, mdl_mul(m->ar, y, y), MDL_ALL, 0);
    } else {
        mdl_tensor *x = mdl_wrap(m->ar, 3, xs, m->x), *target = mdl_wrap(m->ar, 1, ts, m->target);
        mdl_tensor *y = mdl_rnn_forward(m->ar, &m->rnn, x, NULL, NULL, NULL, NULL);
        mdl_tensor *logits = mdl_layer_forward(m->ar, &m->head, mdl_reshape(m->ar, y, 2, flat));
        loss = mdl_cross_entropy_loss(m->ar, logits, target, NULL);
    }
    value = mdl_item(loss);
    mdl_backward(loss);
    mdl_optim_step(m->opt);
    mdl_optim_zero_grad(m->opt);
    mdl_arena_reset(m->ar);
    return value;
}

static void model_free(model *m) {
    mdl_optim_free(m->opt);
    mdl_params_free(m->ps);
    mdl_arena_free(m->ar);
    free(m->x);
    free(m->target);
}

/* The child: time STEPS steps of one model; print "MODEL WALL_MS CPU_MS PEAK_RSS_KB". */
static int child(const char *kind, int steps) {
    model m;
    double *wall = (double *)malloc((size_t)steps * sizeof(double));
    double *cpu = (double *)malloc((size_t)steps * sizeof(double)), loss = 0;
    struct rusage ru;
    int i;
    memset(&m, 0, sizeof m);
    if (!wall || !cpu || !model_new(&m, kind)) {
        fprintf(stderr, "bench_rnn: cannot make model %s: %s\n", kind, mdl_last_error());
        return 1;
    }
    for (i = 0; i < 3; i++) loss = model_step(&m);
    for (i = 0; i < steps; i++) {
        double w0 = now(), c0 = cpu_now();
        loss = model_step(&m);
        wall[i] = 1e3 * (now() - w0);
        cpu[i] = 1e3 * (cpu_now() - c0);
    }
    getrusage(RUSAGE_SELF, &ru);
    if (!(loss > 0 && loss < 10)) { /* a cross-entropy over 75 classes, or the mean square of a
                                       layer-normed output (about 1) */
        fprintf(stderr, "bench_rnn: %s: the loss is %g, out of its range\n", kind, loss);
        return 1;
    }
    printf("%s %.3f %.3f %ld\n", kind, summarize(wall, steps).med, summarize(cpu, steps).med,
           (long)ru.ru_maxrss);
    model_free(&m);
    free(wall);
    free(cpu);
    return 0;
}

/* Run a command that prints "MODEL WALL CPU RSS [BLAS]" and read it. 1 if it did. */
static int run(const char *cmd, double *wall, double *cpu, double *rss, char *blas, size_t bsz) {
    FILE *p = popen(cmd, "r");
    char line[512], name[64], lib[400] = "";
    int ok = 0;
    if (!p) return 0;
    while (fgets(line, sizeof line, p))
        if (sscanf(line, "%63s %lf %lf %lf %399s", name, wall, cpu, rss, lib) >= 4) ok = 1;
    if (pclose(p) != 0) ok = 0;
    if (ok && blas && lib[0]) snprintf(blas, bsz, "%s", lib);
    return ok;
}

int main(int argc, char **argv) {
    static const char *const kinds[] = {"lstm", "gru", "rnn", "transformer"};
    enum { NK = sizeof kinds / sizeof kinds[0], MAXR = 41 };
    const char *py = getenv("TORCH_PYTHON") ? getenv("TORCH_PYTHON") : "/usr/bin/python3";
    const char *ldp = getenv("TORCH_LD_LIBRARY_PATH");
    const char *only = NULL; /* one model, or all */
    int rounds = 5, steps = 15, k, r, have_torch;
    char cmd[1024], blas[400] = "?";
    double mw[NK][MAXR], mc[NK][MAXR], mr[NK][MAXR], tw[NK][MAXR], tc[NK][MAXR], tr[NK][MAXR];
#ifdef _OPENMP
    omp_set_num_threads(1); /* one thread for both */
#endif
    if (argc == 3 && strcmp(argv[1], "--child") == 0) return child(argv[2], 15);
    if (argc == 4 && strcmp(argv[1], "--child") == 0) return child(argv[2], atoi(argv[3]));
    if (argc > 1) rounds = atoi(argv[1]);
    if (argc > 2) steps = atoi(argv[2]);
    if (argc > 3) only = argv[3];
    for (k = 0; only && k < NK && strcmp(only, kinds[k]) != 0; k++) continue;
    if (rounds < 1 || rounds > MAXR || steps < 1 || argc > 4 || (only && k == NK)) {
        fprintf(stderr, "usage: %s [ROUNDS (1..%d) [STEPS [lstm|gru|rnn|transformer]]]\n",
                argv[0], MAXR);
        return 2;
    }
    snprintf(cmd, sizeof cmd, "%s -c 'import torch' >/dev/null 2>&1", py);
    have_torch = system(cmd) == 0;
    printf("minidl recurrent benchmark: one training step, 1 thread, GEMM kernel %s\n",
           mdl_gemm_kernel());
    printf("char model: one-hot %d -> layer H=%d -> Linear %d; T=%d, B=%d; cross-entropy, "
           "backward, SGD\n", V, H, V, T, B);
    printf("transformer: 2 encoder layers, d_model %d, %d heads, feed-forward %d; B=%d, T=%d; "
           "mean square, backward, SGD\n", TD, THEADS, TFF, TB, TT);
    if (!have_torch)
        printf("PyTorch: not found (%s cannot import torch): minidl's figures only\n", py);
    print_load("at the start");
    fflush(stdout);
    for (r = 0; r < rounds; r++)
        for (k = 0; k < NK; k++) { /* minidl, then PyTorch, model by model: in turns */
            if (only && strcmp(only, kinds[k]) != 0) continue;
            snprintf(cmd, sizeof cmd, "%s --child %s %d", argv[0], kinds[k], steps);
            if (!run(cmd, &mw[k][r], &mc[k][r], &mr[k][r], NULL, 0)) {
                fprintf(stderr, "bench_rnn: %s failed\n", cmd);
                return 1;
            }
            if (!have_torch) continue;
            snprintf(cmd, sizeof cmd, "OPENBLAS_NUM_THREADS=1 %s%s%s %s bench_rnn.py %s %d",
                     ldp ? "LD_LIBRARY_PATH=" : "", ldp ? ldp : "", ldp ? " " : "", py, kinds[k],
                     steps);
            if (!run(cmd, &tw[k][r], &tc[k][r], &tr[k][r], blas, sizeof blas)) {
                fprintf(stderr, "bench_rnn: %s failed\n", cmd);
                return 1;
            }
        }
    printf("\nmedians over %d rounds of %d steps (ms per step; peak RSS of the process in MiB)\n",
           rounds, steps);
    if (have_torch) printf("PyTorch loaded the BLAS %s\n", blas);
    printf("%-12s %9s %9s | %9s %9s | %7s %7s | %8s %8s %7s\n", "model", "minidl", "(cpu)",
           "PyTorch", "(cpu)", "ratio", "(cpu)", "RSS mdl", "RSS pt", "ratio");
    for (k = 0; k < NK; k++) {
        stats w, c, s;
        if (only && strcmp(only, kinds[k]) != 0) continue;
        w = summarize(mw[k], rounds), c = summarize(mc[k], rounds);
        s = summarize(mr[k], rounds);
        printf("%-12s %9.2f %9.2f", kinds[k], w.med, c.med);
        if (have_torch) {
            stats pw = summarize(tw[k], rounds), pc = summarize(tc[k], rounds);
            stats ps = summarize(tr[k], rounds);
            printf(" | %9.2f %9.2f | %7.3f %7.3f | %8.1f %8.1f %7.3f\n", pw.med, pc.med,
                   w.med / pw.med, c.med / pc.med, s.med / 1024, ps.med / 1024, s.med / ps.med);
        } else {
            printf(" | %9s %9s | %7s %7s | %8.1f %8s %7s\n", "-", "-", "-", "-", s.med / 1024,
                   "-", "-");
        }
    }
    printf("ratio: minidl / PyTorch (the target: at most 0.333 for time, 0.200 for memory)\n");
    print_load("at the end");
    return 0;
}
