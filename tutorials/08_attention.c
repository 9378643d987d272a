/* 08_attention.c - attention: a small transformer learns to reverse sequences

   GOAL
       Read a sequence of 12 digits, say 3 1 4 1 5 9 2 6 5 3 5 8, and write it backwards,
       8 5 3 5 6 2 9 5 1 4 1 3, all twelve outputs at once. One transformer block learns it
       and then reverses all of 2,000 sequences it has never seen without a mistake. We can
       watch how: the output at position i looks at the input at position 11 - i, and a
       picture of where each position looks shows that anti-diagonal. The same model without
       positional encodings cannot learn it at all, and the chapter explains why.

   NEW SINCE 07
       Attention: queries, keys and values, a softmax over the keys, and why the scores are
       divided by sqrt(d). A transformer encoder block (mdl_transformer_encoder_layer):
       attention, a small MLP per position, residual connections and LayerNorm. Positional
       encodings, learned (a table, as 07's embeddings) and sinusoidal (a formula), and why
       attention needs them. A classification at every position of a sequence (cross-entropy
       over [B*T, classes]). Training data drawn fresh at every step from a rule, with the
       test sequences kept out of it; accuracy per token and per whole sequence. A learning
       rate with warm-up.

   RUN (from tutorials/)
       gcc -O2 08_attention.c -o 08_attention -lm
       ./08_attention            the lesson: three models, about 2 seconds (8 on a busy
                                 machine)
       ./08_attention --quick    a short run for the tests (under a second), checked against
                                 bounds

   PRINTS
       The task and the held-out set; the model's parts; the training of three models (learned
       positions, sinusoidal positions, no positions), every tenth of the way: step, training
       loss, held-out token and sequence accuracy, seconds; a table of the three; a few
       held-out sequences reversed by each; the attention weights of one held-out sequence as
       numbers; and last
           result: held-out sequence accuracy = 1.000 (baseline no positional encoding = 0.000)
       (the digits of the tables may differ a little on another CPU, whose fast kernels round
       differently). Pictures, for a web browser:
           08_attention.svg  the attention weights of one held-out sequence, as heat maps: the
                             anti-diagonal (learned positions, sinusoidal), and no pattern of
                             positions at all (no positions)
           08_training.svg   the loss and the token accuracy of the training batches, step
                             by step

   The data: made by the program (no file needed).
*/
#define MINIDL_IMPLEMENTATION
#include "../minidl.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define T 12    /* sequence length */
#define V 10    /* symbols: the digits 0..9 */
#define D 32    /* the model's width: features per position */

/* Processor seconds since the program started (ISO C's clock(); the program runs on one
   thread, so this is its running time). */
static double seconds(void) { return (double)clock() / CLOCKS_PER_SEC; }

/* Write a figure as an SVG file (saying why on stderr if it cannot), and free it. */
static void save_figure(mdl_plot *fig, const char *path) {
    if (mdl_plot_save(fig, path) != MDL_OK) fprintf(stderr, "%s\n", mdl_last_error());
    mdl_plot_free(fig);
}

/* ---- The data -----------------------------------------------------------------------------
   A sequence is T digits drawn uniformly; its target is the same digits in reverse order.
   Each sequence gets a number, its digits read as a base-10 numeral, so that "is this one of
   the held-out sequences?" is a binary search in their sorted numbers. */
static unsigned long long seq_code(const mdl_scalar *s) {
    unsigned long long c = 0;
    for (int t = 0; t < T; t++) c = c * V + (unsigned long long)s[t];
    return c;
}

static int cmp_code(const void *a, const void *b) {
    unsigned long long x = *(const unsigned long long *)a, y = *(const unsigned long long *)b;
    return (x > y) - (x < y);
}

/* n sequences into x [n*T] and their reversals into y [n*T]. If `held_out` (n_held sorted
   numbers) is given, a drawn sequence that is one of them is drawn again, and counted in
   *redrawn: training never sees a held-out sequence. */
static void draw_sequences(mdl_rng *rng, int n, mdl_scalar *x, mdl_scalar *y,
                           const unsigned long long *held_out, int n_held, long *redrawn) {
    for (int i = 0; i < n; i++) {
        mdl_scalar *s = x + (size_t)i * T;
        for (;;) {
            for (int t = 0; t < T; t++) s[t] = (mdl_scalar)(int)(mdl_rng_uniform(rng) * V);
            unsigned long long c = seq_code(s);
            if (!held_out || !bsearch(&c, held_out, (size_t)n_held, sizeof c, cmp_code)) break;
            ++*redrawn;
        }
        for (int t = 0; t < T; t++) y[(size_t)i * T + t] = s[T - 1 - t];
    }
}

