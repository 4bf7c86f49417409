"""The zoo's plots, written as PNG into a run directory: t-SNE of embeddings, confusion matrices, metric curves.

One place for every figure a run makes, so they look alike and reach W&B the same way. The callbacks
(:class:`zoo.callbacks.embedding_tsne.EmbeddingTSNE`) and the tasks that plot at test end call these
functions; each also logs its PNG as ``wandb.Image`` when a W&B logger is passed.

* :func:`save_tsne`: "Visualizing Data using t-SNE" (van der Maaten & Hinton, JMLR 2008).
* :func:`save_confusion_matrix`: counts of (true, predicted) pairs, annotated.
* :func:`save_metric_curves`: every epoch-level ``train/*`` and ``val/*`` metric of a CSVLogger file.
"""

from __future__ import annotations

import csv
import logging
import os
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence

import numpy as np

__all__ = ["save_tsne", "save_confusion_matrix", "save_metric_curves", "log_image"]

log = logging.getLogger(__name__)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def log_image(loggers: Optional[Iterable[Any]], path: str | Path, key: Optional[str] = None) -> None:
    """Log the PNG at ``path`` as ``wandb.Image`` under ``key`` (default: the file's stem) to every W&B logger."""
    for logger in loggers or []:
        if type(logger).__name__ == "WandbLogger":
            import wandb

            logger.experiment.log({key or Path(path).stem: wandb.Image(str(path))})


def _save(fig: Any, path: str | Path, dpi: int) -> str:
    plt = _pyplot()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return str(path)


def save_tsne(features: np.ndarray, labels: np.ndarray, path: str | Path, title: str, seed: int = 0,
              perplexity: float = 30.0, loggers: Optional[Iterable[Any]] = None) -> Optional[str]:
    """Embed ``features`` ``(N, D)`` in 2-D with t-SNE, colour the points by ``labels`` ``(N,)``, save a PNG.

    Up to 10 classes get a legend, more a colour bar. Sets of at most 1,000 points use exact
    gradients (Barnes-Hut's threads crawl on a busy CPU). ``perplexity`` is capped at ``(N - 1) / 3``.

    :returns: the path, or ``None`` when there are fewer than 3 points (nothing to embed).
    :raises ValueError: ``features`` and ``labels`` differ in length.
    """
    features = np.asarray(features, dtype=np.float32)
    labels = np.asarray(labels)
    if len(features) != len(labels):
        raise ValueError(f"save_tsne: {len(features)} feature rows but {len(labels)} labels")
    if len(features) < 3:
        return None
    from sklearn.manifold import TSNE

    plt = _pyplot()
    perplexity = float(min(perplexity, max(1.0, (len(features) - 1) / 3)))
    method = "exact" if len(features) <= 1000 else "barnes_hut"
    points = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed, method=method,
                  max_iter=500).fit_transform(features)
    classes = np.unique(labels)
    fig, ax = plt.subplots(figsize=(6, 6))
    if len(classes) <= 10:
        scatter = ax.scatter(points[:, 0], points[:, 1], c=labels, cmap="tab10", s=6)
        ax.legend(*scatter.legend_elements(), title="class", loc="best", fontsize="small")
    else:
        scatter = ax.scatter(points[:, 0], points[:, 1], c=labels, cmap="nipy_spectral", s=8)
        fig.colorbar(scatter, ax=ax, label="class")
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    out = _save(fig, path, dpi=110)
    log_image(loggers, out)
    log.info(f"Saved t-SNE plot {out}")
    return out


def save_confusion_matrix(matrix: Any, names: Sequence[str], path: str | Path, title: str,
                          loggers: Optional[Iterable[Any]] = None) -> str:
    """Save a ``(C, C)`` confusion matrix (rows true, columns predicted) with its counts written in.

    :raises ValueError: the matrix is not square or does not match ``names``.
    """
    matrix = np.asarray(matrix.cpu() if hasattr(matrix, "cpu") else matrix)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.shape[0] != len(names):
        raise ValueError(f"save_confusion_matrix: matrix of shape {matrix.shape} for {len(names)} names")
    plt = _pyplot()
    size = len(names)
    fig, ax = plt.subplots(figsize=(1.2 * size + 2.5, 1.2 * size + 2))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(size), names, rotation=45, ha="right")
    ax.set_yticks(range(size), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    peak = float(matrix.max()) if matrix.size else 0.0
    for i in range(size):
        for j in range(size):
            value = int(matrix[i, j])
            ax.text(j, i, str(value), ha="center", va="center", color="white" if value > peak / 2 else "black")
    out = _save(fig, path, dpi=100)
    log_image(loggers, out)
    return out


def save_metric_curves(metrics_csv: str | Path, path: str | Path,
                       loggers: Optional[Iterable[Any]] = None) -> Optional[str]:
    """Plot every epoch-level ``train/*`` and ``val/*`` metric of a CSVLogger ``metrics.csv``, one panel each.

    :returns: the path, or ``None`` when the file is missing or holds no epoch metrics.
    """
    metrics_csv = Path(metrics_csv)
    if not metrics_csv.is_file():
        return None
    series: dict[str, list[tuple[int, float]]] = {}
    with metrics_csv.open() as handle:
        for row in csv.DictReader(handle):
            epoch = row.get("epoch")
            if epoch in (None, ""):
                continue
            for key, value in row.items():
                if key.startswith(("train/", "val/")) and value not in (None, ""):
                    series.setdefault(key, []).append((int(float(epoch)), float(value)))
    if not series:
        return None
    plt = _pyplot()
    names = sorted(series)
    cols = min(3, len(names))
    rows = (len(names) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names):
        xs, ys = zip(*sorted(series[name]))
        ax.plot(xs, ys, marker="." if len(xs) < 30 else None)
        ax.set_title(name)
        ax.set_xlabel("epoch")
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    out = _save(fig, path, dpi=80)
    log_image(loggers, out, key="plots/curves")
    return out
