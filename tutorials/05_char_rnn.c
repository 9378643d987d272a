/* 05_char_rnn.c - a recurrent network reads Jane Austen: a character-level language model

   GOAL
       Read Pride and Prejudice one character at a time and, at every character, give a
       probability to each character that could come next. The better those probabilities,
       the fewer bits an ideal coder driven by the model would need to store each character:
       bits per character, measured on the last tenth of the novel, which the model never
       trains on. Two baselines are computed first: the frequency of each character
       (unigram), and its frequency after the character before it (bigram). Last, the trained
       model writes: text drawn from it one character at a time, after "Elizabeth ".

   NEW SINCE 04
       Sequences, where the order is the information. A model with a state, carried from one
       character to the next: a recurrent neural network, as a plain RNN, an LSTM or a GRU.
       Backpropagation through time, truncated to windows of 64 characters, with the state
       carried from window to window. Exploding gradients, and gradient clipping. Bits per
       character, and sampling with a temperature.

   RUN (from tutorials/)
       gcc -O2 05_char_rnn.c -o 05_char_rnn -lm
       ./05_char_rnn                the lesson: an LSTM, 600 steps, about 10 seconds (40 on
                                    a very busy machine)
       ./05_char_rnn --cell gru     the same with a GRU; --cell rnn: a plain (tanh) RNN;
                                    --cell relu: a plain RNN with ReLU, which explodes
       ./05_char_rnn --no-clip      without gradient clipping
       ./05_char_rnn --quick        a short run for the tests (a smaller model, 80 steps),
                                    under a second, checked against bounds
       The options combine: ./05_char_rnn --cell relu --no-clip.

   PRINTS
       The text's size; the baselines in bits per character; the model; its training, every
       50 steps (bits per character on the training windows, the gradient norm, validation
       bits per character, seconds); 200 characters the model writes after "Elizabeth ",
       such as
           Elizabeth in the have a for a little in every for he againce earned her uncle at
           she four ened so been she feive as the propersurable at give immortion after ...
       and last
           result: validation bits per character = 2.22 (baseline bigram = 3.53)
       (the last digits may differ on another CPU, whose fast kernels round differently).
       Pictures, for a web browser:
           05_training.svg   bits per character and the gradient norm, step by step
           05_surprise.svg   the bits the model spends on each character of a sentence

   The data: tutorials/data/austen-pride-and-prejudice.txt, the whole novel (see
   data/README.md).
*/
#define MINIDL_IMPLEMENTATION
#include "../minidl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Processor seconds since the program started (ISO C's clock()): its running time, for a
   program on one thread. */
static double seconds(void) { return (double)clock() / CLOCKS_PER_SEC; }

/* Write a figure as an SVG file (saying why on stderr if it cannot), and free it. */
static void save_figure(mdl_plot *fig, const char *path) {
    if (mdl_plot_save(fig, path) != MDL_OK) fprintf(stderr, "%s\n", mdl_last_error());
    mdl_plot_free(fig);
}

/* The model of step 3: a recurrent layer over one-hot characters, and a Linear layer from its
   state to the next character's scores. */
typedef struct char_model {
    mdl_rnn rnn;
    mdl_layer head;
    int vocab;
} char_model;

/* The scores of the next character after every character of a window: ids [T,B] (B streams
   of text side by side, T characters of each) -> logits [T*B,V]. The state starts from h and
   c ([1,B,H]; NULL: zeros; c only for an LSTM); the state after the window goes to *h_n and
   *c_n. */
static mdl_tensor *model_forward(mdl_arena *ar, const char_model *m, mdl_tensor *ids,
                                 mdl_tensor *h, mdl_tensor *c, mdl_tensor **h_n,
                                 mdl_tensor **c_n) {
    mdl_tensor *x = mdl_one_hot(ar, ids, m->vocab);                    /* [T,B,V] */
    mdl_tensor *out = mdl_rnn_forward(ar, &m->rnn, x, h, c, h_n, c_n); /* [T,B,H] */
    mdl_tensor *logits = mdl_layer_forward(ar, &m->head, out);         /* [T,B,V] */
    int shape[2] = {ids->shape[0] * ids->shape[1], m->vocab};
    return mdl_reshape(ar, logits, 2, shape);
}

