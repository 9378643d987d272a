/* 03_mlp.c - handwritten digits: softmax regression, a multilayer perceptron, overfitting

   GOAL
       Read 8x8 pictures of handwritten digits and say which digit each one shows: ten
       classes. First with a single linear layer and softmax (softmax regression, the
       ten-class logistic regression), then with a hidden layer (a multilayer perceptron, MLP),
       which gets more than 96% of digits it has never seen right. Last, watch a network that
       is far too big for its data learn its training digits by heart (overfitting), and see
       what dropout and weight decay do about it.

   NEW SINCE 02
       Ten classes: softmax and the cross-entropy loss (with two classes they are logistic
       regression's sigmoid and binary cross-entropy). A hidden layer, and the nonlinearity
       that makes it worth having. Three parts of the data: training, validation (watched
       while training) and test (looked at once, at the end). The confusion matrix, and
       precision and recall per class. Overfitting, and dropout and weight decay against it.
       mdl_fit: the training loop you write by hand in step 4, as one call.

   RUN (from tutorials/)
       gcc -O2 03_mlp.c -o 03_mlp -lm
       ./03_mlp              the lesson: about 3 seconds (6 on a busy machine)
       ./03_mlp --quick      a shorter run for the tests (under a second), checked against
                             bounds

   PRINTS
       The data's sizes and the majority-class baseline; softmax regression's training, epoch
       by epoch (loss, validation loss and accuracy, seconds); the MLP's, by mdl_fit; the MLP's
       confusion matrix and classification report on the test digits; a table of the
       overfitting runs; and last
           result: test accuracy = 0.969 (baseline softmax regression = 0.953)
       (the last digits may differ on another CPU, whose fast kernels round differently).
       It writes three pictures, which any web browser shows:
           03_weights.svg      what softmax regression learned: one template per digit
           03_mistakes.svg     the test digits the MLP got wrong
           03_overfitting.svg  the loss curves of the big network: as it is, with dropout,
                               with weight decay

   The data: tutorials/data/digits.csv, scikit-learn's 1797 digits (see data/README.md).
*/
#define MINIDL_IMPLEMENTATION
#include "../minidl.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Processor seconds since the program started: ISO C's clock(). For a program that runs on
   one thread, as this one does, that is its running time (less than the wall clock's when
   other programs share the processor). */
static double seconds(void) { return (double)clock() / CLOCKS_PER_SEC; }

/* Write a figure as an SVG file (saying why on stderr if it cannot), and free it. */
static void save_figure(mdl_plot *fig, const char *path) {
    if (mdl_plot_save(fig, path) != MDL_OK) fprintf(stderr, "%s\n", mdl_last_error());
    mdl_plot_free(fig);
}

/* The model's loss and accuracy on a whole data set: one forward pass over every row at once
   (the digits are small), in evaluation mode (dropout off) and without a tape (grad off: no
   backward will follow, so nothing needs to be remembered for it). Returns the accuracy. */
static double evaluate(mdl_arena *ar, mdl_sequential *net, mdl_dataset *ds, double *loss) {
    int grad = mdl_set_grad_enabled(ar, 0);
    mdl_sequential_train(net, 0);
    mdl_tensor *logits = mdl_sequential_forward(ar, net, ds->x);
    double acc = mdl_accuracy(logits, ds->y);
    if (loss) *loss = mdl_item(mdl_cross_entropy_loss(ar, logits, ds->y, NULL));
    mdl_sequential_train(net, 1);
    mdl_set_grad_enabled(ar, grad);
    mdl_arena_reset(ar);
    return acc;
}

/* An MLP: in -> hidden -> ... -> hidden -> 10, ReLU after every hidden layer, and dropout
   with probability p after each ReLU if p > 0. Layers are named by their place in the list,
   as torch.nn.Sequential names them ("0.weight", "3.bias", ...). */
static mdl_sequential *make_mlp(mdl_params *ps, int in, int hidden, int layers, double p,
                                mdl_rng *rng) {
    mdl_sequential *net = mdl_sequential_new();
    char name[16];
    for (int l = 0; l < layers; l++) {
        snprintf(name, sizeof name, "%d", net->count);
        mdl_sequential_add(net, mdl_linear_layer(ps, name, l == 0 ? in : hidden, hidden, 1, rng));
        mdl_sequential_add(net, mdl_activation_layer(MDL_LAYER_RELU));
        if (p > 0) mdl_sequential_add(net, mdl_dropout_layer(p, rng));
    }
    snprintf(name, sizeof name, "%d", net->count);
    mdl_sequential_add(net, mdl_linear_layer(ps, name, hidden, 10, 1, rng));
    return net;
}

