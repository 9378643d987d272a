/* tests/test_data.c - data sets, splits, mini-batches, standardisation, one-hot, augmentation:
   copies and ids, shuffles that are permutations (uniform over the 6 orders of 3 rows) and that a
   seed repeats, PyTorch's part sizes for fractions and counts, splits that lose and duplicate no
   row, stratified splits whose class counts stay within one row of each class's share (checked
   on many random class mixes), batches that are views of the data set and die with the arena,
   StandardScaler's statistics worked out by hand, one_hot as F.one_hot, the flip, the crop and
   the noise checked image by image and in distribution, and every contract error with its code
   and a message naming the function.

   gcc -std=c99 -O1 -g -Wall -Wextra -Wpedantic -Werror -I. tests/test_data.c -o build/test_data -lm
*/
#include <stdlib.h>

/* An allocator that fails on demand, to test running out of memory: fail_after = k lets k
   more allocations through and fails the next ones; -1 never fails. */
static int fail_after = -1;
static void *test_malloc(size_t n) {
    if (fail_after == 0) return NULL;
    if (fail_after > 0) fail_after--;
    return malloc(n);
}
#define MINIDL_MALLOC(n) test_malloc(n)
#define MINIDL_FREE(p) free(p)

#define MINIDL_IMPLEMENTATION
#include "minidl.h"
#include "test.h"

