"""t-SNE plot of learned node embeddings, coloured by class, written after testing (via :mod:`zoo.utils.plots`).

van der Maaten & Hinton, "Visualizing Data using t-SNE" (JMLR 2008); TANGNN
(https://arxiv.org/abs/2411.15458, Sec. 5.6) shows such plots of its vertex representations.
"""

from __future__ import annotations

import logging
import os
from typing import Optional

import numpy as np
import torch
from lightning.pytorch import Callback, LightningModule, Trainer

from zoo.utils.plots import save_tsne

__all__ = ["EmbeddingTSNE", "save_tsne"]

log = logging.getLogger(__name__)


class EmbeddingTSNE(Callback):
    """After ``trainer.test``, plot ``pl_module.embed(x, edge_index)`` of every node with t-SNE.

    The first test batch must carry ``x``, ``edge_index`` and ``y`` (one full graph). The PNG goes to
    ``dirpath`` (default: the trainer's ``default_root_dir``) and, with a :class:`WandbLogger`,
    to W&B as ``wandb.Image``.

    Args:
        dirpath: output folder (default: ``None``: ``trainer.default_root_dir``).
        filename: PNG name (default: ``"tsne.png"``).
        max_points: nodes plotted at most, drawn with ``seed`` (default: ``3000``; 200 under
            ``fast_dev_run``).
        seed: subsample and t-SNE seed (default: ``0``).
    """

    def __init__(self, *, dirpath: Optional[str] = None, filename: str = "tsne.png", max_points: int = 3000,
                 seed: int = 0) -> None:
        super().__init__()
        if max_points < 2:
            raise ValueError(f"callbacks.embedding_tsne.max_points={max_points}; expected an integer >= 2")
        self.dirpath = dirpath
        self.filename = filename
        self.max_points = max_points
        self.seed = seed
        self.path: Optional[str] = None

    def on_test_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if not trainer.is_global_zero or not hasattr(pl_module, "embed"):
            return
        batch = next(iter(trainer.test_dataloaders))
        if not all(hasattr(batch, k) for k in ("x", "edge_index", "y")):
            log.warning("EmbeddingTSNE: the test batch has no x/edge_index/y; no plot")
            return
        batch = batch.to(pl_module.device)
        was_training = pl_module.training
        pl_module.eval()
        with torch.no_grad():
            z = pl_module.embed(batch.x, batch.edge_index).float().cpu().numpy()
        pl_module.train(was_training)
        y = batch.y.cpu().numpy()
        limit = min(self.max_points, 200) if trainer.fast_dev_run else self.max_points  # keep smoke runs cheap
        if len(z) > limit:
            keep = np.random.default_rng(self.seed).choice(len(z), limit, replace=False)
            z, y = z[keep], y[keep]
        path = os.path.join(self.dirpath or trainer.default_root_dir, self.filename)
        self.path = save_tsne(z, y, path, f"{type(pl_module.net).__name__} embeddings (t-SNE)", seed=self.seed,
                              loggers=trainer.loggers)
