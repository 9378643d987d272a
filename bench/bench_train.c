/* bench_train.c - whole training epochs, minidl against PyTorch: the digits MLP and LeNet-5 on
   Fashion-MNIST, with minidl's layers, loss and optimizer.

   The tasks (bench_train.py runs the same in PyTorch):
     mlp    scikit-learn's 1797 digits (tutorials/data/digits.csv, pixels / 16): a random 1437
            for training, the other 360 for the test; Linear 64 -> 128, ReLU, Linear 128 -> 10;
            cross-entropy; Adam (lr 0.001, PyTorch's defaults); batches of 32 (the last one
            smaller); 10 epochs in each process, each timed: the figure is their median
     lenet  Fashion-MNIST, all 60,000 training images when Debian's dataset-fashion-mnist is
            installed (/usr/share/datasets/fashion-mnist), else the 5,000 shipped in
            tutorials/data; pixels / 255; Conv 1->6 5x5 pad 2, ReLU, MaxPool 2, Conv 6->16 5x5,
            ReLU, MaxPool 2, Flatten, Linear 400->120, ReLU, Linear 120->84, ReLU, Linear 84->10;
            cross-entropy; Adam (lr 0.001); batches of 64; one epoch in each process
   Both sides train the same thing: this program writes a recipe file (safetensors, mdl_save)
   with the initial weights under PyTorch's names and the order of the rows in every epoch, and
   both children load it, so the two runs differ only by the rounding of their kernels and the
   test accuracies agree to a fraction of a percent. Before the timed epochs each child runs one
   forward and backward pass on the first batch and throws its gradients away (page faults,
   first-use costs), without changing the weights.

   Each child is a process of its own, so its peak resident memory (getrusage ru_maxrss,
   nothing subtracted; the data set included: both hold Fashion-MNIST's images as bytes, 55 MB,
   and make each batch float32 / 255) is that task's. The children run in turns, ROUNDS times (minidl on 1 thread, PyTorch on 1, minidl on
   2, PyTorch on 2, then again), and the table gives the median over the rounds and the spread,
   so that a change in the machine's load touches all alike. One thread: OMP_NUM_THREADS=1 and
   torch.set_num_threads(1); two: OMP_NUM_THREADS=2 (minidl's matrix products and convolutions'
   GEMMs are what OpenMP shares; this build needs -fopenmp, which `make bench` adds). An idle
   `import torch` is measured too, so the reader sees what PyTorch's runtime alone costs.

   The targets, on one thread: a digits-MLP epoch at least 7x faster than PyTorch's; a
   LeNet epoch at least 2.5x faster; the peak RSS of each at most a third of PyTorch's; and on
   two threads LeNet at least 1.7x faster than on one. PyTorch's Linear layers call the
   system's libblas.so.3 (Debian's python3-torch: the reference BLAS unless OpenBLAS is
   installed); its convolutions use oneDNN. TORCH_LD_LIBRARY_PATH adds a second PyTorch row that
   runs with that folder first in LD_LIBRARY_PATH (say, OpenBLAS's libblas.so.3, unpacked with
   apt-get download and dpkg -x).

   Build and run from inside bench/ (`make bench` does this):
       gcc -std=c99 -O2 -Wall -Wextra -I.. -fopenmp bench_train.c -o bench_train -lm
       ./bench_train [ROUNDS]            default 3 rounds; with the full Fashion-MNIST some 3
                                         minutes with PyTorch (reference BLAS), 1 without
       ./bench_train --subset [ROUNDS]   the shipped 5,000 images even when the full set is there
   To profile one child (perf record, gprof, ...):
       ./bench_train --recipe lenet /tmp/lenet.safetensors [--subset] [EPOCHS]   writes one
       OMP_NUM_THREADS=1 ./bench_train --child lenet /tmp/lenet.safetensors
       /usr/bin/python3 bench_train.py lenet /tmp/lenet.safetensors 1
   Environment: TORCH_PYTHON (default /usr/bin/python3), TORCH_LD_LIBRARY_PATH (see above). */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, popen, getrusage, getpid under -std=c99 */
#define MINIDL_IMPLEMENTATION
#include "minidl.h"
#include "bench_util.h"

