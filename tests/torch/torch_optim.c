/* tests/torch/torch_optim.c - minidl's optimizers, learning-rate schedules and gradient clipping,
   written as case files for tests/torch/compare.py, which runs torch.optim,
   torch.optim.lr_scheduler and torch.nn.utils on the same numbers (see tests/torch/README.md).

   An optimizer case: two parameters, "w" [5,7] (35 elements: two of the update's blocks of 16
   and a short one) and "b" [3], and STEPS gradients for each ("gw0", "gb0", ...). minidl takes
   the steps; the results are both parameters and every state tensor ("state.w.exp_avg", ...).
   args: "kind" (the torch.optim class), "opts" (its keyword arguments under PyTorch's names),
   "group1" (the settings "b"'s group changes, if it has a group of its own), "steps" and the
   state keys. A schedule case: the lr (and momentum or beta1) after construction and after
   each step, for an optimizer with lr "base_lr". A clipping case: the norm returned and the
   clipped gradients.

   Build and run (tests/torch/run.sh does this):
       gcc -std=c99 -Wall -Wextra -Wpedantic -Werror -O1 -g -I. tests/torch/torch_optim.c \
           -o build/torch_optim -lm
       mkdir -p /tmp/cases && ./build/torch_optim /tmp/cases
       /usr/bin/python3 tests/torch/compare.py /tmp/cases */
#define MINIDL_IMPLEMENTATION
#include "minidl.h"
#include "torch_case.h"

#define STEPS 5

static const char *const kind_names[] = {"", "SGD", "Adagrad", "RMSprop", "Adam", "AdamW"};

/* The settings as torch.optim's keyword arguments. */
static void opts_json(const mdl_optim_opts *o, char *buf, size_t size) {
    switch (o->kind) {
    case MDL_SGD:
        snprintf(buf, size, "{\"lr\": %.17g, \"momentum\": %.17g, \"dampening\": %.17g, "
                 "\"nesterov\": %s, \"weight_decay\": %.17g, \"maximize\": %s}", o->lr,
                 o->momentum, o->dampening, o->nesterov ? "true" : "false", o->weight_decay,
                 o->maximize ? "true" : "false");
        break;
    case MDL_ADAGRAD:
        snprintf(buf, size, "{\"lr\": %.17g, \"lr_decay\": %.17g, \"weight_decay\": %.17g, "
                 "\"initial_accumulator_value\": %.17g, \"eps\": %.17g, \"maximize\": %s}",
                 o->lr, o->lr_decay, o->weight_decay, o->initial_accumulator_value, o->eps,
                 o->maximize ? "true" : "false");
        break;
    case MDL_RMSPROP:
        snprintf(buf, size, "{\"lr\": %.17g, \"alpha\": %.17g, \"eps\": %.17g, "
                 "\"weight_decay\": %.17g, \"momentum\": %.17g, \"centered\": %s, "
                 "\"maximize\": %s}", o->lr, o->alpha, o->eps, o->weight_decay, o->momentum,
                 o->centered ? "true" : "false", o->maximize ? "true" : "false");
        break;
    case MDL_ADAM:
    case MDL_ADAMW:
        snprintf(buf, size, "{\"lr\": %.17g, \"betas\": [%.17g, %.17g], \"eps\": %.17g, "
                 "\"weight_decay\": %.17g, \"amsgrad\": %s, \"maximize\": %s}", o->lr, o->beta1,
                 o->beta2, o->eps, o->weight_decay, o->amsgrad ? "true" : "false",
                 o->maximize ? "true" : "false");
        break;
    }
}

