/* tests/test_stale.c - in a default build (no macro: the check is on unless the program defines
   MINIDL_NO_STALE_CHECK), a tensor used after its arena was reset is reported as MDL_ERR_STALE,
   and the message names the step the tensor came from.

   gcc -std=c99 -O1 -g -Wall -Wextra -Wpedantic -Werror -I. tests/test_stale.c -o build/test_stale -lm
*/
#define MINIDL_IMPLEMENTATION
#include "minidl.h"
#include "test.h"

static const char prefix[] = "minidl: error: ";

int main(void) {
    int s23[2] = {2, 3};
    mdl_arena *ar = mdl_arena_new(0);
    mdl_params *ps = mdl_params_new();
    mdl_tensor *old, *fresh, *y, *w, *old1;
    mdl_scalar buf[6] = {1, 2, 3, 4, 5, 6};
    size_t i;

    capture_errors();
    CHECK(ar != NULL && ps != NULL, "setup");
    if (!ar || !ps) return test_summary();
    CHECK(mdl_arena_step(ar) == 0, "first step is %ld", mdl_arena_step(ar));

    /* step 0: a small tensor (well inside the first block, so its memory stays allocated) */
    old = mdl_full(ar, 2, s23, 2);
    w = mdl_params_add(ps, "w", 2, s23);
    CHECK(old != NULL && w != NULL, "step 0 tensors");
    if (!old || !w) return test_summary();
    CHECK(old->step == 0, "tensor of step 0 has step %ld", old->step);
    mdl_fill(w, 1);

    mdl_arena_reset(ar); /* now step 1: old is dead */
    CHECK(mdl_arena_step(ar) == 1, "step after one reset is %ld", mdl_arena_step(ar));

    /* use the dead tensor first, before anything new is allocated from the arena */
    y = mdl_mul(ar, old, w);
    CHECK(y == NULL, "an op on a stale tensor returned a tensor");
    CHECK(captured_count == 1, "%d errors, want 1", captured_count);
    CHECK(captured_code == MDL_ERR_STALE, "code %s, want MDL_ERR_STALE (%s)",
          mdl_error_name((mdl_error)captured_code), captured_message);
    CHECK(strncmp(captured_message, prefix, sizeof prefix - 1) == 0, "message '%s'",
          captured_message);
    CHECK(strstr(captured_message, "mdl_mul") != NULL, "message does not name mdl_mul: '%s'",
          captured_message);
    CHECK(strstr(captured_message, "step 0") != NULL, "message does not name step 0: '%s'",
          captured_message);

    capture_errors();
    y = mdl_exp(ar, old); /* a unary op catches it too */
    CHECK(y == NULL && captured_code == MDL_ERR_STALE && strstr(captured_message, "mdl_exp"),
          "exp of a stale tensor: %s", captured_message);

    /* a tensor made after the reset works, and so does the persistent one */
    capture_errors();
    fresh = mdl_full(ar, 2, s23, 3);
    CHECK(fresh != NULL && fresh->step == 1, "fresh tensor");
    if (!fresh) return test_summary();
    y = mdl_mul(ar, fresh, w);
    CHECK(y != NULL && captured_count == 0, "op on a fresh tensor: %s", captured_message);
    if (y)
        for (i = 0; i < 6; i++) CHECK(y->data[i] == 3, "3*1 = %g", (double)y->data[i]);

    /* a borrowed tensor's header also comes from the arena and dies with it; a tensor from
       step 1 names step 1 */
    old1 = mdl_wrap(ar, 2, s23, buf);
    CHECK(old1 != NULL, "wrap");
    mdl_arena_reset(ar);
    mdl_arena_reset(ar); /* step 3 */
    capture_errors();
    y = mdl_add(ar, w, old1);
    CHECK(y == NULL && captured_code == MDL_ERR_STALE, "stale wrap: code %s",
          mdl_error_name((mdl_error)captured_code));
    CHECK(strstr(captured_message, "step 1") != NULL, "message does not name step 1: '%s'",
          captured_message);
    CHECK(strstr(captured_message, "mdl_add") != NULL, "message does not name mdl_add: '%s'",
          captured_message);
    /* the buffer itself is untouched */
    for (i = 0; i < 6; i++) CHECK(buf[i] == (mdl_scalar)(i + 1), "buffer changed");

    /* persistent tensors never go stale */
    capture_errors();
    y = mdl_add(ar, w, w);
    CHECK(y != NULL && captured_count == 0, "persistent tensor after resets: %s",
          captured_message);

    mdl_params_free(ps);
    mdl_arena_free(ar);
    return test_summary();
}