#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define FASHION_DIR "/usr/share/datasets/fashion-mnist/"
#define SUBSET_DIR "../tutorials/data/"
#define DIGITS_CSV "../tutorials/data/digits.csv"

static double cpu_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static long peak_rss_kb(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (long)ru.ru_maxrss; /* KiB on Linux */
}

/* ---- the models: the same layers, in the same order, as bench_train.py's nn.Sequential ---- */

static mdl_sequential *make_mlp(mdl_params *ps, mdl_rng *rng) {
    mdl_sequential *net = mdl_sequential_new();
    mdl_sequential_add(net, mdl_linear_layer(ps, "0", 64, 128, 1, rng));
    mdl_sequential_add(net, mdl_activation_layer(MDL_LAYER_RELU));
    mdl_sequential_add(net, mdl_linear_layer(ps, "2", 128, 10, 1, rng));
    return net->count == 3 ? net : NULL;
}

static mdl_sequential *make_lenet(mdl_params *ps, mdl_rng *rng) {
    mdl_sequential *net = mdl_sequential_new();
    mdl_conv_opts pad2 = {0};
    pad2.padding = 2;
    mdl_sequential_add(net, mdl_conv2d_layer(ps, "0", 1, 6, 5, 5, &pad2, 1, rng)); /* 6x28x28 */
    mdl_sequential_add(net, mdl_activation_layer(MDL_LAYER_RELU));
    mdl_sequential_add(net, mdl_pool_layer(MDL_LAYER_MAX_POOL2D, 2, NULL));        /* 6x14x14 */
    mdl_sequential_add(net, mdl_conv2d_layer(ps, "3", 6, 16, 5, 5, NULL, 1, rng)); /* 16x10x10 */
    mdl_sequential_add(net, mdl_activation_layer(MDL_LAYER_RELU));
    mdl_sequential_add(net, mdl_pool_layer(MDL_LAYER_MAX_POOL2D, 2, NULL));        /* 16x5x5 */
    mdl_sequential_add(net, mdl_flatten_layer(1, -1));                             /* 400 */
    mdl_sequential_add(net, mdl_linear_layer(ps, "7", 400, 120, 1, rng));
    mdl_sequential_add(net, mdl_activation_layer(MDL_LAYER_RELU));
    mdl_sequential_add(net, mdl_linear_layer(ps, "9", 120, 84, 1, rng));
    mdl_sequential_add(net, mdl_activation_layer(MDL_LAYER_RELU));
    mdl_sequential_add(net, mdl_linear_layer(ps, "11", 84, 10, 1, rng));
    return net->count == 12 ? net : NULL;
}

/* LeNet's multiply-adds per image, forward: conv1 6*25*28*28, conv2 16*150*10*10, the Linear
   layers 400*120 + 120*84 + 84*10. The backward does each again for the weights' gradient, and
   again for the input's gradient except at conv1, whose input (the image) needs none. */
static double lenet_flop_per_image(void) {
    double conv1 = 6.0 * 25 * 28 * 28, conv2 = 16.0 * 150 * 10 * 10;
    double fc = 400.0 * 120 + 120.0 * 84 + 84.0 * 10;
    double forward = conv1 + conv2 + fc, backward = forward + conv2 + fc;
    return 2 * (forward + backward); /* a multiply-add is 2 FLOP */
}

/* ---- the data: both tasks as x [N, ...] and y [N] (class ids) ---- */

/* The digits as floats x [N, 64]; Fashion-MNIST's images as bytes [N, 28, 28] (a quarter of
   the memory), made floats [B, 1, 28, 28] / 255 a batch at a time, as bench_train.py keeps a
   uint8 tensor and converts each batch; the labels as floats [N] (class ids). */
typedef struct data {
    mdl_params *store;             /* owns x, y, test_y */
    mdl_tensor *x, *y;             /* training file (digits: all rows; Fashion-MNIST: x NULL) */
    mdl_tensor *test_y;            /* Fashion-MNIST's test labels; digits: NULL */
    mdl_bytes *images, *test_images; /* Fashion-MNIST's images; digits: NULL */
} data;