/* The state keys minidl should have made for these settings, as a JSON list. */
static void state_keys(mdl_optim *opt, const char *param_index, char *buf, size_t size) {
    mdl_params *st = mdl_optim_state(opt);
    size_t n = 0, plen = strlen(param_index);
    int i;
    n += (size_t)snprintf(buf + n, size - n, "[");
    for (i = 0; i < mdl_params_count(st); i++) {
        const char *name = mdl_params_get(st, i)->name;
        if (strncmp(name, param_index, plen) != 0) continue;
        n += (size_t)snprintf(buf + n, size - n, "%s\"%s\"", n > 1 ? ", " : "", name + plen);
    }
    snprintf(buf + n, size - n, "]");
}

/* One optimizer case; group1 is NULL when "b" shares "w"'s group. */
static void optim_case(tc *t, const char *name, const mdl_optim_opts *o,
                       const mdl_optim_opts *group1) {
    char opts[512], g1[512] = "null", keys_w[256], keys_b[256];
    const int ws[2] = {5, 7}, bs[1] = {3};
    mdl_tensor *w0, *b0, *gw[STEPS], *gb[STEPS], *w, *b;
    mdl_params *ps = mdl_params_new();
    mdl_optim *opt;
    int k, i;
    /* inputs first (tc_begin needs the args, which need the state keys: so a dry run) */
    w = mdl_params_add(ps, "w", 2, ws);
    b = mdl_params_add(ps, "b", 1, bs);
    opts_json(o, opts, sizeof opts);
    if (group1) opts_json(group1, g1, sizeof g1);
    /* state keys: run the optimizer once on scratch copies to see which it makes */
    {
        mdl_optim *dry = mdl_optim_new(NULL, o);
        mdl_optim_add_group(dry, 1, &w, NULL);
        mdl_optim_add_group(dry, 1, &b, group1);
        mdl_optim_step(dry);
        state_keys(dry, "state.0.", keys_w, sizeof keys_w);
        state_keys(dry, "state.1.", keys_b, sizeof keys_b);
        mdl_optim_free(dry);
    }
    tc_begin(t, name, "optim", "{\"kind\": \"%s\", \"opts\": %s, \"group1\": %s, \"steps\": %d, "
             "\"state_w\": %s, \"state_b\": %s}", kind_names[o->kind], opts, g1, STEPS, keys_w,
             keys_b);
    w0 = tc_input(t, "w", 2, ws, 0);
    b0 = tc_input(t, "b", 1, bs, 0);
    for (k = 0; k < STEPS; k++) {
        char n1[8], n2[8];
        snprintf(n1, sizeof n1, "gw%d", k);
        snprintf(n2, sizeof n2, "gb%d", k);
        gw[k] = tc_input(t, n1, 2, ws, 0);
        gb[k] = tc_input(t, n2, 1, bs, 0);
        if (k == 2) gw[k]->data[4] = 0; /* a zero gradient on the way */
    }
    memcpy(w->data, w0->data, w->numel * sizeof(mdl_scalar));
    memcpy(b->data, b0->data, b->numel * sizeof(mdl_scalar));
    opt = mdl_optim_new(NULL, o);
    mdl_optim_add_group(opt, 1, &w, NULL);
    mdl_optim_add_group(opt, 1, &b, group1);
    for (k = 0; k < STEPS; k++) {
        memcpy(w->grad, gw[k]->data, w->numel * sizeof(mdl_scalar));
        memcpy(b->grad, gb[k]->data, b->numel * sizeof(mdl_scalar));
        mdl_optim_step(opt);
    }
    /* the parameters move by about lr per step: float32 rounding of values near 1 */
    tc_tol(t, "*", 2e-6, 2e-5);
    tc_result(t, "w", 2, ws, w->data);
    tc_result(t, "b", 1, bs, b->data);
    for (i = 0; i < mdl_params_count(mdl_optim_state(opt)); i++) {
        mdl_tensor *s = mdl_params_get(mdl_optim_state(opt), i);
        char rname[96];
        /* state.0.exp_avg -> state.w.exp_avg */
        snprintf(rname, sizeof rname, "state.%s.%s", s->name[6] == '0' ? "w" : "b", s->name + 8);
        tc_result(t, rname, s->ndim, s->shape, s->data);
    }
    tc_end(t);
    mdl_optim_free(opt);
    mdl_params_free(ps);
}

