#!/usr/bin/env bash
# slurm-cluster.sh: a Slurm cluster of one node on this machine, for tests. Not a real cluster:
# no authentication (auth/none, cred/none: any local user could submit as anyone), loopback only,
# no accounting (sacct has nothing), no cgroups, no systemd; state in a temporary folder. A Slurm
# without auth/none (or SLURM_TEST_AUTH=munge) gets munge instead: a munged of its own, with a key
# generated here, on a socket in the state folder.
#
#   .ci/slurm-cluster.sh run COMMAND...   start, run COMMAND with SLURM_CONF set, stop (always, by PID)
#   .ci/slurm-cluster.sh start            start and print `export SLURM_CONF=...`; the state folder
#   .ci/slurm-cluster.sh stop             is $SLURM_TEST_DIR (default /tmp/awd-slurm-test)
#
# Installs Debian's slurmctld, slurmd and slurm-client when missing (as root). Ports: $SLURM_TEST_PORT
# (slurmctld) and the next one (slurmd), default 16817.
set -euo pipefail

STATE=${SLURM_TEST_DIR:-/tmp/awd-slurm-test}
PORT=${SLURM_TEST_PORT:-16817}
NODE=awdnode
PLUGINS=/usr/lib/x86_64-linux-gnu/slurm-wlm
export SLURM_CONF=$STATE/slurm.conf

install_packages() {
  local missing=""
  for p in slurmctld slurmd slurm-client munge; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
  done
  [ -z "$missing" ] && return 0
  if [ "$(id -u)" != 0 ]; then echo "error: missing Debian packages:$missing; run: sudo apt-get install$missing" >&2; exit 1; fi
  echo "installing Debian packages:$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q --no-install-recommends $missing >/dev/null ||
    { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends $missing >/dev/null; } ||
    { echo "error: apt-get could not install:$missing" >&2; exit 1; }
}

# munge with a key of its own (when this Slurm has no auth/none): prints the slurm.conf lines
start_munge() {
  mkdir -m 700 -p "$STATE/munge"
  dd if=/dev/urandom of="$STATE/munge/munge.key" bs=1024 count=1 status=none
  chmod 400 "$STATE/munge/munge.key"
  munged -F -f --key-file="$STATE/munge/munge.key" --socket="$STATE/munge/munge.socket" --pid-file="$STATE/munge/munged.pid" \
    --log-file="$STATE/munge/munged.log" --seed-file="$STATE/munge/munged.seed" > "$STATE/munged.out" 2>&1 &
  echo $! > "$STATE/munged.pid.run"
  for _ in $(seq 50); do [ -S "$STATE/munge/munge.socket" ] && return 0; sleep 0.1; done
  echo "error: munged did not start; its log:" >&2; cat "$STATE/munged.out" "$STATE/munge/munged.log" >&2 || true; exit 1
}

write_conf() {
  local auth=${SLURM_TEST_AUTH:-}
  [ -n "$auth" ] || { [ -f "$PLUGINS/auth_none.so" ] && auth=none || auth=munge; }
  mkdir -p "$STATE/ctld" "$STATE/spool"
  local auth_lines="AuthType=auth/none
CredType=cred/none"
  if [ "$auth" = munge ]; then
    start_munge
    auth_lines="AuthType=auth/munge
AuthInfo=socket=$STATE/munge/munge.socket
CredType=cred/munge"
  fi
  cat > "$SLURM_CONF" <<EOF
# written by .ci/slurm-cluster.sh: one node on loopback, $auth authentication, for tests only
ClusterName=awdtest
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
$auth_lines
SlurmUser=$(id -un)
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/slurmctld.log
SlurmdLogFile=$STATE/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
MinJobAge=600
KillWait=5
NodeName=$NODE NodeHostname=localhost NodeAddr=127.0.0.1 CPUs=$(nproc) State=UNKNOWN
PartitionName=test Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
}

stop() {
  # jobs first (their slurmstepd processes belong to no daemon), then both daemons by PID
  if [ -f "$STATE/slurmctld.pid.run" ]; then
    timeout 10 scancel --quiet --user="$(id -un)" 2>/dev/null || true
    for _ in $(seq 20); do [ -z "$(timeout 5 squeue -h 2>/dev/null)" ] && break; sleep 0.5; done
  fi
  for daemon in slurmd slurmctld munged; do
    local file=$STATE/$daemon.pid.run
    [ -f "$file" ] || continue
    local pid; pid=$(cat "$file")
    if kill "$pid" 2>/dev/null; then
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
      kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null
    fi
    rm -f "$file"
  done
}

start() {
  install_packages
  for daemon in slurmctld slurmd munged; do
    [ -f "$STATE/$daemon.pid.run" ] && { echo "error: a test cluster seems to run already ($STATE); run: $0 stop" >&2; exit 1; }
  done
  rm -rf "$STATE"
  write_conf
  # -D: no daemonising, so $! is the daemon's own PID; -i: ignore state left by an earlier cluster
  slurmctld -D -i -f "$SLURM_CONF" > "$STATE/slurmctld.out" 2>&1 &
  echo $! > "$STATE/slurmctld.pid.run"
  slurmd -D -N "$NODE" -f "$SLURM_CONF" > "$STATE/slurmd.out" 2>&1 &
  echo $! > "$STATE/slurmd.pid.run"
  for _ in $(seq 120); do
    state=$(timeout 5 sinfo -h -n "$NODE" -o %T 2>/dev/null || true)
    [ "$state" = idle ] && { echo "test cluster up: node $NODE idle, $(sed -n 's/^AuthType=//p' "$SLURM_CONF"), SLURM_CONF=$SLURM_CONF"; return 0; }
    for daemon in slurmctld slurmd $([ -f "$STATE/munged.pid.run" ] && echo munged); do
      kill -0 "$(cat "$STATE/$daemon.pid.run")" 2>/dev/null || { echo "error: $daemon exited; its log:" >&2; tail -20 "$STATE/$daemon.log" "$STATE/$daemon.out" >&2 || true; exit 1; }
    done
    sleep 0.5
  done
  echo "error: node $NODE not idle after 60 s (state '$state'); logs in $STATE" >&2
  tail -20 "$STATE/slurmctld.log" "$STATE/slurmd.log" >&2 || true
  exit 1
}

case "${1:-}" in
  start)
    started=0
    trap '[ "$started" = 1 ] || stop' EXIT  # a failed start leaves nothing running
    start
    started=1
    echo "export SLURM_CONF=$SLURM_CONF"
    ;;
  stop) stop ;;
  run)
    shift
    [ $# -gt 0 ] || { echo "usage: $0 run COMMAND..." >&2; exit 2; }
    trap 'stop' EXIT  # whatever happens, both daemons stop
    start
    "$@"
    ;;
  *) echo "usage: $0 start | stop | run COMMAND..." >&2; exit 2 ;;
esac