static int n_rows(const data *d, int test) {
    return test ? d->test_images->shape[0] : d->x ? d->x->shape[0] : d->images->shape[0];
}

static void free_data(data *d) {
    mdl_params_free(d->store);
    mdl_bytes_free(d->images);
    mdl_bytes_free(d->test_images);
}

/* Load a task's data from the paths in a recipe's metadata (or the parent's choice). */
static int load_data(const char *task, const char *const paths[4], data *d) {
    memset(d, 0, sizeof *d);
    d->store = mdl_params_new();
    if (strcmp(task, "mlp") == 0) {
        mdl_csv_opts o = {0};
        mdl_csv csv;
        size_t i;
        o.no_header = 1;
        o.target = "64";
        if (mdl_load_csv(d->store, "digits", paths[0], &o, &csv) != MDL_OK) return 0;
        for (i = 0; i < csv.x->numel; i++) csv.x->data[i] /= 16; /* pixels 0..16 -> 0..1 */
        d->x = csv.x, d->y = csv.y;
        return 1;
    } else {
        return mdl_load_idx_bytes(paths[0], NULL, &d->images) == MDL_OK &&
               mdl_load_idx(d->store, "train.y", paths[1], NULL, &d->y) == MDL_OK &&
               mdl_load_idx_bytes(paths[2], NULL, &d->test_images) == MDL_OK &&
               mdl_load_idx(d->store, "test.y", paths[3], NULL, &d->test_y) == MDL_OK;
    }
}

/* ---- the recipe: initial weights, the row order of every epoch, the test rows ---- */

static void permute(int *v, int n, mdl_rng *rng) { /* Fisher-Yates */
    int i;
    for (i = n - 1; i > 0; i--) {
        int j = (int)(mdl_rng_u32(rng) % (uint32_t)(i + 1)), t = v[i];
        v[i] = v[j], v[j] = t;
    }
}

/* Write the recipe of `task` to `path`: the model's initial weights (seed 17), "order"
   [epochs, n_train] (epochs <= 0: the default, 10 for the MLP, 1 for LeNet) (row ids into the training tensor, a new permutation each epoch) and
   "test_rows" [n_test] (row ids into the test tensor: the digits' held-out rows, or every
   Fashion-MNIST test image), with the data's paths, the batch size and the lr as metadata. */