static void optim_cases(tc *t) {
    mdl_optim_opts o, g;
    o = mdl_optim_defaults(MDL_SGD);
    o.lr = 0.1;
    optim_case(t, "optim/sgd", &o, NULL);
    o.momentum = 0.9;
    optim_case(t, "optim/sgd_momentum", &o, NULL);
    o.dampening = 0.25;
    o.weight_decay = 0.01;
    optim_case(t, "optim/sgd_momentum_dampening_wd", &o, NULL);
    o.dampening = 0;
    o.nesterov = 1;
    optim_case(t, "optim/sgd_nesterov", &o, NULL);
    o.maximize = 1;
    g = o;
    g.lr = 0.01;
    g.weight_decay = 0;
    optim_case(t, "optim/sgd_nesterov_maximize_groups", &o, &g);

    o = mdl_optim_defaults(MDL_ADAGRAD);
    optim_case(t, "optim/adagrad", &o, NULL);
    o.lr_decay = 0.05;
    o.initial_accumulator_value = 0.1;
    o.weight_decay = 0.02;
    optim_case(t, "optim/adagrad_lr_decay_init_wd", &o, NULL);

    o = mdl_optim_defaults(MDL_RMSPROP);
    optim_case(t, "optim/rmsprop", &o, NULL);
    o.momentum = 0.9;
    optim_case(t, "optim/rmsprop_momentum", &o, NULL);
    o.centered = 1;
    o.weight_decay = 0.01;
    optim_case(t, "optim/rmsprop_centered_momentum_wd", &o, NULL);
    o.momentum = 0;
    o.alpha = 0.9;
    optim_case(t, "optim/rmsprop_centered_alpha", &o, NULL);

    o = mdl_optim_defaults(MDL_ADAM);
    optim_case(t, "optim/adam", &o, NULL);
    o.lr = 0.01;
    o.amsgrad = 1;
    optim_case(t, "optim/adam_amsgrad", &o, NULL);
    o.amsgrad = 0;
    o.weight_decay = 0.1;
    o.beta1 = 0.8;
    o.beta2 = 0.99;
    o.eps = 1e-6;
    optim_case(t, "optim/adam_wd_betas_eps", &o, NULL);
    o.maximize = 1;
    g = o;
    g.lr = 0.1;
    g.amsgrad = 1;
    optim_case(t, "optim/adam_maximize_groups", &o, &g);

    o = mdl_optim_defaults(MDL_ADAMW);
    optim_case(t, "optim/adamw", &o, NULL);
    o.lr = 0.05;
    o.weight_decay = 0.5;
    o.amsgrad = 1;
    optim_case(t, "optim/adamw_amsgrad_wd", &o, NULL);
}

/* ---- schedules: the lr (and momentum or beta1) at every step ---- */

#define T_MAX_STEPS 40

