/* tests/test_broadcast.c - broadcasting in add, sub, mul, div and maximum: the output shape,
   the values, and the gradients, which must be summed back over the broadcast axes to the
   shape of each input. Expected values come from naive loops in double written here.

   gcc -std=c99 -O1 -g -Wall -Wextra -Wpedantic -Werror -I. tests/test_broadcast.c -o build/test_broadcast -lm
*/
#define MINIDL_IMPLEMENTATION
#include "minidl.h"
#include "test.h"

enum { OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_MAXIMUM, OP_N };
static const char *op_name[OP_N] = {"mdl_add", "mdl_sub", "mdl_mul", "mdl_div", "mdl_maximum"};

static mdl_tensor *apply(mdl_arena *ar, int op, mdl_tensor *a, mdl_tensor *b) {
    switch (op) {
    case OP_ADD: return mdl_add(ar, a, b);
    case OP_SUB: return mdl_sub(ar, a, b);
    case OP_MUL: return mdl_mul(ar, a, b);
    case OP_DIV: return mdl_div(ar, a, b);
    case OP_MAXIMUM: return mdl_maximum(ar, a, b);
    }
    return NULL;
}

/* The value of the op and its partial derivatives d/da, d/db, in double. */
static void ref(int op, double a, double b, double *y, double *da, double *db) {
    switch (op) {
    case OP_ADD: *y = a + b, *da = 1, *db = 1; break;
    case OP_SUB: *y = a - b, *da = 1, *db = -1; break;
    case OP_MUL: *y = a * b, *da = b, *db = a; break;
    case OP_DIV: *y = a / b, *da = 1 / b, *db = -a / (b * b); break;
    case OP_MAXIMUM: /* at a tie each input gets half the gradient, as in PyTorch */
        *y = a >= b ? a : b;
        *da = a > b ? 1 : (a == b ? 0.5 : 0);
        *db = b > a ? 1 : (a == b ? 0.5 : 0);
        break;
    }
}

/* Values for the tests: distinct ones, ones bounded away from 0 (divisors), and values from
   {-1,-0.5,0,0.5,1} so that maximum meets ties. */
static double value(int op, int which, int i, int salt) {
    double v = sin(0.7 * i + 1.3 * salt) * 2.0;
    if (op == OP_MAXIMUM) return ((i * 7 + salt) % 5) * 0.5 - 1.0;
    if (op == OP_DIV && which == 1) return v >= 0 ? v + 0.5 : v - 0.5;
    return v;
}

static const char *sh(const mdl_tensor *t, char *buf) {
    return t ? mdl_shape_str(t, buf, 64) : "(null)";
}

/* Index into an input of shape (nd, shape) for the output multi-index idx of rank ond:
   align from the right, and an axis of size 1 always reads element 0. */
static size_t bidx(int nd, const int *shape, int ond, const int *idx) {
    size_t f = 0;
    int d;
    for (d = 0; d < nd; d++) {
        int i = shape[d] == 1 ? 0 : idx[d + ond - nd];
        f = f * (size_t)shape[d] + (size_t)i;
    }
    return f;
}

typedef struct {
    int nda, sa[MDL_MAX_DIMS], ndb, sb[MDL_MAX_DIMS];
} pair;

