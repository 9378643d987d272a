#!/usr/bin/python3
"""bench/bench_train.py - the PyTorch side of bench_train.c: the same training, from the same
recipe, timed the same way, in a process of its own.

    /usr/bin/python3 bench_train.py TASK RECIPE THREADS    TASK: mlp or lenet
    /usr/bin/python3 bench_train.py idle                   the peak RSS of `import torch` alone

RECIPE is the safetensors file bench_train.c writes: the initial weights under nn.Sequential's
names, "order" [epochs, n_train] (the training rows of each epoch, in order), "test_rows", and
in its metadata the data files, the batch size and the learning rate. The file is parsed here
with json and torch.frombuffer, so the `safetensors` package is not needed.

Prints "RESULT EPOCH_WALL_MS EPOCH_CPU_MS PEAK_RSS_KB TEST_ACC LAST_EPOCH_LOSS LOAD_S
LOAD_RSS_KB" (the median over the epochs of each epoch's time; the peak resident memory of the
process, data included, nothing subtracted; the same once the data is loaded, before training) and "BLAS <path>", the BLAS library the process loaded (Debian's
torch calls the system's libblas.so.3; LD_LIBRARY_PATH may point to another).
"""
import gzip
import json
import resource
import struct
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def peak_rss_kb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


def read_safetensors(path):
    """The tensors (float32) and the metadata of a safetensors file of F32 tensors."""
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    meta = header.pop("__metadata__", {})
    data = bytearray(blob[8 + n:])
    tensors = {}
    for name, info in header.items():
        assert info["dtype"] == "F32", (name, info["dtype"])
        lo, hi = info["data_offsets"]
        t = torch.frombuffer(data, dtype=torch.float32, count=(hi - lo) // 4, offset=lo)
        tensors[name] = t.reshape(info["shape"]).clone()
    return tensors, meta


def mlp():
    return nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))


def lenet():
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),   # 6x28x28 -> 6x14x14
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),             # 16x10x10 -> 16x5x5
        nn.Flatten(),
        nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))


def read_idx(path):
    """An IDX file of unsigned bytes (MNIST's format), gzipped or not: a uint8 tensor, read as
    torchvision's read_sn3_pascalvincent_tensor reads it (the file's bytes, one bytearray copy,
    torch.frombuffer past the header)."""
    with (gzip.open if path.endswith(".gz") else open)(path, "rb") as f:
        blob = f.read()
    ndim = blob[3]
    shape = struct.unpack(">" + "I" * ndim, blob[4:4 + 4 * ndim])
    return torch.frombuffer(bytearray(blob), dtype=torch.uint8,
                            offset=4 + 4 * ndim).reshape(shape)


def load_data(task, meta):
    """x, y (training file) and test_x, test_y, as bench_train.c's load_data: the digits as
    float32 (pixels / 16); Fashion-MNIST's images as uint8 [N,1,28,28], which `batch` makes
    float32 / 255 a batch at a time, as torchvision's MNIST data sets do; int64 labels."""
    if task == "mlp":
        with open(meta["train_x"]) as f:
            rows = [[float(v) for v in line.split(",")] for line in f if line.strip()]
        table = torch.tensor(rows, dtype=torch.float32)
        x, y = table[:, :64] / 16, table[:, 64].long()
        return x, y, x, y
    x = read_idx(meta["train_x"]).unsqueeze(1)
    test_x = read_idx(meta["test_x"]).unsqueeze(1)
    return x, read_idx(meta["train_y"]).long(), test_x, read_idx(meta["test_y"]).long()


def batch(x, rows):
    """Rows of x as float32: uint8 images / 255 (as bench_train.c's mdl_bytes_batch), floats as
    they are."""
    xb = x[rows]
    return xb.float().div_(255) if xb.dtype == torch.uint8 else xb


def main(argv):
    if argv == ["idle"]:
        print("IDLE %d" % peak_rss_kb())
        return
    task, path, threads = argv[0], argv[1], int(argv[2])
    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    recipe, meta = read_safetensors(path)
    assert meta["task"] == task
    net = mlp() if task == "mlp" else lenet()
    order = recipe.pop("order").long()
    test_rows = recipe.pop("test_rows").long()
    net.load_state_dict(recipe)  # strict: every weight, the recipe's initial values
    del recipe
    x, y, test_x, test_y = load_data(task, meta)
    load_s = time.perf_counter() - t0
    load_rss = peak_rss_kb()
    size, lr = int(meta["batch"]), float(meta["lr"])
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    epochs, n_train = order.shape

    # warm-up: one forward and backward on the first batch, its gradients thrown away
    F.cross_entropy(net(batch(x, order[0, :size])), y[order[0, :size]]).backward()
    opt.zero_grad()

    wall, cpu = [], []
    for e in range(epochs):
        w0, c0 = time.perf_counter(), time.process_time()
        loss_sum = 0.0
        for s in range(0, n_train, size):
            rows = order[e, s:s + size]
            xb, yb = batch(x, rows), y[rows]
            loss = F.cross_entropy(net(xb), yb)
            loss_sum += loss.item() * len(rows)
            loss.backward()
            opt.step()
            opt.zero_grad()
        wall.append(1e3 * (time.perf_counter() - w0))
        cpu.append(1e3 * (time.process_time() - c0))

    net.eval()
    right = 0
    with torch.no_grad():
        for s in range(0, len(test_rows), 1000):
            rows = test_rows[s:s + 1000]
            right += (net(batch(test_x, rows)).argmax(1) == test_y[rows]).sum().item()
    wall.sort()
    cpu.sort()
    median = lambda v: v[len(v) // 2] if len(v) % 2 else 0.5 * (v[len(v) // 2 - 1] + v[len(v) // 2])
    print("RESULT %.3f %.3f %d %.4f %.4f %.2f %d" % (median(wall), median(cpu), peak_rss_kb(),
                                                    right / len(test_rows), loss_sum / n_train,
                                                    load_s, load_rss))
    blas = "unknown"  # the BLAS library this process loaded (torch's build says "generic")
    with open("/proc/self/maps") as maps:
        for line in maps:
            if "blas" in line.split("/")[-1]:
                blas = line.split()[-1]
                break
    print("BLAS %s" % blas)


if __name__ == "__main__":
    main(sys.argv[1:])
