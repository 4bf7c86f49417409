"""Cross-modal contrastive pre-training of two sequence encoders (CMC / hard-negative CMC).

"Multimodal Contrastive Learning with Hard Negative Sampling for Human Activity Recognition"
(Choi et al., 2023), https://arxiv.org/abs/2309.01262; the CMC baseline of Tian et al. (2020),
https://arxiv.org/abs/1906.05849. The encoders' outputs go through projection heads and the
objective (:mod:`zoo.objectives.cross_modal_infonce` or
:mod:`zoo.objectives.hard_negative_contrastive`) pulls the two modalities of a recording together.
Downstream tasks load ``encoders.*`` from the checkpoint
(:class:`~zoo.tasks.multimodal_classification.MultimodalClassificationTask`).
"""

from __future__ import annotations

import os
from typing import Callable, Optional, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchmetrics import MeanMetric

from zoo.objectives.cross_modal_contrastive import CrossModalContrastiveLoss
from zoo.tasks.base import OptimizerFactory, SchedulerFactory, ZooTask
from zoo.utils.plots import save_tsne

__all__ = ["CrossModalContrastiveTask"]


class CrossModalContrastiveTask(ZooTask):
    """Contrastive pre-training on paired batches ``{modality: (B, L, ...), "label": (B,)}``.

    Args:
        encoders: ``{modality: encoder}`` for exactly two modalities; each encoder exposes ``out_features``.
        projections: ``{modality: projection head}`` with the same keys; a head may also be given as a
            factory (a partial) that the task calls with ``in_features=encoder.out_features``.
        loss: a :class:`~zoo.objectives.cross_modal_contrastive.CrossModalContrastiveLoss`
            (labels are passed; it uses them only with ``use_labels``).
        optimizer: partial optimizer.
        scheduler: optional partial LR scheduler.
        plot_tsne: write ``tsne_<modality>.png`` of the test embeddings (default: ``True``).

    Metrics: ``train/loss``, ``val/loss``, ``val/loss_best``, ``val/r1`` and ``test/r1``
    (cross-modal retrieval top-1 accuracy: the nearest IMU embedding of a skeleton embedding
    is its own pair, over the whole split), ``test/loss``.
    """

    best_metrics = {"val/loss": "min"}

    def __init__(
        self,
        *,
        encoders: dict[str, nn.Module],
        projections: dict[str, Union[nn.Module, Callable[..., nn.Module]]],
        loss: CrossModalContrastiveLoss,
        optimizer: OptimizerFactory,
        scheduler: Optional[SchedulerFactory] = None,
        plot_tsne: bool = True,
    ) -> None:
        super().__init__(optimizer=optimizer, scheduler=scheduler)
        if len(encoders) != 2 or set(encoders) != set(projections):
            raise ValueError(
                f"model.encoders {sorted(encoders)} and model.projections {sorted(projections)} must name "
                "the same two modalities"
            )
        self.save_hyperparameters(logger=False, ignore=["encoders", "projections", "loss", "optimizer", "scheduler"])
        self.modalities = list(encoders)
        self.encoders = nn.ModuleDict(encoders)
        self.projections = nn.ModuleDict({
            m: p if isinstance(p, nn.Module) else p(in_features=int(self.encoders[m].out_features))
            for m, p in projections.items()
        })
        self.loss_fn = loss
        self.plot_tsne = plot_tsne
        self.val_loss = MeanMetric()
        self.test_loss = MeanMetric()
        self._outputs: dict[str, list[Tensor]] = {}

    def forward(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """Encoder features ``{modality: (B, F)}``."""
        return {m: self.encoders[m](batch[m]) for m in self.modalities}

    def _step(self, batch: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        feats = self(batch)
        z = [self.projections[m](feats[m]) for m in self.modalities]
        return self.loss_fn(z[0], z[1], batch["label"]), feats

    def on_train_start(self) -> None:
        self.val_loss.reset()

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        loss, _ = self._step(batch)
        self.log("train/loss", loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=batch["label"].numel())
        return loss

    def _collect(self, feats: dict[str, Tensor], batch: dict[str, Tensor]) -> None:
        for m in self.modalities:
            self._outputs.setdefault(m, []).append(F.normalize(self.projections[m](feats[m]), dim=-1).detach())
            self._outputs.setdefault(f"feat_{m}", []).append(feats[m].detach())
        self._outputs.setdefault("label", []).append(batch["label"])

    def _retrieval(self) -> tuple[Tensor, dict[str, Tensor]]:
        out = {k: torch.cat(v) for k, v in self._outputs.items()}
        self._outputs = {}
        gathered = {k: self.all_gather(v).reshape(-1, *v.shape[1:]) for k, v in out.items()}
        a, b = gathered[self.modalities[0]], gathered[self.modalities[1]]
        r1 = ((a @ b.T).argmax(dim=1) == torch.arange(len(a), device=a.device)).float().mean()
        return r1, gathered

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        loss, feats = self._step(batch)
        self.val_loss.update(loss, weight=batch["label"].numel())
        self._collect(feats, batch)

    def on_validation_epoch_end(self) -> None:
        loss = self.val_loss.compute()
        self.val_loss.reset()
        r1, _ = self._retrieval()
        self.log("val/loss", loss, prog_bar=True, sync_dist=True)
        self.log("val/r1", r1, prog_bar=True, sync_dist=True)
        self.log_best({"val/loss": loss}, prog_bar=False)

    def test_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        loss, feats = self._step(batch)
        self.test_loss.update(loss, weight=batch["label"].numel())
        self._collect(feats, batch)

    def on_test_epoch_end(self) -> None:
        loss = self.test_loss.compute()
        self.test_loss.reset()
        r1, gathered = self._retrieval()
        self.log("test/loss", loss, sync_dist=True)
        self.log("test/r1", r1, sync_dist=True)
        if self.plot_tsne and self.trainer.is_global_zero and not self.trainer.fast_dev_run:
            out_dir = self.trainer.default_root_dir
            labels = gathered["label"].cpu().numpy()
            for m in self.modalities:
                save_tsne(gathered[f"feat_{m}"].cpu().numpy(), labels, os.path.join(out_dir, f"tsne_{m}.png"),
                          f"t-SNE of test {m} features (contrastive)", loggers=self.loggers)
