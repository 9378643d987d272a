/* tests/test_metrics.c - the metrics on small cases worked out by hand (each computation is in
   the comment beside it): accuracy from scores and from predicted classes, ties in the argmax
   (the first class wins, as torch.argmax), NaN scores, the binary form with its threshold,
   top-k, the confusion matrix and precision / recall / F1 per class and averaged (sklearn's
   definitions, a class absent from the targets, a class never predicted), the printed tables,
   R^2, MAE, RMSE, log-loss (stable for logits of 1000), perplexity and bits per character,
   zero samples, and every contract error with a capturing handler.

   gcc -std=c99 -O1 -g -Wall -Wextra -Wpedantic -Werror -I. tests/test_metrics.c \
       -o build/test_metrics -lm
*/
#define MINIDL_IMPLEMENTATION
#include "minidl.h"
#include "test.h"

#include <stdlib.h>

static mdl_arena *ar;

/* A tensor holding the given values (as mdl_scalar). */
static mdl_tensor *tensor(int ndim, const int *shape, const double *v) {
    mdl_tensor *t = mdl_zeros(ar, ndim, shape);
    size_t i;
    for (i = 0; t && i < t->numel; i++) t->data[i] = (mdl_scalar)v[i];
    return t;
}
static mdl_tensor *vec(int n, const double *v) { return tensor(1, &n, v); }
static mdl_tensor *mat(int r, int c, const double *v) {
    int shape[2];
    shape[0] = r;
    shape[1] = c;
    return tensor(2, shape, v);
}

#define EXACT 1e-12 /* ratios of counts and sums of values exact in float: only rounding */

/* Everything a stream received, read back from a temporary file. */
static char stream_text[8192];
static const char *read_back(FILE *f) {
    size_t n;
    rewind(f);
    n = fread(stream_text, 1, sizeof stream_text - 1, f);
    stream_text[n] = 0;
    fclose(f);
    return stream_text;
}

static void test_accuracy(void) {
    /* rows and their argmax, against the targets 1 0 2 0 2:
         [0.1  2   -1 ] -> 1  right
         [3    3    1 ] -> 0  right: a tie of 0 and 1, the first wins (torch.argmax)
         [0    1    1 ] -> 1  wrong: a tie of 1 and 2 goes to 1, the target is 2
         [-5  -2   -3 ] -> 1  wrong
         [0.5  0.2  0.9] -> 2  right
       3 of 5: 0.6 */
    static const double s[15] = {0.1, 2, -1, 3, 3, 1, 0, 1, 1, -5, -2, -3, 0.5, 0.2, 0.9};
    static const double y[5] = {1, 0, 2, 0, 2};
    mdl_tensor *scores = mat(5, 3, s), *target = vec(5, y);
    CHECK_NEAR(mdl_accuracy(scores, target), 0.6, EXACT, "accuracy of 5 rows");
    {
        /* the tie alone: [3 3 1] predicts 0, so target 0 is right (1) and target 1 wrong (0) */
        static const double tie[3] = {3, 3, 1}, y0 = 0, y1 = 1;
        CHECK_NEAR(mdl_accuracy(mat(1, 3, tie), vec(1, &y0)), 1, 0, "tie: first wins");
        CHECK_NEAR(mdl_accuracy(mat(1, 3, tie), vec(1, &y1)), 0, 0, "tie: not the second");
    }
    {
        /* NaN counts as the largest score, as in torch.argmax: [1 NaN 5] predicts 1 */
        double nan_row[3] = {1, NAN, 5}, y1 = 1;
        CHECK_NEAR(mdl_accuracy(mat(1, 3, nan_row), vec(1, &y1)), 1, 0, "NaN is the argmax");
    }
    {
        /* predicted classes: 0 2 1 1 against 0 1 1 1: right, wrong, right, right = 3/4 */
        static const double pred[4] = {0, 2, 1, 1}, t[4] = {0, 1, 1, 1};
        CHECK_NEAR(mdl_accuracy(vec(4, pred), vec(4, t)), 0.75, 0, "accuracy of classes");
    }
}

