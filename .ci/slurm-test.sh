#!/usr/bin/env bash
# slurm-test.sh: the grids on Slurm against the local engine, on the test cluster of
# .ci/slurm-cluster.sh (`make slurm-test` starts it, runs this, stops it). A tiny A-W sweep, a
# tiny two-valley grid, a two-run MER table and a tiny GAN grid (with one bisection round, submitted
# by the first report job) run on both engines and must give the same tables and figures (timing
# aside); one array task of the sweep is killed while it runs and must be reported with its log
# and exit code, then resubmitted alone; bad sbatch arguments and an unreachable controller must
# end in a clear error. About 2.5 minutes on 2 busy cores.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${SLURM_CONF:?run me through .ci/slurm-cluster.sh run}"
AWD=$PWD/build/awd
T=$(mktemp -d /tmp/awd-slurm-test-runs.XXXXXX)
trap 'rm -rf "$T"' EXIT
start=$(date +%s)
fail() { echo "slurm-test: FAIL: $*" >&2; exit 1; }
pass() { echo "slurm-test: ok: $*"; }
# squeue lists the job until it is over
wait_job() { for _ in $(seq 600); do [ -z "$(squeue -h -j "$1" 2>/dev/null)" ] && return 0; sleep 0.5; done; fail "job $1 still queued after 5 minutes"; }
same() {  # same FILE in two folders, byte for byte
  cmp -s "$2/$1" "$3/$1" || fail "$1 differs between $2 and $3"
}
same_json() {  # same JSON FILE in two folders, but for its timing and provenance (the command lines differ)
  /usr/bin/python3 -c 'import json, sys
strip = lambda p: {k: v for k, v in json.load(open(p)).items() if k not in ("seconds", "provenance")}
sys.exit(strip(sys.argv[1]) != strip(sys.argv[2]))' "$2/$1" "$3/$1" || fail "$1 differs between $2 and $3 (seconds and provenance aside)"
}

# 1. The A-W sweep: 3 runs, the second killed while it runs.
SWEEP=(sweep --param lr --values 0.02,0.05,0.1 --repeats 1 --train-args "--arch 784-8-8-10 --train-per-class 10 --test 50 --epochs 3")
"$AWD" "${SWEEP[@]}" --jobs 2 --out "$T/aw-local" > "$T/aw-local.out"
submitted=$("$AWD" "${SWEEP[@]}" --out "$T/aw-slurm" --engine slurm)
echo "$submitted"
array=$(echo "$submitted" | sed -n 's/^submitted job array \([0-9]*\):.*report job \([0-9]*\) .*/\1/p')
report=$(echo "$submitted" | sed -n 's/^submitted job array \([0-9]*\):.*report job \([0-9]*\) .*/\2/p')
[ -n "$array" ] && [ -n "$report" ] || fail "no job ids in: $submitted"
killed_log=$T/aw-slurm/lr=0.05/seed0.run.log
for _ in $(seq 600); do  # until the run itself has started in array task 1
  grep -q "^running slurm ${array}_1" "$killed_log.exit" 2>/dev/null && break
  [ -z "$(squeue -h -j "${array}_1" 2>/dev/null)" ] && fail "array task ${array}_1 ended before it could be killed"
  sleep 0.2
done
scancel "${array}_1"
wait_job "$report"
log=$T/aw-slurm/engine/logs/report-$report.out
grep -q "lr=0.05/seed0: killed (SIGTERM: scancel or the time limit), exit code 143; log $T/aw-slurm/lr=0.05/seed0.run.log" "$log" ||
  { cat "$log"; fail "the report does not show the killed run with its exit code and log"; }
grep -q "1 of 3 runs failed" "$log" || { cat "$log"; fail "the report does not count the killed run"; }
[ "$(cat "$T/aw-slurm/engine/report-$report.exit")" = 1 ] || fail "the report job did not fail with a run missing"
pass "a killed array task is reported with its exit code and log"
again=$("$AWD" "${SWEEP[@]}" --out "$T/aw-slurm" --engine slurm --wait)
echo "$again" | grep -q "submitted job array [0-9]*: 1 of 3 runs in 1 tasks" || { echo "$again"; fail "the rerun did not resubmit the killed run alone"; }
[ "$(cut -f1 "$T/aw-slurm/engine/tasks.tsv")" = "lr=0.05/seed0" ] || fail "tasks.tsv of the rerun: $(cat "$T/aw-slurm/engine/tasks.tsv")"
pass "the rerun resubmitted only the killed run"
diff <(cut -d, -f1-18 "$T/aw-local/sweep.csv") <(cut -d, -f1-18 "$T/aw-slurm/sweep.csv") || fail "sweep.csv differs (seconds aside)"
same_json sweep_summary.json "$T/aw-local" "$T/aw-slurm"
for f in gap_vs_estimates.png determinants.png sigma_g_spectrum.png; do same "$f" "$T/aw-local" "$T/aw-slurm"; done
pass "A-W sweep: local and Slurm tables and figures agree"

