#!/usr/bin/python3
"""bench/perf_ops.py - a per-op profile of a minidl program from perf's call stacks.

Groups the samples of `perf script` by the minidl op they were taken in: the first frame, from
the leaf up, that names an op's forward or backward; the leaf shows which kernel. Samples taken
while loading the data or building the model are left out. From inside bench/:

    gcc -std=c99 -O2 -g -fno-omit-frame-pointer -I.. -fopenmp bench_train.c -o /tmp/bt -lm
    /tmp/bt --recipe lenet /tmp/lenet8.safetensors --subset 8
    OMP_NUM_THREADS=1 perf record -F 499 --call-graph dwarf,65528 -o /tmp/lenet.perf \
        /tmp/bt --child lenet /tmp/lenet8.safetensors
    perf script -i /tmp/lenet.perf --no-inline -F ip,sym | python3 perf_ops.py [EPOCH_MS]

EPOCH_MS (an epoch's CPU time) adds a column of milliseconds an epoch. DWARF unwinding needs
the large stack copy (65528 bytes): the GEMM keeps its packed panels on the stack. Where it
still fails (inside OpenMP's parallel regions), a GEMM kernel's samples are counted as
"matrix products, caller not unwound"."""
import collections, re, sys

OPS = [  # (label, regex on a frame's function), first match from the leaf wins
    ("conv2d backward", r"^mdl__conv2d_backward"),
    ("conv2d forward", r"^mdl__conv2d(\._omp|$)|^mdl_conv2d$"),
    ("relu backward", r"^mdl__relu_backward"),
    ("relu forward", r"^mdl__relu_forward"),
    ("max-pool backward", r"^mdl__pool_backward"),
    ("max-pool forward", r"^mdl__pool2d|^mdl__pool_entry"),
    ("linear backward (matmul)", r"^mdl__matmul_backward"),
    ("linear backward (bias)", r"^mdl__add_backward|^mdl__binary_backward|^mdl__sum_axes_backward|^mdl__expand_backward"),
    ("linear forward", r"^mdl_linear$|^mdl_matmul|^mdl__matmul"),
    ("cross-entropy fwd+bwd", r"cross_entropy|class_loss"),
    ("flatten fwd+bwd", r"reshape|flatten"),
    ("Adam step", r"^mdl_optim_step|adam"),
    ("zero grad", r"^mdl_optim_zero_grad|^mdl_params_zero_grad"),
    ("arena reset", r"^mdl_arena_reset"),
    ("batch gather (index_select, bytes)", r"^gather$|^mdl_index_select|^mdl_bytes_batch"),
    ("backward engine, other", r"^mdl__backward$|^mdl_backward$"),
    ("forward, other", r"^mdl_sequential_forward$|^mdl_layer_forward$"),
]
SETUP = r"^load_data$|^make_(mlp|lenet)$|^mdl_safetensors|^mdl_load|^write_recipe|^mdl_params_free|^mdl_arena_free|^mdl_adam_new|^mdl_optim_new"
EVAL = r"^mdl_argmax$|^mdl_set_grad_enabled"

def samples(f):
    stack = []
    for line in f:
        line = line.rstrip("\n")
        if not line.strip():
            if stack:
                yield stack
            stack = []
        elif line.startswith("\t") or line.startswith(" "):
            parts = line.split(None, 1)
            stack.append(parts[1].split("+")[0] if len(parts) > 1 else "?")
    if stack:
        yield stack

def main():
    ms_total = float(sys.argv[1]) if len(sys.argv) > 1 else None  # the epoch's CPU ms, to scale
    by_op = collections.Counter(); leaf = collections.defaultdict(collections.Counter)
    n = setup = 0
    for st in samples(sys.stdin):
        if any(re.search(SETUP, s) for s in st):
            setup += 1
            continue
        label = None
        for s in st:
            for name, rx in OPS:
                if re.search(rx, s):
                    label = name
                    break
            if label:
                break
        if not label and re.search(r"gemm|unpacked|_dot|sgemm|transpose", st[0]):
            label = "matrix products, caller not unwound"
        label = label or "other: " + st[0]
        n += 1
        by_op[label] += 1
        leaf[label][st[0]] += 1
    print("%d samples in training and evaluation (%d in setup, left out)" % (n, setup))
    print("| op | share | %s kernels (share of the op) |" % ("ms/epoch |" if ms_total else ""))
    print("|---|---:|%s---|" % ("---:|" if ms_total else ""))
    for name, c in by_op.most_common():
        if c / n < 0.003:
            continue
        top = ", ".join("%s %.0f%%" % (k, 100 * v / c) for k, v in leaf[name].most_common(4) if v / c >= 0.05)
        ms = (" %.0f |" if ms_total * c / n >= 100 else " %.3g |") % (ms_total * c / n) if ms_total else ""
        print("| %s | %.1f%% |%s %s |" % (name, 100 * c / n, ms, top))

main()
