/* tests/torch/torch_io.c - safetensors files between minidl and PyTorch, written as case files
   for tests/torch/compare.py (see tests/torch/README.md), whose "io_load" reference loads a
   file into the same torch.nn model with load_state_dict(strict=True) and runs it.

   minidl -> torch: a model made by minidl (a LeNet-5 with minidl's initialisation; an MLP with
   BatchNorm after three SGD steps in training mode, so that its running statistics and
   num_batches_tracked have moved) is saved with mdl_save next to the case files, with two
   metadata entries, and run in evaluation mode on x. The case holds x, minidl's output, and
   every tensor's values ("file.<name>"); compare.py reads the file by hand, requires the
   tensors' names and order to be the state_dict's and the metadata to come back, loads it,
   and compares its output with minidl's (a summation's tolerance) and the file's values with
   minidl's (to the bit).

   torch -> minidl: state_dicts saved by Python (tests/torch/make_io_files.py wrote them into
   tests/torch/data/: a small LeNet in F32; the MLP with BatchNorm in F32, F16, BF16 and F64,
   num_batches_tracked as I64) are loaded by mdl_load, strictly, into minidl's model and run
   on x; compare.py loads the same file into torch: the outputs must agree, and the values
   minidl converted must be torch's conversions to the bit.

   An LSTM language model (Embedding -> LSTM of 2 layers, batch_first -> Linear, compare.py's
   LstmLM) goes both ways too: minidl's after three Adam steps to torch, and a state_dict
   Python saved (tests/torch/data/lstm_lm_f32.safetensors) to minidl. Its x is a batch of
   token indices; out is the logits, h_n and c_n, flattened and joined.

   Tutorial 09's Python: the LeNet of tutorials 04 and 09 (layers named 0, 3, 7, 9, 11, as
   nn.Sequential names them) saved by minidl as 04 saves it; compare.py runs the lines that
   tutorials/09_deploy.c shows in its step 6, unchanged, in a folder where that file is
   04_cnn.safetensors and data/ is tutorials/data/, and compares the scores of the model they
   loaded, on the images they read, with minidl's on the 1,000 test images.

   Build and run (tests/torch/run.sh does this, from the repository's root):
       gcc -std=c99 -Wall -Wextra -Wpedantic -Werror -O1 -g -I. tests/torch/torch_io.c \
           -o build/torch_io -lm
       mkdir -p /tmp/cases && ./build/torch_io /tmp/cases
       /usr/bin/python3 tests/torch/compare.py /tmp/cases */
#define MINIDL_IMPLEMENTATION
#include "minidl.h"
#include "torch_case.h"

/* The models, with the layer names of compare.py's io_model. */
static mdl_sequential *lenet5(mdl_params *ps, mdl_rng *rng) {
    mdl_sequential *net = mdl_sequential_new();
    mdl_conv_opts pad2;
    memset(&pad2, 0, sizeof pad2);
    pad2.padding = 2;
    mdl_sequential_add(net, mdl_conv2d_layer(ps, "conv1", 1, 6, 5, 5, &pad2, 1, rng));
    mdl_sequential_add(net, mdl_activation_layer(MDL_LAYER_RELU));
    mdl_sequential_add(net, mdl_pool_layer(MDL_LAYER_MAX_POOL2D, 2, NULL));
    mdl_sequential_add(net, mdl_conv2d_layer(ps, "conv2", 6, 16, 5, 5, NULL, 1, rng));
    mdl_sequential_add(net, mdl_activation_layer(MDL_LAYER_RELU));
    mdl_sequential_add(net, mdl_pool_layer(MDL_LAYER_MAX_POOL2D, 2, NULL));
    mdl_sequential_add(net, mdl_flatten_layer(1, -1));
    mdl_sequential_add(net, mdl_linear_layer(ps, "fc1", 400, 120, 1, rng));
    mdl_sequential_add(net, mdl_activation_layer(MDL_LAYER_RELU));
    mdl_sequential_add(net, mdl_linear_layer(ps, "fc2", 120, 84, 1, rng));
    mdl_sequential_add(net, mdl_activation_layer(MDL_LAYER_RELU));
    mdl_sequential_add(net, mdl_linear_layer(ps, "fc3", 84, 10, 1, rng));
    return net;
}

