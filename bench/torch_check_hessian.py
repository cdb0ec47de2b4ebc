#!/usr/bin/python3
"""PyTorch float64 cross-check of a full MLP Hessian written by the benchmark.

usage: torch_check_hessian.py DIR     (DIR holds W*.npy, b*.npy, X.npy, y.npy, H.npy, arch.txt)
Computes torch.autograd.functional.hessian of the mean cross-entropy with respect to the flat
parameter vector [W0, b0, W1, b1, ...] (tanh hidden layers) and prints its relative Frobenius
difference to H.npy.
"""
import sys
import numpy as np, torch

d = sys.argv[1]
torch.set_default_dtype(torch.float64)
widths = [int(w) for w in open(f"{d}/arch.txt").read().split("-")]
L = len(widths) - 1
shapes = []
for l in range(L):
    shapes += [(widths[l + 1], widths[l]), (widths[l + 1],)]
params = [torch.from_numpy(np.load(f"{d}/{'W' if k % 2 == 0 else 'b'}{k // 2}.npy")).reshape(s) for k, s in enumerate(shapes)]
theta = torch.cat([p.reshape(-1) for p in params])
X, y = torch.from_numpy(np.load(f"{d}/X.npy")), torch.from_numpy(np.load(f"{d}/y.npy"))

def loss(t):
    h, k = X, 0
    for l in range(L):
        W = t[k:k + widths[l + 1] * widths[l]].reshape(widths[l + 1], widths[l]); k += W.numel()
        b = t[k:k + widths[l + 1]]; k += b.numel()
        h = h @ W.T + b
        if l + 1 < L: h = torch.tanh(h)
    return torch.nn.functional.cross_entropy(h, y)

H = torch.autograd.functional.hessian(loss, theta, vectorize=True).numpy()
ours = np.load(f"{d}/H.npy")
print(f"difference={np.linalg.norm(ours - H) / np.linalg.norm(H):.3e}")
