/* tests/test_optim.c - optimizers, schedules, clipping and penalties.

   Each optimizer, with each of its options, runs several steps on a parameter whose size is not
   a multiple of the update's block (so the short last block is covered) and is compared with
   the update worked out here in double from PyTorch's formulas. Then: the state's names and
   values, parameter groups, skipped tensors, errors; clipping by norm and by value on numbers
   worked out by hand; the penalties' values and gradients; each schedule's lr per step; and a
   small regression trained to a bound. `make test-torch` compares the same with PyTorch.

   gcc -std=c99 -O1 -g -Wall -Wextra -Wpedantic -Werror -I. tests/test_optim.c \
       -o build/test_optim -lm
*/
#define MINIDL_IMPLEMENTATION
#include "minidl.h"
#include "test.h"

#include <stdlib.h>

#define N 37    /* two full blocks of 16 and a tail of 5 */
#define STEPS 6

static mdl_arena *ar;

/* ---- the reference: one parameter of N elements, in double, PyTorch's formulas ---- */

typedef struct ref_state {
    double w[N], buf[N], sum[N], sq[N], ga[N], m[N], v[N], vmax[N];
    int t, has_buf;
} ref_state;

static void ref_step(ref_state *s, const mdl_optim_opts *o, const double *grad) {
    int i;
    s->t++;
    for (i = 0; i < N; i++) {
        double g = o->maximize ? -grad[i] : grad[i], w = s->w[i];
        if (o->kind == MDL_ADAMW)
            w *= 1 - o->lr * o->weight_decay;
        else
            g += o->weight_decay * w;
        switch (o->kind) {
        case MDL_SGD:
            if (o->momentum != 0) {
                s->buf[i] = s->has_buf ? o->momentum * s->buf[i] + (1 - o->dampening) * g : g;
                g = o->nesterov ? g + o->momentum * s->buf[i] : s->buf[i];
            }
            w -= o->lr * g;
            break;
        case MDL_ADAGRAD: {
            double clr = o->lr / (1 + (s->t - 1) * o->lr_decay);
            if (s->t == 1) s->sum[i] = o->initial_accumulator_value;
            s->sum[i] += g * g;
            w -= clr * g / (sqrt(s->sum[i]) + o->eps);
            break;
        }
        case MDL_RMSPROP: {
            double den;
            s->sq[i] = o->alpha * s->sq[i] + (1 - o->alpha) * g * g;
            if (o->centered) {
                s->ga[i] = o->alpha * s->ga[i] + (1 - o->alpha) * g;
                den = sqrt(s->sq[i] - s->ga[i] * s->ga[i]) + o->eps;
            } else {
                den = sqrt(s->sq[i]) + o->eps;
            }
            if (o->momentum > 0) {
                s->buf[i] = o->momentum * s->buf[i] + g / den;
                w -= o->lr * s->buf[i];
            } else {
                w -= o->lr * g / den;
            }
            break;
        }
        case MDL_ADAM:
        case MDL_ADAMW: {
            double vhat;
            s->m[i] = o->beta1 * s->m[i] + (1 - o->beta1) * g;
            s->v[i] = o->beta2 * s->v[i] + (1 - o->beta2) * g * g;
            if (s->vmax[i] < s->v[i]) s->vmax[i] = s->v[i];
            vhat = (o->amsgrad ? s->vmax[i] : s->v[i]) / (1 - pow(o->beta2, s->t));
            w -= o->lr * (s->m[i] / (1 - pow(o->beta1, s->t))) / (sqrt(vhat) + o->eps);
            break;
        }
        }
        s->w[i] = w;
    }
    s->has_buf = 1;
}