static void schedule_case(tc *t, const char *name, const char *torch_fmt, mdl_optim_kind kind,
                          const mdl_schedule_opts *s, int steps, const double *metrics) {
    mdl_params *ps = mdl_params_new();
    int one[1] = {1}, out[1], k;
    mdl_optim_opts o = mdl_optim_defaults(kind);
    mdl_optim *opt;
    mdl_scheduler *sch;
    mdl_scalar lr[T_MAX_STEPS + 1], mom[T_MAX_STEPS + 1];
    mdl_params_add(ps, "w", 1, one);
    o.lr = 0.2;
    o.momentum = kind == MDL_SGD ? 0.9 : 0;
    opt = mdl_optim_new(ps, &o);
    sch = mdl_scheduler_new(opt, s);
    tc_begin(t, name, "schedule", "{\"optimizer\": \"%s\", \"base_lr\": 0.2, \"steps\": %d, "
             "\"scheduler\": %s}", kind_names[kind], steps, torch_fmt);
    if (metrics) {
        mdl_tensor *m = tc_input(t, "metrics", 1, (const int[]){steps}, 0);
        for (k = 0; k < steps; k++) m->data[k] = (mdl_scalar)metrics[k];
    }
    for (k = 0; k <= steps; k++) {
        lr[k] = (mdl_scalar)mdl_optim_group(opt, 0)->lr;
        mom[k] = (mdl_scalar)(kind == MDL_SGD ? mdl_optim_group(opt, 0)->momentum
                                              : mdl_optim_group(opt, 0)->beta1);
        if (k == steps) break;
        if (metrics)
            mdl_scheduler_step_metric(sch, metrics[k]);
        else
            mdl_scheduler_step(sch);
    }
    out[0] = steps + 1;
    tc_tol(t, "*", 1e-9, 1e-6); /* doubles written as float */
    tc_result(t, "lr", 1, out, lr);
    tc_result(t, "momentum", 1, out, mom);
    tc_end(t);
    mdl_scheduler_free(sch);
    mdl_optim_free(opt);
    mdl_params_free(ps);
}

static void schedule_cases(tc *t) {
    mdl_schedule_opts s;
    static const double plateau[30] = {1.0, 0.9, 0.8, 0.8, 0.8, 0.8,  0.79999, 0.7, 0.7, 0.7,
                                       0.7, 0.7, 0.7, 0.7, 0.7, 0.69, 0.69,    0.69, 0.69, 0.69,
                                       0.69, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5};
    s = mdl_schedule_defaults(MDL_LR_STEP);
    s.step_size = 3;
    s.gamma = 0.5;
    schedule_case(t, "schedule/step", "{\"kind\": \"StepLR\", \"step_size\": 3, \"gamma\": 0.5}",
                  MDL_SGD, &s, 12, NULL);
    s = mdl_schedule_defaults(MDL_LR_MULTISTEP);
    s.milestones[0] = 2;
    s.milestones[1] = 5;
    s.milestones[2] = 9;
    s.num_milestones = 3;
    schedule_case(t, "schedule/multistep",
                  "{\"kind\": \"MultiStepLR\", \"milestones\": [2, 5, 9], \"gamma\": 0.1}",
                  MDL_SGD, &s, 12, NULL);
    s = mdl_schedule_defaults(MDL_LR_EXPONENTIAL);
    s.gamma = 0.9;
    schedule_case(t, "schedule/exponential", "{\"kind\": \"ExponentialLR\", \"gamma\": 0.9}",
                  MDL_SGD, &s, 12, NULL);
    s = mdl_schedule_defaults(MDL_LR_COSINE);
    s.t_max = 10;
    s.eta_min = 0.01;
    schedule_case(t, "schedule/cosine",
                  "{\"kind\": \"CosineAnnealingLR\", \"T_max\": 10, \"eta_min\": 0.01}", MDL_ADAM,
                  &s, 10, NULL);
    s.warmup_steps = 4;
    s.warmup_start_factor = 0.1;
    schedule_case(t, "schedule/warmup_cosine",
                  "{\"kind\": \"SequentialLR\", \"milestones\": [4], \"schedulers\": ["
                  "{\"kind\": \"LinearLR\", \"start_factor\": 0.1, \"total_iters\": 4}, "
                  "{\"kind\": \"CosineAnnealingLR\", \"T_max\": 10, \"eta_min\": 0.01}]}",
                  MDL_SGD, &s, 14, NULL);
    s = mdl_schedule_defaults(MDL_LR_STEP);
    s.step_size = 2;
    s.warmup_steps = 3;
    schedule_case(t, "schedule/warmup_step",
                  "{\"kind\": \"SequentialLR\", \"milestones\": [3], \"schedulers\": ["
                  "{\"kind\": \"LinearLR\", \"start_factor\": 0.3333333333333333, "
                  "\"total_iters\": 3}, {\"kind\": \"StepLR\", \"step_size\": 2, \"gamma\": 0.1}]}",
                  MDL_SGD, &s, 9, NULL);
    s = mdl_schedule_defaults(MDL_LR_ONE_CYCLE);
    s.max_lr = 1;
    s.total_steps = 20;
    schedule_case(t, "schedule/one_cycle_sgd",
                  "{\"kind\": \"OneCycleLR\", \"max_lr\": 1, \"total_steps\": 20}", MDL_SGD, &s,
                  19, NULL);
    s.pct_start = 0.25;
    s.div_factor = 10;
    s.final_div_factor = 100;
    schedule_case(t, "schedule/one_cycle_adam",
                  "{\"kind\": \"OneCycleLR\", \"max_lr\": 1, \"total_steps\": 20, "
                  "\"pct_start\": 0.25, \"div_factor\": 10, \"final_div_factor\": 100}", MDL_ADAM,
                  &s, 19, NULL);
    s = mdl_schedule_defaults(MDL_LR_PLATEAU);
    s.patience = 2;
    s.factor = 0.5;
    s.cooldown = 1;
    s.min_lr = 0.02;
    schedule_case(t, "schedule/plateau",
                  "{\"kind\": \"ReduceLROnPlateau\", \"patience\": 2, \"factor\": 0.5, "
                  "\"cooldown\": 1, \"min_lr\": 0.02}", MDL_SGD, &s, 30, plateau);
    s.mode_max = 1;
    schedule_case(t, "schedule/plateau_max",
                  "{\"kind\": \"ReduceLROnPlateau\", \"mode\": \"max\", \"patience\": 2, "
                  "\"factor\": 0.5, \"cooldown\": 1, \"min_lr\": 0.02}", MDL_SGD, &s, 30,
                  plateau);
}