static void test_binary_accuracy(void) {
    /* probabilities 0.9 0.4 0.5 0.7 NaN with threshold 0.5 predict 1 0 0 1 0 (0.5 > 0.5 is
       false, and so is NaN > 0.5); targets 1 0 1 0 1: right, right, wrong, wrong, wrong = 2/5 */
    double p[5] = {0.9, 0.4, 0.5, 0.7, NAN};
    static const double t[5] = {1, 0, 1, 0, 1};
    CHECK_NEAR(mdl_binary_accuracy(vec(5, p), vec(5, t), 0.5), 0.4, EXACT, "probabilities");
    {
        /* logits 2 -1 0 0.3 with threshold 0 predict 1 0 0 1; targets 1 0 0 1: all right */
        static const double x[4] = {2, -1, 0, 0.3}, y[4] = {1, 0, 0, 1};
        CHECK_NEAR(mdl_binary_accuracy(vec(4, x), vec(4, y), 0), 1, 0, "logits");
        /* [2,2] multi-label: the same 4 values, the same answer, element by element */
        CHECK_NEAR(mdl_binary_accuracy(mat(2, 2, x), mat(2, 2, y), 0), 1, 0, "[2,2] labels");
    }
}

static void test_top_k(void) {
    /* the rank of the target = classes with a larger score, plus those with an equal score
       and a smaller index (the argmax's order):
         [0.1 0.5 0.3 0.2] target 2: only 0.5 is larger         -> rank 1
         [1   1   1   0  ] target 2: classes 0 and 1 tie, first -> rank 2
         [0   0.9 0.1 0.8] target 0: 0.9, 0.1, 0.8 are larger   -> rank 3
       a hit in the top k when rank < k: k=1: 0/3, k=2: 1/3, k=3: 2/3, k=4: 3/3 */
    static const double s[12] = {0.1, 0.5, 0.3, 0.2, 1, 1, 1, 0, 0, 0.9, 0.1, 0.8};
    static const double y[3] = {2, 2, 0};
    mdl_tensor *scores = mat(3, 4, s), *target = vec(3, y);
    CHECK_NEAR(mdl_top_k_accuracy(scores, target, 1), 0, 0, "top-1");
    CHECK_NEAR(mdl_top_k_accuracy(scores, target, 2), 1.0 / 3, EXACT, "top-2");
    CHECK_NEAR(mdl_top_k_accuracy(scores, target, 3), 2.0 / 3, EXACT, "top-3");
    CHECK_NEAR(mdl_top_k_accuracy(scores, target, 4), 1, 0, "top-4");
    /* top-1 is the accuracy: the argmaxes 1, 0, 1 miss all three targets */
    CHECK_NEAR(mdl_accuracy(scores, target), 0, 0, "top-1 = accuracy");
    {
        /* NaN ranks first: [NaN 5 1] target 1 has rank 1 (only the NaN is before it) */
        double r[3] = {NAN, 5, 1}, t = 1;
        CHECK_NEAR(mdl_top_k_accuracy(mat(1, 3, r), vec(1, &t), 1), 0, 0, "NaN first");
        CHECK_NEAR(mdl_top_k_accuracy(mat(1, 3, r), vec(1, &t), 2), 1, 0, "then 5");
    }
}

/* cm[i][j] of a [C,C] tensor */
static double cm_at(const mdl_tensor *cm, int i, int j) {
    return (double)cm->data[i * cm->shape[1] + j];
}