/* Run the optimizer and the reference side by side for STEPS steps of random gradients. */
static void check_rule(const char *what, const mdl_optim_opts *o) {
    mdl_params *ps = mdl_params_new();
    int shape[1] = {N};
    mdl_tensor *w = mdl_params_add(ps, "w", 1, shape);
    mdl_optim *opt = mdl_optim_new(ps, o);
    ref_state *s = (ref_state *)calloc(1, sizeof(ref_state));
    mdl_rng rng;
    double grad[N], worst = 0;
    int i, step;
    mdl_rng_seed(&rng, 11);
    CHECK(opt != NULL, "%s: mdl_optim_new failed: %s", what, mdl_last_error());
    if (!opt) {
        free(s);
        mdl_params_free(ps);
        return;
    }
    mdl_fill_normal(w, &rng, 0, 1);
    for (i = 0; i < N; i++) s->w[i] = w->data[i];
    for (step = 0; step < STEPS; step++) {
        for (i = 0; i < N; i++) {
            /* gradients of mixed scale and sign, one exactly zero */
            grad[i] = i == 3 ? 0 : (mdl_rng_uniform(&rng) - 0.4) * (i % 5 + 1);
            w->grad[i] = (mdl_scalar)grad[i];
            grad[i] = w->grad[i]; /* the reference sees the same float gradient */
        }
        mdl_optim_step(opt);
        ref_step(s, o, grad);
        for (i = 0; i < N; i++) {
            double err = fabs(w->data[i] - s->w[i]) / (1e-5 * (1 + fabs(s->w[i])));
            if (err > worst) worst = err;
        }
    }
    CHECK(worst <= 1, "%s: after %d steps the worst element is %.3g of its tolerance", what,
          STEPS, worst);
    CHECK(mdl_optim_steps(opt) == STEPS, "%s: %ld steps counted", what, mdl_optim_steps(opt));
    free(s);
    mdl_optim_free(opt);
    mdl_params_free(ps);
}

static void test_rules(void) {
    mdl_optim_opts o;
    o = mdl_optim_defaults(MDL_SGD);
    o.lr = 0.1;
    check_rule("sgd", &o);
    o.momentum = 0.9;
    check_rule("sgd momentum", &o);
    o.dampening = 0.3;
    o.weight_decay = 0.05;
    check_rule("sgd momentum dampening weight_decay", &o);
    o.dampening = 0;
    o.nesterov = 1;
    o.maximize = 1;
    check_rule("sgd nesterov maximize", &o);

    o = mdl_optim_defaults(MDL_ADAGRAD);
    check_rule("adagrad", &o);
    o.lr_decay = 0.1;
    o.initial_accumulator_value = 0.5;
    o.weight_decay = 0.01;
    check_rule("adagrad lr_decay initial_accumulator weight_decay", &o);

    o = mdl_optim_defaults(MDL_RMSPROP);
    check_rule("rmsprop", &o);
    o.momentum = 0.8;
    check_rule("rmsprop momentum", &o);
    o.centered = 1;
    o.weight_decay = 0.02;
    check_rule("rmsprop centered momentum weight_decay", &o);

    o = mdl_optim_defaults(MDL_ADAM);
    o.lr = 0.01;
    check_rule("adam", &o);
    o.amsgrad = 1;
    o.weight_decay = 0.1;
    check_rule("adam amsgrad weight_decay", &o);
    o.beta1 = 0;
    o.amsgrad = 0;
    o.maximize = 1;
    check_rule("adam beta1=0 maximize", &o);

    o = mdl_optim_defaults(MDL_ADAMW);
    o.lr = 0.01;
    CHECK(o.weight_decay == 1e-2, "AdamW's default weight_decay is %g, not PyTorch's 1e-2",
          o.weight_decay);
    check_rule("adamw", &o);
    o.amsgrad = 1;
    o.weight_decay = 0.5;
    check_rule("adamw amsgrad", &o);
}

