/* tests/test_errors.c - contract errors: each one reaches the handler once with the right code
   and a message "minidl: error: <function>: ...", the op returns NULL, and NULL results pass
   through later ops quietly. Also the error names and mdl_last_error / mdl_clear_error.

   gcc -std=c99 -O1 -g -Wall -Wextra -Wpedantic -Werror -I. tests/test_errors.c -o build/test_errors -lm
*/
#define MINIDL_IMPLEMENTATION
#include "minidl.h"
#include "test.h"

static const char prefix[] = "minidl: error: ";

/* Assert that exactly one contract error with code `want` was captured since the last
   capture_errors(), that its message has the prefix and names `fn`, and that the call that
   made it returned NULL (pass ret = NULL for functions that return no tensor). */
static void expect_err(const void *ret, int want, const char *fn, const char *what) {
    CHECK(ret == NULL, "%s: returned a tensor, not NULL", what);
    CHECK(captured_count == 1, "%s: %d errors captured, want 1 (last: %s)", what, captured_count,
          captured_message);
    CHECK(captured_code == want, "%s: code %s, want %s (%s)", what,
          mdl_error_name((mdl_error)captured_code), mdl_error_name((mdl_error)want),
          captured_message);
    CHECK(strncmp(captured_message, prefix, sizeof prefix - 1) == 0,
          "%s: message does not start with '%s': '%s'", what, prefix, captured_message);
    CHECK(strstr(captured_message, fn) != NULL, "%s: message does not name %s: '%s'", what, fn,
          captured_message);
    CHECK(mdl_last_error_code() == (mdl_error)want, "%s: mdl_last_error_code %s", what,
          mdl_error_name(mdl_last_error_code()));
}

/* The same when either of two codes is acceptable (the API does not say which). */
static void expect_err2(const void *ret, int want1, int want2, const char *fn, const char *what) {
    CHECK(ret == NULL, "%s: returned a tensor, not NULL", what);
    CHECK(captured_count == 1, "%s: %d errors captured, want 1", what, captured_count);
    CHECK(captured_code == want1 || captured_code == want2, "%s: code %s, want %s or %s", what,
          mdl_error_name((mdl_error)captured_code), mdl_error_name((mdl_error)want1),
          mdl_error_name((mdl_error)want2));
    CHECK(strstr(captured_message, fn) != NULL, "%s: message does not name %s: '%s'", what, fn,
          captured_message);
}

static void test_handler_and_names(void) {
    static const struct {
        mdl_error code;
        const char *name;
    } all[] = {
#define X(code, text) {code, #code},
        MDL_ERRORS(X)
#undef X
    };
    int n = (int)(sizeof all / sizeof all[0]), i, j;
    mdl_error_handler prev;

    prev = mdl_set_error_handler(capture_handler, NULL);
    CHECK(prev == NULL, "the first handler is not the default (NULL)");
    prev = mdl_set_error_handler(capture_handler, NULL);
    CHECK(prev == capture_handler, "set_error_handler does not return the previous handler");

    CHECK(n == (int)MDL_ERROR_COUNT, "%d codes in MDL_ERRORS, MDL_ERROR_COUNT %d", n,
          (int)MDL_ERROR_COUNT);
    CHECK(MDL_OK == 0, "MDL_OK is %d", (int)MDL_OK);
    CHECK(strcmp(mdl_error_name(MDL_ERR_SHAPE), "MDL_ERR_SHAPE") == 0, "name '%s'",
          mdl_error_name(MDL_ERR_SHAPE));
    for (i = 0; i < n; i++) {
        const char *name = mdl_error_name(all[i].code);
        CHECK(name != NULL && strncmp(name, "MDL_", 4) == 0, "name of %d: '%s'", i,
              name ? name : "(null)");
        if (!name) continue;
        CHECK(strcmp(name, all[i].name) == 0, "name of %s is '%s'", all[i].name, name);
        for (j = 0; j < i; j++)
            CHECK(strcmp(name, mdl_error_name(all[j].code)) != 0, "codes %d and %d share '%s'", i,
                  j, name);
    }
    CHECK(strcmp(mdl_error_name(MDL_ERROR_COUNT), "MDL_ERR_UNKNOWN") == 0, "name of COUNT '%s'",
          mdl_error_name(MDL_ERROR_COUNT));
    CHECK(strcmp(mdl_error_name((mdl_error)-1), "MDL_ERR_UNKNOWN") == 0, "name of -1 '%s'",
          mdl_error_name((mdl_error)-1));
}

