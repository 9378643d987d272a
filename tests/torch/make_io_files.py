#!/usr/bin/python3
"""tests/torch/make_io_files.py - write the safetensors files that torch_io.c and test_io.c load:
PyTorch state_dicts saved by the Python side (compare.py's write_safetensors, a few lines, as
Debian has no python3-safetensors). The files are committed in tests/torch/data/; this records
how they were made. Run from the repository's root with Debian's python3-torch:
    /usr/bin/python3 tests/torch/make_io_files.py

  lenet_small_f32.safetensors   a small LeNet (Conv2d, MaxPool2d, Linear) as torch initialises it
  mlp_bn_{f32,f16,bf16,f64}.safetensors
                                an MLP with BatchNorm1d after 3 SGD steps in training mode (so the
                                running statistics have moved, and num_batches_tracked is 3, an
                                I64 as torch keeps it), then cast to each dtype: .half(),
                                .bfloat16(), .double() of the float32 values (integer buffers
                                stay I64)
  lstm_lm_f32.safetensors       compare.py's LstmLM (Embedding -> LSTM of 2 layers, batch_first ->
                                Linear) after 3 Adam steps of next-token prediction on random
                                tokens
"""
import os
import sys

import torch
import torch.nn.functional as F

sys.dont_write_bytecode = True  # no __pycache__ in the checkout
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import io_model, write_safetensors  # noqa: E402

out = "tests/torch/data"
os.makedirs(out, exist_ok=True)
meta = {"written_by": "tests/torch/make_io_files.py"}

torch.manual_seed(0)
lenet = io_model("lenet_small")
write_safetensors(os.path.join(out, "lenet_small_f32.safetensors"), lenet.state_dict(), meta)

torch.manual_seed(1)
mlp = io_model("mlp_bn")
opt = torch.optim.SGD(mlp.parameters(), lr=0.1)
mlp.train()
for step in range(3):
    x = torch.randn(8, 6) * 2 + 1
    y = torch.randint(0, 3, (8,))
    opt.zero_grad()
    F.cross_entropy(mlp(x), y).backward()
    opt.step()
state = mlp.state_dict()
for name, cast in (("f32", torch.float32), ("f16", torch.float16), ("bf16", torch.bfloat16),
                   ("f64", torch.float64)):
    sd = {k: v.to(cast) if v.is_floating_point() else v for k, v in state.items()}
    write_safetensors(os.path.join(out, "mlp_bn_%s.safetensors" % name), sd, meta)

torch.manual_seed(2)
lm = io_model("lstm_lm")
opt = torch.optim.Adam(lm.parameters(), lr=0.05)
for step in range(3):
    seq = torch.randint(0, 11, (3, 8))
    opt.zero_grad()
    y, _ = lm.lstm(lm.emb(seq[:, :-1]))
    F.cross_entropy(lm.fc(y).reshape(-1, 11), seq[:, 1:].reshape(-1)).backward()
    opt.step()
write_safetensors(os.path.join(out, "lstm_lm_f32.safetensors"), lm.state_dict(), meta)
print("wrote %s/lenet_small_f32.safetensors, mlp_bn_{f32,f16,bf16,f64}.safetensors and "
      "lstm_lm_f32.safetensors" % out)
