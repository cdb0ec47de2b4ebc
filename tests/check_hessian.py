#!/usr/bin/python3
"""Independent check of `awd hessian --layer L` output, in NumPy (float64), no C++ involved.

usage: check_hessian.py RUN_DIR HESSIAN_DIR [--tolerance 1e-12]

Recomputes the Hessian of the mean training loss with respect to layer L's weights from the
run folder's .npy files with the textbook second-order backward recursion, vectorised over
samples:  G^L = diag(p) - p p^T (cross-entropy; diagonal p_i sum_{k != i} p_k) or 2/C I (MSE);
G^r = D W^T G^{r+1} W D + diag(phi''(z^r) * W^T delta^{r+1});  H = mean_n G^{l+1}_n (x) a~_n a~_n^T.
Prints the relative Frobenius difference to H.npy and exits 1 when it exceeds the tolerance.
"""
import json, sys
import numpy as np

run, hdir = sys.argv[1], sys.argv[2]
tolerance = float(sys.argv[sys.argv.index("--tolerance") + 1]) if "--tolerance" in sys.argv else 1e-12
summary = json.load(open(f"{run}/summary.json"))
info = json.load(open(f"{hdir}/hessian.json"))
layer, with_bias = info["layer"], info["with_bias"]
widths = [int(w) for w in summary["arch"].split("-")]
L, bias, act, loss = len(widths) - 1, summary["bias"], summary["activation"], summary.get("loss", "ce")
W = [np.load(f"{run}/W{l}.npy") for l in range(L)]
b = [np.load(f"{run}/b{l}.npy") if bias else np.zeros(widths[l + 1]) for l in range(L)]
X, y = np.load(f"{run}/X_train.npy"), np.load(f"{run}/y_train.npy")
noisy = np.load(f"{run}/noisy_train.npy")
X, y = X[noisy == 0], y[noisy == 0]  # awd uses the clean samples
N, C = len(y), widths[-1]

sig = lambda z: 1 / (1 + np.exp(-z))
phi = {"relu": lambda z: np.maximum(z, 0), "tanh": np.tanh, "sigmoid": sig, "softplus": lambda z: np.logaddexp(0, z),
       "identity": lambda z: z}[act]
d1 = {"relu": lambda z: (z > 0) * 1.0, "tanh": lambda z: 1 - np.tanh(z) ** 2, "sigmoid": lambda z: sig(z) * (1 - sig(z)),
      "softplus": sig, "identity": np.ones_like}[act]
d2 = {"relu": np.zeros_like, "tanh": lambda z: -2 * np.tanh(z) * (1 - np.tanh(z) ** 2),
      "sigmoid": lambda z: sig(z) * (1 - sig(z)) * (1 - 2 * sig(z)), "softplus": lambda z: sig(z) * (1 - sig(z)),
      "identity": np.zeros_like}[act]

a, z = [X], [None]
for l in range(L):
    z.append(a[l] @ W[l].T + b[l])
    a.append(phi(z[-1]) if l + 1 < L else z[-1])
f = z[L]
onehot = np.eye(C)[y]
if loss == "ce":
    p = np.exp(f - f.max(1, keepdims=True)); p /= p.sum(1, keepdims=True)
    others = p @ (np.ones((C, C)) - np.eye(C))  # 1 - p_i without cancellation when p is nearly one-hot
    delta, G = p - onehot, -np.einsum("ni,nk->nik", p, p)
    G[:, np.arange(C), np.arange(C)] = p * others
else:
    delta, G = 2 * (f - onehot) / C, np.broadcast_to(2 / C * np.eye(C), (N, C, C))
for r in range(L - 1, layer, -1):  # down to z^{layer+1}
    back = delta @ W[r]
    D = d1(z[r])
    G = np.einsum("ni,ji,njk,kl,nl->nil", D, W[r], G, W[r], D) + np.einsum("ni,ik->nik", d2(z[r]) * back, np.eye(widths[r]))
    delta = D * back
A = a[layer] if not (with_bias and bias) else np.hstack([a[layer], np.ones((N, 1))])
n, d = G.shape[1], A.shape[1]
T = G.reshape(N, n * n).T @ np.einsum("nj,nq->njq", A, A).reshape(N, d * d) / N  # rows (i,k), cols (j,q)
H = T.reshape(n, n, d, d).transpose(0, 2, 1, 3).reshape(n * d, n * d)  # rows (i,j), cols (k,q)
if with_bias and bias:  # theta order: W row-major, then b (the ones column of a~)
    order = [i * d + j for i in range(n) for j in range(d - 1)] + [i * d + d - 1 for i in range(n)]
    H = H[np.ix_(order, order)]
ours = np.load(f"{hdir}/H.npy")
difference = np.linalg.norm(ours - H) / np.linalg.norm(H)
print(f"H.npy ({ours.shape[0]} x {ours.shape[1]}) vs an independent NumPy float64 computation: relative difference {difference:.2e}")
sys.exit(0 if difference <= tolerance else 1)
