"""rl_table.py: the table and figure of `make mer-rl-paper` from the `awd rl` run folders.

usage: rl_table.py RUNS OUT. Reads RUNS/<game>-<method>-s<seed>/{summary.json,curve.csv}; writes
OUT/table.md (per game and method, mean +- std over seeds of the final policy's mean score over all
game versions, the mean just-trained score, BTI and forgetting, and each version's final score),
OUT/scores.csv (the same per run) and OUT/rl.png (mean learning curves over seeds: the score on
version 0 and the mean over all versions, against frames).
"""
import csv
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

runs, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
games, methods = ["catcher", "flappy"], ["dqn", "dqn-er", "dqn-mer"]
found = {}
for name in sorted(os.listdir(runs)):
    path = os.path.join(runs, name, "summary.json")
    if not os.path.isfile(path):
        continue
    game, rest = name.split("-", 1)
    method, seed = rest.rsplit("-s", 1)
    with open(path) as f:
        summary = json.load(f)
    curve = np.loadtxt(os.path.join(runs, name, "curve.csv"), delimiter=",", skiprows=1, ndmin=2)
    found.setdefault((game, method), []).append((int(seed), summary, curve))

keys = ["final_mean_score", "just_trained_mean_score", "BTI", "forgetting"]
lines = ["| game | method | seeds | final mean score (all versions) | just-trained mean | BTI | forgetting | final score per version |",
         "|---|---|---|---|---|---|---|---|"]
rows = []
for game in games:
    for method in methods:
        entries = sorted(found.get((game, method), []), key=lambda e: e[0])
        if not entries:
            continue
        cells = []
        for key in keys:
            v = np.array([e[1]["summary"][key] for e in entries])
            cells.append(f"{v.mean():.2f} +- {v.std(ddof=1) if len(v) > 1 else 0:.2f}")
        per_version = np.mean([e[1]["summary"]["final_scores"] for e in entries], axis=0)
        lines.append(f"| {game} | {method} | {len(entries)} | " + " | ".join(cells) + " | " +
                     " ".join(f"{v:.1f}" for v in per_version) + " |")
        for seed, s, _ in entries:
            rows.append([game, method, seed] + [s["summary"][k] for k in keys] + s["summary"]["final_scores"])
with open(os.path.join(out, "table.md"), "w") as f:
    f.write("\n".join(lines) + "\n")
with open(os.path.join(out, "scores.csv"), "w", newline="") as f:
    w = csv.writer(f)
    versions = max((len(r) for r in rows), default=7) - 7
    w.writerow(["game", "method", "seed"] + keys + [f"final_version_{j}" for j in range(versions)])
    w.writerows(rows)

fig, axes = plt.subplots(2, 2, figsize=(12, 8), sharex="col")
colors = {"dqn": "#7f7f7f", "dqn-er": "#1f77b4", "dqn-mer": "#d62728"}
for col, game in enumerate(games):
    for method in methods:
        entries = found.get((game, method), [])
        if not entries:
            continue
        n = min(len(e[2]) for e in entries)
        curves = np.stack([e[2][:n] for e in entries])  # seeds x rows x columns
        frames = curves[0, :, 0]
        for row, values in enumerate([curves[:, :, 3], curves[:, :, 3:].mean(axis=2)]):
            m = values.mean(axis=0)
            axes[row, col].plot(frames, m, color=colors[method], lw=2, label=f"{method} ({len(entries)} seeds)")
            if len(entries) > 1:
                s = values.std(axis=0, ddof=1)
                axes[row, col].fill_between(frames, m - s, m + s, color=colors[method], alpha=0.15)
    per_version = entries[0][1]["settings"]["frames-per-version"] if entries else 0
    for row in range(2):
        ax = axes[row, col]
        for v in range(1, 6):
            ax.axvline(v * per_version, color="#aaaaaa", ls=":", lw=1)
        ax.grid(alpha=0.3)
        ax.set_ylabel(["greedy score on version 0", "mean greedy score over all versions"][row])
        ax.set_title(f"{game}: " + ["the first version (forgetting)", "every version"][row])
    axes[1, col].set_xlabel("frames (dotted: the game changes)")
    axes[0, col].legend()
fig.tight_layout()
fig.savefig(os.path.join(out, "rl.png"), dpi=110)
print("\n".join(lines))
