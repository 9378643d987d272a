/* 01_linear_regression.c - fit a straight line by gradient descent, with autograd.

   GOAL
   How heavy is a penguin, given the length of its flipper? We fit the straight line
       body mass = slope * flipper length + intercept
   to the Palmer penguins (342 penguins with both numbers measured) by gradient descent: start
   from a line that is all wrong, measure how wrong it is (the loss), ask autograd which way
   each parameter should move to make the loss smaller (the gradient), move a little, repeat.
   For a straight line there is also an exact answer, the least-squares formula; the program
   computes it too, and shows that gradient descent finds the same line, to three digits and
   more. Later tutorials train models that have no such formula: the loop learned here is how
   all of them are trained.

   NEW
   This is the first tutorial. It meets: tensors and the arena (memory for one step, emptied
   at once), parameters (mdl_params), ops that record themselves on a tape, mdl_backward (the
   gradient of the loss with respect to every parameter), the training loop written by hand
   (forward, loss, backward, update, zero_grad, reset), then the same loop with an optimizer
   (mdl_optim); and why the input should be standardised before gradient descent.

   RUN (from tutorials/; nothing else is needed, the data is in tutorials/data/)
       gcc -O2 01_linear_regression.c -o 01_linear_regression -lm
       ./01_linear_regression             the lesson
       ./01_linear_regression --quick     a shorter run with checked bounds (for make test)

   IT PRINTS the data's size, the exact least-squares line, the gradient autograd computes
   beside the same gradient by the formula, the loss every 10 steps, the fitted line in grams
   per millimetre beside the exact one, what happens without standardising, and a last line
       result: R^2 = 0.759 (baseline closed-form least squares = 0.759)
   It writes 01_fit.svg (the penguins and the fitted line) and 01_loss.svg (the loss at each
   step); open them in a browser. It runs in a few milliseconds. */

#define MINIDL_IMPLEMENTATION
#include "../minidl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define STEPS 100      /* gradient-descent steps of the lesson */
#define QUICK_STEPS 40 /* ... and of --quick */

/* Processor seconds since `start` (ISO C has no wall clock finer than a second). */
static double seconds_since(clock_t start) { return (double)(clock() - start) / CLOCKS_PER_SEC; }

/* |a - b| relative to b: 0.001 means "the same to about three significant digits". */
static double rel_diff(double a, double b) { return fabs(a - b) / fabs(b); }

/* The exact least-squares line through the points (x_i, y_i), in double precision:
       slope = sum (x - mx)(y - my) / sum (x - mx)^2      intercept = my - slope mx
   and R^2 = 1 - (sum of squared residuals) / (sum of squared deviations of y from my), the
   share of y's variance that the line explains; *mse is the smallest mean squared error any
   line can reach. (Set the derivatives of the MSE below to zero and solve: these are the two
   equations' solution.) */
static void least_squares(const mdl_tensor *x, const mdl_tensor *y, double *slope,
                          double *intercept, double *r2, double *mse) {
    double mx = 0, my = 0, sxx = 0, sxy = 0, syy = 0;
    size_t i, n = y->numel;
    for (i = 0; i < n; i++) mx += x->data[i], my += y->data[i];
    mx /= n, my /= n;
    for (i = 0; i < n; i++) {
        double dx = x->data[i] - mx, dy = y->data[i] - my;
        sxx += dx * dx, sxy += dx * dy, syy += dy * dy;
    }
    *slope = sxy / sxx;
    *intercept = my - *slope * mx;
    *r2 = sxy * sxy / (sxx * syy); /* for a least-squares line, 1 - SS_res / SS_tot is this */
    *mse = (syy - sxy * sxy / sxx) / n; /* SS_res / N */
}

/* The MSE's gradient by the formula, to hold autograd's against: with pred = w z + b,
       L = mean (pred - y)^2     dL/dw = 2 mean (pred - y) z     dL/db = 2 mean (pred - y) */
