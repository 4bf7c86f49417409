"""t-SNE plot helper writes a PNG."""

from __future__ import annotations

import numpy as np
import pytest

from zoo.callbacks.embedding_tsne import EmbeddingTSNE, save_tsne


def test_save_tsne_writes_png(tmp_path):
    rng = np.random.default_rng(0)
    z = np.concatenate([rng.normal(0, 1, (30, 8)), rng.normal(6, 1, (30, 8))])
    y = np.array([0] * 30 + [1] * 30)
    path = save_tsne(z, y, str(tmp_path / "plots" / "tsne.png"), "test")
    assert (tmp_path / "plots" / "tsne.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.endswith("tsne.png")


def test_bad_max_points():
    with pytest.raises(ValueError, match="max_points"):
        EmbeddingTSNE(max_points=1)
