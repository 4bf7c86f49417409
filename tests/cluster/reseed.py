"""A test-only callback: re-seed a 1-process run where ``DDPStrategy`` re-seeds every rank."""

from __future__ import annotations

from lightning.fabric.utilities.seed import reset_seed
from lightning.pytorch import Callback


class ReseedLikeDDP(Callback):
    """Call Lightning's ``reset_seed()`` (back to ``seed_everything``'s seed) at ``setup``.

    ``DDPStrategy.setup_distributed`` calls ``reset_seed()`` on every rank before fitting, after the
    model was built; a plain 1-process trainer does not. With this callback the 1-process run draws
    the same random numbers in training (neighbour samples, dropout masks) as each DDP rank.
    """

    def setup(self, trainer, pl_module, stage: str) -> None:
        reset_seed()