static void test_confusion_and_prf(void) {
    /* The accuracy case again: (true, predicted) = (1,1) (0,0) (2,1) (0,1) (2,2), so
           true 0: [1 1 0]    row sums (samples)     2 1 2
           true 1: [0 1 0]    column sums (predicted) 1 3 1
           true 2: [0 1 1]    diagonal (right)       1 1 1
       precision = diagonal / column: 1/1, 1/3, 1/1
       recall    = diagonal / row:    1/2, 1/1, 1/2
       F1 = 2 diag / (row + column):  2/3, 2/4, 2/3  (= 2PR/(P+R): 2*1*.5/1.5 = 2/3 ...)
       macro:    P (1 + 1/3 + 1)/3 = 7/9, R (1/2 + 1 + 1/2)/3 = 2/3, F1 (2/3 + 1/2 + 2/3)/3 = 11/18
       weighted by the rows 2 1 2 over 5: P (2 + 1/3 + 2)/5 = 13/15, R (1 + 1 + 1)/5 = 3/5
       (the accuracy), F1 (4/3 + 1/2 + 4/3)/5 = 19/30 */
    static const double s[15] = {0.1, 2, -1, 3, 3, 1, 0, 1, 1, -5, -2, -3, 0.5, 0.2, 0.9};
    static const double y[5] = {1, 0, 2, 0, 2};
    static const double want[9] = {1, 1, 0, 0, 1, 0, 0, 1, 1};
    mdl_tensor *cm = mdl_confusion_matrix(ar, mat(5, 3, s), vec(5, y), 0);
    int i;
    CHECK(cm && cm->ndim == 2 && cm->shape[0] == 3 && cm->shape[1] == 3, "cm is [3,3]");
    if (!cm) return;
    for (i = 0; i < 9; i++)
        CHECK(cm->data[i] == want[i], "cm[%d][%d] = %g, want %g", i / 3, i % 3,
              (double)cm->data[i], want[i]);
    CHECK_NEAR(mdl_precision(cm, 0), 1, EXACT, "P0");
    CHECK_NEAR(mdl_precision(cm, 1), 1.0 / 3, EXACT, "P1");
    CHECK_NEAR(mdl_precision(cm, 2), 1, EXACT, "P2");
    CHECK_NEAR(mdl_recall(cm, 0), 0.5, EXACT, "R0");
    CHECK_NEAR(mdl_recall(cm, 1), 1, EXACT, "R1");
    CHECK_NEAR(mdl_recall(cm, 2), 0.5, EXACT, "R2");
    CHECK_NEAR(mdl_f1_score(cm, 0), 2.0 / 3, EXACT, "F1 0");
    CHECK_NEAR(mdl_f1_score(cm, 1), 0.5, EXACT, "F1 1");
    CHECK_NEAR(mdl_f1_score(cm, 2), 2.0 / 3, EXACT, "F1 2");
    CHECK_NEAR(mdl_precision(cm, MDL_MACRO_AVG), 7.0 / 9, EXACT, "macro P");
    CHECK_NEAR(mdl_recall(cm, MDL_MACRO_AVG), 2.0 / 3, EXACT, "macro R");
    CHECK_NEAR(mdl_f1_score(cm, MDL_MACRO_AVG), 11.0 / 18, EXACT, "macro F1");
    CHECK_NEAR(mdl_precision(cm, MDL_WEIGHTED_AVG), 13.0 / 15, EXACT, "weighted P");
    CHECK_NEAR(mdl_recall(cm, MDL_WEIGHTED_AVG), 0.6, EXACT, "weighted R = accuracy");
    CHECK_NEAR(mdl_f1_score(cm, MDL_WEIGHTED_AVG), 19.0 / 30, EXACT, "weighted F1");
    {
        /* the same from predicted classes [N] and num_classes */
        static const double pred[5] = {1, 0, 1, 1, 2};
        mdl_tensor *cm2 = mdl_confusion_matrix(ar, vec(5, pred), vec(5, y), 3);
        int same = cm2 != NULL;
        for (i = 0; same && i < 9; i++) same = cm2->data[i] == want[i];
        CHECK(same, "cm from predicted classes");
    }
}

static void test_sklearn_example(void) {
    /* sklearn's documentation example: y_true 0 1 2 0 1 2, y_pred 0 2 1 0 0 1
           true 0: [2 0 0]   rows 2 2 2, columns 3 2 1
           true 1: [1 0 1]
           true 2: [0 2 0]
       precision 2/3, 0/2, 0/1 -> macro 2/9 (sklearn: 0.22...)
       recall    2/2, 0/2, 0/2 -> macro 1/3 (0.33...)
       F1        4/5, 0, 0      -> macro 4/15 (0.26...); weighted = macro (equal supports) */
    static const double t[6] = {0, 1, 2, 0, 1, 2}, p[6] = {0, 2, 1, 0, 0, 1};
    mdl_tensor *cm = mdl_confusion_matrix(ar, vec(6, p), vec(6, t), 3);
    CHECK(cm != NULL, "cm");
    if (!cm) return;
    CHECK_NEAR(cm_at(cm, 1, 0), 1, 0, "true 1 predicted 0");
    CHECK_NEAR(cm_at(cm, 2, 1), 2, 0, "true 2 predicted 1");
    CHECK_NEAR(mdl_precision(cm, MDL_MACRO_AVG), 2.0 / 9, EXACT, "macro P");
    CHECK_NEAR(mdl_recall(cm, MDL_MACRO_AVG), 1.0 / 3, EXACT, "macro R");
    CHECK_NEAR(mdl_f1_score(cm, MDL_MACRO_AVG), 4.0 / 15, EXACT, "macro F1");
    CHECK_NEAR(mdl_f1_score(cm, MDL_WEIGHTED_AVG), 4.0 / 15, EXACT, "weighted F1");
}