static void mse_grad_by_formula(const mdl_tensor *z, const mdl_tensor *y, const mdl_tensor *pred,
                                double *dw, double *db) {
    size_t i, n = y->numel;
    *dw = *db = 0;
    for (i = 0; i < n; i++) {
        double r = pred->data[i] - y->data[i]; /* the residual of penguin i */
        *dw += 2 * r * z->data[i] / n;
        *db += 2 * r / n;
    }
}

/* The training loop once more, with an optimizer doing the update: `steps` steps of full-batch
   gradient descent on the line w x + b from w = b = 0. Writes the loss of each step into
   losses[] and the final w and b into *w_out, *b_out. */
static void fit_line_sgd(mdl_arena *ar, mdl_tensor *x, mdl_tensor *y, double lr, int steps,
                         double *losses, double *w_out, double *b_out) {
    int one[1] = {1}, step;
    mdl_params *ps = mdl_params_new();
    mdl_tensor *w = mdl_params_add(ps, "w", 1, one), *b = mdl_params_add(ps, "b", 1, one);
    mdl_optim *opt = mdl_sgd_new(ps, lr, 0.0); /* plain SGD: p = p - lr * p.grad */
    for (step = 0; step < steps; step++) {
        mdl_tensor *loss = mdl_mse_loss(ar, mdl_add(ar, mdl_mul(ar, x, w), b), y, MDL_MEAN);
        losses[step] = mdl_item(loss);
        mdl_backward(loss);
        mdl_optim_step(opt);      /* the update of the hand-written loop, for every parameter */
        mdl_optim_zero_grad(opt); /* mdl_params_zero_grad(ps) */
        mdl_arena_reset(ar);
    }
    *w_out = w->data[0];
    *b_out = b->data[0];
    mdl_optim_free(opt);
    mdl_params_free(ps);
}

/* The lesson's claims are checked at the end, in both modes (--quick with looser bounds): a
   failed check prints what failed, and the program exits with status 1. */
static int failures = 0;
static void check(int ok, const char *what) {
    if (!ok) {
        fprintf(stderr, "01_linear_regression: check failed: %s\n", what);
        failures++;
    }
}

