/* 09_deploy.c - a trained model at work: load 04's CNN and classify images, inference only

   GOAL
       Use a trained network the way a program in the field does: no training, no gradients,
       no optimizer. Read the weights tutorial 04 saved, put them into the same LeNet, classify
       the images of an IDX file given on the command line, and say how fast that is. Then
       load the same file into the same model in PyTorch, in a few lines of Python.

   NEW SINCE 08
       Deployment. A model file as the bridge between training and use: safetensors, what is
       in it, and mdl_load's strict check of every name and shape (and the error it gives when
       the file and the model differ). Inference as a loop of its own: evaluation mode, no
       tape, one arena sized by the first batch and reused by every other, time per image.
       The preprocessing that must be the training's, exactly. The same file in PyTorch.

   RUN (from tutorials/)
       gcc -O2 09_deploy.c -o 09_deploy -lm
       ./09_deploy         04's model (04_cnn.safetensors, which ./04_cnn writes) on the 1,000
                           test images in data/: under a second
       ./09_deploy MODEL.safetensors [IMAGES-idx3-ubyte [LABELS-idx1-ubyte]]
                           another file of the same LeNet, other 28x28 images (plain or
                           gzipped IDX, e.g. Debian's /usr/share/datasets/fashion-mnist/
                           t10k-images-idx3-ubyte.gz), with their labels if you have them
       ./09_deploy --quick for the tests, well under a second: the default run on 200 images;
                           if 04_cnn.safetensors is not there (the tests start from a clean
                           checkout, where 04 has not run), it first trains a stand-in LeNet
                           on 320 images, saves it as 09_quick.safetensors and deploys that
                           (see step 2), then checks that the loaded model predicts bit for bit
                           what the trained one did

   PRINTS
       The model file's tensors and metadata; what mdl_load says when the file is loaded into
       the wrong model; the first predictions with their class names and probabilities; the
       accuracy and the time per image; and last
           result: test accuracy = 0.868 (baseline majority class = 0.115)
       which is 04's own figure on the same images: nothing was lost on the way (the last
       digits may differ on another CPU, whose fast kernels round differently). It writes
       09_predictions.svg, the first 24 images with what the CNN said. --quick with the
       stand-in also prints whether the loaded model's scores are the trained one's.

   The data: tutorials/data/fashion-test-*-ubyte.gz, the first 1,000 test images of
   Fashion-MNIST (see data/README.md); the model: 04_cnn.safetensors, from ./04_cnn.
*/
#define MINIDL_IMPLEMENTATION
#include "../minidl.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The ten classes of Fashion-MNIST, in the order of their labels 0..9 (04's names). */
static const char *class_names[10] = {"Top",    "Trouser", "Pullover", "Dress", "Coat",
                                      "Sandal", "Shirt",   "Sneaker",  "Bag",   "Boot"};

/* Processor seconds since the program started: ISO C's clock(), which for a program on one
   thread, as this one is, is its running time. */
static double seconds(void) { return (double)clock() / CLOCKS_PER_SEC; }

/* 04's LeNet, layer for layer: the same constructors with the same names ("0", "3", "7", "9",
   "11": their places in the list, as nn.Sequential names its layers), so its parameters are
   called 0.weight, 0.bias, 3.weight, ... as in the file. The initial values drawn from rng do
   not matter: loading replaces every one of them. */
static mdl_sequential *lenet(mdl_params *ps, mdl_rng *rng) {
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
    return net;
}

/* A shape as text, "[16,6,5,5]". */
static void shape_text(char *buf, size_t size, int ndim, const int *shape) {
    snprintf(buf, size, "[");
    for (int d = 0; d < ndim; d++)
        snprintf(buf + strlen(buf), size - strlen(buf), d ? ",%d" : "%d", shape[d]);
    snprintf(buf + strlen(buf), size - strlen(buf), "]");
}

/* Print a long message over several lines of at most `width` characters, each indented by
   `indent` spaces, breaking at spaces. */
static void print_wrapped(const char *text, int indent, int width) {
    while (*text) {
        int len = (int)strlen(text), cut = len;
        if (indent + len > width) {
            for (cut = width - indent; cut > 0 && text[cut] != ' '; cut--) continue;
            if (cut == 0) cut = width - indent; /* a word longer than a line: cut it */
        }
        printf("%*s%.*s\n", indent, "", cut, text);
        text += cut;
        while (*text == ' ') text++;
    }
}