/* ---- clipping: the norm returned and the clipped gradients ---- */

static void clip_case(tc *t, const char *name, double max_norm, double norm_type, double value) {
    mdl_params *ps = mdl_params_new();
    const int ws[2] = {4, 6}, bs[1] = {5}, one[1] = {1};
    mdl_tensor *gw, *gb, *w, *b;
    mdl_scalar norm = 0;
    tc_begin(t, name, "clip", "{\"max_norm\": %.17g, \"norm_type\": %s, \"value\": %.17g}",
             max_norm, isinf(norm_type) ? "\"inf\"" : (norm_type == 1 ? "1" : "2"), value);
    gw = tc_input(t, "gw", 2, ws, 0);
    gb = tc_input(t, "gb", 1, bs, 0);
    w = mdl_params_add(ps, "w", 2, ws);
    b = mdl_params_add(ps, "b", 1, bs);
    memcpy(w->grad, gw->data, w->numel * sizeof(mdl_scalar));
    memcpy(b->grad, gb->data, b->numel * sizeof(mdl_scalar));
    if (value > 0)
        mdl_clip_grad_value(ps, value);
    else
        norm = (mdl_scalar)mdl_clip_grad_norm(ps, max_norm, norm_type);
    tc_tol(t, "*", 1e-6, 1e-5);
    if (value <= 0) tc_result(t, "norm", 0, one, &norm);
    tc_result(t, "gw", 2, ws, w->grad);
    tc_result(t, "gb", 1, bs, b->grad);
    tc_end(t);
    mdl_params_free(ps);
}

int main(int argc, char **argv) {
    tc t;
    if (tc_open(&t, argc, argv, "torch_optim") != 0) return 2;
    optim_cases(&t);
    schedule_cases(&t);
    clip_case(&t, "clip/norm2", 1.0, 2, 0);
    clip_case(&t, "clip/norm2_not_needed", 100.0, 2, 0);
    clip_case(&t, "clip/norm1", 2.0, 1, 0);
    clip_case(&t, "clip/norm_inf", 0.5, INFINITY, 0);
    clip_case(&t, "clip/value", 0, 2, 0.7);
    return tc_close(&t);
}