/* A window of a text read as B streams side by side: stream b is the stretch that starts at
   b * len. The window holds characters pos .. pos+T-1 of each stream, in ids [T,B], and the
   characters one further on, those to predict, in next [T*B]. */
static void window(mdl_arena *ar, const mdl_tensor *text, int B, int len, int pos, int T,
                   mdl_tensor **ids, mdl_tensor **next) {
    int shape[2] = {T, B}, n = T * B;
    *ids = mdl_zeros(ar, 2, shape);
    *next = mdl_zeros(ar, 1, &n);
    for (int t = 0; t < T; t++)
        for (int b = 0; b < B; b++) {
            size_t at = (size_t)b * len + pos + t;
            (*ids)->data[t * B + b] = text->data[at];
            (*next)->data[t * B + b] = text->data[at + 1];
        }
}

/* Bits per character of the model on a text: the text cut into B streams, read in windows of
   T with the state carried from window to window, as in training, but without a tape and
   without updates. h and c ([1,B,H]; c NULL but for an LSTM) hold the state. */
static double evaluate(mdl_arena *ar, const char_model *m, const mdl_tensor *text, int B,
                       int T, mdl_tensor *h, mdl_tensor *c) {
    int len = (int)((text->numel - 1) / B), grad = mdl_set_grad_enabled(ar, 0);
    double nll = 0;
    long count = 0;
    mdl_fill(h, 0);
    if (c) mdl_fill(c, 0);
    for (int pos = 0; pos < len; pos += T) {
        int steps = pos + T <= len ? T : len - pos;
        mdl_tensor *ids, *next, *h_n, *c_n;
        window(ar, text, B, len, pos, steps, &ids, &next);
        mdl_tensor *logits = model_forward(ar, m, ids, h, c, &h_n, c ? &c_n : NULL);
        nll += mdl_log_loss(logits, next) * next->numel; /* the mean in nats, times the count */
        count += (long)next->numel;
        mdl_copy(h, h_n);
        if (c) mdl_copy(c, c_n);
        mdl_arena_reset(ar);
    }
    mdl_set_grad_enabled(ar, grad);
    return mdl_bits_per_char(nll / count);
}

/* Draw a character from the model's scores: the probabilities softmax(logits / temperature)
   laid end to end on [0,1), and a uniform number in [0,1) picks the one it falls in. */
static int sample(const mdl_scalar *logits, int V, double temperature, mdl_rng *rng) {
    double p[256], max = logits[0], sum = 0, u;
    for (int k = 1; k < V; k++)
        if (logits[k] > max) max = logits[k];
    for (int k = 0; k < V; k++) sum += p[k] = exp((logits[k] - max) / temperature);
    u = mdl_rng_uniform(rng) * sum;
    for (int k = 0; k < V; k++)
        if ((u -= p[k]) < 0) return k;
    return V - 1;
}