static void test_absent_classes(void) {
    /* 4 classes; predicted 0 1 3 1 against targets 0 1 1 0:
           true 0: [1 1 0 0]   rows    2 2 0 0
           true 1: [0 1 0 1]   columns 1 2 0 1
           true 2: [0 0 0 0]   class 2: neither a target nor a prediction
           true 3: [0 0 0 0]   class 3: predicted once, never a target
       precision 1/1, 1/2, 0 (never predicted: 0, sklearn's zero_division), 0/1
       recall    1/2, 1/2, 0 (no samples: 0), 0 (no samples: 0)
       F1        2/3, 2/4, 0, 0/(0 + 1) = 0
       macro over the classes seen in targets or predictions, 0 1 3 (sklearn's labels):
         P (1 + 1/2 + 0)/3 = 1/2, R (1/2 + 1/2 + 0)/3 = 1/3, F1 (2/3 + 1/2 + 0)/3 = 7/18
       weighted by rows 2 2 0 0: P (2 + 1)/4 = 3/4, R (1 + 1)/4 = 1/2 */
    static const double p[4] = {0, 1, 3, 1}, t[4] = {0, 1, 1, 0};
    mdl_tensor *cm = mdl_confusion_matrix(ar, vec(4, p), vec(4, t), 4);
    CHECK(cm && cm->shape[0] == 4, "cm [4,4]");
    if (!cm) return;
    CHECK_NEAR(cm_at(cm, 1, 3), 1, 0, "true 1 predicted 3");
    CHECK_NEAR(mdl_precision(cm, 2), 0, 0, "never predicted: precision 0");
    CHECK_NEAR(mdl_recall(cm, 2), 0, 0, "no samples: recall 0");
    CHECK_NEAR(mdl_f1_score(cm, 2), 0, 0, "neither: F1 0");
    CHECK_NEAR(mdl_precision(cm, 3), 0, 0, "predicted, never right: precision 0");
    CHECK_NEAR(mdl_recall(cm, 3), 0, 0, "absent from targets: recall 0");
    CHECK_NEAR(mdl_precision(cm, 1), 0.5, EXACT, "P1");
    CHECK_NEAR(mdl_precision(cm, MDL_MACRO_AVG), 0.5, EXACT, "macro P leaves class 2 out");
    CHECK_NEAR(mdl_recall(cm, MDL_MACRO_AVG), 1.0 / 3, EXACT, "macro R leaves class 2 out");
    CHECK_NEAR(mdl_f1_score(cm, MDL_MACRO_AVG), 7.0 / 18, EXACT, "macro F1 leaves class 2 out");
    CHECK_NEAR(mdl_precision(cm, MDL_WEIGHTED_AVG), 0.75, EXACT, "weighted P");
    CHECK_NEAR(mdl_recall(cm, MDL_WEIGHTED_AVG), 0.5, EXACT, "weighted R");
}

