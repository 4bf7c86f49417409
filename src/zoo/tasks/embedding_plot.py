"""t-SNE scatter plots of embeddings, written as PNG into the run directory.

"Visualizing Data using t-SNE" (van der Maaten & Hinton, JMLR 2008). Used by the HAR tasks to
plot test embeddings per modality; when a WandbLogger is attached the image is logged too.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Optional

import numpy as np

__all__ = ["save_tsne"]

log = logging.getLogger(__name__)


def save_tsne(
    features: np.ndarray, labels: np.ndarray, path: str, title: str, seed: int = 0, loggers: Optional[list[Any]] = None
) -> Optional[str]:
    """Embed ``features`` ``(N, D)`` in 2-D with t-SNE, colour by ``labels`` ``(N,)``, save a PNG at ``path``.

    :returns: the path, or ``None`` when there are fewer than 3 points.
    """
    if len(features) < 3:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.manifold import TSNE

    perplexity = float(min(30, max(1, (len(features) - 1) // 3)))
    # exact gradients for small sets: Barnes-Hut's OpenMP threads crawl on a busy machine
    method = "exact" if len(features) <= 1000 else "barnes_hut"
    points = TSNE(
        n_components=2, perplexity=perplexity, init="pca", random_state=seed, method=method, max_iter=500
    ).fit_transform(
        np.asarray(features, dtype=np.float32)
    )
    fig, ax = plt.subplots(figsize=(6, 6))
    scatter = ax.scatter(points[:, 0], points[:, 1], c=labels, cmap="nipy_spectral", s=8)
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    fig.colorbar(scatter, ax=ax, label="class")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    for logger in loggers or []:
        if type(logger).__name__ == "WandbLogger":
            import wandb

            logger.experiment.log({os.path.splitext(os.path.basename(path))[0]: wandb.Image(path)})
    log.info(f"Saved t-SNE plot {path}")
    return path