# 2. The two-valley grid: 3 x 2 cells, two per array task.
GRID=(landscape --model two-valley --eta 0.02,0.05,0.1 --sigma 0.03,0.1 --y0 5 --runs 200 --steps 2000)
"$AWD" "${GRID[@]}" --out "$T/tv-local" > "$T/tv-local.out"
"$AWD" "${GRID[@]}" --out "$T/tv-slurm" --engine slurm --runs-per-task 2 --wait > "$T/tv-slurm.out" || { cat "$T/tv-slurm.out"; fail "two-valley on Slurm"; }
grep -q "6 of 6 runs in 3 tasks (2 per task)" "$T/tv-slurm.out" || fail "two-valley: not 3 tasks of 2 cells"
same_json summary.json "$T/tv-local" "$T/tv-slurm"
for f in trace.csv trace.png P_flat_grid.png kramers_P_flat_grid.png mean_freeze_time_grid.png; do same "$f" "$T/tv-local" "$T/tv-slurm"; done
pass "two-valley grid: local and Slurm tables and figures agree"

# 3. The MER table from a task list of two short runs (the format of experiments/mer/mer_runs.sh).
for engine in local slurm; do
  for m in "online --lr 3e-4 --memories 0" "er --lr 0.1 --memories 50 --replay 5"; do
    printf '%s\t%s\n' "${m%% *}-s1" "$AWD continual --stream rotations --tasks 3 --per-task 50 --test 100 --curve-every 50 --method $m --seed 1 --out $T/mer-$engine/${m%% *}-s1"
  done > "$T/mer-$engine.tsv"
  "$AWD" continual-table --tasks "$T/mer-$engine.tsv" --runs "$T/mer-$engine" --out "$T/mer-$engine" --engine "$engine" \
    $([ "$engine" = slurm ] && echo --wait) > "$T/mer-$engine.out" ||
    { cat "$T/mer-$engine.out"; fail "MER table, $engine engine"; }
done
for f in table.md gap.csv; do same "$f" "$T/mer-local" "$T/mer-slurm"; done
pass "MER table: local and Slurm agree"

# 4. The GAN grid: a ring8 transition (2 g2/g1 x 4 lrD, T = 50) and a one-round mnist100 bisection
# (4 lrD, 3 steps): on Slurm the first report job submits the bisection's round, --wait follows it.
GAN=(gan-paper --parts transition,mnist --seeds 1 --ratios 0,0.98 --ring8-steps 50 --mnist-settings earlier --mnist-seeds 1 --mnist-steps 3 --mnist-rounds 1 --threads 2)
"$AWD" "${GAN[@]}" --out "$T/gan-local" > "$T/gan-local.out" 2>&1 || { cat "$T/gan-local.out"; fail "GAN grid, local engine"; }
"$AWD" "${GAN[@]}" --out "$T/gan-slurm" --engine slurm --runs-per-task 4 --wait > "$T/gan-slurm.out" 2>&1 || { cat "$T/gan-slurm.out"; fail "GAN grid, Slurm engine"; }
grep -q "submitted job array [0-9]*: 16 of 16 runs in 4 tasks" "$T/gan-slurm.out" || { cat "$T/gan-slurm.out"; fail "GAN grid: not 16 runs in 4 tasks"; }
grep -q "submitted the next stage; waiting for report job" "$T/gan-slurm.out" || { cat "$T/gan-slurm.out"; fail "GAN grid: --wait did not follow the bisection's next stage"; }
for f in transition.csv mnist.csv transition.png mnist.png; do same "$f" "$T/gan-local" "$T/gan-slurm"; done
/usr/bin/python3 -c 'import json, sys
def strip(v):  # timing, thread count and provenance aside, at any depth
    if isinstance(v, dict): return {k: strip(x) for k, x in v.items() if k not in ("seconds", "threads", "provenance")}
    return [strip(x) for x in v] if isinstance(v, list) else v
a, b = (strip(json.load(open(p))) for p in sys.argv[1:])
sys.exit(a != b or a["mnist"]["complete"] is not True)' "$T/gan-local/gan_paper.json" "$T/gan-slurm/gan_paper.json" ||
  fail "gan_paper.json differs between the engines (seconds, threads and provenance aside) or the bisection is not complete"
pass "GAN grid: local and Slurm tables, figures and gan_paper.json agree, the bisection's round submitted by the report job"

# 5. Clear errors: sbatch refusing its arguments, a controller that does not answer.
if out=$("$AWD" "${GRID[@]}" --out "$T/tv-bad" --engine slurm --slurm-args "--partition=nosuch" 2>&1); then fail "a bad partition was accepted"; fi
echo "$out" | grep -q "sbatch refused the job array (exit 1): .*invalid partition" || fail "bad partition: $out"
pass "bad sbatch arguments: $out"
sed "s/^SlurmctldPort=.*/SlurmctldPort=9/" "$SLURM_CONF" > "$T/nowhere.conf"
t0=$(date +%s)
if out=$(SLURM_CONF=$T/nowhere.conf "$AWD" "${GRID[@]}" --out "$T/tv-nowhere" --engine slurm 2>&1); then fail "an unreachable controller was accepted"; fi
echo "$out" | grep -q "sbatch refused the job array\|did not answer within" || fail "unreachable controller: $out"
pass "unreachable controller, after $(( $(date +%s) - t0 )) s: $out"

echo "slurm-test: all passed in $(( $(date +%s) - start )) s"
