/* 07_recommender.c - recommend films: matrix factorisation with embeddings, on ratings whose
   truth we know

   GOAL
       500 people have each rated about one film in ten of 300. Predict the ratings they have
       not given: that is what a recommender does (it then shows each person the films it
       predicts they would rate highest). The model gives every person and every film a short
       vector of numbers, an embedding, learned from the ratings alone, and predicts a rating
       from how well the two vectors agree. The ratings are made up by the program, from a
       known "true" rule plus noise, so that for once we can see what a model recovers: how
       close it gets to a truth it never saw, and how close to the noise floor, the error that
       no model can go below.

   NEW
       Synthetic data with a known truth, and the noise floor as a baseline. Embeddings
       (mdl_embedding_layer): a table with one learned vector per person or per film, looked
       up by number. A model that is a formula rather than a stack of layers: the dot product
       of two embeddings plus biases. A low-rank matrix, and why a tenth of it is enough to
       fill in the rest. An L2 penalty (mdl_l2_penalty) derived from what we believe about the
       parameters before seeing any data, its strength chosen on the validation ratings. The
       test error split into noise and estimation error.

   RUN (from tutorials/)
       gcc -O2 07_recommender.c -o 07_recommender -lm
       ./07_recommender            the lesson: about 2 seconds (5 on a busy machine)
       ./07_recommender --quick    a shorter run for the tests (200 people, 120 films, 30
                                   epochs; a fifth of a second), checked against bounds

   PRINTS
       The sizes of the true rule and of the observed ratings; the baselines (the mean rating,
       the noise floor, a model of biases only); the factor model's training, epoch by epoch
       (loss, RMSE on the training and the validation ratings, seconds); a table of penalty
       strengths; the same for a model of too high a rank; what was recovered (the error
       against the truth, on the test ratings and on all 150,000 cells; the biases; the
       factors); and last
           result: test RMSE = 0.64 (baseline biases only = 0.93; noise floor = 0.51)
       (the last digits may differ on another CPU, whose fast kernels round differently).
       Pictures, for a web browser:
           07_rmse.svg       training and validation RMSE by epoch, beside the noise floor
                             and the biases-only model: rank 5 with the penalty; rank 10
                             without it, and with it
           07_recovered.svg  predicted against true ratings of the test set; the learned
                             film biases against the true ones

   The data is made by the program (step 1): nothing to download.
*/
#define MINIDL_IMPLEMENTATION
#include "../minidl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_EPOCHS 80

/* Processor seconds since the program started: ISO C's clock(). */
static double seconds(void) { return (double)clock() / CLOCKS_PER_SEC; }

/* Write a figure as an SVG file (saying why on stderr if it cannot), and free it. */
static void save_figure(mdl_plot *fig, const char *path) {
    if (mdl_plot_save(fig, path) != MDL_OK) fprintf(stderr, "%s\n", mdl_last_error());
    mdl_plot_free(fig);
}

/* ---- The true rule --------------------------------------------------------------------------
   What people would rate if there were no noise: person u rates film i
       truth(u, i) = mean + user_bias[u] + item_bias[i] + user_f[u] . item_f[i]
   user_f and item_f are tables with one row of `rank` numbers per person and per film.
   Plain C doubles: the truth belongs to the world, not to the model, and nothing trains it. */
typedef struct world {
    int users, items, rank;
    double mean, *user_bias, *item_bias, *user_f, *item_f;
} world;

static double truth(const world *w, int u, int i) {
    double r = w->mean + w->user_bias[u] + w->item_bias[i];
    for (int k = 0; k < w->rank; k++) r += w->user_f[u * w->rank + k] * w->item_f[i * w->rank + k];
    return r;
}

/* The true rating of every row of a data set of (person, film) pairs x [N,2]: [N]. */
static mdl_tensor *truth_of(mdl_arena *ar, const world *w, const mdl_dataset *ds) {
    mdl_tensor *t = mdl_zeros(ar, 1, &ds->n);
    for (int r = 0; r < ds->n; r++)
        t->data[r] = (mdl_scalar)truth(w, (int)ds->x->data[2 * r], (int)ds->x->data[2 * r + 1]);
    return t;
}

/* ---- The model (step 4 explains it) ---------------------------------------------------------
       pred(u, i) = mean + b[u] + c[i] + p[u] . q[i]
   p [users, rank] and q [items, rank] are embeddings; b [users, 1] and c [items, 1] are
   embeddings of one number each; `mean` is the mean training rating, a constant. Rank 0 has no
   p and q: the biases-only model. Its parameters live in its own set, ps. */
typedef struct mf {
    int rank;
    double mean;
    mdl_params *ps;
    mdl_layer user_f, item_f, user_bias, item_bias;
} mf;