/* Images [N,1,28,28] with pixels scaled to 0..1, or labels [N], from an IDX file into `store`.
   Returns NULL, with minidl's message (which names the file and what is wrong with it), if the
   file cannot be read. */
static mdl_tensor *load_idx(mdl_params *store, const char *name, const char *path) {
    mdl_idx_opts opts = {0};
    mdl_tensor *t;
    opts.scale = 1;   /* pixels 0..255 -> 0..1, as 04 trained on */
    opts.channel = 1; /* [N,28,28] -> [N,1,28,28]; labels stay [N] */
    if (mdl_load_idx(store, name, path, &opts, &t) != MDL_OK) {
        fprintf(stderr, "%s\n", mdl_last_error());
        return NULL;
    }
    return t;
}

/* The scores (logits) of the first n images, into scores[n*10], batch after batch:
   evaluation mode, no tape, the arena emptied after each batch. The arena is sized by the
   first batch and must not grow after it: returns 0 if it did, else 1. */
static int classify(mdl_arena *ar, mdl_sequential *net, mdl_tensor *images, int n, int batch,
                    mdl_scalar *scores) {
    int grad = mdl_set_grad_enabled(ar, 0), same_size = 1;
    size_t held = 0;
    mdl_sequential_train(net, 0);
    for (int start = 0; start < n; start += batch) {
        int end = start + batch < n ? start + batch : n;
        mdl_tensor *xb = mdl_slice(ar, images, 0, start, end); /* a view: no copy */
        mdl_tensor *out = mdl_sequential_forward(ar, net, xb); /* [end-start, 10] */
        memcpy(scores + (size_t)start * 10, out->data, out->numel * sizeof(mdl_scalar));
        mdl_arena_reset(ar);
        if (start == 0) held = mdl_arena_reserved(ar);
        same_size &= mdl_arena_reserved(ar) == held;
    }
    mdl_set_grad_enabled(ar, grad);
    return same_size;
}

/* --quick without 04's file: a stand-in for 04. The same LeNet, trained by mdl_fit with Adam
   as 04 trains it, but for a moment: on the first n training images, in batches of 16 with a
   learning rate of 0.005 (04: 32 and 0.003), to learn something in a few dozen steps; then
   saved to `path` as 04 saves its model. Returns the trained network, its parameters in *ps,
   or NULL if the training images cannot be read or the file cannot be written. */
static mdl_sequential *train_stand_in(const char *path, int n, int epochs, mdl_params **ps,
                                      mdl_rng *rng) {
    mdl_params *store = mdl_params_new();
    mdl_arena *ar = mdl_arena_new(0);
    mdl_tensor *x = load_idx(store, "train.images", "data/fashion-train-images-idx3-ubyte.gz");
    mdl_tensor *y =
        x ? load_idx(store, "train.labels", "data/fashion-train-labels-idx1-ubyte.gz") : NULL;
    mdl_sequential *net = NULL;
    if (y) {
        mdl_dataset *train = mdl_dataset_new(mdl_slice(ar, x, 0, 0, n), /* copies of the */
                                             mdl_slice(ar, y, 0, 0, n)); /* first n rows */
        mdl_fit_opts fit = mdl_fit_defaults();
        *ps = mdl_params_new();
        net = lenet(*ps, rng);
        fit.seq = net;
        fit.optim = mdl_adam_new(*ps, 0.005);
        fit.batch_size = 16;
        fit.rng = rng;
        fit.epochs = epochs;
        fit.verbose = 0;
        mdl_history *h = mdl_fit(&fit, train, NULL);
        printf("   trained a stand-in LeNet on %d training images, %d epochs: loss %.3f, "
               "accuracy %.3f\n", n, epochs, h->loss[epochs - 1], h->metric[epochs - 1]);
        static const char *const meta[] = {"model", "09_deploy --quick stand-in LeNet", NULL};
        if (mdl_save(*ps, path, meta) != MDL_OK) {
            fprintf(stderr, "%s\n", mdl_last_error());
            mdl_sequential_free(net);
            mdl_params_free(*ps);
            *ps = NULL;
            net = NULL;
        }
        mdl_history_free(h);
        mdl_optim_free(fit.optim);
        mdl_dataset_free(train);
    } else {
        fprintf(stderr, "The Fashion-MNIST subset should be in tutorials/data/ (run this from "
                        "tutorials/); to make it again: sh data/fetch.sh\n");
    }
    mdl_arena_free(ar);
    mdl_params_free(store);
    return net;
}

