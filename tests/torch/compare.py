#!/usr/bin/python3
"""tests/torch/compare.py - hold minidl's results against PyTorch's, case by case.

    /usr/bin/python3 tests/torch/compare.py [-k TEXT] PATH...

PATH is a folder of case files (every *.case in it) or one case file; -k keeps only the cases
whose name contains TEXT. The case files come from the C programs tests/torch/torch_*.c, through
tests/torch/torch_case.h, which describes the format. tests/torch/run.sh builds and runs those
and then this script; see tests/torch/README.md for how to add a case.

For each case this script reads minidl's float32 inputs, recomputes the case with torch in
float64 (the reference) and in float32, and compares every result minidl wrote ("out",
"grad.x", ...) with the float64 reference: each element must satisfy
    |minidl - reference| <= atol + rtol * |reference|
with the atol and rtol the case wrote beside that result. It prints one line per case: ok or
FAIL, the name, the largest absolute error, the largest error of torch's own float32 run (for
scale: what float32 arithmetic costs), and the largest ratio of error to tolerance with the
result where it occurs; details of each failure; the worst ratio of all; and last the line
"N passed, M failed". The exit status is 1 if any case failed (or none was found), else 0.
"""
import contextlib
import json
import math
import os
import shutil
import sys
import tempfile
import textwrap
import warnings
from collections import OrderedDict
from io import StringIO

import torch
import torch.nn as nn
import torch.nn.functional as F

# ---- the references: one function per "op" name that the C side gives to tc_begin ----------

# REFERENCES[op] is run(inputs, kinds, args) -> {result name: tensor}: inputs maps each input's
# name to a tensor of the dtype being computed (float64, then float32), kinds each name to
# "param" (minidl's required grad) or "input", args is the case's "args" object.
REFERENCES = {}


def reference(name):
    """Register fn(inputs, args) -> {result name: tensor} as the reference of `name`, for a case
    that is not an op with autograd (an optimizer step, a file): it returns a tensor for each
    result minidl wrote, under the same name."""
    def register(fn):
        REFERENCES[name] = lambda inputs, kinds, args: fn(inputs, args)
        return fn
    return register


def op(name):
    """Register fn(x, args) -> output tensor as the reference of `name`, an op with autograd:
    x maps each input's name but v to a tensor, which requires grad if minidl's did. The
    results are "out" and, after out.backward(v), "grad.<name>" for every param."""
    def register(fn):
        def run(inputs, kinds, args):
            x = {n: t.clone().requires_grad_(kinds[n] == "param")
                 for n, t in inputs.items() if n != "v"}
            out = fn(x, args)
            results = {"out": out.detach()}
            params = [n for n in x if kinds[n] == "param"]
            if params:
                out.backward(inputs["v"].reshape(out.shape))
            for n in params:
                g = x[n].grad
                results["grad." + n] = g if g is not None else torch.zeros_like(x[n])
            return results
        REFERENCES[name] = run
        return fn
    return register


def axis_of(args):
    """minidl's MDL_ALL (-128) is torch's dim=None."""
    return None if args["axis"] == -128 else args["axis"]


@op("matmul")
def _(x, a):
    return torch.matmul(x["a"], x["b"])


@op("matmul_t")
def _(x, a):
    A, B = x["a"], x["b"]
    if a["trans_a"] and A.dim() > 1:
        A = A.transpose(-1, -2)
    if a["trans_b"] and B.dim() > 1:
        B = B.transpose(-1, -2)
    return torch.matmul(A, B)


@op("conv2d")
def _(x, a):
    return F.conv2d(x["x"], x["w"], x.get("b"), stride=a["stride"], padding=a["padding"],
                    dilation=a["dilation"], groups=a["groups"])


@op("conv1d")
def _(x, a):
    return F.conv1d(x["x"], x["w"], x.get("b"), stride=a["stride"], padding=a["padding"],
                    dilation=a["dilation"], groups=a["groups"])


def pool_args(a, two_d):
    """minidl's mdl_pool_opts as torch's arguments: a 0 is torch's default (stride = kernel,
    dilation 1), a per-axis pair (kernel_hw, ...) is used when either of its two is set."""
    def pair(name):
        hw = a.get(name + "_hw", [0, 0])
        return list(hw) if any(hw) else [a.get(name, 0)] * 2
    k = [a["kernel"]] * 2 if a["kernel"] else list(a["kernel_hw"])
    s = [v or k[i] for i, v in enumerate(pair("stride"))]
    p = pair("padding")
    d = [v or 1 for v in pair("dilation")]
    if not two_d:
        return dict(kernel_size=k[1], stride=s[1], padding=p[1]), d[1]
    return dict(kernel_size=tuple(k), stride=tuple(s), padding=tuple(p)), tuple(d)


@op("max_pool2d")
def _(x, a):
    kw, d = pool_args(a, True)
    return F.max_pool2d(x["x"], dilation=d, ceil_mode=bool(a.get("ceil_mode", 0)), **kw)


@op("avg_pool2d")
def _(x, a):
    kw, _d = pool_args(a, True)
    return F.avg_pool2d(x["x"], ceil_mode=bool(a.get("ceil_mode", 0)),
                        count_include_pad=not a.get("exclude_padding", 0), **kw)


@op("max_pool1d")
def _(x, a):
    kw, d = pool_args(a, False)
    return F.max_pool1d(x["x"], dilation=d, ceil_mode=bool(a["ceil_mode"]), **kw)


@op("avg_pool1d")
def _(x, a):
    kw, _d = pool_args(a, False)
    return F.avg_pool1d(x["x"], ceil_mode=bool(a["ceil_mode"]),
                        count_include_pad=not a["exclude_padding"], **kw)


@op("adaptive_avg_pool2d")
def _(x, a):
    return F.adaptive_avg_pool2d(x["x"], (a["out_h"], a["out_w"]))