/* PyTorch's defaults, field by field. */
static void test_defaults(void) {
    mdl_optim_opts s = mdl_optim_defaults(MDL_SGD), g = mdl_optim_defaults(MDL_ADAGRAD);
    mdl_optim_opts r = mdl_optim_defaults(MDL_RMSPROP), a = mdl_optim_defaults(MDL_ADAM);
    CHECK(s.momentum == 0 && s.dampening == 0 && !s.nesterov && s.weight_decay == 0,
          "SGD defaults");
    CHECK(g.lr == 1e-2 && g.eps == 1e-10 && g.lr_decay == 0 && g.initial_accumulator_value == 0,
          "AdaGrad defaults: lr %g eps %g", g.lr, g.eps);
    CHECK(r.lr == 1e-2 && r.alpha == 0.99 && r.eps == 1e-8 && !r.centered && r.momentum == 0,
          "RMSProp defaults: lr %g alpha %g eps %g", r.lr, r.alpha, r.eps);
    CHECK(a.lr == 1e-3 && a.beta1 == 0.9 && a.beta2 == 0.999 && a.eps == 1e-8 && !a.amsgrad &&
              a.weight_decay == 0,
          "Adam defaults: lr %g betas %g %g eps %g", a.lr, a.beta1, a.beta2, a.eps);
}

/* The state under PyTorch's names, made when first needed, with the values of the formulas. */
static void test_state(void) {
    mdl_params *ps = mdl_params_new();
    int shape[2] = {2, 3}, bshape[1] = {3};
    mdl_tensor *w = mdl_params_add(ps, "fc.weight", 2, shape);
    mdl_tensor *b = mdl_params_add(ps, "fc.bias", 1, bshape);
    mdl_tensor *rm = mdl_params_add_buffer(ps, "bn.running_mean", 1, bshape);
    mdl_optim_opts o = mdl_optim_defaults(MDL_ADAM);
    mdl_optim *opt;
    mdl_tensor *m, *v, *step;
    size_t i;
    o.amsgrad = 1;
    opt = mdl_optim_new(ps, &o);
    CHECK(mdl_params_count(mdl_optim_state(opt)) == 0, "the state exists before the first step");
    for (i = 0; i < 6; i++) w->grad[i] = (mdl_scalar)(i + 1);
    for (i = 0; i < 3; i++) b->grad[i] = -1;
    rm->data[0] = 5;
    mdl_optim_step(opt);
    m = mdl_params_find(mdl_optim_state(opt), "state.0.exp_avg");
    v = mdl_params_find(mdl_optim_state(opt), "state.1.exp_avg_sq");
    step = mdl_params_find(mdl_optim_state(opt), "state.1.step");
    CHECK(m && m->ndim == 2 && m->shape[0] == 2 && m->shape[1] == 3,
          "state.0.exp_avg is missing or has the wrong shape");
    CHECK(v && step && step->ndim == 0, "state.1.exp_avg_sq or a scalar state.1.step is missing");
    CHECK(mdl_params_find(mdl_optim_state(opt), "state.0.max_exp_avg_sq") != NULL,
          "amsgrad keeps max_exp_avg_sq");
    CHECK(mdl_params_count(mdl_optim_state(opt)) == 8,
          "2 parameters x (exp_avg, exp_avg_sq, max_exp_avg_sq, step) = 8, got %d "
          "(the buffer must have no state)", mdl_params_count(mdl_optim_state(opt)));
    if (m && v && step) {
        CHECK_NEAR(m->data[5], 0.1 * 6, 1e-6, "exp_avg = (1 - beta1) g after one step");
        CHECK_NEAR(v->data[0], 0.001 * 1, 1e-9, "exp_avg_sq = (1 - beta2) g^2 after one step");
        CHECK(step->data[0] == 1, "step = %g after one step", step->data[0]);
    }
    /* the first Adam step moves each weight by lr against the gradient's sign */
    CHECK_NEAR(b->data[0], 1e-3, 1e-7, "the first Adam step is lr * sign(-g)");
    CHECK(rm->data[0] == 5, "a buffer (requires_grad 0) was changed by the optimizer");
    mdl_optim_free(opt);

    /* SGD without momentum has no state; with momentum, one buffer per parameter */
    opt = mdl_sgd_new(ps, 0.1, 0);
    mdl_optim_step(opt);
    CHECK(mdl_params_count(mdl_optim_state(opt)) == 0, "plain SGD made state");
    mdl_optim_free(opt);
    opt = mdl_sgd_new(ps, 0.1, 0.9);
    mdl_optim_step(opt);
    CHECK(mdl_params_find(mdl_optim_state(opt), "state.1.momentum_buffer") != NULL &&
              mdl_params_count(mdl_optim_state(opt)) == 2,
          "SGD with momentum: state.<i>.momentum_buffer for each parameter");
    mdl_optim_free(opt);
    mdl_params_free(ps);
}