static mdl_sequential *lenet_small(mdl_params *ps, mdl_rng *rng) {
    mdl_sequential *net = mdl_sequential_new();
    mdl_conv_opts pad1;
    memset(&pad1, 0, sizeof pad1);
    pad1.padding = 1;
    mdl_sequential_add(net, mdl_conv2d_layer(ps, "conv1", 1, 4, 3, 3, &pad1, 1, rng));
    mdl_sequential_add(net, mdl_activation_layer(MDL_LAYER_RELU));
    mdl_sequential_add(net, mdl_pool_layer(MDL_LAYER_MAX_POOL2D, 2, NULL));
    mdl_sequential_add(net, mdl_conv2d_layer(ps, "conv2", 4, 8, 3, 3, NULL, 1, rng));
    mdl_sequential_add(net, mdl_activation_layer(MDL_LAYER_RELU));
    mdl_sequential_add(net, mdl_pool_layer(MDL_LAYER_MAX_POOL2D, 2, NULL));
    mdl_sequential_add(net, mdl_flatten_layer(1, -1));
    mdl_sequential_add(net, mdl_linear_layer(ps, "fc1", 32, 16, 1, rng));
    mdl_sequential_add(net, mdl_activation_layer(MDL_LAYER_RELU));
    mdl_sequential_add(net, mdl_linear_layer(ps, "fc2", 16, 10, 1, rng));
    return net;
}

static mdl_sequential *mlp_bn(mdl_params *ps, mdl_rng *rng) {
    mdl_sequential *net = mdl_sequential_new();
    mdl_sequential_add(net, mdl_linear_layer(ps, "fc1", 6, 16, 1, rng));
    mdl_sequential_add(net, mdl_batch_norm1d_layer(ps, "bn", 16));
    mdl_sequential_add(net, mdl_activation_layer(MDL_LAYER_RELU));
    mdl_sequential_add(net, mdl_linear_layer(ps, "fc2", 16, 3, 1, rng));
    return net;
}

/* tutorials/04_cnn.c's and 09_deploy.c's LeNet, with their layer names. */
static mdl_sequential *lenet_tutorial(mdl_params *ps, mdl_rng *rng) {
    mdl_sequential *net = mdl_sequential_new();
    mdl_conv_opts pad2;
    memset(&pad2, 0, sizeof pad2);
    pad2.padding = 2;
    mdl_sequential_add(net, mdl_conv2d_layer(ps, "0", 1, 6, 5, 5, &pad2, 1, rng));
    mdl_sequential_add(net, mdl_activation_layer(MDL_LAYER_RELU));
    mdl_sequential_add(net, mdl_pool_layer(MDL_LAYER_MAX_POOL2D, 2, NULL));
    mdl_sequential_add(net, mdl_conv2d_layer(ps, "3", 6, 16, 5, 5, NULL, 1, rng));
    mdl_sequential_add(net, mdl_activation_layer(MDL_LAYER_RELU));
    mdl_sequential_add(net, mdl_pool_layer(MDL_LAYER_MAX_POOL2D, 2, NULL));
    mdl_sequential_add(net, mdl_flatten_layer(1, -1));
    mdl_sequential_add(net, mdl_linear_layer(ps, "7", 400, 120, 1, rng));
    mdl_sequential_add(net, mdl_activation_layer(MDL_LAYER_RELU));
    mdl_sequential_add(net, mdl_linear_layer(ps, "9", 120, 84, 1, rng));
    mdl_sequential_add(net, mdl_activation_layer(MDL_LAYER_RELU));
    mdl_sequential_add(net, mdl_linear_layer(ps, "11", 84, 10, 1, rng));
    return net;
}

/* The LSTM language model: tokens [B,T] -> Embedding(V, E) -> LSTM(E, H, 2 layers,
   batch_first) -> Linear(H, V), the logits [B,T,V]. */