@op("softmax")
def _(x, a):
    return F.softmax(x["x"], dim=a["axis"])


@op("log_softmax")
def _(x, a):
    return F.log_softmax(x["x"], dim=a["axis"])


ACTIVATIONS = {
    "relu": lambda t, p: F.relu(t),
    "leaky_relu": lambda t, p: F.leaky_relu(t, p),
    "sigmoid": lambda t, p: torch.sigmoid(t),
    "tanh": lambda t, p: torch.tanh(t),
    "gelu": lambda t, p: F.gelu(t),  # the exact erf form, torch's default
    "silu": lambda t, p: F.silu(t),
    "elu": lambda t, p: F.elu(t, alpha=p),
}
for _name, _f in ACTIVATIONS.items():
    op(_name)(lambda x, a, f=_f: f(x["x"], a["p"]))


@op("abs")
def _(x, a):
    return torch.abs(x["x"])


@op("clamp")
def _(x, a):
    return torch.clamp(x["x"], a["lo"], a["hi"])


@op("maximum")
def _(x, a):
    return torch.maximum(x["a"], x["b"])


@op("var")
def _(x, a):
    return torch.var(x["x"], dim=axis_of(a), correction=a["correction"],
                     keepdim=bool(a["keepdim"]))


@op("sum")
def _(x, a):
    d = axis_of(a)
    return x["x"].sum() if d is None else x["x"].sum(dim=d, keepdim=bool(a["keepdim"]))


@op("mean")
def _(x, a):
    d = axis_of(a)
    return x["x"].mean() if d is None else x["x"].mean(dim=d, keepdim=bool(a["keepdim"]))


@op("max")
def _(x, a):  # along an axis the gradient goes to the maximum, over all it is shared at ties
    d = axis_of(a)
    return x["x"].max() if d is None else x["x"].max(dim=d, keepdim=bool(a["keepdim"])).values


@reference("argmax")
def _(x, a):
    return {"out": torch.argmax(x["x"], dim=a["axis"]).to(x["x"].dtype)}


@op("index_select")
def _(x, a):
    return torch.index_select(x["x"], a["axis"], torch.tensor(a["index"], dtype=torch.long))


@op("mlp")
def _(x, a):  # linear layers as x @ W + b with W [in, out]
    act = torch.relu if a["act"] == "relu" else torch.tanh
    h = act(x["x"] @ x["w1"] + x["b1"])
    return F.log_softmax(h @ x["w2"] + x["b2"], dim=-1)


# ---- losses (tests/torch/torch_losses.c): "input", "target", the constants "weight" and
# "pos_weight", and args["reduction"] as torch spells it ------------------------------------


@op("mse_loss")
def _(x, a):
    return F.mse_loss(x["input"], x["target"], reduction=a["reduction"])


@op("l1_loss")
def _(x, a):
    return F.l1_loss(x["input"], x["target"], reduction=a["reduction"])


@op("smooth_l1_loss")
def _(x, a):
    # beta = 0 is L1, as torch's documentation says and its source means (its
    # smooth_l1_loss_backward sends beta <= 0 to l1_loss_backward); torch 1.13's autograd
    # still runs the smooth kernel for beta = 0, whose gradient at d = 0 is -1, not L1's 0
    if a["p"] == 0:
        return F.l1_loss(x["input"], x["target"], reduction=a["reduction"])
    return F.smooth_l1_loss(x["input"], x["target"], reduction=a["reduction"], beta=a["p"])


@op("huber_loss")
def _(x, a):
    return F.huber_loss(x["input"], x["target"], reduction=a["reduction"], delta=a["p"])


@op("bce_loss")
def _(x, a):
    return F.binary_cross_entropy(x["input"], x["target"], weight=x.get("weight"),
                                  reduction=a["reduction"])


@op("bce_with_logits_loss")
def _(x, a):
    return F.binary_cross_entropy_with_logits(x["input"], x["target"], weight=x.get("weight"),
                                              pos_weight=x.get("pos_weight"),
                                              reduction=a["reduction"])


@op("cross_entropy")
def _(x, a):  # class indices travel as floats
    return F.cross_entropy(x["input"], x["target"].long(), weight=x.get("weight"),
                           ignore_index=a["ignore_index"], reduction=a["reduction"],
                           label_smoothing=a["label_smoothing"])


@op("nll_loss")
def _(x, a):  # of log_softmax(input) along the class axis, as the C side computes it
    logp = F.log_softmax(x["input"], dim=0 if x["input"].dim() == 1 else 1)
    return F.nll_loss(logp, x["target"].long(), weight=x.get("weight"),
                      ignore_index=a["ignore_index"], reduction=a["reduction"])


@op("kl_div")
def _(x, a):
    with warnings.catch_warnings():  # torch warns that 'mean' is not 'batchmean'; we know
        warnings.simplefilter("ignore")
        return F.kl_div(x["input"], x["target"], reduction=a["reduction"],
                        log_target=bool(a["log_target"]))


# ---- layers (tests/torch/torch_layers.c): the functional forms, then "model" cases --------


@op("linear")
def _(x, a):
    return F.linear(x["x"], x["w"], x["b"] if a["bias"] else None)


@op("layer_norm")
def _(x, a):
    X = x["x"]
    return F.layer_norm(X, X.shape[X.dim() - a["n_axes"]:], x.get("weight"), x.get("bias"),
                        eps=a["eps"])


@op("embedding")
def _(x, a):  # indices travel as floats
    pad = a["padding_idx"]
    return F.embedding(x["index"].long(), x["weight"], padding_idx=pad if pad >= 0 else None)


@op("dropout")
def _(x, a):  # evaluation, or p = 0 or 1 in training: no random numbers involved
    return F.dropout(x["x"], a["p"], training=bool(a["training"]))


