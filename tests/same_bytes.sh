#!/bin/sh
# Behaviour-unchanged check: builds BASE (a commit; default 9a33dbe, the landscapes' kernels in fused
# multiply-adds and 52-bit uniforms, which changed the last digits of the Langevin-valley and two-valley
# commands below on purpose, as 43bd4d0's closed forms and per-run streams had before; against ca4682c,
# before the layout move, every other command is still the same bytes) in build/same-bytes/base-SHA/ (its files by git archive), runs the same short commands
# with its build/awd and with this tree's, and compares the two output folders byte for byte.
# Not a benchmark and not part of `make test` (about three minutes on 2 cores).
#
# What may differ, and only that: timing fields in JSON (tests/same_bytes_compare.py names them:
# seconds, stage_seconds, seconds_hessian, seconds_eigen, gemm_gflops, run_id), the `seconds`
# column of CSV files, a PDF's creation date, a manifest's size and checksum of a file that differs only in those, and
# files that hold timings only (times.txt) or console output (a sweep's *.log). Exits non-zero naming every other differing file.
#
#   tests/same_bytes.sh [BASE]        or        make same-bytes BASE=...
set -eu
BASE=${1:-9a33dbe}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
SHA=$(git rev-parse --verify "$BASE^{commit}")
# Both builds go through ccache when it is installed (the base is a full build otherwise).
[ -d /work/.ccache ] && export CCACHE_DIR=${CCACHE_DIR:-/work/.ccache} CCACHE_BASEDIR=${CCACHE_BASEDIR:-/work}
CXX=${CXX:-g++}
case "$CXX" in ccache*) ;; *) command -v ccache >/dev/null && CXX="ccache $CXX" ;; esac
WORK=$ROOT/build/same-bytes
BASE_TREE=$WORK/base-$SHA
mkdir -p "$WORK"
start=$(date +%s)

# BASE's files exported (git archive: no worktree to register; kept for next time), this tree as it is.
if [ ! -f "$BASE_TREE/Makefile" ]; then
  rm -rf "$BASE_TREE"; mkdir -p "$BASE_TREE"
  git archive "$SHA" | tar -x -C "$BASE_TREE"
fi
echo "building base $SHA and this tree"
make -C "$BASE_TREE" CXX="$CXX" -j2 build/awd >"$WORK/build-base.log" 2>&1 || { echo "error: base build failed, see $WORK/build-base.log" >&2; exit 1; }
make CXX="$CXX" -j2 build/awd >"$WORK/build-head.log" 2>&1 || { echo "error: build failed, see $WORK/build-head.log" >&2; exit 1; }

# The fixed command list: each runs in OUT/{base,head} (same relative paths, so the recorded
# flags match), with the MNIST digits reached through a data/ link.
COMMANDS='
train --arch 784-16-10 --train-per-class 20 --test 100 --epochs 4 --batch 10 --seed 3 --out out/train
train --arch 784-12-12-10 --no-bias --activation tanh --optimizer adam --lr 0.01 --weight-decay 0.001 --train-per-class 10 --test 50 --epochs 3 --dropout 0.1 --out out/train-adam
train --arch 784-12-10 --loss mse --momentum 0.9 --nesterov --schedule cosine --decay-kind l2 --weight-decay 0.01 --train-per-class 10 --test 50 --epochs 3 --out out/train-mse
duality --model out/train --layer 1 --out out/duality
duality --model out/train-mse --layer 1 --pairing random --variant bias --seed 2 --out out/duality-random
duality --model out/train-adam --layer 1 --pairing activity --out out/duality-activity
hessian --model out/train --layer 1 --eig --out out/hessian-layer
hessian --model out/train-mse --all --top 5 --density --hutchinson 10 --out out/hessian-top
gan --target ring8 --particles 64 --steps 300 --seed 2 --out out/gan-ring8
gan --target mnist100 --particles 20 --steps 30 --record-every 5 --snapshots 1 --hidden 32 --out out/gan-mnist100
landscape --model valley --drive langevin --kappa 10 --delta 1e-3,1e-2 --runs 50 --steps 2000 --out out/valley
landscape --model valley --drive minibatch --batch 2 --eta 0.1,0.3 --runs 50 --time 20 --out out/valley-minibatch
landscape --model two-valley --eta 0.01,0.05 --sigma 0.01,0.1 --y0 5 --runs 50 --steps 2000 --out out/two-valley
continual --stream rotations --method mer --tasks 3 --per-task 60 --memories 100 --replay 5 --batches 2 --hidden 20 --pool-per-class 30 --test 200 --curve-every 20 --out out/continual-mer
continual --stream permutations --method er --tasks 3 --per-task 60 --memories 50 --replay 5 --hidden 20 --pool-per-class 30 --test 200 --out out/continual-er
continual --stream rotations --method ewc --tasks 3 --per-task 60 --fisher-examples 20 --hidden 20 --pool-per-class 30 --test 200 --out out/continual-ewc
continual --stream rotations --method gem --tasks 3 --per-task 60 --gem-memories 16 --hidden 20 --pool-per-class 30 --test 200 --out out/continual-gem
continual --stream rotations --method online --tasks 3 --per-task 60 --hidden 20 --pool-per-class 30 --test 200 --out out/continual-online
sweep --param lr --values 0.05,0.1 --repeats 1 --jobs 1 --train-args "--train-per-class 5 --test 50 --epochs 2 --arch 784-10-10-10" --out out/sweep
'
for side in base head; do
  dir=$WORK/$side
  rm -rf "$dir"; mkdir -p "$dir"
  ln -s "$ROOT/data" "$dir/data"
  if [ $side = base ]; then awd=$BASE_TREE/build/awd; else awd=$ROOT/build/awd; fi
  echo "$COMMANDS" | while IFS= read -r cmd; do
    [ -z "$cmd" ] && continue
    (cd "$dir" && eval "\"$awd\" $cmd" >>"$dir/stdout.txt" 2>&1) || { echo "error: $side: awd $cmd failed (see $dir/stdout.txt)" >&2; exit 1; }
  done || exit 1
done
status=0
/usr/bin/python3 "$ROOT/tests/same_bytes_compare.py" "$WORK/base/out" "$WORK/head/out" || status=1
echo "same-bytes: $(echo "$COMMANDS" | grep -c .) commands, $(( $(date +%s) - start )) s"
exit $status
