"""torch_mer.py: the PyTorch float64 peer of awd's MER update (experiments/mer/README.md; the paper's Algorithm 1).

MLP 784-100-100-10 ReLU, cross-entropy, plain SGD on one example at a time. For each incoming
example: theta_A0 = theta; s times { theta_W0 = theta; batch = incoming + (k-1) memory draws
(uniform, with replacement); one SGD step per example; theta = theta_W0 + beta (theta - theta_W0) };
theta = theta_A0 + gamma (theta - theta_A0). Inputs: 28x28 images with the digits' density of
non-zero pixels (19%), random labels; the memory is full (500 examples).

usage: torch_mer.py [incoming] [replay] [batches] [threads]; prints key=value pairs on the last line.
"""
import sys
import time

import torch

incoming = int(sys.argv[1]) if len(sys.argv) > 1 else 20
replay = int(sys.argv[2]) if len(sys.argv) > 2 else 100
batches = int(sys.argv[3]) if len(sys.argv) > 3 else 10
threads = int(sys.argv[4]) if len(sys.argv) > 4 else 1
torch.set_num_threads(threads)
torch.manual_seed(0)
dtype = torch.float64

model = torch.nn.Sequential(torch.nn.Linear(784, 100), torch.nn.ReLU(), torch.nn.Linear(100, 100), torch.nn.ReLU(),
                            torch.nn.Linear(100, 10)).to(dtype)
for m in model:
    if isinstance(m, torch.nn.Linear):
        torch.nn.init.xavier_uniform_(m.weight)
        torch.nn.init.zeros_(m.bias)
params = list(model.parameters())
memory_x = torch.rand(500, 784, dtype=dtype) * (torch.rand(500, 784, dtype=dtype) < 0.19)
memory_y = torch.randint(0, 10, (500,))
stream_x = torch.rand(incoming, 784, dtype=dtype) * (torch.rand(incoming, 784, dtype=dtype) < 0.19)
stream_y = torch.randint(0, 10, (incoming,))
lr, beta, gamma = 0.03, 0.03, 1.0
loss_fn = torch.nn.CrossEntropyLoss()


def sgd_step(x, y):
    model.zero_grad(set_to_none=True)
    loss_fn(model(x.unsqueeze(0)), y.unsqueeze(0)).backward()
    with torch.no_grad():
        for p in params:
            p.add_(p.grad, alpha=-lr)


def mer(x, y):
    with torch.no_grad():
        theta_a = [p.detach().clone() for p in params]
    for _ in range(batches):
        with torch.no_grad():
            theta_w = [p.detach().clone() for p in params]
        draws = torch.randint(0, 500, (replay,))
        sgd_step(x, y)
        for j in draws.tolist():
            sgd_step(memory_x[j], memory_y[j])
        with torch.no_grad():
            for p, w in zip(params, theta_w):
                p.copy_(w + beta * (p - w))
    with torch.no_grad():
        for p, a in zip(params, theta_a):
            p.copy_(a + gamma * (p - a))


mer(stream_x[0], stream_y[0])  # warm-up
start = time.perf_counter()
for i in range(incoming):
    mer(stream_x[i], stream_y[i])
seconds = time.perf_counter() - start
steps = incoming * batches * (replay + 1)
print(f"steps={steps} seconds={seconds:.6f} steps_per_s={steps / seconds:.1f} us_per_step={1e6 * seconds / steps:.3f} threads={threads}")
