"""What ``train.py`` and ``eval.py`` call: validate, instantiate, fit, test, report.

``train(cfg)`` and ``evaluate(cfg)`` return ``(metrics, objects)`` so tests and sweeps can call
them directly; the ``@hydra.main`` wrappers only add the sweep return value.
"""

from __future__ import annotations

import csv
import glob
import json
import logging
import os
import warnings
from pathlib import Path
from typing import Any, Optional

import hydra
import lightning as L
import torch
from lightning.pytorch import Callback, LightningDataModule, LightningModule, Trainer
from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger, Logger
from hydra.errors import InstantiationException
from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import InterpolationResolutionError

from zoo.callbacks.atomic_checkpoint_io import AtomicCheckpointIO, UnreadableCheckpointError, check_checkpoint_file
from zoo.callbacks.resume_state import ResumeState
from zoo.checkpoints import CONFIG_KEY, SaveConfigInCheckpoint, read_checkpoint
from zoo.config import drop_unset_trainer_args, register_configs
from zoo.utils.instantiate import check_target_keys, instantiate_callbacks, instantiate_loggers, to_container
from zoo.utils.optuna_study import register_optuna_resolvers
from zoo.utils.resolvers import bind_datamodule, register_resolvers
from zoo.utils.slurm import register_slurm_resolvers
from zoo.utils.startup_checks import (OptimizedMetricCheck, check_training_runs, in_sweep, metric_schedule_problem,
                                      report_metric_problem)
from zoo.utils.wandb_run import FinishWandbOnFailure, finish_wandb, prepare_wandb_run, register_wandb_resolvers

__all__ = ["train", "evaluate", "metric_value", "resolve_ckpt_path", "checkpoint_run_dir", "CONFIG_KEY",
           "split_run_overrides", "apply_run_overrides"]

log = logging.getLogger(__name__)

register_resolvers()
register_slurm_resolvers()
register_wandb_resolvers()
register_optuna_resolvers()
register_configs()


# -- start-up checks ------------------------------------------------------------------------------
def validate_config(cfg: DictConfig) -> None:
    """Check every ``_target_`` node's keys against its target's signature (names the bad key).

    Drops the Trainer arguments the config leaves unset first (``zoo.config.TrainerArgs``), so the
    Trainer gets Lightning's defaults for them.
    """
    drop_unset_trainer_args(cfg)
    for group in ("data", "model", "trainer", "callbacks", "logger"):
        if group in cfg and cfg[group] is not None:
            check_target_keys(cfg._get_node(group), group)


def check_schedule(cfg: DictConfig) -> None:
    """The training run's schedule: it takes a training step, and can log ``optimized_metric``
    (:mod:`zoo.utils.startup_checks`; the check that needs the batch count runs when fit starts)."""
    check_training_runs(cfg)
    report_metric_problem(cfg, metric_schedule_problem(cfg))


def resolve_ckpt_path(ckpt_path: Optional[str], cfg: DictConfig) -> Optional[str]:
    """``None``, an existing file, or ``"last"``: the newest readable ``last.ckpt`` of this ``task_name``.

    ``"last"`` skips a newest checkpoint that is unreadable (truncated by a kill during its write),
    with a warning naming it, and takes the next newest.

    :raises FileNotFoundError: naming the path (or the searched pattern for ``"last"``).
    :raises UnreadableCheckpointError: an explicit path that is truncated or no checkpoint, naming it.
    """
    if ckpt_path is None:
        return None
    if ckpt_path == "last":
        pattern = os.path.join(cfg.paths.log_dir, cfg.task_name, "*runs", "**", "checkpoints", "last*.ckpt")
        candidates = [p for p in glob.glob(pattern, recursive=True) if os.path.isfile(p)]
        if not candidates:
            raise FileNotFoundError(f"ckpt_path=last: no last.ckpt matches {pattern}")
        for path in sorted(candidates, key=os.path.getmtime, reverse=True):
            try:
                check_checkpoint_file(path)
            except UnreadableCheckpointError as err:
                log.warning(f"ckpt_path=last: skipping {err}")
                continue
            log.info(f"ckpt_path=last resolves to {path}")
            return path
        raise FileNotFoundError(f"ckpt_path=last: every last.ckpt matching {pattern} is unreadable: {candidates}")
    path = Path(ckpt_path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"ckpt_path={ckpt_path!r}: no such checkpoint file")
    check_checkpoint_file(str(path))
    return str(path.resolve())


