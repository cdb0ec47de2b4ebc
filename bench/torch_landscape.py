#!/usr/bin/python3
"""PyTorch float64 peers of bench/bench_landscape.cpp (one thread, best of 3).

usage: torch_landscape.py two-valley RUNS STEPS
         the batched two-valley update with clipped-Hessian noise: per-run gradients and the
         exact 2 x 2 Hessians from autograd (create_graph, two more backward passes), H+^(1/2)
         in closed form, theta <- theta - eta (grad L + sqrt(2 sigma) H+^(1/2) z)
       torch_landscape.py per-sample N
         per-sample gradients of an MLP 784-50-50-10 relu (cross-entropy) on N samples with
         functorch.vmap(functorch.grad) (torch.func is not in Debian's torch 1.13), then the
         noise covariance's top-10 eigenpairs from the Gram matrix and its diagonal
Prints key=value pairs on its last line.
"""
import math, sys, time
import torch

torch.set_default_dtype(torch.float64)
torch.set_num_threads(1)
torch.manual_seed(0)


def two_valley(runs, steps, eta=0.01, sigma=0.1):
    x1, x2, x0, f0, yb, yf, yd, Ld = 0.8, 0.65, 1.0, 1.0, 30.0, 20.0, 100.0, 1.0
    c1, c2 = f0 * (x1 / x0) ** 2, f0 * (x2 / x0) ** 2

    def loss(th):
        x, y = th[:, 0], th[:, 1]
        den = y + yb
        q, r2 = y / den, ((y + yf) / den) ** 2
        flat = x * (x - 2 * x1 * q) / (c1 * r2)
        sharp = x * (x + 2 * x2 * q) / (c2 * r2)
        return torch.where(x < 0, sharp, flat) + Ld * torch.exp(-y / yd) + x0 * x0 / f0

    theta = torch.empty(runs, 2)
    theta[:, 0] = torch.where(torch.arange(runs) % 2 == 0, 0.01, -0.01)
    theta[:, 1] = 5.0
    for _ in range(steps):
        th = theta.clone().requires_grad_(True)
        g, = torch.autograd.grad(loss(th).sum(), th, create_graph=True)
        hx, = torch.autograd.grad(g[:, 0].sum(), th, retain_graph=True)
        hy, = torch.autograd.grad(g[:, 1].sum(), th)
        a, b, c = hx[:, 0], hx[:, 1], hy[:, 1]
        mid, half = 0.5 * (a + c), torch.hypot(0.5 * (a - c), b)
        phi = 0.5 * torch.atan2(2 * b, a - c)
        co, si = torch.cos(phi), torch.sin(phi)
        s1, s2 = torch.sqrt(torch.clamp(mid + half, min=0)), torch.sqrt(torch.clamp(mid - half, min=0))
        Sa, Sb, Sc = s1 * co * co + s2 * si * si, (s1 - s2) * co * si, s1 * si * si + s2 * co * co
        z = torch.randn(runs, 2)
        k = math.sqrt(2 * sigma)
        xi = torch.stack([k * (Sa * z[:, 0] + Sb * z[:, 1]), k * (Sb * z[:, 0] + Sc * z[:, 1])], 1)
        theta = theta - eta * (g.detach() + xi)
    return theta


def per_sample(n, top=10):
    from functorch import grad, make_functional, vmap
    net = torch.nn.Sequential(torch.nn.Linear(784, 50), torch.nn.ReLU(), torch.nn.Linear(50, 50), torch.nn.ReLU(), torch.nn.Linear(50, 10))
    fmodel, params = make_functional(net)
    X, y = torch.randn(n, 784), torch.randint(0, 10, (n,))

    def sample_loss(p, x, t):
        return torch.nn.functional.cross_entropy(fmodel(p, x.unsqueeze(0)), t.unsqueeze(0))

    t0 = time.perf_counter()
    grads = vmap(grad(sample_loss), in_dims=(None, 0, 0))(params, X, y)
    G = torch.cat([g.reshape(n, -1) for g in grads], 1)
    t1 = time.perf_counter()
    Gc = G - G.mean(0)
    diag = (Gc * Gc).mean(0)
    K = Gc @ Gc.T / n
    mu, U = torch.linalg.eigh(K)
    mu, U = mu.flip(0)[:top], U.flip(1)[:, :top]
    V = (Gc.T @ U) / torch.sqrt(n * mu)
    t2 = time.perf_counter()
    return t1 - t0, t2 - t0, diag.sum().item() + V.sum().item()


mode = sys.argv[1]
if mode == "two-valley":
    runs, steps = int(sys.argv[2]), int(sys.argv[3])
    best = 1e300
    for _ in range(3):
        t0 = time.perf_counter()
        two_valley(runs, steps)
        best = min(best, time.perf_counter() - t0)
    print(f"seconds_per_step={best / steps:.6e}")
elif mode == "per-sample":
    n = int(sys.argv[2])
    best_g, best_c = 1e300, 1e300
    for _ in range(3):
        g, c, _ = per_sample(n)
        best_g, best_c = min(best_g, g), min(best_c, c)
    print(f"per_sample_seconds={best_g:.6e} covariance_seconds={best_c:.6e}")
