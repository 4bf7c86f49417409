"""Every random state a run draws from, saved in each checkpoint and restored on resume.

Lightning's checkpoint already holds the weights, optimizer, schedulers, loop counters and the
datamodule's ``state_dict`` (zoo datamodules put their training-order and augmentation generators
there, see :mod:`zoo.data.resumable`). :class:`ResumeState` adds what is left:

* the global RNGs: torch (CPU, and every CUDA device in use), numpy and Python's ``random``
  (dropout, global-RNG augmentations, neighbour sampling draw from these);
* every ``torch.Generator`` a module of the task holds as an attribute (e.g. a negative sampler's).

All states are stored as tensors, lists and numbers, so the checkpoint loads with
``torch.load(weights_only=True)``. They are applied when training starts again
(``on_train_start``), after Lightning has rebuilt its data iterators, so the resumed run draws the
same numbers as the run that was interrupted.
"""

from __future__ import annotations

import logging
import random
from typing import Any, Optional

import numpy as np
import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.trainer.states import TrainerFn
from torch.utils.data import DataLoader

__all__ = ["ResumeState", "RNG_KEY", "global_rng_state", "set_global_rng_state"]

log = logging.getLogger(__name__)

#: checkpoint key of the random states
RNG_KEY = "zoo_rng"


def global_rng_state() -> dict[str, Any]:
    """torch, CUDA, numpy and Python ``random`` states as plain tensors, lists and numbers."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss = random.getstate()
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else []
    return {
        "torch": torch.get_rng_state(),
        "cuda": list(cuda),
        "numpy": {"name": str(name), "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "python": {"version": int(version), "state": [int(v) for v in internal], "gauss": gauss},
    }


def set_global_rng_state(state: dict[str, Any]) -> None:
    """Inverse of :func:`global_rng_state`."""
    torch.set_rng_state(state["torch"].cpu())
    cuda = state.get("cuda") or []
    if cuda and torch.cuda.is_available():
        if len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all([c.cpu() for c in cuda])
        else:
            log.warning(f"checkpoint holds {len(cuda)} CUDA RNG states, this machine has "
                        f"{torch.cuda.device_count()} devices: CUDA RNGs not restored")
    np_state = state["numpy"]
    np.random.set_state((np_state["name"], np_state["keys"].numpy().astype(np.uint32), np_state["pos"],
                         np_state["has_gauss"], np_state["cached_gaussian"]))
    py = state["python"]
    random.setstate((py["version"], tuple(py["state"]), py["gauss"]))


def _module_generators(pl_module: LightningModule) -> dict[str, tuple[Any, str]]:
    """``{"<module path>.<attr>": (module, attr)}`` for every generator-valued (or ``None``) slot."""
    found = {}
    for path, module in pl_module.named_modules():
        for attr, value in vars(module).items():
            if isinstance(value, torch.Generator):
                found[f"{path}.{attr}" if path else attr] = (module, attr)
    return found


class ResumeState(Callback):
    """Saves the global RNG states and the task modules' generators; restores them on resume.

    Added to every training run by ``zoo.cli.train``. Exact resume also needs ``num_workers=0``
    for the training loader (a worker process's RNG state is in no checkpoint); with workers the
    run still resumes, from the saved epoch and batch, and a warning says it is not bit-exact.
    """

    def __init__(self) -> None:
        self._pending: Optional[dict[str, Any]] = None

    def on_save_checkpoint(self, trainer: Trainer, pl_module: LightningModule, checkpoint: dict[str, Any]) -> None:
        generators = {}
        for key, (module, attr) in _module_generators(pl_module).items():
            g = getattr(module, attr)
            generators[key] = {"device": str(g.device), "state": g.get_state()}
        checkpoint[RNG_KEY] = {"global": global_rng_state(), "generators": generators}

    def on_load_checkpoint(self, trainer: Trainer, pl_module: LightningModule, checkpoint: dict[str, Any]) -> None:
        if trainer.state.fn != TrainerFn.FITTING:
            return
        self._pending = checkpoint.get(RNG_KEY)
        if self._pending is None:
            log.warning("the checkpoint holds no random states (written before zoo saved them): "
                        "the resumed run continues from its epoch and step, but not bit-exactly")

    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.ckpt_path is None:
            self._pending = None

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        state, self._pending = self._pending, None
        loaders = self._train_loaders(trainer)
        if any(getattr(dl, "num_workers", 0) > 0 for dl in loaders) and state is not None:
            log.warning("the training loader uses worker processes, whose random states no checkpoint holds: "
                        "resuming is exact only with data.num_workers=0")
        if state is None:
            return
        for key, saved in state.get("generators", {}).items():
            module = pl_module.get_submodule(key.rpartition(".")[0]) if "." in key else pl_module
            attr = key.rpartition(".")[2]
            if not hasattr(module, attr):
                log.warning(f"checkpoint generator {key!r} has no matching attribute in the task: not restored")
                continue
            g = getattr(module, attr)
            if not isinstance(g, torch.Generator):  # built lazily (e.g. a negative sampler's): build it now
                g = torch.Generator(device=saved["device"])
                setattr(module, attr, g)
            g.set_state(saved["state"].cpu())
        set_global_rng_state(state["global"])
        progress = trainer.fit_loop.epoch_progress.current
        if progress.started <= progress.processed:
            # resuming at an epoch boundary: Lightning already built this epoch's training iterator
            # before the states were restored; a loader without its own generator drew its worker
            # base seed from the global RNG there, as the interrupted run did after its checkpoint
            for dl in loaders:
                if isinstance(dl, DataLoader) and dl.generator is None:
                    torch.empty((), dtype=torch.int64).random_()

    @staticmethod
    def _train_loaders(trainer: Trainer) -> list[Any]:
        combined = trainer.fit_loop._combined_loader
        return list(combined.flattened) if combined is not None else []