static void mf_init(mf *m, int users, int items, int rank, double mean, mdl_rng *rng) {
    m->rank = rank;
    m->mean = mean;
    m->ps = mdl_params_new();
    m->user_bias = mdl_embedding_layer(m->ps, "user_bias", users, 1, -1, rng);
    m->item_bias = mdl_embedding_layer(m->ps, "item_bias", items, 1, -1, rng);
    mdl_fill(m->user_bias.weight, 0); /* every prediction starts at `mean` */
    mdl_fill(m->item_bias.weight, 0);
    if (rank > 0) {
        m->user_f = mdl_embedding_layer(m->ps, "user_f", users, rank, -1, rng);
        m->item_f = mdl_embedding_layer(m->ps, "item_f", items, rank, -1, rng);
        mdl_fill_normal(m->user_f.weight, rng, 0, 0.1); /* small, not zero: see step 4 */
        mdl_fill_normal(m->item_f.weight, rng, 0, 0.1);
    }
}

/* Predictions for a batch of pairs x [B,2] (column 0 the person, column 1 the film): [B]. */
static mdl_tensor *mf_forward(mdl_arena *ar, const mf *m, mdl_tensor *x) {
    int b = x->shape[0];
    mdl_tensor *u = mdl_reshape(ar, mdl_slice(ar, x, 1, 0, 1), 1, &b); /* [B] person numbers */
    mdl_tensor *i = mdl_reshape(ar, mdl_slice(ar, x, 1, 1, 2), 1, &b); /* [B] film numbers */
    mdl_tensor *bu = mdl_squeeze(ar, mdl_layer_forward(ar, &m->user_bias, u), 1); /* [B] */
    mdl_tensor *ci = mdl_squeeze(ar, mdl_layer_forward(ar, &m->item_bias, i), 1); /* [B] */
    mdl_tensor *pred = mdl_add(ar, bu, ci);
    if (m->rank > 0) {
        mdl_tensor *pu = mdl_layer_forward(ar, &m->user_f, u);            /* [B,rank] */
        mdl_tensor *qi = mdl_layer_forward(ar, &m->item_f, i);            /* [B,rank] */
        pred = mdl_add(ar, pred, mdl_sum(ar, mdl_mul(ar, pu, qi), 1, 0)); /* + p[u] . q[i] */
    }
    return mdl_add_scalar(ar, pred, (mdl_scalar)m->mean);
}

/* The model's RMSE on a data set, against its ratings, or against `target` [N] if that is
   given (the truth): one forward pass over every row, without a tape. */
static double mf_rmse(mdl_arena *ar, const mf *m, const mdl_dataset *ds, mdl_tensor *target) {
    int grad = mdl_set_grad_enabled(ar, 0);
    double r = mdl_rmse(mf_forward(ar, m, ds->x), target ? target : ds->y);
    mdl_set_grad_enabled(ar, grad);
    return r;
}

/* The training loop of step 6: `epochs` passes over the training ratings in shuffled
   mini-batches of 256; loss = MSE + lambda * (the sum of every parameter squared); Adam, its
   lr falling from 0.02 to 0 along a cosine over the epochs. After each epoch the RMSE on the
   training and the validation ratings goes into train_rmse[e] and val_rmse[e]; with
   `verbose`, some epochs print a line. */
static void mf_train(mdl_arena *ar, mf *m, mdl_dataset *train, mdl_dataset *val, double lambda,
                     int epochs, mdl_rng *rng, double *train_rmse, double *val_rmse,
                     int verbose) {
    mdl_optim *opt = mdl_adam_new(m->ps, 0.02);
    mdl_schedule_opts cosine = mdl_schedule_defaults(MDL_LR_COSINE);
    cosine.t_max = epochs;
    mdl_scheduler *sch = mdl_scheduler_new(opt, &cosine);
    mdl_batches it;
    mdl_tensor *xb, *yb;
    double t0 = seconds();
    mdl_batches_init(&it, train, 256, 1, 0, rng);
    for (int e = 0; e < epochs; e++) {
        double loss_sum = 0;
        while (mdl_batches_next(&it, ar, &xb, &yb)) {                       /* xb [B,2] */
            mdl_tensor *loss = mdl_mse_loss(ar, mf_forward(ar, m, xb), yb, MDL_MEAN);
            if (lambda > 0) loss = mdl_add(ar, loss, mdl_l2_penalty(ar, m->ps, lambda, 1));
            loss_sum += mdl_item(loss);
            mdl_backward(loss);
            mdl_optim_step(opt);
            mdl_optim_zero_grad(opt);
            mdl_arena_reset(ar);
        }
        mdl_scheduler_step(sch); /* the lr of the next epoch */
        train_rmse[e] = mf_rmse(ar, m, train, NULL);
        val_rmse[e] = mf_rmse(ar, m, val, NULL);
        mdl_arena_reset(ar);
        if (verbose && (e < 3 || (e + 1) % 10 == 0))
            printf("   epoch %2d  loss %.4f  train_rmse %.4f  val_rmse %.4f  %.2fs\n", e + 1,
                   loss_sum / it.per_epoch, train_rmse[e], val_rmse[e], seconds() - t0);
    }
    mdl_scheduler_free(sch);
    mdl_optim_free(opt);
}