/* Resuming: an optimizer whose state set was filled from another's continues identically. */
static void test_resume(void) {
    mdl_params *ps = mdl_params_new(), *ps2 = mdl_params_new();
    int shape[1] = {20}, i, k;
    mdl_tensor *w = mdl_params_add(ps, "w", 1, shape), *w2 = mdl_params_add(ps2, "w", 1, shape);
    mdl_optim *a = mdl_adam_new(ps, 0.05), *b;
    mdl_params *st;
    for (k = 0; k < 3; k++) {
        for (i = 0; i < 20; i++) w->grad[i] = (mdl_scalar)sin(i + k);
        mdl_optim_step(a);
    }
    /* a "checkpoint": copy the weights and the state by name into a fresh optimizer */
    memcpy(w2->data, w->data, 20 * sizeof(mdl_scalar));
    b = mdl_adam_new(ps2, 0.05);
    st = mdl_optim_state(a);
    for (k = 0; k < mdl_params_count(st); k++) {
        mdl_tensor *src = mdl_params_get(st, k);
        mdl_tensor *dst = mdl_params_add_buffer(mdl_optim_state(b), src->name, src->ndim,
                                                src->shape);
        memcpy(dst->data, src->data, src->numel * sizeof(mdl_scalar));
    }
    for (k = 3; k < 6; k++) {
        for (i = 0; i < 20; i++) w->grad[i] = w2->grad[i] = (mdl_scalar)sin(i + k);
        mdl_optim_step(a);
        mdl_optim_step(b);
    }
    CHECK(memcmp(w->data, w2->data, 20 * sizeof(mdl_scalar)) == 0,
          "a resumed optimizer does not continue bit for bit");
    mdl_optim_free(a);
    mdl_optim_free(b);
    mdl_params_free(ps);
    mdl_params_free(ps2);
}

/* Parameter groups: each tensor moves with its group's lr; a group's settings change live. */
static void test_groups(void) {
    mdl_params *ps = mdl_params_new();
    int shape[1] = {4};
    mdl_tensor *w = mdl_params_add(ps, "w", 1, shape), *b = mdl_params_add(ps, "b", 1, shape);
    mdl_tensor *frozen = mdl_params_add(ps, "frozen", 1, shape);
    mdl_optim_opts o = mdl_optim_defaults(MDL_SGD), o2;
    mdl_optim *opt;
    int i;
    o.lr = 0.1;
    o2 = o;
    o2.lr = 0.01;
    opt = mdl_optim_new(NULL, &o);
    CHECK(mdl_optim_add_group(opt, 1, &w, NULL) == 0, "the first group is not group 0");
    CHECK(mdl_optim_add_group(opt, 1, &b, &o2) == 1, "the second group is not group 1");
    CHECK(mdl_optim_add_group(opt, 1, &frozen, NULL) == 2, "the third group is not group 2");
    mdl_set_requires_grad(frozen, 0);
    for (i = 0; i < 4; i++) w->grad[i] = b->grad[i] = 1;
    mdl_optim_step(opt);
    CHECK_NEAR(w->data[0], -0.1, 1e-7, "group 0 moves with lr 0.1");
    CHECK_NEAR(b->data[0], -0.01, 1e-8, "group 1 moves with lr 0.01");
    CHECK(frozen->data[0] == 0, "a tensor with requires_grad 0 moved");
    mdl_optim_group(opt, 1)->lr = 1;
    mdl_optim_step(opt);
    CHECK_NEAR(b->data[0], -1.01, 1e-6, "a group's lr changed between steps is used");
    mdl_optim_set_lr(opt, 0);
    mdl_optim_step(opt);
    CHECK_NEAR(w->data[0], -0.2, 1e-6, "mdl_optim_set_lr(0) stops every group");
    CHECK(mdl_optim_group_count(opt) == 3, "%d groups", mdl_optim_group_count(opt));
    mdl_optim_zero_grad(opt);
    CHECK(w->grad[0] == 0 && b->grad[3] == 0, "mdl_optim_zero_grad left a gradient");
    mdl_optim_free(opt);
    mdl_params_free(ps);
}