#define NN(t)                                                                        \
    do {                                                                             \
        CHECK((t) != NULL, "%s is NULL (last error: %s)", #t, mdl_last_error());     \
        if (!(t)) return;                                                            \
    } while (0)

static mdl_arena *ar;

/* ---- helpers ---- */

/* Exactly one contract error with code `want`, naming `fn` and each of the strings in `has`
   (NULL-terminated), since the last capture_errors(); then start capturing afresh. */
static void expect_error(int want, const char *fn, const char *what, const char *has1,
                         const char *has2) {
    CHECK(captured_count == 1, "%s: %d errors captured, want 1 (last: %s)", what, captured_count,
          captured_message);
    CHECK(captured_code == want, "%s: code %s, want %s (%s)", what,
          mdl_error_name((mdl_error)captured_code), mdl_error_name((mdl_error)want),
          captured_message);
    CHECK(strncmp(captured_message, "minidl: error: ", 15) == 0 &&
              strstr(captured_message, fn) != NULL,
          "%s: message does not name %s: '%s'", what, fn, captured_message);
    if (has1) CHECK(strstr(captured_message, has1) != NULL, "%s: message lacks '%s': '%s'", what,
                    has1, captured_message);
    if (has2) CHECK(strstr(captured_message, has2) != NULL, "%s: message lacks '%s': '%s'", what,
                    has2, captured_message);
    capture_errors();
}

/* A data set whose row i says who it is: x[i, j] = 100 i + j (F features), y[i] = class[i] or
   i when class is NULL. With the ids, every row can be checked after it moved. */
static mdl_dataset *numbered(int n, int f, const int *cls) {
    int xs[2], ys[1], i, j;
    mdl_tensor *x, *y;
    mdl_dataset *ds;
    xs[0] = n, xs[1] = f, ys[0] = n;
    x = mdl_zeros(ar, 2, xs);
    y = mdl_zeros(ar, 1, ys);
    if (!x || !y) return NULL;
    for (i = 0; i < n; i++) {
        for (j = 0; j < f; j++) x->data[i * f + j] = (mdl_scalar)(100 * i + j);
        y->data[i] = (mdl_scalar)(cls ? cls[i] : i);
    }
    ds = mdl_dataset_new(x, y);
    mdl_arena_reset(ar); /* the data set keeps copies */
    return ds;
}

/* Does every row of ds still match its id (x from the id, y the class of the id)? */
static int rows_match_ids(const mdl_dataset *ds, const int *cls) {
    int i, j, f = ds->x->shape[1];
    for (i = 0; i < ds->n; i++) {
        int id = ds->ids[i];
        for (j = 0; j < f; j++)
            if (ds->x->data[i * f + j] != (mdl_scalar)(100 * id + j)) return 0;
        if (ds->y && ds->y->data[i] != (mdl_scalar)(cls ? cls[id] : id)) return 0;
    }
    return 1;
}

/* Do the parts' ids hold each of 0..n-1 exactly once? */
static int ids_partition(mdl_dataset *const *parts, int n_parts, int n) {
    int *seen = (int *)calloc((size_t)n + 1, sizeof(int)), p, i, ok = 1, total = 0;
    for (p = 0; p < n_parts; p++)
        for (i = 0; i < parts[p]->n; i++, total++) {
            int id = parts[p]->ids[i];
            if (id < 0 || id >= n || seen[id]++) ok = 0;
        }
    free(seen);
    return ok && total == n;
}

static void free_parts(mdl_dataset **parts, int n) {
    int p;
    for (p = 0; p < n; p++) {
        mdl_dataset_free(parts[p]);
        parts[p] = NULL;
    }
}

/* ---- data sets ---- */

static void test_dataset_new(void) {
    int xs[3] = {5, 2, 3}, ys[2] = {5, 1}, i;
    mdl_tensor *x = mdl_zeros(ar, 3, xs), *y = mdl_zeros(ar, 2, ys);
    mdl_dataset *ds, *nx;
    NN(x);
    for (i = 0; i < 30; i++) x->data[i] = (mdl_scalar)i;
    for (i = 0; i < 5; i++) y->data[i] = (mdl_scalar)(i * i);
    ds = mdl_dataset_new(x, y);
    NN(ds);
    x->data[7] = -1; /* the data set holds a copy */
    mdl_arena_reset(ar); /* and outlives the arena x and y came from */
    CHECK(ds->n == 5 && ds->x->ndim == 3 && ds->x->shape[0] == 5 && ds->x->shape[1] == 2 &&
              ds->x->shape[2] == 3, "x's shape");
    CHECK(ds->y && ds->y->ndim == 2 && ds->y->shape[0] == 5 && ds->y->shape[1] == 1, "y's shape");
    CHECK(ds->x->lifetime == MDL_PERSISTENT && ds->y->lifetime == MDL_PERSISTENT &&
              !ds->x->requires_grad && !ds->x->grad, "x and y are persistent constants");
    CHECK(mdl_params_count(ds->storage) == 2 && mdl_params_find(ds->storage, "x") == ds->x &&
              mdl_params_find(ds->storage, "y") == ds->y, "the storage holds x and y");
    for (i = 0; i < 30; i++)
        if (ds->x->data[i] != (mdl_scalar)i) break;
    CHECK(i == 30, "x's values copied (first difference at %d)", i);
    CHECK(ds->y->data[4] == 16, "y's values copied");
    for (i = 0; i < 5; i++)
        if (ds->ids[i] != i) break;
    CHECK(i == 5, "ids are 0..N-1");

    /* no targets; no rows */
    nx = mdl_dataset_new(mdl_zeros(ar, 3, xs), NULL);
    CHECK(nx && nx->y == NULL && nx->n == 5, "a data set without targets");
    mdl_dataset_free(nx);
    xs[0] = 0;
    nx = mdl_dataset_new(mdl_zeros(ar, 3, xs), NULL);
    CHECK(nx && nx->n == 0 && nx->x->numel == 0, "a data set with no rows");
    mdl_dataset_free(nx);
    mdl_dataset_free(ds);
    mdl_dataset_free(NULL);
    mdl_arena_reset(ar);
}

static void test_subset(void) {
    int rows[5] = {3, 0, 3, 9, 5}, i;
    mdl_dataset *ds = numbered(10, 3, NULL), *sub, *again;
    NN(ds);
    sub = mdl_dataset_subset(ds, 5, rows);
    NN(sub);
    CHECK(sub->n == 5 && sub->x->shape[0] == 5 && sub->x->shape[1] == 3 && sub->y->shape[0] == 5,
          "the subset's shapes");
    for (i = 0; i < 5; i++) CHECK(sub->ids[i] == rows[i], "subset ids[%d] = %d", i, sub->ids[i]);
    CHECK(rows_match_ids(sub, NULL), "subset rows are the rows asked for, in that order");
    /* a subset of a subset keeps the original ids */
    rows[0] = 3, rows[1] = 4;
    again = mdl_dataset_subset(sub, 2, rows);
    CHECK(again && again->ids[0] == 9 && again->ids[1] == 5 && rows_match_ids(again, NULL),
          "ids refer to the original rows");
    mdl_dataset_free(again);
    again = mdl_dataset_subset(sub, 0, NULL);
    CHECK(again && again->n == 0, "an empty subset");
    mdl_dataset_free(again);
    mdl_dataset_free(sub);
    mdl_dataset_free(ds);
}

static void test_shuffle(void) {
    mdl_dataset *a = numbered(50, 4, NULL), *b = numbered(50, 4, NULL);
    mdl_rng r1, r2;
    int i, same = 1, moved = 0, counts[6] = {0, 0, 0, 0, 0, 0}, trial, k;
    NN(a);
    NN(b);
    mdl_rng_seed(&r1, 11);
    mdl_rng_seed(&r2, 11);
    mdl_dataset_shuffle(a, &r1);
    mdl_dataset_shuffle(b, &r2);
    {
        mdl_dataset *one[1];
        one[0] = a;
        CHECK(ids_partition(one, 1, 50), "a shuffle is a permutation of the rows");
    }
    CHECK(rows_match_ids(a, NULL), "x, y and ids move together");
    for (i = 0; i < 50; i++) {
        if (a->ids[i] != b->ids[i]) same = 0;
        if (a->ids[i] != i) moved++;
    }
    CHECK(same, "the same seed gives the same order");
    CHECK(moved > 40, "only %d of 50 rows moved", moved);
    mdl_rng_seed(&r2, 12);
    mdl_dataset_shuffle(b, &r2); /* from b's order; compare with a's next shuffle by seed 11 */
    mdl_dataset_shuffle(a, &r1);
    for (i = 0, same = 1; i < 50; i++)
        if (a->ids[i] != b->ids[i]) same = 0;
    CHECK(!same, "other draws give another order");
    mdl_dataset_free(a);
    mdl_dataset_free(b);

    /* uniform: each of the 6 orders of 3 rows about 1/6 of 60000 shuffles (sd 91) */
    a = numbered(3, 1, NULL);
    NN(a);
    mdl_rng_seed(&r1, 5);
    for (trial = 0; trial < 60000; trial++) {
        int code;
        for (i = 0; i < 3; i++) a->ids[i] = i;
        mdl_dataset_shuffle(a, &r1);
        code = a->ids[0] * 2 + (a->ids[1] > a->ids[2]); /* one number per order, 0..5 */
        counts[code]++;
    }
    for (k = 0; k < 6; k++)
        CHECK(abs(counts[k] - 10000) < 500, "order %d came %d times in 60000, want about 10000",
              k, counts[k]);
    mdl_dataset_free(a);
}

/* ---- splits ---- */

/* The part sizes of a split of n rows, without stratification. */
static void check_sizes(int n, int n_parts, const double *sizes, const int *want,
                        const char *what) {
    mdl_dataset *ds = numbered(n, 1, NULL), *parts[4];
    mdl_rng rng;
    int p, got;
    NN(ds);
    mdl_rng_seed(&rng, 1);
    got = mdl_dataset_split(ds, n_parts, sizes, 0, &rng, parts);
    CHECK(got == n_parts, "%s: split returned %d (%s)", what, got, mdl_last_error());
    if (got == n_parts) {
        for (p = 0; p < n_parts; p++)
            CHECK(parts[p]->n == want[p], "%s: part %d has %d rows, want %d", what, p,
                  parts[p]->n, want[p]);
        CHECK(ids_partition(parts, n_parts, n), "%s: rows lost or duplicated", what);
        for (p = 0; p < n_parts; p++)
            CHECK(rows_match_ids(parts[p], NULL), "%s: part %d's rows do not match their ids",
                  what, p);
        free_parts(parts, n_parts);
    }
    mdl_dataset_free(ds);
}

static void test_split_sizes(void) {
    double f3[3] = {0.7, 0.15, 0.15}, h[3] = {0.5, 0.25, 0.25}, c[3] = {60, 25, 15};
    double odd[2] = {0.71, 0.29}, one[1] = {1}, c2[3] = {3, 3, 4}, z[3] = {0, 1, 0};
    int w1[3] = {70, 15, 15}, w2[3] = {8, 1, 1}, w3[3] = {10, 5, 5}, w4[3] = {6, 2, 2};
    int w5[3] = {60, 25, 15}, w6[2] = {71, 29}, w7[1] = {7}, w8[3] = {3, 3, 4};
    int w9[3] = {0, 10, 0}, w10[3] = {0, 0, 0}, w11[3] = {1, 1, 1};
    check_sizes(100, 3, f3, w1, "0.7/0.15/0.15 of 100");
    /* floors 7, 1, 1; the one row left goes to part 0 (PyTorch's round robin) */
    check_sizes(10, 3, f3, w2, "0.7/0.15/0.15 of 10");
    check_sizes(20, 3, h, w3, "0.5/0.25/0.25 of 20");
    /* floors 5, 2, 2; the row left goes to part 0 even though 10 * 0.5 was whole */
    check_sizes(10, 3, h, w4, "0.5/0.25/0.25 of 10");
    check_sizes(100, 3, c, w5, "counts 60/25/15");
    /* 0.29 * 100 is 28.999999999999996: it counts as 29 */
    check_sizes(100, 2, odd, w6, "0.71/0.29 of 100");
    check_sizes(7, 1, one, w7, "one part");
    check_sizes(10, 3, c2, w8, "counts 3/3/4");
    check_sizes(10, 3, z, w9, "fractions 0/1/0");
    check_sizes(0, 3, f3, w10, "no rows");
    /* 3 rows, 0.7/0.15/0.15: floors 2, 0, 0; one left, to part 0 */
    {
        int w12[3] = {3, 0, 0};
        check_sizes(3, 3, f3, w12, "0.7/0.15/0.15 of 3");
    }
    /* 3 rows, thirds: floors 0 (3 * 0.333.. = 0.99..), so 1, 1, 1 by the round robin */
    {
        double t[3] = {1.0 / 3, 1.0 / 3, 1.0 / 3};
        check_sizes(3, 3, t, w11, "thirds of 3");
    }
}

static void test_split_random(void) {
    mdl_dataset *ds = numbered(200, 2, NULL), *a[3], *b[3], *c[3];
    double f[3] = {0.6, 0.2, 0.2};
    mdl_rng rng;
    int p, i, same = 1, differ = 0, sorted = 1;
    NN(ds);
    mdl_rng_seed(&rng, 99);
    CHECK(mdl_dataset_split(ds, 3, f, 0, &rng, a) == 3, "split: %s", mdl_last_error());
    mdl_rng_seed(&rng, 99);
    CHECK(mdl_dataset_split(ds, 3, f, 0, &rng, b) == 3, "split again: %s", mdl_last_error());
    mdl_rng_seed(&rng, 100);
    CHECK(mdl_dataset_split(ds, 3, f, 0, &rng, c) == 3, "split, seed 100: %s", mdl_last_error());
    if (!a[0] || !b[0] || !c[0]) return;
    CHECK(ids_partition(a, 3, 200), "rows lost or duplicated");
    for (p = 0; p < 3; p++) {
        CHECK(rows_match_ids(a[p], NULL), "part %d: rows do not match their ids", p);
        for (i = 0; i < a[p]->n; i++) {
            if (a[p]->ids[i] != b[p]->ids[i]) same = 0;
            if (a[p]->ids[i] != c[p]->ids[i]) differ = 1;
        }
    }
    CHECK(same, "the same seed gives the same split");
    CHECK(differ, "another seed gives another split");
    for (i = 1; i < a[0]->n; i++)
        if (a[0]->ids[i] < a[0]->ids[i - 1]) sorted = 0;
    CHECK(!sorted, "the training part is in a random order");
    CHECK(ds->ids[0] == 0 && ds->ids[199] == 199 && rows_match_ids(ds, NULL),
          "the split data set is not changed");
    free_parts(a, 3);
    free_parts(b, 3);
    free_parts(c, 3);
    mdl_dataset_free(ds);
}

/* A stratified split of the classes `cls` (n rows) by `sizes`; checks sizes against the plain
   split, the partition, and every class's count in every part against its share. Returns the
   number of failed checks it saw (so the random sweep can stop early). */
static int check_stratified(int n, const int *cls, int n_parts, const double *sizes,
                            uint64_t seed, const char *what) {
    mdl_dataset *ds = numbered(n, 1, cls), *parts[6], *plain[6];
    mdl_rng rng;
    int p, i, c, failed_before = test_failed, max_cls = 0, ok;
    if (!ds) return 1;
    for (i = 0; i < n; i++)
        if (cls[i] > max_cls) max_cls = cls[i];
    mdl_rng_seed(&rng, seed);
    ok = mdl_dataset_split(ds, n_parts, sizes, 0, &rng, plain) == n_parts;
    mdl_rng_seed(&rng, seed);
    ok = ok && mdl_dataset_split(ds, n_parts, sizes, 1, &rng, parts) == n_parts;
    CHECK(ok, "%s: split failed: %s", what, mdl_last_error());
    if (!ok) {
        mdl_dataset_free(ds);
        return 1;
    }
    CHECK(ids_partition(parts, n_parts, n), "%s: rows lost or duplicated", what);
    for (p = 0; p < n_parts; p++) {
        CHECK(parts[p]->n == plain[p]->n, "%s: part %d has %d rows, the plain split %d", what, p,
              parts[p]->n, plain[p]->n);
        CHECK(rows_match_ids(parts[p], cls), "%s: part %d's rows do not match their ids", what, p);
    }
    /* each class's count in each part: within one row of n_c T_p / N (strictly, unless whole),
       and within 1 + n_c / N of n_c f_p (T_p differs from N f_p by less than 1) */
    for (c = 0; c <= max_cls; c++) {
        int n_c = 0;
        for (i = 0; i < n; i++) n_c += cls[i] == c;
        if (!n_c) continue;
        for (p = 0; p < n_parts; p++) {
            int m = 0;
            double share = (double)n_c * parts[p]->n / n, total = 0;
            for (i = 0; i < parts[p]->n; i++) m += parts[p]->y->data[i] == (mdl_scalar)c;
            CHECK(fabs(m - share) < 1 && (share != floor(share) || m == share),
                  "%s: class %d (%d rows) has %d rows in part %d, its share is %.3f", what, c,
                  n_c, m, p, share);
            for (i = 0; i < n_parts; i++) total += sizes[i];
            if (total != n) /* fractions */
                CHECK(fabs(m - n_c * sizes[p]) <= 1 + (double)n_c / n,
                      "%s: class %d has %d rows in part %d, asked for %.3f", what, c, m, p,
                      n_c * sizes[p]);
        }
    }
    free_parts(parts, n_parts);
    free_parts(plain, n_parts);
    mdl_dataset_free(ds);
    return test_failed - failed_before;
}

static void test_split_stratified(void) {
    static int cls[1000];
    double f3[3] = {0.7, 0.15, 0.15}, f2[2] = {0.8, 0.2}, c3[3] = {50, 30, 20};
    int i;
    mdl_rng rng;
    /* 10 classes of 10 rows, 70/15/15: each class 7 rows in training and 1 or 2 in each of
       the others, for parts of exactly 70, 15 and 15 (rounding each 1.5 alike would give 20
       and 10) */
    for (i = 0; i < 100; i++) cls[i] = i % 10;
    check_stratified(100, cls, 3, f3, 1, "10 classes of 10");
    {
        mdl_dataset *ds = numbered(100, 1, cls), *parts[3];
        mdl_rng_seed(&rng, 3);
        if (ds && mdl_dataset_split(ds, 3, f3, 1, &rng, parts) == 3) {
            int k, twos = 0;
            for (k = 0; k < 10; k++) {
                int m1 = 0, m0 = 0;
                for (i = 0; i < 15; i++) m1 += parts[1]->y->data[i] == k;
                for (i = 0; i < 70; i++) m0 += parts[0]->y->data[i] == k;
                CHECK(m0 == 7, "class %d has %d training rows, want 7", k, m0);
                twos += m1 == 2;
            }
            CHECK(parts[1]->n == 15 && twos == 5, "5 classes of 10 give 2 validation rows, "
                  "the other 5 give 1 (%d gave 2)", twos);
            free_parts(parts, 3);
        }
        mdl_dataset_free(ds);
    }
    /* unbalanced classes: 500, 300, 150, 45, 5 rows */
    for (i = 0; i < 1000; i++) cls[i] = i < 500 ? 0 : i < 800 ? 1 : i < 950 ? 2 : i < 995 ? 3 : 4;
    check_stratified(1000, cls, 3, f3, 2, "unbalanced, 70/15/15");
    check_stratified(1000, cls, 2, f2, 3, "unbalanced, 80/20");
    check_stratified(100, cls + 450, 3, c3, 4, "counts 50/30/20, two classes");
    /* sparse class numbers: 0, 7 and 1000000 */
    for (i = 0; i < 60; i++) cls[i] = i % 3 == 0 ? 0 : i % 3 == 1 ? 7 : 1000000;
    {
        mdl_dataset *ds = numbered(60, 1, cls), *parts[2];
        mdl_rng_seed(&rng, 5);
        CHECK(ds && mdl_dataset_split(ds, 2, f2, 1, &rng, parts) == 2 && parts[1]->n == 12,
              "sparse class numbers: %s", mdl_last_error());
        if (ds && parts[0]) {
            int m = 0;
            for (i = 0; i < 12; i++) m += parts[1]->y->data[i] == 1000000;
            CHECK(m == 4, "class 1000000 has %d test rows, want 4", m);
            free_parts(parts, 2);
        }
        mdl_dataset_free(ds);
    }
    /* many random mixes: 2 to 5 parts, random fractions, 1 to 12 classes of random sizes;
       the invariants above must hold every time (this is what tests the augmenting paths) */
    mdl_rng_seed(&rng, 2024);
    for (i = 0; i < 300; i++) {
        int n = 1 + (int)(mdl_rng_u32(&rng) % 300), k = 1 + (int)(mdl_rng_u32(&rng) % 12);
        int P = 2 + (int)(mdl_rng_u32(&rng) % 4), p, j;
        double fr[5], sum = 0;
        char what[64];
        for (p = 0; p < P; p++) sum += fr[p] = 0.05 + mdl_rng_uniform(&rng);
        for (p = 0; p < P; p++) fr[p] /= sum;
        sum = 0;
        for (p = 0; p < P - 1; p++) sum += fr[p];
        fr[P - 1] = 1 - sum; /* add up to 1 within rounding */
        for (j = 0; j < n; j++) { /* skewed towards the small classes */
            int a = (int)(mdl_rng_u32(&rng) % (uint32_t)k);
            cls[j] = a % (1 + (int)(mdl_rng_u32(&rng) % (uint32_t)k));
        }
        snprintf(what, sizeof what, "random mix %d (N %d, %d classes, %d parts)", i, n, k, P);
        if (check_stratified(n, cls, P, fr, (uint64_t)i, what)) break;
    }
}

static void test_split_classes_mixed(void) {
    /* the classes are mixed within a stratified part, not in runs */
    static int cls[200];
    mdl_dataset *ds, *parts[2];
    double f[2] = {0.5, 0.5};
    mdl_rng rng;
    int i, changes = 0;
    for (i = 0; i < 200; i++) cls[i] = i < 100 ? 0 : 1;
    ds = numbered(200, 1, cls);
    NN(ds);
    mdl_rng_seed(&rng, 8);
    if (mdl_dataset_split(ds, 2, f, 1, &rng, parts) == 2) {
        for (i = 1; i < 100; i++) changes += parts[0]->y->data[i] != parts[0]->y->data[i - 1];
        CHECK(changes > 20, "part 0's classes change %d times along it: in runs", changes);
        free_parts(parts, 2);
    }
    mdl_dataset_free(ds);
}

/* ---- mini-batches ---- */

static void test_batches_in_order(void) {
    mdl_dataset *ds = numbered(10, 3, NULL);
    mdl_batches it;
    mdl_tensor *xb, *yb;
    int sizes[3] = {4, 4, 2}, b, epoch;
    NN(ds);
    CHECK(mdl_batches_init(&it, ds, 4, 0, 0, NULL) == 1, "init: %s", mdl_last_error());
    CHECK(it.per_epoch == 3 && it.epoch == 0, "3 batches an epoch, none begun");
    for (epoch = 1; epoch <= 2; epoch++) {
        for (b = 0; b < 3; b++) {
            int r;
            CHECK(mdl_batches_next(&it, ar, &xb, &yb) == 1, "epoch %d batch %d", epoch, b);
            if (!xb || !yb) return;
            CHECK(xb->ndim == 2 && xb->shape[0] == sizes[b] && xb->shape[1] == 3 &&
                      yb->ndim == 1 && yb->shape[0] == sizes[b], "batch %d's shapes", b);
            /* views: the data set's own memory, no copy */
            CHECK(xb->data == ds->x->data + 12 * b && yb->data == ds->y->data + 4 * b,
                  "batch %d is not a view of rows %d..", b, 4 * b);
            CHECK(xb->lifetime == MDL_BORROWED && xb->arena == ar && !xb->requires_grad,
                  "a view's header is from the arena");
            for (r = 0; r < sizes[b]; r++)
                CHECK(xb->data[3 * r + 2] == 100 * (4 * b + r) + 2 && yb->data[r] == 4 * b + r,
                      "batch %d row %d's values", b, r);
            CHECK(it.epoch == epoch && it.batch == b + 1, "counters: epoch %d batch %d",
                  it.epoch, it.batch);
            mdl_arena_reset(ar);
        }
        CHECK(mdl_batches_next(&it, ar, &xb, &yb) == 0 && xb == NULL && yb == NULL,
              "epoch %d ends after 3 batches", epoch);
    }
    CHECK(ds->ids[0] == 0 && ds->ids[9] == 9, "without shuffling the data set keeps its order");

    /* drop_last: two batches of 4 */
    mdl_batches_init(&it, ds, 4, 0, 1, NULL);
    CHECK(it.per_epoch == 2, "drop_last: %d batches", it.per_epoch);
    for (b = 0; mdl_batches_next(&it, ar, &xb, NULL); b++) {
        CHECK(xb->shape[0] == 4, "drop_last: batch %d has %d rows", b, xb->shape[0]);
        mdl_arena_reset(ar);
    }
    CHECK(b == 2, "drop_last: %d batches given", b);
    /* one batch larger than the data set; and drop_last then gives nothing */
    mdl_batches_init(&it, ds, 64, 0, 0, NULL);
    CHECK(mdl_batches_next(&it, ar, &xb, &yb) == 1 && xb->shape[0] == 10 &&
              mdl_batches_next(&it, ar, &xb, &yb) == 0, "one batch of all 10 rows");
    mdl_batches_init(&it, ds, 64, 0, 1, NULL);
    CHECK(it.per_epoch == 0 && mdl_batches_next(&it, ar, &xb, &yb) == 0, "drop_last, none");
    mdl_arena_reset(ar);

#ifdef MDL__STALE_CHECK /* a batch is dead after the reset (the default build) */
    mdl_batches_init(&it, ds, 4, 0, 0, NULL);
    mdl_batches_next(&it, ar, &xb, &yb);
    mdl_arena_reset(ar);
    capture_errors();
    CHECK(mdl_exp(ar, xb) == NULL, "a batch used after the reset");
    expect_error(MDL_ERR_STALE, "mdl_exp", "stale batch", NULL, NULL);
    mdl_set_error_handler(NULL, NULL);
    mdl_clear_error();
#endif
    mdl_dataset_free(ds);
}

static void test_batches_shuffled(void) {
    mdl_dataset *ds = numbered(23, 2, NULL), *ds2 = numbered(23, 2, NULL);
    mdl_batches it, it2;
    mdl_rng rng, rng2;
    mdl_tensor *xb, *yb, *xb2, *yb2;
    int seen[23], epoch, order[2][23], same_as_before = 1, repeat = 1;
    NN(ds);
    NN(ds2);
    mdl_rng_seed(&rng, 3);
    mdl_rng_seed(&rng2, 3);
    mdl_batches_init(&it, ds, 5, 1, 0, &rng);
    mdl_batches_init(&it2, ds2, 5, 1, 0, &rng2);
    CHECK(it.per_epoch == 5, "23 rows in 5s: 5 batches");
    for (epoch = 0; epoch < 2; epoch++) {
        int k = 0, i, sorted = 1;
        memset(seen, 0, sizeof seen);
        while (mdl_batches_next(&it, ar, &xb, &yb)) {
            int r;
            CHECK(mdl_batches_next(&it2, ar, &xb2, &yb2) == 1, "the twin iterator");
            for (r = 0; r < xb->shape[0]; r++) {
                int id = (int)yb->data[r];
                CHECK(xb->data[2 * r + 1] == 100 * id + 1, "x and y of a row stay together");
                if (id >= 0 && id < 23) seen[id]++;
                if (k < 23) order[epoch][k++] = id;
                if (!xb2 || xb2->data[2 * r] != xb->data[2 * r]) repeat = 0;
            }
            mdl_arena_reset(ar);
        }
        CHECK(mdl_batches_next(&it2, ar, &xb2, &yb2) == 0, "the twin ends with it");
        for (i = 0; i < 23; i++) CHECK(seen[i] == 1, "epoch %d: row %d seen %d times", epoch, i,
                                       seen[i]);
        for (i = 1; i < 23; i++)
            if (order[epoch][i] < order[epoch][i - 1]) sorted = 0;
        CHECK(!sorted, "epoch %d came in order", epoch);
        CHECK(it.epoch == epoch + 1, "epoch counter %d", it.epoch);
        CHECK(rows_match_ids(ds, NULL), "the shuffled data set's rows match their ids");
    }
    for (epoch = 0; epoch < 23; epoch++)
        if (order[0][epoch] != order[1][epoch]) same_as_before = 0;
    CHECK(!same_as_before, "two epochs in the same order");
    CHECK(repeat, "the same seed does not give the same batches");
    /* shuffled with drop_last: 4 batches of 5, 20 different rows */
    mdl_batches_init(&it, ds, 5, 1, 1, &rng);
    {
        int n = 0, b = 0;
        memset(seen, 0, sizeof seen);
        while (mdl_batches_next(&it, ar, &xb, &yb)) {
            int r;
            b++;
            for (r = 0; r < xb->shape[0]; r++, n++) seen[(int)yb->data[r]]++;
            mdl_arena_reset(ar);
        }
        for (epoch = 0, repeat = 0; epoch < 23; epoch++) repeat += seen[epoch] > 1;
        CHECK(b == 4 && n == 20 && repeat == 0, "drop_last shuffled: %d batches, %d rows, %d "
              "repeated", b, n, repeat);
    }
    mdl_dataset_free(ds);
    mdl_dataset_free(ds2);

    /* no targets */
    {
        int xs[2] = {6, 2};
        mdl_dataset *nx = mdl_dataset_new(mdl_zeros(ar, 2, xs), NULL);
        mdl_tensor dummy;
        yb = &dummy; /* anything but NULL: next must set it to NULL */
        CHECK(nx && mdl_batches_init(&it, nx, 4, 0, 0, NULL) &&
                  mdl_batches_next(&it, ar, &xb, &yb) == 1 && xb->shape[0] == 4 && yb == NULL,
              "without targets yb is NULL");
        mdl_arena_reset(ar);
        mdl_dataset_free(nx);
    }
}

/* ---- standardisation ---- */

static void test_scaler_2d(void) {
    /* three features: 1 2 3 4 (mean 2.5, population variance 1.25), constant 7, and
       0 0 0 10 (mean 2.5, variance (3 * 6.25 + 56.25) / 4 = 18.75) */
    mdl_scalar v[12] = {1, 7, 0, 2, 7, 0, 3, 7, 0, 4, 7, 10};
    mdl_scalar w[6] = {6.5f, 7, -5, 2.5f, 8, 2.5f};
    int s43[2] = {4, 3}, s23[2] = {2, 3}, i;
    mdl_params *ps = mdl_params_new();
    mdl_tensor *x = mdl_from_array(ar, 2, s43, v), *val = mdl_from_array(ar, 2, s23, w), *z, *back;
    mdl_scaler sc = mdl_scaler_fit(ps, "sc", x);
    double m[3] = {2.5, 7, 2.5}, sd[3] = {sqrt(1.25), 1, sqrt(18.75)};
    NN(sc.mean);
    NN(sc.scale);
    CHECK(mdl_params_find(ps, "sc.mean") == sc.mean && mdl_params_find(ps, "sc.scale") == sc.scale,
          "mean and scale are named buffers of the set");
    CHECK(sc.mean->lifetime == MDL_PERSISTENT && !sc.mean->requires_grad && !sc.scale->grad,
          "persistent and not trained");
    CHECK(sc.mean->ndim == 1 && sc.mean->shape[0] == 3, "one mean per feature");
    for (i = 0; i < 3; i++) {
        CHECK_NEAR(sc.mean->data[i], m[i], 1e-6, "mean");
        CHECK_NEAR(sc.scale->data[i], sd[i], 1e-6, "scale (population std, 1 when constant)");
    }
    z = mdl_scaler_transform(ar, &sc, x);
    NN(z);
    for (i = 0; i < 12; i++)
        CHECK_NEAR(z->data[i], (v[i] - m[i % 3]) / sd[i % 3], 1e-6, "standardised training row");
    CHECK(x->data[0] == 1, "transform leaves x as it was");
    /* the training features now have mean 0 and std 1, the constant one is 0 */
    {
        double s = 0, ss = 0;
        for (i = 0; i < 4; i++) s += z->data[3 * i], ss += z->data[3 * i] * z->data[3 * i];
        CHECK_NEAR(s / 4, 0, 1e-6, "mean after");
        CHECK_NEAR(ss / 4, 1, 1e-6, "variance after");
        CHECK(z->data[1] == 0 && z->data[10] == 0, "the constant feature becomes 0");
    }
    /* validation data: the training statistics, unchanged */
    z = mdl_scaler_transform(ar, &sc, val);
    NN(z);
    for (i = 0; i < 6; i++)
        CHECK_NEAR(z->data[i], (w[i] - m[i % 3]) / sd[i % 3], 1e-6, "standardised validation row");
    CHECK_NEAR(sc.mean->data[0], 2.5, 1e-6, "the scaler did not refit");
    back = mdl_scaler_inverse_transform(ar, &sc, z);
    NN(back);
    for (i = 0; i < 6; i++) CHECK_NEAR(back->data[i], w[i], 1e-5, "inverse of the transform");
    /* in place, as for a data set's x */
    mdl_scaler_apply(&sc, val);
    for (i = 0; i < 6; i++) CHECK(val->data[i] == z->data[i], "apply = transform, element %d", i);
    mdl_params_free(ps);
    mdl_arena_reset(ar);
}

static void test_scaler_channels_and_targets(void) {
    /* x [2,2,1,3]: channel 0 holds 0..2 and 6..8, channel 1 holds 3..5 and 9..11 */
    int xs[4] = {2, 2, 1, 3}, ys[1] = {5}, y1[2] = {3, 1};
    mdl_params *ps = mdl_params_new();
    mdl_tensor *x = mdl_arange(ar, 0, 12, 1), *y, *pred, *back;
    mdl_scaler sc, ysc;
    x = mdl_reshape(ar, x, 4, xs);
    sc = mdl_scaler_fit(ps, "img", x);
    NN(sc.mean);
    /* channel 0: {0,1,2,6,7,8}, mean 4, variance (16+9+4+4+9+16)/6 = 29/3 */
    CHECK(sc.mean->shape[0] == 2, "one mean per channel");
    CHECK_NEAR(sc.mean->data[0], 4, 1e-6, "channel 0's mean");
    CHECK_NEAR(sc.mean->data[1], 7, 1e-6, "channel 1's mean");
    CHECK_NEAR(sc.scale->data[0], sqrt(29.0 / 3), 1e-6, "channel 0's std");
    CHECK_NEAR(sc.scale->data[1], sqrt(29.0 / 3), 1e-6, "channel 1's std");
    {
        mdl_tensor *z = mdl_scaler_transform(ar, &sc, x);
        NN(z);
        CHECK_NEAR(z->data[4], (4 - 7) / sqrt(29.0 / 3), 1e-6, "x[0,1,0,1] standardised");
    }
    /* regression targets y [5]: one feature; predictions [3,1] back to the targets' units */
    y = mdl_arange(ar, 10, 60, 10); /* 10 20 30 40 50: mean 30, variance 200 */
    y = mdl_reshape(ar, y, 1, ys);
    ysc = mdl_scaler_fit(ps, "target", y);
    NN(ysc.mean);
    CHECK(ysc.mean->shape[0] == 1, "one statistic for y [N]");
    CHECK_NEAR(ysc.scale->data[0], sqrt(200.0), 1e-4, "the targets' std");
    pred = mdl_zeros(ar, 2, y1);
    pred->data[0] = 0, pred->data[1] = 1, pred->data[2] = -0.5f;
    back = mdl_scaler_inverse_transform(ar, &ysc, pred);
    NN(back);
    CHECK(back->ndim == 2 && back->shape[0] == 3, "inverse keeps the shape [3,1]");
    CHECK_NEAR(back->data[0], 30, 1e-4, "0 -> the mean");
    CHECK_NEAR(back->data[1], 30 + sqrt(200.0), 1e-4, "1 -> mean + std");
    CHECK_NEAR(back->data[2], 30 - sqrt(50.0), 1e-4, "-0.5 -> mean - std / 2");
    /* a constant with a large mean is constant too (sklearn's rounding-noise test) */
    {
        mdl_tensor *c = mdl_full(ar, 1, ys, 123456.7f);
        mdl_scaler cs = mdl_scaler_fit(ps, "const", c);
        NN(cs.scale);
        CHECK(cs.scale->data[0] == 1, "a constant's scale is 1 (got %g)",
              (double)cs.scale->data[0]);
    }
    mdl_params_free(ps);
    mdl_arena_reset(ar);
}

/* ---- one-hot ---- */

static void test_one_hot(void) {
    mdl_scalar v[6] = {0, 3, 1, 1, 2, 0};
    int s23[2] = {2, 3}, i, k;
    mdl_tensor *idx = mdl_from_array(ar, 2, s23, v), *oh;
    oh = mdl_one_hot(ar, idx, 5);
    NN(oh);
    CHECK(oh->ndim == 3 && oh->shape[0] == 2 && oh->shape[1] == 3 && oh->shape[2] == 5,
          "shape [2,3,5]");
    for (i = 0; i < 6; i++)
        for (k = 0; k < 5; k++)
            CHECK(oh->data[i * 5 + k] == (k == (int)v[i] ? 1 : 0), "element [%d,%d]", i, k);
    CHECK(!oh->requires_grad, "not differentiable");
    oh = mdl_one_hot(ar, idx, -1); /* the largest index plus one: 4 */
    CHECK(oh && oh->shape[2] == 4 && oh->data[1 * 4 + 3] == 1, "num_classes inferred");
    {
        mdl_tensor *s = mdl_full(ar, 0, NULL, 2);
        oh = mdl_one_hot(ar, s, 3);
        CHECK(oh && oh->ndim == 1 && oh->shape[0] == 3 && oh->data[2] == 1 && oh->data[0] == 0,
              "a scalar index gives [3]");
    }
    mdl_arena_reset(ar);
}

/* ---- augmentation ---- */

static void test_hflip(void) {
    int xs[4] = {3, 2, 2, 3}, i, flipped = 0, b, bad;
    mdl_rng rng;
    mdl_tensor *x = mdl_arange(ar, 0, 36, 1), *y;
    x = mdl_reshape(ar, x, 4, xs);
    mdl_rng_seed(&rng, 1);
    y = mdl_random_hflip(ar, x, 1, &rng);
    NN(y);
    for (i = 0; i < 36; i++) /* every row mirrored: w -> 2 - w */
        CHECK(y->data[i] == x->data[i - i % 3 + 2 - i % 3], "p = 1: element %d", i);
    CHECK(x->data[0] == 0 && x->data[35] == 35, "the input is not changed");
    y = mdl_random_hflip(ar, x, 0, &rng);
    NN(y);
    CHECK(y != x && memcmp(y->data, x->data, 36 * sizeof(mdl_scalar)) == 0, "p = 0: a copy");
    /* p = 0.5: each image flipped or not as a whole, about half of 4000 (sd 32) */
    {
        int bs[2] = {4000, 2};
        mdl_tensor *pairs = mdl_zeros(ar, 2, bs), *out, *again;
        mdl_rng r2;
        for (b = 0; b < 4000; b++) pairs->data[2 * b] = 1, pairs->data[2 * b + 1] = 2;
        mdl_rng_seed(&rng, 2);
        mdl_rng_seed(&r2, 2);
        out = mdl_random_hflip(ar, pairs, 0.5, &rng);
        again = mdl_random_hflip(ar, pairs, 0.5, &r2);
        NN(out);
        NN(again);
        for (b = 0, bad = 0; b < 4000; b++) {
            int f = out->data[2 * b] == 2 && out->data[2 * b + 1] == 1;
            bad += !f && !(out->data[2 * b] == 1 && out->data[2 * b + 1] == 2);
            flipped += f;
        }
        CHECK(bad == 0, "%d images neither flipped nor left as they were", bad);
        CHECK(abs(flipped - 2000) < 160, "%d of 4000 flipped with p = 0.5", flipped);
        CHECK(memcmp(out->data, again->data, 8000 * sizeof(mdl_scalar)) == 0,
              "the same seed flips the same images");
    }
    /* all channels of an image flip together */
    mdl_rng_seed(&rng, 9);
    y = mdl_random_hflip(ar, x, 0.5, &rng);
    NN(y);
    for (b = 0; b < 3; b++) {
        int f0 = y->data[b * 12] != x->data[b * 12], c, same = 1;
        for (c = 0; c < 4; c++) /* the 4 rows (2 channels x 2 rows) of image b */
            same &= (y->data[b * 12 + 3 * c] != x->data[b * 12 + 3 * c]) == f0;
        CHECK(same, "image %d: its rows did not all do the same", b);
    }
    mdl_arena_reset(ar);
}

static void test_crop(void) {
    int xs[4] = {300, 2, 4, 5}, b, c, h, w, P = 2, hits_dy[5] = {0}, hits_dx[5] = {0};
    int out_of_range = 0, wrong = 0;
    mdl_rng rng;
    mdl_tensor *x = mdl_zeros(ar, 4, xs), *y;
    NN(x);
    for (b = 0; b < 300 * 40; b++) x->data[b] = (mdl_scalar)(1 + b % 40); /* 1..40 per image */
    mdl_rng_seed(&rng, 4);
    y = mdl_random_crop(ar, x, 0, &rng);
    CHECK(y && y != x && memcmp(y->data, x->data, sizeof(mdl_scalar) * x->numel) == 0,
          "padding 0: a copy");
    y = mdl_random_crop(ar, x, P, &rng);
    NN(y);
    CHECK(y->ndim == 4 && y->shape[2] == 4 && y->shape[3] == 5, "the original size");
    for (b = 0; b < 300; b++) {
        /* find the shift from the value of a pixel that must come from inside x: every value
           is 1 + c*20 + h*5 + w, so any nonzero output pixel tells where it came from */
        const mdl_scalar *o = y->data + b * 40, *in = x->data + b * 40;
        int dy = 99, dx = 99, ok = 1;
        for (h = 0; h < 4 && dy == 99; h++)
            for (w = 0; w < 5 && dy == 99; w++)
                if (o[h * 5 + w] != 0) {
                    int v = (int)o[h * 5 + w] - 1;
                    dy = v / 5 - h; /* channel 0: v = sh * 5 + sw */
                    dx = v % 5 - w;
                }
        if (dy == 99) dy = dx = 0; /* cannot happen with P < H, W: some pixel stays inside */
        if (dy < -P || dy > P || dx < -P || dx > P) {
            out_of_range++;
            continue;
        }
        hits_dy[dy + P]++;
        hits_dx[dx + P]++;
        for (c = 0; c < 2; c++)
            for (h = 0; h < 4; h++)
                for (w = 0; w < 5; w++) {
                    int sh = h + dy, sw = w + dx;
                    mdl_scalar want = sh >= 0 && sh < 4 && sw >= 0 && sw < 5
                                          ? in[c * 20 + sh * 5 + sw] : 0;
                    if (o[c * 20 + h * 5 + w] != want) ok = 0;
                }
        wrong += !ok;
    }
    CHECK(out_of_range == 0, "%d images moved by more than %d pixels", out_of_range, P);
    CHECK(wrong == 0, "%d images are not x shifted by (dy,dx), zeros coming in, both channels "
          "alike", wrong);
    for (b = 0; b < 5; b++) /* each offset -2..2 about 60 times in 300 images */
        CHECK(hits_dy[b] > 25 && hits_dx[b] > 25, "offset %d: %d and %d times", b - P,
              hits_dy[b], hits_dx[b]);
    CHECK(x->data[0] == 1, "the input is not changed");
    /* [B,H,W] too */
    {
        int s3[3] = {2, 3, 3};
        y = mdl_random_crop(ar, mdl_ones(ar, 3, s3), 1, &rng);
        CHECK(y && y->ndim == 3 && y->shape[1] == 3, "[B,H,W] works");
    }
    mdl_arena_reset(ar);
}

static void test_noise(void) {
    int s[1] = {20000}, i;
    mdl_rng rng, r2;
    mdl_tensor *x = mdl_zeros(ar, 1, s), *y, *y2;
    double sum = 0, ss = 0;
    NN(x);
    mdl_rng_seed(&rng, 6);
    mdl_rng_seed(&r2, 6);
    y = mdl_gaussian_noise(ar, x, 0.1, &rng);
    y2 = mdl_gaussian_noise(ar, x, 0.1, &r2);
    NN(y);
    NN(y2);
    for (i = 0; i < 20000; i++) sum += y->data[i], ss += (double)y->data[i] * y->data[i];
    CHECK(fabs(sum / 20000) < 4 * 0.1 / sqrt(20000.0), "noise mean %g", sum / 20000);
    CHECK(fabs(sqrt(ss / 20000) - 0.1) < 0.004, "noise std %g, want 0.1", sqrt(ss / 20000));
    CHECK(memcmp(y->data, y2->data, sizeof(mdl_scalar) * 20000) == 0,
          "the same seed, the same noise");
    CHECK(x->data[0] == 0 && x->data[19999] == 0, "the input is not changed");
    y = mdl_gaussian_noise(ar, y2, 0, &rng);
    CHECK(y && y != y2 && memcmp(y->data, y2->data, sizeof(mdl_scalar) * 20000) == 0,
          "std 0: a copy");
    mdl_arena_reset(ar);
}

/* ---- errors ---- */

static void test_errors(void) {
    int s4[2] = {4, 3}, s3[1] = {3}, s5[1] = {5}, s42[2] = {4, 2}, rows[2] = {0, 4};
    mdl_params *ps = mdl_params_new();
    mdl_tensor *x = mdl_zeros(ar, 2, s4), *y3 = mdl_zeros(ar, 1, s3), *y4, *stale;
    mdl_dataset *ds, *parts[3];
    mdl_batches it;
    mdl_tensor *xb;
    mdl_rng rng;
    double f[2] = {0.5, 0.5}, bad[2] = {0.5, 0.4}, neg[2] = {1.5, -0.5}, cnt[2] = {3, 2};
    mdl_scaler sc, empty;
    mdl_rng_seed(&rng, 1);
    capture_errors();

    /* data sets */
    CHECK(mdl_dataset_new(NULL, NULL) == NULL, "x NULL");
    expect_error(MDL_ERR_NULL, "mdl_dataset_new", "x NULL", "x is NULL", NULL);
    CHECK(mdl_dataset_new(x, y3) == NULL, "y with another N");
    expect_error(MDL_ERR_SHAPE, "mdl_dataset_new", "y with another N", "x [4,3] and y [3]",
                 "x.shape[0]=4 != y.shape[0]=3");
    CHECK(mdl_dataset_new(mdl_full(ar, 0, NULL, 1), NULL) == NULL, "x scalar");
    expect_error(MDL_ERR_SHAPE, "mdl_dataset_new", "x scalar", "x []", NULL);
    CHECK(mdl_dataset_new(x, mdl_full(ar, 0, NULL, 1)) == NULL, "y scalar");
    expect_error(MDL_ERR_SHAPE, "mdl_dataset_new", "y scalar", "y is a scalar", NULL);
    stale = mdl_zeros(ar, 2, s4);
    mdl_arena_reset(ar);
#ifdef MDL__STALE_CHECK
    CHECK(mdl_dataset_new(stale, NULL) == NULL, "x stale");
    expect_error(MDL_ERR_STALE, "mdl_dataset_new", "x stale", NULL, NULL);
#else
    (void)stale;
#endif
    x = mdl_zeros(ar, 2, s4);
    y3 = mdl_zeros(ar, 1, s3);
    y4 = mdl_zeros(ar, 1, s4);
    y4->data[1] = 1, y4->data[3] = 1;
    ds = mdl_dataset_new(x, y4);
    if (!ds) {
        CHECK(0, "cannot make the data set: %s", mdl_last_error());
        mdl_params_free(ps);
        return;
    }
    CHECK(mdl_dataset_subset(ds, 2, rows) == NULL, "subset row out of range");
    expect_error(MDL_ERR_ARG, "mdl_dataset_subset", "row out of range", "rows[1] = 4",
                 "0..3");
    CHECK(mdl_dataset_subset(ds, -1, rows) == NULL, "subset n < 0");
    expect_error(MDL_ERR_SIZE, "mdl_dataset_subset", "n < 0", NULL, NULL);
    CHECK(mdl_dataset_subset(ds, 2, NULL) == NULL, "subset rows NULL");
    expect_error(MDL_ERR_NULL, "mdl_dataset_subset", "rows NULL", NULL, NULL);
    CHECK(mdl_dataset_subset(NULL, 2, rows) == NULL, "subset of NULL");
    expect_error(MDL_ERR_NULL, "mdl_dataset_subset", "subset of NULL", "data set is NULL", NULL);
    mdl_dataset_shuffle(ds, NULL);
    expect_error(MDL_ERR_NULL, "mdl_dataset_shuffle", "shuffle without rng", "rng", NULL);

    /* splits */
    CHECK(mdl_dataset_split(ds, 2, bad, 0, &rng, parts) == 0 && !parts[0] && !parts[1],
          "sizes adding up to 0.9");
    expect_error(MDL_ERR_ARG, "mdl_dataset_split", "sizes 0.9", "add up to 0.9", "N = 4");
    CHECK(mdl_dataset_split(ds, 2, neg, 0, &rng, parts) == 0, "a negative size");
    expect_error(MDL_ERR_ARG, "mdl_dataset_split", "negative size", "sizes[1] = -0.5", NULL);
    cnt[0] = 3, cnt[1] = 2;
    CHECK(mdl_dataset_split(ds, 2, cnt, 0, &rng, parts) == 0, "counts adding up to 5 for 4");
    expect_error(MDL_ERR_ARG, "mdl_dataset_split", "counts 5 for 4", "add up to 5", NULL);
    {
        double nan[2];
        nan[0] = 0.5, nan[1] = sqrt(-1.0);
        CHECK(mdl_dataset_split(ds, 2, nan, 0, &rng, parts) == 0, "a NaN size");
        expect_error(MDL_ERR_ARG, "mdl_dataset_split", "NaN size", "sizes[1]", NULL);
    }
    CHECK(mdl_dataset_split(ds, 0, f, 0, &rng, parts) == 0, "no parts");
    expect_error(MDL_ERR_ARG, "mdl_dataset_split", "no parts", "n_parts = 0", NULL);
    CHECK(mdl_dataset_split(ds, 2, f, 0, NULL, parts) == 0, "rng NULL");
    expect_error(MDL_ERR_NULL, "mdl_dataset_split", "rng NULL", "rng", NULL);
    ds->y->data[2] = 1.5f;
    CHECK(mdl_dataset_split(ds, 2, f, 1, &rng, parts) == 0, "stratify with 1.5");
    expect_error(MDL_ERR_ARG, "mdl_dataset_split", "stratify 1.5", "row 2", "1.5");
    ds->y->data[2] = -1;
    CHECK(mdl_dataset_split(ds, 2, f, 1, &rng, parts) == 0, "stratify with -1");
    expect_error(MDL_ERR_ARG, "mdl_dataset_split", "stratify -1", "row 2", NULL);
    ds->y->data[2] = 0;
    CHECK(mdl_dataset_split(ds, 2, f, 1, &rng, parts) == 2, "stratify with classes 0 and 1: %s",
          mdl_last_error());
    CHECK(captured_count == 0, "a good split reports nothing");
    free_parts(parts, 2);
    {
        mdl_dataset *nx = mdl_dataset_new(x, NULL), *y2;
        CHECK(nx && mdl_dataset_split(nx, 2, f, 1, &rng, parts) == 0, "stratify without y");
        expect_error(MDL_ERR_ARG, "mdl_dataset_split", "stratify without y", "no y", NULL);
        y2 = mdl_dataset_new(x, mdl_zeros(ar, 2, s42));
        CHECK(y2 && mdl_dataset_split(y2, 2, f, 1, &rng, parts) == 0, "stratify with y [4,2]");
        expect_error(MDL_ERR_SHAPE, "mdl_dataset_split", "stratify y [4,2]", "[4,2]", NULL);
        mdl_dataset_free(nx);
        mdl_dataset_free(y2);
    }

    /* batches */
    CHECK(mdl_batches_init(&it, ds, 0, 0, 0, NULL) == 0, "batch size 0");
    expect_error(MDL_ERR_ARG, "mdl_batches_init", "batch size 0", "batch_size = 0", NULL);
    CHECK(mdl_batches_next(&it, ar, &xb, NULL) == 0 && xb == NULL && captured_count == 0,
          "a failed init gives no batches, quietly");
    CHECK(mdl_batches_init(&it, ds, 2, 1, 0, NULL) == 0, "shuffle without rng");
    expect_error(MDL_ERR_NULL, "mdl_batches_init", "shuffle without rng", "rng", NULL);
    CHECK(mdl_batches_init(&it, NULL, 2, 0, 0, NULL) == 0, "no data set");
    expect_error(MDL_ERR_NULL, "mdl_batches_init", "no data set", "data set", NULL);
    mdl_batches_init(&it, ds, 2, 0, 0, NULL);
    CHECK(mdl_batches_next(&it, NULL, &xb, NULL) == 0, "next without an arena");
    expect_error(MDL_ERR_NULL, "mdl_batches_next", "no arena", "arena", NULL);
    CHECK(mdl_batches_next(&it, ar, NULL, NULL) == 0, "next without xb");
    expect_error(MDL_ERR_NULL, "mdl_batches_next", "xb NULL", "xb", NULL);

    /* scaler */
    sc = mdl_scaler_fit(ps, "sc", x);
    CHECK(sc.mean != NULL, "fit: %s", mdl_last_error());
    CHECK(mdl_scaler_transform(ar, &sc, mdl_zeros(ar, 2, s42)) == NULL, "2 features for 3");
    expect_error(MDL_ERR_SHAPE, "mdl_scaler_transform", "2 features for 3", "x [4,2] has 2",
                 "fitted on 3");
    CHECK(mdl_scaler_inverse_transform(ar, &sc, mdl_zeros(ar, 1, s5)) == NULL, "1 feature for 3");
    expect_error(MDL_ERR_SHAPE, "mdl_scaler_inverse_transform", "x [5]", "x [5] has 1", NULL);
    mdl_scaler_apply(&sc, mdl_full(ar, 0, NULL, 1));
    expect_error(MDL_ERR_SHAPE, "mdl_scaler_apply", "scalar", "scalar", NULL);
    sc = mdl_scaler_fit(ps, "sc", x);
    CHECK(sc.mean == NULL && sc.scale == NULL, "the same name twice");
    expect_error(MDL_ERR_ARG, "mdl_scaler_fit", "same name", "sc.mean", NULL);
    sc = mdl_scaler_fit(ps, "", x);
    expect_error(MDL_ERR_ARG, "mdl_scaler_fit", "empty name", "name", NULL);
    sc = mdl_scaler_fit(NULL, "n", x);
    expect_error(MDL_ERR_NULL, "mdl_scaler_fit", "no set", "parameter set", NULL);
    {
        int s0[2] = {0, 3};
        sc = mdl_scaler_fit(ps, "none", mdl_zeros(ar, 2, s0));
        CHECK(sc.mean == NULL, "no rows to fit");
        expect_error(MDL_ERR_SHAPE, "mdl_scaler_fit", "no rows", "[0,3]", "N >= 1");
    }
    empty.mean = empty.scale = NULL;
    CHECK(mdl_scaler_transform(ar, &empty, x) == NULL, "an empty scaler");
    expect_error(MDL_ERR_NULL, "mdl_scaler_transform", "empty scaler", "not fitted", NULL);

    /* one-hot */
    {
        mdl_scalar v[3] = {0, 2, 4}, h[3] = {0, 0.5f, 1};
        mdl_tensor *i3 = mdl_from_array(ar, 1, s3, v);
        CHECK(mdl_one_hot(ar, i3, 4) == NULL, "index 4 of 4 classes");
        expect_error(MDL_ERR_ARG, "mdl_one_hot", "out of range", "element 2", "num_classes = 4");
        CHECK(mdl_one_hot(ar, mdl_from_array(ar, 1, s3, h), 4) == NULL, "index 0.5");
        expect_error(MDL_ERR_ARG, "mdl_one_hot", "index 0.5", "element 1", "whole number");
        v[0] = -1;
        CHECK(mdl_one_hot(ar, mdl_from_array(ar, 1, s3, v), -1) == NULL, "index -1");
        expect_error(MDL_ERR_ARG, "mdl_one_hot", "index -1", "element 0", NULL);
        CHECK(mdl_one_hot(ar, i3, 0) == NULL, "num_classes 0");
        expect_error(MDL_ERR_ARG, "mdl_one_hot", "num_classes 0", "num_classes = 0", NULL);
        {
            int z[1] = {0}, r6[6] = {1, 1, 1, 1, 1, 1};
            CHECK(mdl_one_hot(ar, mdl_zeros(ar, 1, z), -1) == NULL, "empty, inferred");
            expect_error(MDL_ERR_ARG, "mdl_one_hot", "empty", "empty", NULL);
            CHECK(mdl_one_hot(ar, mdl_zeros(ar, 6, r6), 2) == NULL, "rank 6");
            expect_error(MDL_ERR_SHAPE, "mdl_one_hot", "rank 6", "rank 7", NULL);
        }
        CHECK(mdl_one_hot(ar, NULL, 2) == NULL, "NULL index");
        expect_error(MDL_ERR_NULL, "mdl_one_hot", "NULL index", "index", NULL);
    }

    /* augmentation */
    {
        int s2[2] = {2, 3}, s4d[4] = {1, 1, 3, 3};
        mdl_tensor *img = mdl_zeros(ar, 4, s4d);
        CHECK(mdl_random_hflip(ar, img, 1.5, &rng) == NULL, "p 1.5");
        expect_error(MDL_ERR_ARG, "mdl_random_hflip", "p 1.5", "p = 1.5", NULL);
        CHECK(mdl_random_hflip(ar, y3, 0.5, &rng) == NULL, "rank 1");
        expect_error(MDL_ERR_SHAPE, "mdl_random_hflip", "rank 1", "x [3]", NULL);
        CHECK(mdl_random_hflip(ar, img, 0.5, NULL) == NULL, "no rng");
        expect_error(MDL_ERR_NULL, "mdl_random_hflip", "no rng", "rng", NULL);
        CHECK(mdl_random_crop(ar, img, -1, &rng) == NULL, "padding -1");
        expect_error(MDL_ERR_ARG, "mdl_random_crop", "padding -1", "padding = -1", NULL);
        CHECK(mdl_random_crop(ar, mdl_zeros(ar, 2, s2), 1, &rng) == NULL, "crop rank 2");
        expect_error(MDL_ERR_SHAPE, "mdl_random_crop", "rank 2", "x [2,3]", "[B,C,H,W]");
        CHECK(mdl_gaussian_noise(ar, img, -0.1, &rng) == NULL, "std -0.1");
        expect_error(MDL_ERR_ARG, "mdl_gaussian_noise", "std -0.1", "std = -0.1", NULL);
        CHECK(mdl_gaussian_noise(NULL, img, 0.1, &rng) == NULL, "no arena");
        expect_error(MDL_ERR_NULL, "mdl_gaussian_noise", "no arena", "arena", NULL);
    }

    /* after an error, NULL passes through quietly */
    CHECK(mdl_one_hot(ar, mdl_from_array(ar, 1, s3, NULL), 2) == NULL, "values NULL");
    captured_count = 0;
    CHECK(mdl_dataset_new(NULL, NULL) == NULL && mdl_dataset_subset(NULL, 1, rows) == NULL &&
              captured_count == 0, "NULL after an error is passed on quietly");
    mdl_set_error_handler(NULL, NULL);
    mdl_clear_error();
    mdl_dataset_free(ds);
    mdl_params_free(ps);
    mdl_arena_reset(ar);
}

/* ---- out of memory: an error code and a message, nothing half made, nothing leaked ---- */

static void test_out_of_memory(void) {
    mdl_dataset *ds = numbered(30, 4, NULL), *made, *parts[3];
    double f[3] = {0.5, 0.3, 0.2};
    mdl_rng rng;
    int k, got, failures;
    NN(ds);
    mdl_rng_seed(&rng, 1);
    /* each allocation of mdl_dataset_new in turn fails, until none is left to fail */
    for (k = 0, failures = 0; k < 20; k++) {
        mdl_clear_error();
        fail_after = k;
        made = mdl_dataset_subset(ds, 3, ds->ids);
        fail_after = -1;
        if (made) break;
        failures++;
        CHECK(mdl_last_error_code() == MDL_ERR_NOMEM && strstr(mdl_last_error(), "mdl_dataset"),
              "allocation %d failing: %s", k, mdl_last_error());
    }
    CHECK(made && failures >= 4, "a subset makes %d allocations before it succeeds", failures);
    mdl_dataset_free(made);
    /* the same in a split, stratified */
    for (k = 0, failures = 0; k < 60; k++) {
        mdl_clear_error();
        fail_after = k;
        got = mdl_dataset_split(ds, 3, f, 1, &rng, parts);
        fail_after = -1;
        if (got) break;
        failures++;
        CHECK(!parts[0] && !parts[1] && !parts[2] && mdl_last_error_code() == MDL_ERR_NOMEM,
              "split, allocation %d failing: %s", k, mdl_last_error());
    }
    CHECK(got == 3 && failures >= 10, "a split makes %d allocations before it succeeds",
          failures);
    free_parts(parts, 3);
    /* a shuffle that cannot have its memory leaves the data set as it was */
    for (k = 0; k < 2; k++) {
        mdl_error e;
        mdl_clear_error();
        fail_after = k;
        e = mdl_dataset_shuffle(ds, &rng);
        fail_after = -1;
        CHECK(e == MDL_ERR_NOMEM && mdl_last_error_code() == MDL_ERR_NOMEM &&
                  ds->ids[0] == 0 && ds->ids[29] == 29 && rows_match_ids(ds, NULL),
              "shuffle, allocation %d failing: %s", k, mdl_error_name(e));
    }
    CHECK(mdl_dataset_shuffle(ds, &rng) == MDL_OK && rows_match_ids(ds, NULL), "then it works");
    mdl_clear_error();
    mdl_dataset_free(ds);
}

int main(void) {
    ar = mdl_arena_new(0);
    test_dataset_new();
    test_subset();
    test_shuffle();
    test_split_sizes();
    test_split_random();
    test_split_stratified();
    test_split_classes_mixed();
    test_batches_in_order();
    test_batches_shuffled();
    test_scaler_2d();
    test_scaler_channels_and_targets();
    test_one_hot();
    test_hflip();
    test_crop();
    test_noise();
    test_errors();
    test_out_of_memory();
    mdl_arena_free(ar);
    return test_summary();
}
