#!/usr/bin/python3
"""The LeNets of bench/bench_train.c in PyTorch (CPU), for a side-by-side
with deepfried (bench/compare-pytorch.sh runs the two interleaved).

Models, as conf/ defines them:
  reference      Caffe's LeNet: conv20(5x5) - maxpool 2 - conv50(5x5) -
                 maxpool 2 - ip1 dense 500 - ReLU - ip2 dense 10
                 (conf/mnist-lenet-reference.conf)
  fastfood-1024  ip1 replaced by Adaptive Fastfood, y = S H G Pi H B x, 800
                 inputs padded to d = 1024, 1024 features (one block), H the
                 orthonormal Walsh-Hadamard transform in PyTorch ops
                 (conf/mnist-adaptive-fastfood-1024.conf)
  fastfood-2048  the same with 2048 features: two independent blocks
                 (conf/mnist-adaptive-fastfood-2048.conf)
Caffe's xavier fill for the conv and dense weights (U(+-sqrt(3/fan_in))),
zero biases; Fastfood's B = +-1, G ~ N(0, 1), S = sigma chi_d sqrt(d) / ||G||
with sigma = 0.1.

The solver is Caffe's SGD as deepfried's solver.c runs it, written out
rather than torch.optim.SGD (which applies the learning rate after the
momentum): g = grad + weight_decay * decay_mult * w; v = momentum v +
lr lr_mult g; w -= v; lr = 0.01 (1 + 1e-4 step)^-0.75 ("inv"), momentum
0.9, weight decay 5e-4; biases at lr_mult 2; none on S, G, B
(decay_mult 0). Loss: mean softmax cross-entropy over a batch of 64. A
step gathers its batch of uint8 images from an epoch's random order and
scales them by 1/256, as deepfried's data reader does.

Threads: OMP_NUM_THREADS=N and OPENBLAS_NUM_THREADS=1 are set before torch
is imported (PyTorch parallelises its own ops with OpenMP; a BLAS it calls
from inside them must not start threads of its own), then
torch.set_num_threads(N).

usage: lenet_torch.py --model M [--threads N] [--steps S] [--reps R]
                      [--warmup W] [--data DIR]
After W warm-up steps, R blocks of S steps; prints the median block's
images/s on one line for scripts:
  result impl=pytorch model=M threads=N batch=64 steps=S reps=R img_s=X ...
"""
import argparse
import gzip
import math
import os
import sys
import time

BATCH = 64
MODELS = {"reference": None, "fastfood-1024": 1024, "fastfood-2048": 2048}


def parse_args():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    mnist = os.path.join(root, "data", "mnist")
    default_data = (mnist if os.path.exists(os.path.join(mnist, "train-images-idx3-ubyte.gz"))
                    else os.path.join(root, "data", "mnist-sample"))
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True, choices=sorted(MODELS))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--steps", type=int, default=50, help="steps per timed block")
    p.add_argument("--reps", type=int, default=7, help="timed blocks")
    p.add_argument("--warmup", type=int, default=20, help="untimed steps first")
    p.add_argument("--data", default=default_data,
                   help="directory of the MNIST IDX files (default: data/mnist if "
                        "fetched, else data/mnist-sample)")
    a = p.parse_args()
    if a.threads < 1 or a.steps < 1 or a.reps < 1 or a.warmup < 0:
        p.error("--threads, --steps and --reps must be >= 1, --warmup >= 0")
    return a