def batch_norm_reference(inputs, kinds, args):
    """F.batch_norm with the running statistics as the inputs give them (copies, which it
    updates in training): out, the gradients, and running_mean and running_var after."""
    x = {n: t.clone().requires_grad_(kinds[n] == "param")
         for n, t in inputs.items() if n != "v"}
    out = F.batch_norm(x["x"], x.get("running_mean"), x.get("running_var"), x.get("weight"),
                       x.get("bias"), training=bool(args["training"]),
                       momentum=args["momentum"], eps=args["eps"])
    out.backward(inputs["v"])
    results = {"out": out.detach()}
    for n in x:
        if kinds[n] == "param":
            results["grad." + n] = x[n].grad
    if "running_mean" in x:
        results["running_mean"] = x["running_mean"]
        results["running_var"] = x["running_var"]
    return results


REFERENCES["batch_norm"] = batch_norm_reference


@reference("dropout_rule")
def _(x, a):
    """Dropout in training with 0 < p < 1, whose masks come from two different generators.
    minidl's mask (its zeros) is an input, so out and grad.x are torch's rule applied with that
    mask; that this is torch's rule is checked on torch's own dropout of the same x (kept values
    x * (1 / (1 - p)), the gradient through the same mask). zero_fraction is compared with p,
    which torch's own fraction of zeros must also be within the case's tolerance of."""
    p, X, V = a["p"], x["x"], x["v"]
    scale = 1.0 / (1.0 - p)
    torch.manual_seed(0)
    Xt = X.clone().requires_grad_()
    yt = F.dropout(Xt, p, training=True)
    yt.backward(V)
    kept = (yt != 0).to(X.dtype)
    close = 1e-12 if X.dtype == torch.float64 else 1e-6
    if not (torch.allclose(yt, X * kept * scale, rtol=close, atol=0) and
            torch.allclose(Xt.grad, V * kept * scale, rtol=close, atol=0)):
        raise AssertionError("torch's dropout does not follow y = x * mask / (1 - p)")
    if abs(float(1.0 - kept.mean()) - p) > a["fraction_tol"]:
        raise AssertionError("torch's fraction of zeros %.5f is not within %.5f of p = %g"
                             % (float(1.0 - kept.mean()), a["fraction_tol"], p))
    return {"out": X * x["mask"] * scale, "grad.x": V * x["mask"] * scale,
            "zero_fraction": torch.tensor(p, dtype=X.dtype)}


def conv_args(s, two_d):
    """minidl's mdl_conv_opts as torch's stride, padding, dilation: a per-axis pair (stride_hw,
    ...) is used when any of the three pairs is set, a 0 stride or dilation is 1."""
    pairs = any(s["stride_hw"] + s["padding_hw"] + s["dilation_hw"])
    st = list(s["stride_hw"]) if pairs else [s["stride"]] * 2
    pd = list(s["padding_hw"]) if pairs else [s["padding"]] * 2
    dl = list(s["dilation_hw"]) if pairs else [s["dilation"]] * 2
    st, dl = [v or 1 for v in st], [v or 1 for v in dl]
    if two_d:
        return dict(stride=tuple(st), padding=tuple(pd), dilation=tuple(dl))
    return dict(stride=st[1], padding=pd[1], dilation=dl[1])


def build_layer(s):
    """The torch.nn module of one layer spec of torch_layers.c (its kind is torch's class
    name), with torch's defaults wherever the spec says nothing."""
    k = s["kind"]
    if k == "Linear":
        return nn.Linear(s["in"], s["out"], bias=bool(s["bias"]))
    if k in ("Conv2d", "Conv1d"):
        two_d = k == "Conv2d"
        return getattr(nn, k)(s["in"], s["out"], tuple(s["kernel"]) if two_d else s["kernel"][1],
                              groups=s["groups"] or 1, bias=bool(s["bias"]),
                              **conv_args(s, two_d))
    if k in ("MaxPool2d", "MaxPool1d"):
        kw, d = pool_args(s, k.endswith("2d"))
        return getattr(nn, k)(dilation=d, ceil_mode=bool(s["ceil_mode"]), **kw)
    if k in ("AvgPool2d", "AvgPool1d"):
        kw, _d = pool_args(s, k.endswith("2d"))
        return getattr(nn, k)(ceil_mode=bool(s["ceil_mode"]),
                              count_include_pad=not s["exclude_padding"], **kw)
    if k == "AdaptiveAvgPool2d":
        return nn.AdaptiveAvgPool2d(tuple(s["out"]))
    if k == "Flatten":
        return nn.Flatten(s["start"], s["end"])
    if k == "Dropout":
        return nn.Dropout(s["p"])
    if k in ("BatchNorm1d", "BatchNorm2d"):
        return getattr(nn, k)(s["C"], eps=1e-5, momentum=0.1)
    if k == "LayerNorm":
        return nn.LayerNorm(s["shape"], eps=1e-5)
    if k == "Embedding":
        pad = s["padding_idx"]
        return nn.Embedding(s["num"], s["dim"], padding_idx=pad if pad >= 0 else None)
    if k in ("Softmax", "LogSoftmax"):
        return getattr(nn, k)(dim=-1)
    return getattr(nn, k)()  # ReLU, Tanh, ... and LeakyReLU (0.01), ELU (1.0) as torch's