/* Print a sequence and the sequence it became, "3 1 4 -> 4 1 3": a digit of `out` that
   differs from `truth` (when given) in brackets. */
static void print_pair(const mdl_scalar *in, const mdl_scalar *out, const mdl_scalar *truth) {
    printf("    ");
    for (int t = 0; t < T; t++) printf(" %d", (int)in[t]);
    printf("  -> ");
    for (int t = 0; t < T; t++) {
        int wrong = truth && out[t] != truth[t];
        printf("%c%d%c", wrong ? '[' : ' ', (int)out[t], wrong ? ']' : ' ');
    }
    printf("\n");
}

/* ---- The model ----------------------------------------------------------------------------
   embedding + position -> one transformer encoder block -> Linear to V scores, per position.
   `positions` says which positional encoding: none, a learned table, or sinusoids. */
enum { POS_NONE, POS_LEARNED, POS_SINUSOIDAL };

typedef struct model {
    mdl_params *ps;              /* owns every parameter */
    int positions;
    mdl_layer embed;             /* Embedding(V, D): one vector per digit */
    mdl_transformer_layer block; /* attention + feed-forward, with residuals and LayerNorm */
    mdl_layer head;              /* Linear(D, V): the scores of the output digit */
    mdl_layer pos;               /* Embedding(T, D): one vector per position (POS_LEARNED) */
} model;

static model make_model(int positions, uint64_t seed) {
    model m;
    mdl_rng rng;
    mdl_rng_seed(&rng, seed); /* every model starts from the same weights (but the table) */
    mdl_transformer_opts o = mdl_transformer_defaults();
    o.dim_feedforward = 64; /* PyTorch's default is 2048: far more than this task needs */
    o.dropout = 0;          /* training data is unlimited here: nothing to overfit */
    o.batch_first = 1;      /* x [B,T,D] */
    memset(&m, 0, sizeof m);
    m.ps = mdl_params_new();
    m.positions = positions;
    m.embed = mdl_embedding_layer(m.ps, "embed", V, D, -1, &rng);
    m.block = mdl_transformer_encoder_layer(m.ps, "block", D, 1, &o, &rng); /* one head */
    m.head = mdl_linear_layer(m.ps, "head", D, V, 1, &rng);
    if (positions == POS_LEARNED) m.pos = mdl_embedding_layer(m.ps, "pos", T, D, -1, &rng);
    return m;
}

/* The input of the block: each digit's vector plus its position's, [B,T,D]. */
static mdl_tensor *embed(mdl_arena *ar, const model *m, mdl_tensor *x) {
    mdl_tensor *h = mdl_layer_forward(ar, &m->embed, x); /* [B,T] -> [B,T,D] */
    if (m->positions == POS_LEARNED) /* + [T,D], the same for every sequence of the batch */
        h = mdl_add(ar, h, mdl_learned_positions(ar, m->pos.weight, T));
    if (m->positions == POS_SINUSOIDAL) h = mdl_add(ar, h, mdl_sinusoidal_positions(ar, T, D));
    return h;
}

/* The scores of every output position: x [B,T] (digits) -> [B*T, V]. */
static mdl_tensor *forward(mdl_arena *ar, const model *m, mdl_tensor *x) {
    int shape[2] = {x->shape[0] * T, V};
    mdl_tensor *h = mdl_transformer_encoder_layer_forward(ar, &m->block, embed(ar, m, x), NULL);
    return mdl_reshape(ar, mdl_layer_forward(ar, &m->head, h), 2, shape);
}

/* The block's attention weights for x [B,T]: [B,T,T], row i the weights that query i gives
   to the keys 0..T-1. The block does not hand them out, but its attention is an
   mdl_mha of its own, and in this (post-norm) block it reads the block's input as it is. */
static mdl_tensor *attention_weights(mdl_arena *ar, const model *m, mdl_tensor *x) {
    mdl_tensor *h = embed(ar, m, x), *w;
    mdl_mha_forward(ar, &m->block.self_attn, h, h, h, NULL, &w);
    return w;
}

