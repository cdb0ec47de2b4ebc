#!/bin/sh
# mer_runs.sh: prints the `awd continual` runs of `make mer-paper` (or `make mer-quick` with
# "quick"), one per line: NAME <tab> COMMAND, the most expensive first. `awd continual-table --tasks`
# runs them (locally or as a Slurm job array) into OUT/NAME, logs in OUT/NAME.log, then the table.
# A finished run (its summary.json exists) is skipped; an interrupted one resumes.
# Hyperparameters: the authors' published example scripts, as issue 14 lists them.
mode=${1:-paper}
out=${2:-runs/mer}
awd=build/awd

run() {  # run NAME ARGS...: one line per seed
  name=$1; shift
  for seed in $SEEDS; do
    dir=$out/$name-s$seed
    printf '%s\t%s\n' "$name-s$seed" "$awd continual $* --seed $seed --out $dir"
  done
}

if [ "$mode" = quick ]; then
  SEEDS="1"
  q="--stream rotations --tasks 20 --per-task 250 --test 1000 --curve-every 50"
  run quick-rot-online-0 $q --method online --lr 3e-4 --memories 0
  run quick-rot-er-500 $q --method er --lr 0.1 --memories 500 --replay 5
  run quick-rot-mer-500 $q --method mer --lr 0.1 --beta 0.01 --gamma 1 --memories 500 --replay 10 --batches 10
  exit 0
fi

SEEDS="1 2"
rot="--stream rotations"
per="--stream permutations"
many="--stream many-permutations --test 500"
# the two expensive runs (2 x 10^7 single-example steps each, about 20-30 minutes) first, one
# per slot, so the cheap runs fill both slots afterwards. MER with 5120 memories runs seed 1
# only: its seed 2 (two more such runs) would take make mer-paper past 90 minutes on 2 cores.
SEEDS=1 run rot-mer-5120 $rot --method mer --lr 0.03 --beta 0.03 --gamma 1 --memories 5120 --replay 100 --batches 10
SEEDS=1 run per-mer-5120 $per --method mer --lr 0.03 --beta 0.03 --gamma 1 --memories 5120 --replay 100 --batches 10
run rot-online-0 $rot --method online --lr 3e-4 --memories 0
run per-online-0 $per --method online --lr 3e-3 --memories 0
run many-online-0 $many --method online --lr 3e-3 --memories 0
run rot-ewc-0 $rot --method ewc --lr 1e-3 --ewc-lambda 100
run per-ewc-0 $per --method ewc --lr 0.01 --ewc-lambda 10
run many-ewc-0 $many --method ewc --lr 0.01 --ewc-lambda 10
run rot-er-200 $rot --method er --lr 0.1 --memories 200 --replay 10
run rot-er-500 $rot --method er --lr 0.1 --memories 500 --replay 5
run rot-er-1000 $rot --method er --lr 0.1 --memories 1000 --replay 10
run rot-er-5120 $rot --method er --lr 0.1 --memories 5120 --replay 25
run per-er-500 $per --method er --lr 0.1 --memories 500 --replay 5
run per-er-5120 $per --method er --lr 0.1 --memories 5120 --replay 25
run many-er-500 $many --method er --lr 0.1 --memories 500 --replay 5
run rot-mer-200 $rot --method mer --lr 0.1 --beta 0.01 --gamma 1 --memories 200 --replay 10 --batches 10
run rot-mer-500 $rot --method mer --lr 0.1 --beta 0.01 --gamma 1 --memories 500 --replay 10 --batches 10
run rot-mer-1000 $rot --method mer --lr 0.1 --beta 0.01 --gamma 1 --memories 1000 --replay 10 --batches 10
run per-mer-500 $per --method mer --lr 0.03 --beta 0.03 --gamma 1 --memories 500 --replay 25 --batches 10
run many-mer-500 $many --method mer --lr 0.03 --beta 0.03 --gamma 1 --memories 500 --replay 25 --batches 10
run rot-gem-500 $rot --method gem --lr 0.01 --memories 500 --gem-memories 25 --margin 1.0
run per-gem-500 $per --method gem --lr 0.01 --memories 500 --gem-memories 25 --margin 1.0
run many-gem-500 $many --method gem --lr 0.01 --memories 500 --gem-memories 5 --margin 1.0