def checkpoint_run_dir(ckpt_path: str) -> Optional[Path]:
    """The run directory a checkpoint belongs to (``<run>/checkpoints/*.ckpt`` or
    ``<run>/hpc_ckpt_*.ckpt``, where ``<run>/.hydra`` exists), else ``None``."""
    folder = Path(ckpt_path).resolve().parent
    if folder.name == "checkpoints":
        folder = folder.parent
    return folder if (folder / ".hydra").is_dir() else None


def _continue_in_run_dir(cfg: DictConfig, ckpt_path: str) -> Optional[Path]:
    """Point ``paths.output_dir`` (and so checkpoints, logs, metrics CSV) at the checkpoint's run dir.

    :returns: the run directory continued in, or ``None`` (the checkpoint is not in a run dir, or
        already in this run's).
    """
    run_dir = checkpoint_run_dir(ckpt_path)
    try:
        current = Path(cfg.paths.output_dir).resolve()
    except Exception:  # noqa: BLE001 - ${hydra:...} outside a Hydra job
        current = None
    if run_dir is None or run_dir == current:
        return None
    log.info(f"Resuming in the checkpoint's run directory {run_dir} (this invocation's own directory "
             f"{current} keeps only its config and log)")
    with open_dict(cfg):
        cfg.paths.output_dir = str(run_dir)
    handler = logging.FileHandler(run_dir / f"{cfg.task_name}.log", mode="a")
    handler.setFormatter(logging.Formatter("[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"))
    logging.getLogger().addHandler(handler)
    return run_dir


def _saved_csv_rows(loggers: list[Logger]) -> dict[str, list[dict[str, str]]]:
    """The rows of each CSV logger's existing ``metrics.csv`` (Lightning deletes the file on first use)."""
    saved = {}
    for logger in loggers:
        if isinstance(logger, CSVLogger):
            path = os.path.join(logger.log_dir, "metrics.csv")
            if os.path.isfile(path):
                with open(path, newline="") as f:
                    saved[path] = list(csv.DictReader(f))
    return saved


def _restore_csv_rows(loggers: list[Logger], saved: dict[str, list[dict[str, str]]], ckpt_path: str) -> None:
    """Write back the rows logged before the checkpoint (``step`` < its global step); the resumed run
    appends its own."""
    try:
        global_step = int(torch.load(ckpt_path, map_location="cpu", mmap=True, weights_only=True)["global_step"])
    except Exception:  # noqa: BLE001 - an old checkpoint that needs weights_only=False: keep every row
        global_step = None
    for logger in loggers:
        if not isinstance(logger, CSVLogger):
            continue
        path = os.path.join(logger.log_dir, "metrics.csv")
        rows = saved.get(path)
        if not rows:
            continue
        rows = [r for r in rows if global_step is None or not r.get("step") or int(float(r["step"])) < global_step]
        writer = logger.experiment
        keys = sorted(set().union(*rows) | set(writer.metrics_keys))
        writer.metrics_keys = keys
        with open(path, "w", newline="") as f:
            out = csv.DictWriter(f, fieldnames=keys)
            out.writeheader()
            out.writerows(rows)


def _apply_extras(cfg: DictConfig) -> None:
    extras = cfg.get("extras")
    if not extras:
        return
    if extras.get("ignore_warnings"):
        warnings.filterwarnings("ignore")


def _print_config(cfg: DictConfig) -> None:
    if not cfg.get("extras") or not cfg.extras.get("print_config"):
        return
    shown = {k: v for k, v in to_container(cfg, resolve=True).items()}
    log.info("Composed config:\n" + OmegaConf.to_yaml(OmegaConf.create(shown)))


