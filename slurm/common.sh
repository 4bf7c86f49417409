# Shared by start_cluster.sh and stop_cluster.sh (sourced, run as root).
#
# The state directory holds the daemons' PID files, logs, spool and database; root writes through
# it, so it must be root's alone: a real directory (no symlink), owned by root, writable by nobody
# else. By default start_cluster.sh makes a fresh one with mktemp and records its path in
# /etc/slurm/slurm.conf (root-owned), where stop_cluster.sh finds it again.

ZOO_SLURM_ETC=/etc/slurm
ZOO_SLURM_MARK="# written by zoo slurm/start_cluster.sh"

# check_state_dir <dir>: fail (message on stderr) unless <dir> is a directory owned by root that no
# group or other user may write to.
check_state_dir() {
  local dir=$1 owner mode
  if [ -L "$dir" ] || [ ! -d "$dir" ]; then
    echo "slurm: state directory $dir is not a directory (or is a symlink); refusing to use it" >&2
    return 1
  fi
  owner=$(stat -c %u "$dir")
  mode=$(stat -c %a "$dir")
  if [ "$owner" != "$(id -u)" ]; then
    echo "slurm: state directory $dir is owned by uid $owner, not by uid $(id -u) who runs the cluster;" \
         "refusing to use it (remove it, or set ZOO_SLURM_STATE to a directory of your own)" >&2
    return 1
  fi
  if (( 8#$mode & 8#022 )); then
    echo "slurm: state directory $dir has mode $mode (group- or world-writable); refusing to use it" \
         "(chmod go-w it, or set ZOO_SLURM_STATE to a private directory)" >&2
    return 1
  fi
}

# recorded_state_dir: the state directory named in a slurm.conf this script wrote, or nothing.
recorded_state_dir() {
  local conf="$ZOO_SLURM_ETC/slurm.conf"
  [ -f "$conf" ] && grep -qF "$ZOO_SLURM_MARK" "$conf" || return 0
  sed -n 's/^StateSaveLocation=\(.*\)\/ctld$/\1/p' "$conf" | head -n 1
}

# daemon_pid <state dir> <name>: print the PID recorded in <state dir>/pids/<name>.pid if that
# process is alive and really is <name> (its executable is the installed <name>, symlinks resolved
# (Debian's slurmd is slurmd-wlm), and its command name is <name>); print nothing otherwise, so a
# stale or planted PID file never leads to killing an unrelated process.
daemon_pid() {
  local state=$1 name=$2 file pid exe comm want
  file="$state/pids/$name.pid"
  want=$(command -v "$name" 2>/dev/null || echo "/usr/sbin/$name")
  want=$(readlink -f "$want")
  [ -f "$file" ] || return 0
  pid=$(tr -dc 0-9 <"$file")
  [ -n "$pid" ] && [ -d "/proc/$pid" ] || return 0
  exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 0
  exe=${exe% (deleted)}
  comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 0
  if [ "$exe" = "$want" ] && [ "$comm" = "$name" ]; then
    echo "$pid"
  else
    echo "slurm: $file names pid $pid, which is '$comm' ($exe), not $name; not touching it" >&2
  fi
}