/* Accuracy on n sequences x, y [n*T]: per token, and per whole sequence (all T right), one
   forward pass without a tape. The predictions go to pred [n*T] if it is not NULL. Returns
   the sequence accuracy. */
static double evaluate(mdl_arena *ar, const model *m, int n, mdl_scalar *x, mdl_scalar *y,
                       double *token_acc, mdl_scalar *pred) {
    int shape[2] = {n, T}, grad = mdl_set_grad_enabled(ar, 0), right = 0, whole = 0;
    mdl_tensor *p = mdl_argmax(ar, forward(ar, m, mdl_wrap(ar, 2, shape, x)), 1, 0); /* [n*T] */
    for (int i = 0; i < n; i++) {
        int r = 0;
        for (int t = 0; t < T; t++) r += p->data[i * T + t] == y[i * T + t];
        right += r;
        whole += r == T;
    }
    if (pred) memcpy(pred, p->data, (size_t)n * T * sizeof(mdl_scalar));
    mdl_set_grad_enabled(ar, grad);
    mdl_arena_reset(ar);
    *token_acc = (double)right / ((double)n * T);
    return (double)whole / n;
}

/* What each run leaves for the table and the pictures. */
typedef struct run {
    const char *name;
    double seq_acc, token_acc, seconds;
    double *loss, *acc;    /* training loss and token accuracy of every step's batch */
} run;