enum { LM_V = 11, LM_E = 6, LM_H = 10, LM_B = 3, LM_T = 7 };

typedef struct lstm_lm {
    mdl_layer emb, fc;
    mdl_rnn lstm;
} lstm_lm;

static void lstm_lm_make(lstm_lm *m, mdl_params *ps, mdl_rng *rng) {
    mdl_rnn_opts o;
    memset(&o, 0, sizeof o);
    o.num_layers = 2;
    o.batch_first = 1;
    m->emb = mdl_embedding_layer(ps, "emb", LM_V, LM_E, -1, rng);
    m->lstm = mdl_rnn_layer(ps, "lstm", MDL_LSTM, LM_E, LM_H, &o, rng);
    m->fc = mdl_linear_layer(ps, "fc", LM_H, LM_V, 1, rng);
}

/* The logits [B,T,V]; h_n and c_n [2,B,H] if asked. */
static mdl_tensor *lstm_lm_forward(mdl_arena *ar, const lstm_lm *m, mdl_tensor *tokens,
                                   mdl_tensor **h_n, mdl_tensor **c_n) {
    mdl_tensor *e = mdl_layer_forward(ar, &m->emb, tokens);
    return mdl_layer_forward(ar, &m->fc, mdl_rnn_forward(ar, &m->lstm, e, NULL, NULL, h_n, c_n));
}

/* Tokens [B,T] drawn uniformly from 0..V-1. */
static void fill_tokens(mdl_tensor *x, mdl_rng *rng) {
    size_t i;
    for (i = 0; i < x->numel; i++) x->data[i] = (mdl_scalar)(mdl_rng_u32(rng) % LM_V);
}

typedef mdl_sequential *(*make_fn)(mdl_params *ps, mdl_rng *rng);

/* A minidl error that is not a contract error goes into the case file too. */
static void env_error(const char *what) {
    snprintf(tc__error, sizeof tc__error, "%s: %s", what, mdl_last_error());
}

/* "out", then "file.<name>" of every tensor of the set (to the bit), and the case's end. */
static void write_and_end(tc *t, mdl_tensor *out, mdl_params *ps) {
    char name[48];
    int i;
    if (out) tc_result(t, "out", out->ndim, out->shape, out->data);
    for (i = 0; i < mdl_params_count(ps); i++) {
        const mdl_tensor *p = mdl_params_get(ps, i);
        snprintf(name, sizeof name, "file.%s", p->name);
        tc_result(t, name, p->ndim, p->shape, p->data);
    }
    tc_end(t);
}

/* x through the model in evaluation mode, no tape; "out" and "file.<name>" of every tensor. */
static void run_and_write(tc *t, mdl_sequential *net, mdl_params *ps, int ndim, const int *xs,
                          double K) {
    mdl_tensor *x = tc_input(t, "x", ndim, xs, 0), *out;
    tc_tol(t, "*", 0, 0); /* the file's values: to the bit */
    tc_tol_sum(t, "out", K);
    mdl_sequential_train(net, 0);
    mdl_set_grad_enabled(t->ar, 0);
    out = mdl_sequential_forward(t->ar, net, x);
    mdl_set_grad_enabled(t->ar, 1);
    write_and_end(t, out, ps);
}

/* Random tokens through the LSTM model in evaluation mode, no tape: "out" is the logits, h_n
   and c_n flattened and joined; and "file.<name>" of every tensor. */
static void lstm_run_and_write(tc *t, lstm_lm *m, mdl_params *ps, double K) {
    const int xs[2] = {LM_B, LM_T};
    mdl_tensor *x = tc_input(t, "x", 2, xs, 0), *hn = NULL, *cn = NULL, *parts[3], *out;
    int flat = -1;
    fill_tokens(x, &t->rng);
    tc_tol(t, "*", 0, 0);
    tc_tol_sum(t, "out", K);
    mdl_rnn_train(&m->lstm, 0);
    mdl_set_grad_enabled(t->ar, 0);
    out = lstm_lm_forward(t->ar, m, x, &hn, &cn);
    if (out) {
        parts[0] = mdl_reshape(t->ar, out, 1, &flat);
        parts[1] = mdl_reshape(t->ar, hn, 1, &flat);
        parts[2] = mdl_reshape(t->ar, cn, 1, &flat);
        out = mdl_concat(t->ar, 3, parts, 0);
    }
    mdl_set_grad_enabled(t->ar, 1);
    write_and_end(t, out, ps);
}

