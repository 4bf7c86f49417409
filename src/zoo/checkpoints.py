"""zoo checkpoints as data: the stored config, safe reading, and rebuilding a task from a checkpoint.

A zoo checkpoint is a Lightning checkpoint whose non-tensor entries are plain containers (``dict``,
``list``, ``tuple``, ``str``, ``int``, ``float``, ``bool``, ``None``), so it loads with
``torch.load(..., weights_only=True)`` and nothing added to torch's safe globals. The run's composed
(unresolved) config sits under :data:`CONFIG_KEY`. Before anything from a stored config is built,
every ``_target_`` in it is checked against :func:`allowed_targets`
(:func:`zoo.checkpoint_targets.check_targets`).

An exported bundle (a directory with ``model.safetensors`` and ``config.json``, see
:mod:`zoo.export`) is read by the same functions, so every entry point accepts either.

Checkpoints written before this format (they may pickle ``omegaconf`` containers) are refused with
an error naming the file; convert them once, from a source you trust::

    python -m zoo.checkpoints convert OLD.ckpt NEW.ckpt --trust-pickle

which is the only place in zoo that unpickles.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import pickle
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import torch
from lightning.pytorch import Callback, LightningModule, Trainer

from zoo.checkpoint_targets import CheckpointError, allowed_targets, check_targets

__all__ = [
    "CONFIG_KEY", "OVERRIDES_KEY", "CONVERT_COMMAND", "BUNDLE_WEIGHTS", "BUNDLE_CONFIG", "CheckpointError",
    "SaveConfigInCheckpoint",
    "to_plain", "read_checkpoint", "load_checkpoint_config", "build_from_config", "LoadedCheckpoint",
    "load_checkpoint", "CheckpointClassifier", "load_checkpoint_classifier", "load_encoder_weights",
    "data_signature", "datamodule_signature", "same_dataset", "allowed_targets", "check_targets", "convert",
]

log = logging.getLogger(__name__)

#: key under which the run's composed (unresolved) config is stored in every checkpoint
CONFIG_KEY = "zoo_config"
#: key of the run's command-line overrides (``train.py`` arguments), for the model card's command
OVERRIDES_KEY = "zoo_overrides"
#: the one-time conversion of checkpoints written before configs were stored as plain containers
CONVERT_COMMAND = "python -m zoo.checkpoints convert OLD.ckpt NEW.ckpt --trust-pickle"
#: file names inside an exported bundle directory
BUNDLE_WEIGHTS = "model.safetensors"
BUNDLE_CONFIG = "config.json"

VIEW_TARGET = "zoo.data.class_incremental.ClassIncrementalDataModule"


# -- plain containers ----------------------------------------------------------------------------
def to_plain(value: Any, where: str = "checkpoint") -> Any:
    """``value`` with every ``omegaconf`` container (and ``Path``) turned into plain containers.

    :raises CheckpointError: an object that ``torch.load(weights_only=True)`` would refuse, naming
        the key path ``where``.
    """
    from omegaconf import DictConfig, ListConfig, OmegaConf

    if isinstance(value, (DictConfig, ListConfig)):
        value = OmegaConf.to_container(value, resolve=False)
    if value is None or isinstance(value, (bool, int, float, str, torch.Tensor, torch.Size, torch.dtype,
                                           torch.device)):
        return value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return {k: to_plain(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [to_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, tuple):
        return tuple(to_plain(v, f"{where}[{i}]") for i, v in enumerate(value))
    try:  # numpy scalars
        import numpy as np

        if isinstance(value, np.generic):
            return value.item()
        if isinstance(value, np.ndarray) and value.dtype != object:
            return torch.from_numpy(value)
    except ImportError:  # pragma: no cover
        pass
    raise CheckpointError(f"{where} holds a {type(value).__module__}.{type(value).__qualname__}, which a "
                          "checkpoint cannot store as data (plain containers, numbers, strings, tensors only)")


class SaveConfigInCheckpoint(Callback):
    """Stores the composed config in every checkpoint and keeps the checkpoint loadable as data.

    The config goes under :data:`CONFIG_KEY`; the ``hyper_parameters`` Lightning saves (which may
    hold ``omegaconf`` lists from ``save_hyperparameters``) are converted to plain containers.
    """

    def __init__(self, cfg: Any) -> None:
        self.config = to_plain(cfg, CONFIG_KEY)
        try:
            from hydra.core.hydra_config import HydraConfig

            self.overrides: list[str] = [str(o) for o in HydraConfig.get().overrides.task]
        except ValueError:  # not inside a Hydra job
            self.overrides = []

    def on_save_checkpoint(self, trainer: Trainer, pl_module: LightningModule, checkpoint: dict) -> None:
        checkpoint[CONFIG_KEY] = self.config
        checkpoint[OVERRIDES_KEY] = list(self.overrides)
        for key in ("hyper_parameters", "datamodule_hyper_parameters"):
            if key in checkpoint:
                checkpoint[key] = to_plain(dict(checkpoint[key]), key)


# -- reading -------------------------------------------------------------------------------------
def _unreadable(key: str, path: str, err: BaseException) -> CheckpointError:
    reason = str(err).strip().splitlines()
    detail = next((line.strip() for line in reason if "Unsupported global" in line or "GLOBAL" in line),
                  reason[0] if reason else type(err).__name__)
    return CheckpointError(
        f"{key}={path!r} cannot be loaded as data (torch.load weights_only=True): {detail}. zoo never "
        f"unpickles a checkpoint while loading it. If the file was written by an older zoo and you trust "
        f"its source, convert it once: {CONVERT_COMMAND.replace('OLD.ckpt', path)}"
    )


def _read_bundle(path: Path, key: str) -> dict[str, Any]:
    from safetensors.torch import load_file

    weights, config = path / BUNDLE_WEIGHTS, path / BUNDLE_CONFIG
    for needed in (weights, config):
        if not needed.is_file():
            raise FileNotFoundError(f"{key}={str(path)!r} is a directory but holds no {needed.name} "
                                    "(not an exported zoo bundle)")
    try:
        stored = json.loads(config.read_text())
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{key}={str(path)!r}: {config.name} is not valid JSON: {err}") from None
    if not isinstance(stored, dict) or CONFIG_KEY not in stored:
        raise CheckpointError(f"{key}={str(path)!r}: {config.name} holds no {CONFIG_KEY!r} entry")
    return {"state_dict": load_file(str(weights)), **stored}


def read_checkpoint(path: str | os.PathLike, key: str = "ckpt_path", require_config: bool = True) -> dict[str, Any]:
    """Load a zoo checkpoint file or exported bundle as data, and check its config's targets.

    :param path: a ``.ckpt`` file written by ``train.py`` or a bundle directory.
    :param key: the config key that named ``path`` (``ckpt_path``, ``model.old_ckpt``, ...), used in
        error messages and as the root of the reported key paths.
    :param require_config: refuse a file without :data:`CONFIG_KEY` (a bare state dict).
    :returns: the checkpoint dict (``state_dict``, :data:`CONFIG_KEY`, Lightning's entries).
    :raises FileNotFoundError: ``path`` does not exist.
    :raises CheckpointError: the file needs unpickling (an old or crafted checkpoint), is not a zoo
        checkpoint, or its config names a target outside :func:`allowed_targets`.
    """
    resolved = Path(os.path.expanduser(str(path)))
    if resolved.is_dir():
        checkpoint = _read_bundle(resolved, key)
    elif resolved.is_file():
        try:
            checkpoint = torch.load(str(resolved), map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as err:
            raise _unreadable(key, str(path), err) from None
        except (RuntimeError, EOFError, OSError) as err:
            raise CheckpointError(f"{key}={str(path)!r} is not a readable checkpoint (truncated or not a "
                                  f"torch file): {type(err).__name__}: {err}") from None
    else:
        raise FileNotFoundError(f"{key}={str(path)!r}: no such checkpoint file or bundle directory")
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise CheckpointError(f"{key}={str(path)!r} is not a zoo checkpoint (no 'state_dict' entry)")
    if CONFIG_KEY in checkpoint:
        check_targets(checkpoint[CONFIG_KEY], f"{key}={str(path)!r}")
    elif require_config:
        raise CheckpointError(f"{key}={str(path)!r} holds no {CONFIG_KEY!r} entry: not written by zoo's train.py")
    return checkpoint


def load_checkpoint_config(path: str | os.PathLike, key: str = "ckpt_path") -> Any:
    """The composed config (a ``DictConfig``) a zoo checkpoint or bundle was trained with, checked."""
    from omegaconf import OmegaConf

    return OmegaConf.create(read_checkpoint(path, key)[CONFIG_KEY])


# -- rebuilding ----------------------------------------------------------------------------------
def build_from_config(config: Any, key: str = "ckpt_path") -> tuple[Any, LightningModule]:
    """Build ``(datamodule, task)`` from a composed config's ``data`` and ``model`` nodes.

    The targets are checked first (:func:`check_targets`); the datamodule is bound to
    ``${datamodule:...}`` only while the task is built.
    """
    import hydra
    from omegaconf import OmegaConf

    from zoo.utils.resolvers import bound_datamodule

    config = OmegaConf.create(config) if not OmegaConf.is_config(config) else config
    for group in ("data", "model"):
        if group not in config or config[group] is None:
            raise CheckpointError(f"{key}: the stored config has no {group!r} node")
        check_targets({group: OmegaConf.to_container(config[group], resolve=False)}, key)
    datamodule = hydra.utils.instantiate(config.data)
    with bound_datamodule(datamodule):
        task: LightningModule = hydra.utils.instantiate(config.model)
    return datamodule, task


@dataclass
class LoadedCheckpoint:
    """A task rebuilt from a checkpoint or bundle.

    Attributes:
        path: the checkpoint file or bundle directory.
        task: the LightningModule with the trained weights.
        datamodule: its (not yet set up) datamodule.
        config: the composed config (``DictConfig``; ``config.data`` is the datamodule config).
    """

    path: str
    task: LightningModule
    datamodule: Any
    config: Any


def load_checkpoint(path: str | os.PathLike, key: str = "ckpt_path") -> LoadedCheckpoint:
    """Rebuild the task stored in a checkpoint or bundle, with its weights, in eval mode."""
    from omegaconf import OmegaConf

    checkpoint = read_checkpoint(path, key)
    config = OmegaConf.create(checkpoint[CONFIG_KEY])
    datamodule, task = build_from_config(config, key)
    task.load_state_dict(checkpoint["state_dict"])
    task.eval()
    return LoadedCheckpoint(path=str(path), task=task, datamodule=datamodule, config=config)


def data_signature(data_cfg: Any) -> tuple[str, Optional[str]]:
    """``(target, name)`` of the dataset under any class-incremental views of a ``data`` config."""
    from omegaconf import DictConfig

    node = data_cfg
    while isinstance(node, (DictConfig, dict)) and node.get("_target_") == VIEW_TARGET:
        node = node["datamodule"]
    if not isinstance(node, (DictConfig, dict)) or "_target_" not in node:
        raise ValueError(f"not a datamodule config: {node!r}")
    name = node.get("name") if "name" in node else None
    return str(node["_target_"]), (str(name) if name is not None else None)


def datamodule_signature(datamodule: Any) -> tuple[str, Optional[str]]:
    """``(target, name)`` of a built datamodule, unwrapping class-incremental views."""
    from zoo.data.class_incremental import base_datamodule

    base = base_datamodule(datamodule)
    cls = type(base)
    name = getattr(base, "name", None)
    return f"{cls.__module__}.{cls.__qualname__}", (str(name) if name is not None else None)


def same_dataset(a: tuple[str, Optional[str]], b: tuple[str, Optional[str]]) -> bool:
    """Same datamodule class, and the same ``name`` where both signatures have one."""
    return a[0] == b[0] and (a[1] is None or b[1] is None or a[1] == b[1])


@dataclass
class CheckpointClassifier:
    """A classifier rebuilt from a checkpoint, in eval mode with frozen parameters.

    Attributes:
        path: the checkpoint file.
        task: the rebuilt LightningModule.
        num_classes: the classes its datamodule had (the output width).
        data: ``(target, name)`` of the underlying dataset (:func:`data_signature`).
        config: the checkpoint's composed config.
    """

    path: str
    task: LightningModule
    num_classes: int
    data: tuple[str, Optional[str]]
    config: Any

    @property
    def net(self) -> torch.nn.Module:
        """The plain net when the task has one (``task.net``), else the task."""
        return getattr(self.task, "net", self.task)


def load_checkpoint_classifier(ckpt_path: Optional[str], key: str) -> CheckpointClassifier:
    """Rebuild the classifier stored in ``ckpt_path`` (named ``key`` in error messages), frozen.

    :param ckpt_path: a zoo checkpoint or bundle (a teacher / reference model).
    :param key: the config key that named it, e.g. ``model.old_ckpt``.
    :raises FileNotFoundError: ``ckpt_path`` does not exist.
    :raises CheckpointError: not a zoo checkpoint, not loadable as data, or a disallowed target.
    :raises ValueError: its datamodule has no ``num_classes``.
    """
    if ckpt_path is None:
        raise ValueError(f"{key} is required (a checkpoint written by train.py)")
    loaded = load_checkpoint(str(ckpt_path), key)
    if not hasattr(loaded.datamodule, "num_classes"):
        raise ValueError(f"{key}={ckpt_path!r} was trained on {type(loaded.datamodule).__name__}, "
                         "which has no num_classes")
    loaded.task.requires_grad_(False)
    return CheckpointClassifier(path=str(ckpt_path), task=loaded.task, num_classes=int(loaded.datamodule.num_classes),
                                data=data_signature(loaded.config.data), config=loaded.config)


def load_encoder_weights(encoders: torch.nn.ModuleDict, ckpt_path: str, key: str = "model.pretrained_ckpt") -> None:
    """Copy ``encoders.<modality>.*`` weights from a zoo checkpoint (or bundle) into ``encoders``.

    :raises FileNotFoundError: ``ckpt_path`` does not exist.
    :raises CheckpointError: the file is not loadable as data or its config names a disallowed target.
    :raises ValueError: the checkpoint has no weights for a modality, or their shapes differ
        (the encoder config must match the pre-training run's).
    """
    state = read_checkpoint(ckpt_path, key, require_config=False)["state_dict"]
    for name, encoder in encoders.items():
        prefix = f"encoders.{name}."
        weights = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        if not weights:
            found = sorted({".".join(k.split(".")[:2]) for k in state if k.startswith("encoders.")})
            raise ValueError(f"{key}={ckpt_path!r} has no {prefix}* weights; found {found}")
        try:
            encoder.load_state_dict(weights, strict=True)
        except RuntimeError as err:
            raise ValueError(
                f"{key}={ckpt_path!r}: {name} encoder weights do not fit model.encoders.{name} "
                f"(use the pre-training run's encoder config): {err}"
            ) from err
    log.info(f"Loaded encoders {list(encoders)} from {ckpt_path}")


# -- one-time conversion -------------------------------------------------------------------------
def convert(old: str, new: str, trust_pickle: bool = False) -> None:
    """Rewrite a checkpoint written by an older zoo so that it loads as data.

    This is the one place in zoo that unpickles a file, and only with ``trust_pickle=True``: an
    unpickled file can run any code, so convert only checkpoints from a source you trust.

    :raises ValueError: ``trust_pickle`` is not set.
    :raises CheckpointError: the converted config names a target outside the allowlist.
    """
    if not trust_pickle:
        raise ValueError("convert unpickles OLD, which runs any code the file holds: pass --trust-pickle "
                         "(trust_pickle=True) only for a checkpoint from a source you trust")
    if os.path.abspath(old) == os.path.abspath(new):
        raise ValueError(f"convert: NEW must differ from OLD ({old!r})")
    checkpoint = torch.load(old, map_location="cpu", weights_only=False)  # explicit, trusted, one-time
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise CheckpointError(f"{old!r} is not a Lightning checkpoint (no 'state_dict' entry)")
    plain = {k: to_plain(v, k) for k, v in checkpoint.items()}
    if CONFIG_KEY in plain:
        check_targets(plain[CONFIG_KEY], repr(old))
    tmp = f"{new}.tmp{os.getpid()}"
    torch.save(plain, tmp)
    torch.load(tmp, map_location="cpu", weights_only=True)  # the result must load as data
    os.replace(tmp, new)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m zoo.checkpoints", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    conv = sub.add_parser("convert", help="rewrite an old (pickled) checkpoint so that it loads as data")
    conv.add_argument("old")
    conv.add_argument("new")
    conv.add_argument("--trust-pickle", action="store_true",
                      help="required: OLD is unpickled, which runs any code it holds")
    args = parser.parse_args(argv)
    try:
        convert(args.old, args.new, trust_pickle=args.trust_pickle)
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {args.new} (loads with torch.load(weights_only=True))")
    return 0


if __name__ == "__main__":
    sys.exit(main())
