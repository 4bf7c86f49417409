"""``last.ckpt`` after every training epoch, so ``ckpt_path=last`` loses no finished epoch."""

from __future__ import annotations

from lightning.pytorch.callbacks import ModelCheckpoint

__all__ = ["LastCheckpoint"]


class LastCheckpoint(ModelCheckpoint):
    """Writes ``<dirpath>/last.ckpt`` at the end of every training epoch (validation included, so a
    resumed run starts at the next epoch), replacing the previous one.

    ``ModelCheckpoint(save_last=True)`` writes ``last.ckpt`` only in an epoch where it also saved a
    new top-k checkpoint: a run killed after its best epoch would restart from that best epoch and
    redo the rest. Its own class name gives it a ``state_key`` distinct from the best-checkpoint
    callback's, so both are saved in and restored from a checkpoint.

    Args:
        dirpath: the run's checkpoint folder.
    """

    def __init__(self, *, dirpath: str) -> None:
        super().__init__(dirpath=dirpath, filename="last", monitor=None, save_top_k=1,
                         enable_version_counter=False, save_on_train_epoch_end=True)