static void test_printing(void) {
    /* the first confusion matrix, with names: the corner "true \ predicted" (16 characters)
       sets the width of the first column; the others are as wide as "bird" (4) */
    static const double s[15] = {0.1, 2, -1, 3, 3, 1, 0, 1, 1, -5, -2, -3, 0.5, 0.2, 0.9};
    static const double y[5] = {1, 0, 2, 0, 2};
    static const char *const names[3] = {"cat", "dog", "bird"};
    const char *want = "true \\ predicted   cat   dog  bird\n"
                       "             cat     1     1     0\n"
                       "             dog     0     1     0\n"
                       "            bird     0     1     1\n";
    mdl_tensor *cm = mdl_confusion_matrix(ar, mat(5, 3, s), vec(5, y), 0);
    FILE *f = tmpfile();
    const char *got;
    CHECK(f != NULL, "tmpfile");
    if (!f || !cm) return;
    mdl_confusion_matrix_fprint(f, cm, names);
    got = read_back(f);
    CHECK(strcmp(got, want) == 0, "the table:\n%s\nwant:\n%s", got, want);
    /* without names the classes are numbered */
    f = tmpfile();
    if (!f) return;
    mdl_confusion_matrix_fprint(f, cm, NULL);
    got = read_back(f);
    CHECK(strstr(got, "  0  1  2\n") != NULL, "numbered header:\n%s", got);
    /* the report: per class P R F1 support with 3 decimals, then accuracy 0.600 of 5, and the
       averages: macro P 7/9 = 0.778, weighted F1 19/30 = 0.633 */
    f = tmpfile();
    if (!f) return;
    mdl_classification_report_fprint(f, cm, names);
    got = read_back(f);
    CHECK(strstr(got, "         dog      0.333      1.000      0.500          1\n") != NULL,
          "the row of dog:\n%s", got);
    CHECK(strstr(got, "    accuracy                            0.600          5\n") != NULL,
          "the accuracy:\n%s", got);
    CHECK(strstr(got, "   macro avg      0.778      0.667      0.611          5\n") != NULL,
          "the macro average:\n%s", got);
    CHECK(strstr(got, "weighted avg      0.867      0.600      0.633          5\n") != NULL,
          "the weighted average:\n%s", got);
}

static void test_regression(void) {
    /* sklearn's example: target 3 -0.5 2 7, input 2.5 0 2 8
         |d| = 0.5 0.5 0 1: MAE 2/4 = 0.5; d^2 = 0.25 0.25 0 1: MSE 1.5/4 = 0.375, RMSE sqrt
         mean(target) = 11.5/4 = 2.875; SS_tot = 0.125^2 + 3.375^2 + 0.875^2 + 4.125^2 = 29.1875
         R^2 = 1 - 1.5 / 29.1875 = 0.94860813704... (sklearn: 0.948...) */
    static const double t[4] = {3, -0.5, 2, 7}, x[4] = {2.5, 0, 2, 8};
    mdl_tensor *input = vec(4, x), *target = vec(4, t);
    CHECK_NEAR(mdl_mae(input, target), 0.5, EXACT, "MAE");
    CHECK_NEAR(mdl_rmse(input, target), sqrt(0.375), EXACT, "RMSE");
    CHECK_NEAR(mdl_r2_score(input, target), 1 - 1.5 / 29.1875, EXACT, "R^2");
    {
        /* worse than the mean: input 3 2 1 for target 1 2 3: SS_res 4+0+4 = 8, SS_tot 2: -3 */
        static const double a[3] = {3, 2, 1}, b[3] = {1, 2, 3};
        CHECK_NEAR(mdl_r2_score(vec(3, a), vec(3, b)), -3, EXACT, "negative R^2");
    }
    {
        /* a constant target: an exact fit scores 1, any other 0 (sklearn's force_finite) */
        static const double c[3] = {2, 2, 2}, d[3] = {2, 2, 3};
        CHECK_NEAR(mdl_r2_score(vec(3, c), vec(3, c)), 1, 0, "constant, exact");
        CHECK_NEAR(mdl_r2_score(vec(3, d), vec(3, c)), 0, 0, "constant, not exact");
        /* one sample: undefined, NaN (sklearn too), and no error */
        CHECK(isnan(mdl_r2_score(vec(1, c), vec(1, d))), "R^2 of one sample is NaN");
    }
    {
        /* sklearn's multi-output example, [3,2]: target [[0.5,1],[-1,1],[7,-6]],
           input [[0,2],[-1,2],[8,-5]]
             column 0: mean 13/6, deviations -5/3 -19/6 29/6, SS_tot = (100+361+841)/36 =
                       1302/36; SS_res = 0.25 + 0 + 1 = 1.25: R^2 = 1 - 45/1302
             column 1: mean -4/3, deviations 7/3 7/3 -14/3, SS_tot = 294/9; SS_res = 1+1+1 = 3:
                       R^2 = 1 - 27/294
             the uniform average: (2 - 45/1302 - 27/294) / 2 = 0.9368... (sklearn: 0.936...)
           MAE over all six: (0.5 + 1 + 0 + 1 + 1 + 1) / 6 = 4.5/6 */
        static const double tt[6] = {0.5, 1, -1, 1, 7, -6}, xx[6] = {0, 2, -1, 2, 8, -5};
        CHECK_NEAR(mdl_r2_score(mat(3, 2, xx), mat(3, 2, tt)),
                   (2 - 45.0 / 1302 - 27.0 / 294) / 2, EXACT, "R^2 of two outputs");
        CHECK_NEAR(mdl_mae(mat(3, 2, xx), mat(3, 2, tt)), 0.75, EXACT, "MAE of [3,2]");
    }
}

