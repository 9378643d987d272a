/* tests/test_fit.c - the fit loop: it trains a small classifier and a regression to a bound,
   records the history it printed, early-stops where it should, restores the best epoch's
   weights, calls its callbacks, steps a scheduler per epoch, writes the history as CSV and SVG,
   agrees with mdl_evaluate, and reports its mistakes.

   gcc -std=c99 -O1 -g -Wall -Wextra -Wpedantic -Werror -I. tests/test_fit.c \
       -o build/test_fit -lm
*/
#define MINIDL_IMPLEMENTATION
#include "minidl.h"
#include "test.h"

#include <stdlib.h>

static mdl_rng rng;

/* 400 points in [-1,1]^2, class 1 where x0 * x1 > 0 (XOR-like: no line separates them),
   split 300 / 100 with the classes in proportion. */
static void quadrants(mdl_dataset **train, mdl_dataset **val) {
    mdl_arena *ar = mdl_arena_new(0);
    int xs[2] = {400, 2}, ys[1] = {400}, i;
    double sizes[2] = {0.75, 0.25};
    mdl_tensor *x = mdl_rand(ar, &rng, 2, xs, -1, 1), *y = mdl_zeros(ar, 1, ys);
    mdl_dataset *all, *parts[2];
    for (i = 0; i < 400; i++) y->data[i] = x->data[2 * i] * x->data[2 * i + 1] > 0;
    all = mdl_dataset_new(x, y);
    mdl_dataset_split(all, 2, sizes, 1, &rng, parts);
    mdl_dataset_free(all);
    mdl_arena_free(ar);
    *train = parts[0];
    *val = parts[1];
}

static mdl_sequential *mlp(mdl_params *ps, int in, int hidden, int out) {
    mdl_sequential *net = mdl_sequential_new();
    mdl_sequential_add(net, mdl_linear_layer(ps, "0", in, hidden, 1, &rng));
    mdl_sequential_add(net, mdl_activation_layer(MDL_LAYER_TANH));
    mdl_sequential_add(net, mdl_linear_layer(ps, "2", hidden, out, 1, &rng));
    return net;
}

static int count_lines(const char *path, const char *needle, int *lines) {
    FILE *f = fopen(path, "r");
    char buf[4096];
    int hits = 0;
    *lines = 0;
    if (!f) return -1;
    while (fgets(buf, sizeof buf, f)) {
        const char *p = buf;
        (*lines)++;
        while (needle && (p = strstr(p, needle)) != NULL) {
            hits++;
            p++;
        }
    }
    fclose(f);
    return hits;
}

static void test_classifier(void) {
    mdl_dataset *train, *val;
    mdl_params *ps = mdl_params_new();
    mdl_sequential *net;
    mdl_fit_opts f = mdl_fit_defaults();
    mdl_history *h;
    double loss, acc;
    int lines, e;
    quadrants(&train, &val);
    net = mlp(ps, 2, 16, 2);
    f.seq = net;
    f.params = ps;
    f.optim = mdl_adam_new(ps, 0.03);
    f.rng = &rng;
    f.epochs = 40;
    f.verbose = 0;
    h = mdl_fit(&f, train, val);
    CHECK(h != NULL, "mdl_fit failed: %s", mdl_last_error());
    if (!h) return;
    CHECK(h->epochs == 40 && !h->stopped_early, "%d epochs run, stopped early %d", h->epochs,
          h->stopped_early);
    CHECK(h->val_metric[39] >= 0.9, "validation accuracy after 40 epochs %.3f < 0.9",
          h->val_metric[39]);
    CHECK(h->loss[39] < 0.5 * h->loss[0], "the training loss went from %.3f to %.3f",
          h->loss[0], h->loss[39]);
    CHECK(strcmp(h->metric_name, "accuracy") == 0, "metric name %s", h->metric_name);
    for (e = 1; e < h->epochs; e++)
        CHECK(h->seconds[e] >= h->seconds[e - 1], "time went back at epoch %d", e);
    /* evaluate gives the last epoch's validation figures (nothing changed since) */
    CHECK(mdl_evaluate(&f, val, &loss, &acc) == MDL_OK, "mdl_evaluate: %s", mdl_last_error());
    CHECK_NEAR(loss, h->val_loss[39], 1e-6, "mdl_evaluate's loss = the history's last val_loss");
    CHECK_NEAR(acc, h->val_metric[39], 1e-12, "mdl_evaluate's accuracy");
    /* the history as CSV: a header and one row per epoch; as SVG: a document with two curves
       per panel */
    CHECK(mdl_history_save_csv(h, "build/test_fit_history.csv") == MDL_OK, "csv: %s",
          mdl_last_error());
    CHECK(count_lines("build/test_fit_history.csv", "epoch,loss,accuracy,val_loss,val_accuracy",
                      &lines) == 1 && lines == 41,
          "the CSV has %d lines (want 41) or lacks its header", lines);
    CHECK(mdl_history_plot(h, "build/test_fit_history.svg") == MDL_OK, "svg: %s",
          mdl_last_error());
    CHECK(count_lines("build/test_fit_history.svg", "<svg", &lines) == 1 &&
              count_lines("build/test_fit_history.svg", "</svg>", &lines) == 1,
          "the SVG is not one <svg> document");
    CHECK(count_lines("build/test_fit_history.svg", "validation", &lines) >= 2,
          "the SVG has no validation curve in each panel");
    mdl_history_free(h);
    mdl_optim_free(f.optim);
    mdl_sequential_free(net);
    mdl_params_free(ps);
    mdl_dataset_free(train);
    mdl_dataset_free(val);
}