def _instantiate(node: DictConfig) -> Any:
    """``hydra.utils.instantiate`` that re-raises the user-facing error, not Hydra's wrapper.

    A datamodule that finds a missing file while ``${datamodule:num_classes}`` is resolved raises
    ``FileNotFoundError``; OmegaConf and Hydra wrap it twice, burying the message that names the path.
    """
    try:
        return hydra.utils.instantiate(node)
    except (InterpolationResolutionError, InstantiationException) as err:
        cause: BaseException = err
        while isinstance(cause, (InterpolationResolutionError, InstantiationException)):
            inner = cause.__cause__ or cause.__context__
            if inner is None:
                break
            cause = inner
        if cause is err:
            raise
        raise cause from err


def _build(cfg: DictConfig) -> tuple[LightningDataModule, LightningModule]:
    log.info(f"Instantiating datamodule <{cfg.data._target_}>")
    datamodule: LightningDataModule = _instantiate(cfg.data)
    bind_datamodule(datamodule)
    log.info(f"Instantiating model <{cfg.model._target_}>")
    model: LightningModule = _instantiate(cfg.model)
    return datamodule, model


def _build_trainer(cfg: DictConfig, callbacks: list[Callback], loggers: list[Logger]) -> Trainer:
    if not loggers:
        dropped = [c for c in callbacks if isinstance(c, LearningRateMonitor)]
        if dropped:
            log.info("No logger configured: LearningRateMonitor disabled")
        callbacks = [c for c in callbacks if not isinstance(c, LearningRateMonitor)]
    log.info(f"Instantiating trainer <{cfg.trainer._target_}>")
    # checkpoints are written atomically beside their target (zoo.callbacks.atomic_checkpoint_io)
    plugins = {} if cfg.trainer.get("plugins") is not None else {"plugins": [AtomicCheckpointIO()]}
    return hydra.utils.instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False, **plugins)


def _log_hyperparameters(cfg: DictConfig, model: LightningModule, loggers: list[Logger]) -> None:
    if not loggers:
        return
    params = to_container(cfg, resolve=True)
    params["model/params/total"] = sum(p.numel() for p in model.parameters())
    params["model/params/trainable"] = sum(p.numel() for p in model.parameters() if p.requires_grad)
    for logger in loggers:
        logger.log_hyperparams(params)


def _to_float(value: Any) -> Any:
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return float(value.item())
    return value


def _print_metrics(metrics: dict[str, Any], title: str) -> None:
    rows = sorted((k, v) for k, v in metrics.items() if isinstance(v, (int, float)))
    if not rows:
        return
    width = max(len(k) for k, _ in rows)
    lines = [title, "-" * (width + 14)] + [f"{k:<{width}}  {v:>12.6f}" for k, v in rows]
    print("\n".join(lines), flush=True)


def _write_metrics(metrics: dict[str, Any], cfg: DictConfig, name: str) -> None:
    try:
        out = Path(cfg.paths.output_dir)
    except Exception:  # noqa: BLE001 - ${hydra:...} outside a Hydra job
        return
    out.mkdir(parents=True, exist_ok=True)
    serialisable = {k: v for k, v in metrics.items() if isinstance(v, (int, float, str))}
    (out / name).write_text(json.dumps(serialisable, indent=2, sort_keys=True))


def _finish_wandb(loggers: list[Logger], cfg: DictConfig) -> None:
    """Plots to W&B, close the run (a sweep's next job gets its own), print ``wandb sync`` if offline."""
    try:
        run_dir: Optional[Path] = Path(cfg.paths.output_dir)
    except Exception:  # noqa: BLE001 - ${hydra:...} outside a Hydra job
        run_dir = None
    finish_wandb(loggers, run_dir)