static void test_shape_mismatch(mdl_arena *ar) {
    int s23[2] = {2, 3}, s4[1] = {4}, sa[2] = {32, 784}, sb[2] = {128, 10};
    int s234[3] = {2, 3, 4}, s345[3] = {3, 4, 5}, s32[2] = {3, 2}, s33[2] = {3, 3};
    mdl_tensor *a = mdl_zeros(ar, 2, s23), *b = mdl_zeros(ar, 1, s4);
    mdl_tensor *ma = mdl_zeros(ar, 2, sa), *mb = mdl_zeros(ar, 2, sb);
    mdl_tensor *ba = mdl_zeros(ar, 3, s234), *bb = mdl_zeros(ar, 3, s345);
    mdl_tensor *c32 = mdl_zeros(ar, 2, s32), *c33 = mdl_zeros(ar, 2, s33);
    mdl_tensor *xs[2];
    CHECK(a && b && ma && mb && ba && bb && c32 && c33, "setup");
    if (!(a && b && ma && mb && ba && bb && c32 && c33)) return;

    capture_errors();
    expect_err(mdl_add(ar, a, b), MDL_ERR_SHAPE, "mdl_add", "add [2,3] [4]");
    CHECK(strstr(captured_message, "[2,3]") && strstr(captured_message, "[4]"),
          "add message lacks the shapes: '%s'", captured_message);
    capture_errors();
    expect_err(mdl_sub(ar, a, b), MDL_ERR_SHAPE, "mdl_sub", "sub [2,3] [4]");
    capture_errors();
    expect_err(mdl_mul(ar, b, a), MDL_ERR_SHAPE, "mdl_mul", "mul [4] [2,3]");
    capture_errors();
    expect_err(mdl_div(ar, a, b), MDL_ERR_SHAPE, "mdl_div", "div [2,3] [4]");
    capture_errors();
    expect_err(mdl_maximum(ar, a, b), MDL_ERR_SHAPE, "mdl_maximum", "maximum [2,3] [4]");

    capture_errors();
    expect_err(mdl_matmul(ar, ma, mb), MDL_ERR_SHAPE, "mdl_matmul", "matmul [32,784]@[128,10]");
    CHECK(strstr(captured_message, "[32,784]") && strstr(captured_message, "[128,10]"),
          "matmul message lacks the shapes: '%s'", captured_message);
    CHECK(strcmp(mdl_last_error(), captured_message) == 0, "last_error '%s' != handler's '%s'",
          mdl_last_error(), captured_message);
    capture_errors();
    expect_err(mdl_matmul(ar, ba, bb), MDL_ERR_SHAPE, "mdl_matmul", "matmul [2,3,4]@[3,4,5]");
    capture_errors();
    expect_err(mdl_matmul(ar, a, a), MDL_ERR_SHAPE, "mdl_matmul", "matmul [2,3]@[2,3]");

    xs[0] = a;
    xs[1] = c32;
    capture_errors();
    expect_err(mdl_concat(ar, 2, xs, 0), MDL_ERR_SHAPE, "mdl_concat", "concat [2,3] [3,2] axis 0");
    xs[1] = c33;
    capture_errors();
    expect_err(mdl_stack(ar, 2, xs, 0), MDL_ERR_SHAPE, "mdl_stack", "stack [2,3] [3,3]");
    capture_errors();
    mdl_copy(c33, a); /* 9 elements from 6 */
    expect_err(NULL, MDL_ERR_SHAPE, "mdl_copy", "copy 6 into 9");
    capture_errors();
}

static void test_null(mdl_arena *ar) {
    int s23[2] = {2, 3}, s6[1] = {6};
    mdl_tensor *a = mdl_ones(ar, 2, s23), *xs[2];
    CHECK(a != NULL, "setup");
    if (!a) return;
    capture_errors();
    mdl_clear_error();
    expect_err(mdl_add(ar, NULL, a), MDL_ERR_NULL, "mdl_add", "add(NULL, a)");
    capture_errors();
    expect_err(mdl_mul(ar, a, NULL), MDL_ERR_NULL, "mdl_mul", "mul(a, NULL)");
    capture_errors();
    expect_err(mdl_exp(ar, NULL), MDL_ERR_NULL, "mdl_exp", "exp(NULL)");
    capture_errors();
    expect_err(mdl_relu(ar, NULL), MDL_ERR_NULL, "mdl_relu", "relu(NULL)");
    capture_errors();
    expect_err(mdl_matmul(ar, NULL, a), MDL_ERR_NULL, "mdl_matmul", "matmul(NULL, a)");
    capture_errors();
    expect_err(mdl_sum(ar, NULL, 0, 0), MDL_ERR_NULL, "mdl_sum", "sum(NULL)");
    capture_errors();
    expect_err(mdl_softmax(ar, NULL, -1), MDL_ERR_NULL, "mdl_softmax", "softmax(NULL)");
    capture_errors();
    expect_err(mdl_reshape(ar, NULL, 1, s6), MDL_ERR_NULL, "mdl_reshape", "reshape(NULL)");
    xs[0] = a;
    xs[1] = NULL;
    capture_errors();
    expect_err(mdl_concat(ar, 2, xs, 0), MDL_ERR_NULL, "mdl_concat", "concat(a, NULL)");
    capture_errors();
    expect_err(mdl_add(NULL, a, a), MDL_ERR_NULL, "mdl_add", "add with a NULL arena");
    capture_errors();
    expect_err(mdl_zeros(NULL, 2, s23), MDL_ERR_NULL, "mdl_zeros", "zeros with a NULL arena");
    capture_errors();
    expect_err(mdl_zeros(ar, 2, NULL), MDL_ERR_NULL, "mdl_zeros", "zeros with a NULL shape");
    /* ops built from other ops still name themselves */
    capture_errors();
    expect_err(mdl_neg(ar, NULL), MDL_ERR_NULL, "mdl_neg", "neg(NULL)");
    capture_errors();
    expect_err(mdl_sub_scalar(ar, NULL, 1), MDL_ERR_NULL, "mdl_sub_scalar", "sub_scalar(NULL)");
    capture_errors();
    expect_err(mdl_div_scalar(ar, NULL, 2), MDL_ERR_NULL, "mdl_div_scalar", "div_scalar(NULL)");
    capture_errors();
    expect_err(mdl_mean(ar, NULL, 0, 0), MDL_ERR_NULL, "mdl_mean", "mean(NULL)");
    capture_errors();
    expect_err(mdl_var(ar, NULL, 0, 1, 0), MDL_ERR_NULL, "mdl_var", "var(NULL)");
    capture_errors();
    expect_err(mdl_transpose(ar, NULL, 0, 1), MDL_ERR_NULL, "mdl_transpose", "transpose(NULL)");
    capture_errors();
    expect_err(mdl_flatten(ar, NULL, 0, -1), MDL_ERR_NULL, "mdl_flatten", "flatten(NULL)");
    capture_errors();
    expect_err(mdl_stack(ar, 2, xs, 0), MDL_ERR_NULL, "mdl_stack", "stack(a, NULL)");
    capture_errors();
    CHECK(mdl_backward(NULL) == MDL_ERR_NULL, "backward(NULL) does not return MDL_ERR_NULL");
    expect_err(NULL, MDL_ERR_NULL, "mdl_backward", "backward(NULL)");
    capture_errors();
}