def model_reference(inputs, kinds, args):
    """A "model" case: an nn.Sequential of the layer specs, each named as minidl named it (a
    layer without a name by its position, as nn.Sequential does). minidl's state (every input
    but the steps' x and v, in minidl's order) must have the state_dict's keys in its order
    and its shapes; then it is loaded and the steps run: results "<prefix>out", "grad.x",
    "grad.<parameter>" and "state.<buffer>" (after the step), and with check_init the
    constructors' fixed values ("init.bn.running_var", "init.emb.weight.padding_row")."""
    dtype = next(iter(inputs.values())).dtype
    names = [s["name"] or str(i) for i, s in enumerate(args["layers"])]
    if len(set(names)) != len(names):
        raise ValueError("two layers share a name: %s" % names)
    model = nn.Sequential(OrderedDict(
        (n, build_layer(s)) for n, s in zip(names, args["layers"]))).to(dtype)
    steps = args["steps"]
    io = {s["x"] for s in steps} | {s["v"] for s in steps}
    ours = [(n, list(t.shape)) for n, t in inputs.items() if n not in io]
    theirs = [(n, list(t.shape)) for n, t in model.state_dict().items()]
    if ours != theirs:
        raise ValueError("minidl's parameters and buffers %s are not the state_dict's %s"
                         % (ours, theirs))
    results = {}
    if args["check_init"]:
        for n, s in zip(names, args["layers"]):
            layer = getattr(model, n)
            if s["kind"] in ("BatchNorm1d", "BatchNorm2d", "LayerNorm"):
                for k, t in layer.state_dict().items():
                    results["init.%s.%s" % (n, k)] = t.detach().clone()
            if s["kind"] == "Embedding" and s["padding_idx"] >= 0:
                results["init.%s.weight.padding_row" % n] = \
                    layer.weight[s["padding_idx"]].detach().clone()
    model.load_state_dict({n: inputs[n] for n, _shape in ours})
    for st in steps:
        model.train(bool(st["train"]))
        model.zero_grad()
        p = st["prefix"]
        x = inputs[st["x"]].clone()
        if args["index"]:
            x = x.long()
        else:
            x.requires_grad_(kinds[st["x"]] == "param")
        out = model(x)
        if out.requires_grad:
            out.backward(inputs[st["v"]].reshape(out.shape))
        results[p + "out"] = out.detach()
        if x.requires_grad:
            results[p + "grad.x"] = x.grad
        for n, t in model.named_parameters():
            results[p + "grad." + n] = t.grad.clone() if t.grad is not None \
                else torch.zeros_like(t)
        for n, t in model.named_buffers():
            results[p + "state." + n] = t.detach().clone()
    return results


REFERENCES["model"] = model_reference


# ---- recurrent layers (tests/torch/torch_rnn.c): the cells, then nn.RNN, nn.LSTM, nn.GRU ------

@op("rnn_cell")
def _(x, a):  # torch's cell functions, which nn.RNNCell, nn.LSTMCell and nn.GRUCell call
    X, m = x["x"], a["mode"]
    H = x["w_hh"].shape[1]
    zeros = X.new_zeros(X.shape[0], H)
    h, bi, bh = x.get("h", zeros), x.get("b_ih"), x.get("b_hh")
    if m == "lstm":
        h2, c2 = torch.lstm_cell(X, (h, x.get("c", zeros)), x["w_ih"], x["w_hh"], bi, bh)
        return torch.cat([h2, c2], 1)
    cell = {"tanh": torch.rnn_tanh_cell, "relu": torch.rnn_relu_cell, "gru": torch.gru_cell}[m]
    return cell(X, h, x["w_ih"], x["w_hh"], bi, bh)


def rnn_layer_reference(inputs, kinds, args):
    """nn.RNN / nn.LSTM / nn.GRU with the case's settings, its state_dict checked against
    minidl's parameters (names, shapes, order) and loaded from them; out is the output, h_n and
    c_n flattened and joined, as the C side joins them; then the gradients of sum(out * v) for
    x, h0, c0 and every parameter."""
    dtype = inputs["x"].dtype
    m = args["mode"]
    kw = dict(num_layers=args["num_layers"], bias=bool(args["bias"]),
              batch_first=bool(args["batch_first"]), bidirectional=bool(args["bidirectional"]))
    if m in ("tanh", "relu"):
        module = nn.RNN(args["input_size"], args["hidden_size"], nonlinearity=m, **kw)
    else:
        module = {"lstm": nn.LSTM, "gru": nn.GRU}[m](args["input_size"], args["hidden_size"], **kw)
    module = module.to(dtype)
    io = ("x", "h0", "c0", "v")
    ours = [(n, list(t.shape)) for n, t in inputs.items() if n not in io]
    theirs = [(n, list(t.shape)) for n, t in module.state_dict().items()]
    if ours != theirs:
        raise ValueError("minidl's parameters %s are not the state_dict's %s" % (ours, theirs))
    module.load_state_dict({n: inputs[n] for n, _shape in ours})
    x = inputs["x"].clone().requires_grad_()
    state = {n: inputs[n].clone().requires_grad_() for n in ("h0", "c0") if n in inputs}
    if m == "lstm":
        hx = (state["h0"], state["c0"]) if state else None
        y, (hn, cn) = module(x, hx)
        out = torch.cat([y.flatten(), hn.flatten(), cn.flatten()])
    else:
        y, hn = module(x, state.get("h0"))
        out = torch.cat([y.flatten(), hn.flatten()])
    out.backward(inputs["v"].reshape(out.shape))
    results = {"out": out.detach(), "grad.x": x.grad}
    for n, t in state.items():
        results["grad." + n] = t.grad
    for n, t in module.named_parameters():
        results["grad." + n] = t.grad
    return results


REFERENCES["rnn_layer"] = rnn_layer_reference


# ---- attention (tests/torch/torch_attention.c) -----------------------------------------------

def masked_scores(scores, mask, kind):
    """minidl's mask kinds: "add" adds, "keep" blocks where 0, "block" blocks where nonzero."""
    if mask is None:
        return scores
    if kind == "add":
        return scores + mask
    blocked = (mask == 0) if kind == "keep" else (mask != 0)
    return scores.masked_fill(blocked, -math.inf)