static void run_case(mdl_arena *ar, int op, int nda, const int *sa, int ndb, const int *sb,
                     int salt) {
    int ond = nda > ndb ? nda : ndb, oshape[MDL_MAX_DIMS], d, idx[MDL_MAX_DIMS], shape_ok = 1;
    size_t i, na = 1, nb = 1, on = 1;
    double ga[256], gb[256];
    mdl_tensor *a, *b, *y, *L;
    char b1[64], b2[64], b3[64];

    /* the broadcast shape, by hand rules: align right, 1 stretches */
    for (d = 0; d < ond; d++) {
        int da = d - (ond - nda), db = d - (ond - ndb);
        int x = da >= 0 ? sa[da] : 1, z = db >= 0 ? sb[db] : 1;
        oshape[d] = x == 1 ? z : x;
        on *= (size_t)oshape[d];
    }
    for (d = 0; d < nda; d++) na *= (size_t)sa[d];
    for (d = 0; d < ndb; d++) nb *= (size_t)sb[d];

    a = mdl_zeros(ar, nda, sa);
    b = mdl_zeros(ar, ndb, sb);
    CHECK(a && b, "zeros: %s", mdl_last_error());
    if (!a || !b) return;
    for (i = 0; i < na; i++) a->data[i] = (mdl_scalar)value(op, 0, (int)i, salt);
    for (i = 0; i < nb; i++) b->data[i] = (mdl_scalar)value(op, 1, (int)i, salt + 3);
    mdl_set_requires_grad(a, 1);
    mdl_set_requires_grad(b, 1);

    y = apply(ar, op, a, b);
    CHECK(y != NULL, "%s %s %s: NULL (%s)", op_name[op], sh(a, b1), sh(b, b2), mdl_last_error());
    if (!y) return;
    if (y->ndim != ond) shape_ok = 0;
    for (d = 0; d < ond && shape_ok; d++)
        if (y->shape[d] != oshape[d]) shape_ok = 0;
    if (y->numel != on) shape_ok = 0;
    CHECK(shape_ok, "%s %s %s: output shape %s", op_name[op], sh(a, b1), sh(b, b2), sh(y, b3));
    if (!shape_ok) return;
    CHECK(y->requires_grad == 1, "%s output does not require grad", op_name[op]);

    /* forward values, and the gradient of sum(y) reduced by hand to each input's shape */
    for (i = 0; i < na; i++) ga[i] = 0;
    for (i = 0; i < nb; i++) gb[i] = 0;
    {
        int bad = 0;
        for (i = 0; i < on; i++) {
            size_t f = i, ia, ib;
            double want = 0, da = 0, db = 0;
            for (d = ond - 1; d >= 0; d--) {
                idx[d] = (int)(f % (size_t)oshape[d]);
                f /= (size_t)oshape[d];
            }
            ia = bidx(nda, sa, ond, idx);
            ib = bidx(ndb, sb, ond, idx);
            ref(op, a->data[ia], b->data[ib], &want, &da, &db);
            ga[ia] += da;
            gb[ib] += db;
            if (!(fabs(y->data[i] - want) <= 2e-7 * fabs(want) + 1e-7)) {
                if (bad < 3)
                    fprintf(stderr, "  %s %s %s: y[%zu] = %.9g, want %.9g\n", op_name[op],
                            sh(a, b1), sh(b, b2), i, (double)y->data[i], want);
                bad++;
            }
        }
        CHECK(bad == 0, "%s %s %s: %d wrong values", op_name[op], sh(a, b1), sh(b, b2), bad);
    }

    L = mdl_sum(ar, y, MDL_ALL, 0);
    CHECK(L != NULL, "sum: %s", mdl_last_error());
    if (!L) return;
    CHECK(mdl_backward(L) == MDL_OK, "backward: %s", mdl_last_error());
    /* the inputs keep their shapes and get gradients of those shapes */
    CHECK(a->ndim == nda && a->numel == na && b->ndim == ndb && b->numel == nb,
          "inputs changed shape");
    CHECK(a->grad != NULL && b->grad != NULL, "%s: no gradient (a %p, b %p)", op_name[op],
          (void *)a->grad, (void *)b->grad);
    if (!a->grad || !b->grad) return;
    {
        int bad = 0;
        for (i = 0; i < na; i++)
            if (!(fabs(a->grad[i] - ga[i]) <= 1e-5 * (1 + fabs(ga[i])))) {
                fprintf(stderr, "  %s %s %s: da[%zu] = %.9g, want %.9g\n", op_name[op],
                        sh(a, b1), sh(b, b2), i, (double)a->grad[i], ga[i]);
                bad++;
            }
        for (i = 0; i < nb; i++)
            if (!(fabs(b->grad[i] - gb[i]) <= 1e-5 * (1 + fabs(gb[i])))) {
                fprintf(stderr, "  %s %s %s: db[%zu] = %.9g, want %.9g\n", op_name[op],
                        sh(a, b1), sh(b, b2), i, (double)b->grad[i], gb[i]);
                bad++;
            }
        CHECK(bad == 0, "%s %s %s: %d wrong gradient values", op_name[op], sh(a, b1), sh(b, b2),
              bad);
    }
}