static void test_errors(void) {
    mdl_params *ps = mdl_params_new();
    int shape[1] = {2};
    mdl_tensor *w = mdl_params_add(ps, "w", 1, shape), *x;
    mdl_optim_opts o = mdl_optim_defaults(MDL_SGD);
    mdl_optim *opt;
    capture_errors();
    o.lr = -1;
    CHECK(mdl_optim_new(ps, &o) == NULL && captured_code == MDL_ERR_ARG &&
              strstr(captured_message, "lr") && strstr(captured_message, "mdl_optim_new"),
          "a negative lr: %s", captured_message);
    o = mdl_optim_defaults(MDL_SGD);
    o.nesterov = 1;
    capture_errors();
    CHECK(mdl_optim_new(ps, &o) == NULL && captured_code == MDL_ERR_ARG &&
              strstr(captured_message, "Nesterov"),
          "Nesterov without momentum: %s", captured_message);
    o = mdl_optim_defaults(MDL_ADAM);
    o.beta2 = 1;
    capture_errors();
    CHECK(mdl_optim_new(ps, &o) == NULL && strstr(captured_message, "beta2"),
          "beta2 = 1: %s", captured_message);
    opt = mdl_sgd_new(ps, 0.1, 0);
    capture_errors();
    CHECK(mdl_optim_add_group(opt, 1, &w, NULL) == -1 && strstr(captured_message, "\"w\"") &&
              strstr(captured_message, "already"),
          "a tensor in two groups: %s", captured_message);
    o = mdl_optim_defaults(MDL_ADAM);
    capture_errors();
    CHECK(mdl_optim_add_group(opt, 0, NULL, &o) == -1 && captured_code == MDL_ERR_ARG,
          "an Adam group in an SGD optimizer: %s", captured_message);
    x = mdl_zeros(ar, 1, shape);
    capture_errors();
    CHECK(mdl_optim_add_group(opt, 1, &x, NULL) == -1 && strstr(captured_message, "persistent"),
          "an arena tensor as a parameter: %s", captured_message);
    mdl_optim_group(opt, 0)->lr = -2;
    capture_errors();
    mdl_optim_step(opt);
    CHECK(captured_code == MDL_ERR_ARG && strstr(captured_message, "mdl_optim_step"),
          "a bad lr set between steps is reported by the step: %s", captured_message);
    mdl_optim_free(opt);
    mdl_params_free(ps);
    mdl_set_error_handler(NULL, NULL);
    mdl_clear_error();
}