int main(int argc, char **argv) {
    int quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
    int steps = quick ? QUICK_STEPS : STEPS, step, n, i;
    static double loss_hand[STEPS], loss_sgd[STEPS], loss_raw[STEPS], step_no[STEPS];
    clock_t start = clock();
    if (argc > 2 || (argc == 2 && !quick)) {
        fprintf(stderr, "usage: %s [--quick]\n", argv[0]);
        return 2;
    }

    /* 1. The data. Two columns of penguins.csv: flipper_length_mm is the input x, body_mass_g
          the target y. Two penguins have neither measured ("NA"); drop_missing skips them.
          The loader puts x [N,1] and y [N] into a parameter set, `data`, which owns them
          until mdl_params_free(data). */
    mdl_params *data = mdl_params_new();
    mdl_csv_opts copts = {0};
    mdl_csv csv;
    copts.columns = "flipper_length_mm";
    copts.target = "body_mass_g";
    copts.drop_missing = 1;
    if (mdl_load_csv(data, "penguins", "data/penguins.csv", &copts, &csv) != MDL_OK) {
        fprintf(stderr, "%s\n", mdl_last_error());
        fprintf(stderr, "The tutorials' data lives in tutorials/data/ and comes with minidl; run\n"
                        "this program from tutorials/. To make the files again: sh data/fetch.sh\n"
                        "(see data/README.md).\n");
        return 1;
    }
    n = csv.rows;
    mdl_tensor *x = csv.x, *y = csv.y; /* x [N,1] in mm, y [N] in grams */
    printf("penguins.csv: %d penguins with flipper length and body mass (%d dropped for NA)\n",
           n, csv.dropped);

    /* 2. The baseline: the exact answer. For a straight line and the squared error, calculus
          gives the best line in closed form (least_squares above). Gradient descent has to
          find the same line; this is how we will know it did. */
    double cf_slope, cf_intercept, cf_r2, cf_mse;
    least_squares(x, y, &cf_slope, &cf_intercept, &cf_r2, &cf_mse);
    printf("closed-form least squares: mass = %.3f g/mm * flipper %+.1f g, R^2 = %.4f\n",
           cf_slope, cf_intercept, cf_r2);

    /* 3. Standardise the input: z = (x - mean) / std, so z has mean 0 and spread 1.
          Why: the loss L(w, b) = mean (w x + b - y)^2 is a bowl, and how sharply it curves
          is set by x. Its second derivatives are 2 mean(x^2) along w, 2 along b and
          2 mean(x) across: with x near 200 mm the bowl is 40,000 times steeper along w than
          along b, a long narrow valley. One learning rate must serve both directions: small
          enough not to overshoot across the steep one (lr < 2 / steepest curvature), it
          crawls along the flat one. With z the curvature is 2 in every direction (mean z = 0,
          mean z^2 = 1): the bowl is round, any lr below 1 converges, and lr = 0.5 would
          land on the bottom in one step. Step 7 shows the narrow valley in numbers.
          mdl_scaler keeps the mean and std (as sklearn's StandardScaler) in a parameter set;
          z is a persistent buffer of shape [N] so that w * z + b has y's shape [N]. */
    int shape_n[1];
    shape_n[0] = n;
    mdl_tensor *z = mdl_params_add_buffer(data, "z", 1, shape_n);
    mdl_copy(z, x); /* the same N values, now as [N] */
    mdl_scaler sc = mdl_scaler_fit(data, "scaler", z);
    mdl_scaler_apply(&sc, z);
    double mean_x = sc.mean->data[0], std_x = sc.scale->data[0];
    printf("flipper length: mean %.2f mm, std %.2f mm; z = (x - %.2f) / %.2f\n", mean_x, std_x,
           mean_x, std_x);

    /* 4. The model's parameters: pred = w z + b, two numbers that start at 0. mdl_params_add
          makes persistent tensors that require a gradient: backward will fill w->grad and
          b->grad. */
    int one[1] = {1};
    mdl_params *ps = mdl_params_new();
    mdl_tensor *w = mdl_params_add(ps, "w", 1, one);
    mdl_tensor *b = mdl_params_add(ps, "b", 1, one);

    /* 5. The training loop, by hand. Every op's output and the tape that records how it was
          computed come from the arena `ar`; mdl_arena_reset empties it after each step, so
          memory stays the same however long we train.
          The loss is the mean squared error: the mean of the squared residuals (pred - y)^2.
          Squaring makes every miss count, big misses most, and makes the loss a smooth bowl
          whose bottom is the least-squares line of step 2.
          mdl_backward(loss) walks the tape backwards and adds dL/dw to w->grad and dL/db to
          b->grad. The gradient points uphill; the update moves each parameter a step of size
          lr against it. Gradients accumulate (+=) until zeroed, so we zero them after each
          update. */
    mdl_arena *ar = mdl_arena_new(0);
    const mdl_scalar lr = 0.1f;
    printf("\ngradient descent on z, lr %.2f, %d steps (the loop by hand)\n", (double)lr, steps);
    printf("  step   loss (g^2)      R^2      w (g)      b (g)   cpu s\n");
    for (step = 1; step <= steps; step++) {
        mdl_tensor *pred = mdl_add(ar, mdl_mul(ar, z, w), b);   /* forward: [N] */
        mdl_tensor *loss = mdl_mse_loss(ar, pred, y, MDL_MEAN); /* a scalar */
        mdl_backward(loss);                                     /* backward: fills the grads */
        if (step == 1) {
            double dw, db;
            mse_grad_by_formula(z, y, pred, &dw, &db);
            printf("  step 1: autograd dL/dw = %.2f, dL/db = %.2f; by the formula %.2f, %.2f\n",
                   w->grad[0], b->grad[0], dw, db);
        }
        loss_hand[step - 1] = mdl_item(loss);
        step_no[step - 1] = step;
        if (step % 10 == 0 || step == 1)
            printf("  %4d %12.1f %8.4f %10.3f %10.3f %7.3f\n", step, mdl_item(loss),
                   mdl_r2_score(pred, y), w->data[0], b->data[0], seconds_since(start));
        w->data[0] -= lr * w->grad[0]; /* update: a step against the gradient */
        b->data[0] -= lr * b->grad[0];
        mdl_params_zero_grad(ps); /* w->grad = b->grad = 0 for the next step */
        mdl_arena_reset(ar);      /* pred, loss and their tape are gone */
    }

    /* 6. The same loop with an optimizer. mdl_sgd_new(ps, lr, 0) makes torch.optim.SGD, whose
          step is exactly our update, p = p - lr * p.grad, for every parameter of the set;
          with momentum, weight decay or Adam (later tutorials) only this line changes. The
          helper fit_line_sgd above is the loop of step 5 with mdl_optim_step in it. */
    double sgd_w, sgd_b;
    fit_line_sgd(ar, z, y, lr, steps, loss_sgd, &sgd_w, &sgd_b);
    printf("the same with mdl_optim SGD: w = %.3f, b = %.3f (by hand: %.3f, %.3f)\n", sgd_w,
           sgd_b, w->data[0], b->data[0]);

    /* 7. Why we standardised: the same loop on x in millimetres. The curvature of the loss is
          the matrix of its second derivatives, H = 2 [[mean x^2, mean x], [mean x, 1]]; its
          largest eigenvalue is the steepest curvature, its smallest the flattest. Gradient
          descent is stable only for lr < 2 / largest; each step then closes a fraction
          lr * smallest of the remaining distance along the flat direction. */
    double m1 = mean_x, m2 = std_x * std_x + mean_x * mean_x; /* mean x, mean x^2 */
    double tr = 2 * (m2 + 1), det = 4 * (m2 - m1 * m1);
    double big = tr / 2 + sqrt(tr * tr / 4 - det), small = det / big;
    double raw_lr = 1.0 / big, raw_w, raw_b;
    mdl_tensor *x_mm = mdl_params_add_buffer(data, "x_mm", 1, shape_n);
    mdl_copy(x_mm, x);
    fit_line_sgd(ar, x_mm, y, raw_lr, steps, loss_raw, &raw_w, &raw_b);
    printf("\nwithout standardising: curvatures %.0f and %.5f (ratio %.1e); with z: 2 and 2\n",
           big, small, big / small);
    printf("  lr = 1 / %.0f = %.2e (above 2 / %.0f it diverges); after %d steps: loss %.0f,\n"
           "  slope %.2f g/mm, intercept %.2f g: the steep direction was done in one step, the\n"
           "  flat one has hardly begun\n", big, raw_lr, big, steps, loss_raw[steps - 1], raw_w,
           raw_b);
    printf("  each step closes %.1e of the gap along the flat direction: about %.0e steps "
           "to get there\n", raw_lr * small, 1 / (raw_lr * small));

    /* 8. Evaluate: back to the original units. pred = w z + b = w (x - mean) / std + b, so
          slope = w / std (grams per millimetre) and intercept = b - w mean / std (the mass at
          a flipper of 0 mm: far outside the data, it means nothing on its own). R^2 says how
          much of the spread in body mass the line explains: 1 is every point on the line,
          0 is no better than guessing the mean mass. */
    double gd_slope = w->data[0] / std_x, gd_intercept = b->data[0] - w->data[0] * mean_x / std_x;
    mdl_tensor *pred = mdl_add(ar, mdl_mul(ar, z, w), b);
    double gd_r2 = mdl_r2_score(pred, y), rmse = mdl_rmse(pred, y);
    mdl_arena_reset(ar);
    printf("\n                     slope (g/mm)  intercept (g)      R^2\n");
    printf("  gradient descent   %12.4f  %13.2f   %.5f\n", gd_slope, gd_intercept, gd_r2);
    printf("  least squares      %12.4f  %13.2f   %.5f\n", cf_slope, cf_intercept, cf_r2);
    printf("  relative difference %11.1e  %13.1e   %.1e\n", rel_diff(gd_slope, cf_slope),
           rel_diff(gd_intercept, cf_intercept), rel_diff(gd_r2, cf_r2));
    printf("each extra millimetre of flipper comes with %.1f g more penguin; the line misses by "
           "%.0f g (RMSE)\n", gd_slope, rmse);

    /* 9. Pictures. 01_fit.svg: every penguin and the fitted line. 01_loss.svg: the loss at
          each step, on a log axis, with z and with x in mm, and the least-squares minimum. */
    double *px = (double *)malloc(sizeof(double) * n), *py = (double *)malloc(sizeof(double) * n);
    if (!px || !py) return 1;
    for (i = 0; i < n; i++) px[i] = x->data[i], py[i] = y->data[i];
    mdl_plot *fig = mdl_plot_new("Palmer penguins: body mass against flipper length");
    mdl_plot_labels(fig, "flipper length (mm)", "body mass (g)");
    mdl_plot_scatter(fig, "penguins", n, px, py);
    mdl_plot_abline(fig, "gradient descent (= least squares)", gd_slope, gd_intercept);
    if (mdl_plot_save(fig, "01_fit.svg") != MDL_OK) fprintf(stderr, "%s\n", mdl_last_error());
    mdl_plot_free(fig);
    fig = mdl_plot_new("Mean squared error at each step");
    mdl_plot_labels(fig, "step", "loss (g^2)");
    mdl_plot_log_y(fig, 1);
    mdl_plot_line(fig, "x standardised, lr 0.1", steps, step_no, loss_hand);
    mdl_plot_line(fig, "x in mm, lr 1/(steepest curvature)", steps, step_no, loss_raw);
    mdl_plot_abline(fig, "the minimum (least squares)", 0, cf_mse);
    if (mdl_plot_save(fig, "01_loss.svg") != MDL_OK) fprintf(stderr, "%s\n", mdl_last_error());
    mdl_plot_free(fig);
    printf("wrote 01_fit.svg and 01_loss.svg\n");

    /* 10. Checks. The lesson's claims, tested: autograd's loop and the optimizer's agree, and
           gradient descent reached the exact line (to three digits in --quick mode, which
           takes fewer steps; to far more in the full run), while x in mm did not. */
    double tol = quick ? 1e-3 : 1e-4;
    check(rel_diff(sgd_w, w->data[0]) < 1e-4 && rel_diff(sgd_b, b->data[0]) < 1e-4,
          "mdl_optim SGD and the hand-written update give the same w and b");
    check(rel_diff(gd_slope, cf_slope) < tol, "the slope agrees with least squares");
    check(rel_diff(gd_intercept, cf_intercept) < tol, "the intercept agrees with least squares");
    check(fabs(gd_r2 - cf_r2) < tol, "R^2 agrees with least squares");
    check(gd_r2 > 0.75 && gd_r2 < 0.77, "R^2 is about 0.759");
    check(loss_raw[steps - 1] > 1.5 * cf_mse, "without standardising, the loss is still high");
    printf("\nresult: R^2 = %.3f (baseline closed-form least squares = %.3f)\n", gd_r2, cf_r2);

    free(px);
    free(py);
    mdl_arena_free(ar);
    mdl_params_free(ps);
    mdl_params_free(data);
    return failures ? 1 : 0;
}

/* EXERCISES
   1. Try lr = 0.5, 0.9, 1.0 and 1.1 in step 5. Which lands in one step, which zigzags, which
      never settles, which blows up? The curvature of 2 predicts each.
   2. In step 7, double raw_lr. Then try 1000 times as many steps with the original raw_lr:
      how far does the slope get?
   3. Fit body mass from bill_length_mm instead (change copts.columns). Is R^2 higher or
      lower? Which measurement tells you more about a penguin's mass?
   4. Replace the MSE by mdl_l1_loss (the mean absolute error). The line changes a little:
      which points pull it less, and why? */
