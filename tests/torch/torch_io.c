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

   An LSTM model is not here yet: minidl's recurrent layers are being written (issue 14).

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

typedef mdl_sequential *(*make_fn)(mdl_params *ps, mdl_rng *rng);

/* A minidl error that is not a contract error goes into the case file too. */
static void env_error(const char *what) {
    snprintf(tc__error, sizeof tc__error, "%s: %s", what, mdl_last_error());
}

/* x through the model in evaluation mode, no tape; "out" and "file.<name>" of every tensor. */
static void run_and_write(tc *t, mdl_sequential *net, mdl_params *ps, int ndim, const int *xs,
                          double K) {
    mdl_tensor *x = tc_input(t, "x", ndim, xs, 0), *out;
    char name[48];
    int i;
    tc_tol(t, "*", 0, 0); /* the file's values: to the bit */
    tc_tol_sum(t, "out", K);
    mdl_sequential_train(net, 0);
    mdl_set_grad_enabled(t->ar, 0);
    out = mdl_sequential_forward(t->ar, net, x);
    mdl_set_grad_enabled(t->ar, 1);
    if (out) tc_result(t, "out", out->ndim, out->shape, out->data);
    for (i = 0; i < mdl_params_count(ps); i++) {
        const mdl_tensor *p = mdl_params_get(ps, i);
        snprintf(name, sizeof name, "file.%s", p->name);
        tc_result(t, name, p->ndim, p->shape, p->data);
    }
    tc_end(t);
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
       MLP: sqrt(7) + 2 (BatchNorm) + sqrt(17) = 8.8 */
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
    return tc_close(&t);
}