static void test_log_loss(void) {
    /* rows of logits and their -log softmax at the target:
         [0 0 0]        target 1: log 3 (uniform over three)
         [1000 0 -1000] target 0: 1000 - logsumexp = -log(1 + e^-1000 + e^-2000) = 0 in double
       mean: log(3) / 2 */
    static const double a[6] = {0, 0, 0, 1000, 0, -1000}, ya[2] = {1, 0};
    CHECK_NEAR(mdl_log_loss(mat(2, 3, a), vec(2, ya)), log(3.0) / 2, 1e-12, "log-loss");
    {
        /* [1000 1001] target 0: log(1 + e^1) = 1.3132616875..., where e^1001 alone would
           overflow; [-1000 -1000] target 1: log 2, where e^-1000 alone would underflow to 0 */
        static const double b[4] = {1000, 1001, -1000, -1000}, yb0 = 0, yb1 = 1;
        CHECK_NEAR(mdl_log_loss(mat(1, 2, b), vec(1, &yb0)), log1p(exp(1.0)), 1e-12,
                   "large logits");
        CHECK_NEAR(mdl_log_loss(mat(1, 2, b + 2), vec(1, &yb1)), log(2.0), 1e-12,
                   "very negative logits");
    }
    {
        /* a model that knows nothing about 4 tokens: NLL log 4, perplexity 4, 2 bits */
        static const double z[8] = {0, 0, 0, 0, 0, 0, 0, 0}, y[2] = {3, 1};
        double nll = mdl_log_loss(mat(2, 4, z), vec(2, y));
        CHECK_NEAR(nll, log(4.0), 1e-12, "uniform over 4");
        CHECK_NEAR(mdl_perplexity(nll), 4, 1e-12, "perplexity 4");
        CHECK_NEAR(mdl_bits_per_char(nll), 2, 1e-12, "2 bits per character");
    }
    /* the loss value of cross-entropy is the same number: [0 0 0], target 1: log 3 */
    {
        static const double u[3] = {0, 0, 0}, y = 1;
        mdl_tensor *ce = mdl_cross_entropy_loss(ar, mat(1, 3, u), vec(1, &y), NULL);
        CHECK_NEAR(mdl_log_loss(mat(1, 3, u), vec(1, &y)), mdl_item(ce), 1e-6, "= cross-entropy");
    }
    CHECK_NEAR(mdl_perplexity(0), 1, 0, "a sure model: perplexity 1");
    CHECK_NEAR(mdl_bits_per_char(log(3.0)), log(3.0) / log(2.0), 1e-15, "log2 3 bits");
}

static void test_no_samples(void) {
    /* N = 0: 0/0, NaN, and no error reported */
    int s0[2] = {0, 3}, n0 = 0;
    mdl_tensor *scores = mdl_zeros(ar, 2, s0), *target = mdl_zeros(ar, 1, &n0);
    capture_errors();
    CHECK(isnan(mdl_accuracy(scores, target)), "accuracy of nothing is NaN");
    CHECK(isnan(mdl_top_k_accuracy(scores, target, 1)), "top-k of nothing is NaN");
    CHECK(isnan(mdl_log_loss(scores, target)), "log-loss of nothing is NaN");
    CHECK(isnan(mdl_mae(target, target)), "MAE of nothing is NaN");
    {
        mdl_tensor *cm = mdl_confusion_matrix(ar, scores, target, 0);
        CHECK(cm && cm->numel == 9 && cm->data[0] == 0, "an empty cm is zeros [3,3]");
        CHECK(cm && isnan(mdl_precision(cm, MDL_MACRO_AVG)), "its macro average is NaN");
        CHECK(cm && mdl_precision(cm, 0) == 0, "a class of it has precision 0");
    }
    CHECK(captured_count == 0, "no error reported (%d: %s)", captured_count, captured_message);
    mdl_set_error_handler(NULL, NULL);
}