int main(int argc, char **argv) {
    int quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
    if (argc > 2 || (argc == 2 && !quick)) {
        fprintf(stderr, "usage: %s [--quick]\n", argv[0]);
        return 2;
    }
    mdl_arena *ar = mdl_arena_new(0);
    mdl_rng rng;
    mdl_rng_seed(&rng, 8);

    /* ---- 1. The task and the held-out set -------------------------------------------------
       There are 10^12 sequences of 12 digits. We set 2,000 aside first, the held-out set, and
       draw the training sequences afterwards, 64 new ones at every step, redrawing any that
       happens to be a held-out one (with 10^12 to choose from, that should be none: the count
       is printed). So the held-out sequences are truly new to the model: it cannot have
       learned them by heart, only the rule. */
    int n_test = quick ? 100 : 2000;
    mdl_scalar *test_x = (mdl_scalar *)malloc((size_t)n_test * T * sizeof(mdl_scalar));
    mdl_scalar *test_y = (mdl_scalar *)malloc((size_t)n_test * T * sizeof(mdl_scalar));
    mdl_scalar test_pred[3 * T];
    unsigned long long *held = (unsigned long long *)malloc((size_t)n_test * sizeof *held);
    draw_sequences(&rng, n_test, test_x, test_y, NULL, 0, NULL);
    for (int i = 0; i < n_test; i++) held[i] = seq_code(test_x + (size_t)i * T);
    qsort(held, (size_t)n_test, sizeof *held, cmp_code);
    printf("1. the task: reverse %d digits 0..%d; %d held-out sequences, e.g.\n", T, V - 1, n_test);
    for (int i = 0; i < 2; i++) print_pair(test_x + i * T, test_y + i * T, NULL);

    /* ---- 2. Attention ---------------------------------------------------------------------
       Output position i must produce the input digit at position T-1-i. An MLP over the
       whole sequence could learn that with 12 separate wirings; a recurrent network (05)
       would read the 12 digits into its state and write them out again. Attention does it
       in one step: every position may look directly at every other, and learns where to
       look.

       Each position i has a vector h_i of D = 32 numbers (its digit's embedding plus its
       position's, step 3). Three Linear maps make three vectors of it:
           q_i = W_q h_i    the query: what position i is looking for
           k_j = W_k h_j    the key: what position j offers, to be found by
           v_j = W_v h_j    the value: what position j hands over when found
       Query i scores every key by a dot product, and a softmax over the keys turns the
       scores into weights that are positive and add up to 1:
           s_ij = q_i . k_j / sqrt(D)          a_ij = e^(s_ij) / sum over j' of e^(s_ij')
           out_i = sum over j of a_ij v_j
       out_i is a weighted mean of the values: mostly the value of the key that fits query i
       best. All of it is matrix products, Q K^T then A V, for all positions at once
       (mdl_scaled_dot_product_attention, whose weights A [T,T] we will look at).

       Why divide by sqrt(D)? With q and k of D numbers of about unit size, q . k is a sum of
       D products, whose typical size grows as sqrt(D): 5.7 for D = 32. Scores that large
       make the softmax nearly one-hot from the first step, and there its gradient is nearly
       0: a small change of the scores changes nothing, and nothing learns. Dividing by
       sqrt(D) keeps the scores near unit size whatever D is.

       The transformer block (mdl_transformer_encoder_layer, as PyTorch's
       nn.TransformerEncoderLayer) wraps attention with what makes it trainable:
           h = LayerNorm(h + Attention(h))     the residual: attention adds to h, it does not
                                               replace it, so the digit at i is still there
           h = LayerNorm(h + FF(h))            FF: an MLP D -> 64 -> D, the same at every
                                               position, to work on what attention gathered
       LayerNorm rescales each position's vector to mean 0 and variance 1 (then a learned
       scale and shift), which keeps the sizes steady through the residual sums. A Linear
       layer then gives each position's 10 scores. Real transformers have several heads (each
       with its own W_q, W_k, W_v on D/heads features, looking for different things at once)
       and many blocks; one block with one head is enough to reverse. */

    /* ---- 3. Positions: why attention needs them ------------------------------------------
       Attention by itself does not know where anything is. The scores s_ij depend only on
       the vectors h_i and h_j, and the sum over j does not care about order: shuffle the
       input digits, and every output moves with its digit but is otherwise the same
       (attention is permutation-equivariant). Without positions, output i can depend only on
       its own digit and on the bag of all the digits: two 7s in a sequence get the same
       output, and "the digit 11 - i places away" is not something the model can even
       express. So we add to each digit's vector a vector that says where it is:
         - learned: a table of T rows of D numbers, trained with the rest, as 07's embeddings
           (mdl_learned_positions; BERT and GPT-2 do this);
         - sinusoidal, fixed: pe[t, 2i] = sin(t / 10000^(2i/D)), pe[t, 2i+1] = cos(...),
           waves of many wavelengths (mdl_sinusoidal_positions; "Attention is all you need").
           Each (sin, cos) pair is a point on a circle at the angle w t; the mirrored
           position T-1-t is at the angle w (T-1) - w t, the reflection of that point in a
           fixed line. So the vector of the mirrored position is one fixed linear map of the
           position's own vector, a map that W_q and W_k can learn.
       The reversal then becomes: query i (from position i) must match key T-1-i (from the
       mirrored position), whatever the digits; the value carries the digit across. We train
       three models, identical but for the positions, and compare. */
    enum { RUNS = 3 };
    static const int run_pos[RUNS] = {POS_LEARNED, POS_SINUSOIDAL, POS_NONE};
    static const char *run_name[RUNS] = {"learned positions", "sinusoidal positions",
                                         "no positions"};
    {
        model m = make_model(POS_LEARNED, 1);
        int n_params = 0;
        for (int i = 0; i < mdl_params_count(m.ps); i++)
            n_params += (int)mdl_numel(mdl_params_get(m.ps, i));
        printf("\n2-3. the model: %d parameters in %d tensors\n", n_params, mdl_params_count(m.ps));
        for (int i = 0; i < mdl_params_count(m.ps); i++) {
            char shape[64];
            mdl_tensor *p = mdl_params_get(m.ps, i);
            printf("   %-32s %s\n", p->name, mdl_shape_str(p, shape, sizeof shape));
        }
        mdl_params_free(m.ps);
    }

    /* ---- 4. Training ----------------------------------------------------------------------
       Each step: 64 fresh sequences, the scores of all 64 x 12 output positions [768, 10],
       and the cross-entropy of each against its target digit, averaged: every position is a
       ten-class classification, as in 03. Adam, with a learning rate that rises linearly
       from 0.001 to 0.003 over the first 100 steps (a warm-up), then falls along a half
       cosine to 0 at the last step (as in 04). The warm-up is a transformer habit: at the
       start Adam's steps are full-size in every direction while its running averages of the
       gradients are still guesses, and a post-norm block (LayerNorm after the residual, as
       here and in the original transformer) can diverge under large early steps (Xiong et
       al., 2020). Every tenth of the way, the held-out set is evaluated. */
    int batch = quick ? 16 : 64, steps[RUNS];
    steps[0] = quick ? 100 : 500;
    steps[1] = quick ? 20 : 500;
    steps[2] = quick ? 20 : 250; /* it stops improving early: see the table */
    int xs[2] = {batch, T}, ys[1] = {batch * T};
    mdl_scalar *x = (mdl_scalar *)malloc((size_t)batch * T * sizeof(mdl_scalar));
    mdl_scalar *y = (mdl_scalar *)malloc((size_t)batch * T * sizeof(mdl_scalar));
    run runs[RUNS];
    model models[RUNS];
    long redrawn = 0, drawn = 0;
    for (int r = 0; r < RUNS; r++) {
        run *R = &runs[r];
        model *m = &models[r];
        *m = make_model(run_pos[r], 1);
        mdl_rng data;
        mdl_rng_seed(&data, 100); /* every run sees the same training sequences */
        mdl_optim *opt = mdl_adam_new(m->ps, 0.003);
        mdl_schedule_opts cosine = mdl_schedule_defaults(MDL_LR_COSINE);
        cosine.warmup_steps = quick ? 10 : 100; /* from 0.001 up to 0.003, */
        cosine.t_max = steps[r] - cosine.warmup_steps; /* then down to 0 at the last step */
        mdl_scheduler *sched = mdl_scheduler_new(opt, &cosine);
        int every = steps[r] / 10;
        memset(R, 0, sizeof *R);
        R->name = run_name[r];
        R->loss = (double *)malloc((size_t)steps[r] * sizeof(double));
        R->acc = (double *)malloc((size_t)steps[r] * sizeof(double));
        printf("\n4. training with %s, %d steps of %d sequences\n", run_name[r], steps[r], batch);
        printf("    step   loss    held-out: token acc  sequence acc   seconds\n");
        double t0 = seconds(), loss_sum = 0;
        for (int s = 0; s <= steps[r]; s++) {
            if (s % every == 0) { /* the held-out set, before step s */
                double tok, seq = evaluate(ar, m, n_test, test_x, test_y, &tok, NULL);
                R->token_acc = tok, R->seq_acc = seq; /* the last ones are the result */
                if (s == 0) printf("   %5d       -", s); /* no training loss yet */
                else printf("   %5d  %6.4f", s, loss_sum / every);
                printf("             %6.4f        %6.4f   %6.2f\n", tok, seq, seconds() - t0);
                loss_sum = 0;
            }
            if (s == steps[r]) break;
            draw_sequences(&data, batch, x, y, held, n_test, &redrawn);
            drawn += batch;
            mdl_tensor *logits = forward(ar, m, mdl_wrap(ar, 2, xs, x)); /* [768,10] */
            mdl_tensor *loss = mdl_cross_entropy_loss(ar, logits, mdl_wrap(ar, 1, ys, y), NULL);
            mdl_tensor *pred = mdl_argmax(ar, logits, 1, 0);
            int right = 0;
            for (int i = 0; i < batch * T; i++) right += pred->data[i] == y[i];
            R->acc[s] = (double)right / (batch * T);
            R->loss[s] = mdl_item(loss);
            loss_sum += R->loss[s];
            mdl_backward(loss);
            mdl_optim_step(opt);
            mdl_optim_zero_grad(opt);
            mdl_scheduler_step(sched); /* the learning rate of the next step */
            mdl_arena_reset(ar);
        }
        R->seconds = seconds() - t0;
        mdl_scheduler_free(sched);
        mdl_optim_free(opt);
    }
    printf("\n   %ld training sequences drawn; %ld of them were held-out ones and were drawn "
           "again\n", drawn, redrawn);

    /* ---- 5. Evaluation on the held-out sequences ------------------------------------------
       How well could any model without positions do? It sees its own digit and the bag of
       digits, and the target is one of the other 11 digits, each equally likely to be the
       one at the mirrored place. Its best guess is the most common digit among those 11,
       right max_count / 11 of the time; averaged over the held-out set, that is its ceiling.
       (An expectation: which of the 11 digits really sits at the mirrored place is luck, so
       on one particular set a model may land a few thousandths above it.) A whole sequence
       needs all 12 guesses right, about 0.27^12 = 1 in 7 million. */
    double ceiling = 0;
    for (int i = 0; i < n_test; i++)
        for (int t = 0; t < T; t++) {
            int count[V] = {0}, most = 0;
            for (int u = 0; u < T; u++)
                if (u != t) count[(int)test_x[i * T + u]]++;
            for (int k = 0; k < V; k++)
                if (count[k] > most) most = count[k];
            ceiling += (double)most / (T - 1) / ((double)n_test * T);
        }
    printf("\n5. on the %d held-out sequences (%d digits):\n", n_test, n_test * T);
    printf("   %-22s %10s %13s %8s\n", "model", "token acc", "sequence acc", "seconds");
    for (int r = 0; r < RUNS; r++)
        printf("   %-22s %10.4f %13.4f %8.2f\n", runs[r].name, runs[r].token_acc,
               runs[r].seq_acc, runs[r].seconds);
    printf("   %-22s %10.4f\n", "chance", 1.0 / V);
    printf("   %-22s %10.4f   (the best a model without positions can do, on average)\n",
           "position-blind ceiling", ceiling);

    /* A few held-out sequences, and what each model wrote (a wrong digit in brackets). */
    for (int r = 0; r < RUNS; r++) {
        double tok;
        evaluate(ar, &models[r], 3, test_x, test_y, &tok, test_pred);
        printf("   %s:\n", run_name[r]);
        for (int i = 0; i < 3; i++)
            print_pair(test_x + i * T, test_pred + i * T, test_y + i * T);
    }

    /* ---- 6. Where does each position look? ------------------------------------------------
       The attention weights of the first held-out sequence: row i is output position i (the
       query), column j input position j (the key), each row adds up to 1. */
    int show = 0, one[2] = {1, T};
    mdl_tensor *weights[RUNS];
    static char row_text[T][16], col_text[T][16];
    const char *row_names[T], *col_names[T];
    for (int t = 0; t < T; t++) {
        snprintf(row_text[t], sizeof row_text[t], "%d: %d", t, (int)test_y[show * T + t]);
        snprintf(col_text[t], sizeof col_text[t], "%d: %d", t, (int)test_x[show * T + t]);
        row_names[t] = row_text[t];
        col_names[t] = col_text[t];
    }
    int grad = mdl_set_grad_enabled(ar, 0);
    for (int r = 0; r < RUNS; r++) {
        int sq[2] = {T, T};
        mdl_tensor *w = attention_weights(ar, &models[r], mdl_wrap(ar, 2, one, test_x + show * T));
        weights[r] = mdl_reshape(ar, w, 2, sq); /* [1,T,T] -> [T,T] */
    }
    mdl_set_grad_enabled(ar, grad);
    printf("\n6. the attention weights of the learned-positions model for one held-out "
           "sequence\n   (row i: output position i, the query; column j: input position j, the "
           "key)\n   %-21s", "input position j");
    for (int j = 0; j < T; j++) printf(" %4d", j);
    printf("\n   %-21s", "input digit");
    for (int j = 0; j < T; j++) printf(" %4d", (int)test_x[show * T + j]);
    printf("\n   output position i, digit\n");
    for (int i = 0; i < T; i++) {
        printf("   %4d  %-15d", i, (int)test_y[show * T + i]);
        for (int j = 0; j < T; j++) printf(" %4.2f", weights[0]->data[i * T + j]);
        printf("\n");
    }
    /* Each row's weight sits on the mirrored column: output 0 takes the last input digit,
       output 11 the first. The sinusoidal model finds the same anti-diagonal, but blurred:
       neighbouring positions have similar sinusoids (the slow waves hardly change from one
       position to the next), so the query that fits key T-1-i also half fits its neighbours.
       It still gets every digit right, because most of the weight is on the right one
       (exercise 2 looks into the blur). Without positions the weights can only follow the
       digits: columns holding the same digit get the same weight in every row, and queries
       from the same digit (rows 3, 4 and 8 come from the 6s) make the same row. */
    {
        mdl_plot *fig = mdl_plot_new("Attention weights: learned positions");
        for (int r = 0; r < RUNS; r++) {
            char title[64];
            snprintf(title, sizeof title, "Attention weights: %s", run_name[r]);
            if (r > 0) mdl_plot_panel(fig, title);
            mdl_plot_labels(fig, "key (input position: digit)", "query (output position: digit)");
            mdl_plot_heatmap(fig, weights[r], row_names, col_names, 0);
        }
        save_figure(fig, "08_attention.svg");
    }
    mdl_arena_reset(ar);

    /* The training curves: the loss and the token accuracy of each step's batch, averaged
       over 25 steps to calm the noise. Each batch is new to the model when it is scored (its
       update comes after), so the accuracy curve is an honest estimate too. */
    {
        int win = quick ? 5 : 25;
        char title[64];
        snprintf(title, sizeof title, "Training loss (means of %d steps)", win);
        mdl_plot *fig = mdl_plot_new(title);
        for (int panel = 0; panel < 2; panel++) {
            if (panel == 1) mdl_plot_panel(fig, "Token accuracy of the training batches");
            mdl_plot_labels(fig, "step", panel == 0 ? "cross-entropy" : "accuracy");
            mdl_plot_log_y(fig, panel == 0);
            for (int r = 0; r < RUNS; r++) {
                int n = steps[r] / win;
                const double *v = panel == 0 ? runs[r].loss : runs[r].acc;
                double *sx = (double *)malloc((size_t)n * sizeof(double));
                double *sy = (double *)malloc((size_t)n * sizeof(double));
                for (int i = 0; i < n; i++) {
                    sx[i] = (i + 1) * win, sy[i] = 0;
                    for (int k = i * win; k < (i + 1) * win; k++) sy[i] += v[k] / win;
                }
                mdl_plot_line(fig, run_name[r], n, sx, sy);
                free(sx);
                free(sy);
            }
        }
        save_figure(fig, "08_training.svg");
    }
    printf("\npictures: 08_attention.svg, 08_training.svg\n");

    /* ---- 7. The result ----------------------------------------------------------------------
       Every held-out sequence reversed without a mistake, by one block with one head, where
       the same block without positions stays at the position-blind ceiling. */
    printf("result: held-out sequence accuracy = %.3f (baseline no positional encoding = %.3f)\n",
           runs[0].seq_acc, runs[2].seq_acc);
    /* The bounds. Default: every held-out sequence right, and the model without positions
       above chance but not above the ceiling. --quick (100 short steps): most digits right,
       and the blind model not above the ceiling (after 20 steps it is barely above chance). */
    double bound = quick ? 0.8 : 1.0, blind_min = quick ? 0 : 1.0 / V;
    double main_metric = quick ? runs[0].token_acc : runs[0].seq_acc;
    int ok = main_metric >= bound && runs[2].token_acc > blind_min &&
             runs[2].token_acc <= ceiling + 0.03;
    if (!ok)
        fprintf(stderr, "08_attention: held-out %s accuracy %.3f is below %.2f, or the model "
                        "without positions (token accuracy %.3f) is not between %.2f and the "
                        "position-blind ceiling %.3f\n", quick ? "token" : "sequence",
                main_metric, bound, runs[2].token_acc, blind_min, ceiling);

    for (int r = 0; r < RUNS; r++) {
        free(runs[r].loss);
        free(runs[r].acc);
        mdl_params_free(models[r].ps);
    }
    free(x);
    free(y);
    free(held);
    free(test_x);
    free(test_y);
    mdl_arena_free(ar);
    return ok ? 0 : 1;
}

