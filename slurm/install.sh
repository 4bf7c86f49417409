#!/usr/bin/env bash
# Install the packages of the local single-node SLURM cluster (Debian/Ubuntu, apt-get).
# slurm-wlm (slurmctld, slurmd, client commands), munge (auth), slurmdbd + mariadb-server (accounting).
# Idempotent: does nothing when every daemon is already installed.
set -euo pipefail

need=()
for cmd in munged slurmctld slurmd slurmdbd sbatch mariadbd; do
  command -v "$cmd" >/dev/null 2>&1 || need+=("$cmd")
done
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "slurm/install.sh: need root or sudo to apt-get install (missing: ${need[*]})" >&2; exit 1; }
  SUDO="sudo"
fi
echo "slurm/install.sh: installing slurm-wlm munge slurmdbd mariadb-server (missing: ${need[*]})"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends slurm-wlm slurmdbd munge mariadb-server mariadb-client >/dev/null