static void test_pass_through(mdl_arena *ar) {
    int s23[2] = {2, 3}, s4[1] = {4}, s32[2] = {3, 2}, s6[1] = {6};
    mdl_tensor *a = mdl_ones(ar, 2, s23), *b = mdl_ones(ar, 1, s4), *w = mdl_ones(ar, 2, s32);
    mdl_tensor *t, *u;
    CHECK(a && b && w, "setup");
    if (!(a && b && w)) return;
    capture_errors();
    t = mdl_add(ar, a, b); /* the one real mistake */
    expect_err(t, MDL_ERR_SHAPE, "mdl_add", "add [2,3] [4]");
    u = mdl_exp(ar, t);
    CHECK(u == NULL, "exp(NULL) after an error returned a tensor");
    u = mdl_add(ar, u, a);
    CHECK(u == NULL, "add(NULL, a) after an error returned a tensor");
    u = mdl_matmul(ar, u, w);
    CHECK(u == NULL, "matmul(NULL, w) after an error returned a tensor");
    u = mdl_reshape(ar, u, 1, s6);
    CHECK(u == NULL, "reshape(NULL) after an error returned a tensor");
    u = mdl_softmax(ar, u, -1);
    CHECK(u == NULL, "softmax(NULL) after an error returned a tensor");
    u = mdl_sum(ar, u, MDL_ALL, 0);
    CHECK(u == NULL, "sum(NULL) after an error returned a tensor");
    CHECK(captured_count == 1, "NULL pass-through reported %d errors, want 1 (last: %s)",
          captured_count, captured_message);
    CHECK(captured_code == MDL_ERR_SHAPE && mdl_last_error_code() == MDL_ERR_SHAPE,
          "the first error was replaced: %s", captured_message);
    CHECK(strstr(mdl_last_error(), "mdl_add") != NULL, "last_error '%s'", mdl_last_error());
    /* mdl_clear_error: NULL is an error again */
    mdl_clear_error();
    CHECK(mdl_last_error_code() == MDL_OK, "clear_error: code %s",
          mdl_error_name(mdl_last_error_code()));
    CHECK(strcmp(mdl_last_error(), "") == 0, "clear_error: message '%s'", mdl_last_error());
    u = mdl_exp(ar, NULL);
    CHECK(u == NULL && captured_count == 2 && captured_code == MDL_ERR_NULL,
          "after clear_error exp(NULL) gave %d errors, code %s", captured_count,
          mdl_error_name((mdl_error)captured_code));
    capture_errors();
}

static void test_sizes(mdl_arena *ar) {
    int huge[3] = {1 << 30, 1 << 30, 1 << 30};   /* 2^90 elements */
    int wrap[4] = {1 << 16, 1 << 16, 1 << 16, 1 << 16}; /* 2^64: a size_t product wraps to 0 */
    int neg[2] = {2, -3}, seven[7] = {1, 1, 1, 1, 1, 1, 1}, s23[2] = {2, 3};
    mdl_params *ps = mdl_params_new();
    mdl_rng rng;
    mdl_rng_seed(&rng, 1);
    capture_errors();
    expect_err(mdl_zeros(ar, 3, huge), MDL_ERR_SIZE, "mdl_zeros", "zeros 2^90");
    capture_errors();
    expect_err(mdl_zeros(ar, 4, wrap), MDL_ERR_SIZE, "mdl_zeros", "zeros 2^64");
    capture_errors();
    expect_err(mdl_zeros(ar, 2, neg), MDL_ERR_SIZE, "mdl_zeros", "zeros [2,-3]");
    capture_errors();
    expect_err(mdl_ones(ar, 3, huge), MDL_ERR_SIZE, "mdl_ones", "ones 2^90");
    capture_errors();
    expect_err(mdl_full(ar, 2, neg, 1), MDL_ERR_SIZE, "mdl_full", "full [2,-3]");
    capture_errors();
    expect_err(mdl_rand(ar, &rng, 3, huge, 0, 1), MDL_ERR_SIZE, "mdl_rand", "rand 2^90");
    capture_errors();
    expect_err(mdl_randn(ar, &rng, 2, neg, 0, 1), MDL_ERR_SIZE, "mdl_randn", "randn [2,-3]");
    capture_errors();
    expect_err2(mdl_zeros(ar, 7, seven), MDL_ERR_SIZE, MDL_ERR_ARG, "mdl_zeros", "zeros rank 7");
    capture_errors();
    expect_err2(mdl_zeros(ar, -1, s23), MDL_ERR_SIZE, MDL_ERR_ARG, "mdl_zeros", "zeros rank -1");
    CHECK(ps != NULL, "params_new");
    if (ps) {
        capture_errors();
        expect_err(mdl_params_add(ps, "w", 3, huge), MDL_ERR_SIZE, "mdl_params_add",
                   "params_add 2^90");
        capture_errors();
        expect_err(mdl_params_add(ps, "v", 2, neg), MDL_ERR_SIZE, "mdl_params_add",
                   "params_add [2,-3]");
        CHECK(mdl_params_count(ps) == 0, "failed adds left %d tensors", mdl_params_count(ps));
    }
    capture_errors();
    expect_err2(mdl_arange(ar, 0, 1, 0), MDL_ERR_ARG, MDL_ERR_SIZE, "mdl_arange", "arange step 0");
    capture_errors();
    mdl_params_free(ps);
}

