/* tests/test_autograd.c - autograd behaviour: accumulation and zeroing, tensors used more than
   once, detach, requires_grad, a deep graph, the documented gradients at kinks and ties,
   NaN/Inf detection, the Graphviz dump and mdl_gradcheck in the float build.

   gcc -std=c99 -O1 -g -Wall -Wextra -Wpedantic -Werror -I. tests/test_autograd.c -o build/test_autograd -lm
*/
#define MINIDL_IMPLEMENTATION
#include "minidl.h"
#include "test.h"

#include <stdlib.h>
#include <time.h>

#define NN(t)                                                                        \
    do {                                                                             \
        CHECK((t) != NULL, "%s is NULL (last error: %s)", #t, mdl_last_error());     \
        if (!(t)) return;                                                            \
    } while (0)

static mdl_tensor *sum_all(mdl_arena *ar, mdl_tensor *t) { return mdl_sum(ar, t, MDL_ALL, 0); }

static void test_accumulate(mdl_arena *ar) {
    int s3[1] = {3}, i;
    mdl_params *ps = mdl_params_new();
    mdl_tensor *x, *y;
    const double v[3] = {1, -2, 0.5};
    if (!ps) {
        CHECK(0, "params_new");
        return;
    }
    x = mdl_params_add(ps, "x", 1, s3);
    if (!x) {
        CHECK(0, "params_add");
        mdl_params_free(ps);
        return;
    }
    for (i = 0; i < 3; i++) x->data[i] = (mdl_scalar)v[i];
    /* y = sum(x*x): dy/dx = 2x; twice without zeroing: 4x */
    y = sum_all(ar, mdl_mul(ar, x, x));
    CHECK(y && mdl_backward(y) == MDL_OK, "backward 1: %s", mdl_last_error());
    for (i = 0; i < 3; i++) CHECK_NEAR(x->grad[i], 2 * v[i], 1e-6, "grad after one backward");
    y = sum_all(ar, mdl_mul(ar, x, x));
    CHECK(y && mdl_backward(y) == MDL_OK, "backward 2: %s", mdl_last_error());
    for (i = 0; i < 3; i++) CHECK_NEAR(x->grad[i], 4 * v[i], 1e-6, "grad after two backwards");
    mdl_params_zero_grad(ps);
    for (i = 0; i < 3; i++) CHECK(x->grad[i] == 0, "params_zero_grad: %g", (double)x->grad[i]);
    y = sum_all(ar, mdl_mul(ar, x, x));
    CHECK(y && mdl_backward(y) == MDL_OK, "backward 3: %s", mdl_last_error());
    for (i = 0; i < 3; i++) CHECK_NEAR(x->grad[i], 2 * v[i], 1e-6, "grad after zeroing");
    mdl_zero_grad(x);
    for (i = 0; i < 3; i++) CHECK(x->grad[i] == 0, "zero_grad: %g", (double)x->grad[i]);
    mdl_arena_reset(ar);
    /* the persistent gradient survives an arena reset; so does the value */
    y = sum_all(ar, mdl_mul_scalar(ar, x, 3));
    CHECK(y && mdl_backward(y) == MDL_OK, "backward 4: %s", mdl_last_error());
    mdl_arena_reset(ar);
    for (i = 0; i < 3; i++) CHECK_NEAR(x->grad[i], 3, 1e-6, "grad of 3x after a reset");
    mdl_params_free(ps);

    {   /* an arena leaf: its gradient arrives on backward, and mdl_zero_grad clears it */
        mdl_tensor *a = mdl_full(ar, 1, s3, 2);
        NN(a);
        CHECK(a->grad == NULL, "leaf has a gradient before backward");
        mdl_set_requires_grad(a, 1);
        y = sum_all(ar, mdl_mul(ar, a, a));
        CHECK(y && mdl_backward(y) == MDL_OK, "leaf backward: %s", mdl_last_error());
        CHECK(a->grad != NULL, "leaf got no gradient");
        if (!a->grad) return;
        for (i = 0; i < 3; i++) CHECK_NEAR(a->grad[i], 4, 1e-6, "d sum(a*a)/da at 2");
        mdl_zero_grad(a);
        for (i = 0; i < 3; i++) CHECK(a->grad[i] == 0, "zero_grad on a leaf");
    }
}

static void test_reuse(mdl_arena *ar) {
    int s4[1] = {4}, i;
    const double v[4] = {-1.5, -0.25, 0.5, 2};
    mdl_tensor *x = mdl_zeros(ar, 1, s4), *y, *h;
    NN(x);
    for (i = 0; i < 4; i++) x->data[i] = (mdl_scalar)v[i];
    mdl_set_requires_grad(x, 1);
    /* y = sum(x*x + x): dy/dx = 2x + 1 */
    y = sum_all(ar, mdl_add(ar, mdl_mul(ar, x, x), x));
    NN(y);
    CHECK(mdl_backward(y) == MDL_OK, "backward: %s", mdl_last_error());
    NN(x->grad);
    for (i = 0; i < 4; i++) CHECK_NEAR(x->grad[i], 2 * v[i] + 1, 1e-6, "d(x*x + x)/dx");
    /* y = sum(x + x + x): 3 */
    mdl_zero_grad(x);
    y = sum_all(ar, mdl_add(ar, mdl_add(ar, x, x), x));
    NN(y);
    CHECK(mdl_backward(y) == MDL_OK, "backward: %s", mdl_last_error());
    for (i = 0; i < 4; i++) CHECK_NEAR(x->grad[i], 3, 1e-6, "d(x+x+x)/dx");
    /* a diamond: h = exp(x), y = sum(h*h + h): dy/dx = (2h + 1) h */
    mdl_zero_grad(x);
    h = mdl_exp(ar, x);
    y = sum_all(ar, mdl_add(ar, mdl_mul(ar, h, h), h));
    NN(y);
    CHECK(mdl_backward(y) == MDL_OK, "backward: %s", mdl_last_error());
    for (i = 0; i < 4; i++) {
        double e = exp(v[i]);
        CHECK_NEAR(x->grad[i], (2 * e + 1) * e, 1e-5 * (2 * e + 1) * e, "diamond gradient");
    }
    /* intermediate tensors get their gradients too: dy/dh = 2h + 1 */
    CHECK(h->grad != NULL, "intermediate has no gradient");
    if (h->grad)
        for (i = 0; i < 4; i++)
            CHECK_NEAR(h->grad[i], 2 * exp(v[i]) + 1, 1e-5 * (2 * exp(v[i]) + 1), "dy/dh");
}

static void test_detach_requires_grad(mdl_arena *ar) {
    int s3[1] = {3}, i;
    const double v[3] = {0.5, -1, 3};
    mdl_tensor *x = mdl_zeros(ar, 1, s3), *d, *y, *c, *a;
    NN(x);
    for (i = 0; i < 3; i++) x->data[i] = (mdl_scalar)v[i];
    mdl_set_requires_grad(x, 1);
    CHECK(x->requires_grad == 1, "set_requires_grad(1)");
    d = mdl_detach(ar, x);
    NN(d);
    CHECK(d->data == x->data, "detach copied the data");
    CHECK(d->requires_grad == 0, "detached tensor requires grad");
    /* y = sum(x * detach(x)): the detached factor is a constant, so dy/dx = x, not 2x */
    y = sum_all(ar, mdl_mul(ar, x, d));
    NN(y);
    CHECK(mdl_backward(y) == MDL_OK, "backward: %s", mdl_last_error());
    NN(x->grad);
    for (i = 0; i < 3; i++) CHECK_NEAR(x->grad[i], v[i], 1e-6, "d(x*detach(x))/dx");
    CHECK(d->grad == NULL, "the detached view got a gradient");

    /* a constant next to a tensor that needs grad gets no gradient */
    c = mdl_full(ar, 1, s3, 2);
    a = mdl_full(ar, 1, s3, 5);
    NN(c);
    NN(a);
    y = sum_all(ar, mdl_mul(ar, c, a));
    NN(y);
    CHECK(y->requires_grad == 0, "op on constants requires grad");
    mdl_set_requires_grad(a, 1);
    y = sum_all(ar, mdl_mul(ar, c, a));
    NN(y);
    CHECK(y->requires_grad == 1, "op on a tensor that requires grad does not");
    CHECK(mdl_backward(y) == MDL_OK, "backward: %s", mdl_last_error());
    CHECK(c->grad == NULL, "constant got a gradient");
    NN(a->grad);
    for (i = 0; i < 3; i++) CHECK_NEAR(a->grad[i], 2, 1e-6, "d(c*a)/da");
    mdl_set_requires_grad(a, 0);
    CHECK(a->requires_grad == 0, "set_requires_grad(0)");
    y = mdl_mul(ar, c, a);
    NN(y);
    CHECK(y->requires_grad == 0, "op after set_requires_grad(0) requires grad");
}

/* chain of `pairs` (mul_scalar, add_scalar) pairs: dy/dx = s^pairs */
static void deep_chain(mdl_arena *ar, int pairs) {
    int s4[1] = {4}, i;
    mdl_scalar s = (mdl_scalar)(1 + 1.0 / pairs);
    double want = pow((double)s, pairs); /* about e */
    mdl_tensor *x = mdl_full(ar, 1, s4, 1), *y;
    NN(x);
    mdl_set_requires_grad(x, 1);
    y = x;
    for (i = 0; i < pairs && y; i++) y = mdl_add_scalar(ar, mdl_mul_scalar(ar, y, s), (mdl_scalar)0.001);
    NN(y);
    y = sum_all(ar, y);
    NN(y);
    CHECK(mdl_backward(y) == MDL_OK, "backward of %d ops: %s", 2 * pairs, mdl_last_error());
    NN(x->grad);
    /* each of the `pairs` float multiplications rounds: allow pairs * 2^-24 relative, plus some */
    for (i = 0; i < 4; i++)
        CHECK_NEAR(x->grad[i], want, want * (pairs * 1.2e-7 + 1e-6), "deep chain gradient");
}

static void test_edges(mdl_arena *ar) {
    /* documented gradients: abs'(0) = 0; clamp' = 1 on [lo, hi] including the ends, 0 outside;
       max along an axis sends the gradient to the first maximum, max over MDL_ALL splits it
       equally among the tied maxima, and maximum(a, b) gives half to each at a tie, all as
       PyTorch does; argmax is not differentiable */
    int s5[1] = {5}, s4[1] = {4}, i;
    mdl_scalar xa[5] = {-2, -0.5, 0, 0.5, 2}, xm[4] = {1, 3, 3, 2};
    double g_abs[5] = {-1, -1, 0, 1, 1}, g_clamp[5] = {0, 1, 1, 1, 0}, g_max[4] = {0, 1, 0, 0};
    double g_max_all[4] = {0, 0.5, 0.5, 0};
    mdl_tensor *x = mdl_from_array(ar, 1, s5, xa), *m = mdl_from_array(ar, 1, s4, xm), *y;
    NN(x);
    NN(m);
    mdl_set_requires_grad(x, 1);
    mdl_set_requires_grad(m, 1);
    y = sum_all(ar, mdl_abs(ar, x));
    NN(y);
    CHECK(mdl_backward(y) == MDL_OK, "abs backward");
    NN(x->grad);
    for (i = 0; i < 5; i++) CHECK_NEAR(x->grad[i], g_abs[i], 0, "abs gradient");
    mdl_zero_grad(x);
    y = sum_all(ar, mdl_clamp(ar, x, (mdl_scalar)-0.5, (mdl_scalar)0.5));
    NN(y);
    CHECK(mdl_backward(y) == MDL_OK, "clamp backward");
    for (i = 0; i < 5; i++) CHECK_NEAR(x->grad[i], g_clamp[i], 0, "clamp(-0.5,0.5) gradient");
    y = mdl_max(ar, m, 0, 0);
    NN(y);
    CHECK(mdl_backward(y) == MDL_OK, "max backward");
    NN(m->grad);
    for (i = 0; i < 4; i++) CHECK_NEAR(m->grad[i], g_max[i], 0, "max gradient at a tie");
    mdl_zero_grad(m);
    y = mdl_max(ar, m, MDL_ALL, 0);
    NN(y);
    CHECK(mdl_backward(y) == MDL_OK, "max backward");
    for (i = 0; i < 4; i++)
        CHECK_NEAR(m->grad[i], g_max_all[i], 0, "max(MDL_ALL) gradient at a tie");
    {   /* maximum(a, b) at a tie: half to each; elsewhere all to the larger */
        mdl_scalar va[3] = {1, 2, 3}, vb[3] = {1, 5, 0};
        double want_a[3] = {0.5, 0, 1}, want_b[3] = {0.5, 1, 0};
        int s3[1] = {3};
        mdl_tensor *a = mdl_from_array(ar, 1, s3, va), *b = mdl_from_array(ar, 1, s3, vb);
        NN(a);
        NN(b);
        mdl_set_requires_grad(a, 1);
        mdl_set_requires_grad(b, 1);
        y = sum_all(ar, mdl_maximum(ar, a, b));
        NN(y);
        CHECK(mdl_backward(y) == MDL_OK, "maximum backward");
        for (i = 0; i < 3; i++) CHECK_NEAR(a->grad[i], want_a[i], 0, "maximum: da");
        for (i = 0; i < 3; i++) CHECK_NEAR(b->grad[i], want_b[i], 0, "maximum: db");
    }
    {   /* max over MDL_ALL of a 2-D tensor with three tied maxima: a third to each */
        mdl_scalar v[6] = {4, 1, 4, 0, 4, -2};
        int s23[2] = {2, 3};
        mdl_tensor *x3 = mdl_from_array(ar, 2, s23, v);
        NN(x3);
        mdl_set_requires_grad(x3, 1);
        y = mdl_mul_scalar(ar, mdl_max(ar, x3, MDL_ALL, 0), 3);
        NN(y);
        CHECK(mdl_backward(y) == MDL_OK, "max(MDL_ALL) backward");
        for (i = 0; i < 6; i++)
            CHECK_NEAR(x3->grad[i], v[i] == 4 ? 1.0 : 0.0, 1e-6, "max(MDL_ALL), three ties");
    }
    y = mdl_argmax(ar, m, 0, 0);
    NN(y);
    CHECK(y->requires_grad == 0, "argmax output requires grad");

    /* x^0 = 1 is a constant, so its derivative is 0 everywhere, x = 0 included (PyTorch: 0).
       The banner's p x^(p-1) evaluated naively at x = 0 gives 0 * inf = NaN. */
    mdl_zero_grad(x);
    y = sum_all(ar, mdl_pow(ar, x, 0));
    NN(y);
    CHECK(mdl_item(y) == 5, "sum(x^0) = %g", mdl_item(y));
    CHECK(mdl_backward(y) == MDL_OK, "pow backward");
    for (i = 0; i < 5; i++) CHECK_NEAR(x->grad[i], 0, 0, "d(x^0)/dx at x = -2,-0.5,0,0.5,2");
}

static void test_backward_twice(mdl_arena *ar) {
    /* backward twice through one graph: the leaf's gradient doubles (leaves accumulate), while
       the intermediate h = x*x is recomputed from scratch each time. y = sum(3 h), h = x*x:
       dy/dx = 6x per pass; dy/dh = 3. */
    int s3[1] = {3}, i;
    mdl_scalar v[3] = {1, -2, 0.5f};
    mdl_tensor *x = mdl_from_array(ar, 1, s3, v), *h, *y;
    NN(x);
    mdl_set_requires_grad(x, 1);
    h = mdl_mul(ar, x, x);
    y = sum_all(ar, mdl_mul_scalar(ar, h, 3));
    NN(h);
    NN(y);
    CHECK(mdl_backward(y) == MDL_OK, "first backward: %s", mdl_last_error());
    CHECK(mdl_backward(y) == MDL_OK, "second backward: %s", mdl_last_error());
    NN(x->grad);
    NN(h->grad);
    for (i = 0; i < 3; i++) {
        CHECK_NEAR(x->grad[i], 12.0 * v[i], 1e-5, "dx after two backward passes");
        CHECK_NEAR(h->grad[i], 3, 1e-6, "dh after two backward passes");
    }
}

static void test_anomaly(mdl_arena *ar) {
    int s2[1] = {2}, prev;
    mdl_scalar neg[2] = {-1, 2}, zero[2] = {0, 4};
    mdl_tensor *x, *y, *z;
    mdl_error rc;

    prev = mdl_set_detect_anomaly(ar, 1);
    CHECK(prev == 0, "anomaly detection was on by default");
    x = mdl_from_array(ar, 1, s2, neg);
    NN(x);
    capture_errors();
    y = mdl_log(ar, x); /* log(-1) = NaN */
    CHECK(captured_count == 1 && captured_code == MDL_ERR_NONFINITE,
          "log(-1): %d errors, code %s", captured_count, mdl_error_name((mdl_error)captured_code));
    CHECK(strstr(captured_message, "mdl_log") && strstr(captured_message, "forward"),
          "log(-1) message: '%s'", captured_message);
    (void)y;

    z = mdl_from_array(ar, 1, s2, zero);
    NN(z);
    mdl_set_requires_grad(z, 1);
    capture_errors();
    y = sum_all(ar, mdl_sqrt(ar, z)); /* sqrt(0) = 0 is fine ... */
    NN(y);
    CHECK(captured_count == 0, "sqrt(0) forward reported: %s", captured_message);
    rc = mdl_backward(y); /* ... but its derivative 1/(2 sqrt 0) is inf */
    CHECK(rc == MDL_ERR_NONFINITE, "backward returned %s", mdl_error_name(rc));
    CHECK(captured_count == 1 && captured_code == MDL_ERR_NONFINITE,
          "sqrt backward: %d errors, code %s", captured_count,
          mdl_error_name((mdl_error)captured_code));
    CHECK(strstr(captured_message, "mdl_sqrt") && strstr(captured_message, "backward"),
          "sqrt backward message: '%s'", captured_message);

    /* with detection off, the same computations report nothing */
    prev = mdl_set_detect_anomaly(ar, 0);
    CHECK(prev == 1, "set_detect_anomaly returned %d, want 1", prev);
    capture_errors();
    y = mdl_log(ar, x);
    NN(y);
    CHECK(isnan(y->data[0]), "log(-1) = %g", (double)y->data[0]);
    z = mdl_from_array(ar, 1, s2, zero);
    NN(z);
    mdl_set_requires_grad(z, 1);
    y = sum_all(ar, mdl_sqrt(ar, z));
    NN(y);
    rc = mdl_backward(y);
    CHECK(rc == MDL_OK, "backward returned %s", mdl_error_name(rc));
    NN(z->grad);
    CHECK(isinf(z->grad[0]) && z->grad[1] == 0.25f, "sqrt grads %g %g", (double)z->grad[0],
          (double)z->grad[1]);
    CHECK(captured_count == 0, "detection off reported: %s", captured_message);
    capture_errors();
}

static size_t slurp(FILE *f, char *buf, size_t size) {
    size_t n;
    fflush(f);
    rewind(f);
    n = fread(buf, 1, size - 1, f);
    buf[n] = 0;
    return n;
}

static void check_dot(const char *text, const char *what) {
    static const char *want[] = {"digraph", "mdl_matmul", "mdl_add", "mdl_sum",
                                 "[2,3]",   "[3,4]",      "[2,4]",   "[4]"};
    size_t i;
    for (i = 0; i < sizeof want / sizeof want[0]; i++)
        CHECK(strstr(text, want[i]) != NULL, "%s: no '%s' in the DOT output", what, want[i]);
}

static void test_graph_dot(mdl_arena *ar) {
    int s23[2] = {2, 3}, s34[2] = {3, 4}, s4[1] = {4}, k;
    static char text[1 << 16];
    mdl_params *ps = mdl_params_new();
    mdl_tensor *x, *w, *b, *y;
    mdl_rng rng;
    char path[256];
    const char *bad = "/nonexistent/dir/g.dot";
    FILE *f;
    mdl_error rc;

    mdl_rng_seed(&rng, 5);
    if (!ps) {
        CHECK(0, "params_new");
        return;
    }
    x = mdl_rand(ar, &rng, 2, s23, -1, 1);
    w = mdl_params_add(ps, "fc.weight", 2, s34);
    b = mdl_params_add(ps, "fc.bias", 1, s4);
    if (!x || !w || !b) {
        CHECK(0, "setup: %s", mdl_last_error());
        mdl_params_free(ps);
        return;
    }
    mdl_fill_uniform(w, &rng, -1, 1);
    mdl_set_requires_grad(x, 1);
    y = sum_all(ar, mdl_add(ar, mdl_matmul(ar, x, w), b));
    if (!y || mdl_backward(y) != MDL_OK) {
        CHECK(0, "forward/backward: %s", mdl_last_error());
        mdl_params_free(ps);
        return;
    }

    f = tmpfile();
    CHECK(f != NULL, "tmpfile");
    if (f) {
        rc = mdl_graph_dot_file(y, f);
        CHECK(rc == MDL_OK, "graph_dot_file returned %s", mdl_error_name(rc));
        slurp(f, text, sizeof text);
        check_dot(text, "graph_dot_file");
        fclose(f);
    }

    /* a path under /tmp with a name nobody else uses */
    for (k = 0; k < 100; k++) {
        sprintf(path, "/tmp/minidl_test_autograd_%lx_%lx_%d.dot", (unsigned long)time(NULL),
                (unsigned long)clock() ^ (unsigned long)(size_t)&path, k);
        f = fopen(path, "r");
        if (!f) break;
        fclose(f);
    }
    rc = mdl_graph_dot(y, path);
    CHECK(rc == MDL_OK, "graph_dot(%s) returned %s: %s", path, mdl_error_name(rc),
          mdl_last_error());
    f = fopen(path, "r");
    CHECK(f != NULL, "graph_dot did not create %s", path);
    if (f) {
        slurp(f, text, sizeof text);
        check_dot(text, "graph_dot");
        fclose(f);
    }
    remove(path);

    /* an unwritable path is an environmental error: returned, never sent to the contract-error
       handler (whose default aborts) */
    capture_errors();
    rc = mdl_graph_dot(y, bad);
    CHECK(rc == MDL_ERR_IO, "graph_dot to %s returned %s", bad, mdl_error_name(rc));
    CHECK(mdl_last_error_code() == MDL_ERR_IO, "last error code %s",
          mdl_error_name(mdl_last_error_code()));
    CHECK(strstr(mdl_last_error(), bad) != NULL, "last error does not name the path: '%s'",
          mdl_last_error());
    CHECK(captured_count == 0, "an environmental error went to the handler: %s",
          captured_message);
    /* a write that fails (Linux's /dev/full opens but every write fails with ENOSPC: here at
       the latest when fclose flushes) is an I/O error too */
    f = fopen("/dev/full", "w");
    if (f) {
        fclose(f);
        capture_errors();
        rc = mdl_graph_dot(y, "/dev/full");
        CHECK(rc == MDL_ERR_IO, "graph_dot to /dev/full returned %s", mdl_error_name(rc));
        CHECK(strstr(mdl_last_error(), "/dev/full") != NULL, "last error '%s'", mdl_last_error());
        CHECK(captured_count == 0, "an environmental error went to the handler: %s",
              captured_message);
    }
    capture_errors();
    mdl_params_free(ps);
}

/* functions for mdl_gradcheck */
static mdl_tensor *f_tanh_x(mdl_arena *ar, mdl_tensor *const *in, void *user) {
    (void)user;
    return mdl_mul(ar, mdl_tanh(ar, in[0]), in[0]);
}
static mdl_tensor *f_two(mdl_arena *ar, mdl_tensor *const *in, void *user) {
    (void)user;
    return mdl_add(ar, mdl_mul(ar, in[0], in[1]), mdl_tanh(ar, in[0]));
}
/* x * detach(x): its backward gives x while the true derivative of x^2 is 2x, so a correct
   gradcheck must reject it */
static mdl_tensor *f_wrong(mdl_arena *ar, mdl_tensor *const *in, void *user) {
    (void)user;
    return mdl_mul(ar, in[0], mdl_detach(ar, in[0]));
}

static void test_gradcheck(mdl_arena *ar) {
    int s5[1] = {5}, s23[2] = {2, 3}, s3[1] = {3}, ok;
    size_t i;
    mdl_rng rng;
    mdl_tensor *x, *a, *b, *in[2];
    mdl_scalar saved[5];
    mdl_gradcheck_report rep;

    mdl_rng_seed(&rng, 11);
    x = mdl_rand(ar, &rng, 1, s5, 0.5, 1.5);
    NN(x);
    mdl_set_requires_grad(x, 1);
    for (i = 0; i < 5; i++) saved[i] = x->data[i];
    in[0] = x;
    memset(&rep, 0xff, sizeof rep);
    ok = mdl_gradcheck(f_tanh_x, NULL, 1, in, 0, 0, 0, &rep);
    CHECK(ok == 1, "gradcheck of tanh(x)*x failed: worst %g vs %g", rep.analytic, rep.numeric);
    CHECK(rep.checked == 5, "checked %zu, want 5", rep.checked);
    CHECK(rep.failed == 0, "failed %zu", rep.failed);
    CHECK(rep.worst_input == 0, "worst_input %d", rep.worst_input);
    CHECK(rep.worst_index < 5, "worst_index %zu", rep.worst_index);
    CHECK(fabs(rep.max_abs_err - fabs(rep.analytic - rep.numeric)) <= 1e-12 * (1 + rep.max_abs_err),
          "max_abs_err %g != |%g - %g|", rep.max_abs_err, rep.analytic, rep.numeric);
    CHECK(rep.max_abs_err <= 1e-2 + 5e-2 * fabs(rep.numeric), "worst error %g", rep.max_abs_err);
    for (i = 0; i < 5; i++) CHECK(x->data[i] == saved[i], "gradcheck changed x[%zu]", i);

    a = mdl_rand(ar, &rng, 2, s23, -1, 1);
    b = mdl_rand(ar, &rng, 1, s3, -1, 1);
    NN(a);
    NN(b);
    mdl_set_requires_grad(a, 1);
    mdl_set_requires_grad(b, 1);
    in[0] = a;
    in[1] = b;
    memset(&rep, 0xff, sizeof rep);
    ok = mdl_gradcheck(f_two, NULL, 2, in, 0, 0, 0, &rep);
    CHECK(ok == 1, "gradcheck of a*b + tanh(a) failed");
    CHECK(rep.checked == 9, "checked %zu, want 6 + 3", rep.checked);
    CHECK(rep.failed == 0, "failed %zu", rep.failed);
    CHECK(rep.worst_input == 0 || rep.worst_input == 1, "worst_input %d", rep.worst_input);
    CHECK(rep.worst_index < (rep.worst_input == 0 ? 6u : 3u), "worst_index %zu of input %d",
          rep.worst_index, rep.worst_input);

    in[0] = x;
    memset(&rep, 0, sizeof rep);
    ok = mdl_gradcheck(f_wrong, NULL, 1, in, 0, 0, 0, &rep);
    CHECK(ok == 0, "gradcheck accepted x*detach(x)");
    CHECK(rep.checked == 5 && rep.failed >= 1, "checked %zu failed %zu", rep.checked, rep.failed);
    CHECK(rep.worst_input == 0 && rep.worst_index < 5, "worst %d %zu", rep.worst_input,
          rep.worst_index);
    CHECK(rep.max_abs_err > 1e-2 + 5e-2 * fabs(rep.numeric), "worst error %g within tolerance",
          rep.max_abs_err);
    /* there, numeric = v*2x and analytic = v*x */
    CHECK(fabs(rep.numeric - 2 * rep.analytic) <= 0.05 * fabs(rep.numeric) + 1e-2,
          "numeric %g is not twice analytic %g", rep.numeric, rep.analytic);
    for (i = 0; i < 5; i++) CHECK(x->data[i] == saved[i], "gradcheck changed x[%zu]", i);
}

int main(void) {
    mdl_arena *ar = mdl_arena_new(0);
    capture_errors();
    CHECK(ar != NULL, "arena_new");
    if (!ar) return test_summary();
    test_accumulate(ar);
    mdl_arena_reset(ar);
    test_reuse(ar);
    mdl_arena_reset(ar);
    test_detach_requires_grad(ar);
    mdl_arena_reset(ar);
    deep_chain(ar, 500); /* 1000 ops */
    mdl_arena_reset(ar);
    test_edges(ar);
    mdl_arena_reset(ar);
    test_backward_twice(ar);
    mdl_arena_reset(ar);
    CHECK(captured_count == 0, "%d contract errors; last: %s", captured_count, captured_message);
    test_anomaly(ar);
    mdl_arena_reset(ar);
    test_graph_dot(ar);
    mdl_arena_reset(ar);
    test_gradcheck(ar);
    mdl_arena_reset(ar);
    deep_chain(ar, 50000); /* 100000 ops: a recursive backward would overflow the stack */
    CHECK(captured_count == 0, "%d contract errors; last: %s", captured_count, captured_message);
    mdl_arena_free(ar);
    return test_summary();
}
