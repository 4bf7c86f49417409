"""Multimodal sequence classification: linear evaluation, fine-tuning, supervised baseline.

One task covers the three protocols of the HAR family (arXiv 2309.01262, CMC-CMKM arXiv
2207.07106): features :math:`h = [f_{m_1}(x^{m_1}) \\,\\Vert\\, \\ldots]` of the chosen modalities are
concatenated and a linear classifier :math:`p(y|x) = \\mathrm{softmax}(W h + b)` is trained with
cross-entropy (after a non-affine batch norm of :math:`h` by default). ``modality_scaling`` rescales
each modality's block :math:`h_m` so that every modality contributes alike to the classifier whatever
its width: ``l2`` divides it by its norm, :math:`h_m / \\lVert h_m \\rVert_2` (per sample), ``sqrt_dim``
by :math:`\\sqrt{d_m}` (after the batch norm each block then has unit expected squared norm);
without it, the 6400 flattened IMU features outweigh the skeleton's 256. With ``head_hidden`` the
classifier is CMC-CMKM's head instead (``MultiModalClassifier``, arXiv 2207.07106): each modality's
features first pass through :math:`\\mathrm{ReLU}(\\mathrm{BN}(W_m h_m))` of width ``head_hidden``,
and the linear layer reads their concatenation; on frozen encoders this is an MLP probe, not a
linear one.
``modality_loss_weight`` :math:`\\lambda > 0` adds, in training, each modality's own cross-entropy
through its block of the classifier, :math:`\\mathcal{L} = \\mathrm{CE}(W h + b) + \\lambda \\sum_m
\\mathrm{CE}(W_m h_m + b)`: every block must classify on its own, so the widest modality cannot carry
the fit alone (at test time the classifier is unchanged, :math:`W h + b = \\sum_m W_m h_m + b`; with
one modality there is nothing to add).

* **linear evaluation**: ``pretrained_ckpt`` set, ``freeze_encoders=true`` (encoders in eval mode,
  no gradients; ``cache_features`` reuses each recording's features after the first epoch);
* **fine-tuning**: ``pretrained_ckpt`` set, ``freeze_encoders=false``;
* **supervised baseline**: no checkpoint, encoders trained from scratch.

``modalities`` picks one modality (single-modality evaluation) or both (concatenated features).
"""

from __future__ import annotations

import logging
import os
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score

from zoo.checkpoints import load_encoder_weights
from zoo.tasks.base import OptimizerFactory, SchedulerFactory, ZooTask
from zoo.utils.plots import save_tsne

__all__ = ["MultimodalClassificationTask", "load_encoder_weights", "MODALITY_SCALINGS", "check_modality_scaling", "scale_modalities"]

log = logging.getLogger(__name__)

#: per-modality rescaling of the concatenated features (``None``: none)
MODALITY_SCALINGS = ("l2", "sqrt_dim")


def check_modality_scaling(scaling: Optional[str]) -> None:
    """:raises ValueError: ``scaling`` is neither ``None`` nor one of :data:`MODALITY_SCALINGS`."""
    if scaling is not None and scaling not in MODALITY_SCALINGS:
        raise ValueError(f"model.modality_scaling={scaling!r}; expected null or one of {list(MODALITY_SCALINGS)}")


def scale_modalities(h: Tensor, widths: Sequence[int], scaling: Optional[str]) -> Tensor:
    """Rescale each modality's block of ``h`` (``(B, sum(widths))``) as ``scaling`` says.

    ``l2``: every block divided by its per-sample L2 norm (each block then has norm 1);
    ``sqrt_dim``: block :math:`m` divided by :math:`\\sqrt{d_m}`; ``None``: ``h`` unchanged.

    :raises ValueError: an unknown ``scaling``, or widths that do not add up to ``h``'s width.
    """
    check_modality_scaling(scaling)
    if scaling is None:
        return h
    if sum(widths) != h.shape[-1]:
        raise ValueError(f"modality widths {list(widths)} add up to {sum(widths)}, features have {h.shape[-1]}")
    blocks = torch.split(h, list(widths), dim=-1)
    if scaling == "l2":
        blocks = [F.normalize(b, dim=-1) for b in blocks]
    else:
        blocks = [b / b.shape[-1] ** 0.5 for b in blocks]
    return torch.cat(blocks, dim=-1)



