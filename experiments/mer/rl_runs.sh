#!/bin/sh
# rl_runs.sh: prints the `awd rl` runs of `make mer-rl-paper`, one shell command per line, the
# most expensive (dqn-mer) first; `make` feeds them to xargs -P 2. A finished run (its
# summary.json exists) is skipped; an interrupted one resumes. Settings: README, "Continual
# reinforcement learning", setup table.
out=${1:-runs/mer-rl}
frames=${2:-30000}
awd=${AWD:-build/awd}  # AWD: another binary (a copy, so that rebuilding does not touch running runs)
for method in dqn-mer dqn-er dqn; do
  for game in catcher flappy; do
    for seed in 1 2 3; do
      dir=$out/$game-$method-s$seed
      echo "test -f $dir/summary.json || nice -n 10 $awd rl --game $game --method $method --frames-per-version $frames --seed $seed --out $dir > $dir.log 2>&1 || { echo 'failed: $dir (see $dir.log)' >&2; exit 255; }"
    done
  done
done