/* A regression y = 2 x0 - x1 + 0.5 with MSE and R^2, and a scheduler halving lr each epoch. */
static void test_regression(void) {
    mdl_arena *ar = mdl_arena_new(0);
    int xs[2] = {256, 2}, ys[2] = {256, 1}, i;
    mdl_tensor *x = mdl_randn(ar, &rng, 2, xs, 0, 1), *y = mdl_zeros(ar, 2, ys);
    mdl_dataset *ds;
    mdl_params *ps = mdl_params_new();
    mdl_layer fc = mdl_linear_layer(ps, "fc", 2, 1, 1, &rng);
    mdl_sequential *net = mdl_sequential_new();
    mdl_fit_opts f = mdl_fit_defaults();
    mdl_schedule_opts s = mdl_schedule_defaults(MDL_LR_STEP);
    mdl_history *h;
    for (i = 0; i < 256; i++) y->data[i] = 2 * x->data[2 * i] - x->data[2 * i + 1] + 0.5f;
    ds = mdl_dataset_new(x, y);
    mdl_sequential_add(net, fc);
    f.seq = net;
    f.optim = mdl_sgd_new(ps, 0.1, 0.5);
    s.step_size = 1;
    s.gamma = 0.8;
    f.scheduler = mdl_scheduler_new(f.optim, &s);
    f.loss = MDL_FIT_MSE;
    f.metric = MDL_FIT_R2;
    f.rng = &rng;
    f.epochs = 15;
    f.verbose = 0;
    h = mdl_fit(&f, ds, NULL);
    CHECK(h && h->metric[14] > 0.999, "R^2 after 15 epochs: %.5f", h ? h->metric[14] : -1);
    CHECK(h && isnan(h->val_loss[0]), "without validation data val_loss must be NAN");
    CHECK(h && fabs(h->lr[0] - 0.1) < 1e-15 && fabs(h->lr[3] - 0.1 * 0.512) < 1e-15,
          "the scheduler steps once per epoch: lr %g, %g", h ? h->lr[0] : 0, h ? h->lr[3] : 0);
    CHECK(h && strcmp(h->metric_name, "r2") == 0, "metric name");
    mdl_history_free(h);
    mdl_scheduler_free(f.scheduler);
    mdl_optim_free(f.optim);
    mdl_sequential_free(net);
    mdl_params_free(ps);
    mdl_dataset_free(ds);
    mdl_arena_free(ar);
}

/* A model given as a forward function, to see the training flag. */
typedef struct flagged {
    mdl_layer *fc;
    int train_calls, eval_calls;
} flagged;

static mdl_tensor *flagged_forward(mdl_arena *ar, mdl_tensor *x, int training, void *model) {
    flagged *m = (flagged *)model;
    if (training)
        m->train_calls++;
    else
        m->eval_calls++;
    return mdl_layer_forward(ar, m->fc, x);
}

/* Ruin the weights after epoch 3: the validation loss jumps, early stopping (patience 2) ends
   training two epochs later, and restore_best puts the epoch-3 weights back. */
static int ruin_at_3(const mdl_fit_progress *p, void *user) {
    mdl_params *ps = (mdl_params *)user;
    if (p->epoch == 3) {
        mdl_tensor *w = mdl_params_find(ps, "fc.weight");
        size_t i;
        for (i = 0; i < w->numel; i++) w->data[i] = i % 3 ? -700 : 1000; /* logits far apart */
    }
    return 0;
}

static int batches_seen;
static int stop_at_batch_3(const mdl_fit_progress *p, void *user) {
    (void)user;
    batches_seen++;
    return p->batch == 3;
}