/* The LSTM model made by minidl, trained for three Adam steps on next-token prediction (so its
   values are no longer the initialisation's), saved for torch to load. */
static void lstm_to_torch(tc *t, double K) {
    const char *name = "io/lstm_lm_minidl_to_torch", *file = "io-lstm_lm.safetensors";
    const char *meta[] = {"arch", "lstm_lm", "epoch", "3", NULL};
    const int xs[2] = {LM_B, LM_T + 1}, flat_shape[2] = {LM_B * LM_T, LM_V};
    char path[1024];
    mdl_params *ps = mdl_params_new();
    mdl_optim *opt;
    mdl_rng init;
    lstm_lm m;
    int k;
    snprintf(path, sizeof path, "%s/%s", t->dir, file);
    tc_begin(t, name, "io_load", "{\"file\": \"%s\", \"model\": \"lstm_lm\", \"index\": 1, "
             "\"values\": 1, \"metadata\": {\"arch\": \"lstm_lm\", \"epoch\": \"3\"}}", file);
    mdl_rng_seed(&init, tc__hash(name) + 1);
    lstm_lm_make(&m, ps, &init);
    opt = mdl_adam_new(ps, 0.05);
    for (k = 0; k < 3; k++) {
        /* a sequence of T + 1 tokens: the first T in, the last T the targets */
        mdl_tensor *seq = mdl_zeros(t->ar, 2, xs), *logits;
        int fs = LM_B * LM_T;
        fill_tokens(seq, &init);
        logits = lstm_lm_forward(t->ar, &m, mdl_slice(t->ar, seq, 1, 0, LM_T), NULL, NULL);
        mdl_backward(mdl_cross_entropy_loss(
            t->ar, mdl_reshape(t->ar, logits, 2, flat_shape),
            mdl_reshape(t->ar, mdl_slice(t->ar, seq, 1, 1, LM_T + 1), 1, &fs), NULL));
        mdl_optim_step(opt);
        mdl_optim_zero_grad(opt);
        mdl_arena_reset(t->ar);
    }
    mdl_optim_free(opt);
    if (mdl_save(ps, path, meta) != MDL_OK) env_error("mdl_save");
    lstm_run_and_write(t, &m, ps, K);
    mdl_params_free(ps);
}

/* A state_dict of the LSTM model that Python saved, loaded into minidl's. */
static void lstm_from_torch(tc *t, const char *file, double K) {
    mdl_params *ps = mdl_params_new();
    mdl_rng init;
    lstm_lm m;
    tc_begin(t, "io/lstm_lm_torch_to_minidl", "io_load", "{\"file\": \"%s\", \"model\": "
             "\"lstm_lm\", \"index\": 1, \"values\": 1}", file);
    mdl_rng_seed(&init, 99); /* values the load replaces */
    lstm_lm_make(&m, ps, &init);
    if (mdl_load(ps, file, MDL_LOAD_STRICT, NULL) != MDL_OK) env_error("mdl_load");
    lstm_run_and_write(t, &m, ps, K);
    mdl_params_free(ps);
}

/* Tutorial 09's LeNet, saved by minidl as tutorials/04_cnn.c saves it, and its scores on the
   1,000 test images of tutorials/data/, in batches of 250; compare.py gets the same scores
   from the model and images that the Python lines of tutorials/09_deploy.c load. "n_images"
   gives the reference its dtype, and the number of images the Python must read. */
