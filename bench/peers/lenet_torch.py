#!/usr/bin/python3
"""The same two LeNets in PyTorch (CPU), for a side-by-side with deepfried:
Caffe's LeNet (conv20-pool-conv50-pool-ip500-relu-ip10) and the Adaptive
Fastfood 1024 LeNet (ip1 replaced by y = S H G Pi H B x, H the orthonormal
Walsh-Hadamard transform written in PyTorch ops), trained with the same
solver: SGD, momentum 0.9, weight decay 5e-4 (none on S, G, B), Caffe's
"inv" learning rate, bias learning rate x2, batch 64, pixels / 256.

usage: lenet_torch.py {reference|fastfood} IDX_IMAGES IDX_LABELS STEPS THREADS
Prints the training images/s over the steps after a warm-up.
"""
import gzip
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def fwht(x):
    """Orthonormal Walsh-Hadamard transform over the last dimension."""
    n, d = x.shape
    h = 1
    while h < d:
        x = x.view(n, d // (2 * h), 2, h)
        a, b = x[:, :, 0, :], x[:, :, 1, :]
        x = torch.stack((a + b, a - b), dim=2)
        h *= 2
    return x.reshape(n, d) / math.sqrt(d)


class Fastfood(nn.Module):
    def __init__(self, d_in, features, sigma):
        super().__init__()
        d = 1 << (d_in - 1).bit_length()
        assert features == d, "one block, as in the 1024 model"
        self.d_in, self.d = d_in, d
        g = torch.randn(d)
        chi = torch.sqrt(torch.distributions.Chi2(d).sample((d,)))
        self.B = nn.Parameter(torch.randint(0, 2, (d,)).float() * 2 - 1)
        self.G = nn.Parameter(g)
        self.S = nn.Parameter(sigma * chi * math.sqrt(d) / g.norm())
        self.register_buffer("perm", torch.randperm(d))

    def forward(self, x):
        x = F.pad(x, (0, self.d - self.d_in))
        x = fwht(x * self.B)
        x = x[:, self.perm] * self.G
        return fwht(x) * self.S


def caffe_init(m):
    if isinstance(m, (nn.Conv2d, nn.Linear)):
        fan_in = m.weight[0].numel()
        a = math.sqrt(3.0 / fan_in)
        nn.init.uniform_(m.weight, -a, a)
        nn.init.zeros_(m.bias)


def lenet(kind):
    layers = [nn.Conv2d(1, 20, 5), nn.MaxPool2d(2, 2), nn.Conv2d(20, 50, 5), nn.MaxPool2d(2, 2),
              nn.Flatten()]
    if kind == "reference":
        layers += [nn.Linear(800, 500), nn.ReLU(), nn.Linear(500, 10)]
    else:
        layers += [Fastfood(800, 1024, 1.0 / math.sqrt(800)), nn.ReLU(), nn.Linear(1024, 10)]
    net = nn.Sequential(*layers)
    net.apply(caffe_init)
    return net


def main():
    kind, images, labels, steps, threads = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    x_all = torch.from_numpy(read_idx(images).astype(np.float32) / 256.0).unsqueeze(1)
    y_all = torch.from_numpy(read_idx(labels).astype(np.int64))
    net = lenet(kind)
    weights = [p for n, p in net.named_parameters() if n.endswith("weight")]
    biases = [p for n, p in net.named_parameters() if n.endswith("bias")]
    fastfood = [p for n, p in net.named_parameters() if n.rsplit(".", 1)[-1] in ("S", "G", "B")]
    opt = torch.optim.SGD([{"params": weights, "lr_mult": 1.0, "weight_decay": 5e-4},
                           {"params": biases, "lr_mult": 2.0, "weight_decay": 5e-4},
                           {"params": fastfood, "lr_mult": 1.0, "weight_decay": 0.0}],
                          lr=0.01, momentum=0.9)
    n = x_all.shape[0]
    order = torch.randperm(n)
    warmup = min(50, steps // 5)
    t0 = None
    for step in range(steps):
        if step == warmup:
            t0 = time.perf_counter()
        lr = 0.01 * (1 + 1e-4 * step) ** -0.75
        for g in opt.param_groups:
            g["lr"] = lr * g["lr_mult"]
        idx = order[(step * 64) % (n - 64):][:64]
        loss = F.cross_entropy(net(x_all[idx]), y_all[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    elapsed = time.perf_counter() - t0
    print(f"pytorch {torch.__version__} {kind}: {(steps - warmup) * 64 / elapsed:.0f} img/s "
          f"({threads} thread{'s' if threads > 1 else ''}, final loss {loss.item():.4f})")


if __name__ == "__main__":
    main()
