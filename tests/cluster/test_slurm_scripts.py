"""slurm/start_cluster.sh and stop_cluster.sh keep their state private and signal only their own
daemons. The refusals run before anything is started, so they pass whether or not the cluster is up;
the last test reads the running cluster's files (``make test-slurm`` starts it)."""

from __future__ import annotations

import os
import pwd
import re
import stat
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slurm


@pytest.fixture(autouse=True)
def _root():
    if os.geteuid() != 0:
        pytest.fail("the local SLURM cluster scripts run as root (make test-slurm runs them so)")


def _script(name: str, state: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(ROOT / "slurm" / name)], env={**os.environ, "ZOO_SLURM_STATE": str(state)},
                          capture_output=True, text=True, timeout=120)


def test_start_refuses_a_state_dir_owned_by_another_user(tmp_path):
    state = tmp_path / "state"
    state.mkdir(mode=0o755)
    nobody = pwd.getpwnam("nobody")
    os.chown(state, nobody.pw_uid, nobody.pw_gid)
    out = _script("start_cluster.sh", state)
    assert out.returncode == 1, out.stdout + out.stderr
    assert f"state directory {state} is owned by uid {nobody.pw_uid}" in out.stderr
    assert list(state.iterdir()) == []  # nothing was written through it


@pytest.mark.parametrize("mode", [0o777, 0o775, 0o1777])
def test_start_refuses_a_group_or_world_writable_state_dir(tmp_path, mode):
    state = tmp_path / "state"
    state.mkdir()
    state.chmod(mode)
    out = _script("start_cluster.sh", state)
    assert out.returncode == 1, out.stdout + out.stderr
    assert f"has mode {mode:o} (group- or world-writable)" in out.stderr
    assert list(state.iterdir()) == []


def test_start_refuses_a_symlinked_state_dir(tmp_path):
    (tmp_path / "real").mkdir(mode=0o755)
    (tmp_path / "link").symlink_to(tmp_path / "real")
    out = _script("start_cluster.sh", tmp_path / "link")
    assert out.returncode == 1 and "is a symlink" in out.stderr, out.stdout + out.stderr
    assert list((tmp_path / "real").iterdir()) == []


def test_stop_never_signals_a_pid_that_is_not_its_daemon(tmp_path):
    state = tmp_path / "state"
    (state / "pids").mkdir(parents=True)
    state.chmod(0o755)
    victim = subprocess.Popen(["sleep", "120"])
    try:
        for daemon in ("slurmd", "slurmctld", "slurmdbd", "mariadbd", "munged"):
            (state / "pids" / f"{daemon}.pid").write_text(f"{victim.pid}\n")
        out = _script("stop_cluster.sh", state)
        assert out.returncode == 0, out.stdout + out.stderr
        assert victim.poll() is None, "stop_cluster.sh killed a process that is not a SLURM daemon"
        assert f"names pid {victim.pid}, which is 'sleep'" in out.stderr
        assert "not touching it" in out.stderr and "stopping" not in out.stdout
    finally:
        victim.kill()
        victim.wait()


def test_running_cluster_state_and_secrets_are_private():
    conf = Path("/etc/slurm/slurm.conf").read_text()
    assert "written by zoo slurm/start_cluster.sh" in conf
    state = Path(re.search(r"^StateSaveLocation=(.*)/ctld$", conf, re.M).group(1))
    info = state.lstat()
    assert stat.S_ISDIR(info.st_mode) and info.st_uid == 0
    assert info.st_mode & 0o022 == 0, oct(info.st_mode)
    dbd = Path("/etc/slurm/slurmdbd.conf")
    assert stat.S_IMODE(dbd.stat().st_mode) == 0o600
    password = re.search(r"^StoragePass=(.*)$", dbd.read_text(), re.M).group(1)
    assert password != "zoo" and len(password) >= 32 and password.isalnum()
    key = Path("/etc/munge/munge.key").stat()
    assert key.st_uid == pwd.getpwnam("munge").pw_uid and stat.S_IMODE(key.st_mode) & 0o077 == 0
