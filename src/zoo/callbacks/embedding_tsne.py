"""t-SNE plot of learned node embeddings, coloured by class, written after testing.

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
from lightning.pytorch.loggers import WandbLogger

__all__ = ["EmbeddingTSNE", "save_tsne"]

log = logging.getLogger(__name__)


def save_tsne(embeddings: np.ndarray, labels: np.ndarray, path: str, title: str, seed: int = 0,
              perplexity: float = 30.0) -> str:
    """Embed ``(n, d)`` points in 2-D with t-SNE and save a scatter plot coloured by ``labels``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.manifold import TSNE

    perplexity = min(perplexity, max(1.0, (len(embeddings) - 1) / 3))
    points = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(embeddings)
    fig, ax = plt.subplots(figsize=(6, 6))
    scatter = ax.scatter(points[:, 0], points[:, 1], c=labels, cmap="tab10", s=4)
    ax.legend(*scatter.legend_elements(), title="class", loc="best", fontsize="small")
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


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
        self.path = save_tsne(z, y, path, f"{type(pl_module.net).__name__} embeddings (t-SNE)", seed=self.seed)
        log.info(f"t-SNE plot written to {self.path}")
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                import wandb

                logger.experiment.log({"tsne": wandb.Image(self.path)})