static int write_recipe(const char *task, const char *path, int subset, int epochs) {
    int mlp = strcmp(task, "mlp") == 0, full = 0, n_train, n_test, i, e, *rows;
    char files[4][256], s_batch[16], s_epochs[16];
    const char *paths[4], *meta[32];
    mdl_rng rng;
    mdl_params *ps = mdl_params_new();
    mdl_sequential *net;
    mdl_tensor *order, *test_rows;
    data d;
    mdl_error err;
    mdl_rng_seed(&rng, 17);
    if (mlp) {
        snprintf(files[0], sizeof files[0], "%s", DIGITS_CSV);
    } else {
        FILE *f = subset ? NULL : fopen(FASHION_DIR "train-images-idx3-ubyte.gz", "rb");
        static const char *const names[2][4] = {
            {"fashion-train-images-idx3-ubyte.gz", "fashion-train-labels-idx1-ubyte.gz",
             "fashion-test-images-idx3-ubyte.gz", "fashion-test-labels-idx1-ubyte.gz"},
            {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
             "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"}};
        full = f != NULL;
        if (f) fclose(f);
        for (i = 0; i < 4; i++)
            snprintf(files[i], sizeof files[i], "%s%s", full ? FASHION_DIR : SUBSET_DIR,
                     names[full][i]);
    }
    for (i = 0; i < 4; i++) paths[i] = files[i];
    if (!load_data(task, paths, &d)) {
        fprintf(stderr, "bench_train: %s\n", mdl_last_error());
        return 0;
    }
    net = mlp ? make_mlp(ps, &rng) : make_lenet(ps, &rng);
    if (epochs <= 0) epochs = mlp ? 10 : 1;
    if (mlp) { /* a random 80% of the digits for training, the rest for the test */
        n_train = d.x->shape[0] * 4 / 5, n_test = d.x->shape[0] - n_train;
    } else {
        n_train = n_rows(&d, 0), n_test = n_rows(&d, 1);
    }
    {
        int os[2], ts[1];
        os[0] = epochs, os[1] = n_train, ts[0] = n_test;
        order = mdl_params_add_buffer(ps, "order", 2, os);
        test_rows = mdl_params_add_buffer(ps, "test_rows", 1, ts);
    }
    rows = (int *)malloc((size_t)(n_train + n_test) * sizeof(int));
    if (!net || !order || !test_rows || !rows) return 0;
    for (i = 0; i < n_train + n_test; i++) rows[i] = i;
    if (mlp) permute(rows, n_train + n_test, &rng); /* the split */
    for (i = 0; i < n_test; i++) test_rows->data[i] = (mdl_scalar)(mlp ? rows[n_train + i] : i);
    for (e = 0; e < epochs; e++) { /* each epoch, the training rows in a new order */
        permute(rows, n_train, &rng);
        for (i = 0; i < n_train; i++) order->data[(size_t)e * n_train + i] = (mdl_scalar)rows[i];
    }
    snprintf(s_batch, sizeof s_batch, "%d", mlp ? 32 : 64);
    snprintf(s_epochs, sizeof s_epochs, "%d", epochs);
    i = 0;
    meta[i++] = "task", meta[i++] = task;
    meta[i++] = "data", meta[i++] = mlp ? "digits" : full ? "fashion-mnist" : "fashion-subset";
    meta[i++] = "batch", meta[i++] = s_batch;
    meta[i++] = "lr", meta[i++] = "0.001";
    meta[i++] = "train_x", meta[i++] = files[0];
    if (!mlp) {
        meta[i++] = "train_y", meta[i++] = files[1];
        meta[i++] = "test_x", meta[i++] = files[2];
        meta[i++] = "test_y", meta[i++] = files[3];
    }
    meta[i] = NULL;
    err = mdl_save(ps, path, meta);
    if (err != MDL_OK) fprintf(stderr, "bench_train: %s\n", mdl_last_error());
    free(rows);
    mdl_sequential_free(net);
    mdl_params_free(ps);
    free_data(&d);
    return err == MDL_OK;
}

/* ---- the child: train as the recipe says; print one line of results ---- */

/* Take the rows rows[0..n-1] of x and y as one batch, in the arena: images [n,1,28,28] as
   floats / 255 (what mdl_load_idx with scale and channel would have made of the file). */
static void gather(mdl_arena *ar, const data *d, int test, int n, const int *rows,
                   mdl_tensor **xb, mdl_tensor **yb) {
    mdl_idx_opts o = {0};
    o.scale = 1, o.channel = 1;
    if (d->images)
        *xb = mdl_bytes_batch(ar, test ? d->test_images : d->images, n, rows, &o);
    else
        *xb = mdl_index_select(ar, d->x, 0, n, rows);
    *yb = mdl_index_select(ar, test ? d->test_y : d->y, 0, n, rows);
}

/* Prints "RESULT EPOCH_WALL_MS EPOCH_CPU_MS PEAK_RSS_KB TEST_ACC LAST_EPOCH_LOSS LOAD_S
   LOAD_RSS_KB", the last the peak RSS once the data and the recipe are loaded, before training. */