int main(int argc, char **argv) {
    int quick = 0, clip = 1, bad = 0;
    mdl_rnn_mode cell = MDL_LSTM;
    const char *cell_name = "LSTM";
    for (int i = 1; i < argc && !bad; i++) {
        if (strcmp(argv[i], "--quick") == 0) quick = 1;
        else if (strcmp(argv[i], "--no-clip") == 0) clip = 0;
        else if (strcmp(argv[i], "--cell") == 0 && i + 1 < argc) {
            const char *c = argv[++i];
            if (strcmp(c, "lstm") == 0) cell = MDL_LSTM, cell_name = "LSTM";
            else if (strcmp(c, "gru") == 0) cell = MDL_GRU, cell_name = "GRU";
            else if (strcmp(c, "rnn") == 0) cell = MDL_RNN_TANH, cell_name = "RNN";
            else if (strcmp(c, "relu") == 0) cell = MDL_RNN_RELU, cell_name = "ReLU RNN";
            else bad = 1;
        } else bad = 1;
    }
    if (bad) {
        fprintf(stderr, "usage: %s [--quick] [--cell lstm|gru|rnn|relu] [--no-clip]\n", argv[0]);
        return 2;
    }
    mdl_arena *ar = mdl_arena_new(0);
    mdl_rng rng;
    mdl_rng_seed(&rng, 5);

    /* ---- 1. The data ---------------------------------------------------------------------
       The whole novel as one string; its distinct characters as the vocabulary (75 of them:
       letters, digits, punctuation, the space and the line break); the text as a tensor of
       their indices. The first 90% is for training, the last 10% (the end of the novel) for
       validation. --quick validates on the first twentieth of that only. */
    char *raw;
    size_t n_raw;
    if (mdl_read_text("data/austen-pride-and-prejudice.txt", 0, &raw, &n_raw) != MDL_OK) {
        fprintf(stderr, "%s\n", mdl_last_error());
        fprintf(stderr, "austen-pride-and-prejudice.txt should be in tutorials/data/ (run this "
                        "from tutorials/); to make it again: sh data/fetch.sh\n");
        return 1;
    }
    mdl_vocab *vocab = mdl_vocab_chars(raw, n_raw);
    int V = mdl_vocab_size(vocab);
    mdl_params *data = mdl_params_new();
    mdl_tensor *all;
    if (mdl_vocab_encode(data, "text", vocab, raw, n_raw, &all) != MDL_OK) {
        fprintf(stderr, "%s\n", mdl_last_error());
        return 1;
    }
    int n_train = (int)(n_raw * 9 / 10), n_val = (int)n_raw - n_train;
    if (quick) n_val /= 20;
    /* the two parts as tensors of their own: mdl_slice's views of `all` live in the arena,
       which every step empties, so they are copied into buffers of the data set */
    mdl_tensor *train_text = mdl_params_add_buffer(data, "train", 1, &n_train);
    mdl_tensor *val_text = mdl_params_add_buffer(data, "val", 1, &n_val);
    mdl_copy(train_text, mdl_slice(ar, all, 0, 0, n_train));
    mdl_copy(val_text, mdl_slice(ar, all, 0, n_train, n_train + n_val));
    mdl_arena_reset(ar);
    printf("1. data: %d characters, %d distinct; %d for training, %d for validation\n",
           (int)n_raw, V, n_train, n_val);

    /* ---- 2. Baselines ----------------------------------------------------------------------
       A language model gives a probability p(next | the text so far) to every character.
       Its loss on a text is the mean of -log2 p over the characters that really come next:
       bits per character (bpc), the length per character of the text compressed by an ideal
       coder that uses the model's probabilities. It is 02-03's cross-entropy, in bits (log2)
       instead of nats (ln): bpc = cross-entropy / ln 2. A model that knew nothing would give
       each of the 75 characters 1/75: log2 75 = 6.23 bits. Two models that only count:
         - unigram: p(next) = the share of `next` among the training text's characters. It
           knows that 'e' and ' ' are common and 'Z' is rare, and nothing else.
         - bigram: p(next | prev) = the share of `next` among the characters that follow
           `prev` in the training text. It knows that 'q' is followed by 'u', and that '.'
           is followed by a space or a line break.
       Every count gets 1 added (add-one smoothing), so that a pair never seen in training
       gets a small probability and not 0, whose -log2 would be infinite. */
    double *uni = (double *)malloc((size_t)V * sizeof(double));
    double *bi = (double *)malloc((size_t)V * V * sizeof(double));
    for (int k = 0; k < V; k++) uni[k] = 1;
    for (int k = 0; k < V * V; k++) bi[k] = 1;
    for (int i = 0; i < n_train; i++) uni[(int)train_text->data[i]] += 1;
    for (int i = 1; i < n_train; i++)
        bi[(int)train_text->data[i - 1] * V + (int)train_text->data[i]] += 1;
    double uni_bits = 0, bi_bits = 0;
    for (int i = 1; i < n_val; i++) { /* the characters the model will be asked about */
        int prev = (int)val_text->data[i - 1], next = (int)val_text->data[i];
        double row = 0; /* how often prev was followed by anything, smoothed */
        for (int k = 0; k < V; k++) row += bi[prev * V + k];
        uni_bits -= log2(uni[next] / (n_train + V));
        bi_bits -= log2(bi[prev * V + next] / row);
    }
    uni_bits /= n_val - 1;
    bi_bits /= n_val - 1;
    printf("2. baselines on the validation text, in bits per character: knowing nothing %.2f, "
           "unigram %.2f, bigram %.2f\n", log2(V), uni_bits, bi_bits);
    free(uni);
    free(bi);

    /* ---- 3. The model ----------------------------------------------------------------------
       A recurrent network reads x_1, x_2, ... one at a time (x_t is character t, one-hot: 75
       zeros and a 1 at its index) and keeps a state h_t of H numbers, made at every character
       from the state before and the new character:
           RNN    h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)
       The same weights serve every step, as a convolution's filter serves every place, so a
       state of H numbers sums up a text of any length. A Linear layer turns each h_t into 75
       scores for character t+1, and the loss is the cross-entropy of those scores against the
       character that came, at every position.

       Backpropagation through time. h_t depends on h_{t-1}, which depends on h_{t-2}, ...:
       unrolled over a window of T characters, the network is T layers deep, all sharing
       W_hh, and the backward pass runs down through all of them. The gradient that reaches
       step t-k from the loss at step t has been multiplied by k Jacobians, each
       W_hh^T diag(1 - h^2): if they shrink vectors it vanishes within some ten steps (a plain
       RNN hardly learns what a character 20 places back says), if they stretch them it
       explodes (step 5).

       The LSTM (Hochreiter and Schmidhuber, 1997) keeps a second state, the cell c, which
       changes only by what its gates let through:
           i = sigmoid(..), f = sigmoid(..), o = sigmoid(..)    input, forget, output gates
           g = tanh(..)                                         the candidate
           c_t = f * c_{t-1} + i * g        h_t = o * tanh(c_t)
       where each ".." is W_i. x_t + W_h. h_{t-1} + biases, with weights of its own. Along c
       the gradient is multiplied by f, a number the network learns, not by a weight matrix
       and a squashing: with f near 1 it travels far. The GRU (Cho et al., 2014) does the same
       with one state and three gates: h_t = (1 - z) * n + z * h_{t-1}, with n the candidate
       and z the update gate. mdl_rnn_layer makes PyTorch's nn.RNN, nn.LSTM or nn.GRU (its
       gate equations are in minidl.h, >>recurrent); --cell chooses. */
    int H = quick ? 32 : 128, B = quick ? 8 : 16, T = quick ? 32 : 64, val_B = quick ? 8 : 64;
    mdl_params *ps = mdl_params_new();
    char_model m;
    m.vocab = V;
    m.rnn = mdl_rnn_layer(ps, "rnn", cell, V, H, NULL, &rng);
    m.head = mdl_linear_layer(ps, "head", H, V, 1, &rng);
    printf("3. model: %s of %d units over one-hot characters, then Linear(%d, %d): %d "
           "weights\n", cell_name, H, H, V,
           (int)(mdl_rnn_param_count(&m.rnn) + mdl_layer_param_count(&m.head)));

    /* ---- 4. The windows, and the state carried between them (truncated BPTT) ---------------
       Backpropagation through the whole novel at once is out of the question: 600,000 steps
       deep. The training text is cut into B = 16 streams, each a sixteenth of it, read side
       by side, T = 64 characters of each at a time: a window is [T,B], and a step trains on
       one window. The next window goes on in each stream where this one stopped, and starts
       from the state this one ended with: the model can carry what it read across windows
       (who is speaking, an open quotation mark). But the gradient stops at the window's
       start (truncated backpropagation through time), or each step's backward pass would
       run back through every window before it. So the state is carried as a value, not as a
       node of the graph: it lives in persistent buffers (which have no gradient), goes into
       the layer as h0 (and c0), and is overwritten with h_n (and c_n) once the backward pass
       is done with the window. This is PyTorch's `h = h.detach()` between batches. At the
       end of the text the streams start again from their beginnings, and the state from 0. */
    int every = quick ? 40 : 50; /* a progress line and a validation pass every 50 steps */
    int len = (n_train - 1) / B, per_epoch = len / T;
    int steps = quick ? 80 : per_epoch - per_epoch % every; /* about one pass of the text */
    int state_shape[3] = {1, B, H}, val_shape[3] = {1, val_B, H};
    mdl_params *state = mdl_params_new();
    mdl_tensor *h = mdl_params_add_buffer(state, "train.h", 3, state_shape);
    mdl_tensor *c = cell == MDL_LSTM ? mdl_params_add_buffer(state, "train.c", 3, state_shape)
                                     : NULL;
    mdl_tensor *val_h = mdl_params_add_buffer(state, "val.h", 3, val_shape);
    mdl_tensor *val_c = c ? mdl_params_add_buffer(state, "val.c", 3, val_shape) : NULL;

    /* ---- 5. The optimizer, and gradient clipping -------------------------------------------
       Adam with lr 0.02: large for Adam (PyTorch's default is 0.001), right for a small model
       with one pass over its data. Before each update, mdl_clip_grad_norm measures the
       length of the whole gradient (the Euclidean norm of all the weights' gradients taken
       together) and, if it is above 1, scales it down to 1: the direction is kept, the step
       is shortened. It returns the norm it measured, which the loop logs.
       An exploding gradient shows there as a spike, thousands or millions of times the usual
       norm (which is below 1 here). The LSTM's and the GRU's gradients do not explode in this
       run, and a tanh RNN's seldom do (tanh keeps h within -1..1: its gradients vanish more
       often than they explode). A ReLU RNN has no such brake: at this learning rate its
       first steps make W_hh stretch the state, which then grows without bound along the
       window, and at step 5 the loss and the gradient norm are astronomical (--cell relu).
       Clipped, those few steps are only as long as any other, and the run recovers within
       50 steps and ends near 2.5 bits per character. Unclipped (--cell relu --no-clip) it
       ends near 3.0, and the reason is Adam: it divides each weight's step by the root of a
       running average of that weight's squared gradients, and that average remembers the
       spike. After the 600 steps some 3,500 of W_hh's 16,384 entries still have an average
       above 1, where 0.0001 is usual: their steps are a hundred times too short, and those
       weights have stopped learning. */
    mdl_optim *opt = mdl_adam_new(ps, 0.02);
    double max_norm = 1;

    /* ---- 6. Training -------------------------------------------------------------------- */
    int n_logs = steps / every + 1, logs = 0;
    double *step_x = (double *)malloc((size_t)steps * sizeof(double));
    double *step_bpc = (double *)malloc((size_t)steps * sizeof(double));
    double *step_norm = (double *)malloc((size_t)steps * sizeof(double));
    double *log_x = (double *)malloc((size_t)n_logs * sizeof(double));
    double *log_val = (double *)malloc((size_t)n_logs * sizeof(double));
    printf("\n4-6. training: %d streams of %d characters, windows of %d, %d steps (an epoch is "
           "%d)%s\n", B, len, T, steps, per_epoch, clip ? "" : ", no clipping");
    double t0 = seconds(), val_bpc = evaluate(ar, &m, val_text, val_B, T, val_h, val_c);
    double sum_bpc = 0, max_seen = 0;
    log_x[logs] = 0, log_val[logs++] = val_bpc;
    printf("   step    0  (untrained)                       val_bpc %.3f\n", val_bpc);
    for (int step = 0; step < steps; step++) {
        int pos = (step % per_epoch) * T;
        if (pos == 0) { /* the streams start from their beginnings: the state from zeros */
            mdl_fill(h, 0);
            if (c) mdl_fill(c, 0);
        }
        mdl_tensor *ids, *next, *h_n, *c_n;
        window(ar, train_text, B, len, pos, T, &ids, &next);
        mdl_tensor *logits = model_forward(ar, &m, ids, h, c, &h_n, c ? &c_n : NULL);
        mdl_tensor *loss = mdl_cross_entropy_loss(ar, logits, next, NULL); /* mean, nats */
        mdl_backward(loss);                 /* back to the window's start, no further */
        double norm = clip ? mdl_clip_grad_norm(ps, max_norm, 2) /* the norm before */
                           : mdl_grad_norm(ps);
        mdl_optim_step(opt);
        mdl_optim_zero_grad(opt);
        mdl_copy(h, h_n);                   /* the state goes on to the next window, */
        if (c) mdl_copy(c, c_n);            /* as a value (detached) */
        step_x[step] = step + 1;
        step_bpc[step] = mdl_bits_per_char(mdl_item(loss));
        step_norm[step] = norm;
        mdl_arena_reset(ar);                /* the window's graph is gone */
        sum_bpc += step_bpc[step];
        if (norm > max_seen) max_seen = norm;
        if ((step + 1) % every == 0) {
            val_bpc = evaluate(ar, &m, val_text, val_B, T, val_h, val_c);
            log_x[logs] = step + 1, log_val[logs++] = val_bpc;
            double mean = sum_bpc / every; /* %g: an exploded loss has many digits */
            printf(mean < 100 ? "   step %4d  bpc %.3f  grad_norm %6.3g (max %8.3g)  "
                                "val_bpc %.3f  %.1fs\n"
                              : "   step %4d  bpc %.3g  grad_norm %6.3g (max %8.3g)  "
                                "val_bpc %.3f  %.1fs\n",
                   step + 1, mean, norm, max_seen, val_bpc, seconds() - t0);
            sum_bpc = 0, max_seen = 0;
        }
    }
    /* The LSTM passes the unigram baseline within 50 steps and the bigram within 100: it has
       learned which characters follow which. From there it learns words (the space that
       ends one, the capital after ". "), and it ends one pass over the novel near 2.2 bits
       per character. The training windows' bpc is measured while the model is still
       learning from them, so it is no lower than the validation's: nothing is overfitted in
       one pass. */

    /* ---- 7. The model writes ---------------------------------------------------------------
       The model gives p(next | text so far): draw a character from it, print it, feed it back
       in as the next input, and again. One stream (B = 1) and windows of one character, the
       state carried from each to the next. First the prompt is read, its characters fed in
       one by one, its predictions ignored. The temperature divides the scores before the
       softmax: below 1 it sharpens the distribution towards the likeliest characters, above
       1 it flattens it. At 1 the text has more typos; towards 0 the model always takes its
       likeliest character, and soon repeats itself ("the the the"). */
    {
        const char *prompt = "Elizabeth ";
        int n_prompt = (int)strlen(prompt), n_out = 200, one[3] = {1, 1, H}, tb[2] = {1, 1};
        double temperature = 0.7;
        mdl_tensor *sh = mdl_params_add_buffer(state, "sample.h", 3, one);
        mdl_tensor *sc = c ? mdl_params_add_buffer(state, "sample.c", 3, one) : NULL;
        mdl_rng gen;
        mdl_rng_seed(&gen, 55);
        int grad = mdl_set_grad_enabled(ar, 0);
        char ch[2] = {prompt[0], 0};
        int k = mdl_vocab_index(vocab, ch);
        printf("\n7. %d characters from the model (temperature %.1f):\n\n%s", n_out, temperature,
               prompt);
        for (int i = 1; i < n_prompt + n_out; i++) {
            mdl_tensor *ids = mdl_zeros(ar, 2, tb), *h_n, *c_n;
            ids->data[0] = (mdl_scalar)k;
            mdl_tensor *logits = model_forward(ar, &m, ids, sh, sc, &h_n, sc ? &c_n : NULL);
            mdl_copy(sh, h_n);
            if (sc) mdl_copy(sc, c_n);
            if (i < n_prompt) { /* still reading the prompt */
                ch[0] = prompt[i];
                k = mdl_vocab_index(vocab, ch);
            } else {
                k = sample(logits->data, V, temperature, &gen);
                fputs(mdl_vocab_token(vocab, k), stdout);
            }
            mdl_arena_reset(ar);
        }
        printf("\n\n");
        mdl_set_grad_enabled(ar, grad);
    }
    /* Short common words spelled right ("the", "that", "she was not"), longer ones that only
       sound English ("instonits"), a capital after a full stop, commas and line breaks about
       where Austen puts them, and no sense beyond a few words. A state of 128 numbers trained
       for ten seconds holds spelling and a little grammar, not a plot. */

    /* ---- 8. Where the model is sure, and where it is not -----------------------------------
       The bits the model spends on each character of a sentence it never trained on: it reads
       the 256 characters before it (to build up its state), then the sentence. A word's first
       letter costs the most (which word comes?), its last letters little, and the space after
       a complete word almost nothing. In the default run the 'L' of "Lady" costs 8.5 bits (a
       capital in mid-sentence is rare), and the 'C' after "Lady " half a bit: the novel's
       Lady is Lady Catherine, and the model has learned it; "Cather" then costs 1.7 bits
       in all, the 'd' of "de" 6, and "ourgh" after "B" 1.6. */
    const char *sentence = "their visitor entered. It was Lady Catherine de Bourgh.";
    const char *found = strstr(raw + n_train, sentence);
    int at = found ? (int)(found - raw) - n_train : -1, n_s = (int)strlen(sentence);
    if (at >= 256 && at + n_s < n_val) {
        int grad = mdl_set_grad_enabled(ar, 0), read = 256 + n_s;
        int shape[2] = {read - 1, 1}, one_row[2] = {1, n_s - 1};
        mdl_cross_entropy_opts each = {MDL_NONE, NULL, 0, 0, 0};
        mdl_tensor *ids = mdl_reshape(ar, mdl_slice(ar, val_text, 0, at - 256, at + n_s - 1),
                                      2, shape); /* [T,1]: one stream */
        mdl_tensor *next = mdl_slice(ar, val_text, 0, at - 255, at + n_s);
        mdl_tensor *logits = model_forward(ar, &m, ids, NULL, NULL, NULL, NULL);
        mdl_tensor *nats = mdl_cross_entropy_loss(ar, logits, next, &each); /* [T] */
        /* the sentence's characters but its first (whose bits belong to the text before) */
        mdl_tensor *bits = mdl_reshape(ar, mdl_slice(ar, nats, 0, read - n_s, read - 1), 2,
                                       one_row);
        static char names[64][2];
        const char *col[64], *row[1] = {"bits"};
        for (int i = 0; i < n_s - 1; i++) {
            bits->data[i] = (mdl_scalar)mdl_bits_per_char(bits->data[i]);
            names[i][0] = sentence[i + 1] == ' ' ? '_' : sentence[i + 1];
            col[i] = names[i];
        }
        mdl_plot *fig = mdl_plot_new("Bits the model spends on each character (_ is a space)");
        mdl_plot_heatmap(fig, bits, row, col, 0);
        save_figure(fig, "05_surprise.svg");
        mdl_arena_reset(ar);
        mdl_set_grad_enabled(ar, grad);
    }

    /* ---- 9. The curves -------------------------------------------------------------------
       A y axis in powers of ten for the gradient norm, whose spikes can be millions of times
       its usual size; for the bpc too if training exploded (--cell relu). */
    {
        double top = 0;
        for (int s = 0; s < steps; s++)
            if (step_bpc[s] > top) top = step_bpc[s];
        mdl_plot *fig = mdl_plot_new("Bits per character");
        mdl_plot_labels(fig, "step", "bits per character");
        if (top > 20) mdl_plot_log_y(fig, 1);
        mdl_plot_line(fig, "training window", steps, step_x, step_bpc);
        mdl_plot_line(fig, "validation", logs, log_x, log_val);
        mdl_plot_abline(fig, "unigram", 0, uni_bits);
        mdl_plot_abline(fig, "bigram", 0, bi_bits);
        mdl_plot_panel(fig, clip ? "Gradient norm, before clipping to 1" : "Gradient norm");
        mdl_plot_labels(fig, "step", "norm");
        mdl_plot_log_y(fig, 1);
        mdl_plot_line(fig, "gradient norm", steps, step_x, step_norm);
        if (clip) mdl_plot_abline(fig, "max_norm", 0, max_norm);
        save_figure(fig, "05_training.svg");
    }
    printf("pictures: 05_training.svg, 05_surprise.svg\n");

    /* ---- 10. The result ---------------------------------------------------------------------
       The LSTM (and the GRU) must reach 2.5 bits per character; the plain RNNs must beat the
       bigram; --quick, 80 steps of a small model, must be half a bit below the unigram. */
    printf("result: validation bits per character = %.2f (baseline bigram = %.2f)\n", val_bpc,
           bi_bits);
    double bound = quick ? uni_bits - 0.5
                         : cell == MDL_LSTM || cell == MDL_GRU ? 2.5 : bi_bits;
    int ok = val_bpc <= bound && bi_bits < uni_bits;
    if (!ok)
        fprintf(stderr, "05_char_rnn: validation bits per character %.3f is above %.2f, or the "
                        "bigram's %.3f is not below the unigram's %.3f\n", val_bpc, bound,
                bi_bits, uni_bits);

    free(step_x);
    free(step_bpc);
    free(step_norm);
    free(log_x);
    free(log_val);
    mdl_optim_free(opt);
    mdl_params_free(state);
    mdl_params_free(ps);
    mdl_params_free(data);
    mdl_vocab_free(vocab);
    mdl_free(raw);
    mdl_arena_free(ar);
    return ok ? 0 : 1;
}

/* EXERCISES
   1. Run --cell gru and --cell rnn. Which reaches the lowest bits per character in the same
      number of steps, and which is fastest per step? (An LSTM has 4 gates, a GRU 3, an RNN
      1: count the weights in step 3's line.)
   2. Run --cell relu, then --cell relu --no-clip, and open 05_training.svg for each: where
      does the gradient norm spike, and how far behind is the unclipped run at the end?
   3. Change the temperature in step 7 to 0.3, 1.0 and 1.5. Which text looks most like
      English, and which is most varied?
   4. Shorten the windows to T = 16 (step 3). The state still carries across windows, but
      the gradient now reaches back 16 characters only: what happens to the bits per
      character?
   5. Replace the one-hot input by a learned embedding: an mdl_embedding_layer(ps, "emb", V,
      32, -1, &rng) in front of the recurrent layer (whose input is then 32 wide). One-hot
      times W_ih picks a column of W_ih, which is what an embedding does: is anything gained?
   6. Train for three epochs (steps = 3 * per_epoch) with H = 256. How low does the
      validation go, and when does the training bpc fall below it (overfitting, as in 03)?
*/
