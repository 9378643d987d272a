/* tests/matrix/smoke.c - the program of the compile matrix (tests/run.sh).

   It is built with every compiler and configuration in the matrix: C99 under gcc and clang, C++
   under g++, MINIDL_STATIC, MINIDL_NO_SIMD, MINIDL_DEBUG, MINIDL_DOUBLE, -O0, -O2 -march=native.
   Each build must be free of warnings (-Werror) and must exit 0, so the matrix proves that the
   implementation compiles, links and computes in each configuration. It prints nothing when all
   is well. Keep it valid C99 and C++ at once: no compound literals, no designated initializers.

       gcc -std=c99 -Wall -Wextra -Wpedantic -Werror -I. tests/matrix/smoke.c -o smoke -lm */
#define MINIDL_IMPLEMENTATION
#include "minidl.h"

#include <math.h>
#include <stdio.h>

static int failures;

/* Compare a computed value with the one worked out by hand. */
static void expect(const char *what, double got, double want) {
    if (fabs(got - want) > 1e-4 * (1.0 + fabs(want))) {
        printf("smoke: %s: got %g, want %g\n", what, got, want);
        failures++;
    }
}

int main(void) {
    static const mdl_scalar av[4] = {1, 2, 3, 4};
    static const mdl_scalar bv[4] = {10, 20, 30, 40};
    const int shape[2] = {2, 2};
    mdl_params *ps = mdl_params_new();
    mdl_arena *ar = mdl_arena_new(0);
    mdl_tensor *w, *a, *b, *y, *loss;
    int i;

    /* A parameter w = [[1,2],[3,4]] and two constants a = w's values, b = [[10,20],[30,40]]. */
    w = mdl_params_add(ps, "w", 2, shape);
    a = mdl_from_array(ar, 2, shape, av);
    b = mdl_from_array(ar, 2, shape, bv);
    mdl_copy(w, a);

    /* loss = sum(a * w + b) = (1 + 4 + 9 + 16) + 100 = 130, and dloss/dw = a. */
    y = mdl_add(ar, mdl_mul(ar, a, w), b);
    loss = mdl_sum(ar, y, MDL_ALL, 0);
    expect("sum(a * w + b)", mdl_item(loss), 130);
    if (mdl_backward(loss) != MDL_OK) {
        printf("smoke: mdl_backward failed: %s\n", mdl_last_error());
        failures++;
    } else {
        for (i = 0; i < 4; i++) expect("dloss/dw", w->grad[i], av[i]);
    }

    /* a @ b = [[70,100],[150,220]], whose elements add up to 540. */
    expect("sum(a @ b)", mdl_item(mdl_sum(ar, mdl_matmul(ar, a, b), MDL_ALL, 0)), 540);

    /* Cross-entropy of equal logits [2,2] against classes {1, 0} is log 2, and its gradient
       (softmax - onehot) / N is -1/4 on each target's class. */
    {
        static const mdl_scalar classes[2] = {1, 0};
        const int n[1] = {2};
        mdl_tensor *logits = mdl_zeros(ar, 2, shape), *target = mdl_from_array(ar, 1, n, classes);
        mdl_set_requires_grad(logits, 1);
        loss = mdl_cross_entropy_loss(ar, logits, target, NULL);
        expect("cross-entropy", mdl_item(loss), log(2.0));
        if (mdl_backward(loss) == MDL_OK) expect("its gradient", logits->grad[1], -0.25);
    }

    mdl_arena_reset(ar);
    mdl_arena_free(ar);
    mdl_params_free(ps);
    return failures ? 1 : 0;
}