@op("sdpa")
def _(x, a):  # written out: torch 1.13 has no F.scaled_dot_product_attention
    q, k, v = x["query"], x["key"], x["value"]
    scale = a["scale"] or 1.0 / math.sqrt(q.shape[-1])
    scores = (q @ k.transpose(-2, -1)) * scale
    if a["causal"]:
        L, S = scores.shape[-2:]
        upper = torch.ones(L, S, dtype=torch.bool).triu(1)
        scores = scores.masked_fill(upper, -math.inf)
    scores = masked_scores(scores, x.get("mask"), a["mask_kind"])
    w = scores.softmax(-1)
    return torch.cat([(w @ v).flatten(), w.flatten()])


def module_reference(module, names, inputs, kinds, run):
    """Load minidl's parameters (every input but `names`, in minidl's order, which must be the
    module's state_dict's names and shapes) into the module, run(module, x) with x the inputs
    in `names` (requiring grad where minidl's did), backward of sum(out * v); results out and
    the gradients of those inputs and of every parameter."""
    ours = [(n, list(t.shape)) for n, t in inputs.items() if n not in names and n != "v"]
    theirs = [(n, list(t.shape)) for n, t in module.state_dict().items()]
    if ours != theirs:
        raise ValueError("minidl's parameters %s are not the state_dict's %s" % (ours, theirs))
    module.load_state_dict({n: inputs[n] for n, _shape in ours})
    x = {n: inputs[n].clone().requires_grad_(kinds[n] == "param") for n in names if n in inputs}
    out = run(module, x)
    out.backward(inputs["v"].reshape(out.shape))
    results = {"out": out.detach()}
    for n, t in x.items():
        if kinds[n] == "param":
            results["grad." + n] = t.grad
    for n, t in module.named_parameters():
        results["grad." + n] = t.grad
    return results


def mha_reference(inputs, kinds, args):
    dtype = inputs["query"].dtype
    module = nn.MultiheadAttention(args["embed_dim"], args["heads"], bias=bool(args["bias"]),
                                   batch_first=bool(args["batch_first"])).to(dtype)

    def run(m, x):
        q = x["query"]
        k, v = (q, q) if args["self"] else (x["key"], x["value"])
        masks = {n: x.get(n) for n in ("key_padding_mask", "attn_mask")}
        if args["mask_kind"] == "block":
            masks = {n: t.bool() if t is not None else None for n, t in masks.items()}
        need = bool(args.get("weights", 1))  # 0: the output alone (minidl's fast path)
        y, w = m(q, k, v, need_weights=need, **masks)
        return torch.cat([y.flatten(), w.flatten()]) if need else y
    return module_reference(module, ("query", "key", "value", "key_padding_mask", "attn_mask"),
                            inputs, kinds, run)


def encoder_reference(inputs, kinds, args):
    dtype = inputs["x"].dtype
    module = nn.TransformerEncoderLayer(
        args["d_model"], args["nhead"], args["dim_feedforward"], dropout=0.0,
        activation="gelu" if args["gelu"] else "relu", batch_first=bool(args["batch_first"]),
        norm_first=bool(args["norm_first"])).to(dtype)

    def run(m, x):
        pad = x.get("src_key_padding_mask")
        return m(x["x"], src_key_padding_mask=pad.bool() if pad is not None else None)
    return module_reference(module, ("x", "src_key_padding_mask"), inputs, kinds, run)


REFERENCES["mha"] = mha_reference
REFERENCES["encoder"] = encoder_reference


