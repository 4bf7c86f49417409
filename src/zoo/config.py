"""Structured configs: typed schemas for the top level of ``train.yaml`` / ``eval.yaml`` and the
``paths`` and ``extras`` groups.

Registered in Hydra's ConfigStore as ``train_schema`` / ``eval_schema`` and named first in the
defaults lists, so a misspelt top-level key, a wrong type (``seed=abc``) or a missing required
value fails at composition with the key's name. Group contents built with ``_target_`` (data,
model, trainer, callbacks, loggers) are checked against the target's signature by
:func:`zoo.utils.instantiate.check_target_keys` before anything is built.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

__all__ = ["PathsConfig", "ExtrasConfig", "EvalOptions", "TrainConfig", "EvalConfig", "register_configs"]


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
    trainer: Any = MISSING
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