static void test_backward_with(mdl_arena *ar) {
    /* y = a * b, a [3,4], b [4]; dy given. By the chain rule: da[i,j] = dy[i,j] * b[j],
       db[j] = sum_i dy[i,j] * a[i,j]. */
    int s34[2] = {3, 4}, s4[1] = {4}, i, j, bad = 0;
    mdl_tensor *a = mdl_zeros(ar, 2, s34), *b = mdl_zeros(ar, 1, s4), *dy = mdl_zeros(ar, 2, s34);
    mdl_tensor *y;
    CHECK(a && b && dy, "zeros");
    if (!a || !b || !dy) return;
    for (i = 0; i < 12; i++) {
        a->data[i] = (mdl_scalar)(0.5 * i - 2);
        dy->data[i] = (mdl_scalar)cos(1.1 * i);
    }
    for (j = 0; j < 4; j++) b->data[j] = (mdl_scalar)(j - 1.5);
    mdl_set_requires_grad(a, 1);
    mdl_set_requires_grad(b, 1);
    y = mdl_mul(ar, a, b);
    CHECK(y != NULL, "mul");
    if (!y) return;
    CHECK(mdl_backward_with(y, dy) == MDL_OK, "backward_with: %s", mdl_last_error());
    CHECK(a->grad && b->grad, "no gradients");
    if (!a->grad || !b->grad) return;
    for (i = 0; i < 3; i++)
        for (j = 0; j < 4; j++) {
            double want = (double)dy->data[i * 4 + j] * b->data[j];
            if (!(fabs(a->grad[i * 4 + j] - want) <= 1e-6 * (1 + fabs(want)))) bad++;
        }
    for (j = 0; j < 4; j++) {
        double want = 0;
        for (i = 0; i < 3; i++) want += (double)dy->data[i * 4 + j] * a->data[i * 4 + j];
        CHECK_NEAR(b->grad[j], want, 1e-5 * (1 + fabs(want)), "backward_with db");
    }
    CHECK(bad == 0, "backward_with: %d wrong da values", bad);
}

static void test_incompatible(mdl_arena *ar) {
    int s34[2] = {3, 4}, s3[1] = {3}, s23[2] = {2, 3}, s32[2] = {3, 2}, op;
    mdl_tensor *a = mdl_zeros(ar, 2, s34), *b = mdl_zeros(ar, 1, s3);
    mdl_tensor *c = mdl_zeros(ar, 2, s23), *d = mdl_zeros(ar, 2, s32);
    CHECK(a && b && c && d, "zeros");
    if (!a || !b || !c || !d) return;
    for (op = 0; op < OP_N; op++) {
        mdl_tensor *y;
        capture_errors();
        y = apply(ar, op, a, b);
        CHECK(y == NULL, "%s [3,4] [3] did not return NULL", op_name[op]);
        CHECK(captured_count == 1 && captured_code == MDL_ERR_SHAPE,
              "%s [3,4] [3]: %d errors, code %s", op_name[op], captured_count,
              mdl_error_name((mdl_error)captured_code));
        CHECK(strstr(captured_message, op_name[op]) != NULL, "message '%s'", captured_message);
        CHECK(strstr(captured_message, "[3,4]") && strstr(captured_message, "[3]"),
              "message does not show both shapes: '%s'", captured_message);
        capture_errors();
        y = apply(ar, op, c, d);
        CHECK(y == NULL && captured_code == MDL_ERR_SHAPE, "%s [2,3] [3,2]: code %s",
              op_name[op], mdl_error_name((mdl_error)captured_code));
    }
    capture_errors();
}

int main(void) {
    static const pair pairs[] = {
        {2, {3, 4}, 1, {4}},       {2, {3, 1}, 2, {1, 4}}, {3, {2, 3, 4}, 2, {3, 1}},
        {1, {4}, 0, {0}},          {3, {2, 1, 4}, 2, {3, 1}}, {2, {3, 4}, 2, {3, 4}},
        {0, {0}, 0, {0}},          {2, {1, 1}, 1, {5}},
        /* rank 6 (MDL_MAX_DIMS): [2,1,3,1,2,1] with [2,1,2,1,3] -> [2,2,3,2,2,3], 144 values */
        {6, {2, 1, 3, 1, 2, 1}, 5, {2, 1, 2, 1, 3}},
    };
    mdl_arena *ar = mdl_arena_new(0);
    int p, op, order;
    capture_errors();
    CHECK(ar != NULL, "arena_new");
    if (!ar) return test_summary();
    for (p = 0; p < (int)(sizeof pairs / sizeof pairs[0]); p++)
        for (op = 0; op < OP_N; op++)
            for (order = 0; order < 2; order++) {
                const pair *q = &pairs[p];
                if (order == 0) run_case(ar, op, q->nda, q->sa, q->ndb, q->sb, p * 10 + op);
                else run_case(ar, op, q->ndb, q->sb, q->nda, q->sa, p * 10 + op + 5);
                mdl_arena_reset(ar);
            }
    CHECK(captured_count == 0, "%d unexpected contract errors; last: %s", captured_count,
          captured_message);
    test_backward_with(ar);
    mdl_arena_reset(ar);
    CHECK(captured_count == 0, "%d unexpected contract errors; last: %s", captured_count,
          captured_message);
    test_incompatible(ar);
    mdl_arena_free(ar);
    return test_summary();
}
