/* tests/test.h - the few macros every minidl test program uses.

   Each test program includes this once, checks things with CHECK / CHECK_NEAR, and ends main
   with `return test_summary();`, which prints "RESULT <passed> <failed>" for tests/run.sh to add
   up, and returns non-zero when anything failed. A check that fails prints where and why.
   capture_errors() installs an error handler that records contract errors instead of aborting,
   so a test can assert the code and the message. */
#ifndef MINIDL_TEST_H
#define MINIDL_TEST_H
#include <math.h>
#include <stdio.h>
#include <string.h>

static int test_passed, test_failed;

#define CHECK(cond, ...)                                                            \
    do {                                                                            \
        if (cond) {                                                                 \
            test_passed++;                                                          \
        } else {                                                                    \
            test_failed++;                                                          \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);        \
            fprintf(stderr, __VA_ARGS__);                                           \
            fprintf(stderr, "\n");                                                  \
        }                                                                           \
    } while (0)

/* |got - want| <= tol, with both printed on failure */
#define CHECK_NEAR(got, want, tol, what)                                            \
    do {                                                                            \
        double got_ = (double)(got), want_ = (double)(want);                       \
        CHECK(fabs(got_ - want_) <= (tol), "%s: got %.9g, want %.9g (tol %g)", (what), \
              got_, want_, (double)(tol));                                          \
    } while (0)

static int test_summary(void) {
    printf("RESULT %d %d\n", test_passed, test_failed);
    fflush(stdout); /* a leak report at exit must not swallow the counts */
    return test_failed ? 1 : 0;
}

/* Captured contract errors: the last code and message, and how many arrived. */
static int captured_code, captured_count;
static char captured_message[1024];

static void capture_handler(mdl_error code, const char *message, void *user) {
    (void)user;
    captured_code = (int)code;
    captured_count++;
    strncpy(captured_message, message, sizeof captured_message - 1);
    captured_message[sizeof captured_message - 1] = 0;
}

/* Install the capturing handler and forget earlier errors. */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((unused)) /* not every test captures errors */
#endif
static void capture_errors(void) {
    mdl_set_error_handler(capture_handler, NULL);
    mdl_clear_error();
    captured_code = 0;
    captured_count = 0;
    captured_message[0] = 0;
}

/* Convolution options from the four numbers PyTorch's conv2d takes (stride, padding, dilation,
   groups), for the tests that loop over many settings; 0 in a field means PyTorch's default,
   as in mdl_conv_opts. A small ring of structs, so several may be in use in one call. */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((unused))
#endif
static const mdl_conv_opts *conv_opts(int stride, int padding, int dilation, int groups) {
    static mdl_conv_opts ring[8];
    static int next;
    mdl_conv_opts *o = &ring[next++ % 8];
    memset(o, 0, sizeof *o);
    o->stride = stride;
    o->padding = padding;
    o->dilation = dilation;
    o->groups = groups;
    return o;
}

/* Pooling options the same way: stride, padding, dilation, ceil_mode, exclude_padding (0 in a
   field is PyTorch's default, as in mdl_pool_opts), from a ring of its own. */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((unused))
#endif
static const mdl_pool_opts *pool_opts(int stride, int padding, int dilation, int ceil_mode,
                                      int exclude_padding) {
    static mdl_pool_opts ring[8];
    static int next;
    mdl_pool_opts *o = &ring[next++ % 8];
    memset(o, 0, sizeof *o);
    o->stride = stride;
    o->padding = padding;
    o->dilation = dilation;
    o->ceil_mode = ceil_mode;
    o->exclude_padding = exclude_padding;
    return o;
}

#endif
