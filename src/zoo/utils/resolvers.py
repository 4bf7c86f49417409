"""OmegaConf resolvers used by the config tree.

* ``${zoo_data_dir:}``: ``$ZOO_DATA_DIR`` if set, else ``../shared/data`` beside the project when it
  exists, else ``<project>/data`` (``./data`` for an installed wheel), where datamodules' download
  code writes.
* ``${zoo_cwd:}``: the directory the command was started from (the default project root).
* ``${wandb_offline:}``: ``True`` unless W&B has credentials or ``WANDB_MODE`` says otherwise, so a
  run without an API key logs locally instead of hanging on a login prompt.
* ``${run_name:}``: the run's command-line overrides joined by commas (W&B run names).
* ``${datamodule:attr}``: an attribute of the instantiated datamodule (``num_classes``,
  ``num_features``, ...). Tasks read dataset sizes this way instead of repeating them as literals.
"""

from __future__ import annotations

import os
from pathlib import Path
from contextlib import contextmanager
from typing import Any, Iterator

from omegaconf import OmegaConf

__all__ = ["register_resolvers", "bind_datamodule", "bound_datamodule", "current_datamodule", "default_data_dir", "wandb_offline", "run_name"]

PROJECT_ROOT = Path(__file__).resolve().parents[3]

_BOUND: dict[str, Any] = {}


def default_data_dir() -> str:
    """Resolve the data root: ``$ZOO_DATA_DIR`` > ``../shared/data`` > ``./data``."""
    env = os.environ.get("ZOO_DATA_DIR")
    if env:
        return str(Path(env).expanduser().resolve())
    for base in (Path.cwd(), PROJECT_ROOT):
        shared = (base / ".." / "shared" / "data").resolve()
        if shared.is_dir():
            return str(shared)
    # a source checkout downloads into <checkout>/data; an installed wheel into ./data
    base = PROJECT_ROOT if (PROJECT_ROOT / "conf" / "train.yaml").is_file() else Path.cwd()
    return str((base / "data").resolve())


def wandb_offline() -> bool:
    """Whether W&B should run offline: no credentials and no explicit ``WANDB_MODE``."""
    mode = os.environ.get("WANDB_MODE")
    if mode:
        return mode in ("offline", "dryrun", "disabled")
    if os.environ.get("WANDB_API_KEY"):
        return False
    netrc = Path.home() / ".netrc"
    if netrc.is_file() and "api.wandb.ai" in netrc.read_text(errors="ignore"):
        return False
    return True


def run_name() -> str:
    """A W&B run name from the run's command-line overrides, e.g. ``lr=0.01,seed=2``."""
    try:
        from hydra.core.hydra_config import HydraConfig

        overrides = list(HydraConfig.get().overrides.task)
    except ValueError:  # not inside a Hydra job
        overrides = []
    skip = ("experiment", "hydra", "logger", "hparams_search", "paths", "extras")
    parts = []
    for override in overrides:
        key, _, value = override.lstrip("+~").partition("=")
        if key.split(".")[0].split("/")[0] in skip:
            continue
        # the last key component only: model.optimizer.lr=0.01 -> lr=0.01 (the value keeps its dots)
        parts.append(f"{key.split('.')[-1]}={value}")
    return ",".join(parts) if parts else "default"


def bind_datamodule(datamodule: Any) -> None:
    """Make ``${datamodule:attr}`` read from ``datamodule`` (called by the cli after building it)."""
    _BOUND["datamodule"] = datamodule


def current_datamodule() -> Any:
    """The datamodule ``${datamodule:attr}`` reads from now (``None`` when none is bound)."""
    return _BOUND.get("datamodule")


@contextmanager
def bound_datamodule(datamodule: Any) -> Iterator[Any]:
    """Bind ``datamodule`` to ``${datamodule:attr}`` inside the ``with`` block, then restore the
    previous binding (building a teacher model from its checkpoint inside another run's setup)."""
    previous = _BOUND.get("datamodule")
    _BOUND["datamodule"] = datamodule
    try:
        yield datamodule
    finally:
        _BOUND["datamodule"] = previous


def _datamodule_attr(name: str) -> Any:
    datamodule = _BOUND.get("datamodule")
    if datamodule is None:
        raise ValueError(
            f"${{datamodule:{name}}} can only be resolved after the datamodule is instantiated "
            "(zoo.cli does this); compose with resolve=False to inspect the config."
        )
    if not hasattr(datamodule, name):
        raise ValueError(
            f"${{datamodule:{name}}}: {type(datamodule).__name__} has no attribute {name!r}"
        )
    value = getattr(datamodule, name)
    # OmegaConf only stores primitive containers.
    if isinstance(value, tuple):
        value = list(value)
    return value


def register_resolvers() -> None:
    """Register the zoo resolvers once (idempotent)."""
    resolvers = {
        "zoo_data_dir": default_data_dir,
        # the launch directory; unlike ${hydra:runtime.cwd} it resolves before a sweep starts
        "zoo_cwd": os.getcwd,
        "wandb_offline": wandb_offline,
        "datamodule": _datamodule_attr,
        "run_name": run_name,
    }
    for name, fn in resolvers.items():
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, fn, use_cache=False)
