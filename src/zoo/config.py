"""Structured configs: typed schemas for the top level of ``train.yaml`` / ``eval.yaml`` and the
``paths`` and ``extras`` groups.

Registered in Hydra's ConfigStore as ``train_schema`` / ``eval_schema`` and named first in the
defaults lists, so a misspelt top-level key, a wrong type (``seed=abc``) or a missing required
value fails at composition with the key's name. Group contents built with ``_target_`` (data,
model, trainer, callbacks, loggers) are checked against the target's signature by
:func:`zoo.utils.instantiate.check_target_keys` before anything is built.

The ``trainer`` node is typed by :class:`TrainerArgs`, a schema made from ``lightning.Trainer``'s
signature: every Trainer argument exists in the composed config (unset ones as ``???``), so
``trainer.max_steps=200`` works without ``+`` while ``trainer.max_epoch=3`` is refused at
composition (``Key 'max_epoch' not in 'TrainerArgs'``). :func:`drop_unset_trainer_args` removes the
unset ones before the Trainer is built, so Lightning's own defaults apply.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field, make_dataclass
from typing import Any, Optional

from hydra.core.config_store import ConfigStore
from lightning.pytorch import Trainer
from omegaconf import MISSING, DictConfig, OmegaConf, open_dict

__all__ = ["PathsConfig", "ExtrasConfig", "EvalOptions", "TrainConfig", "EvalConfig", "TrainerArgs",
           "TRAINER_ARGS", "drop_unset_trainer_args", "register_configs"]

#: every keyword argument of ``lightning.Trainer``, in signature order
TRAINER_ARGS: tuple[str, ...] = tuple(
    name for name, p in inspect.signature(Trainer.__init__).parameters.items()
    if name != "self" and p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
)

#: schema of the ``trainer`` node: ``_target_`` and every Trainer argument, all unset (``???``)
TrainerArgs = make_dataclass(
    "TrainerArgs", [("_target_", Any, field(default=MISSING))] + [(n, Any, field(default=MISSING)) for n in TRAINER_ARGS],
)
TrainerArgs.__module__ = __name__
TrainerArgs.__doc__ = "The arguments of ``lightning.Trainer`` (generated from its signature); unset ones are ``???``."


def drop_unset_trainer_args(cfg: DictConfig) -> None:
    """Replace ``cfg.trainer`` by a plain node holding only the arguments that were set.

    Interpolations (``${paths.output_dir}``) are kept unresolved. A no-op when there is no trainer.
    """
    if cfg.get("trainer") is None or not isinstance(cfg._get_node("trainer"), DictConfig):
        return
    node = cfg._get_node("trainer")
    kept = {k: v for k, v in OmegaConf.to_container(node, resolve=False).items()
            if not OmegaConf.is_missing(node, k)}
    with open_dict(cfg):
        cfg.trainer = OmegaConf.create(kept)


@dataclass
class PathsConfig:
    root_dir: str = MISSING
    data_dir: str = MISSING
    cache_dir: str = MISSING
    log_dir: str = MISSING
    output_dir: str = MISSING
    work_dir: str = MISSING


@dataclass
class ExtrasConfig:
    ignore_warnings: bool = False
    enforce_tags: bool = False
    print_config: bool = True


@dataclass
class EvalOptions:
    split: str = "test"
    reference_ckpt: Optional[str] = None
    top_k: int = 10
    export: Optional[str] = None


@dataclass
class _Common:
    task_name: str = MISSING
    tags: list[str] = field(default_factory=list)
    seed: Optional[int] = None
    ckpt_path: Optional[str] = None
    data: Any = MISSING
    model: Any = MISSING
    callbacks: Any = field(default_factory=dict)
    logger: Any = field(default_factory=dict)
    trainer: Any = field(default_factory=TrainerArgs)
    paths: PathsConfig = field(default_factory=PathsConfig)
    extras: ExtrasConfig = field(default_factory=ExtrasConfig)


@dataclass
class TrainConfig(_Common):
    train: bool = True
    test: bool = True
    optimized_metric: Optional[str] = None


@dataclass
class EvalConfig(_Common):
    ckpt_path: str = MISSING
    eval: EvalOptions = field(default_factory=EvalOptions)


def register_configs() -> None:
    """Register the schemas with Hydra's ConfigStore (idempotent)."""
    cs = ConfigStore.instance()
    cs.store(name="train_schema", node=TrainConfig)
    cs.store(name="eval_schema", node=EvalConfig)