@reference("sinusoid")
def _(x, a):  # PyTorch's tutorial's PositionalEncoding
    T, d = a["T"], a["d"]
    position = torch.arange(T, dtype=torch.float64).unsqueeze(1)
    div_term = torch.exp(torch.arange(0, d, 2, dtype=torch.float64) * (-math.log(10000.0) / d))
    pe = torch.zeros(T, d, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(position * div_term)
    pe[:, 1::2] = torch.cos(position * div_term)
    return {"pe": pe}


# ---- optimizers, schedules, clipping (tests/torch/torch_optim.c) ---------------------------

@reference("optim")
def _(x, a):  # "w" and "b", gradients "gw<k>", "gb<k>"; b has a group of its own if group1
    w = x["w"].clone().requires_grad_(True)
    b = x["b"].clone().requires_grad_(True)
    cls = getattr(torch.optim, a["kind"])
    opts = dict(a["opts"])
    if "betas" in opts:
        opts["betas"] = tuple(opts["betas"])
    if a["group1"] is None:
        groups = [{"params": [w, b]}]
    else:
        g1 = dict(a["group1"])
        if "betas" in g1:
            g1["betas"] = tuple(g1["betas"])
        groups = [{"params": [w]}, dict(g1, params=[b])]
    opt = cls(groups, **opts)
    for k in range(a["steps"]):
        w.grad = x["gw%d" % k].clone()
        b.grad = x["gb%d" % k].clone()
        opt.step()
    out = {"w": w.detach(), "b": b.detach()}
    for name, p, keys in (("w", w, a["state_w"]), ("b", b, a["state_b"])):
        state = {k: v for k, v in opt.state[p].items() if v is not None}  # SGD: None buffer
        if sorted(keys) != sorted(state.keys()):
            raise ValueError("state of %s: minidl has %s, torch %s" % (name, sorted(keys),
                                                                       sorted(state.keys())))
        for key in keys:
            out["state.%s.%s" % (name, key)] = torch.as_tensor(state[key], dtype=w.dtype)
    return out


def make_scheduler(opt, s):
    s = dict(s)
    kind = s.pop("kind")
    if kind == "SequentialLR":  # its step(0) at a milestone warns about a deprecation: quiet
        warnings.filterwarnings("ignore", message="The epoch parameter", category=UserWarning)
        inner = [make_scheduler(opt, t) for t in s["schedulers"]]
        return torch.optim.lr_scheduler.SequentialLR(opt, inner, milestones=s["milestones"])
    return getattr(torch.optim.lr_scheduler, kind)(opt, **s)


@reference("schedule")
def _(x, a):  # lr and momentum (SGD) or beta1 (Adam) after construction and each step
    w = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    if a["optimizer"] == "SGD":
        opt = torch.optim.SGD([w], lr=a["base_lr"], momentum=0.9)
    else:
        opt = torch.optim.Adam([w], lr=a["base_lr"])
    sch = make_scheduler(opt, a["scheduler"])
    lrs, moms = [], []

    def record():
        g = opt.param_groups[0]
        lrs.append(g["lr"])
        moms.append(g["momentum"] if "momentum" in g else g["betas"][0])
    record()
    for k in range(a["steps"]):
        opt.step()
        if "metrics" in x:
            sch.step(float(x["metrics"][k]))
        else:
            sch.step()
        record()
    dtype = x["metrics"].dtype if "metrics" in x else torch.float64
    return {"lr": torch.tensor(lrs, dtype=dtype), "momentum": torch.tensor(moms, dtype=dtype)}


@reference("clip")
def _(x, a):
    w = torch.zeros_like(x["gw"], requires_grad=True)
    b = torch.zeros_like(x["gb"], requires_grad=True)
    w.grad = x["gw"].clone()
    b.grad = x["gb"].clone()
    out = {}
    if a["value"] > 0:
        torch.nn.utils.clip_grad_value_([w, b], a["value"])
    else:
        norm_type = float("inf") if a["norm_type"] == "inf" else float(a["norm_type"])
        out["norm"] = torch.nn.utils.clip_grad_norm_([w, b], a["max_norm"], norm_type)
    out["gw"] = w.grad
    out["gb"] = b.grad
    return out


# ---- saving and loading (tests/torch/torch_io.c): safetensors files, both ways ------------
# Debian has no python3-safetensors, and the format is simple: an 8-byte little-endian header
# length, a JSON header (dtype, shape, data_offsets of each tensor; __metadata__), the data.
import struct  # noqa: E402 (here, with the only code that needs it)

SAFETENSORS_DTYPES = OrderedDict([
    ("F64", torch.float64), ("F32", torch.float32), ("F16", torch.float16),
    ("BF16", torch.bfloat16), ("I64", torch.int64), ("I32", torch.int32),
    ("I16", torch.int16), ("I8", torch.int8), ("U8", torch.uint8), ("BOOL", torch.bool)])


def read_safetensors(path):
    """(tensors in the header's order, metadata) of a safetensors file."""
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n].decode("utf-8"), object_pairs_hook=OrderedDict)
    meta = header.pop("__metadata__", {})
    data = raw[8 + n:]
    tensors = OrderedDict()
    for name, e in header.items():
        begin, end = e["data_offsets"]
        dtype = SAFETENSORS_DTYPES[e["dtype"]]
        chunk = bytearray(data[begin:end])
        t = torch.frombuffer(chunk, dtype=dtype) if chunk else torch.empty(0, dtype=dtype)
        tensors[name] = t.reshape(e["shape"]).clone()
    return tensors, meta