static void tutorial_python(tc *t, double K) {
    const char *file = "io-tutorial09-lenet.safetensors";
    const char *meta[] = {"model", "04_cnn LeNet-style", NULL};
    const char *images_path = "tutorials/data/fashion-test-images-idx3-ubyte.gz";
    const int one[1] = {1};
    char path[1024];
    mdl_params *ps = mdl_params_new(), *store = mdl_params_new();
    mdl_sequential *net;
    mdl_rng init;
    mdl_idx_opts opts;
    mdl_tensor *images = NULL, *count, *scores = NULL;
    int n = 0, start, shape[2];
    tc_begin(t, "io/tutorial09_python_lines", "io_tutorial_python", "{\"file\": \"%s\", "
             "\"tutorial\": \"tutorials/09_deploy.c\", \"data\": \"tutorials/data\"}", file);
    snprintf(path, sizeof path, "%s/%s", t->dir, file);
    mdl_rng_seed(&init, tc__hash(t->name) + 1);
    net = lenet_tutorial(ps, &init);
    if (mdl_save(ps, path, meta) != MDL_OK) env_error("mdl_save");
    memset(&opts, 0, sizeof opts);
    opts.scale = 1;
    opts.channel = 1;
    if (mdl_load_idx(store, "images", images_path, &opts, &images) != MDL_OK)
        env_error("mdl_load_idx");
    else
        n = images->shape[0];
    count = tc_input(t, "n_images", 1, one, 0);
    if (count) count->data[0] = (mdl_scalar)n;
    tc_tol_sum(t, "out", K);
    shape[0] = n, shape[1] = 10;
    if (n) scores = mdl_zeros(t->ar, 2, shape);
    mdl_sequential_train(net, 0);
    mdl_set_grad_enabled(t->ar, 0);
    for (start = 0; scores && start < n; start += 250) {
        int end = start + 250 < n ? start + 250 : n;
        mdl_tensor *out = mdl_sequential_forward(t->ar, net, mdl_slice(t->ar, images, 0, start,
                                                                         end));
        if (!out) break;
        memcpy(scores->data + (size_t)start * 10, out->data, out->numel * sizeof(mdl_scalar));
    }
    mdl_set_grad_enabled(t->ar, 1);
    if (scores) tc_result(t, "out", 2, scores->shape, scores->data);
    tc_end(t);
    mdl_sequential_free(net);
    mdl_params_free(ps);
    mdl_params_free(store);
}

/* minidl's model saved by minidl, for torch to load. train_steps SGD steps on batches of 8 in
   training mode first (the BatchNorm model: its buffers move). */
static void to_torch(tc *t, const char *name, const char *model, make_fn make, int train_steps,
                     int ndim, const int *xs, double K) {
    char file[64], path[1024];
    const char *meta[5];
    mdl_params *ps = mdl_params_new();
    mdl_sequential *net;
    mdl_rng init;
    int k;
    snprintf(file, sizeof file, "io-%s.safetensors", model);
    snprintf(path, sizeof path, "%s/%s", t->dir, file);
    tc_begin(t, name, "io_load", "{\"file\": \"%s\", \"model\": \"%s\", \"values\": 1, "
             "\"metadata\": {\"arch\": \"%s\", \"epoch\": \"3\"}}", file, model, model);
    mdl_rng_seed(&init, tc__hash(name) + 1);
    net = make(ps, &init);
    if (train_steps) {
        mdl_optim *opt = mdl_sgd_new(ps, 0.1, 0);
        int bs[2] = {8, 6}, ys[1] = {8};
        for (k = 0; k < train_steps; k++) {
            mdl_tensor *xb = mdl_randn(t->ar, &t->rng, 2, bs, 1, 2), *yb = mdl_zeros(t->ar, 1, ys);
            int i;
            for (i = 0; i < 8; i++) yb->data[i] = (mdl_scalar)(i % 3);
            mdl_backward(mdl_cross_entropy_loss(t->ar, mdl_sequential_forward(t->ar, net, xb),
                                                yb, NULL));
            mdl_optim_step(opt);
            mdl_optim_zero_grad(opt);
            mdl_arena_reset(t->ar);
        }
        mdl_optim_free(opt);
    }
    meta[0] = "arch";
    meta[1] = model;
    meta[2] = "epoch";
    meta[3] = "3";
    meta[4] = NULL;
    if (mdl_save(ps, path, meta) != MDL_OK) env_error("mdl_save");
    run_and_write(t, net, ps, ndim, xs, K);
    mdl_sequential_free(net);
    mdl_params_free(ps);
}