static void test_axes(mdl_arena *ar) {
    int s23[2] = {2, 3}, s13[2] = {1, 3}, s31[2] = {3, 1}, bad_perm[2] = {0, 0};
    int oob_perm[2] = {0, 2}, idx_ok[1] = {0};
    mdl_tensor *x = mdl_ones(ar, 2, s23), *y = mdl_ones(ar, 2, s13), *z = mdl_ones(ar, 2, s31);
    mdl_tensor *xs[2];
    CHECK(x && y && z, "setup");
    if (!(x && y && z)) return;
    xs[0] = x;
    xs[1] = x;
#define AXIS_ERR(call, fn)                                  \
    do {                                                    \
        capture_errors();                                   \
        expect_err((call), MDL_ERR_ARG, fn, #call);         \
    } while (0)
    AXIS_ERR(mdl_sum(ar, x, 2, 0), "mdl_sum");
    AXIS_ERR(mdl_sum(ar, x, -3, 0), "mdl_sum");
    AXIS_ERR(mdl_mean(ar, x, 2, 1), "mdl_mean");
    AXIS_ERR(mdl_max(ar, x, 5, 0), "mdl_max");
    AXIS_ERR(mdl_argmax(ar, x, 2, 0), "mdl_argmax");
    AXIS_ERR(mdl_var(ar, x, 2, 1, 0), "mdl_var");
    AXIS_ERR(mdl_softmax(ar, x, 2), "mdl_softmax");
    AXIS_ERR(mdl_log_softmax(ar, x, -3), "mdl_log_softmax");
    AXIS_ERR(mdl_concat(ar, 2, xs, 2), "mdl_concat");
    AXIS_ERR(mdl_stack(ar, 2, xs, 4), "mdl_stack");
    AXIS_ERR(mdl_transpose(ar, x, 0, 2), "mdl_transpose");
    AXIS_ERR(mdl_permute(ar, x, oob_perm), "mdl_permute");
    AXIS_ERR(mdl_permute(ar, x, bad_perm), "mdl_permute");
    AXIS_ERR(mdl_squeeze(ar, y, 2), "mdl_squeeze");
    AXIS_ERR(mdl_unsqueeze(ar, x, 4), "mdl_unsqueeze");
    AXIS_ERR(mdl_flatten(ar, x, 0, 2), "mdl_flatten");
    AXIS_ERR(mdl_slice(ar, x, 2, 0, 1), "mdl_slice");
    AXIS_ERR(mdl_index_select(ar, x, 2, 1, idx_ok), "mdl_index_select");
#undef AXIS_ERR
    capture_errors();
}

static void test_reshape_slice_index(mdl_arena *ar) {
    int s23[2] = {2, 3}, s42[2] = {4, 2}, s5[1] = {5}, twom1[2] = {-1, -1};
    int i5[2] = {0, 5}, i3[1] = {3}, i2[1] = {2};
    mdl_tensor *x = mdl_ones(ar, 2, s23);
    CHECK(x != NULL, "setup");
    if (!x) return;
    capture_errors();
    expect_err(mdl_reshape(ar, x, 2, s42), MDL_ERR_SHAPE, "mdl_reshape", "reshape [2,3] to [4,2]");
    capture_errors();
    expect_err(mdl_reshape(ar, x, 1, s5), MDL_ERR_SHAPE, "mdl_reshape", "reshape [2,3] to [5]");
    capture_errors();
    expect_err2(mdl_reshape(ar, x, 2, twom1), MDL_ERR_SHAPE, MDL_ERR_ARG, "mdl_reshape",
                "reshape to [-1,-1]");
    capture_errors();
    expect_err(mdl_slice(ar, x, 1, 2, 4), MDL_ERR_ARG, "mdl_slice", "slice axis 1 [2:4] of 3");
    capture_errors();
    expect_err(mdl_slice(ar, x, 0, 3, 5), MDL_ERR_ARG, "mdl_slice", "slice axis 0 [3:5] of 2");
    capture_errors();
    expect_err(mdl_index_select(ar, x, 0, 2, i5), MDL_ERR_ARG, "mdl_index_select",
               "index 5 of 2 rows");
    capture_errors();
    expect_err(mdl_index_select(ar, x, 1, 1, i3), MDL_ERR_ARG, "mdl_index_select",
               "index 3 of 3 columns");
    capture_errors();
    expect_err(mdl_index_select(ar, x, 0, 1, i2), MDL_ERR_ARG, "mdl_index_select",
               "index 2 of 2 rows");
    capture_errors();
    expect_err2(mdl_squeeze(ar, x, 0), MDL_ERR_SHAPE, MDL_ERR_ARG, "mdl_squeeze",
                "squeeze an axis of size 2");
    capture_errors();
}

static void test_backward_errors(mdl_arena *ar) {
    int s23[2] = {2, 3}, s5[1] = {5};
    mdl_tensor *x = mdl_ones(ar, 2, s23), *c = mdl_ones(ar, 2, s23), *y, *s, *dy;
    mdl_error rc;
    CHECK(x && c, "setup");
    if (!(x && c)) return;
    mdl_set_requires_grad(x, 1);
    y = mdl_mul(ar, x, c);
    CHECK(y != NULL, "mul");
    if (!y) return;
    capture_errors();
    rc = mdl_backward(y); /* 6 elements: not a loss */
    CHECK(rc == MDL_ERR_SHAPE, "backward of [2,3] returned %s", mdl_error_name(rc));
    expect_err(NULL, MDL_ERR_SHAPE, "mdl_backward", "backward of [2,3]");
    dy = mdl_ones(ar, 1, s5);
    capture_errors();
    rc = mdl_backward_with(y, dy); /* 5 != 6 */
    CHECK(rc == MDL_ERR_SHAPE, "backward_with 5 for 6 returned %s", mdl_error_name(rc));
    expect_err(NULL, MDL_ERR_SHAPE, "mdl_backward_with", "backward_with dy of 5 for 6");

    s = mdl_sum(ar, c, MDL_ALL, 0); /* c does not require grad: no graph */
    CHECK(s != NULL && s->requires_grad == 0, "sum of a constant");
    if (!s) return;
    capture_errors();
    rc = mdl_backward(s);
    CHECK(rc == MDL_ERR_GRAPH, "backward of a constant returned %s", mdl_error_name(rc));
    expect_err(NULL, MDL_ERR_GRAPH, "mdl_backward", "backward of a constant");
    capture_errors();
}

static void test_params(void) {
    int s23[2] = {2, 3}, s4[1] = {4};
    mdl_params *ps = mdl_params_new();
    mdl_tensor *w, *w2;
    CHECK(ps != NULL, "params_new");
    if (!ps) return;
    capture_errors();
    w = mdl_params_add(ps, "fc1.weight", 2, s23);
    CHECK(w != NULL && captured_count == 0, "params_add: %s", captured_message);
    w2 = mdl_params_add(ps, "fc1.weight", 1, s4);
    expect_err(w2, MDL_ERR_ARG, "mdl_params_add", "duplicate name fc1.weight");
    capture_errors();
    w2 = mdl_params_add_buffer(ps, "fc1.weight", 1, s4);
    expect_err(w2, MDL_ERR_ARG, "mdl_params_add_buffer", "buffer with a parameter's name");
    CHECK(mdl_params_count(ps) == 1, "count %d after duplicates", mdl_params_count(ps));
    CHECK(mdl_params_find(ps, "fc1.weight") == w, "find returns another tensor");
    capture_errors();
    expect_err(mdl_params_add(ps, NULL, 1, s4), MDL_ERR_NULL, "mdl_params_add", "NULL name");
    capture_errors();
    mdl_params_free(ps);
}

/* Index tensors: every bad value is reported with the op, the flat position, the
   multi-index and the value; shapes that do not fit gather are reported with both shapes. */
static void test_index_tensors(mdl_arena *ar) {
    static const mdl_scalar frac[4] = {0, 1, 2.5f, 0}, big[4] = {0, 4, 1, 1};
    static const mdl_scalar neg[4] = {0, 0, 0, -1}, ok[4] = {0, 1, 2, 3};
    int s34[2] = {3, 4}, s22[2] = {2, 2}, s4[1] = {4}, s42[2] = {4, 2};
    mdl_tensor *x = mdl_ones(ar, 2, s34), *nan_index = mdl_zeros(ar, 2, s22);
    CHECK(x && nan_index, "setup");
    if (!(x && nan_index)) return;
    nan_index->data[3] = (mdl_scalar)NAN;

    capture_errors();
    expect_err(mdl_gather(ar, x, 1, mdl_from_array(ar, 2, s22, frac)), MDL_ERR_ARG, "mdl_gather",
               "gather with 2.5 in the index");
    CHECK(strstr(captured_message, "index [2,2]") && strstr(captured_message, "element 2") &&
              strstr(captured_message, "index[1,0]") && strstr(captured_message, "2.5"),
          "not a whole number: message lacks the position or value: '%s'", captured_message);
    capture_errors();
    expect_err(mdl_gather(ar, x, 1, mdl_from_array(ar, 2, s22, big)), MDL_ERR_ARG, "mdl_gather",
               "gather with 4 on an axis of 4");
    CHECK(strstr(captured_message, "element 1") && strstr(captured_message, "index[0,1]") &&
              strstr(captured_message, " 4,") && strstr(captured_message, "0..3") &&
              strstr(captured_message, "x [3,4]"),
          "out of range: message lacks the position, value or range: '%s'", captured_message);
    capture_errors();
    expect_err(mdl_gather(ar, x, 0, mdl_from_array(ar, 2, s22, neg)), MDL_ERR_ARG, "mdl_gather",
               "gather with -1");
    CHECK(strstr(captured_message, "index[1,1]") && strstr(captured_message, "-1"),
          "negative index: '%s'", captured_message);
    capture_errors();
    expect_err(mdl_gather(ar, x, 0, nan_index), MDL_ERR_ARG, "mdl_gather", "gather with NaN");
    CHECK(strstr(captured_message, "index[1,1]") && strstr(captured_message, "nan"),
          "NaN index: '%s'", captured_message);
    capture_errors();
    expect_err(mdl_gather(ar, x, 1, mdl_from_array(ar, 1, s4, ok)), MDL_ERR_SHAPE, "mdl_gather",
               "gather with an index of rank 1");
    CHECK(strstr(captured_message, "[3,4]") && strstr(captured_message, "[4]"),
          "rank: message lacks the shapes: '%s'", captured_message);
    capture_errors();
    expect_err(mdl_gather(ar, x, 1, mdl_zeros(ar, 2, s42)), MDL_ERR_SHAPE, "mdl_gather",
               "gather with index [4,2] along axis 1 of [3,4]");
    CHECK(strstr(captured_message, "[3,4]") && strstr(captured_message, "[4,2]"),
          "index larger: message lacks the shapes: '%s'", captured_message);
    capture_errors();
    expect_err(mdl_gather(ar, x, 2, mdl_zeros(ar, 2, s22)), MDL_ERR_ARG, "mdl_gather",
               "gather along axis 2 of a matrix");
    capture_errors();
    expect_err(mdl_gather(ar, x, 0, NULL), MDL_ERR_NULL, "mdl_gather", "gather(x, NULL)");
    capture_errors();
}

/* The other new ops: broadcasting, axes, sizes and arguments out of range. */
static void test_new_ops(mdl_arena *ar) {
    static mdl_tensor *(*const cmp[6])(mdl_arena *, mdl_tensor *, mdl_tensor *) = {
        mdl_eq, mdl_ne, mdl_lt, mdl_le, mdl_gt, mdl_ge};
    static const char *const cmp_name[6] = {"mdl_eq", "mdl_ne", "mdl_lt",
                                            "mdl_le", "mdl_gt", "mdl_ge"};
    int s23[2] = {2, 3}, s4[1] = {4}, s5[1] = {5}, s3[1] = {3}, s24[2] = {2, 4};
    int dup[2] = {1, -1}, two[1] = {2}, both[2] = {0, 1}, r_neg[2] = {2, -1};
    int new_m1[3] = {-1, 2, 3}, sz11[2] = {1, 1}, sz_neg[3] = {2, -1, 1}, r1[1] = {2};
    mdl_tensor *a = mdl_ones(ar, 2, s23), *b = mdl_ones(ar, 1, s4), *c5 = mdl_ones(ar, 1, s5);
    mdl_tensor *v3 = mdl_ones(ar, 1, s3), *parts[4];
    int k, n;
    CHECK(a && b && c5 && v3, "setup");
    if (!(a && b && c5 && v3)) return;

    for (k = 0; k < 6; k++) {
        capture_errors();
        expect_err(cmp[k](ar, a, b), MDL_ERR_SHAPE, cmp_name[k], "comparison [2,3] [4]");
        CHECK(strstr(captured_message, "[2,3]") && strstr(captured_message, "[4]"),
              "%s: message lacks the shapes: '%s'", cmp_name[k], captured_message);
    }
    capture_errors();
    expect_err(mdl_gt_scalar(ar, NULL, 0), MDL_ERR_NULL, "mdl_gt_scalar", "gt_scalar(NULL)");
    capture_errors();
    expect_err(mdl_eq_scalar(NULL, a, 0), MDL_ERR_NULL, "mdl_eq_scalar", "eq_scalar, no arena");

    capture_errors();
    expect_err(mdl_minimum(ar, a, b), MDL_ERR_SHAPE, "mdl_minimum", "minimum [2,3] [4]");
    capture_errors();
    expect_err(mdl_where(ar, a, a, b), MDL_ERR_SHAPE, "mdl_where", "where a [2,3] b [4]");
    CHECK(strstr(captured_message, "[2,3]") && strstr(captured_message, "[4]"),
          "where: message lacks the shapes: '%s'", captured_message);
    capture_errors();
    expect_err(mdl_where(ar, c5, a, a), MDL_ERR_SHAPE, "mdl_where", "where cond [5] a [2,3]");
    CHECK(strstr(captured_message, "cond [5]") && strstr(captured_message, "[2,3]"),
          "where: message lacks cond's shape: '%s'", captured_message);
    capture_errors();
    expect_err(mdl_where(ar, NULL, a, a), MDL_ERR_NULL, "mdl_where", "where(NULL, a, a)");
    capture_errors();
    expect_err(mdl_masked_fill(ar, a, c5, 0), MDL_ERR_SHAPE, "mdl_masked_fill",
               "masked_fill x [2,3] mask [5]");
    capture_errors();
    expect_err(mdl_masked_fill(ar, v3, a, 0), MDL_ERR_SHAPE, "mdl_masked_fill",
               "masked_fill x [3] mask [2,3] (would stretch x)");
    CHECK(strstr(captured_message, "mask [2,3]") && strstr(captured_message, "x [3]"),
          "masked_fill: message lacks the shapes: '%s'", captured_message);

    capture_errors();
    expect_err(mdl_softplus(ar, a, 0, 20), MDL_ERR_ARG, "mdl_softplus", "softplus beta 0");
    capture_errors();
    expect_err(mdl_logsumexp(ar, a, 2, 0), MDL_ERR_ARG, "mdl_logsumexp", "logsumexp axis 2");
    capture_errors();
    expect_err(mdl_rsub_scalar(ar, NULL, 1), MDL_ERR_NULL, "mdl_rsub_scalar", "rsub(NULL)");
    capture_errors();
    expect_err(mdl_log1p(ar, NULL), MDL_ERR_NULL, "mdl_log1p", "log1p(NULL)");
    capture_errors();
    expect_err(mdl_expm1(ar, NULL), MDL_ERR_NULL, "mdl_expm1", "expm1(NULL)");
    capture_errors();
    expect_err(mdl_logsigmoid(ar, NULL), MDL_ERR_NULL, "mdl_logsigmoid", "logsigmoid(NULL)");
    capture_errors();
    expect_err(mdl_gelu_tanh(ar, NULL), MDL_ERR_NULL, "mdl_gelu_tanh", "gelu_tanh(NULL)");

    capture_errors();
    expect_err(mdl_sum_axes(ar, a, 2, dup, 0), MDL_ERR_ARG, "mdl_sum_axes", "sum_axes {1,-1}");
    CHECK(strstr(captured_message, "[2,3]") && strstr(captured_message, "second time"),
          "sum_axes duplicate: '%s'", captured_message);
    capture_errors();
    expect_err(mdl_sum_axes(ar, a, 1, two, 0), MDL_ERR_ARG, "mdl_sum_axes", "sum_axes {2}");
    capture_errors();
    expect_err(mdl_sum_axes(ar, a, 0, both, 0), MDL_ERR_ARG, "mdl_sum_axes", "sum_axes n 0");
    capture_errors();
    expect_err(mdl_sum_axes(ar, a, 3, both, 0), MDL_ERR_ARG, "mdl_sum_axes", "sum_axes n 3");
    capture_errors();
    expect_err(mdl_sum_axes(ar, a, 1, NULL, 0), MDL_ERR_NULL, "mdl_sum_axes", "axes NULL");
    capture_errors();
    expect_err(mdl_mean_axes(ar, a, 2, dup, 1), MDL_ERR_ARG, "mdl_mean_axes", "mean_axes dup");
    capture_errors();
    expect_err(mdl_var_axes(ar, a, 2, both, -1, 0), MDL_ERR_ARG, "mdl_var_axes",
               "var_axes correction -1");

    capture_errors();
    expect_err(mdl_expand(ar, a, 2, s24), MDL_ERR_SHAPE, "mdl_expand", "expand [2,3] to [2,4]");
    CHECK(strstr(captured_message, "[2,3]") && strstr(captured_message, "[2,4]"),
          "expand: message lacks the shapes: '%s'", captured_message);
    capture_errors();
    expect_err(mdl_expand(ar, a, 1, s3), MDL_ERR_ARG, "mdl_expand", "expand to a lower rank");
    capture_errors();
    expect_err(mdl_expand(ar, a, 3, new_m1), MDL_ERR_ARG, "mdl_expand", "expand, -1 on a new axis");
    capture_errors();
    expect_err(mdl_repeat(ar, a, 1, r1), MDL_ERR_ARG, "mdl_repeat", "repeat, fewer than rank");
    capture_errors();
    expect_err(mdl_repeat(ar, a, 2, r_neg), MDL_ERR_ARG, "mdl_repeat", "repeat by -1");

    capture_errors();
    parts[0] = parts[1] = a;
    n = mdl_split(ar, a, 0, 2, s23, parts); /* 2 + 3 rows of 2 */
    CHECK(n == 0 && parts[0] == NULL && parts[1] == NULL, "split by 2+3 of 2 returned %d", n);
    expect_err(NULL, MDL_ERR_SHAPE, "mdl_split", "split 2+3 of 2 rows");
    CHECK(strstr(captured_message, "[2,3]") && strstr(captured_message, "add up to 5"),
          "split: message lacks the shape or the sum: '%s'", captured_message);
    capture_errors();
    n = mdl_split(ar, a, 1, 3, sz_neg, parts);
    CHECK(n == 0, "split with a negative size returned %d", n);
    expect_err(NULL, MDL_ERR_ARG, "mdl_split", "split with a size of -1");
    capture_errors();
    n = mdl_split(ar, a, 1, 2, sz11, NULL);
    CHECK(n == 0, "split into NULL returned %d", n);
    expect_err(NULL, MDL_ERR_NULL, "mdl_split", "split into NULL");
    capture_errors();
    n = mdl_split(ar, a, 1, 0, sz11, parts);
    expect_err(NULL, MDL_ERR_ARG, "mdl_split", "split into 0 parts");
    capture_errors();
    n = mdl_chunk(ar, a, 0, 1, parts);
    CHECK(n == 0, "chunk into 0 returned %d", n);
    expect_err(NULL, MDL_ERR_ARG, "mdl_chunk", "chunk into 0");
    capture_errors();
    n = mdl_chunk(ar, a, 2, 5, parts);
    CHECK(n == 0 && parts[0] == NULL, "chunk along axis 5 returned %d", n);
    expect_err(NULL, MDL_ERR_ARG, "mdl_chunk", "chunk along axis 5");
    capture_errors();
}

static void *seen_user;
static int seen_code;
static void user_handler(mdl_error code, const char *message, void *user) {
    (void)message;
    seen_user = user;
    seen_code = (int)code;
}

static void test_misc(mdl_arena *ar) {
    int s23[2] = {2, 3}, s1[1] = {1}, token = 0;
    mdl_params *ps = mdl_params_new();
    mdl_tensor *x = mdl_ones(ar, 2, s23), *y;
    mdl_error_handler prev;
    CHECK(x && ps, "setup");
    if (!x || !ps) {
        mdl_params_free(ps);
        return;
    }
    /* the handler gets back the user pointer it was installed with */
    mdl_clear_error();
    prev = mdl_set_error_handler(user_handler, &token);
    CHECK(prev == capture_handler, "previous handler");
    mdl_sum(ar, x, 3, 0);
    CHECK(seen_user == &token && seen_code == MDL_ERR_ARG, "user pointer %p (want %p), code %d",
          seen_user, (void *)&token, seen_code);
    capture_errors();

    capture_errors();
    CHECK(mdl_item(x) == 0, "item of [2,3] is not 0");
    expect_err(NULL, MDL_ERR_SHAPE, "mdl_item", "item of [2,3]");
    capture_errors();
    expect_err(mdl_clamp(ar, x, 1, -1), MDL_ERR_ARG, "mdl_clamp", "clamp lo 1 > hi -1");
    mdl_params_add(ps, "w", 1, s1);
    capture_errors();
    expect_err(mdl_params_get(ps, 1), MDL_ERR_ARG, "mdl_params_get", "params_get(1) of 1");
    capture_errors();
    expect_err(mdl_params_add(ps, "", 1, s1), MDL_ERR_ARG, "mdl_params_add", "empty name");
    /* requires_grad belongs to leaves: a computed tensor cannot change it */
    mdl_set_requires_grad(x, 1);
    y = mdl_mul_scalar(ar, x, 2);
    CHECK(y != NULL, "mul_scalar");
    if (y) {
        capture_errors();
        mdl_set_requires_grad(y, 0);
        expect_err(NULL, MDL_ERR_GRAPH, "mdl_set_requires_grad", "set_requires_grad on a result");
    }
    capture_errors();
    mdl_params_free(ps);
}

static void test_last_error(mdl_arena *ar) {
    int s2[2] = {2, 2}, s3[2] = {3, 3};
    mdl_tensor *a = mdl_ones(ar, 2, s2), *b = mdl_ones(ar, 2, s3);
    CHECK(a && b, "setup");
    if (!(a && b)) return;
    capture_errors();
    CHECK(mdl_last_error_code() == MDL_OK, "after clear: %s", mdl_error_name(mdl_last_error_code()));
    CHECK(strcmp(mdl_last_error(), "") == 0, "after clear: '%s'", mdl_last_error());
    mdl_matmul(ar, a, b);
    CHECK(mdl_last_error_code() == MDL_ERR_SHAPE, "code %s", mdl_error_name(mdl_last_error_code()));
    CHECK(strncmp(mdl_last_error(), prefix, sizeof prefix - 1) == 0 &&
              strstr(mdl_last_error(), "mdl_matmul"), "last_error '%s'", mdl_last_error());
    /* the most recent error wins */
    mdl_clear_error();
    mdl_sum(ar, a, 7, 0);
    CHECK(mdl_last_error_code() == MDL_ERR_ARG, "code %s", mdl_error_name(mdl_last_error_code()));
    CHECK(strstr(mdl_last_error(), "mdl_sum") != NULL, "last_error '%s'", mdl_last_error());
    mdl_clear_error();
    CHECK(mdl_last_error_code() == MDL_OK, "after clear: %s", mdl_error_name(mdl_last_error_code()));
    CHECK(strcmp(mdl_last_error(), "") == 0, "after clear: '%s'", mdl_last_error());
    /* a valid op after clear leaves no error */
    CHECK(mdl_matmul(ar, a, a) != NULL && mdl_last_error_code() == MDL_OK, "valid matmul");
    capture_errors();
}

int main(void) {
    mdl_arena *ar;
    test_handler_and_names();
    capture_errors();
    ar = mdl_arena_new(0);
    CHECK(ar != NULL, "arena_new");
    if (!ar) return test_summary();
    test_shape_mismatch(ar);
    test_null(ar);
    test_pass_through(ar);
    test_sizes(ar);
    test_axes(ar);
    test_reshape_slice_index(ar);
    test_index_tensors(ar);
    test_new_ops(ar);
    test_backward_errors(ar);
    test_params();
    test_misc(ar);
    test_last_error(ar);
    mdl_arena_free(ar);
    return test_summary();
}