static void test_stopping(void) {
    mdl_dataset *train, *val;
    mdl_params *ps = mdl_params_new();
    mdl_layer fc = mdl_linear_layer(ps, "fc", 2, 2, 1, &rng);
    flagged model = {&fc, 0, 0};
    mdl_fit_opts f = mdl_fit_defaults();
    mdl_history *h;
    quadrants(&train, &val);
    f.forward = flagged_forward;
    f.model = &model;
    f.params = ps;
    f.optim = mdl_sgd_new(ps, 0, 0); /* lr 0: nothing changes, nothing improves */
    f.rng = &rng;
    f.epochs = 20;
    f.patience = 3;
    f.verbose = 0;
    h = mdl_fit(&f, train, val);
    /* epoch 1 is the best; epochs 2, 3, 4 do not improve: stop after 4 */
    CHECK(h && h->epochs == 4 && h->stopped_early && h->best_epoch == 0,
          "patience 3 with no improvement: %d epochs, stopped %d, best %d", h ? h->epochs : -1,
          h ? h->stopped_early : -1, h ? h->best_epoch : -1);
    CHECK(model.train_calls == 4 * 10 && model.eval_calls == 4 * 4,
          "forward called %d times training, %d evaluating (want 40 and 16: 300 and 100 rows in "
          "batches of 32)", model.train_calls, model.eval_calls);
    mdl_history_free(h);
    mdl_optim_free(f.optim);

    f.optim = mdl_adam_new(ps, 0.01);
    f.patience = 2;
    f.restore_best = 1;
    f.on_epoch = ruin_at_3;
    f.callback_user = ps;
    h = mdl_fit(&f, train, val);
    CHECK(h && h->epochs == 5 && h->best_epoch == 2,
          "weights ruined after epoch 3: %d epochs, best %d (want 5 and 2)", h ? h->epochs : -1,
          h ? h->best_epoch : -1);
    CHECK(mdl_params_find(ps, "fc.weight")->data[0] != 1000,
          "restore_best did not put back the best epoch's weights");
    {
        double loss;
        f.on_epoch = NULL;
        mdl_evaluate(&f, val, &loss, NULL);
        CHECK(h && fabs(loss - h->val_loss[2]) < 1e-6,
              "after restore_best the validation loss is %.6f, the best epoch's %.6f", loss,
              h ? h->val_loss[2] : 0);
    }
    mdl_history_free(h);

    f.restore_best = 0;
    f.patience = 0;
    f.on_batch = stop_at_batch_3;
    batches_seen = 0;
    h = mdl_fit(&f, train, val);
    CHECK(h && h->epochs == 1 && h->stopped_early && batches_seen == 3,
          "a batch callback returning 1 at batch 3: %d epochs, %d batches", h ? h->epochs : -1,
          batches_seen);
    mdl_history_free(h);
    mdl_optim_free(f.optim);
    mdl_params_free(ps);
    mdl_dataset_free(train);
    mdl_dataset_free(val);
}

static void test_errors(void) {
    mdl_dataset *train, *val;
    mdl_params *ps = mdl_params_new();
    mdl_sequential *net;
    mdl_fit_opts f = mdl_fit_defaults();
    quadrants(&train, &val);
    net = mlp(ps, 2, 4, 2);
    capture_errors();
    f.seq = net;
    CHECK(mdl_fit(&f, train, val) == NULL && captured_code == MDL_ERR_ARG &&
              strstr(captured_message, "optimizer"),
          "fit without an optimizer: %s", captured_message);
    f.optim = mdl_sgd_new(ps, 0.1, 0);
    capture_errors();
    CHECK(mdl_fit(&f, train, val) == NULL && strstr(captured_message, "rng"),
          "shuffling without a generator: %s", captured_message);
    f.rng = &rng;
    f.restore_best = 1;
    capture_errors();
    CHECK(mdl_fit(&f, train, val) == NULL && strstr(captured_message, "params"),
          "restore_best without params: %s", captured_message);
    f.restore_best = 0;
    f.verbose = 0;
    f.loss = MDL_FIT_MSE; /* logits [B,2] against targets [B]: the loss reports the shapes */
    capture_errors();
    {
        mdl_history *h = mdl_fit(&f, train, val);
        CHECK(captured_code == MDL_ERR_SHAPE && strstr(captured_message, "mdl_mse_loss"),
              "a loss that does not fit the output: %s", captured_message);
        CHECK(h && h->epochs == 1, "fit stops in the first epoch after an error");
        mdl_history_free(h);
    }
    capture_errors();
    CHECK(mdl_history_save_csv(NULL, "x.csv") == MDL_ERR_NULL, "a NULL history");
    mdl_set_error_handler(NULL, NULL);
    mdl_clear_error();
    mdl_optim_free(f.optim);
    mdl_sequential_free(net);
    mdl_params_free(ps);
    mdl_dataset_free(train);
    mdl_dataset_free(val);
}

int main(void) {
    mdl_rng_seed(&rng, 3);
    test_classifier();
    test_regression();
    test_stopping();
    test_errors();
    return test_summary();
}
