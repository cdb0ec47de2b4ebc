#!/usr/bin/python3
"""PyTorch float64 peer of one step of the effective GAN model (awd gan), for `make bench`.

usage: torch_gan.py mnist100|ring8 [threads]
One step = one discriminator step (objective gan: -E softplus(-f(x)) - E softplus(f(q)),
descended as its negative, plus alpha E_data |grad_x f|^2 by double backward, coupled weight
decay, optimizer step) followed by one generator step Q <- Q + eta K grad_q log D(q) with
K = g1 I + g2 (11^T - I) as one matrix product. Same shapes and settings as the awd side:
  mnist100: d = 784, N = 100 particles, 100 data points, D = 784-64-64-1 ReLU, Adam, alpha 1.25, wd 1e-4
  ring8:    d = 2,   N = 32 particles, 32 fresh data samples, D = 2-64-64-1 ReLU, SGD, no penalty
Prints seconds_per_step=... (best of 5 timings of 20 steps after 5 warm-up steps).
"""
import sys, time
import torch

torch.set_default_dtype(torch.float64)
workload = sys.argv[1]
torch.set_num_threads(int(sys.argv[2]) if len(sys.argv) > 2 else 2)
torch.manual_seed(0)
if workload == "mnist100":
    d, N, alpha, wd, adam, lr_g, lr_d = 784, 100, 1.25, 1e-4, True, 1.0, 1e-3
else:
    d, N, alpha, wd, adam, lr_g, lr_d = 2, 32, 0.0, 0.0, False, 0.01, 0.01
widths = [d, 64, 64, 1]
layers = [torch.nn.Linear(widths[l], widths[l + 1]) for l in range(3)]
params = [p for layer in layers for p in layer.parameters()]
opt = torch.optim.Adam(params, lr=lr_d, weight_decay=wd) if adam else torch.optim.SGD(params, lr=lr_d, weight_decay=wd)
K = torch.full((N, N), 0.5)
K.fill_diagonal_(1.0)
Q = 0.1 * torch.randn(N, d)
points = torch.randn(N, d)

def f(x):
    h = x
    for l, layer in enumerate(layers):
        h = layer(h)
        if l < 2: h = torch.relu(h)
    return h

def data():
    if workload == "mnist100": return points
    k = torch.randint(0, 8, (N,))
    angle = 2 * torch.pi * k / 8
    return torch.stack([2 * torch.cos(angle), 2 * torch.sin(angle)], 1) + 0.05 * torch.randn(N, 2)

def step():
    global Q
    x = data().requires_grad_(alpha > 0)
    fx, fq = f(x), f(Q)
    objective = -torch.nn.functional.softplus(-fx).mean() - torch.nn.functional.softplus(fq).mean()
    loss = -objective
    if alpha > 0:
        gx, = torch.autograd.grad(fx.sum(), x, create_graph=True)
        loss = loss + alpha * gx.pow(2).sum() / x.shape[0]
    opt.zero_grad()
    loss.backward()
    opt.step()
    q = Q.clone().requires_grad_(True)
    G, = torch.autograd.grad((-torch.nn.functional.softplus(-f(q))).sum(), q)
    Q = torch.addmm(Q, K, G, alpha=lr_g)

for _ in range(5): step()
best = 1e300
for _ in range(5):
    t0 = time.perf_counter()
    for _ in range(20): step()
    best = min(best, (time.perf_counter() - t0) / 20)
print(f"seconds_per_step={best:.6e}")