/* Clipping and norms on gradients (3, 4) and (12): norm 13. */
static void test_clipping(void) {
    mdl_params *ps = mdl_params_new();
    int s2[1] = {2}, s1[1] = {1};
    mdl_tensor *a = mdl_params_add(ps, "a", 1, s2), *b = mdl_params_add(ps, "b", 1, s1);
    mdl_params_add_buffer(ps, "no_grad", 1, s1);
    double norm;
    a->grad[0] = 3;
    a->grad[1] = -4;
    b->grad[0] = 12;
    CHECK_NEAR(mdl_grad_norm(ps), 13, 1e-12, "the global norm of (3, -4, 12)");
    norm = mdl_clip_grad_norm(ps, 26, 2);
    CHECK_NEAR(norm, 13, 1e-12, "clip_grad_norm returns the norm before clipping");
    CHECK(a->grad[0] == 3 && b->grad[0] == 12, "a norm below max_norm was clipped");
    norm = mdl_clip_grad_norm(ps, 1.3, 2);
    CHECK_NEAR(a->grad[0], 3 * 1.3 / (13 + 1e-6), 1e-6, "clipped to 1.3: g * 1.3 / (13 + 1e-6)");
    CHECK_NEAR(mdl_grad_norm(ps), 1.3, 1e-6, "the clipped norm");
    a->grad[0] = 3;
    a->grad[1] = -4;
    b->grad[0] = 12;
    CHECK_NEAR(mdl_clip_grad_norm(ps, 100, INFINITY), 12, 0, "the infinity norm is max |g|");
    CHECK_NEAR(mdl_clip_grad_norm(ps, 100, 1), 19, 1e-12, "the 1-norm is sum |g|");
    mdl_clip_grad_value(ps, 3.5);
    CHECK(a->grad[0] == 3 && a->grad[1] == -3.5 && b->grad[0] == 3.5,
          "clip_grad_value(3.5) of (3, -4, 12) gave (%g, %g, %g)", a->grad[0], a->grad[1],
          b->grad[0]);
    mdl_params_free(ps);
}

/* Penalties: over weights only unless all; values and gradients. */
static void test_penalties(void) {
    mdl_params *ps = mdl_params_new();
    int s[1] = {2};
    mdl_tensor *w = mdl_params_add(ps, "fc.weight", 1, s), *b = mdl_params_add(ps, "fc.bias", 1, s);
    mdl_tensor *p;
    w->data[0] = 1;
    w->data[1] = -2;
    b->data[0] = 10;
    p = mdl_l2_penalty(ar, ps, 0.5, 0);
    CHECK(p && fabs(p->data[0] - 0.5 * 5) < 1e-6, "L2 penalty of weights (1, -2) with 0.5");
    if (p) mdl_backward(p);
    CHECK_NEAR(w->grad[1], 2 * 0.5 * -2, 1e-6, "the L2 penalty's gradient is 2 lambda w");
    CHECK(b->grad[0] == 0, "the bias got an L2 gradient without all = 1");
    mdl_params_zero_grad(ps);
    p = mdl_l1_penalty(ar, ps, 0.1, 1);
    CHECK(p && fabs(p->data[0] - 0.1 * 13) < 1e-6, "L1 penalty of every tensor: 0.1 * 13");
    if (p) mdl_backward(p);
    CHECK_NEAR(w->grad[1], -0.1, 1e-7, "the L1 penalty's gradient is lambda sign(w)");
    CHECK_NEAR(b->grad[0], 0.1, 1e-7, "with all = 1 the bias is penalised");
    mdl_arena_reset(ar);
    mdl_params_free(ps);
}

