"""Building objects from config nodes, with start-up checks that name the bad key."""

from __future__ import annotations

import difflib
import inspect
import logging
from typing import Any, Callable

import hydra
from hydra.utils import get_class, get_method
from omegaconf import DictConfig, ListConfig, OmegaConf

__all__ = ["check_target_keys", "instantiate_callbacks", "instantiate_loggers"]

log = logging.getLogger(__name__)

_HYDRA_KEYS = {"_target_", "_partial_", "_recursive_", "_convert_", "_args_"}


def _wandb_init() -> Callable:
    import wandb

    return wandb.init


#: targets that take ``**kwargs`` only to hand them on: the callable whose signature also counts
#: (WandbLogger passes its extra keys to ``wandb.init``; without this a misspelt ``logger.wandb.*``
#: key fails only when the logger is built, after data and model)
KWARGS_FORWARDED_TO: dict[str, Callable[[], Callable]] = {
    "lightning.pytorch.loggers.wandb.WandbLogger": _wandb_init,
}


def _qualname(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', '')}"


def _accepted(obj: Any) -> tuple[set[str], bool]:
    """The keyword names ``obj`` accepts, and whether it takes any keyword (``**kwargs``)."""
    fn = obj.__init__ if inspect.isclass(obj) else obj
    params = inspect.signature(fn).parameters
    names = {n for n, p in params.items() if n not in ("self",) and p.kind not in (
        inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)}
    takes_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    forward = KWARGS_FORWARDED_TO.get(_qualname(obj))
    if takes_kwargs and forward is not None:
        inner_names, inner_kwargs = _accepted(forward())
        return names | inner_names, inner_kwargs
    return names, takes_kwargs


def _resolve_target(target: str, where: str) -> Any:
    try:
        return get_class(target)
    except Exception:  # noqa: BLE001 - fall back to functions, report both failures below
        try:
            return get_method(target)
        except Exception as err:  # noqa: BLE001
            raise ValueError(f"{where}._target_={target!r} cannot be imported: {err}") from None


def check_target_keys(node: Any, where: str) -> None:
    """Recursively check that every key of a ``_target_`` node is a parameter of its target.

    A misspelt key in a YAML file (``trainer.max_epoch``) otherwise surfaces only when the object
    is built, or never when the target takes ``**kwargs``. A target that hands its ``**kwargs`` on
    (:data:`KWARGS_FORWARDED_TO`: ``WandbLogger`` -> ``wandb.init``) is checked against both.

    :param node: a config node (``DictConfig``/``ListConfig``) or a plain value.
    :param where: the dotted key of ``node``, used in the error message.
    :raises ValueError: naming the key, the target and the accepted parameters.
    """
    if isinstance(node, DictConfig):
        target = node.get("_target_") if "_target_" in node else None
        if target is not None:
            obj = _resolve_target(target, where)
            allowed, takes_kwargs = _accepted(obj)
            if not takes_kwargs:
                for key in node.keys():
                    if key not in _HYDRA_KEYS and key not in allowed:
                        close = difflib.get_close_matches(str(key), sorted(allowed), n=1)
                        hint = f" (did you mean {close[0]!r}?)" if close else ""
                        raise ValueError(
                            f"{where}.{key}: {target} has no parameter {key!r}{hint}; "
                            f"expected one of {sorted(allowed)}"
                        )
        for key in node.keys():
            check_target_keys(node._get_node(key), f"{where}.{key}")
    elif isinstance(node, ListConfig):
        for i, item in enumerate(node):
            check_target_keys(item, f"{where}[{i}]")


def _instantiate_group(cfg: DictConfig | None, kind: str) -> list[Any]:
    objects: list[Any] = []
    if not cfg:
        return objects
    if not isinstance(cfg, DictConfig):
        raise ValueError(f"{kind} config must be a mapping of name -> object config, got {cfg!r}")
    for name, conf in cfg.items():
        if conf is None:  # disabled with `callbacks.<name>=null`
            continue
        if isinstance(conf, DictConfig) and "_target_" in conf:
            log.info(f"Instantiating {kind} <{conf._target_}>")
            objects.append(hydra.utils.instantiate(conf))
    return objects


def instantiate_callbacks(cfg: DictConfig | None) -> list[Any]:
    """Build every callback under ``callbacks`` (entries set to ``null`` are skipped)."""
    return _instantiate_group(cfg, "callback")


def instantiate_loggers(cfg: DictConfig | None) -> list[Any]:
    """Build every logger under ``logger`` (entries set to ``null`` are skipped)."""
    return _instantiate_group(cfg, "logger")


def to_container(cfg: DictConfig, resolve: bool = True) -> dict:
    """``OmegaConf.to_container`` that keeps unresolvable interpolations as strings."""
    try:
        return OmegaConf.to_container(cfg, resolve=resolve)  # type: ignore[return-value]
    except Exception:  # noqa: BLE001 - e.g. ${hydra:...} outside a Hydra job
        return OmegaConf.to_container(cfg, resolve=False)  # type: ignore[return-value]