/* EXERCISES
   1. Two heads (the 1 in make_model's mdl_transformer_encoder_layer call). Do they split the
      work? Set per_head_weights = 1 in an mdl_mha_args given to mdl_mha_forward in
      attention_weights, and draw each head's [T,T] as a heat map of its own.
   2. Why is the sinusoidal anti-diagonal blurred? Print the dot products pe[5] . pe[j] of
      the rows of mdl_sinusoidal_positions(ar, 12, 32), for every j: how far below the peak
      at j = 5 are its neighbours? And for rows of a random table like the learned one's
      starting point (mdl_randn)?
   3. The scale 1/sqrt(D) at work: make q and k [12, D] with mdl_randn for D = 4, 32 and 512,
      and print the largest attention weight of each row from mdl_scaled_dot_product_attention
      (v = k will do), with opts NULL (the default scale) and with opts.scale = 1.
   4. Attention is the part that matters here: replace the block by h + mdl_mha_forward(h)
      (an mdl_mha_layer of its own, no feed-forward, no LayerNorm), then the head. Does it
      still learn to reverse? And with the feed-forward but without the attention?
   5. Longer sequences: T = 16. How many steps does each kind of position need now? (Up to
      T = 19, seq_code's numbers still fit in 64 bits.)
   6. Sort instead of reverse: the target at position i is the i-th smallest digit. Is one
      block enough? Where does each position look now?
*/