int main(int argc, char **argv) {
    int quick = argc == 2 && strcmp(argv[1], "--quick") == 0;
    if (argc > 4 || (argc > 1 && argv[1][0] == '-' && !quick)) {
        fprintf(stderr, "usage: %s [model.safetensors] [images-idx3-ubyte [labels-idx1-ubyte]]\n"
                        "       %s --quick\n", argv[0], argv[0]);
        return 2;
    }
    /* The arguments, or the defaults: 04's model and the test images in data/ with their
       labels. Images given without labels are classified, but no accuracy can be said. */
    int defaults = argc == 1 || quick;
    const char *model_path = defaults ? "04_cnn.safetensors" : argv[1];
    const char *images_path = argc > 2 ? argv[2] : "data/fashion-test-images-idx3-ubyte.gz";
    const char *labels_path = argc > 3   ? argv[3]
                              : argc > 2 ? NULL
                                         : "data/fashion-test-labels-idx1-ubyte.gz";
    mdl_rng rng;
    mdl_rng_seed(&rng, 9);

    /* ---- 1. The model ----------------------------------------------------------------------
       A file of weights is not a program: it holds numbers under names, not the layers that
       use them. So the program that deploys a model builds the same architecture again, in
       code, and pours the numbers in. Here that is 04's LeNet, made by the same calls (the
       function lenet above). Change a layer there (6 filters to 8, say) and the file no
       longer fits: step 2 shows what minidl says then. */
    mdl_params *ps = mdl_params_new();
    mdl_sequential *net = lenet(ps, &rng);
    size_t numel = 0;
    for (int i = 0; i < mdl_params_count(ps); i++) numel += mdl_params_get(ps, i)->numel;
    printf("1. the model: 04's LeNet, conv-pool-conv-pool-linear-linear-linear: %zu parameters "
           "in %d tensors\n", numel, mdl_params_count(ps));

    /* ---- 2. The weights --------------------------------------------------------------------
       04 saved its parameters with mdl_save as a safetensors file: 8 bytes giving the length
       of a JSON header, the header (each tensor's name, dtype, shape and where its bytes
       are; and a "__metadata__" map of strings), then the raw little-endian numbers. Nothing
       in it is code, so loading a file from a stranger cannot run anything, which a PyTorch
       .pt file (Python's pickle) can: the reason Hugging Face made the format.
       mdl_safetensors_open reads a file, checks every rule of the format, and lists it.

       --quick, when 04 has not run: the tests build every tutorial in a fresh checkout and
       run each alone, so 04_cnn.safetensors may not exist, and 09 cannot call 04. It then
       makes a model file of its own, 09_quick.safetensors, by training the same LeNet
       briefly (train_stand_in above), keeps that trained network aside, and goes on exactly
       as with 04's file: the file is loaded into a fresh model, which must then give the
       trained network's scores to the bit (step 7). The stand-in is a much weaker model
       (about 0.6 instead of 0.88: 40 steps of training where 04 takes 2,200), but the
       deployment is the same. */
    mdl_params *trained_ps = NULL;
    mdl_sequential *trained = NULL;
    FILE *probe = defaults ? fopen(model_path, "rb") : NULL; /* is 04's file there? */
    if (probe) fclose(probe);
    printf("\n2. the weights\n");
    if (defaults && !probe && quick) {
        model_path = "09_quick.safetensors";
        printf("   04_cnn.safetensors is not here (04 has not run): a stand-in, %s\n",
               model_path);
        trained = train_stand_in(model_path, 320, 2, &trained_ps, &rng);
        if (!trained) return 1;
    } else if (defaults && !probe) {
        fprintf(stderr, "%s is not here: it is the model tutorial 04 trains and saves. Make it "
                        "with\n    gcc -O2 04_cnn.c -o 04_cnn -lm && ./04_cnn\n(about 10 "
                        "seconds), then run this again.\n", model_path);
        return 1;
    }
    mdl_safetensors *st;
    if (mdl_safetensors_open(model_path, 0, &st) != MDL_OK) {
        fprintf(stderr, "%s\n", mdl_last_error()); /* the file, the byte and what is wrong */
        return 1;
    }
    printf("   %s: %d tensors\n", model_path, mdl_safetensors_count(st));
    for (int i = 0; i < mdl_safetensors_count(st); i++) {
        const mdl_safetensors_info *e = mdl_safetensors_get(st, i);
        char shape[64];
        shape_text(shape, sizeof shape, e->ndim, e->shape);
        printf("   %-10s %-4s %-14s %7zu bytes\n", e->name, e->dtype, shape, e->nbytes);
    }
    for (int i = 0; i < mdl_safetensors_meta_count(st); i++) {
        const char *key = mdl_safetensors_meta_key(st, i);
        printf("   metadata: %s = \"%s\"\n", key, mdl_safetensors_meta(st, key));
    }
    mdl_safetensors_free(st);

    /* Loading matches the file's tensors with the model's by name, as PyTorch's
       load_state_dict does, and MDL_LOAD_STRICT loads nothing unless both hold the same names
       with the same shapes. A file that does not fit is an error with a message naming every
       missing, unexpected and mismatched tensor, never a model that half loaded and quietly
       answers nonsense. To see one, the file goes first into the wrong model: 03's MLP, 784
       -> 128 -> 10, whose layers are called 1 and 3. */
    int wrong_refused;
    {
        mdl_params *mlp_ps = mdl_params_new();
        mdl_sequential *mlp = mdl_sequential_new();
        mdl_sequential_add(mlp, mdl_flatten_layer(1, -1));
        mdl_sequential_add(mlp, mdl_linear_layer(mlp_ps, "1", 784, 128, 1, &rng));
        mdl_sequential_add(mlp, mdl_activation_layer(MDL_LAYER_RELU));
        mdl_sequential_add(mlp, mdl_linear_layer(mlp_ps, "3", 128, 10, 1, &rng));
        mdl_error err = mdl_load(mlp_ps, model_path, MDL_LOAD_STRICT, NULL);
        printf("   into 03's MLP: %s,\n", mdl_error_name(err));
        print_wrapped(mdl_last_error(), 7, 96);
        mdl_sequential_free(mlp);
        mdl_params_free(mlp_ps);
        wrong_refused = err == MDL_ERR_FORMAT;
    }
    /* And into the right one. */
    mdl_load_report report;
    if (mdl_load(ps, model_path, MDL_LOAD_STRICT, &report) != MDL_OK) {
        fprintf(stderr, "%s\n", mdl_last_error());
        return 1;
    }
    printf("   into the LeNet: %d tensors loaded\n", report.loaded);

    /* ---- 3. The images ---------------------------------------------------------------------
       A model knows only the inputs it was trained on, so the images must be prepared exactly
       as 04 prepared its own: 28x28 grey, one channel, pixels divided by 255 (opts.scale). An
       image with pixels 0..255 would give scores, just wrong ones: no error catches that. */
    mdl_params *store = mdl_params_new();
    mdl_tensor *images = load_idx(store, "images", images_path), *labels = NULL;
    if (images && labels_path) labels = load_idx(store, "labels", labels_path);
    if (!images || (labels_path && !labels)) {
        if (defaults)
            fprintf(stderr, "The Fashion-MNIST subset should be in tutorials/data/ (run this "
                            "from tutorials/); to make it again: sh data/fetch.sh\n");
        return 1;
    }
    int bad_label = 0;
    for (int i = 0; labels && i < labels->shape[0]; i++)
        bad_label |= labels->data[i] < 0 || labels->data[i] > 9;
    if (images->ndim != 4 || images->shape[0] == 0 || images->shape[2] != 28 ||
        images->shape[3] != 28 ||
        (labels && (labels->shape[0] != images->shape[0] || bad_label))) {
        char shape[64];
        shape_text(shape, sizeof shape, images->ndim, images->shape);
        fprintf(stderr, "%s: the model takes 28x28 images [N,1,28,28]%s; this file gives %s\n",
                images_path, labels ? ", with one label of 0..9 each" : "", shape);
        return 1;
    }
    int n = quick && images->shape[0] > 200 ? 200 : images->shape[0];
    printf("\n3. the images: %d of 28x28 pixels from %s\n", n, images_path);
    if (labels) printf("   their labels from %s\n", labels_path);

    /* ---- 4. Inference ----------------------------------------------------------------------
       Training kept, for every op, what its backward would need: the tape. Inference has no
       backward, so mdl_set_grad_enabled(ar, 0) turns the tape off (PyTorch's torch.no_grad())
       and mdl_sequential_train(net, 0) puts the layers in evaluation mode (which matters for
       Dropout and BatchNorm; LeNet has neither, but a deployed model always runs in it).
       The images go through in batches of 100: a batch is one matrix product per layer
       instead of 100 small ones, and its memory is bounded. Each batch's tensors come from one
       arena, emptied after the batch. The first batch makes the arena as large as a batch
       needs; from then on every batch fits in that same memory, so a program that classifies
       images all day allocates nothing after its first batch. */
    mdl_arena *ar = mdl_arena_new(0);
    mdl_scalar *scores = (mdl_scalar *)malloc((size_t)n * 10 * sizeof(mdl_scalar));
    double t0 = seconds();
    int same_size = classify(ar, net, images, n, 100, scores);
    double per_image = (seconds() - t0) / n;
    printf("\n4. inference in batches of 100: %.3f ms an image (%.0f images a second)\n",
           1e3 * per_image, 1 / per_image);
    printf("   the arena: %zu KB, sized by the first batch, %s\n", mdl_arena_reserved(ar) / 1024,
           same_size ? "the same after every other" : "GREW after the first batch");

    /* ---- 5. The predictions ----------------------------------------------------------------
       The class is the largest score; softmax turns the 10 scores of an image into
       probabilities, the model's confidence in its answer (its own belief: a confident model
       can still be wrong). */
    int shape_scores[2] = {n, 10};
    mdl_tensor *all = mdl_wrap(ar, 2, shape_scores, scores);
    mdl_tensor *pred = mdl_argmax(ar, all, 1, 0);                       /* [n] */
    mdl_tensor *prob = mdl_max(ar, mdl_softmax(ar, all, 1), 1, 0);      /* [n] */
    printf("\n5. the first predictions:\n");
    for (int i = 0; i < 10 && i < n; i++) {
        int p = (int)pred->data[i];
        printf("   image %d: %-8s %.2f", i, class_names[p], (double)prob->data[i]);
        if (labels)
            printf("   (%s%s)", class_names[(int)labels->data[i]],
                   (int)labels->data[i] == p ? "" : ": wrong");
        printf("\n");
    }
    double acc = 0, majority_acc = 0;
    if (labels) {
        /* The baseline: the best any constant answer does on these labels, the most common
           class. Fashion-MNIST's classes are balanced, so that is about 0.1. */
        int count[10] = {0}, majority = 0;
        mdl_tensor *truth = mdl_slice(ar, labels, 0, 0, n);
        for (int i = 0; i < n; i++) count[(int)truth->data[i]]++;
        for (int k = 1; k < 10; k++)
            if (count[k] > count[majority]) majority = k;
        majority_acc = (double)count[majority] / n;
        acc = mdl_accuracy(pred, truth);
        printf("   accuracy on the %d images: %.3f (always '%s': %.3f)\n", n, acc,
               class_names[majority], majority_acc);
    }

    /* A picture of the first 24 images, with the CNN's answer under each. */
    {
        static char text[24][32];
        const char *captions[24];
        int m = n < 24 ? n : 24;
        for (int i = 0; i < m; i++) {
            snprintf(text[i], sizeof text[i], "%s %.2f", class_names[(int)pred->data[i]],
                     (double)prob->data[i]);
            captions[i] = text[i];
        }
        mdl_plot *fig = mdl_plot_new("What the deployed CNN says (class, probability)");
        mdl_plot_images(fig, mdl_slice(ar, images, 0, 0, m), 8, 0, 1, captions);
        if (mdl_plot_save(fig, "09_predictions.svg") != MDL_OK)
            fprintf(stderr, "%s\n", mdl_last_error());
        mdl_plot_free(fig);
        printf("   picture: 09_predictions.svg\n");
    }

    /* ---- 6. The same file in PyTorch -------------------------------------------------------
       safetensors is the format of the Hugging Face ecosystem, and minidl names its tensors
       as PyTorch's state_dict does, so the file loads into the same torch.nn model. Debian
       has no python3-safetensors package, and the format needs none: these lines, run from
       tutorials/ with python3 and torch, build the same model, read the file by hand (the
       ten lines from raw to load_state_dict), load it strictly and classify the same images
       (tests/torch runs exactly these lines). nn.Sequential names its layers by their places,
       0 to 11, which is where 04's names come from.

       --- Python (tests/torch runs these lines) ---
       import gzip, json, struct, torch
       from torch import nn
       model = nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                             nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
                             nn.Linear(84, 10))
       raw = open("04_cnn.safetensors", "rb").read()
       n = struct.unpack("<Q", raw[:8])[0]             # the JSON header's length
       header = json.loads(raw[8:8 + n])                # name -> dtype, shape, data_offsets
       state = {}
       for name, e in header.items():
           if name != "__metadata__":                   # a map of strings, not a tensor
               begin, end = e["data_offsets"]           # bytes after the header
               data = bytearray(raw[8 + n + begin:8 + n + end])
               state[name] = torch.frombuffer(data, dtype=torch.float32).reshape(e["shape"])
       model.load_state_dict(state)                     # strict: the same names and shapes
       model.eval()
       pixels = gzip.open("data/fashion-test-images-idx3-ubyte.gz").read()[16:]  # after
       labels = gzip.open("data/fashion-test-labels-idx1-ubyte.gz").read()[8:]   # the headers
       images = torch.frombuffer(bytearray(pixels), dtype=torch.uint8).float() / 255
       with torch.no_grad():
           scores = model(images.reshape(-1, 1, 28, 28))   # [1000, 10], as minidl's
       predictions = scores.argmax(1)
       print(predictions[:10])                          # the classes of step 5
       print((predictions == torch.tensor(list(labels))).float().mean())   # 0.868
       --- end of the Python ---

       (F32 is what minidl writes; torch.frombuffer reads the machine's byte order, which is
       little-endian on every PC and phone. With the safetensors package installed, those ten
       lines are two: from safetensors.torch import load_file, and then
       model.load_state_dict(load_file("04_cnn.safetensors")).) The other way works as well:
       a torch state_dict written as safetensors loads with mdl_load (tests/torch/ checks
       both ways, with LeNets, an MLP with BatchNorm and an LSTM). */
    printf("\n6. the same file in PyTorch: the Python in step 6 of 09_deploy.c\n");

    /* ---- 7. The result ---------------------------------------------------------------------
       With 04's file, the accuracy is 04's own on the same images: the file is the whole
       model. With the stand-in (--quick), the fresh model loaded from the file must give the
       scores of the network that was trained and saved, to the last bit: a file that lost or
       rounded a single weight would not. */
    int ok = same_size, bitwise = 1;
    if (trained) {
        mdl_scalar *want = (mdl_scalar *)malloc((size_t)n * 10 * sizeof(mdl_scalar));
        classify(ar, trained, images, n, 100, want);
        bitwise = memcmp(want, scores, (size_t)n * 10 * sizeof(mdl_scalar)) == 0;
        printf("\n7. the loaded model's %d scores are the trained model's, bit for bit: %s\n",
               n * 10, bitwise ? "yes" : "NO");
        free(want);
    }
    if (labels) {
        printf("result: test accuracy = %.3f (baseline majority class = %.3f)\n", acc,
               majority_acc);
        /* bounds, when the model and images are the defaults: 04's model (0.88), the stand-in
           (about 0.6) */
        double bound = trained ? 0.45 : 0.80;
        if (defaults && (acc < bound || acc < majority_acc + 0.3)) {
            fprintf(stderr, "09_deploy: test accuracy %.3f is below %.2f (or not 0.3 above the "
                            "majority class's %.3f)\n", acc, bound, majority_acc);
            ok = 0;
        }
    } else {
        printf("result: images classified = %d (baseline: none, no labels given)\n", n);
    }
    if (!same_size) fprintf(stderr, "09_deploy: the arena grew after the first batch\n");
    if (!wrong_refused) {
        fprintf(stderr, "09_deploy: the file loaded into 03's MLP without an error\n");
        ok = ok && !defaults;
    }
    if (!bitwise) fprintf(stderr, "09_deploy: the loaded model's scores differ\n");
    ok = ok && bitwise;

    free(scores);
    mdl_arena_free(ar);
    mdl_params_free(store);
    mdl_sequential_free(trained);
    mdl_params_free(trained_ps);
    mdl_sequential_free(net);
    mdl_params_free(ps);
    return ok ? 0 : 1;
}

/* EXERCISES
   1. Classify all 10,000 test images of Fashion-MNIST (sudo apt-get install
      dataset-fashion-mnist): ./09_deploy 04_cnn.safetensors
      /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz
      /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz. Is the accuracy 04's?
   2. Change the batch size in step 4 (1, 10, 100, 1000). How do the time per image and the
      arena's size change? Where does a batch of 1 lose its time?
   3. Load 04's file into a LeNet with 8 filters in its first layer, and read minidl's
      message. Then try MDL_LOAD_NON_STRICT and print report.text.
   4. Feed the images without scaling (opts.scale = 0 in load_idx): what happens to the
      accuracy, and why does nothing complain?
   5. Run the Python of step 6 and compare its first predictions with step 5's.
*/