/* A state_dict that Python saved, loaded into minidl's model. */
static void from_torch(tc *t, const char *name, const char *file, const char *model,
                       make_fn make, int ndim, const int *xs, double K) {
    mdl_params *ps = mdl_params_new();
    mdl_sequential *net;
    mdl_rng init;
    mdl_load_report r;
    tc_begin(t, name, "io_load", "{\"file\": \"%s\", \"model\": \"%s\", \"values\": 1}", file,
             model);
    mdl_rng_seed(&init, 99); /* values the load replaces */
    net = make(ps, &init);
    if (mdl_load(ps, file, MDL_LOAD_STRICT, &r) != MDL_OK) env_error("mdl_load");
    run_and_write(t, net, ps, ndim, xs, K);
    mdl_sequential_free(net);
    mdl_params_free(ps);
}

int main(int argc, char **argv) {
    tc t;
    const int img28[4] = {4, 1, 28, 28}, img12[4] = {3, 1, 12, 12}, rows[2] = {5, 6};
    if (tc_open(&t, argc, argv, "torch_io")) return 1;
    /* Tolerances: each layer's sum of K terms counted sqrt(K) (see torch_layers.c), added up
       along the path; BatchNorm in evaluation is a pointwise affine map.
       LeNet-5: sqrt(26) + sqrt(151) + sqrt(401) + sqrt(121) + sqrt(85) = 57.5
       small LeNet: sqrt(10) + sqrt(37) + sqrt(33) + sqrt(17) = 19.1
       MLP: sqrt(7) + 2 (BatchNorm) + sqrt(17) = 8.8
       tutorial 09's LeNet: LeNet-5's layers, 58
       LSTM model: a step of each layer sums I + H products and two biases, counted in full as
       torch_rnn.c counts them (the gates squash, so the error of a step does not grow
       through the next), added along the path with the Linear's H + 1:
       (6 + 10 + 2) + (10 + 10 + 2) + (10 + 1) = 51 */
    to_torch(&t, "io/lenet5_minidl_to_torch", "lenet5", lenet5, 0, 4, img28, 58);
    to_torch(&t, "io/lenet_small_minidl_to_torch", "lenet_small", lenet_small, 0, 4, img12, 20);
    to_torch(&t, "io/mlp_bn_minidl_to_torch", "mlp_bn", mlp_bn, 3, 2, rows, 9);
    from_torch(&t, "io/lenet_small_torch_to_minidl", "tests/torch/data/lenet_small_f32.safetensors",
               "lenet_small", lenet_small, 4, img12, 20);
    from_torch(&t, "io/mlp_bn_f32_torch_to_minidl", "tests/torch/data/mlp_bn_f32.safetensors",
               "mlp_bn", mlp_bn, 2, rows, 9);
    from_torch(&t, "io/mlp_bn_f16_torch_to_minidl", "tests/torch/data/mlp_bn_f16.safetensors",
               "mlp_bn", mlp_bn, 2, rows, 9);
    from_torch(&t, "io/mlp_bn_bf16_torch_to_minidl", "tests/torch/data/mlp_bn_bf16.safetensors",
               "mlp_bn", mlp_bn, 2, rows, 9);
    from_torch(&t, "io/mlp_bn_f64_torch_to_minidl", "tests/torch/data/mlp_bn_f64.safetensors",
               "mlp_bn", mlp_bn, 2, rows, 9);
    lstm_to_torch(&t, 51);
    lstm_from_torch(&t, "tests/torch/data/lstm_lm_f32.safetensors", 51);
    tutorial_python(&t, 58);
    return tc_close(&t);
}