static int child(const char *task, const char *path) {
    int mlp = strcmp(task, "mlp") == 0, epochs, n_train, n_test, batch, e, s, i, right = 0;
    mdl_safetensors *st;
    mdl_load_report rep;
    mdl_params *ps = mdl_params_new();
    mdl_arena *ar = mdl_arena_new(0);
    mdl_rng rng;
    mdl_sequential *net;
    mdl_optim *opt;
    mdl_scalar *order, *test_rows;
    const char *paths[4];
    double lr, load_s = now(), loss_sum = 0, *wall, *cpu;
    long load_rss;
    int *rows;
    data d;
    mdl_tensor *xb, *yb;
    const mdl_safetensors_info *oi;
    mdl_rng_seed(&rng, 1); /* any: the recipe's weights replace these */
    net = mlp ? make_mlp(ps, &rng) : make_lenet(ps, &rng);
    if (!net || mdl_safetensors_open(path, 0, &st) != MDL_OK) {
        fprintf(stderr, "bench_train: %s\n", mdl_last_error());
        return 1;
    }
    if (mdl_safetensors_load(st, ps, MDL_LOAD_NON_STRICT, &rep) != MDL_OK || rep.missing ||
        rep.mismatched || strcmp(mdl_safetensors_meta(st, "task"), task) != 0) {
        fprintf(stderr, "bench_train: %s does not fit the %s model: %s\n", path, task, rep.text);
        return 1;
    }
    oi = mdl_safetensors_get(st, mdl_safetensors_find(st, "order"));
    epochs = oi->shape[0], n_train = oi->shape[1];
    n_test = mdl_safetensors_get(st, mdl_safetensors_find(st, "test_rows"))->shape[0];
    batch = atoi(mdl_safetensors_meta(st, "batch"));
    lr = atof(mdl_safetensors_meta(st, "lr"));
    order = (mdl_scalar *)malloc(oi->numel * sizeof(mdl_scalar));
    test_rows = (mdl_scalar *)malloc((size_t)n_test * sizeof(mdl_scalar));
    rows = (int *)malloc((size_t)(batch > 1000 ? batch : 1000) * sizeof(int));
    wall = (double *)malloc((size_t)epochs * sizeof(double));
    cpu = (double *)malloc((size_t)epochs * sizeof(double));
    if (!order || !test_rows || !rows || !wall || !cpu ||
        mdl_safetensors_read(st, mdl_safetensors_find(st, "order"), order, oi->numel) ||
        mdl_safetensors_read(st, mdl_safetensors_find(st, "test_rows"), test_rows,
                             (size_t)n_test))
        return 1;
    paths[0] = mdl_safetensors_meta(st, "train_x");
    paths[1] = mdl_safetensors_meta(st, "train_y");
    paths[2] = mdl_safetensors_meta(st, "test_x");
    paths[3] = mdl_safetensors_meta(st, "test_y");
    if (!load_data(task, paths, &d)) {
        fprintf(stderr, "bench_train: %s\n", mdl_last_error());
        return 1;
    }
    mdl_safetensors_free(st);
    load_s = now() - load_s;
    load_rss = peak_rss_kb();
    opt = mdl_adam_new(ps, lr);
    if (!opt) return 1;

    /* warm-up: one forward and backward on the first batch, its gradients thrown away */
    for (i = 0; i < batch; i++) rows[i] = (int)order[i];
    gather(ar, &d, 0, batch, rows, &xb, &yb);
    mdl_backward(mdl_cross_entropy_loss(ar, mdl_sequential_forward(ar, net, xb), yb, NULL));
    mdl_optim_zero_grad(opt);
    mdl_arena_reset(ar);

    for (e = 0; e < epochs; e++) {
        double w0 = now(), c0 = cpu_now();
        const mdl_scalar *ord = order + (size_t)e * n_train;
        loss_sum = 0;
        for (s = 0; s < n_train; s += batch) {
            int n = n_train - s < batch ? n_train - s : batch;
            mdl_tensor *loss;
            for (i = 0; i < n; i++) rows[i] = (int)ord[s + i];
            gather(ar, &d, 0, n, rows, &xb, &yb);
            loss = mdl_cross_entropy_loss(ar, mdl_sequential_forward(ar, net, xb), yb, NULL);
            loss_sum += mdl_item(loss) * n;
            mdl_backward(loss);
            mdl_optim_step(opt);
            mdl_optim_zero_grad(opt);
            mdl_arena_reset(ar);
        }
        wall[e] = 1e3 * (now() - w0);
        cpu[e] = 1e3 * (cpu_now() - c0);
    }

    /* the test accuracy: batches of 1000 in evaluation mode, no tape */
    mdl_set_grad_enabled(ar, 0);
    mdl_sequential_train(net, 0);
    for (s = 0; s < n_test; s += 1000) {
        int n = n_test - s < 1000 ? n_test - s : 1000;
        mdl_tensor *pred;
        for (i = 0; i < n; i++) rows[i] = (int)test_rows[s + i];
        gather(ar, &d, !mlp, n, rows, &xb, &yb);
        pred = mdl_argmax(ar, mdl_sequential_forward(ar, net, xb), 1, 0);
        for (i = 0; i < n; i++) right += pred->data[i] == yb->data[i];
        mdl_arena_reset(ar);
    }
    printf("RESULT %.3f %.3f %ld %.4f %.4f %.2f %ld\n", summarize(wall, epochs).med,
           summarize(cpu, epochs).med, peak_rss_kb(), (double)right / n_test, loss_sum / n_train,
           load_s, load_rss);
    mdl_optim_free(opt);
    mdl_sequential_free(net);
    mdl_params_free(ps);
    free_data(&d);
    mdl_arena_free(ar);
    free(order), free(test_rows), free(rows), free(wall), free(cpu);
    return 0;
}

