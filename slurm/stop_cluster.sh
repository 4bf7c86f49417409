#!/usr/bin/env bash
# Stop the local cluster started by slurm/start_cluster.sh: cancel every job, wait for the jobs'
# processes to end, then stop the daemons by the PIDs it recorded, in reverse start order.
# Leaves nothing running; keeps the logs in <state dir>/log. The state directory is
# $ZOO_SLURM_STATE, else the one start_cluster.sh recorded in /etc/slurm/slurm.conf; a PID is
# signalled only when that process is the daemon its file names (checked in /proc).
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=slurm/common.sh
. "$HERE/common.sh"
log() { echo "[stop_cluster] $*"; }

if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then
  exec sudo --preserve-env=ZOO_SLURM_STATE bash "$0" "$@"
fi
STATE="${ZOO_SLURM_STATE:-$(recorded_state_dir)}"
if [ -z "$STATE" ] || [ ! -d "$STATE/pids" ]; then
  log "nothing to stop (no state directory${STATE:+: no $STATE/pids})"
  exit 0
fi
check_state_dir "$STATE" || exit 1

if [ -n "$(daemon_pid "$STATE" slurmctld)" ]; then
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

stop_pid() {  # stop_pid <name>: TERM, then KILL after 20 s, only if the PID is still <name>
  local name=$1 file="$STATE/pids/$1.pid" pid
  [ -f "$file" ] || return 0
  pid=$(daemon_pid "$STATE" "$name")
  if [ -n "$pid" ]; then
    log "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 1 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.2
    done
    if [ -n "$(daemon_pid "$STATE" "$name" 2>/dev/null)" ]; then
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
