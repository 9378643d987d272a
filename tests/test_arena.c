/* tests/test_arena.c - arena memory: a training loop whose memory stays flat, the counters
   (used, high water, reserved, step), grad mode off recording nothing, and growth past the
   first block.

   gcc -std=c99 -O1 -g -Wall -Wextra -Wpedantic -Werror -I. tests/test_arena.c -o build/test_arena -lm
*/
#define MINIDL_IMPLEMENTATION
#include "minidl.h"
#include "test.h"

#define NPTS 64
#define STEPS 300

static mdl_scalar xb[NPTS], yb[NPTS];

/* loss = mean((x*w + b - y)^2) over the 64 points, from the arena */
static mdl_tensor *forward(mdl_arena *ar, mdl_tensor *w, mdl_tensor *b) {
    int s[2] = {NPTS, 1};
    mdl_tensor *X = mdl_wrap(ar, 2, s, xb), *Y = mdl_wrap(ar, 2, s, yb);
    mdl_tensor *pred = mdl_add(ar, mdl_mul(ar, X, w), b);
    mdl_tensor *err = mdl_sub(ar, pred, Y);
    return mdl_mean(ar, mdl_mul(ar, err, err), MDL_ALL, 0);
}

static void test_training(size_t initial) {
    int s1[1] = {1}, step;
    mdl_rng rng;
    mdl_arena *ar = mdl_arena_new(initial);
    mdl_params *ps = mdl_params_new();
    mdl_tensor *w, *b;
    double lr = 0.1, losses[STEPS], ref_w = 0, ref_b = 0, ref_loss[STEPS];
    size_t hw1 = 0, res1 = 0;
    int used_zero = 1, flat = 1, i;

    CHECK(ar && ps, "setup");
    if (!ar || !ps) goto done;
    CHECK(mdl_arena_step(ar) == 0, "new arena at step %ld", mdl_arena_step(ar));
    CHECK(mdl_arena_used(ar) == 0, "new arena used %zu", mdl_arena_used(ar));
    CHECK(mdl_arena_reserved(ar) >= (initial ? initial : (size_t)1 << 20),
          "arena_new(%zu) reserved %zu", initial, mdl_arena_reserved(ar));
    mdl_rng_seed(&rng, 2024);
    for (i = 0; i < NPTS; i++) {
        xb[i] = (mdl_scalar)(2 * mdl_rng_uniform(&rng) - 1);
        yb[i] = (mdl_scalar)(3.0 * xb[i] + 2.0);
    }
    w = mdl_params_add(ps, "w", 1, s1);
    b = mdl_params_add(ps, "b", 1, s1);
    CHECK(w && b, "params");
    if (!w || !b) goto done;
    CHECK(w->data[0] == 0 && b->data[0] == 0 && w->grad && w->grad[0] == 0 && w->requires_grad,
          "params start at zero with a zero gradient");

    /* the same gradient descent, by hand in double: dL/dw = 2/N sum(e x), dL/db = 2/N sum(e) */
    for (step = 0; step < STEPS; step++) {
        double gw = 0, gb = 0, l = 0;
        for (i = 0; i < NPTS; i++) {
            double e = ref_w * xb[i] + ref_b - yb[i];
            l += e * e;
            gw += 2 * e * xb[i] / NPTS;
            gb += 2 * e / NPTS;
        }
        ref_loss[step] = l / NPTS;
        ref_w -= lr * gw;
        ref_b -= lr * gb;
    }

    for (step = 0; step < STEPS; step++) {
        mdl_tensor *loss = forward(ar, w, b);
        CHECK(loss != NULL, "step %d: %s", step, mdl_last_error());
        if (!loss) goto done;
        losses[step] = mdl_item(loss);
        if (mdl_backward(loss) != MDL_OK) {
            CHECK(0, "backward at step %d: %s", step, mdl_last_error());
            goto done;
        }
        CHECK(mdl_arena_high_water(ar) >= mdl_arena_used(ar) && mdl_arena_used(ar) > 0,
              "step %d: used %zu, high water %zu", step, mdl_arena_used(ar),
              mdl_arena_high_water(ar));
        w->data[0] -= (mdl_scalar)(lr * w->grad[0]);
        b->data[0] -= (mdl_scalar)(lr * b->grad[0]);
        mdl_params_zero_grad(ps);
        if (w->grad[0] != 0 || b->grad[0] != 0) {
            CHECK(0, "params_zero_grad left %g %g", (double)w->grad[0], (double)b->grad[0]);
            goto done;
        }
        mdl_arena_reset(ar);
        if (mdl_arena_used(ar) != 0) used_zero = 0;
        if (step == 1) {
            hw1 = mdl_arena_high_water(ar);
            res1 = mdl_arena_reserved(ar);
        } else if (step > 1 &&
                   (mdl_arena_high_water(ar) != hw1 || mdl_arena_reserved(ar) != res1)) {
            if (flat)
                fprintf(stderr, "  step %d: high water %zu (was %zu), reserved %zu (was %zu)\n",
                        step, mdl_arena_high_water(ar), hw1, mdl_arena_reserved(ar), res1);
            flat = 0;
        }
    }
    CHECK(used_zero, "mdl_arena_used was not 0 after a reset");
    CHECK(flat, "memory grew during training");
    CHECK(mdl_arena_high_water(ar) == hw1 && mdl_arena_reserved(ar) == res1,
          "high water %zu -> %zu, reserved %zu -> %zu", hw1, mdl_arena_high_water(ar), res1,
          mdl_arena_reserved(ar));
    CHECK(hw1 > 0 && res1 >= hw1, "high water %zu, reserved %zu", hw1, res1);
    CHECK(mdl_arena_step(ar) == STEPS, "arena step %ld after %d resets", mdl_arena_step(ar), STEPS);

    /* the loss follows the hand-computed descent and converges; w, b near 3, 2 */
    for (step = 0; step < STEPS; step += 25)
        CHECK_NEAR(losses[step], ref_loss[step], 1e-4 * ref_loss[step] + 1e-7, "loss vs double");
    for (step = 1; step < 50; step++)
        CHECK(losses[step] < losses[step - 1], "loss rose at step %d: %g -> %g", step,
              losses[step - 1], losses[step]);
    CHECK(losses[STEPS - 1] < 1e-6 * losses[0], "loss %g -> %g", losses[0], losses[STEPS - 1]);
    CHECK_NEAR(w->data[0], 3.0, 1e-3, "w");
    CHECK_NEAR(b->data[0], 2.0, 1e-3, "b");
    CHECK_NEAR(w->data[0], ref_w, 1e-4, "w vs double descent");
    CHECK_NEAR(b->data[0], ref_b, 1e-4, "b vs double descent");

    {   /* grad mode off: nothing recorded, less memory, the same values */
        size_t used_on, used_off;
        double loss_on, loss_off;
        mdl_tensor *l;
        int prev = mdl_set_grad_enabled(ar, 0);
        CHECK(prev == 1, "grad mode was %d by default", prev);
        l = forward(ar, w, b);
        CHECK(l != NULL, "forward without grad");
        if (!l) goto done;
        CHECK(l->requires_grad == 0 && l->node == NULL, "grad off: requires_grad %d, node %p",
              l->requires_grad, (void *)l->node);
        loss_off = mdl_item(l);
        used_off = mdl_arena_used(ar);
        mdl_arena_reset(ar);
        prev = mdl_set_grad_enabled(ar, 1);
        CHECK(prev == 0, "set_grad_enabled returned %d, want 0", prev);
        l = forward(ar, w, b);
        CHECK(l != NULL, "forward with grad");
        if (!l) goto done;
        CHECK(l->requires_grad == 1 && l->node != NULL, "grad on: requires_grad %d, node %p",
              l->requires_grad, (void *)l->node);
        loss_on = mdl_item(l);
        used_on = mdl_arena_used(ar);
        CHECK(used_off < used_on, "grad off used %zu bytes, grad on %zu", used_off, used_on);
        CHECK(loss_on == loss_off, "loss %g with grad, %g without", loss_on, loss_off);
        mdl_arena_reset(ar);
    }
done:
    mdl_params_free(ps);
    mdl_arena_free(ar);
}

