"""last.ckpt follows every epoch, also the epochs that do not improve the monitored metric."""

from __future__ import annotations

import torch
from omegaconf import open_dict

from tests.conftest import compose_train
from zoo import cli


def test_last_ckpt_written_every_epoch_without_improvement(tmp_path):
    # lr = 0: val/acc never improves after epoch 0, so ModelCheckpoint(save_last=True) would stop at 0
    cfg = compose_train(tmp_path, ["experiment=gcn_cora", "model.optimizer.lr=0.0", "callbacks.early_stopping=null"],
                        shrink=False)
    with open_dict(cfg):
        cfg.trainer.max_epochs = 3
        cfg.test = False
    cli.train(cfg)
    last = torch.load(tmp_path / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert last["epoch"] == 2 and last["global_step"] == 3
    assert [p.name for p in (tmp_path / "checkpoints").glob("epoch_*.ckpt")] == ["epoch_000.ckpt"]
