#!/usr/bin/env bash
# Start a real single-node SLURM cluster (with accounting) on this machine, for tests and demos.
#
#   slurm/start_cluster.sh        # installs the packages with apt-get when missing, then starts
#   slurm/stop_cluster.sh         # cancels every job, stops the daemons by PID
#
# There is no systemd here, so the daemons are started by hand, in dependency order:
#   munged (as user munge) -> mariadbd -> slurmdbd -> slurmctld -> slurmd
# Settings that matter (measured, see docs/cluster.md):
#   * SelectType=select/cons_tres + CR_Core_Memory needs DefMemPerCPU, else every job takes the
#     node's whole memory and jobs run one at a time;
#   * MailProg=/bin/true (no mail server);
#   * accounting (slurmdbd + MariaDB): without it submitit waits forever on a job cancelled before it
#     wrote a result; with it, submitit reads the state from sacct and raises within ~15 s;
#   * AuthInfo=cred_expire: a requeued job waits this long in PENDING (BeginTime); 120 s by default.
#
# Environment: ZOO_SLURM_STATE (state/log dir; default a fresh private `mktemp -d /tmp/zoo-slurm.XXXXXX`,
# whose path slurm.conf records for stop_cluster.sh; a given directory must be root's and writable by
# no one else, else the script refuses it), ZOO_SLURM_CPUS (CPUs the node declares, default nproc;
# more than nproc oversubscribes), ZOO_SLURM_MEM_PER_CPU (MB, default 2048), ZOO_SLURM_CRED_EXPIRE
# (s, default 30).
# The config goes to /etc/slurm (where every slurm command looks); a slurm.conf not written by this
# script is never overwritten. The munge key is created under umask 077; the accounting database
# password is drawn at random at each start and written only to the root-only slurmdbd.conf.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=slurm/common.sh
. "$HERE/common.sh"
ETC=$ZOO_SLURM_ETC
MARK=$ZOO_SLURM_MARK
CLUSTER=zoo
PARTITION=zoo

if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    exec sudo --preserve-env=ZOO_SLURM_STATE,ZOO_SLURM_CPUS,ZOO_SLURM_MEM_PER_CPU,ZOO_SLURM_CRED_EXPIRE bash "$0" "$@"
  fi
  echo "start_cluster.sh: run as root (it starts munged, mariadbd and the slurm daemons)" >&2
  exit 1
fi
bash "$HERE/install.sh"

if [ -f "$ETC/slurm.conf" ] && ! grep -qF "$MARK" "$ETC/slurm.conf"; then
  echo "start_cluster.sh: $ETC/slurm.conf exists and was not written by zoo; not touching it" >&2
  exit 1
fi
# a given state directory that exists must be private, whatever else happens
if [ -n "${ZOO_SLURM_STATE:-}" ] && { [ -e "$ZOO_SLURM_STATE" ] || [ -L "$ZOO_SLURM_STATE" ]; }; then
  check_state_dir "$ZOO_SLURM_STATE" || exit 1
fi
RUNNING_STATE="$(recorded_state_dir)"
if [ -n "$RUNNING_STATE" ] && check_state_dir "$RUNNING_STATE" 2>/dev/null \
    && [ -n "$(daemon_pid "$RUNNING_STATE" slurmd 2>/dev/null)" ]; then
  echo "start_cluster.sh: already running (state in $RUNNING_STATE); stop it with slurm/stop_cluster.sh"
  exit 0
fi
umask 022
if [ -n "${ZOO_SLURM_STATE:-}" ]; then
  STATE="$ZOO_SLURM_STATE"
  # a new directory is made here (mkdir fails rather than follow anything planted meanwhile)
  [ -e "$STATE" ] || [ -L "$STATE" ] || mkdir -m 0755 "$STATE"
else
  STATE="$(mktemp -d /tmp/zoo-slurm.XXXXXX)"
  # mariadbd (user mysql) must reach $STATE/mysql: readable, writable by root alone
  chmod 0755 "$STATE"
fi
check_state_dir "$STATE"
STATE="$(cd "$STATE" && pwd -P)"

NODE="$(hostname -s)"
NPROC="$(nproc)"
CPUS="${ZOO_SLURM_CPUS:-$NPROC}"
MEM_TOTAL_MB=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 ))
REAL_MEM=$(( MEM_TOTAL_MB * 8 / 10 ))
MEM_PER_CPU="${ZOO_SLURM_MEM_PER_CPU:-2048}"
CRED_EXPIRE="${ZOO_SLURM_CRED_EXPIRE:-30}"
GRES_LINE=""
GPUS=0
if ls /dev/nvidia[0-9]* >/dev/null 2>&1; then
  GPUS=$(ls -1 /dev/nvidia[0-9]* | wc -l)
  GRES_LINE="Gres=gpu:$GPUS"
fi

