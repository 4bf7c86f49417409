#!/usr/bin/env bash
# Stop the local cluster started by slurm/start_cluster.sh: cancel every job, wait for the jobs'
# processes to end, then stop the daemons by the PIDs it recorded, in reverse start order.
# Leaves nothing running; keeps the logs in $ZOO_SLURM_STATE/log.
set -uo pipefail
STATE="${ZOO_SLURM_STATE:-/tmp/zoo-slurm}"
log() { echo "[stop_cluster] $*"; }

if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then
  exec sudo --preserve-env=ZOO_SLURM_STATE bash "$0" "$@"
fi
if [ ! -d "$STATE/pids" ]; then
  log "nothing to stop (no $STATE/pids)"
  exit 0
fi

if [ -f "$STATE/pids/slurmctld.pid" ] && kill -0 "$(cat "$STATE/pids/slurmctld.pid")" 2>/dev/null; then
  jobs=$(squeue -h -o %i 2>/dev/null | tr '\n' ' ')
  if [ -n "${jobs// /}" ]; then
    log "cancelling jobs: $jobs"
    # shellcheck disable=SC2086
    scancel $jobs 2>/dev/null || true
    for _ in $(seq 1 150); do
      [ -z "$(squeue -h -o %i 2>/dev/null)" ] && break
      sleep 0.2
    done
  fi
fi

stop_pid() {  # stop_pid <name>: TERM, then KILL after 20 s
  local name=$1 file="$STATE/pids/$1.pid" pid
  [ -f "$file" ] || return 0
  pid=$(cat "$file")
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    log "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 1 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.2
    done
    if kill -0 "$pid" 2>/dev/null; then
      log "$name did not stop: SIGKILL"
      kill -KILL "$pid" 2>/dev/null
    fi
  fi
  rm -f "$file"
}

for daemon in slurmd slurmctld slurmdbd mariadbd munged; do
  stop_pid "$daemon"
done
log "stopped; logs in $STATE/log"