/* The correlation of two lists of n numbers (Pearson's r): 1 when one is an increasing
   straight-line function of the other, 0 when they are unrelated. */
static double correlation(int n, const double *a, const mdl_scalar *b) {
    double ma = 0, mb = 0, sab = 0, saa = 0, sbb = 0;
    for (int j = 0; j < n; j++) ma += a[j] / n, mb += b[j] / n;
    for (int j = 0; j < n; j++) {
        sab += (a[j] - ma) * (b[j] - mb);
        saa += (a[j] - ma) * (a[j] - ma), sbb += (b[j] - mb) * (b[j] - mb);
    }
    return sab / sqrt(saa * sbb);
}

/* How much of the true factors the learned ones span (step 9). truth [n, kt] and learned
   [n, kl] are tables of n rows. The learned columns are made orthonormal (Gram-Schmidt: from
   each, subtract its parts along the ones before, then scale it to length 1); each true
   column is projected onto them; the result is the share of the true columns' squared length
   that the projections keep: 1 if the learned columns span the true ones, about kl / n for
   columns that have nothing to do with them. */
static double share_spanned(int n, int kt, const double *truth, int kl, const mdl_scalar *learned) {
    double *q = (double *)malloc(sizeof(double) * (size_t)n * kl), kept = 0, total = 0;
    for (int j = 0; j < kl; j++) {
        double len = 0;
        for (int r = 0; r < n; r++) q[r * kl + j] = learned[r * kl + j];
        for (int l = 0; l < j; l++) {
            double d = 0;
            for (int r = 0; r < n; r++) d += q[r * kl + l] * q[r * kl + j];
            for (int r = 0; r < n; r++) q[r * kl + j] -= d * q[r * kl + l];
        }
        for (int r = 0; r < n; r++) len += q[r * kl + j] * q[r * kl + j];
        for (int r = 0; r < n; r++) q[r * kl + j] /= sqrt(len);
    }
    for (int t = 0; t < kt; t++) {
        for (int r = 0; r < n; r++) total += truth[r * kt + t] * truth[r * kt + t];
        for (int l = 0; l < kl; l++) {
            double d = 0;
            for (int r = 0; r < n; r++) d += q[r * kl + l] * truth[r * kt + t];
            kept += d * d;
        }
    }
    free(q);
    return kept / total;
}

/* The lesson's claims are checked at the end: a failed check prints what failed, and the
   program exits with status 1. */
static int failures = 0;
static void check(int ok, const char *what) {
    if (!ok) {
        fprintf(stderr, "07_recommender: check failed: %s\n", what);
        failures++;
    }
}

