"""The ``_target_`` allowlist for configs read from checkpoints (a stored config is data, never code).

A config stored in a checkpoint may only name, in any ``_target_`` (nested, in lists, in ``_args_``
and ``_partial_`` nodes):

* a class defined in the ``zoo`` package, named by its canonical ``module.QualName`` (a re-export
  such as ``zoo.cli.torch.load`` is not a zoo class), or
* a target the shipped ``conf/`` tree itself uses (``torch.optim.Adam``, Lightning callbacks, ...),
  collected by walking every YAML file under ``conf/`` once per process.

A ``_target_`` must be a literal string: an interpolation (``${...}``) could resolve to anything.

Your own classes (a callback, a net outside zoo) are trusted by naming them, comma-separated, in
``$ZOO_TRUSTED_TARGETS``: the trust is the reader's, never something a checkpoint can claim.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any, Iterator

__all__ = ["CheckpointError", "allowed_targets", "trusted_targets", "check_targets", "iter_targets", "conf_dir"]


class CheckpointError(ValueError):
    """A checkpoint that cannot be read as data, or whose config is not allowed to be built."""


def conf_dir() -> Path:
    """The shipped ``conf/`` tree (beside ``src/`` in a checkout, or inside the package)."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "conf", here.parents[1] / "conf"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"the zoo conf/ tree is neither at {here / 'conf'} nor {here.parents[1] / 'conf'}")


def iter_targets(node: Any, where: str = "") -> Iterator[tuple[str, Any]]:
    """``(key path, value)`` of every ``_target_`` in a plain (or omegaconf) config tree."""
    from omegaconf import DictConfig, ListConfig, OmegaConf

    if isinstance(node, (DictConfig, ListConfig)):
        node = OmegaConf.to_container(node, resolve=False)
    if isinstance(node, dict):
        for key, value in node.items():
            path = f"{where}.{key}" if where else str(key)
            if key == "_target_":
                yield path, value
            else:
                yield from iter_targets(value, path)
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            yield from iter_targets(value, f"{where}[{i}]")


@functools.lru_cache(maxsize=1)
def allowed_targets() -> frozenset[str]:
    """Every library ``_target_`` the shipped ``conf/`` tree uses (cached per process).

    ``conf/hydra`` and ``hydra:`` nodes (launchers, sweepers) are skipped: a checkpoint's config
    never holds them.
    """
    import yaml

    root = conf_dir()
    found: set[str] = set()
    for path in sorted(root.rglob("*.yaml")):
        if path.relative_to(root).parts[0] == "hydra":
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict):
                doc = {k: v for k, v in doc.items() if k != "hydra"}
            for _, target in iter_targets(doc):
                if isinstance(target, str) and "${" not in target:
                    found.add(target)
    return frozenset(found)


def trusted_targets() -> frozenset[str]:
    """The targets this reader trusts besides the allowlist: ``$ZOO_TRUSTED_TARGETS``, comma-separated."""
    return frozenset(t.strip() for t in os.environ.get("ZOO_TRUSTED_TARGETS", "").split(",") if t.strip())


@functools.lru_cache(maxsize=256)
def _is_zoo_class(target: str) -> bool:
    if not target.startswith("zoo.") or not all(part.isidentifier() for part in target.split(".")):
        return False
    from hydra._internal.utils import _locate

    try:
        obj = _locate(target)
    except Exception:  # noqa: BLE001 - not importable: not an allowed zoo class
        return False
    return (isinstance(obj, type) and obj.__module__.split(".")[0] == "zoo"
            and f"{obj.__module__}.{obj.__qualname__}" == target)


def check_targets(config: Any, where: str) -> None:
    """Refuse a config naming any ``_target_`` outside the allowlist, before anything is built.

    :param config: a plain or omegaconf config tree (unresolved).
    :param where: what holds the config, e.g. ``model.old_ckpt='/runs/old.ckpt'``.
    :raises ValueError: naming the key path and the target.
    """
    allowed = allowed_targets()
    for path, target in iter_targets(config):
        if not isinstance(target, str) or "${" in target:
            raise CheckpointError(f"{where}: stored config key {path}={target!r} is not a literal class name; a "
                                  "stored config's _target_ must name an allowed class directly")
        if target in allowed or _is_zoo_class(target) or target in trusted_targets():
            continue
        raise CheckpointError(
            f"{where}: stored config key {path}={target!r} is not an allowed target; a stored config may only "
            f"build zoo classes and the library targets the shipped conf/ tree uses ({len(allowed)} of them, "
            "e.g. torch.optim.Adam); to trust a class of your own, name it in $ZOO_TRUSTED_TARGETS"
        )