ARGS = parse_args()
# before torch is imported: its OpenMP pool and the BLAS read these once
os.environ["OMP_NUM_THREADS"] = str(ARGS.threads)
os.environ["OPENBLAS_NUM_THREADS"] = "1"
os.environ["MKL_NUM_THREADS"] = str(ARGS.threads)

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def fwht(x):
    """Orthonormal Walsh-Hadamard transform over the last dimension of a
    (rows, d) tensor, d a power of two: log2 d butterfly levels."""
    n, d = x.shape
    h = 1
    while h < d:
        x = x.view(n, d // (2 * h), 2, h)
        a, b = x[:, :, 0, :], x[:, :, 1, :]
        x = torch.stack((a + b, a - b), dim=2)
        h *= 2
    return x.reshape(n, d) * (1.0 / math.sqrt(d))


class Fastfood(nn.Module):
    """k = features / d independent blocks y_j = S_j H G_j Pi_j H B_j x,
    concatenated (include/deepfried/fastfood.h)."""

    def __init__(self, d_in, features, sigma):
        super().__init__()
        d = 1 << (d_in - 1).bit_length()
        k = -(-features // d)
        self.d_in, self.d, self.k, self.features = d_in, d, k, features
        g = torch.randn(k, d)
        chi = torch.sqrt(torch.distributions.Chi2(torch.full((k, d), float(d))).sample())
        self.B = nn.Parameter(torch.randint(0, 2, (k, d)).float() * 2 - 1)
        self.G = nn.Parameter(g)
        self.S = nn.Parameter(sigma * chi * math.sqrt(d) / g.norm(dim=1, keepdim=True))
        # block j reads Pi_j(v)[i] = v[perm[j, i]]; as indices into the
        # (k d) row of all blocks
        perm = torch.stack([torch.randperm(d) + j * d for j in range(k)])
        self.register_buffer("perm", perm.reshape(-1))

    def forward(self, x):
        n, k, d = x.shape[0], self.k, self.d
        x = F.pad(x, (0, d - self.d_in)).unsqueeze(1) * self.B          # (n, k, d)
        x = fwht(x.reshape(n * k, d)).reshape(n, k * d)
        x = x[:, self.perm].reshape(n, k, d) * self.G
        x = fwht(x.reshape(n * k, d)).reshape(n, k, d) * self.S
        return x.reshape(n, k * d)[:, :self.features]


def xavier(m):
    if isinstance(m, (nn.Conv2d, nn.Linear)):
        a = math.sqrt(3.0 / m.weight[0].numel())
        nn.init.uniform_(m.weight, -a, a)
        nn.init.zeros_(m.bias)


def lenet(model):
    layers = [nn.Conv2d(1, 20, 5), nn.MaxPool2d(2, 2), nn.Conv2d(20, 50, 5), nn.MaxPool2d(2, 2),
              nn.Flatten()]
    features = MODELS[model]
    if features is None:
        layers += [nn.Linear(800, 500), nn.ReLU(), nn.Linear(500, 10)]
    else:
        layers += [Fastfood(800, features, 0.1), nn.ReLU(), nn.Linear(features, 10)]
    net = nn.Sequential(*layers)
    net.apply(xavier)
    return net


class CaffeSGD:
    """deepfried's solver.c: per tensor (lr_mult, decay_mult)."""

    def __init__(self, net, base_lr=0.01, momentum=0.9, weight_decay=5e-4, gamma=1e-4,
                 power=0.75):
        self.base_lr, self.momentum, self.gamma, self.power = base_lr, momentum, gamma, power
        self.groups = []
        for name, p in net.named_parameters():
            leaf = name.rsplit(".", 1)[-1]
            lr_mult = 2.0 if leaf == "bias" else 1.0
            decay = 0.0 if leaf in ("S", "G", "B") else weight_decay
            self.groups.append((p, torch.zeros_like(p), lr_mult, decay))

    @torch.no_grad()
    def step(self, step):
        lr = self.base_lr * (1.0 + self.gamma * step) ** -self.power
        for p, v, lr_mult, decay in self.groups:
            g = p.grad.add(p, alpha=decay) if decay else p.grad
            v.mul_(self.momentum).add_(g, alpha=lr * lr_mult)
            p.sub_(v)


def main():
    a = ARGS
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    prefix = os.path.join(a.data, "train-")
    images = torch.from_numpy(read_idx(prefix + "images-idx3-ubyte.gz").copy())
    labels = torch.from_numpy(read_idx(prefix + "labels-idx1-ubyte.gz").astype(np.int64))
    n = images.shape[0]
    net = lenet(a.model)
    solver = CaffeSGD(net)
    state = {"step": 0, "pos": 0, "order": torch.randperm(n)}

    def train_step():
        if state["pos"] + BATCH > n:   # a new epoch, a new order
            state["order"] = torch.randperm(n)
            state["pos"] = 0
        idx = state["order"][state["pos"]:state["pos"] + BATCH]
        state["pos"] += BATCH
        x = images[idx].unsqueeze(1).float() * (1.0 / 256)
        loss = F.cross_entropy(net(x), labels[idx])
        net.zero_grad(set_to_none=False)
        loss.backward()
        solver.step(state["step"])
        state["step"] += 1
        return loss.item()

    for _ in range(a.warmup):
        train_step()
    rates, loss = [], float("nan")
    for _ in range(a.reps):
        t0 = time.perf_counter()
        losses = [train_step() for _ in range(a.steps)]
        rates.append(a.steps * BATCH / (time.perf_counter() - t0))
        loss = sum(losses) / len(losses)
    if not math.isfinite(loss):
        sys.exit(f"lenet_torch.py: the training loss became {loss}")
    median = float(np.median(rates))
    print(f"# pytorch {torch.__version__}, {torch.get_num_threads()} thread(s), "
          f"MKL-DNN {torch.backends.mkldnn.is_available()}; blocks, images/s: "
          + " ".join(f"{r:.0f}" for r in rates))
    print(f"result impl=pytorch model={a.model} threads={a.threads} batch={BATCH} "
          f"steps={a.steps} reps={a.reps} img_s={median:.1f} loss={loss:.4f}")


if __name__ == "__main__":
    main()