int main(int argc, char **argv) {
    int quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
    if (argc > 2 || (argc == 2 && !quick)) {
        fprintf(stderr, "usage: %s [--quick]\n", argv[0]);
        return 2;
    }
    mdl_arena *ar = mdl_arena_new(0); /* per-step memory, emptied after every step */
    mdl_rng rng;
    mdl_rng_seed(&rng, 7); /* a fixed seed: the same world, split, weights and output each run */

    /* ---- 1. The true rule ------------------------------------------------------------------
       People's tastes differ in a few ways, and films in the same few ways: how much action,
       how much romance, how old, how slow. Say there are rank = 5 such ways. Film i has a
       vector item_f[i] of 5 numbers saying how much of each it has, person u a vector
       user_f[u] saying how much they like each, and their dot product
           user_f[u] . item_f[i] = sum over k of user_f[u][k] item_f[i][k]
       is large when the film has what the person likes (and large and negative when it has
       what they cannot stand). On top come a mean of 3.5 stars, a bias per person (some rate
       everything generously) and a bias per film (some films are simply better).
       All of these are drawn at random: biases with standard deviation 0.4, each factor with
       0.6, so that the dot product of two vectors has standard deviation 0.6^2 sqrt(5) = 0.8
       stars. The whole truth is a 500 x 300 table of 150,000 ratings, but it is made of
       500 x 6 + 300 x 6 = 4,800 numbers (and the mean): a matrix of rank 5 plus biases. That
       is what will make it possible to fill it in from a tenth of its cells. */
    world w;
    w.users = quick ? 200 : 500, w.items = quick ? 120 : 300, w.rank = 5, w.mean = 3.5;
    const double bias_sd = 0.4, factor_sd = 0.6, sigma = 0.5;
    w.user_bias = (double *)malloc(sizeof(double) * w.users);
    w.item_bias = (double *)malloc(sizeof(double) * w.items);
    w.user_f = (double *)malloc(sizeof(double) * w.users * w.rank);
    w.item_f = (double *)malloc(sizeof(double) * w.items * w.rank);
    if (!w.user_bias || !w.item_bias || !w.user_f || !w.item_f) return 1;
    for (int u = 0; u < w.users; u++) w.user_bias[u] = bias_sd * mdl_rng_normal(&rng);
    for (int i = 0; i < w.items; i++) w.item_bias[i] = bias_sd * mdl_rng_normal(&rng);
    for (int j = 0; j < w.users * w.rank; j++) w.user_f[j] = factor_sd * mdl_rng_normal(&rng);
    for (int j = 0; j < w.items * w.rank; j++) w.item_f[j] = factor_sd * mdl_rng_normal(&rng);

    /* ---- 2. The observed ratings ------------------------------------------------------------
       Each person rates each film with probability 0.1 (0.25 in --quick, whose table is
       smaller), and what they give is the truth plus noise: Gaussian, standard deviation
       sigma = 0.5 stars, a new draw for every rating (the mood of the day). Real ratings are
       whole stars from 1 to 5; ours are kept as they come, neither rounded nor clipped (they
       run from about 0 to 7), so that the noise is exactly what we drew: Gaussian, of
       standard deviation 0.5, independent of the truth. Rounding and clipping would make it
       none of these (exercise 4). The model does not mind either way.
       Each rating is a row of a data set: x = (person, film) as two whole numbers, y = the
       rating. The rows are split at random into training (80%), validation (10%: to watch
       training and to choose the penalty with) and test (10%: looked at at the end). */
    const double observed = quick ? 0.25 : 0.1;
    int n = 0, cells = w.users * w.items, xs[2] = {cells, 2};
    mdl_tensor *x = mdl_zeros(ar, 2, xs), *y = mdl_zeros(ar, 1, &cells);
    for (int u = 0; u < w.users; u++)
        for (int i = 0; i < w.items; i++) {
            if (mdl_rng_uniform(&rng) >= observed) continue;
            x->data[2 * n] = (mdl_scalar)u, x->data[2 * n + 1] = (mdl_scalar)i;
            y->data[n++] = (mdl_scalar)(truth(&w, u, i) + sigma * mdl_rng_normal(&rng));
        }
    mdl_dataset *all = mdl_dataset_new(mdl_slice(ar, x, 0, 0, n), mdl_slice(ar, y, 0, 0, n));
    mdl_arena_reset(ar); /* the data set has its own copy */
    mdl_dataset *parts[3];
    double fractions[3] = {0.8, 0.1, 0.1};
    mdl_dataset_split(all, 3, fractions, 0, &rng, parts);
    mdl_dataset *train = parts[0], *val = parts[1], *test = parts[2];
    printf("1-2. %d people x %d films, true rank %d; %d ratings observed (%.1f%% of the cells): "
           "%d training, %d validation, %d test\n", w.users, w.items, w.rank, n,
           100.0 * n / cells, train->n, val->n, test->n);

    /* ---- 3. Baselines ----------------------------------------------------------------------
       The root mean squared error (RMSE), sqrt(mean (prediction - rating)^2), is in stars.
       - Predict the mean training rating for everything.
       - The noise floor: the RMSE of the truth itself on the test ratings, about sigma. No
         model can do better on average: the noise of a test rating was drawn after
         everything a model could learn from. Real data has a floor too, but nobody knows it.
       - Biases only: mean + b[u] + c[i], "this person rates high, this film is good", which
         explains no taste at all. It is the model of step 4 with rank 0, trained the same
         way (steps 5 and 6, with the formula's penalty), and the baseline our factor model
         must beat. */
    double mean = 0;
    for (int r = 0; r < train->n; r++) mean += train->y->data[r];
    mean /= train->n;
    double mean_rmse = mdl_rmse(mdl_full(ar, 1, &test->n, (mdl_scalar)mean), test->y);
    double floor_rmse = mdl_rmse(truth_of(ar, &w, test), test->y);
    mdl_arena_reset(ar);
    int epochs = quick ? 30 : MAX_EPOCHS;
    double lambda0 = sigma * sigma / (train->n * factor_sd * factor_sd); /* step 5 */
    static double tr_bias[MAX_EPOCHS], va_bias[MAX_EPOCHS];
    mf bias_only;
    mf_init(&bias_only, w.users, w.items, 0, mean, &rng);
    mf_train(ar, &bias_only, train, val, lambda0, epochs, &rng, tr_bias, va_bias, 0);
    double bias_rmse = mf_rmse(ar, &bias_only, test, NULL);
    mdl_arena_reset(ar);
    printf("3. test RMSE of the mean rating (%.3f): %.4f; of biases only: %.4f; the noise "
           "floor: %.4f\n", mean, mean_rmse, bias_rmse, floor_rmse);

    /* ---- 4. The model: matrix factorisation with embeddings ---------------------------------
       The model has the shape of the truth, with everything unknown learned:
           pred(u, i) = mean + b[u] + c[i] + p[u] . q[i]
       Stack the vectors p[u] as the rows of a table P [users, 5], and q[i] as the rows of Q
       [films, 5]: then P Q^T is a [users, films] matrix of rank 5 holding every p[u] . q[i],
       the rating matrix factorised into two thin ones. Nobody tells the model what the 5
       numbers mean; it finds whatever 5 directions of taste explain the ratings best.
       P is an embedding: a table with one learned row per person, looked up by the person's
       number (mdl_embedding_layer; its input is a tensor of numbers, its output their rows).
       A lookup is what a Linear layer without bias computes for a one-hot input (1 at the
       person's number, 0 elsewhere), without multiplying by all those zeros. Its backward
       adds each row's gradient into that row only (twice for a person in the batch twice):
       a step moves the vectors of the people and films in the batch, and no others.
       PyTorch's Embedding starts its rows from N(0, 1). That is right for word vectors that
       go into further layers, but here two such vectors would give p . q a spread of
       sqrt(5) = 2.2 stars before any training. We start from N(0, 0.1^2) instead: the first
       predictions are close to the mean. Not from exactly 0: the gradient for p[u] is a
       multiple of q[i] and that for q[i] a multiple of p[u] (below), so at p = q = 0 both are
       0 and nothing would ever move. The biases start at 0; `mean` is not learned at all,
       since it is known exactly from the training ratings. */
    static double tr_mf[MAX_EPOCHS], va_mf[MAX_EPOCHS];
    mf model;
    mf_init(&model, w.users, w.items, w.rank, mean, &rng);

    /* ---- 5. The loss, and a penalty ---------------------------------------------------------
       The mean squared error of the predicted ratings: the right loss for Gaussian noise
       (minimising it is maximum likelihood, as for linear regression in 01). Its gradient
       for one rating r of person u and film i, with e = pred - r:
           dL/dp[u] = 2 e q[i]     dL/dq[i] = 2 e p[u]     dL/db[u] = dL/dc[i] = 2 e
       If the prediction was too low (e < 0), p[u] moves towards q[i] and q[i] towards p[u]:
       their dot product grows. So people who liked the same films end up with vectors that
       point the same way, and films liked by the same people too: the model learns what a
       person may like from what people who rated alike liked (collaborative filtering),
       knowing nothing about the films themselves.
       How many ratings per unknown? 80% of 15,000 is 12,000 ratings for 4,800 numbers: 2.5
       each. A person has about 24 training ratings for the 6 numbers of their own, and the
       model can bend those 6 numbers to fit the noise of the 24, which a new rating of theirs
       will not share. Against that, an L2 penalty: add
           lambda * (the sum of the squares of all parameters)      (mdl_l2_penalty)
       to the loss. A parameter now pays for being large, and moves away from 0 only as far
       as the ratings insist. Its gradient 2 lambda w pulls every parameter towards 0 at every
       step: this is weight decay (mdl_optim_opts.weight_decay = 2 lambda adds that gradient
       without building the sum).
       Where does lambda come from? From what we believed before seeing data: each true factor
       was drawn from N(0, 0.6^2). The parameters most probable given the ratings (maximum a
       posteriori) minimise
           sum over ratings of e^2 / (2 sigma^2)  +  sum over parameters of w^2 / (2 0.6^2)
       and multiplying by 2 sigma^2 / N, with N the number of training ratings, gives our loss:
           mean e^2  +  lambda * sum w^2,      lambda = sigma^2 / (N 0.6^2)
       (The biases were drawn with 0.4, not 0.6; one lambda for every parameter keeps it
       simple.) The penalty is the prior belief; the more ratings (N), the less it counts. On real
       data sigma and the spread of the factors are unknown, and lambda is chosen by trying a
       few values against the validation ratings (step 7); the formula says where to look. */
    printf("\n4-6. matrix factorisation, rank %d, lambda = sigma^2 / (N 0.6^2) = %.3g, "
           "%d epochs\n", w.rank, lambda0, epochs);

    /* ---- 6. Training ------------------------------------------------------------------------
       The loop of 03 (mf_train above): forward, loss, backward, step, zero the gradients,
       empty the arena, over shuffled mini-batches of 256 ratings, with Adam. Its learning
       rate falls to 0 along a cosine, as in 04: the last epochs settle into a minimum
       instead of jittering around it, so that the runs of step 7 can be compared fairly. */
    mf_train(ar, &model, train, val, lambda0, epochs, &rng, tr_mf, va_mf, 1);

    /* ---- 7. How strong a penalty? -----------------------------------------------------------
       The same model trained with lambda at other multiples of the formula's, 0 (no penalty)
       included. The true rule itself has an RMSE of about sigma = 0.5 on the training
       ratings; a model below that has learned some of their noise. Every model here does a
       little (4,800 numbers fitted to 12,000 ratings), but the weaker the penalty, the more,
       and the more the validation RMSE suffers. Too strong a penalty squeezes every vector
       towards 0, the model towards biases only, and both RMSEs rise. We keep the model with
       the lowest validation RMSE (not test RMSE: the test ratings must choose nothing). */
    enum { MAX_RUNS = 5 };
    double mults_full[MAX_RUNS] = {0, 0.3, 1, 3, 10}, mults_quick[3] = {0, 1, 3};
    double *mults = quick ? mults_quick : mults_full;
    int runs = quick ? 3 : MAX_RUNS, best = -1;
    mf sweep[MAX_RUNS];
    static double tr_sweep[MAX_RUNS][MAX_EPOCHS], va_sweep[MAX_RUNS][MAX_EPOCHS];
    printf("\n7. the penalty's strength (lambda as a multiple of the formula's)\n"
           "   multiple  lambda     train_rmse  val_rmse\n");
    for (int r = 0; r < runs; r++) {
        if (mults[r] == 1) { /* the model of step 6 */
            sweep[r] = model;
            memcpy(tr_sweep[r], tr_mf, sizeof tr_mf);
            memcpy(va_sweep[r], va_mf, sizeof va_mf);
        } else {
            mf_init(&sweep[r], w.users, w.items, w.rank, mean, &rng);
            mf_train(ar, &sweep[r], train, val, mults[r] * lambda0, epochs, &rng, tr_sweep[r],
                     va_sweep[r], 0);
        }
        if (best < 0 || va_sweep[r][epochs - 1] < va_sweep[best][epochs - 1]) best = r;
        printf("   %8.1f  %-9.3g  %.4f      %.4f\n", mults[r], mults[r] * lambda0,
               tr_sweep[r][epochs - 1], va_sweep[r][epochs - 1]);
    }
    model = sweep[best];
    double lambda = mults[best] * lambda0;
    printf("   the lowest validation RMSE: lambda = %.1f x the formula's = %.3g\n", mults[best],
           lambda);
    /* The formula's lambda is about right, and a few times more does a little better. Why
       more? The formula gives the most probable parameters, and those are not quite the best
       predictions: with some 24 ratings for a person's 6 numbers, the most probable p[u]
       still follows the noise of those 24 a little, and a stronger pull towards 0 makes up
       for part of it. (Bayesian matrix factorisation, which averages over all the parameters
       the ratings allow instead of taking the most probable ones, does better still.) */

    /* ---- 8. Not knowing the rank ------------------------------------------------------------
       On real ratings nobody knows the rank either. Give the model 10 factors where the truth
       has 5. Without a penalty the 5 spare directions have nothing to explain but noise, and
       the model uses them for exactly that: the training RMSE drops far below the noise
       floor while the validation RMSE climbs epoch after epoch, the textbook picture of
       overfitting (07_rmse.svg). With the penalty the spare directions cost more than the
       noise they could fit, and stay small: the model does nearly as well as with the right
       rank. */
    static double tr_big[2][MAX_EPOCHS], va_big[2][MAX_EPOCHS];
    mf big[2];
    printf("\n8. rank 10, twice the truth's:\n");
    for (int r = 0; r < 2; r++) {
        int low = 0; /* the epoch of the lowest validation RMSE */
        mf_init(&big[r], w.users, w.items, 10, mean, &rng);
        mf_train(ar, &big[r], train, val, r ? lambda : 0, epochs, &rng, tr_big[r], va_big[r], 0);
        for (int e = 1; e < epochs; e++)
            if (va_big[r][e] < va_big[r][low]) low = e;
        printf("   %-11s  train_rmse %.4f  val_rmse %.4f (lowest %.4f, at epoch %d)\n",
               r ? "penalty" : "no penalty", tr_big[r][epochs - 1], va_big[r][epochs - 1],
               va_big[r][low], low + 1);
    }

    /* ---- 9. What was recovered --------------------------------------------------------------
       Now the chosen model against the truth, which a real recommender never gets to see.
       The test RMSE measures the prediction against noisy ratings. Against the truth it is
       the estimation error, what the model got wrong. The two are tied: the noise of a test
       rating is independent of the prediction, so the squares add,
           test RMSE^2  =  estimation error^2  +  noise floor^2      (up to sampling)
       and only the estimation error can be made smaller. Across all the cells of the table,
       the 90% nobody rated included, the error is the same as on the test ratings: what was
       learned carries over to every pair, which is the point of a recommender. */
    double test_rmse = mf_rmse(ar, &model, test, NULL);
    double est_rmse = mf_rmse(ar, &model, test, truth_of(ar, &w, test));
    mdl_arena_reset(ar);
    double sq_all = 0; /* every cell: the ratings of one person at a time, without a tape */
    for (int u = 0; u < w.users; u++) {
        int ps[2] = {w.items, 2}, grad = mdl_set_grad_enabled(ar, 0);
        mdl_tensor *pairs = mdl_zeros(ar, 2, ps);
        for (int i = 0; i < w.items; i++) pairs->data[2 * i] = u, pairs->data[2 * i + 1] = i;
        mdl_tensor *pred = mf_forward(ar, &model, pairs);
        for (int i = 0; i < w.items; i++) {
            double d = pred->data[i] - truth(&w, u, i);
            sq_all += d * d;
        }
        mdl_set_grad_enabled(ar, grad);
        mdl_arena_reset(ar);
    }
    double all_rmse = sqrt(sq_all / cells);
    printf("\n9. the chosen model (rank %d, lambda %.3g) against the truth\n", model.rank, lambda);
    printf("   test RMSE %.4f; estimation error (against the truth): %.4f on the test ratings, "
           "%.4f on all %d cells\n", test_rmse, est_rmse, all_rmse, cells);
    printf("   test RMSE^2 = %.4f; estimation error^2 + noise floor^2 = %.4f + %.4f = %.4f\n",
           test_rmse * test_rmse, est_rmse * est_rmse, floor_rmse * floor_rmse,
           est_rmse * est_rmse + floor_rmse * floor_rmse);

    /* The parameters. The biases should match the true ones: their correlation says how well
       (1 is perfect). The factors cannot match number for number: for any invertible 5 x 5
       matrix A, P A and Q A^-T give the same P Q^T, the same predictions, so the model may
       have found the true directions of taste in another order, mixed, stretched. What it can
       find is the space they span. share_spanned measures that: 1 if the learned columns of
       Q span the true ones, about 5 / 300 = 0.017 for 5 random columns. */
    double r_user = correlation(w.users, w.user_bias, model.user_bias.weight->data);
    double r_item = correlation(w.items, w.item_bias, model.item_bias.weight->data);
    double s_user = share_spanned(w.users, w.rank, w.user_f, model.rank, model.user_f.weight->data);
    double s_item = share_spanned(w.items, w.rank, w.item_f, model.rank, model.item_f.weight->data);
    printf("   biases: correlation with the truth %.3f (people), %.3f (films)\n", r_user, r_item);
    printf("   factors: share of the true ones in the span of the learned ones %.3f (people), "
           "%.3f (films)\n", s_user, s_item);
    /* A film has about 40 training ratings, a person about 24: the films' biases and factors
       are learned better. */

    /* ---- 10. Pictures ----------------------------------------------------------------------- */
    {
        double epoch_no[MAX_EPOCHS];
        for (int e = 0; e < epochs; e++) epoch_no[e] = e + 1;
        const char *titles[3] = {"rank 5, with the chosen lambda", "rank 10, no penalty",
                                 "rank 10, with the chosen lambda"};
        double *curves[3][2] = {{tr_sweep[best], va_sweep[best]},
                                {tr_big[0], va_big[0]},
                                {tr_big[1], va_big[1]}};
        mdl_plot *fig = mdl_plot_new(titles[0]);
        for (int p = 0; p < 3; p++) {
            if (p > 0) mdl_plot_panel(fig, titles[p]);
            mdl_plot_labels(fig, "epoch", "RMSE (stars)");
            mdl_plot_line(fig, "training", epochs, epoch_no, curves[p][0]);
            mdl_plot_line(fig, "validation", epochs, epoch_no, curves[p][1]);
            mdl_plot_abline(fig, "biases only (test)", 0, bias_rmse);
            mdl_plot_abline(fig, "noise floor (test)", 0, floor_rmse);
        }
        save_figure(fig, "07_rmse.svg");

        /* Predicted against true ratings of the test pairs: on the line y = x the model would
           have no estimation error at all. The cloud lies flatter than the line, high ratings
           predicted too low and low ones too high: the penalty pulls every prediction towards
           the mean, the price of not fitting noise. Then the learned film biases against the
           true ones. */
        int grad = mdl_set_grad_enabled(ar, 0);
        mdl_tensor *pred = mf_forward(ar, &model, test->x), *t = truth_of(ar, &w, test);
        double *px = (double *)malloc(sizeof(double) * test->n);
        double *py = (double *)malloc(sizeof(double) * test->n);
        double *bx = (double *)malloc(sizeof(double) * w.items);
        for (int r = 0; r < test->n; r++) px[r] = t->data[r], py[r] = pred->data[r];
        for (int i = 0; i < w.items; i++) bx[i] = model.item_bias.weight->data[i];
        mdl_set_grad_enabled(ar, grad);
        mdl_arena_reset(ar);
        fig = mdl_plot_new("Test ratings: predicted against true");
        mdl_plot_labels(fig, "true rating (without noise)", "predicted rating");
        mdl_plot_scatter(fig, "test pairs", test->n, px, py);
        mdl_plot_abline(fig, "predicted = true", 1, 0);
        mdl_plot_panel(fig, "Film biases: learned against true");
        mdl_plot_labels(fig, "true bias", "learned bias");
        mdl_plot_scatter(fig, "films", w.items, w.item_bias, bx);
        mdl_plot_abline(fig, "learned = true", 1, 0);
        save_figure(fig, "07_recovered.svg");
        free(px);
        free(py);
        free(bx);
    }
    printf("\npictures: 07_rmse.svg, 07_recovered.svg\n");

    /* ---- 11. The result, and checks ---------------------------------------------------------
       The factor model closes most of the distance from biases only down to the noise floor.
       What is left is estimation error from too few ratings per person: see exercise 2. */
    printf("result: test RMSE = %.2f (baseline biases only = %.2f; noise floor = %.2f)\n",
           test_rmse, bias_rmse, floor_rmse);
    check(floor_rmse > 0.9 * sigma && floor_rmse < 1.1 * sigma, "the noise floor is about sigma");
    check(bias_rmse < mean_rmse - 0.05, "biases only beat the mean rating");
    check(test_rmse < bias_rmse - (quick ? 0.15 : 0.2),
          "matrix factorisation beats biases only by a margin");
    check(test_rmse < (quick ? 1.4 : 1.35) * floor_rmse,
          "matrix factorisation comes near the noise floor");
    check(fabs(test_rmse * test_rmse - est_rmse * est_rmse - floor_rmse * floor_rmse) <
              (quick ? 0.08 : 0.04),
          "test RMSE^2 is about estimation error^2 + noise floor^2");
    check(r_item > 0.9 && r_user > 0.8, "the biases are recovered");
    check(s_item > 0.7, "the films' factors are recovered");
    check(mults[best] > 0, "a penalty helps");
    check(va_big[1][epochs - 1] < va_big[0][epochs - 1] - 0.1,
          "at rank 10 the penalty prevents overfitting");

    for (int r = 0; r < runs; r++) mdl_params_free(sweep[r].ps);
    for (int r = 0; r < 2; r++) mdl_params_free(big[r].ps);
    mdl_params_free(bias_only.ps);
    for (int p = 0; p < 3; p++) mdl_dataset_free(parts[p]);
    mdl_dataset_free(all);
    free(w.user_bias);
    free(w.item_bias);
    free(w.user_f);
    free(w.item_f);
    mdl_arena_free(ar);
    return failures ? 1 : 0;
}

/* EXERCISES
   1. Give the model rank 2, 3, 8 (w.rank stays 5; change the rank in step 4's mf_init and in
      the sweep). Too few factors cannot express the taste; too many need the penalty. Which
      rank has the lowest validation RMSE?
   2. Observe 20% and 40% of the cells instead of 10%. How fast does the estimation error
      fall, and what happens to the best lambda? Then 5%: where does the factor model stop
      beating biases only?
   3. Set sigma to 0.1 and to 1. Does the formula's lambda still point the right way?
   4. Round every observed rating to whole stars and clip it to 1..5 (step 2). The noise
      floor (the truth against the ratings) grows: by how much, and why is it no longer
      sigma? Does the model still get close to it?
   5. Train with mdl_sgd_new(model.ps, lr, 0) in mf_train instead of Adam. Rows of an
      embedding that are seldom looked up get few updates: how many epochs, and what lr,
      does SGD need?
*/