/* A contract error: exactly one report, with this code and these parts in the message. */
static void expect_error(const char *what, double got, int code, const char *part1,
                         const char *part2) {
    CHECK(isnan(got), "%s: returned %g, want NaN", what, got);
    CHECK(captured_count == 1 && captured_code == code, "%s: %d errors, code %s, want one %s",
          what, captured_count, mdl_error_name((mdl_error)captured_code),
          mdl_error_name((mdl_error)code));
    CHECK(strstr(captured_message, part1) != NULL, "%s: '%s' not in: %s", what, part1,
          captured_message);
    if (part2)
        CHECK(strstr(captured_message, part2) != NULL, "%s: '%s' not in: %s", what, part2,
              captured_message);
    capture_errors();
}

static void test_errors(void) {
    static const double s12[12] = {0}, y4[4] = {0, 1, 2, 1}, y5[5] = {0};
    double bad[4] = {0, 1, 3, 1}, half[4] = {0, 1.5, 0, 0}, neg[4] = {0, -1, 0, 0};
    double nanv[4] = {0, 0, NAN, 0};
    mdl_tensor *scores = mat(4, 3, s12), *y = vec(4, y4);
    capture_errors();
    expect_error("rows differ", mdl_accuracy(scores, vec(5, y5)), MDL_ERR_SHAPE,
                 "mdl_accuracy: input [4,3] and target [5]", "N = target.shape[0] = 5");
    expect_error("target [4,1]", mdl_accuracy(scores, mat(4, 1, y4)), MDL_ERR_SHAPE,
                 "target [4,1]", "must be [N]");
    expect_error("class 3 of 3", mdl_accuracy(scores, vec(4, bad)), MDL_ERR_ARG,
                 "mdl_accuracy: target [4]: element [2] is 3, outside 0..2",
                 "the 3 classes of input [4,3]");
    expect_error("1.5", mdl_accuracy(scores, vec(4, half)), MDL_ERR_ARG,
                 "target [4]: element [1] is 1.5, not a whole number", NULL);
    expect_error("-1", mdl_accuracy(scores, vec(4, neg)), MDL_ERR_ARG,
                 "target [4]: element [1] is -1, outside 0..2", NULL);
    expect_error("NaN target", mdl_accuracy(scores, vec(4, nanv)), MDL_ERR_ARG,
                 "target [4]: element [2] is nan", "not a whole number");
    expect_error("predicted -1", mdl_accuracy(vec(4, neg), y), MDL_ERR_ARG,
                 "input [4]: element [1] is -1, not a class", NULL);
    {
        int s431[3] = {4, 3, 1};
        expect_error("input [4,3,1]", mdl_accuracy(tensor(3, s431, s12), y), MDL_ERR_SHAPE,
                     "input [4,3,1] and target [4]", "scores [N,C] or predicted classes [N]");
    }
    expect_error("binary shapes", mdl_binary_accuracy(vec(4, y4), mat(4, 1, y4), 0.5),
                 MDL_ERR_SHAPE, "mdl_binary_accuracy: input [4] and target [4,1]", NULL);
    expect_error("binary target 2", mdl_binary_accuracy(vec(4, y4), vec(4, y4), 0.5),
                 MDL_ERR_ARG, "target [4]: element [2] is 2, outside 0..1", NULL);
    expect_error("k = 0", mdl_top_k_accuracy(scores, y, 0), MDL_ERR_ARG,
                 "mdl_top_k_accuracy: k = 0 with scores [4,3]", "1..3");
    expect_error("k = 4", mdl_top_k_accuracy(scores, y, 4), MDL_ERR_ARG, "k = 4", NULL);
    expect_error("top-k of classes", mdl_top_k_accuracy(y, y, 1), MDL_ERR_SHAPE,
                 "the input must be scores [N,C]", NULL);
    expect_error("log-loss of classes", mdl_log_loss(y, y), MDL_ERR_SHAPE, "mdl_log_loss",
                 "scores [N,C]");
    {
        mdl_tensor *cm;
        cm = mdl_confusion_matrix(ar, y, y, 0);
        expect_error("no num_classes", cm ? 0 : NAN, MDL_ERR_ARG,
                     "mdl_confusion_matrix: num_classes = 0 with input [4]", NULL);
        cm = mdl_confusion_matrix(ar, scores, y, 4);
        expect_error("num_classes != C", cm ? 0 : NAN, MDL_ERR_ARG, "num_classes = 4", NULL);
        cm = mdl_confusion_matrix(ar, vec(4, bad), y, 3);
        expect_error("prediction 3 of 3", cm ? 0 : NAN, MDL_ERR_ARG,
                     "input [4]: element [2] is 3, outside 0..2 (the 3 classes)", NULL);
    }
    {
        static const double sq[4] = {1, 0, 0, 1}, r23[6] = {0};
        double negc[4] = {1, -1, 0, 1};
        mdl_tensor *cm = mat(2, 2, sq);
        expect_error("cm [2,3]", mdl_precision(mat(2, 3, r23), 0), MDL_ERR_SHAPE,
                     "mdl_precision: cm [2,3]", "square");
        expect_error("cls 2", mdl_recall(cm, 2), MDL_ERR_ARG, "mdl_recall: cls = 2 with cm [2,2]",
                     "0..1, MDL_MACRO_AVG or MDL_WEIGHTED_AVG");
        expect_error("cls -3", mdl_f1_score(cm, -3), MDL_ERR_ARG, "mdl_f1_score: cls = -3", NULL);
        expect_error("count -1", mdl_precision(mat(2, 2, negc), 0), MDL_ERR_ARG,
                     "cm [2,2]: element [0,1] is -1, not a count", NULL);
    }
    {
        static const double r[8] = {0};
        int s3[3] = {2, 2, 2};
        expect_error("R^2 shapes", mdl_r2_score(vec(4, y4), mat(4, 1, y4)), MDL_ERR_SHAPE,
                     "mdl_r2_score: input [4] and target [4,1] must have the same shape", NULL);
        expect_error("R^2 rank 3", mdl_r2_score(tensor(3, s3, r), tensor(3, s3, r)),
                     MDL_ERR_SHAPE, "input [2,2,2]", "[N] or [N,K]");
        expect_error("MAE shapes", mdl_mae(vec(4, y4), vec(5, y5)), MDL_ERR_SHAPE,
                     "mdl_mae: input [4] and target [5]", NULL);
        expect_error("RMSE shapes", mdl_rmse(vec(4, y4), vec(5, y5)), MDL_ERR_SHAPE,
                     "mdl_rmse: input [4] and target [5]", NULL);
    }
    /* NULL from nowhere is reported; NULL after an earlier error passes on quietly */
    expect_error("NULL target", mdl_accuracy(scores, NULL), MDL_ERR_NULL,
                 "mdl_accuracy: target is NULL", NULL);
    mdl_accuracy(scores, vec(5, y5)); /* an error ... */
    CHECK(isnan(mdl_mae(NULL, y)) && captured_count == 1, "... then NULL is quiet (%d errors)",
          captured_count);
    capture_errors();
    mdl_confusion_matrix_fprint(NULL, mat(2, 2, y4), NULL);
    CHECK(captured_count == 1 && captured_code == MDL_ERR_NULL &&
              strstr(captured_message, "mdl_confusion_matrix_fprint: the stream is NULL"),
          "a NULL stream: %s", captured_message);
    mdl_set_error_handler(NULL, NULL);
    mdl_clear_error();
}

int main(void) {
    ar = mdl_arena_new(0);
    test_accuracy();
    test_binary_accuracy();
    test_top_k();
    test_confusion_and_prf();
    test_sklearn_example();
    test_absent_classes();
    test_printing();
    test_regression();
    test_log_loss();
    test_no_samples();
    test_errors();
    mdl_arena_free(ar);
    return test_summary();
}