def metric_value(metrics: dict[str, Any], name: Optional[str]) -> Optional[float]:
    """The value sweepers optimise.

    A metric that was not logged is an error inside a sweep (listing the metrics that were), and a
    warning outside one (nothing consumes the value: the run exits 0).
    """
    if name is None:
        return None
    if name not in metrics:
        message = f"optimized_metric={name!r} was not logged; available metrics: {sorted(metrics)}"
        if in_sweep():
            raise ValueError(message)
        log.warning(message)
        return None
    return float(metrics[name])


# -- entry points ---------------------------------------------------------------------------------
def train(cfg: DictConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    """Fit the task on the datamodule, then test it with the best checkpoint.

    :returns: ``(metrics, objects)``: all logged train/val/test metrics as floats, and the built
        ``cfg``, ``datamodule``, ``model``, ``trainer``, ``callbacks`` and ``loggers``.
    """
    _apply_extras(cfg)
    validate_config(cfg)
    check_schedule(cfg)
    ckpt_path = resolve_ckpt_path(cfg.get("ckpt_path"), cfg)
    continued = _continue_in_run_dir(cfg, ckpt_path) if ckpt_path and cfg.get("train") else None
    if cfg.get("seed") is not None:
        L.seed_everything(cfg.seed, workers=True)

    datamodule, model = _build(cfg)
    _print_config(cfg)
    callbacks = instantiate_callbacks(cfg.get("callbacks"))
    callbacks.append(SaveConfigInCheckpoint(cfg))
    callbacks.append(ResumeState())
    callbacks.append(OptimizedMetricCheck(cfg))
    if prepare_wandb_run(cfg, ckpt_path) is not None:
        callbacks.append(FinishWandbOnFailure())
    loggers = instantiate_loggers(cfg.get("logger"))
    csv_rows = _saved_csv_rows(loggers) if ckpt_path and cfg.get("train") else {}
    trainer = _build_trainer(cfg, callbacks, loggers)
    objects = {"cfg": cfg, "datamodule": datamodule, "model": model, "trainer": trainer,
               "callbacks": callbacks, "loggers": loggers, "run_dir_continued": continued}
    _log_hyperparameters(cfg, model, loggers)
    if csv_rows:
        _restore_csv_rows(loggers, csv_rows, ckpt_path)

    if cfg.get("train"):
        log.info("Starting training" + (f" from {ckpt_path}" if ckpt_path else ""))
        if ckpt_path is not None:  # refused before Lightning opens it: needs unpickling, or a disallowed target
            read_checkpoint(ckpt_path, "ckpt_path")
        trainer.fit(model=model, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
    metrics = {k: _to_float(v) for k, v in trainer.callback_metrics.items()}

    if cfg.get("test"):
        best = trainer.checkpoint_callback.best_model_path if isinstance(
            trainer.checkpoint_callback, ModelCheckpoint) else ""
        if not cfg.get("train"):
            best = ckpt_path or ""
        if not best:
            log.warning("No best checkpoint (fast_dev_run or checkpointing off): testing the current weights")
        else:
            log.info(f"Testing with checkpoint {best}")
        if best and best == ckpt_path and not cfg.get("train"):
            read_checkpoint(best, "ckpt_path")
        trainer.test(model=model, datamodule=datamodule, ckpt_path=best or None, weights_only=True)
        metrics.update({k: _to_float(v) for k, v in trainer.callback_metrics.items()})

    if trainer.is_global_zero:
        _print_metrics(metrics, f"Final metrics ({cfg.task_name})")
        _write_metrics(metrics, cfg, "metrics.json")
        _finish_wandb(loggers, cfg)
    return metrics, objects


# -- eval.py: a run rebuilt from its checkpoint -----------------------------------------------------
#: the config groups a checkpoint brings along; eval.py overrides of them apply to the stored config
RUN_GROUPS = ("data", "model")
EVAL_SPLITS = ("test", "val", "predict")


def _override_group(text: str) -> str:
    key = text.lstrip("+~").split("=", 1)[0].split("@", 1)[0]
    return key.split(".", 1)[0].split("/", 1)[0]


def split_run_overrides(argv: list[str]) -> tuple[list[str], list[str]]:
    """``(run overrides, the rest)`` of ``eval.py``'s command line.

    ``data.*``/``model.*`` keys and ``data=``/``model/net=`` group choices are kept away from
    ``eval.yaml`` (whose placeholder data/model would refuse them) and applied to the checkpoint's
    own config by :func:`apply_run_overrides`.
    """
    run, rest = [], []
    for arg in argv:
        (run if not arg.startswith("-") and "=" in arg and _override_group(arg) in RUN_GROUPS else rest).append(arg)
    return run, rest


def _compose_group_option(group: str, option: str) -> DictConfig:
    """The config of ``conf/<group>/<option>.yaml`` (with its own defaults), packaged at ``group``."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from zoo.checkpoint_targets import conf_dir

    name = f"{group}/{option}"
    if not (conf_dir() / f"{name}.yaml").is_file():
        options = sorted(p.stem for p in (conf_dir() / group).glob("*.yaml"))
        raise ValueError(f"{group}={option!r}: no such option; expected one of {options}")
    if GlobalHydra.instance().is_initialized():
        composed = compose(config_name=name)
    else:
        with initialize_config_dir(version_base="1.3", config_dir=str(conf_dir())):
            composed = compose(config_name=name)
    return OmegaConf.select(composed, group.replace("/", "."))


def apply_run_overrides(run_cfg: DictConfig, overrides: list[str]) -> None:
    """Apply ``data.*``/``model.*`` overrides to a config rebuilt from a checkpoint, in order.

    Parsed with Hydra's override parser, so values are typed (``data.normalize_features=false`` is
    the bool ``False``, ``model.net.p_norm=1`` the int ``1``). A key need not exist in the stored
    config (no ``+`` needed; the start-up check still refuses a key the target does not accept);
    ``~key`` deletes; ``model/net=transe`` or ``data=umls`` replaces the node with that option of
    ``conf/``, ``data@data.datamodule=cifar10`` places it at another package.

    :raises ValueError: a sweep (``a=1,2``), or an unknown group option.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser

    for override in OverridesParser.create().parse_overrides(overrides):
        text = override.input_line
        if override.is_sweep_override():
            raise ValueError(f"eval.py override {text!r}: sweeps are not supported when evaluating a checkpoint")
        key = override.key_or_group
        if override.is_delete():
            parent, _, leaf = key.rpartition(".")
            node = OmegaConf.select(run_cfg, parent) if parent else run_cfg
            if node is None or leaf not in node:
                raise ValueError(f"eval.py override {text!r}: {key} is not in the checkpoint's config")
            with open_dict(node):
                del node[leaf]
        elif "/" in key or key in RUN_GROUPS:
            package = override.package or key.replace("/", ".")
            OmegaConf.update(run_cfg, package, _compose_group_option(key, str(override.value())), merge=False,
                             force_add=True)
        else:
            OmegaConf.update(run_cfg, key, override.value(), merge=False, force_add=True)


def run_config_from_checkpoint(cfg: DictConfig, checkpoint: dict[str, Any],
                               overrides: Optional[list[str]] = None) -> DictConfig:
    """A checkpoint's saved ``data``/``model`` config merged into this machine's eval config.

    The run's data and model come from the checkpoint; paths, trainer, loggers and callbacks from
    ``eval.yaml``; ``overrides`` (default: the ``data.*``/``model.*`` overrides of the Hydra job)
    are applied on top by :func:`apply_run_overrides`.
    """
    saved = OmegaConf.create(checkpoint[CONFIG_KEY])
    if overrides is None:
        try:
            from hydra.core.hydra_config import HydraConfig

            overrides = split_run_overrides(list(HydraConfig.get().overrides.task))[0]
        except ValueError:
            overrides = []
    run_cfg = cfg.copy()
    with open_dict(run_cfg):
        for group in RUN_GROUPS:
            run_cfg[group] = saved[group]
        apply_run_overrides(run_cfg, overrides)
        run_cfg.task_name = saved.get("task_name", cfg.task_name)
    return run_cfg


def _resolve_eval_path(ckpt_path: Any, cfg: DictConfig) -> str:
    if ckpt_path is not None and ckpt_path != "last" and Path(str(ckpt_path)).expanduser().is_dir():
        return str(Path(str(ckpt_path)).expanduser().resolve())  # an exported bundle (zoo.export)
    return resolve_ckpt_path(ckpt_path, cfg)


def evaluate(cfg: DictConfig, overrides: Optional[list[str]] = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Rebuild a run from ``ckpt_path`` (a checkpoint or an exported bundle) and evaluate it.

    ``eval.split``: ``test``/``val`` report metrics; ``predict`` writes ``<run dir>/predictions.csv``
    (one row per test item, :func:`zoo.evaluation.write_predictions`). ``eval.export=DIR`` also
    writes a bundle with a model card (:func:`zoo.export.export_bundle`). Nothing is unpickled: the
    checkpoint is read as data and its config's targets are checked before anything is built.

    :param overrides: ``data.*``/``model.*`` overrides applied to the checkpoint's config (``eval.py``
        passes them; ``None``: those of the Hydra job).
    """
    _apply_extras(cfg)
    split = cfg.eval.split
    if split not in EVAL_SPLITS:
        raise ValueError(f"eval.split={split!r}; expected one of {list(EVAL_SPLITS)}")
    ckpt_path = _resolve_eval_path(cfg.ckpt_path, cfg)
    checkpoint = read_checkpoint(ckpt_path, "ckpt_path")
    reference_ckpt = cfg.eval.get("reference_ckpt")
    if reference_ckpt is not None:  # refused before anything is built
        read_checkpoint(reference_ckpt, "eval.reference_ckpt")
        reference_ckpt = str(Path(reference_ckpt).expanduser().resolve())
    run_cfg = run_config_from_checkpoint(cfg, checkpoint, overrides)
    validate_config(run_cfg)
    if run_cfg.get("seed") is not None:
        L.seed_everything(run_cfg.seed, workers=True)
    datamodule, model = _build(run_cfg)
    try:
        model.load_state_dict(checkpoint["state_dict"])
    except RuntimeError as err:
        raise ValueError(f"ckpt_path={ckpt_path!r}: its weights do not fit the model built from its config "
                         f"with the overrides {overrides or []}: {err}") from None
    loggers = instantiate_loggers(run_cfg.get("logger"))
    trainer = _build_trainer(run_cfg, instantiate_callbacks(run_cfg.get("callbacks")), loggers)
    metrics: dict[str, Any] = {}
    objects = {"cfg": run_cfg, "datamodule": datamodule, "model": model, "trainer": trainer}
    if split == "predict":
        from zoo.evaluation import write_predictions

        out = Path(run_cfg.paths.output_dir) / "predictions.csv"
        objects["predictions"] = write_predictions(model, datamodule, trainer, out, top_k=int(run_cfg.eval.top_k),
                                                   reference_ckpt=reference_ckpt)
        log.info(f"Wrote {len(objects['predictions'])} predictions to {out}")
    else:
        log.info(f"Evaluating {ckpt_path} on the {split} split")
        run = trainer.test if split == "test" else trainer.validate
        results = run(model=model, datamodule=datamodule)
        metrics = {k: _to_float(v) for k, v in (results[0] if results else {}).items()}
        if reference_ckpt is not None:  # negative flips w.r.t. a second checkpoint (zoo.evaluation)
            from zoo.evaluation import checkpoint_flip_metrics

            metrics.update(checkpoint_flip_metrics(model, datamodule, ckpt_path, reference_ckpt, split))
    if run_cfg.eval.get("export") is not None and trainer.is_global_zero:
        from zoo.export import export_bundle

        objects["export"] = export_bundle(run_cfg.eval.export, checkpoint, run_cfg, ckpt_path, metrics or None)
    if trainer.is_global_zero:
        if metrics:
            _print_metrics(metrics, f"Evaluation of {ckpt_path}")
            _write_metrics(metrics, run_cfg, "eval_metrics.json")
    return metrics, objects