def write_safetensors(path, tensors, metadata=None):
    """Write tensors (a state_dict) as safetensors, in their order, little-endian."""
    names = {v: k for k, v in SAFETENSORS_DTYPES.items()}
    header, chunks, offset = OrderedDict(), [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name, t in tensors.items():
        t = t.detach().contiguous().cpu()
        raw = (t.view(torch.int16) if t.dtype == torch.bfloat16 else t).numpy().tobytes()
        header[name] = {"dtype": names[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(chunks))


class LstmLM(nn.Module):
    """torch_io.c's LSTM language model: tokens [B,T] -> Embedding(11, 6) -> LSTM(6, 10, two
    layers, batch_first) -> Linear(10, 11); the output is the logits [B,T,11], h_n and c_n,
    flattened and joined, as the C side joins them."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(11, 6)
        self.lstm = nn.LSTM(6, 10, num_layers=2, batch_first=True)
        self.fc = nn.Linear(10, 11)

    def forward(self, tokens):
        y, (hn, cn) = self.lstm(self.emb(tokens))
        return torch.cat([self.fc(y).flatten(), hn.flatten(), cn.flatten()])


def io_model(kind):
    """The torch.nn models of torch_io.c, with minidl's layer names."""
    L = OrderedDict
    if kind == "lstm_lm":
        return LstmLM()
    if kind == "lenet5":  # LeNet-5 on 28x28: 6 and 16 channels, 120, 84, 10
        return nn.Sequential(L([
            ("conv1", nn.Conv2d(1, 6, 5, padding=2)), ("r1", nn.ReLU()), ("p1", nn.MaxPool2d(2)),
            ("conv2", nn.Conv2d(6, 16, 5)), ("r2", nn.ReLU()), ("p2", nn.MaxPool2d(2)),
            ("flat", nn.Flatten()), ("fc1", nn.Linear(400, 120)), ("r3", nn.ReLU()),
            ("fc2", nn.Linear(120, 84)), ("r4", nn.ReLU()), ("fc3", nn.Linear(84, 10))]))
    if kind == "lenet_small":  # the same layers on 12x12: 4 and 8 channels, 16, 10
        return nn.Sequential(L([
            ("conv1", nn.Conv2d(1, 4, 3, padding=1)), ("r1", nn.ReLU()), ("p1", nn.MaxPool2d(2)),
            ("conv2", nn.Conv2d(4, 8, 3)), ("r2", nn.ReLU()), ("p2", nn.MaxPool2d(2)),
            ("flat", nn.Flatten()), ("fc1", nn.Linear(32, 16)), ("r3", nn.ReLU()),
            ("fc2", nn.Linear(16, 10))]))
    if kind == "mlp_bn":  # an MLP with BatchNorm: its buffers travel too
        return nn.Sequential(L([
            ("fc1", nn.Linear(6, 16)), ("bn", nn.BatchNorm1d(16)), ("r", nn.ReLU()),
            ("fc2", nn.Linear(16, 3))]))
    raise ValueError("no model %r" % kind)


def io_locate(name):
    """A file a case names: a path from the repository's root (a committed file), or a file
    minidl wrote next to the case files (in a folder given on the command line)."""
    if os.path.exists(name):
        return name
    for p in sys.argv[1:]:
        folder = p if os.path.isdir(p) else os.path.dirname(p)
        if os.path.exists(os.path.join(folder, name)):
            return os.path.join(folder, name)
    raise FileNotFoundError("%s (not in the repository nor beside the case files)" % name)


@reference("io_load")
def _(x, a):
    """A safetensors file (written by minidl, or by torch's side: tests/torch/make_io_files.py)
    loaded into the torch model with load_state_dict(strict=True), in evaluation mode: its output
    on minidl's x; with "values", every tensor of the file as Python reads it ("file.<name>",
    which minidl wrote as the values it saved or loaded: equal to the bit); the metadata must be
    the case's."""
    tensors, meta = read_safetensors(io_locate(a["file"]))
    if "metadata" in a and meta != a["metadata"]:
        raise ValueError("metadata %s, want %s" % (dict(meta), a["metadata"]))
    dtype = x["x"].dtype
    model = io_model(a["model"]).to(dtype)
    state = model.state_dict()
    if list(tensors) != list(state):
        raise ValueError("the file's tensors %s are not the state_dict's %s"
                         % (list(tensors), list(state)))
    model.load_state_dict(OrderedDict((k, v.to(state[k].dtype)) for k, v in tensors.items()))
    model.eval()
    with torch.no_grad():  # "index": x holds token indices (as floats in the case file)
        results = {"out": model(x["x"].long() if a.get("index") else x["x"])}
    if a.get("values"):
        for k, v in tensors.items():
            results["file." + k] = v.to(torch.float64)
    return results


def tutorial_python(path):
    """The Python lines a tutorial shows in its prose: the lines between one that starts
    "--- Python" and one that starts "--- end of the Python", without their common indent."""
    with open(path) as f:
        lines = f.read().split("\n")
    begin = [i for i, line in enumerate(lines) if line.strip().startswith("--- Python")]
    end = [i for i, line in enumerate(lines) if line.strip().startswith("--- end of the Python")]
    if len(begin) != 1 or len(end) != 1 or end[0] < begin[0]:
        raise ValueError("%s: no one block of Python between '--- Python' and '--- end of the "
                         "Python'" % path)
    return textwrap.dedent("\n".join(lines[begin[0] + 1:end[0]]))


@reference("io_tutorial_python")
def _(x, a):
    """Run a tutorial's Python lines exactly as printed (tutorials/09_deploy.c's step 6, which
    loads 04_cnn.safetensors into an nn.Sequential and reads data/'s test images), in a fresh
    folder that holds the file minidl saved under the name 04_cnn.safetensors and data/ as a
    link to tutorials/data; their output is swallowed. The result is the scores of the model
    they loaded on the images they read, computed in the reference's dtype."""
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    code = compile(tutorial_python(os.path.join(root, a["tutorial"])), a["tutorial"], "exec")
    folder, here, names = tempfile.mkdtemp(prefix="minidl-tutorial-"), os.getcwd(), {}
    try:
        shutil.copyfile(io_locate(a["file"]), os.path.join(folder, "04_cnn.safetensors"))
        os.symlink(os.path.abspath(os.path.join(root, a["data"])), os.path.join(folder, "data"))
        os.chdir(folder)
        with contextlib.redirect_stdout(StringIO()):
            exec(code, names)
    finally:
        os.chdir(here)
        shutil.rmtree(folder)
    dtype = x["n_images"].dtype
    model, images = names["model"], names["images"]
    if images.numel() != 784 * int(x["n_images"][0]):
        raise ValueError("the Python read %d pixels, not %d images of 28x28"
                         % (images.numel(), int(x["n_images"][0])))
    with torch.no_grad():
        return {"out": model.to(dtype)(images.reshape(-1, 1, 28, 28).to(dtype))}


# ---- reading a case file --------------------------------------------------------------------

class Case:
    def __init__(self, path):
        self.path = path
        self.name = os.path.basename(path)
        self.op = None
        self.args = {}
        self.inputs = {}   # name -> float64 tensor holding minidl's float32 values exactly
        self.kinds = {}    # name -> "param" or "input"
        self.results = {}  # name -> (float64 tensor, atol, rtol)
        self.error = None  # minidl's error message, or why the file cannot be used
        self.complete = False


def read_case(path):
    case = Case(path)
    scalar = torch.float32
    try:
        with open(path) as f:
            lines = f.read().split("\n")
        if lines[0] != "minidl-torch-case 1":
            case.error = "not a case file of format 1 (first line %r)" % lines[0][:40]
            return case
        for line in lines[1:]:
            kind, _, rest = line.partition(" ")
            if kind == "case":
                meta = json.loads(rest)
                case.name, case.op, case.args = meta["name"], meta["op"], meta.get("args", {})
                scalar = torch.float64 if meta.get("scalar") == "float64" else torch.float32
            elif kind in ("param", "input", "result"):
                words = rest.split(" ")
                name, shape = words[0], words[1]
                dims = [int(d) for d in shape.strip("[]").split(",") if d]
                first = 4 if kind == "result" else 2
                values = torch.tensor([float(v) for v in words[first:]], dtype=torch.float64)
                # the 9 digits give back minidl's float32 exactly: round to it, then widen
                t = values.to(scalar).to(torch.float64).reshape(dims)
                if kind == "result":
                    case.results[name] = (t, float(words[2]), float(words[3]))
                else:
                    case.inputs[name] = t
                    case.kinds[name] = kind
            elif kind == "error":
                case.error = "minidl reported: " + rest
            elif kind == "end":
                case.complete = True
    except (OSError, ValueError, KeyError, RuntimeError) as e:
        case.error = "cannot read the case file: %s" % e
    if case.error is None and not case.complete:
        case.error = "the case file is cut short (no 'end' line): the C program stopped early"
    return case


# ---- comparing ------------------------------------------------------------------------------

def run_reference(case, dtype):
    inputs = {n: t.to(dtype) for n, t in case.inputs.items()}
    return REFERENCES[case.op](inputs, case.kinds, case.args)


def measure(got, ref, atol, rtol):
    """(largest |got - ref|, largest error / tolerance, flat index of that element).
    NaN or Inf in the same place in both counts as equal; elsewhere as an infinite error."""
    same = (got == ref) | (got.isnan() & ref.isnan())
    err = torch.where(same, torch.zeros_like(got), (got - ref).abs())
    err = torch.where(err.isnan(), torch.full_like(err, math.inf), err)
    tol = atol + rtol * ref.abs().nan_to_num(0.0, 0.0, 0.0)
    ratio = torch.where(err == 0, torch.zeros_like(err), err / tol)
    if ratio.numel() == 0:
        return 0.0, 0.0, 0
    i = int(ratio.flatten().argmax())
    return float(err.max()), float(ratio.flatten()[i]), i


def index_str(flat, shape):
    """The flat index as "[i,j,k]" in a tensor of this shape."""
    idx = []
    for n in reversed(list(shape)):
        idx.append(flat % n)
        flat //= n
    return "[" + ",".join(str(i) for i in reversed(idx)) + "]"


def check(case):
    """Compare one case. Returns (ok, max abs error, torch float32 error, worst ratio, the result
    holding it, [lines explaining a failure])."""
    if case.error:
        return False, math.nan, math.nan, math.inf, "", [case.error]
    if case.op not in REFERENCES:
        return False, math.nan, math.nan, math.inf, "", [
            "compare.py has no reference for op %r: add one (see tests/torch/README.md)"
            % case.op]
    try:
        ref64 = run_reference(case, torch.float64)
        ref32 = run_reference(case, torch.float32)
    except Exception as e:  # a torch error is a failure of this case, not of the run
        return False, math.nan, math.nan, math.inf, "", [
            "the torch reference raised %s: %s" % (type(e).__name__, e)]
    why = []
    max_err = err32 = worst = 0.0
    worst_at = ""
    for name in sorted(set(ref64) - set(case.results)):
        why.append("minidl wrote no result %r, which torch computes" % name)
        worst, worst_at = math.inf, name
    for name, (got, atol, rtol) in case.results.items():
        if name not in ref64:
            why.append("result %r has no counterpart in the torch reference" % name)
            worst, worst_at = math.inf, name
            continue
        ref = ref64[name].detach().to(torch.float64)
        if tuple(got.shape) != tuple(ref.shape):
            why.append("%s: minidl's shape %s, torch's %s" % (name, list(got.shape),
                                                             list(ref.shape)))
            worst, worst_at = math.inf, name
            continue
        e, r, i = measure(got, ref, atol, rtol)
        e32 = float((ref32[name].detach().to(torch.float64) - ref).abs().max()) \
            if ref.numel() else 0.0
        max_err, err32 = max(max_err, e), max(err32, e32)
        if r > worst or not worst_at:
            worst, worst_at = r, name
        if not r <= 1.0:
            g, w = float(got.flatten()[i]), float(ref.flatten()[i])
            where = "%s%s of %s: minidl %.9g, torch %.9g" % (name, index_str(i, got.shape),
                                                             list(got.shape), g, w)
            if math.isfinite(g) and math.isfinite(w):
                why.append("%s, error %.3g > tolerance %.3g (atol %g + rtol %g * |torch|): "
                           "%.3g times the tolerance" % (where, abs(g - w),
                                                          atol + rtol * abs(w), atol, rtol, r))
            else:
                why.append("%s: a NaN or Inf in only one of them" % where)
    return not why, max_err, err32, worst, worst_at, why


def case_files(paths):
    files = []
    for p in paths:
        if os.path.isdir(p):
            files += sorted(os.path.join(p, f) for f in os.listdir(p) if f.endswith(".case"))
        else:
            files.append(p)
    return files


def main(argv):
    keep = ""
    if len(argv) >= 2 and argv[0] == "-k":
        keep, argv = argv[1], argv[2:]
    if not argv:
        print(__doc__.strip().split("\n\n")[1], file=sys.stderr)
        return 2
    torch.set_num_threads(1)  # small tensors: one thread is fastest, and the same every time
    files = case_files(argv)
    passed = failed = 0
    worst = (-1.0, "", "")
    seen = set()
    for path in files:
        case = read_case(path)
        if keep not in case.name:
            continue
        ok, err, err32, ratio, at, why = check(case)
        if case.name in seen:
            ok, why = False, why + ["a second case has the name %r" % case.name]
        seen.add(case.name)
        print("  %-5s %-36s err %8.2e  torch-f32 %8.2e  %6.3f of tol%s"
              % ("ok" if ok else "FAIL", case.name, err, err32, ratio,
                 " (%s)" % at if at else ""))
        for line in why:
            print("        | " + line)
        if not ok:
            print("        | case file: " + path)
        passed, failed = passed + ok, failed + (not ok)
        if ratio > worst[0]:
            worst = (ratio, case.name, at)
    if not files:
        print("compare.py: no case files in %s" % " ".join(argv))
        failed += 1
    elif passed + failed == 0:
        print("compare.py: note: no case name contains %r" % keep)
    if worst[1] and worst[2]:
        print("worst: %s at %.3g of its tolerance (%s)" % (worst[1], worst[0], worst[2]))
    elif worst[1]:
        print("worst: %s, which could not be compared (see above)" % worst[1])
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
