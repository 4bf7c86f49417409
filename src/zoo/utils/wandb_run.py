"""Weights & Biases: one naming scheme, plots, the end of a run, and reading an offline run back.

Naming (``conf/logger/wandb.yaml``): project ``zoo``, group = the experiment (``task_name``), run
name = the run's command-line overrides (``lr=0.01,dropout=0.5``), so the jobs of a sweep sit in one
grouped dashboard, one run per parameter set. Without an API key (and no ``WANDB_MODE``) runs are
offline (``${wandb_mode:}``) and the ``wandb sync`` command is printed at the end.

* ``${wandb_mode:}``: ``online``, ``offline`` or ``disabled`` (from :func:`zoo.utils.resolvers.wandb_offline`).
* :func:`finish_wandb`: at the end of ``zoo.cli.train`` (rank 0): plots the logged curves to
  ``<run dir>/plots/curves.png``, logs every PNG of the run dir as ``wandb.Image``, closes the run
  (so the next job of an in-process sweep starts its own) and prints ``wandb sync <run dir>``.
* :func:`read_offline_run`: the metric keys, config keys, images and artifacts an offline run holds,
  read from its ``run-<id>.wandb`` file (a LevelDB-style log of protobuf records).
"""

from __future__ import annotations

import logging
import os
import struct
from pathlib import Path
from typing import Any, Iterable, Optional

from omegaconf import OmegaConf

from zoo.utils.resolvers import wandb_offline

__all__ = ["wandb_mode", "register_wandb_resolvers", "plot_metric_curves", "finish_wandb", "read_offline_run"]

log = logging.getLogger(__name__)


def wandb_mode() -> str:
    """``disabled`` when ``WANDB_MODE`` says so, else ``offline`` without credentials, else ``online``."""
    if os.environ.get("WANDB_MODE") == "disabled":
        return "disabled"
    return "offline" if wandb_offline() else "online"


def register_wandb_resolvers() -> None:
    """Register ``${wandb_mode:}`` once (idempotent)."""
    if not OmegaConf.has_resolver("wandb_mode"):
        OmegaConf.register_new_resolver("wandb_mode", wandb_mode, use_cache=False)


def plot_metric_curves(metrics_csv: Path, out_png: Path) -> Optional[Path]:
    """Plot every epoch-level ``train/*`` and ``val/*`` metric of a CSVLogger file, one panel per metric
    (:func:`zoo.utils.plots.save_metric_curves`).

    :returns: ``out_png``, or ``None`` when the file holds no epoch metrics.
    """
    from zoo.utils.plots import save_metric_curves

    return Path(out_png) if save_metric_curves(metrics_csv, out_png) is not None else None


def _pngs(run_dir: Path) -> list[Path]:
    return sorted(p for p in run_dir.rglob("*.png") if "wandb" not in p.relative_to(run_dir).parts)


def finish_wandb(loggers: Iterable[Any], run_dir: Optional[Path]) -> None:
    """Log the run dir's plots to the W&B run of ``loggers`` (if any), finish it, print the sync command."""
    from lightning.pytorch.loggers import CSVLogger, WandbLogger

    loggers = list(loggers)
    wandb_loggers = [lg for lg in loggers if isinstance(lg, WandbLogger)]
    if not wandb_loggers:
        return
    import wandb

    run = wandb.run
    if run is None:
        return
    if run_dir is not None:
        for lg in loggers:
            if isinstance(lg, CSVLogger):
                plot_metric_curves(Path(lg.log_dir) / "metrics.csv", run_dir / "plots" / "curves.png")
        images = {f"plots/{p.relative_to(run_dir).with_suffix('').as_posix().replace('plots/', '', 1)}": wandb.Image(str(p))
                  for p in _pngs(run_dir)}
        if images:
            run.log(images)
    offline = run.settings.mode in ("offline", "dryrun")
    local_dir = Path(run.dir).parent if run.dir else None
    run.finish()
    if offline and local_dir is not None:
        print(f"W&B ran offline; upload with: wandb sync {local_dir}", flush=True)


# -- reading an offline run back --------------------------------------------------------------------
_BLOCK = 32768
_HEADER = 7


def _records(path: Path) -> Iterable[bytes]:
    """The payloads of a W&B ``.wandb`` file: a 7-byte file header, then LevelDB-log records
    (crc32c 4 bytes, length 2, type 1: full=1, first=2, middle=3, last=4) in 32 KiB blocks."""
    data = path.read_bytes()
    if data[:4] != b":W&B":
        raise ValueError(f"{path}: not a W&B run file (header {data[:4]!r})")
    pos, pending = _HEADER, b""
    while pos + _HEADER <= len(data):
        room = _BLOCK - pos % _BLOCK
        if room < _HEADER:
            pos += room
            continue
        _, length, kind = struct.unpack("<IHB", data[pos:pos + _HEADER])
        payload = data[pos + _HEADER:pos + _HEADER + length]
        pos += _HEADER + length
        if kind == 0 and length == 0:
            continue
        if kind == 1:
            yield payload
        elif kind == 2:
            pending = payload
        elif kind == 3:
            pending += payload
        elif kind == 4:
            yield pending + payload
            pending = b""


def read_offline_run(run_dir: Path) -> dict[str, Any]:
    """What an offline run logged: ``metrics`` (history keys), ``summary`` keys, ``config`` keys,
    ``images`` (keys of logged images), ``artifacts`` (``(name, type, aliases)``), ``run``
    (project, group, name), ``complete`` (the run's exit record was written: W&B's service writes
    the file asynchronously, so a run read right after ``finish`` may still be growing).

    :param run_dir: ``.../wandb/offline-run-<time>-<id>`` (holds ``run-<id>.wandb``).
    :raises FileNotFoundError: no ``.wandb`` file in ``run_dir``.
    """
    from wandb.proto import wandb_internal_pb2 as pb

    files = sorted(Path(run_dir).glob("run-*.wandb"))
    if not files:
        raise FileNotFoundError(f"no run-*.wandb file in {run_dir}")
    out: dict[str, Any] = {"metrics": set(), "summary": set(), "config": set(), "images": set(),
                           "artifacts": [], "run": {}, "complete": False}
    for payload in _records(files[0]):
        record = pb.Record()
        record.ParseFromString(payload)
        kind = record.WhichOneof("record_type")
        if kind == "history":
            for item in record.history.item:
                key = item.key or "/".join(item.nested_key)
                if key.endswith("/_type") and "image-file" in item.value_json:
                    out["images"].add(key[: -len("/_type")])
                elif not key.startswith("_"):
                    out["metrics"].add(key)
        elif kind == "summary":
            out["summary"].update(i.key or "/".join(i.nested_key) for i in record.summary.update)
        elif kind == "config":
            out["config"].update(i.key or "/".join(i.nested_key) for i in record.config.update)
        elif kind == "run":
            out["run"] = {"project": record.run.project, "group": record.run.run_group,
                          "name": record.run.display_name, "job_type": record.run.job_type}
            out["config"].update(i.key or "/".join(i.nested_key) for i in record.run.config.update)
        elif kind == "artifact":
            out["artifacts"].append((record.artifact.name, record.artifact.type, list(record.artifact.aliases)))
        elif kind == "exit":
            out["complete"] = True
    out["metrics"] = {k for k in out["metrics"] if k.rsplit("/", 1)[0] not in out["images"]}
    return out