/* Schedules: the lr at each step, worked out by hand. */
static void test_schedules(void) {
    mdl_schedule_opts s;
    mdl_params *ps = mdl_params_new();
    int shape[1] = {1}, t;
    mdl_optim *opt;
    mdl_scheduler *sch;
    mdl_params_add(ps, "w", 1, shape);

    s = mdl_schedule_defaults(MDL_LR_STEP);
    s.step_size = 2;
    s.gamma = 0.5;
    {
        const double want[6] = {1, 1, 0.5, 0.5, 0.25, 0.25};
        for (t = 0; t < 6; t++) CHECK_NEAR(mdl_schedule_lr(&s, 1, t), want[t], 1e-15, "StepLR");
    }
    s = mdl_schedule_defaults(MDL_LR_MULTISTEP);
    s.milestones[0] = 2;
    s.milestones[1] = 5;
    s.num_milestones = 2;
    {
        const double want[7] = {1, 1, 0.1, 0.1, 0.1, 0.01, 0.01};
        for (t = 0; t < 7; t++)
            CHECK_NEAR(mdl_schedule_lr(&s, 1, t), want[t], 1e-15, "MultiStepLR");
    }
    s = mdl_schedule_defaults(MDL_LR_EXPONENTIAL);
    s.gamma = 0.9;
    CHECK_NEAR(mdl_schedule_lr(&s, 2, 3), 2 * 0.729, 1e-15, "ExponentialLR at t = 3");
    s = mdl_schedule_defaults(MDL_LR_COSINE);
    s.t_max = 10;
    s.eta_min = 0.1;
    CHECK_NEAR(mdl_schedule_lr(&s, 1, 0), 1, 1e-15, "cosine at 0");
    CHECK_NEAR(mdl_schedule_lr(&s, 1, 5), 0.55, 1e-15, "cosine halfway: (1 + 0.1) / 2");
    CHECK_NEAR(mdl_schedule_lr(&s, 1, 10), 0.1, 1e-15, "cosine at t_max: eta_min");
    s.warmup_steps = 3; /* lr/3, 5lr/9, 7lr/9, then the cosine from its start */
    CHECK_NEAR(mdl_schedule_lr(&s, 0.9, 0), 0.3, 1e-15, "warm-up at 0: lr / 3");
    CHECK_NEAR(mdl_schedule_lr(&s, 0.9, 2), 0.7, 1e-15, "warm-up at 2: 7 lr / 9");
    CHECK_NEAR(mdl_schedule_lr(&s, 0.9, 3), 0.9, 1e-15, "after the warm-up the cosine starts");
    CHECK_NEAR(mdl_schedule_lr(&s, 0.9, 8), 0.5, 1e-15, "warm-up 3 + cosine halfway");

    /* OneCycle on an SGD optimizer: lr and momentum at the start, the peak and the end */
    s = mdl_schedule_defaults(MDL_LR_ONE_CYCLE);
    s.total_steps = 11; /* rising over 0.3 * 11 - 1 = 2.3 steps, falling until step 10 */
    opt = mdl_sgd_new(ps, 0.5, 0);
    sch = mdl_scheduler_new(opt, &s);
    CHECK_NEAR(mdl_scheduler_lr(sch), 0.5 / 25, 1e-15, "OneCycle starts at max_lr / 25");
    CHECK_NEAR(mdl_optim_group(opt, 0)->momentum, 0.95, 1e-15, "and momentum at max_momentum");
    for (t = 1; t <= 10; t++) mdl_scheduler_step(sch);
    CHECK_NEAR(mdl_scheduler_lr(sch), 0.5 / 25 / 1e4, 1e-15, "OneCycle ends at initial / 1e4");
    CHECK_NEAR(mdl_optim_group(opt, 0)->momentum, 0.95, 1e-15, "momentum back at the end");
    mdl_scheduler_set_t(sch, 3); /* just after the peak at 2.3: pct = 0.7 / 7.7 of the descent */
    CHECK_NEAR(mdl_scheduler_lr(sch),
               0.5 / 25 / 1e4 + (0.5 - 0.5 / 25 / 1e4) / 2 * (1 + cos(MDL__PI * 0.7 / 7.7)),
               1e-15, "OneCycle just after the peak");
    mdl_scheduler_free(sch);
    mdl_optim_free(opt);

    /* a scheduler on a two-group optimizer scales each group from its own lr */
    s = mdl_schedule_defaults(MDL_LR_STEP);
    s.step_size = 1;
    opt = mdl_sgd_new(ps, 1, 0);
    {
        mdl_tensor *extra = mdl_params_add(ps, "extra", 1, shape);
        mdl_optim_opts o = *mdl_optim_group(opt, 0);
        o.lr = 2;
        mdl_optim_add_group(opt, 1, &extra, &o);
    }
    sch = mdl_scheduler_new(opt, &s);
    mdl_scheduler_step(sch);
    mdl_scheduler_step(sch);
    CHECK_NEAR(mdl_optim_group(opt, 1)->lr, 0.02, 1e-15, "group 1 from its base 2: 2 * 0.1^2");
    CHECK(mdl_scheduler_t(sch) == 2, "t = %ld after two steps", mdl_scheduler_t(sch));
    mdl_scheduler_free(sch);
    mdl_optim_free(opt);

    /* ReduceLROnPlateau, patience 2: improvements, then a plateau of 3 steps -> lr * 0.1 */
    s = mdl_schedule_defaults(MDL_LR_PLATEAU);
    s.patience = 2;
    opt = mdl_sgd_new(ps, 1, 0);
    sch = mdl_scheduler_new(opt, &s);
    {
        const double metric[7] = {5, 4, 4, 4, 4, 3.99999, 3};
        const double want[7] = {1, 1, 1, 1, 0.1, 0.1, 0.1};
        for (t = 0; t < 7; t++) {
            mdl_scheduler_step_metric(sch, metric[t]);
            CHECK_NEAR(mdl_scheduler_lr(sch), want[t], 1e-15, "ReduceLROnPlateau");
        }
    }
    mdl_scheduler_free(sch);
    mdl_optim_free(opt);

    capture_errors();
    s = mdl_schedule_defaults(MDL_LR_COSINE);
    CHECK(isnan(mdl_schedule_lr(&s, 1, 0)) && strstr(captured_message, "t_max"),
          "a cosine without t_max: %s", captured_message);
    mdl_set_error_handler(NULL, NULL);
    mdl_clear_error();
    mdl_params_free(ps);
}

