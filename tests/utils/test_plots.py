"""zoo.utils.plots: t-SNE, confusion matrix and metric curves write real PNGs; bad input is named."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from lightning.pytorch import Trainer
from lightning.pytorch.demos.boring_classes import BoringModel
from lightning.pytorch.loggers import CSVLogger

from zoo.callbacks.metric_curves import MetricCurves
from zoo.utils.plots import save_confusion_matrix, save_metric_curves, save_tsne

PNG = b"\x89PNG\r\n\x1a\n"


def test_tsne_many_classes_and_too_few_points(tmp_path):
    rng = np.random.default_rng(0)
    z = rng.normal(size=(60, 4)) + np.repeat(np.arange(12), 5)[:, None]
    path = save_tsne(z, np.repeat(np.arange(12), 5), tmp_path / "tsne.png", "12 classes (colour bar)")
    assert open(path, "rb").read(8) == PNG
    assert save_tsne(z[:2], np.arange(2), tmp_path / "none.png", "2 points") is None
    with pytest.raises(ValueError, match="60 feature rows but 59 labels"):
        save_tsne(z, np.zeros(59), tmp_path / "bad.png", "bad")


def test_confusion_matrix(tmp_path):
    matrix = torch.tensor([[5, 1], [2, 7]])
    path = save_confusion_matrix(matrix, ["neg", "pos"], tmp_path / "cm" / "confusion.png", "test confusion")
    assert open(path, "rb").read(8) == PNG
    with pytest.raises(ValueError, match=r"shape \(2, 2\) for 3 names"):
        save_confusion_matrix(matrix, ["a", "b", "c"], tmp_path / "x.png", "bad")


class _LoggingModel(BoringModel):
    def training_step(self, batch, batch_idx):
        out = super().training_step(batch, batch_idx)
        self.log("train/loss", out["loss"], on_step=False, on_epoch=True)
        return out

    def validation_step(self, batch, batch_idx):
        out = super().validation_step(batch, batch_idx)
        self.log("val/loss", out["x"], on_epoch=True)
        return out


def test_metric_curves_callback_plots_the_csv_log(tmp_path):
    callback = MetricCurves()
    trainer = Trainer(default_root_dir=tmp_path, max_epochs=3, limit_train_batches=2, limit_val_batches=1,
                      logger=CSVLogger(tmp_path / "csv"), callbacks=[callback], enable_progress_bar=False,
                      enable_checkpointing=False, enable_model_summary=False, accelerator="cpu")
    trainer.fit(_LoggingModel())
    assert callback.path == str(tmp_path / "plots" / "curves.png")
    assert open(callback.path, "rb").read(8) == PNG
    assert save_metric_curves(tmp_path / "missing.csv", tmp_path / "c.png") is None
