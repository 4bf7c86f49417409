"""Weights & Biases: one naming scheme, plots, the end of a run, and reading an offline run back.

Naming (``conf/logger/wandb.yaml``): project ``zoo``, group = the experiment (``task_name``), run
name = the run's command-line overrides (``lr=0.01,dropout=0.5``), so the jobs of a sweep sit in one
grouped dashboard, one run per parameter set. Without an API key (and no ``WANDB_MODE``) runs are
offline (``${wandb_mode:}``) and the ``wandb sync`` command is printed at the end.

* ``${wandb_mode:}``: ``online``, ``offline`` or ``disabled`` (from :func:`zoo.utils.resolvers.wandb_offline`).
* :func:`finish_wandb`: at the end of ``zoo.cli.train`` (rank 0): plots the logged curves to
  ``<run dir>/plots/curves.png``, logs every PNG of the run dir as ``wandb.Image``, closes the run
  (so the next job of an in-process sweep starts its own) and prints ``wandb sync <run dir>``.
* :func:`prepare_wandb_run`: at start-up (before the loggers are built): one W&B run id per run
  directory, kept in ``<run dir>/wandb_id`` and reused with ``resume="allow"``, so a resumed run
  (``ckpt_path=...``: the id is also looked up beside the checkpoint) and a requeued SLURM job
  (same run directory) log to the same W&B run; and a run that a failed earlier job of this process
  left open is finished with exit code 1 first, so the next job of a sweep opens its own.
* :class:`FinishWandbOnFailure`: a job that fails inside ``fit``/``test`` finishes its W&B run with
  exit code 1 (Lightning only calls ``finalize("failed")``, which leaves the run open).
* :func:`read_offline_run`: the metric keys, config keys, images and artifacts an offline run holds,
  read from its ``run-<id>.wandb`` file (a LevelDB-style log of protobuf records).
"""

from __future__ import annotations

import logging
import os
import secrets
import string
import struct
from pathlib import Path
from typing import Any, Iterable, Optional

from lightning.pytorch import Callback
from omegaconf import DictConfig, OmegaConf, open_dict

from zoo.utils.resolvers import wandb_offline

__all__ = ["wandb_mode", "register_wandb_resolvers", "plot_metric_curves", "finish_wandb", "read_offline_run",
           "WANDB_ID_FILE", "prepare_wandb_run", "FinishWandbOnFailure", "wandb_logger_nodes"]

#: file in the run directory holding the run's W&B id
WANDB_ID_FILE = "wandb_id"

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


def wandb_logger_nodes(cfg: DictConfig) -> list[DictConfig]:
    """The ``logger.*`` entries that build a ``WandbLogger``."""
    loggers = cfg.get("logger")
    if not isinstance(loggers, DictConfig):
        return []
    return [node for node in loggers.values()
            if isinstance(node, DictConfig) and str(node.get("_target_", "")).rsplit(".", 1)[-1] == "WandbLogger"]


def _read_id(directory: Path) -> Optional[str]:
    path = directory / WANDB_ID_FILE
    if not path.is_file():
        return None
    run_id = path.read_text().strip()
    if not run_id or not all(c.isalnum() or c in "-_" for c in run_id):
        raise ValueError(f"{path}: not a W&B run id ({run_id!r}); delete the file to start a new W&B run")
    return run_id


