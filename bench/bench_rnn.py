#!/usr/bin/python3
"""bench/bench_rnn.py - the PyTorch side of bench_rnn.c: the same training steps, timed the same
way, in a process of their own, on one thread.

    /usr/bin/python3 bench_rnn.py MODEL STEPS      MODEL: lstm, gru, rnn or transformer

Prints one line, "MODEL WALL_MS CPU_MS PEAK_RSS_KB BLAS": the median wall-clock and CPU time of
one step over STEPS steps (after 3 steps of warm-up), the process's peak resident memory, and
the BLAS library the process loaded (Debian's torch calls whichever libblas.so.3 the system
provides: the reference BLAS unless OpenBLAS is installed; LD_LIBRARY_PATH may point to
another). bench_rnn.c runs it in turns with its own steps.

The steps, as bench_rnn.c's:
  lstm, gru, rnn   a character model: one-hot input of 75 symbols -> the layer with H = 128 ->
                   Linear 128 -> 75, sequence 64 (time first), batch 32; cross-entropy over all
                   64 * 32 positions; backward; a plain SGD step (lr 0.1)
  transformer      2 encoder layers, d_model 64, 4 heads, feed-forward 256, ReLU, post-norm,
                   dropout 0, batch 64, sequence 32 (batch first), on random inputs [64,32,64];
                   the loss is the mean of the output's squares; backward; SGD
"""
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

T, B, V, H = 64, 32, 75, 128
TB_B, TB_T, TB_D, TB_HEADS, TB_FF = 64, 32, 64, 4, 256


def char_model(kind):
    torch.manual_seed(0)
    layer = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[kind](V, H)
    head = nn.Linear(H, V)
    params = list(layer.parameters()) + list(head.parameters())
    x = F.one_hot(torch.randint(0, V, (T, B)), V).float()
    target = torch.randint(0, V, (T * B,))
    opt = torch.optim.SGD(params, lr=0.1)

    def step():
        opt.zero_grad()
        y, _ = layer(x)
        loss = F.cross_entropy(head(y.reshape(T * B, H)), target)
        loss.backward()
        opt.step()
    return step


def transformer():
    torch.manual_seed(0)
    block = nn.TransformerEncoderLayer(TB_D, TB_HEADS, dim_feedforward=TB_FF, dropout=0.0,
                                       batch_first=True)
    model = nn.TransformerEncoder(block, 2, enable_nested_tensor=False)
    x = torch.randn(TB_B, TB_T, TB_D)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)

    def step():
        opt.zero_grad()
        loss = model(x).pow(2).mean()
        loss.backward()
        opt.step()
    return step


def main(argv):
    torch.set_num_threads(1)
    kind, steps = argv[0], int(argv[1])
    step = transformer() if kind == "transformer" else char_model(kind)
    for _ in range(3):
        step()
    wall, cpu = [], []
    for _ in range(steps):
        w0, c0 = time.perf_counter(), time.process_time()
        step()
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
    wall.sort()
    cpu.sort()
    blas = "unknown"  # the BLAS library this process loaded (torch's build says "generic")
    with open("/proc/self/maps") as maps:
        for line in maps:
            if "blas" in line.split("/")[-1]:
                blas = line.split()[-1]
                break
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print("%s %.3f %.3f %d %s" % (kind, 1e3 * wall[len(wall) // 2], 1e3 * cpu[len(cpu) // 2],
                                  rss, blas))


if __name__ == "__main__":
    main(sys.argv[1:])
