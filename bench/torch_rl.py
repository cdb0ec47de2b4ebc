"""torch_rl.py: the PyTorch float64 peer of awd's per-frame DQN work (experiments/mer/dqn.h).

Q-network MLP 4-100-100-3 ReLU (Catcher's state vector, three actions), a target network, plain
SGD. Each frame: the greedy action of one state (one forward), then the method's update:
  dqn, dqn-er  one SGD step on the batch {incoming} + `replay` memory draws of the Q-learning
               loss (1/2N) sum (Q(s_i, a_i) - y_i)^2, y_i = r_i + 0.99 (1 - done_i) max Qtarget(s'_i);
  dqn-mer      MER: theta_A = theta; `batches` times { theta_W = theta; the incoming transition
               and `replay` draws, one single-transition SGD step each (its target from the target
               network); theta = theta_W + beta (theta - theta_W) }; theta = theta_A + gamma (theta - theta_A).
Transitions are random normal states, uniform actions, rewards in {-1, 0, 1}; the memory holds 1000.

usage: torch_rl.py METHOD [frames] [replay] [batches]; prints key=value pairs on the last line.
"""
import sys
import time

import torch

method = sys.argv[1] if len(sys.argv) > 1 else "dqn-mer"
frames = int(sys.argv[2]) if len(sys.argv) > 2 else 200
replay = int(sys.argv[3]) if len(sys.argv) > 3 else 15
batches = int(sys.argv[4]) if len(sys.argv) > 4 else 2
torch.set_num_threads(1)
torch.manual_seed(0)
dtype = torch.float64
n, actions, memories = 4, 3, 1000
lr, discount, beta, gamma = 0.01, 0.99, 0.1, 1.0


def mlp():
    m = torch.nn.Sequential(torch.nn.Linear(n, 100), torch.nn.ReLU(), torch.nn.Linear(100, 100), torch.nn.ReLU(),
                            torch.nn.Linear(100, actions)).to(dtype)
    for layer in m:
        if isinstance(layer, torch.nn.Linear):
            torch.nn.init.xavier_uniform_(layer.weight)
            torch.nn.init.zeros_(layer.bias)
    return m


model, target = mlp(), mlp()
target.load_state_dict(model.state_dict())
params = list(model.parameters())
mem_s, mem_next = torch.randn(memories, n, dtype=dtype), torch.randn(memories, n, dtype=dtype)
mem_a = torch.randint(0, actions, (memories,))
mem_r = torch.randint(-1, 2, (memories,)).to(dtype)
mem_done = (torch.rand(memories) < 0.05).to(dtype)
stream = [(torch.randn(1, n, dtype=dtype), torch.randint(0, actions, (1,)), torch.randn(1, n, dtype=dtype),
           torch.randint(-1, 2, (1,)).to(dtype), torch.zeros(1, dtype=dtype)) for _ in range(frames + 1)]


def sgd_step(s, a, s_next, r, done):
    with torch.no_grad():
        y = r + discount * (1 - done) * target(s_next).max(dim=1).values
    model.zero_grad(set_to_none=True)
    q = model(s).gather(1, a.unsqueeze(1)).squeeze(1)
    (0.5 * ((q - y) ** 2).mean()).backward()
    with torch.no_grad():
        for p in params:
            p.add_(p.grad, alpha=-lr)


def frame(t):
    s, a, s_next, r, done = t
    with torch.no_grad():
        model(s).argmax(dim=1)  # acting greedily
    if method != "dqn-mer":
        j = torch.randint(0, memories, (replay,))
        sgd_step(torch.cat([s, mem_s[j]]), torch.cat([a, mem_a[j]]), torch.cat([s_next, mem_next[j]]),
                 torch.cat([r, mem_r[j]]), torch.cat([done, mem_done[j]]))
        return
    with torch.no_grad():
        theta_a = [p.detach().clone() for p in params]
    for _ in range(batches):
        with torch.no_grad():
            theta_w = [p.detach().clone() for p in params]
        sgd_step(s, a, s_next, r, done)
        for j in torch.randint(0, memories, (replay,)).tolist():
            sgd_step(mem_s[j:j + 1], mem_a[j:j + 1], mem_next[j:j + 1], mem_r[j:j + 1], mem_done[j:j + 1])
        with torch.no_grad():
            for p, w in zip(params, theta_w):
                p.copy_(w + beta * (p - w))
    with torch.no_grad():
        for p, a0 in zip(params, theta_a):
            p.copy_(a0 + gamma * (p - a0))


frame(stream[-1])  # warm-up
start = time.perf_counter()
for t in stream[:frames]:
    frame(t)
seconds = time.perf_counter() - start
print(f"method={method} frames={frames} seconds={seconds:.6f} frames_per_s={frames / seconds:.1f}")