/* ---- the parent: run the children in turns, and print the table ---- */

enum { MAXR = 21, MAXV = 6 };

typedef struct variant {
    const char *name; /* "minidl 1T" */
    int torch, threads, ld; /* PyTorch?, threads, with TORCH_LD_LIBRARY_PATH? */
    double wall[MAXR], cpu[MAXR], rss[MAXR], acc[MAXR], loss[MAXR], load_rss[MAXR];
} variant;

/* Run one child; read its RESULT line (and a PyTorch child's BLAS line). 1 if it ran. */
static int run(const char *cmd, variant *v, int r, char *blas, size_t bsz) {
    FILE *p = popen(cmd, "r");
    char line[600];
    int ok = 0;
    double load;
    if (!p) return 0;
    while (fgets(line, sizeof line, p)) {
        if (sscanf(line, "RESULT %lf %lf %lf %lf %lf %lf %lf", &v->wall[r], &v->cpu[r],
                   &v->rss[r], &v->acc[r], &v->loss[r], &load, &v->load_rss[r]) == 7)
            ok = 1;
        if (blas && strncmp(line, "BLAS ", 5) == 0) {
            line[strcspn(line, "\n")] = 0;
            snprintf(blas, bsz, "%.399s", line + 5);
        }
    }
    if (pclose(p) != 0) ok = 0;
    return ok;
}

static stats med(const double *v, int n) { /* summarize a copy: keep the rounds' order */
    double c[MAXR];
    memcpy(c, v, (size_t)n * sizeof *c);
    return summarize(c, n);
}

