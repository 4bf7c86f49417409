"""Multi-domain sentiment: one capsule network per domain, combined by domain-belonging degree.

"A weighted capsule network ensemble for multi-domain sentiment analysis" (2023),
https://arxiv.org/abs/2306.17068.
"""

from __future__ import annotations

import copy
import logging
import os
import re
from typing import Any, Optional, Sequence

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassConfusionMatrix, MulticlassF1Score

from zoo.nets.domain_belonging_degree import DomainBelongingDegree
from zoo.objectives.capsule_cross_entropy import length_probabilities
from zoo.objectives.capsule_objective import CapsuleObjective
from zoo.tasks.base import OptimizerFactory, SchedulerFactory, ZooTask

__all__ = ["CapsuleEnsembleTask", "WEIGHTINGS", "CLASS_WEIGHT_COUNTS"]

log = logging.getLogger(__name__)

WEIGHTINGS = ("dbd", "uniform")
CLASS_WEIGHT_COUNTS = ("domain", "pooled")


def _metric_suffix(name: str) -> str:
    return re.sub(r"[^0-9A-Za-z_]+", "_", name).strip("_") or "domain"


class CapsuleEnsembleTask(ZooTask):
    r"""Per-domain capsule networks whose class probabilities are mixed by the document's DBD.

    .. math::
        P(y \mid d) = \sum_i w_i(d)\, P_i(y \mid d), \qquad
        \hat{y} = \arg\max_y P(y \mid d), \qquad \hat{\imath} = \arg\max_i \mathrm{DBD}_i(d)

    with :math:`P_i(y \mid d) = a^{(i)}_y / \sum_k a^{(i)}_k` from the class-capsule lengths of
    domain :math:`i`'s network and :math:`w_i(d) = \mathrm{DBD}_i(d)`
    (:class:`~zoo.nets.domain_belonging_degree.DomainBelongingDegree`, fitted on the training
    split's subword counts in :meth:`setup`) or :math:`1/D` (``weighting="uniform"``). Network
    :math:`i` is trained only on domain :math:`i`'s training documents (each document passes through
    its own domain's network), all in this one module. ``per_domain=False`` trains one network on
    the pooled domains instead (the baseline); the DBD then still predicts the domain.

    Args:
        net: a capsule network (``TextCapsuleNet``); copied and re-initialised once per domain.
        objective: a :class:`~zoo.objectives.capsule_objective.CapsuleObjective`; its class weights
            come from the training label counts chosen by ``class_weight_counts``.
        dbd: the domain-belonging degree module.
        num_classes, num_domains, class_names, domain_names: from the datamodule.
        optimizer, scheduler: partials.
        per_domain: one network per domain (default) or one pooled network.
        weighting: ``dbd`` (default) or ``uniform`` mixing weights.
        class_weight_counts: which training label counts set the class weights of network
            :math:`i`: ``domain`` (default), domain :math:`i`'s own counts, or ``pooled``, the
            counts of all domains together (the same weights for every network; always the case
            for ``per_domain=False``). ``pooled`` targets the imbalance of the pooled label
            distribution that the pooled metrics (accuracy, macro-F1) see; ``domain`` also
            up-weights classes that are rare only inside one domain (on the Persian set the 21
            neutral food reviews get weight 19, see the README).
        share_embeddings: all domain networks use one embedding table (trained by every domain's
            documents, like pretrained vectors shared by the networks); everything above the
            embedding stays per domain (default: ``False``).
        pooled_warmup_epochs: for the first ``K`` epochs the domain networks are tied: network 0
            is trained on every domain's documents (each domain's slice of the batch with that
            domain's class weights, i.e. the per-domain loss with shared weights) and after every
            step its weights are copied into the other networks; from epoch ``K`` on each network
            trains on its own domain only, starting from the pooled weights and, at the switch,
            from network 0's optimizer state (pooled pre-training, then per-domain fine-tuning).
            The state lives in the weights and the epoch counter, so a resumed run continues the
            same schedule; every process does the same (DDP). ``0`` (default): no warm-up.
        finetune_lr_scale: at the switch after the warm-up, every optimizer parameter group's
            learning rate is multiplied by this factor (fine-tuning with a smaller step; the scaled
            rate is part of the optimizer state, so a resumed run keeps it; a scheduler that
            recomputes rates from its base rates overrides it). Default: ``1.0``.

    Metrics: ``train/loss``; ``val/loss``, ``val/polarity_acc``, ``val/polarity_f1``,
    ``val/domain_acc``, ``val/polarity_acc_best``, ``val/polarity_f1_best``; ``test/`` the same plus
    ``test/polarity_acc_<domain>`` per domain. Confusion matrices (polarity and domain) are saved as
    PNG in the run dir after testing and logged to W&B when a WandbLogger is attached.
    """

    best_metrics = {"val/polarity_acc": "max", "val/polarity_f1": "max"}

    def __init__(
        self,
        *,
        net: nn.Module,
        objective: CapsuleObjective,
        dbd: DomainBelongingDegree,
        num_classes: int,
        num_domains: int,
        class_names: Sequence[str],
        domain_names: Sequence[str],
        optimizer: OptimizerFactory,
        scheduler: Optional[SchedulerFactory] = None,
        per_domain: bool = True,
        weighting: str = "dbd",
        class_weight_counts: str = "domain",
        share_embeddings: bool = False,
        pooled_warmup_epochs: int = 0,
        finetune_lr_scale: float = 1.0,
    ) -> None:
        super().__init__(optimizer=optimizer, scheduler=scheduler)
        if weighting not in WEIGHTINGS:
            raise ValueError(f"model.weighting={weighting!r}; expected one of {list(WEIGHTINGS)}")
        if class_weight_counts not in CLASS_WEIGHT_COUNTS:
            raise ValueError(
                f"model.class_weight_counts={class_weight_counts!r}; expected one of {list(CLASS_WEIGHT_COUNTS)}"
            )
        if len(class_names) != num_classes or len(domain_names) != num_domains:
            raise ValueError(
                f"model.class_names={list(class_names)} / model.domain_names={list(domain_names)} do "
                f"not match num_classes={num_classes} / num_domains={num_domains}"
            )
        self.save_hyperparameters(logger=False, ignore=["net", "objective", "dbd", "optimizer", "scheduler"])
        self.num_classes = num_classes
        self.num_domains = num_domains
        self.class_names = list(class_names)
        self.domain_names = list(domain_names)
        self.per_domain = per_domain
        self.weighting = weighting
        self.class_weight_counts = class_weight_counts
        self.share_embeddings = share_embeddings
        if pooled_warmup_epochs is None or pooled_warmup_epochs < 0:
            raise ValueError(f"model.pooled_warmup_epochs={pooled_warmup_epochs!r}; expected an integer >= 0")
        self.pooled_warmup_epochs = int(pooled_warmup_epochs)
        if finetune_lr_scale is None or not finetune_lr_scale > 0:
            raise ValueError(f"model.finetune_lr_scale={finetune_lr_scale!r}; expected a number > 0")
        self.finetune_lr_scale = float(finetune_lr_scale)
        if share_embeddings and not isinstance(getattr(net, "embedding", None), nn.Embedding):
            raise ValueError(
                f"model.share_embeddings=true needs a net with an `embedding` (nn.Embedding); "
                f"{type(net).__name__} has none"
            )
        shared = ("embedding",) if share_embeddings else ()
        copies = [net]
        for _ in range(num_domains - 1 if per_domain else 0):
            clone = copy.deepcopy(net)
            if hasattr(clone, "reset_parameters"):
                clone.reset_parameters()
            for name in shared:  # one module, trained by every domain's documents
                setattr(clone, name, getattr(net, name))
            copies.append(clone)
        self.nets = nn.ModuleList(copies)
        self.objective = objective
        self.dbd = dbd
        self.register_buffer("class_weight", torch.ones(len(copies), num_classes))
        self.register_buffer("use_class_weight", torch.zeros((), dtype=torch.bool))

        def collection(prefix: str) -> MetricCollection:
            return MetricCollection(
                {
                    "polarity_acc": MulticlassAccuracy(num_classes, average="micro"),
                    "polarity_f1": MulticlassF1Score(num_classes, average="macro"),
                },
                prefix=prefix,
            )

        self.val_metrics = collection("val/")
        self.test_metrics = collection("test/")
        self.val_domain_acc = MulticlassAccuracy(num_domains, average="micro")
        self.test_domain_acc = MulticlassAccuracy(num_domains, average="micro")
        self.test_domain_polarity = nn.ModuleList(
            MulticlassAccuracy(num_classes, average="micro") for _ in range(num_domains)
        )
        self.test_polarity_confusion = MulticlassConfusionMatrix(num_classes)
        self.test_domain_confusion = MulticlassConfusionMatrix(num_domains)

    # -- statistics from the training split -------------------------------------------------------
    def setup(self, stage: Optional[str] = None) -> None:
        datamodule = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        if datamodule is None:
            return
        if stage == "fit" or not bool(self.dbd.fitted):
            self.fit_statistics(datamodule)

    @torch.no_grad()
    def fit_statistics(self, datamodule: Any) -> None:
        """Fit the DBD on the training term counts (its prior on the documents per domain) and set
        the class weights."""
        counts = datamodule.class_counts()  # (D, C)
        device = self.dbd.term_degree.device
        self.dbd.fit(datamodule.domain_term_counts().to(device), counts.sum(dim=1).to(device))
        if not self.per_domain or self.class_weight_counts == "pooled":
            counts = counts.sum(dim=0, keepdim=True).expand(len(self.nets), -1)
        weights = self.objective.weights_from_counts(counts)
        if weights is not None:
            self.class_weight.copy_(weights.to(self.class_weight))
            self.use_class_weight.fill_(True)
            rows = "domains" if self.per_domain and self.class_weight_counts == "domain" else "pooled counts"
            log.info(f"class weights (one row per network, from {rows}): {weights.tolist()}")

    # -- forward ----------------------------------------------------------------------------------
    def mixing_weights(self, input_ids: Tensor) -> tuple[Tensor, Tensor]:
        """``(degrees, weights)``: the DBD ``(B, D)`` and the mixing weights ``(B, K)``."""
        degrees = self.dbd(input_ids)
        if not self.per_domain:
            return degrees, degrees.new_ones(degrees.size(0), 1)
        if self.weighting == "uniform":
            return degrees, torch.full_like(degrees, 1.0 / self.num_domains)
        return degrees, degrees

    def forward(self, input_ids: Tensor) -> tuple[Tensor, Tensor]:
        """Polarity probabilities ``(B, C)`` and domain degrees ``(B, D)``."""
        degrees, weights = self.mixing_weights(input_ids)
        probs = torch.stack([length_probabilities(net(input_ids)) for net in self.nets], dim=1)  # (B, K, C)
        return (weights.unsqueeze(-1).to(probs.dtype) * probs).sum(dim=1), degrees

    def _class_weight(self, k: int) -> Optional[Tensor]:
        if not bool(self.use_class_weight):
            return None
        return self.class_weight[k]

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        ids, y, domain = batch["input_ids"], batch["label"], batch["domain"]
        if not self.per_domain:
            loss = self.objective(self.nets[0](ids), y, self._class_weight(0))
        else:
            loss = ids.new_zeros((), dtype=torch.float32)
            tied = self.in_pooled_warmup
            pooled_out = self.nets[0](ids) if tied else None
            distributed = dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1
            for k, net in enumerate(self.nets):
                sel = domain == k
                n = int(sel.sum())
                if n == 0:
                    if distributed and not tied:
                        # this process's batch lacks domain k: net k joins the loss with zero gradients,
                        # since DDP (without find_unused_parameters) must reduce the same parameters on
                        # every process; a single process leaves the net out of the step instead
                        loss = loss + 0.0 * sum(p.sum() for p in net.parameters())
                    continue
                out = pooled_out[sel] if tied else net(ids[sel])
                loss = loss + (n / y.numel()) * self.objective(out, y[sel], self._class_weight(k))
            if tied:
                # every parameter takes part in the loss (zero gradients for the tied copies), so DDP
                # without find_unused_parameters reduces the same set each step; the copies are
                # overwritten from network 0 after the step (on_train_batch_end)
                loss = loss + 0.0 * sum(p.sum() for net in self.nets[1:] for p in net.parameters())
        self.log("train/loss", loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=y.numel())
        return loss

    # -- pooled warm-up -------------------------------------------------------------------------------
    @property
    def in_pooled_warmup(self) -> bool:
        """Whether the domain networks are tied to network 0 in the current epoch (there is more than
        one network only with ``per_domain``)."""
        return len(self.nets) > 1 and self.current_epoch < self.pooled_warmup_epochs

    @torch.no_grad()
    def tie_nets(self, optimizer: Optional[torch.optim.Optimizer] = None) -> None:
        """Copy network 0's parameters and buffers (and, given ``optimizer``, its per-parameter
        optimizer state) into every other domain network; shared modules are skipped."""
        source = self.nets[0]
        for net in self.nets[1:]:
            for p0, p in zip(source.parameters(), net.parameters()):
                if p is p0:
                    continue
                p.copy_(p0)
                if optimizer is not None and p0 in optimizer.state:
                    optimizer.state[p] = copy.deepcopy(optimizer.state[p0])
            for b0, b in zip(source.buffers(), net.buffers()):
                if b is not b0:
                    b.copy_(b0)

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        if self.in_pooled_warmup:
            self.tie_nets()

    def on_train_epoch_start(self) -> None:
        if len(self.nets) > 1 and 0 < self.pooled_warmup_epochs == self.current_epoch:
            optimizers = self.optimizers(use_pl_optimizer=False)
            optimizer = optimizers[0] if isinstance(optimizers, list) else optimizers
            self.tie_nets(optimizer)
            for group in optimizer.param_groups:
                group["lr"] = group["lr"] * self.finetune_lr_scale
            log.info(f"epoch {self.current_epoch}: pooled warm-up done; domain networks now train on their own domains")

    def _evaluate(self, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor, Tensor]:
        probs, degrees = self(batch["input_ids"])
        loss = nn.functional.nll_loss(torch.log(probs.clamp_min(1e-8)), batch["label"])
        return loss, probs, degrees

    def on_train_start(self) -> None:
        self.val_metrics.reset()
        self.val_domain_acc.reset()

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        loss, probs, degrees = self._evaluate(batch)
        self.val_metrics.update(probs, batch["label"])
        self.val_domain_acc.update(degrees, batch["domain"])
        self.log("val/loss", loss, on_step=False, on_epoch=True, prog_bar=True,
                 batch_size=probs.size(0), sync_dist=True)

    def on_validation_epoch_end(self) -> None:
        values = self.val_metrics.compute()
        values["val/domain_acc"] = self.val_domain_acc.compute()
        self.val_metrics.reset()
        self.val_domain_acc.reset()
        self.log_dict(values, prog_bar=True, sync_dist=True)
        self.log_best(values)

    def test_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        loss, probs, degrees = self._evaluate(batch)
        y, domain = batch["label"], batch["domain"]
        self.test_metrics.update(probs, y)
        self.test_domain_acc.update(degrees, domain)
        self.test_polarity_confusion.update(probs, y)
        self.test_domain_confusion.update(degrees, domain)
        for k, metric in enumerate(self.test_domain_polarity):
            sel = domain == k
            if bool(sel.any()):
                metric.update(probs[sel], y[sel])
        self.log("test/loss", loss, on_step=False, on_epoch=True, batch_size=y.numel(), sync_dist=True)

    def on_test_epoch_end(self) -> None:
        values = self.test_metrics.compute()
        values["test/domain_acc"] = self.test_domain_acc.compute()
        for name, metric in zip(self.domain_names, self.test_domain_polarity):
            if metric.update_count > 0:
                values[f"test/polarity_acc_{_metric_suffix(name)}"] = metric.compute()
            metric.reset()
        self.log_dict(values, sync_dist=True)
        polarity_cm = self.test_polarity_confusion.compute().cpu()
        domain_cm = self.test_domain_confusion.compute().cpu()
        self.test_metrics.reset()
        self.test_domain_acc.reset()
        self.test_polarity_confusion.reset()
        self.test_domain_confusion.reset()
        if self.trainer.is_global_zero:
            self._save_confusion(polarity_cm, self.class_names, "polarity", "confusion_polarity.png")
            self._save_confusion(domain_cm, self.domain_names, "domain (argmax DBD)", "confusion_domain.png")

    def _save_confusion(self, matrix: Tensor, names: list[str], title: str, filename: str) -> None:
        from zoo.utils.plots import save_confusion_matrix

        save_confusion_matrix(matrix, names, os.path.join(self.trainer.default_root_dir, filename),
                              f"test confusion: {title}")
        for logger in self.loggers:
            if type(logger).__name__ == "WandbLogger":
                import wandb

                logger.experiment.log({f"test/{os.path.splitext(filename)[0]}": wandb.Image(path)})

    def predict_step(self, batch: dict[str, Tensor], batch_idx: int) -> dict[str, Tensor]:
        """One row per text: ``polarity``, ``domain`` (argmax DBD), the ``dbd`` weights per domain, ``label``."""
        probs, degrees = self(batch["input_ids"])
        rows = {"polarity": probs.argmax(dim=-1), "domain": degrees.argmax(dim=-1), "dbd": degrees}
        if torch.is_tensor(batch.get("label")):
            rows["label"] = batch["label"]
        return rows