/* A line fitted with Adam, then with SGD + momentum + a cosine schedule: both reach a bound. */
static double fit_line(int adam) {
    mdl_params *ps = mdl_params_new();
    int one[2] = {1, 1}, bs[1] = {1}, xs[2] = {32, 1};
    mdl_tensor *w = mdl_params_add(ps, "w", 2, one), *b = mdl_params_add(ps, "b", 1, bs);
    mdl_optim *opt = adam ? mdl_adam_new(ps, 0.1) : mdl_sgd_new(ps, 0.05, 0.9);
    mdl_schedule_opts s = mdl_schedule_defaults(MDL_LR_COSINE);
    mdl_scheduler *sch;
    double loss = 0;
    int step, i;
    s.t_max = 300;
    sch = mdl_scheduler_new(opt, &s);
    for (step = 0; step < 300; step++) {
        mdl_tensor *x = mdl_zeros(ar, 2, xs), *y = mdl_zeros(ar, 2, xs), *l;
        for (i = 0; i < 32; i++) {
            x->data[i] = (mdl_scalar)(i / 16.0 - 1);
            y->data[i] = (mdl_scalar)(3 * x->data[i] - 0.5);
        }
        l = mdl_mse_loss(ar, mdl_linear(ar, x, w, b), y, MDL_MEAN);
        loss = l->data[0];
        mdl_backward(l);
        mdl_optim_step(opt);
        mdl_optim_zero_grad(opt);
        mdl_scheduler_step(sch);
        mdl_arena_reset(ar);
    }
    mdl_scheduler_free(sch);
    mdl_optim_free(opt);
    mdl_params_free(ps);
    return loss;
}

static void test_training(void) {
    double a = fit_line(1), s = fit_line(0);
    CHECK(a < 1e-4, "Adam fits y = 3x - 0.5 to a loss of %g", a);
    CHECK(s < 1e-4, "SGD with momentum and a cosine schedule fits it to a loss of %g", s);
}

int main(void) {
    ar = mdl_arena_new(0);
    test_defaults();
    test_rules();
    test_state();
    test_resume();
    test_groups();
    test_errors();
    test_clipping();
    test_penalties();
    test_schedules();
    test_training();
    mdl_arena_free(ar);
    return test_summary();
}