int main(int argc, char **argv) {
    int quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
    if (argc > 2 || (argc == 2 && !quick)) {
        fprintf(stderr, "usage: %s [--quick]\n", argv[0]);
        return 2;
    }
    mdl_arena *ar = mdl_arena_new(0); /* per-step memory, emptied after every step */
    mdl_rng rng;
    mdl_rng_seed(&rng, 3); /* a fixed seed: the same split, weights and output on every run */

    /* ---- 1. The data -------------------------------------------------------------------
       digits.csv has one digit a line: 64 pixels (row by row, each 0..16: how much ink fell
       in that 4x4 block of the original 32x32 scan), then the label 0..9. There is no header,
       so the columns are called by their position: the label is column "64". */
    mdl_params *data = mdl_params_new();
    mdl_csv_opts csv_opts = {0};
    mdl_csv csv;
    csv_opts.no_header = 1;
    csv_opts.target = "64";
    if (mdl_load_csv(data, "digits", "data/digits.csv", &csv_opts, &csv) != MDL_OK) {
        fprintf(stderr, "%s\n", mdl_last_error());
        fprintf(stderr, "digits.csv should be in tutorials/data/ (run this from tutorials/); "
                        "to make it again: sh data/fetch.sh\n");
        return 1;
    }
    /* Pixels from 0..16 to 0..1: inputs of about unit size keep the first layer's weighted
       sums, and so its gradients, of a sensible size at the start. Features in different
       units (a penguin's bill in mm, its mass in g) are standardised one by one instead
       (mdl_scaler); pixels share one scale, and standardising each pixel on its own would
       turn the rare ink in a corner, where nearly every digit has none, into inputs as large
       as 40. */
    for (size_t i = 0; i < csv.x->numel; i++) csv.x->data[i] /= 16;

    /* Three parts, each with every digit in the same proportion (stratified):
         training    60%  the model learns from these;
         validation  20%  watched during training, to see how it does on digits it does not
                          learn from, and to choose settings (epochs, sizes) with;
         test        20%  looked at once, at the very end: the honest figure. Settings chosen
                          by looking at a set have been fitted to it a little, so the figure we
                          report comes from a set that chose nothing. */
    mdl_dataset *all = mdl_dataset_new(csv.x, csv.y), *parts[3];
    double fractions[3] = {0.6, 0.2, 0.2};
    mdl_dataset_split(all, 3, fractions, 1, &rng, parts);
    mdl_dataset *train = parts[0], *val = parts[1], *test = parts[2];
    printf("1. data: %d digits of %d pixels: %d training, %d validation, %d test\n", all->n,
           csv.x->shape[1], train->n, val->n, test->n);

    /* The first baseline: always say the digit that is most common in the training part.
       A model must beat this by far to have learned anything from the pixels. */
    int count[10] = {0}, majority = 0, right = 0;
    for (int i = 0; i < train->n; i++) count[(int)train->y->data[i]]++;
    for (int k = 1; k < 10; k++)
        if (count[k] > count[majority]) majority = k;
    for (int i = 0; i < test->n; i++) right += (int)test->y->data[i] == majority;
    double majority_acc = (double)right / test->n;
    printf("   baseline: always saying %d gets %.3f of the test digits right\n", majority,
           majority_acc);

    /* ---- 2. Softmax regression ----------------------------------------------------------
       One Linear layer turns the 64 pixels x of a digit into 10 scores, the logits
           z = W x + b          W [10,64], b [10]      (a batch: Z = X W^T + b, [B,10])
       one score per digit. Softmax turns scores into probabilities:
           p_k = e^(z_k) / (e^(z_0) + ... + e^(z_9))
       Each p_k is positive, they add up to 1, and the largest score gets the largest
       probability. Only differences between scores matter (adding a constant to every z_k
       changes nothing), which is how it is computed safely: the largest z is subtracted
       before exponentiating, so nothing overflows. With two classes and z_0 = 0 it is logistic
       regression's sigmoid: p_1 = e^z / (1 + e^z) = sigmoid(z).

       The loss. For a digit of class y, the cross-entropy is
           L = -log p_y
       the surprise of the model at the right answer: 0 if it gave the right digit
       probability 1, log 10 = 2.30 if it gave every digit 1/10 (about the loss of the
       untrained model: see epoch 0 below), and very large if it was sure of a wrong one.
       Why this loss, and not the accuracy or a squared error?
         - The accuracy does not change when a weight moves a little (a prediction flips only
           now and then), so its gradient is zero almost everywhere: nothing to descend.
         - Minimising the mean of -log p_y over the training digits maximises the product of
           the p_y: the probability the model gives to all the right answers together. That
           is maximum likelihood, the principle behind the squared error of linear regression
           (for Gaussian noise) and the binary cross-entropy of logistic regression too.
         - Its gradient with respect to the logits is as simple as a gradient gets:
               dL/dz_k = p_k - [k == y]
           the predicted probability minus the truth. A digit that is badly wrong pushes
           hard, one that is already right with confidence hardly at all. A squared error on
           p would push weakly exactly where the model is confidently wrong, because softmax
           is flat there.
       minidl computes softmax and -log p_y together (mdl_cross_entropy_loss takes the
       logits), which is both faster and more accurate than log(softmax(z)) in two steps. */
    mdl_params *ps_soft = mdl_params_new();
    mdl_sequential *soft = mdl_sequential_new();
    mdl_sequential_add(soft, mdl_linear_layer(ps_soft, "0", 64, 10, 1, &rng));

    /* ---- 3. The optimizer ---------------------------------------------------------------
       Adam: gradient descent where each parameter gets a step size of its own, from running
       averages of its gradient and of its square (see >>optim in minidl.h). lr = 0.01 is
       large for Adam (PyTorch's default is 0.001) but right for a model this small. */
    mdl_optim *opt = mdl_adam_new(ps_soft, 0.01);

    /* ---- 4. The training loop, by hand ---------------------------------------------------
       An epoch is one pass over the training digits in mini-batches of 32, in a new random
       order each time (mdl_batches reshuffles at the start of every epoch). Each step:
       forward, loss, backward, update, zero the gradients, empty the arena. */
    int soft_epochs = quick ? 8 : 30;
    mdl_batches batches;
    mdl_tensor *xb, *yb;
    mdl_batches_init(&batches, train, 32, 1, 0, &rng);
    printf("\n2-4. softmax regression, %d epochs of %d steps\n", soft_epochs, batches.per_epoch);
    double t0 = seconds(), val_loss, val_acc = evaluate(ar, soft, val, &val_loss);
    printf("   epoch  0  (untrained)    val_loss %.4f  val_accuracy %.3f\n", val_loss, val_acc);
    for (int epoch = 1; epoch <= soft_epochs; epoch++) {
        double loss_sum = 0;
        while (mdl_batches_next(&batches, ar, &xb, &yb)) {        /* xb [32,64], yb [32] */
            mdl_tensor *logits = mdl_sequential_forward(ar, soft, xb); /* [32,10] */
            mdl_tensor *loss = mdl_cross_entropy_loss(ar, logits, yb, NULL);
            loss_sum += mdl_item(loss);
            mdl_backward(loss);        /* dL/dW and dL/db into the parameters' grad */
            mdl_optim_step(opt);       /* W -= (Adam's step), b likewise */
            mdl_optim_zero_grad(opt);  /* gradients add up until zeroed */
            mdl_arena_reset(ar);       /* this step's tensors and tape are gone */
        }
        val_acc = evaluate(ar, soft, val, &val_loss);
        if (epoch <= 3 || epoch % 5 == 0)
            printf("   epoch %2d  loss %.4f  val_loss %.4f  val_accuracy %.3f  %.3fs\n", epoch,
                   loss_sum / batches.per_epoch, val_loss, val_acc, seconds() - t0);
    }
    double soft_acc = evaluate(ar, soft, test, NULL);
    printf("   softmax regression: test accuracy %.3f\n", soft_acc);

    /* ---- 5. What a linear model learns ---------------------------------------------------
       The score of digit k is a weighted sum of the pixels, so row k of W, seen as an 8x8
       picture, is a template: the pixels that speak for k are bright and those that speak
       against it dark. That is all this model can do: match one template per class. */
    {
        int shape[3] = {10, 8, 8};
        const char *names[10] = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
        mdl_plot *fig = mdl_plot_new("Softmax regression: the weights of each digit");
        /* lo == hi: each template scaled from its own smallest weight (black) to largest */
        mdl_plot_images(fig, mdl_reshape(ar, soft->layers[0].weight, 3, shape), 10, 0, 0, names);
        save_figure(fig, "03_weights.svg");
        mdl_arena_reset(ar);
    }

    /* ---- 6. A hidden layer: the multilayer perceptron ------------------------------------
           h = relu(W1 x + b1)      W1 [256,64]: 256 features of the pixels
           z = W2 h + b2            W2 [10,256]: the scores, from the features
       Each hidden unit is a template of its own, and the ReLU (max(0, .)) keeps only how far
       a digit matches it beyond a threshold. The scores then weigh features, not pixels: a
       7 can be "a bar at the top AND a stroke down the middle", and a 4 may be written open
       or closed, which one template per class cannot say. Without the ReLU, W2 (W1 x + b1)
       + b2 is again one linear map, and the hidden layer would add nothing.
       Training is the loop of step 4, which mdl_fit runs for us, with the validation pass
       and a line per epoch. */
    mdl_params *ps_mlp = mdl_params_new();
    mdl_sequential *mlp = make_mlp(ps_mlp, 64, 256, 1, 0, &rng);
    mdl_fit_opts fit = mdl_fit_defaults();
    fit.seq = mlp;
    fit.optim = mdl_adam_new(ps_mlp, 0.003);
    fit.rng = &rng;
    fit.epochs = quick ? 8 : 50;
    fit.batch_size = 32;
    printf("\n6. an MLP, 64 -> 256 -> 10, trained by mdl_fit\n");
    int one_digit[2] = {1, 64};
    mdl_sequential_summary(stdout, mlp, 2, one_digit);
    mdl_history *h = mdl_fit(&fit, train, val);
    mdl_history_free(h);

    /* ---- 7. How good is it, and where does it go wrong? ------------------------------------
       The confusion matrix counts, for each true digit (a row), what the model said (the
       columns): the right answers on the diagonal, each mistake in its cell. Precision of
       digit k: of the digits called k, the share that were k. Recall: of the k's, the share
       called k. */
    double mlp_acc = evaluate(ar, mlp, test, NULL);
    printf("\n7. the MLP on the %d test digits: accuracy %.3f\n", test->n, mlp_acc);
    mdl_sequential_train(mlp, 0);
    mdl_tensor *logits = mdl_sequential_forward(ar, mlp, test->x);
    mdl_tensor *cm = mdl_confusion_matrix(ar, logits, test->y, 10);
    mdl_confusion_matrix_fprint(stdout, cm, NULL);
    printf("\n");
    mdl_classification_report_fprint(stdout, cm, NULL);

    /* The mistakes, as pictures: some are hard even for a person. */
    {
        mdl_tensor *pred = mdl_argmax(ar, logits, 1, 0);
        int rows[24], n = 0;
        static char text[24][16];
        const char *captions[24];
        for (int i = 0; i < test->n && n < 24; i++) {
            int p = (int)pred->data[i], y = (int)test->y->data[i];
            if (p == y) continue;
            snprintf(text[n], sizeof text[n], "%d as %d", y, p);
            captions[n] = text[n];
            rows[n++] = i;
        }
        if (n > 0) {
            int shape[3] = {n, 8, 8};
            mdl_tensor *wrong = mdl_index_select(ar, test->x, 0, n, rows); /* [n,64] */
            mdl_plot *fig = mdl_plot_new("The MLP's mistakes: true digit as predicted digit");
            mdl_plot_images(fig, mdl_reshape(ar, wrong, 3, shape), 8, 0, 1, captions);
            save_figure(fig, "03_mistakes.svg");
        }
    }
    mdl_arena_reset(ar);

    /* ---- 8. Overfitting, dropout and weight decay --------------------------------------------
       A model learns the training digits, not digits: it is only good if what it learned
       carries over to new ones. Give a big network (two hidden layers of 128: 26,000
       parameters) only 200 training digits and many epochs, and it learns those 200 by
       heart: training accuracy 1, training loss near 0. On the validation digits the loss
       falls, then rises again: the network grows ever surer of its answers, the wrong ones
       too, and -log p of a confident mistake is large. That is overfitting: what the network
       now learns from its 200 digits is their accidents, which new digits do not share.
       Two remedies, each in a run of its own (all three runs start from the same weights):
         - Dropout (p = 0.5 after each hidden layer). In training, each hidden unit is set to
           0 with probability p at every step, and the others are scaled by 1 / (1 - p); in
           evaluation all are on. No unit can count on particular others being there, so the
           network cannot build a fragile circuit for each training digit: it has to learn
           features that many thinned versions of itself share, and those carry over better.
         - Weight decay (0.001). Each step also pulls every weight (and bias) towards 0: its
           gradient gets 0.001 w added, the gradient of 0.0005 w^2, as if the loss had
           0.0005 (the sum of all w^2) added to it. Weights now pay for being large, and a
           network can only be very sure of an answer with large weights.
       Watch the last lines: the lowest validation loss of each run, and where it ends up. */
    enum { RUNS = 3 };
    const char *run_name[RUNS] = {"no regularisation", "dropout 0.5", "weight decay 0.001"};
    double run_dropout[RUNS] = {0, 0.5, 0}, run_decay[RUNS] = {0, 0, 0.001};
    int small_n = 200, long_epochs = quick ? 30 : 600;
    double sizes[2] = {small_n, train->n - small_n}; /* whole numbers: row counts */
    mdl_dataset *small[2];
    mdl_dataset_split(train, 2, sizes, 1, &rng, small); /* 20 digits of each kind */
    mdl_history *runs[RUNS];
    printf("\n8. a 64 -> 128 -> 128 -> 10 MLP on %d training digits, %d epochs\n", small_n,
           long_epochs);
    for (int r = 0; r < RUNS; r++) {
        mdl_params *ps = mdl_params_new();
        mdl_rng gen;
        mdl_rng_seed(&gen, 8); /* the same initial weights in every run */
        mdl_sequential *big = make_mlp(ps, 64, 128, 2, run_dropout[r], &gen);
        mdl_optim_opts adam = mdl_optim_defaults(MDL_ADAM);
        adam.lr = 0.001;
        adam.weight_decay = run_decay[r];
        mdl_fit_opts f = mdl_fit_defaults();
        f.seq = big;
        f.optim = mdl_optim_new(ps, &adam);
        f.rng = &gen;
        f.epochs = long_epochs;
        f.batch_size = small_n; /* all 200 in every step: the curves show overfitting, not the
                                   noise of mini-batches */
        f.verbose = 0;          /* the table below says it more briefly */
        runs[r] = mdl_fit(&f, small[0], val);
        printf("   %-18s  %.2fs\n", run_name[r], runs[r]->seconds[runs[r]->epochs - 1]);
        mdl_optim_free(f.optim);
        mdl_sequential_free(big);
        mdl_params_free(ps);
    }
    /* every tenth of the way: training accuracy, training loss, validation loss */
    printf("   epoch");
    for (int r = 0; r < RUNS; r++) printf("  %-24s", run_name[r]);
    printf("\n        ");
    for (int r = 0; r < RUNS; r++) printf("  acc    loss    val_loss  ");
    printf("\n");
    for (int e = 0; e < long_epochs; e++) {
        if (e != 0 && (e + 1) % (long_epochs / 10) != 0) continue;
        printf("   %5d", e + 1);
        for (int r = 0; r < RUNS; r++)
            printf("  %5.3f  %6.4f  %6.4f    ", runs[r]->metric[e], runs[r]->loss[e],
                   runs[r]->val_loss[e]);
        printf("\n");
    }
    /* the lowest validation loss, and the mean of the last tenth of the epochs */
    for (int r = 0; r < RUNS; r++) {
        mdl_history *hr = runs[r];
        int best = 0, tenth = hr->epochs / 10;
        double end = 0;
        for (int e = 1; e < hr->epochs; e++)
            if (hr->val_loss[e] < hr->val_loss[best]) best = e;
        for (int e = hr->epochs - tenth; e < hr->epochs; e++) end += hr->val_loss[e] / tenth;
        printf("   %-18s  val_loss: lowest %.4f at epoch %d, %.4f over the last %d epochs\n",
               run_name[r], hr->val_loss[best], best + 1, end, tenth);
    }
    /* What the runs show. Without regularisation the validation loss is lowest about a
       fifth of the way in and climbs from then on, while the training loss keeps falling
       towards 0. Dropout makes training harder (its training loss stays higher and noisy,
       each step trains another thinned network), and its validation loss gets lower than the
       first run's and climbs later and more slowly. Weight decay stops the training loss
       near 0.007, where making the weights larger costs more than it gains, and its
       validation loss stays level to the end. A third remedy needs no change to the model:
       keep the weights of the epoch with the lowest validation loss (early stopping;
       exercise 3). */

    /* The curves side by side. They leave out the first epochs (a sixth), where every loss
       falls fast from 2.3: on an axis that reached up to 2.3, the rise that matters, a few
       hundredths, would not show. */
    {
        int skip = long_epochs / 6, n = long_epochs - skip;
        double *epoch = (double *)malloc((size_t)long_epochs * sizeof(double));
        for (int e = 0; e < long_epochs; e++) epoch[e] = e + 1;
        mdl_plot *fig = mdl_plot_new(run_name[0]);
        for (int r = 0; r < RUNS; r++) {
            if (r > 0) mdl_plot_panel(fig, run_name[r]);
            mdl_plot_labels(fig, "epoch", "cross-entropy");
            mdl_plot_line(fig, "training", n, epoch + skip, runs[r]->loss + skip);
            mdl_plot_line(fig, "validation", n, epoch + skip, runs[r]->val_loss + skip);
        }
        save_figure(fig, "03_overfitting.svg");
        free(epoch);
    }

    /* ---- 9. The result ---------------------------------------------------------------------- */
    printf("\npictures: 03_weights.svg, 03_mistakes.svg, 03_overfitting.svg\n");
    printf("result: test accuracy = %.3f (baseline softmax regression = %.3f)\n", mlp_acc,
           soft_acc);
    double bound = quick ? 0.93 : 0.96;
    int ok = mlp_acc >= bound && soft_acc > majority_acc + 0.5;
    if (!ok)
        fprintf(stderr, "03_mlp: the MLP's test accuracy %.3f is below %.2f, or softmax "
                        "regression's %.3f is not far above the majority class's %.3f\n",
                mlp_acc, bound, soft_acc, majority_acc);

    for (int r = 0; r < RUNS; r++) mdl_history_free(runs[r]);
    mdl_dataset_free(small[0]);
    mdl_dataset_free(small[1]);
    mdl_optim_free(fit.optim);
    mdl_sequential_free(mlp);
    mdl_params_free(ps_mlp);
    mdl_optim_free(opt);
    mdl_sequential_free(soft);
    mdl_params_free(ps_soft);
    for (int p = 0; p < 3; p++) mdl_dataset_free(parts[p]);
    mdl_dataset_free(all);
    mdl_params_free(data);
    mdl_arena_free(ar);
    return ok ? 0 : 1;
}

/* EXERCISES
   1. Replace Adam by SGD with momentum (mdl_sgd_new(ps_soft, 0.1, 0.9)) in step 3. How many
      epochs does softmax regression need now?
   2. Make the hidden layer of step 6 smaller (16, 32) and larger (512). Where does the test
      accuracy stop improving? And with two hidden layers?
   3. Early stopping: in step 8, set f.patience = 50 (stop after 50 epochs without a new
      lowest validation loss), f.restore_best = 1 and f.params = ps (go back to the weights of
      the best epoch). Where does each run stop, and with what validation loss?
   4. Adam's weight decay is added to the gradient, before Adam divides each gradient by its
      typical size, which weakens it for the weights that move most. AdamW (Loshchilov and
      Hutter, 2019) subtracts lr * weight_decay * w after the Adam step instead: try
      mdl_optim_defaults(MDL_ADAMW) in step 8 with weight_decay 0.01, 0.1 and 1.
   5. Give the big network 400 or 800 training digits instead of 200. More data is the best
      remedy for overfitting: how much of the gap closes?
*/