static void test_growth(void) {
    int s5[1] = {5}, big_n[1] = {1 << 20}, bad = 0;
    size_t i, reserved;
    mdl_arena *ar = mdl_arena_new(4096);
    mdl_tensor *small1, *big, *small2;
    mdl_scalar *first[3];
    CHECK(ar != NULL, "arena_new(4096)");
    if (!ar) return;
    small1 = mdl_full(ar, 1, s5, 5);
    big = mdl_zeros(ar, 1, big_n); /* 4 MiB (float) in a 4 KiB arena */
    small2 = mdl_full(ar, 1, s5, 7);
    CHECK(small1 && big && small2, "allocations: %s", mdl_last_error());
    if (!small1 || !big || !small2) goto done;
    for (i = 0; i < big->numel; i++) {
        if (big->data[i] != 0) bad++;
        big->data[i] = (mdl_scalar)(i & 1023);
    }
    CHECK(bad == 0, "%d big values not zero", bad);
    for (i = 0; i < 5; i++)
        CHECK(small1->data[i] == 5 && small2->data[i] == 7, "small tensors overwritten");
    for (i = 0, bad = 0; i < big->numel; i++)
        if (big->data[i] != (mdl_scalar)(i & 1023)) bad++;
    CHECK(bad == 0, "%d big values lost", bad);
    CHECK(mdl_arena_used(ar) >= sizeof(mdl_scalar) << 20, "used %zu", mdl_arena_used(ar));
    CHECK(mdl_arena_reserved(ar) >= mdl_arena_used(ar), "reserved %zu < used %zu",
          mdl_arena_reserved(ar), mdl_arena_used(ar));
    CHECK(mdl_arena_high_water(ar) >= mdl_arena_used(ar), "high water %zu < used %zu",
          mdl_arena_high_water(ar), mdl_arena_used(ar));
    first[0] = small1->data, first[1] = big->data, first[2] = small2->data;
    mdl_arena_reset(ar);
    CHECK(mdl_arena_used(ar) == 0, "used %zu after reset", mdl_arena_used(ar));
    /* after a reset it keeps every block it grew */
    reserved = mdl_arena_reserved(ar);
    CHECK(reserved >= mdl_arena_high_water(ar), "kept %zu bytes, high water %zu", reserved,
          mdl_arena_high_water(ar));
    small1 = mdl_full(ar, 1, s5, 5);
    big = mdl_zeros(ar, 1, big_n);
    small2 = mdl_full(ar, 1, s5, 7);
    CHECK(small1 && big && small2, "allocations after reset");
    if (!small1 || !big || !small2) goto done;
    CHECK(mdl_arena_reserved(ar) == reserved, "the same step grew the arena again: %zu -> %zu",
          reserved, mdl_arena_reserved(ar));
    /* and the same step lands on the same memory: pages the system has handed over already */
    CHECK(small1->data == first[0] && big->data == first[1] && small2->data == first[2],
          "the second step's tensors are elsewhere: %p %p %p, first step %p %p %p",
          (void *)small1->data, (void *)big->data, (void *)small2->data, (void *)first[0],
          (void *)first[1], (void *)first[2]);
done:
    mdl_arena_free(ar);
}

int main(void) {
    capture_errors();
    test_training(0);
    test_training(512); /* a step needs several blocks, kept across resets */
    test_growth();
    mdl_arena_free(NULL); /* allowed */
    mdl_params_free(NULL);
    CHECK(captured_count == 0, "%d contract errors; last: %s", captured_count, captured_message);
    return test_summary();
}