class MultimodalClassificationTask(ZooTask):
    """Linear classifier over concatenated encoder features.

    Args:
        encoders: ``{modality: encoder}``; each exposes ``out_features``.
        num_classes: number of classes (from the datamodule).
        optimizer: partial optimizer.
        scheduler: optional partial LR scheduler.
        modalities: modalities whose features are used, in order (default: all encoders).
        pretrained_ckpt: checkpoint of a contrastive pre-training run to load ``encoders.*`` from
            (default: ``None``: random initialisation).
        freeze_encoders: linear evaluation: encoders stay fixed in eval mode (default: ``False``).
        cache_features: with frozen encoders, compute each recording's features once; an error
            with training augmentations, which would be frozen at their first draw (default: ``False``).
        dropout: dropout on the features before the classifier (default: ``0.0``).
        feature_norm: standardise the concatenated features with a non-affine batch norm before the
            classifier; frozen features of different modalities differ in scale by orders of
            magnitude (default: ``True``).
        label_smoothing: cross-entropy label smoothing (default: ``0.0``).
        plot_tsne: write ``tsne_<modality>.png`` of the test features (default: ``True``).
        head_hidden: width of a per-modality ``Linear-BN-ReLU`` layer before the classifier, as
            CMC-CMKM's evaluation head (256 there) (default: ``None``: strictly linear).
        modality_scaling: ``l2`` or ``sqrt_dim``: rescale each modality's features (after
            ``feature_norm``, or after the head) so that each modality weighs alike in the
            classifier (see :func:`scale_modalities`) (default: ``None``: no rescaling).
        modality_loss_weight: weight :math:`\\lambda` of the per-modality cross-entropy terms added
            in training with two or more modalities (see the module doc) (default: ``0.0``: the fused
            cross-entropy alone).

    Metrics: ``train/loss``, ``train/acc``, ``val/loss``, ``val/acc``, ``val/f1``, ``val/acc_best``,
    ``test/loss``, ``test/acc``, ``test/f1`` (macro-F1).
    """

    best_metrics = {"val/acc": "max"}

    def __init__(
        self,
        *,
        encoders: dict[str, nn.Module],
        num_classes: int,
        optimizer: OptimizerFactory,
        scheduler: Optional[SchedulerFactory] = None,
        modalities: Optional[Sequence[str]] = None,
        pretrained_ckpt: Optional[str] = None,
        freeze_encoders: bool = False,
        cache_features: bool = False,
        dropout: float = 0.0,
        feature_norm: bool = True,
        label_smoothing: float = 0.0,
        plot_tsne: bool = True,
        head_hidden: Optional[int] = None,
        modality_scaling: Optional[str] = None,
        modality_loss_weight: float = 0.0,
    ) -> None:
        super().__init__(optimizer=optimizer, scheduler=scheduler)
        check_modality_scaling(modality_scaling)
        if head_hidden is not None and head_hidden < 1:
            raise ValueError(f"model.head_hidden={head_hidden}; expected a positive width or null (linear classifier)")
        if modality_loss_weight < 0:
            raise ValueError(f"model.modality_loss_weight={modality_loss_weight}; expected a weight >= 0")
        modalities = list(modalities) if modalities is not None else list(encoders)
        unknown = [m for m in modalities if m not in encoders]
        if not modalities or unknown:
            raise ValueError(f"model.modalities={modalities!r}; expected a non-empty subset of {sorted(encoders)}")
        if cache_features and not freeze_encoders:
            raise ValueError("model.cache_features=true needs model.freeze_encoders=true")
        self.save_hyperparameters(logger=False, ignore=["encoders", "optimizer", "scheduler"])
        self.modalities = modalities
        self.encoders = nn.ModuleDict({m: encoders[m] for m in modalities})
        self.num_classes = num_classes
        self.pretrained_ckpt = pretrained_ckpt
        self.freeze_encoders = freeze_encoders
        self.cache_features = cache_features
        self.dropout = dropout
        self.feature_norm = feature_norm
        self.label_smoothing = label_smoothing
        self.plot_tsne = plot_tsne
        self.head_hidden = head_hidden
        self.modality_scaling = modality_scaling
        self.modality_loss_weight = modality_loss_weight
        if pretrained_ckpt is not None:
            load_encoder_weights(self.encoders, pretrained_ckpt)
        elif freeze_encoders:
            log.warning("model.freeze_encoders=true without model.pretrained_ckpt: linear evaluation of random encoders")
        if freeze_encoders:
            self.encoders.requires_grad_(False)
        widths = {m: int(self.encoders[m].out_features) for m in modalities}
        self.head = None
        if head_hidden is not None:
            self.head = nn.ModuleDict({
                m: nn.Sequential(nn.Linear(w, head_hidden), nn.BatchNorm1d(head_hidden), nn.ReLU())
                for m, w in widths.items()
            })
            widths = {m: head_hidden for m in modalities}
        self.widths = [widths[m] for m in modalities]
        width = sum(widths.values())
        # frozen features: a cumulative average (momentum=None) gives exact statistics even after
        # the few steps of a k-labels-per-class run
        momentum = None if freeze_encoders else 0.1
        self.norm = nn.BatchNorm1d(width, affine=False, momentum=momentum) if feature_norm else None
        self.classifier = nn.Linear(width, num_classes)
        self._cache: dict[tuple[str, int], Tensor] = {}
        self._test_feats: dict[str, list[Tensor]] = {}

        def metrics(prefix: str) -> MetricCollection:
            return MetricCollection(
                {"acc": MulticlassAccuracy(num_classes, average="micro"),
                 "f1": MulticlassF1Score(num_classes, average="macro")},
                prefix=prefix,
            )

        self.train_metrics = metrics("train/")
        self.val_metrics = metrics("val/")
        self.test_metrics = metrics("test/")

    def setup(self, stage: str) -> None:
        # cached training features would repeat the first epoch's augmentations in every later epoch
        if self.cache_features and getattr(self.trainer.datamodule, "train_transforms", None):
            raise ValueError(
                "model.cache_features=true with data.train_transforms set: the cached features would keep the "
                "first epoch's augmentations; set data.train_transforms=null or model.cache_features=false")

    def train(self, mode: bool = True) -> "MultimodalClassificationTask":
        super().train(mode)
        if self.freeze_encoders:
            self.encoders.eval()  # frozen encoders keep batch-norm statistics and dropout off
        return self

    @property
    def cached_stages(self) -> set[str]:
        """The stages (``train``, ``val``, ``test``) whose frozen features are cached."""
        return {stage for stage, _, _ in self._cache}

    def features(self, batch: dict[str, Tensor], stage: str = "") -> dict[str, Tensor]:
        """Encoder features ``{modality: (B, F)}`` (cached per recording when configured)."""
        if self.freeze_encoders and self.encoders.training:
            # Lightning restores each submodule's recorded mode after validation: re-freeze here
            self.encoders.eval()
        if not (self.cache_features and stage):
            with torch.set_grad_enabled(torch.is_grad_enabled() and not self.freeze_encoders):
                return {m: self.encoders[m](batch[m]) for m in self.modalities}
        index = batch["index"].tolist()
        out = {}
        for m in self.modalities:
            if all((stage, m, i) in self._cache for i in index):
                out[m] = torch.stack([self._cache[(stage, m, i)] for i in index]).to(batch[m].device)
            else:
                with torch.no_grad():
                    out[m] = self.encoders[m](batch[m])
                for i, f in zip(index, out[m].cpu()):
                    self._cache[(stage, m, i)] = f
        return out

    def classifier_input(self, batch: dict[str, Tensor], stage: str = "") -> Tensor:
        """The classifier's input ``h``: the modalities' features (through the head, if any),
        concatenated, normalised, scaled and dropped out."""
        feats = self.features(batch, stage)
        if self.head is not None:
            feats = {m: self.head[m](feats[m]) for m in self.modalities}
        h = torch.cat([feats[m] for m in self.modalities], dim=1)
        if self.norm is not None:
            h = self.norm(h)
        h = scale_modalities(h, self.widths, self.modality_scaling)
        return F.dropout(h, p=self.dropout, training=self.training)

    def forward(self, batch: dict[str, Tensor], stage: str = "") -> Tensor:
        return self.classifier(self.classifier_input(batch, stage))

    def modality_logits(self, h: Tensor) -> list[Tensor]:
        """:math:`W_m h_m + b` for each modality's block of ``h`` (they sum to the logits plus
        ``(M - 1) b``)."""
        blocks = torch.split(h, self.widths, dim=-1)
        weights = torch.split(self.classifier.weight, self.widths, dim=-1)
        return [F.linear(block, weight, self.classifier.bias) for block, weight in zip(blocks, weights)]

    def _step(self, batch: dict[str, Tensor], stage: str) -> tuple[Tensor, Tensor]:
        h = self.classifier_input(batch, stage)
        logits = self.classifier(h)
        loss = F.cross_entropy(logits, batch["label"], label_smoothing=self.label_smoothing)
        if stage == "train" and self.modality_loss_weight > 0 and len(self.modalities) > 1:
            loss = loss + self.modality_loss_weight * sum(
                F.cross_entropy(z, batch["label"], label_smoothing=self.label_smoothing)
                for z in self.modality_logits(h))
        return loss, logits

    def on_train_start(self) -> None:
        self.val_metrics.reset()

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        loss, logits = self._step(batch, "train")
        n = batch["label"].numel()
        self.train_metrics.update(logits, batch["label"])
        self.log("train/loss", loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=n)
        self.log_dict(self.train_metrics, on_step=False, on_epoch=True, batch_size=n)
        return loss

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        loss, logits = self._step(batch, "val")
        self.val_metrics.update(logits, batch["label"])
        self.log("val/loss", loss, on_step=False, on_epoch=True, prog_bar=True,
                 batch_size=batch["label"].numel(), sync_dist=True)

    def on_validation_epoch_end(self) -> None:
        values = self.val_metrics.compute()
        self.val_metrics.reset()
        self.log_dict(values, prog_bar=True, sync_dist=True)
        self.log_best(values)

    def test_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        loss, logits = self._step(batch, "test")
        self.test_metrics.update(logits, batch["label"])
        self.log("test/loss", loss, on_step=False, on_epoch=True, batch_size=batch["label"].numel(), sync_dist=True)
        self.log_dict(self.test_metrics, on_step=False, on_epoch=True, batch_size=batch["label"].numel())
        if self._plotting():
            feats = self.features(batch, "test")
            for m in self.modalities:
                self._test_feats.setdefault(m, []).append(feats[m].detach())
            self._test_feats.setdefault("label", []).append(batch["label"])

    def _plotting(self) -> bool:
        # fast_dev_run is a smoke test: no files, no t-SNE
        return self.plot_tsne and not self.trainer.fast_dev_run

    def on_test_epoch_end(self) -> None:
        if not self._plotting() or not self._test_feats:
            return
        out = {k: torch.cat(v) for k, v in self._test_feats.items()}
        self._test_feats = {}
        gathered = {k: self.all_gather(v).reshape(-1, *v.shape[1:]) for k, v in out.items()}
        if self.trainer.is_global_zero:
            labels = gathered["label"].cpu().numpy()
            for m in self.modalities:
                save_tsne(gathered[m].cpu().numpy(), labels, os.path.join(self.trainer.default_root_dir, f"tsne_{m}.png"),
                          f"t-SNE of test {m} features", loggers=self.loggers)

    def predict_step(self, batch: dict[str, Tensor], batch_idx: int) -> dict[str, Tensor]:
        """One row per recording: ``recording`` (dataset index), ``subject``, ``class``, ``label``."""
        rows: dict[str, Tensor] = {}
        for key, column in (("index", "recording"), ("subject", "subject")):
            if torch.is_tensor(batch.get(key)):
                rows[column] = batch[key]
        rows["class"] = self(batch).argmax(dim=-1)
        if torch.is_tensor(batch.get("label")):
            rows["label"] = batch["label"]
        return rows