def _write_id(directory: Path, run_id: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    tmp = directory / f".{WANDB_ID_FILE}.{os.getpid()}.tmp"
    tmp.write_text(run_id + "\n")
    os.replace(tmp, directory / WANDB_ID_FILE)


def _finish_leftover_run() -> None:
    import wandb

    if wandb.run is not None:
        log.warning(f"W&B run {wandb.run.id} of an earlier job in this process was still open (the job failed): "
                    "finishing it with exit code 1")
        wandb.run.finish(exit_code=1)


def prepare_wandb_run(cfg: DictConfig, ckpt_path: Optional[str] = None) -> Optional[str]:
    """Give the run's ``WandbLogger`` entries their stable id; returns it (``None``: no W&B logger).

    The id comes from ``logger.wandb.id`` when set, else ``<run dir>/wandb_id``, else the
    ``wandb_id`` of the checkpoint's run directory (``<run dir>/checkpoints/last.ckpt`` or
    ``<run dir>/hpc_ckpt_<n>.ckpt``), else a new one; it is written to ``<run dir>/wandb_id``.
    ``resume`` defaults to ``"allow"``.
    """
    nodes = wandb_logger_nodes(cfg)
    if not nodes:
        return None
    _finish_leftover_run()
    try:
        run_dir: Optional[Path] = Path(cfg.paths.output_dir)
    except Exception:  # noqa: BLE001 - ${hydra:...} outside a Hydra job
        run_dir = None
    run_id = next((str(n.id) for n in nodes if n.get("id") is not None), None)
    if run_id is None and run_dir is not None:
        run_id = _read_id(run_dir)
    if run_id is None and ckpt_path is not None:
        ckpt_dir = Path(ckpt_path).resolve().parent
        run_id = next((i for i in (_read_id(d) for d in (ckpt_dir, ckpt_dir.parent)) if i is not None), None)
    if run_id is None:  # W&B's own form: 8 lowercase letters and digits
        run_id = "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(8))
    if run_dir is not None and _read_id(run_dir) != run_id:
        _write_id(run_dir, run_id)
    for node in nodes:
        with open_dict(node):
            node.id = run_id
            if node.get("resume") is None:
                node.resume = "allow"
    log.info(f"W&B run id {run_id}" + (f" (kept in {run_dir / WANDB_ID_FILE})" if run_dir is not None else ""))
    return run_id


class FinishWandbOnFailure(Callback):
    """On an exception in ``fit``/``validate``/``test``: finish the open W&B run with exit code 1.

    After SIGTERM (preemption, requeue) the run is left open for the job's next start, and an error
    that the dead W&B service causes is turned into Lightning's ``SIGTERMException``."""

    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        import wandb
        from lightning.pytorch.utilities.exceptions import SIGTERMException

        if isinstance(exception, SIGTERMException) or trainer.received_sigterm:
            # Preempted or requeued: SLURM sends SIGTERM to every process of the job, which ends the W&B
            # service, so the next W&B call raises ConnectionResetError. The run goes on in the next start
            # of the job under the same id: leave it open, and end this start as Lightning ends a
            # SIGTERM'd run (SystemExit), so the job reports no result (a failure the sweep would read)
            if not isinstance(exception, SIGTERMException):
                log.warning(f"{type(exception).__name__} after SIGTERM (the job is being requeued): exiting")
                raise SIGTERMException() from exception
            return
        if wandb.run is None:
            return
        log.warning(f"finishing W&B run {wandb.run.id} with exit code 1 after {type(exception).__name__}")
        try:
            wandb.run.finish(exit_code=1)
        except Exception as err:  # noqa: BLE001 - the W&B service may be gone; the job's own error matters
            log.warning(f"could not finish W&B run: {type(err).__name__}: {err}")


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
    (project, group, name, job_type, id), ``complete`` (the run's exit record was written: W&B's
    service writes the file asynchronously, so a run read right after ``finish`` may still be
    growing) and ``exit_code`` (from that record; ``None`` before it).

    :param run_dir: ``.../wandb/offline-run-<time>-<id>`` (holds ``run-<id>.wandb``).
    :raises FileNotFoundError: no ``.wandb`` file in ``run_dir``.
    """
    from wandb.proto import wandb_internal_pb2 as pb

    files = sorted(Path(run_dir).glob("run-*.wandb"))
    if not files:
        raise FileNotFoundError(f"no run-*.wandb file in {run_dir}")
    out: dict[str, Any] = {"metrics": set(), "summary": set(), "config": set(), "images": set(),
                           "artifacts": [], "run": {}, "complete": False, "exit_code": None}
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
                          "name": record.run.display_name, "job_type": record.run.job_type,
                          "id": record.run.run_id}
            out["config"].update(i.key or "/".join(i.nested_key) for i in record.run.config.update)
        elif kind == "artifact":
            out["artifacts"].append((record.artifact.name, record.artifact.type, list(record.artifact.aliases)))
        elif kind == "exit":
            out["complete"] = True
            out["exit_code"] = record.exit.exit_code
    out["metrics"] = {k for k in out["metrics"] if k.rsplit("/", 1)[0] not in out["images"]}
    return out