mkdir -p "$STATE"/{pids,log,ctld,d,mysql} "$ETC"
log() { echo "[start_cluster] $*"; }
wait_for() {  # wait_for <seconds> <description> <command...>
  local t=$1 what=$2; shift 2
  for _ in $(seq 1 $((t * 5))); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  echo "start_cluster.sh: timed out after ${t}s waiting for $what; logs in $STATE/log" >&2
  return 1
}

# -- config -----------------------------------------------------------------------------------
cat > "$ETC/slurm.conf" <<EOF
$MARK; node $NODE, state in $STATE
ClusterName=$CLUSTER
SlurmctldHost=$NODE
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# a requeued job waits cred_expire seconds before it may start again (default 120)
AuthInfo=cred_expire=$CRED_EXPIRE
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldPidFile=$STATE/pids/slurmctld.pid
SlurmdPidFile=$STATE/pids/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# without it each job is given the whole node's memory and jobs run one at a time
DefMemPerCPU=$MEM_PER_CPU
MailProg=/bin/true
KillWait=5
InactiveLimit=0
MinJobAge=300
JobRequeue=1
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
SlurmdParameters=config_overrides
${GRES_LINE:+GresTypes=gpu}
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$REAL_MEM $GRES_LINE State=UNKNOWN
PartitionName=$PARTITION Nodes=$NODE Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
EOF
if [ "$GPUS" -gt 0 ]; then
  echo "NodeName=$NODE Name=gpu File=/dev/nvidia[0-$((GPUS - 1))]" > "$ETC/gres.conf"
fi
DB_PASS="$(head -c 48 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 32)"
rm -f "$ETC/slurmdbd.conf"
(umask 077; cat > "$ETC/slurmdbd.conf") <<EOF
$MARK
AuthType=auth/munge
DbdHost=localhost
SlurmUser=root
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=$DB_PASS
StorageLoc=slurm_acct_db
PidFile=$STATE/pids/slurmdbd.pid
LogFile=$STATE/log/slurmdbd.log
DebugLevel=info
EOF
chmod 600 "$ETC/slurmdbd.conf"

# -- munged (as user munge) -------------------------------------------------------------------
mkdir -p /run/munge /var/lib/munge /var/log/munge
chown munge:munge /run/munge /var/lib/munge /var/log/munge
if [ ! -s /etc/munge/munge.key ]; then
  (umask 077; dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none)
  chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
fi
if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  log "munged already running (not started by zoo, left alone)"
else
  log "starting munged"
  runuser -u munge -- /usr/sbin/munged --pid-file=/run/munge/munged.pid
  wait_for 10 munged bash -c 'munge -n | unmunge'
  cp /run/munge/munged.pid "$STATE/pids/munged.pid"
fi

# -- mariadbd (accounting storage) ------------------------------------------------------------
mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld
chown mysql:mysql "$STATE/mysql"
if [ ! -d "$STATE/mysql/mysql" ]; then
  log "initialising MariaDB in $STATE/mysql"
  mariadb-install-db --user=mysql --datadir="$STATE/mysql" --auth-root-authentication-method=socket \
    --skip-test-db >"$STATE/log/mariadb-install.log" 2>&1
fi
log "starting mariadbd"
# mariadbd runs in the foreground: detach it; its own pid file is the record
setsid /usr/sbin/mariadbd --user=mysql --datadir="$STATE/mysql" --socket=/run/mysqld/mysqld.sock \
  --pid-file=/run/mysqld/mariadbd.pid --skip-networking --log-error="$STATE/mysql/mariadb.err" \
  </dev/null >/dev/null 2>&1 &
wait_for 60 mariadbd mariadb --socket=/run/mysqld/mysqld.sock -e 'select 1'
cp /run/mysqld/mariadbd.pid "$STATE/pids/mariadbd.pid"
# the password goes through stdin, never a command line other users could read in ps
mariadb --socket=/run/mysqld/mysqld.sock <<EOF
CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$DB_PASS';
ALTER USER 'slurm'@'localhost' IDENTIFIED BY '$DB_PASS';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost'; FLUSH PRIVILEGES;
EOF

# -- slurmdbd, slurmctld, slurmd --------------------------------------------------------------
log "starting slurmdbd"
/usr/sbin/slurmdbd
wait_for 60 slurmdbd sacctmgr -n list cluster
sacctmgr -i add cluster "$CLUSTER" >/dev/null 2>&1 || true
log "starting slurmctld"
/usr/sbin/slurmctld -c
wait_for 60 slurmctld scontrol ping
log "starting slurmd"
/usr/sbin/slurmd
node_idle() { sinfo -h -n "$NODE" -o %T | grep -qE '^(idle|mixed|allocated)'; }
if ! wait_for 60 "node $NODE to become idle" node_idle; then
  sinfo -N -l >&2 || true
  exit 1
fi
log "cluster '$CLUSTER' up: node $NODE, $CPUS CPUs, ${REAL_MEM} MB, $GPUS GPUs, DefMemPerCPU=$MEM_PER_CPU; state in $STATE"
sinfo
