#!/usr/bin/python3
"""Peer timings for bench/bench_steps.cpp, PyTorch float64, the same workloads written the usual way.

usage: torch_steps.py single|toy|hvp [--steps S] [--threads T]
  single  one-example SGD steps of the continual-learning learner, MLP 784-100-100-10 relu
          (Glorot uniform, zero biases), cross-entropy, lr 0.03: prints steps_per_s
  toy     SGD steps of a two-parameter model, L = 1/2 exp(x) mean_mu (y - y_mu)^2 over 4 samples:
          prints steps_per_s (graph overhead, not flops)
  hvp     Hessian-vector products (double backward) of the A-W reference net 784-30-30-10 relu,
          no bias, N = 4000, cross-entropy; the gradient graph is built once: prints seconds_per_hvp
"""
import argparse, time, torch

p = argparse.ArgumentParser()
p.add_argument("mode"); p.add_argument("--steps", type=int, default=0); p.add_argument("--threads", type=int, default=1)
a = p.parse_args()
torch.set_num_threads(a.threads)
dt = torch.float64
g = torch.Generator().manual_seed(0)

if a.mode == "single":
    layers = [torch.nn.Linear(784, 100), torch.nn.ReLU(), torch.nn.Linear(100, 100), torch.nn.ReLU(), torch.nn.Linear(100, 10)]
    net = torch.nn.Sequential(*layers).to(dt)
    for m in net:
        if isinstance(m, torch.nn.Linear):
            torch.nn.init.xavier_uniform_(m.weight); torch.nn.init.zeros_(m.bias)
    X = torch.rand(1000, 784, generator=g, dtype=dt); y = torch.randint(0, 10, (1000,), generator=g)
    opt = torch.optim.SGD(net.parameters(), lr=0.03)
    steps = a.steps or 3000
    t0 = time.perf_counter()
    for s in range(steps):
        i = s % 1000
        opt.zero_grad(); torch.nn.functional.cross_entropy(net(X[i:i + 1]), y[i:i + 1]).backward(); opt.step()
    print(f"mode=single steps={steps} steps_per_s={steps / (time.perf_counter() - t0):.1f}")
elif a.mode == "toy":
    xy = torch.tensor([0.3, 2.0], dtype=dt, requires_grad=True)
    samples = torch.tensor([-1.0, 0.5, 1.5, 3.0], dtype=dt)
    opt = torch.optim.SGD([xy], lr=0.01)
    steps = a.steps or 20000
    t0 = time.perf_counter()
    for s in range(steps):
        opt.zero_grad(); (0.5 * torch.exp(xy[0]) * ((xy[1] - samples) ** 2).mean()).backward(); opt.step()
    print(f"mode=toy steps={steps} steps_per_s={steps / (time.perf_counter() - t0):.1f}")
elif a.mode == "hvp":
    net = torch.nn.Sequential(torch.nn.Linear(784, 30, bias=False), torch.nn.ReLU(), torch.nn.Linear(30, 30, bias=False),
                              torch.nn.ReLU(), torch.nn.Linear(30, 10, bias=False)).to(dt)
    X = torch.rand(4000, 784, generator=g, dtype=dt); y = torch.randint(0, 10, (4000,), generator=g)
    params = list(net.parameters())
    loss = torch.nn.functional.cross_entropy(net(X), y)
    grads = torch.autograd.grad(loss, params, create_graph=True)
    v = [torch.randn(q.shape, generator=g, dtype=dt) for q in params]
    steps = a.steps or 20
    best = 1e300
    for s in range(steps):
        t0 = time.perf_counter()
        dot = sum((gi * vi).sum() for gi, vi in zip(grads, v))
        torch.autograd.grad(dot, params, retain_graph=True)
        best = min(best, time.perf_counter() - t0)
    print(f"mode=hvp repeats={steps} seconds_per_hvp={best:.6f}")
else:
    raise SystemExit("unknown mode " + a.mode)