int main(int argc, char **argv) {
    const char *py = getenv("TORCH_PYTHON") ? getenv("TORCH_PYTHON") : "/usr/bin/python3";
    const char *ldp = getenv("TORCH_LD_LIBRARY_PATH");
    static const char *const tasks[2] = {"mlp", "lenet"};
    int rounds = 3, subset = 0, have_torch, have_omp = 0, t, r, k, a = 1;
    char cmd[1400], recipe[2][256], blas[2][400] = {"?", "?"};
    double idle[MAXR];
    int n_idle = 0;
    if (argc == 4 && strcmp(argv[1], "--child") == 0) return child(argv[2], argv[3]);
    if (argc >= 4 && argc <= 6 && strcmp(argv[1], "--recipe") == 0) {
        int sub = argc > 4 && strcmp(argv[4], "--subset") == 0;
        return !write_recipe(argv[2], argv[3], sub, argc > 4 + sub ? atoi(argv[4 + sub]) : 0);
    }
    if (a < argc && strcmp(argv[a], "--subset") == 0) subset = 1, a++;
    if (a < argc) rounds = atoi(argv[a++]);
    if (a < argc || rounds < 1 || rounds > MAXR) {
        fprintf(stderr, "usage: %s [--subset] [ROUNDS (1..%d)]\n"
                        "       %s --recipe TASK PATH [--subset] [EPOCHS] | --child TASK PATH"
                        "   (TASK: mlp, lenet)\n",
                argv[0], MAXR, argv[0]);
        return 2;
    }
#ifdef _OPENMP
    have_omp = 1;
#endif
    snprintf(cmd, sizeof cmd, "%s -c 'import torch' >/dev/null 2>&1", py);
    have_torch = system(cmd) == 0;
    printf("minidl training benchmark: whole epochs, minidl against PyTorch; GEMM kernel %s\n",
           mdl_gemm_kernel());
    if (!have_torch)
        printf("PyTorch: not found (%s cannot import torch): minidl's figures only\n", py);
    if (!have_omp)
        printf("built without -fopenmp: no 2-thread figures\n");
    printf("OMP_WAIT_POLICY=%s\n", getenv("OMP_WAIT_POLICY") ? getenv("OMP_WAIT_POLICY")
                                                               : "(not set: the default)");
    print_load("at the start");
    for (t = 0; t < 2; t++) {
        snprintf(recipe[t], sizeof recipe[t], "/tmp/bench_train_%ld_%s.safetensors",
                 (long)getpid(), tasks[t]);
        if (!write_recipe(tasks[t], recipe[t], subset, 0)) return 1;
    }
    fflush(stdout);

    for (t = 0; t < 2; t++) {
        variant vs[MAXV];
        int nv = 0, lenet = t == 1, ok = 1;
        mdl_safetensors *st;
        char what[64];
        const mdl_safetensors_info *oi;
        int n_train, epochs, batch;
        memset(vs, 0, sizeof vs);
        vs[nv].name = "minidl 1T", vs[nv].threads = 1, nv++;
        if (have_torch) vs[nv].name = "PyTorch 1T", vs[nv].torch = 1, vs[nv].threads = 1, nv++;
        if (have_torch && ldp)
            vs[nv].name = "PyTorch 1T (LD)", vs[nv].torch = 1, vs[nv].threads = 1,
            vs[nv].ld = 1, nv++;
        if (lenet && have_omp) vs[nv].name = "minidl 2T", vs[nv].threads = 2, nv++;
        if (lenet && have_torch) vs[nv].name = "PyTorch 2T", vs[nv].torch = 1,
                                 vs[nv].threads = 2, nv++;
        if (mdl_safetensors_open(recipe[t], 0, &st) != MDL_OK) return 1;
        oi = mdl_safetensors_get(st, mdl_safetensors_find(st, "order"));
        epochs = oi->shape[0], n_train = oi->shape[1];
        batch = atoi(mdl_safetensors_meta(st, "batch"));
        snprintf(what, sizeof what, "%s", mdl_safetensors_meta(st, "data"));
        mdl_safetensors_free(st);
        printf("\n== %s: %s, %d training rows, batch %d, Adam lr 0.001; %d epoch%s a process,"
               " %d rounds\n", lenet ? "LeNet-5" : "digits MLP 64-128-10", what, n_train, batch,
               epochs, epochs > 1 ? "s" : "", rounds);
        fflush(stdout);
        for (r = 0; r < rounds && ok; r++) {
            for (k = 0; k < nv && ok; k++) {
                variant *v = &vs[k];
                if (v->torch)
                    snprintf(cmd, sizeof cmd, "OMP_NUM_THREADS=%d OPENBLAS_NUM_THREADS=1 %s%s%s"
                             "%s bench_train.py %s %s %d", v->threads,
                             v->ld ? "LD_LIBRARY_PATH=" : "", v->ld ? ldp : "", v->ld ? " " : "",
                             py, tasks[t], recipe[t], v->threads);
                else
                    snprintf(cmd, sizeof cmd, "OMP_NUM_THREADS=%d %s --child %s %s", v->threads,
                             argv[0], tasks[t], recipe[t]);
                if (!run(cmd, v, r, v->torch ? blas[v->ld] : NULL, sizeof blas[0])) {
                    fprintf(stderr, "bench_train: %s failed\n", cmd);
                    ok = 0;
                }
            }
            if (have_torch && t == 0) { /* the idle import, once a round */
                FILE *p;
                snprintf(cmd, sizeof cmd, "%s bench_train.py idle", py);
                p = popen(cmd, "r");
                if (p && fscanf(p, "IDLE %lf", &idle[n_idle]) == 1) n_idle++;
                if (p) pclose(p);
            }
        }
        if (!ok) {
            remove(recipe[0]), remove(recipe[1]);
            return 1;
        }
        if (have_torch) printf("PyTorch's BLAS: %s\n", blas[0]);
        if (have_torch && ldp) printf("PyTorch (LD)'s BLAS: %s (LD_LIBRARY_PATH=%s)\n", blas[1], ldp);
        printf("%-16s %22s %8s %7s %7s %8s %7s %8s %8s %10s\n",
               lenet ? "s per epoch" : "ms per epoch", "wall [min..max]", "cpu", "x wall",
               "x cpu", "RSS MiB", "x RSS", "(loaded)", "test acc", "train loss");
        for (k = 0; k < nv; k++) {
            stats w = med(vs[k].wall, rounds), c = med(vs[k].cpu, rounds);
            stats s = med(vs[k].rss, rounds), ac = med(vs[k].acc, rounds);
            stats ls = med(vs[k].loss, rounds), lr = med(vs[k].load_rss, rounds);
            stats w0 = med(vs[0].wall, rounds), c0 = med(vs[0].cpu, rounds);
            stats s0 = med(vs[0].rss, rounds);
            double u = lenet ? 1e-3 : 1;
            printf("%-16s %7.3f [%6.3f..%6.3f] %8.3f %7.2f %7.2f %8.1f %7.2f %8.1f %8.4f "
                   "%10.4f\n", vs[k].name, w.med * u, w.lo * u, w.hi * u, c.med * u,
                   w.med / w0.med, c.med / c0.med, s.med / 1024, s.med / s0.med, lr.med / 1024,
                   ac.med, ls.med);
        }
        if (n_idle) {
            stats s = med(idle, n_idle);
            printf("idle `import torch` (python3 and torch, nothing else): peak RSS %.1f MiB\n",
                   s.med / 1024);
        }
        printf("x: this row's median over minidl 1T's (PyTorch's time is this many times minidl's)"
               "; cpu: the process's CPU time,\nthe steadier figure on a shared machine; (loaded):"
               " the peak RSS once the data was loaded, before training\n");
        {
            stats m1 = med(vs[0].wall, rounds), c1 = med(vs[0].cpu, rounds);
            stats mr = med(vs[0].rss, rounds), ma = med(vs[0].acc, rounds);
            if (lenet) {
                double gf = lenet_flop_per_image() * n_train / (c1.med * 1e-3) / 1e9;
                printf("minidl 1T: %.2f MFLOP an image forward and backward, %.1f GFLOP/s over"
                       " the epoch's CPU time\n", lenet_flop_per_image() / 1e6, gf);
            }
            for (k = 1; k < nv; k++) { /* each PyTorch row on one thread */
                stats pc, pw, pr, pa;
                double want = lenet ? 2.5 : 7;
                if (!vs[k].torch || vs[k].threads != 1) continue;
                pc = med(vs[k].cpu, rounds), pw = med(vs[k].wall, rounds);
                pr = med(vs[k].rss, rounds), pa = med(vs[k].acc, rounds);
                printf("target against %s: 1T epoch at least %.1fx faster: %.2fx in CPU time "
                       "(%.2fx wall): %s\n", vs[k].name, want, pc.med / c1.med, pw.med / m1.med,
                       pc.med / c1.med >= want ? "met" : "NOT met");
                printf("target against %s: peak RSS at most 1/3: %.3f: %s\n", vs[k].name,
                       mr.med / pr.med, mr.med / pr.med <= 1.0 / 3 ? "met" : "NOT met");
                printf("check against %s: test accuracies within 1 point: %.4f and %.4f: %s\n",
                       vs[k].name, ma.med, pa.med, fabs(ma.med - pa.med) <= 0.01 ? "yes" : "NO");
            }
            for (k = 1; k < nv; k++) /* minidl on two threads */
                if (!vs[k].torch && vs[k].threads == 2) {
                    stats m2 = med(vs[k].wall, rounds);
                    printf("target: 2 threads at least 1.7x one thread (wall): %.2fx: %s\n",
                           m1.med / m2.med, m1.med / m2.med >= 1.7 ? "met" : "NOT met");
                }
        }
        fflush(stdout);
    }
    remove(recipe[0]), remove(recipe[1]);
    print_load("at the end");
    return 0;
}
