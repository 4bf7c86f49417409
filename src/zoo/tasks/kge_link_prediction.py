"""Knowledge-graph link prediction: an embedding model trained with negatives from a sampler."""

from __future__ import annotations

import logging
from typing import Optional

import torch
from torch import Tensor

from zoo.metrics.filter_index import FilterIndex
from zoo.metrics.rank_based_metrics import RankBasedMetrics, realistic_rank
from zoo.nets.kge_model import KGEModel
from zoo.objectives.kge_loss import KGELoss
from zoo.objectives.negative_sampler import NegativeSampler
from zoo.tasks.base import OptimizerFactory, SchedulerFactory, ZooTask

__all__ = ["KGELinkPredictionTask"]

log = logging.getLogger(__name__)


class KGELinkPredictionTask(ZooTask):
    """Stochastic local closed-world training (PyKEEN's sLCWA) and filtered rank evaluation.

    Training: for a batch of positive triples, the sampler's ``sample`` gives ``num_negatives``
    corruptions each (with a mask of known true triples); the loss compares the net's scores.
    Evaluation: every valid/test triple is ranked against all entities for head and tail, with
    the other known true triples (train, valid, test) filtered out; ties get the realistic rank.

    Args:
        net: a :class:`~zoo.nets.kge_model.KGEModel` (sizes read from the datamodule in the config).
        sampler: a :class:`~zoo.objectives.negative_sampler.NegativeSampler`; fitted on the training
            triples in ``setup``, with the datamodule's ``entity_embeddings`` when it
            ``needs_entity_embeddings`` (rank 0 first under DDP, so text embeddings are computed once).
        loss: a :class:`~zoo.objectives.kge_loss.KGELoss`.
        optimizer, scheduler, scheduler_interval: see :class:`~zoo.tasks.base.ZooTask`.
        hits_at: the k of Hits@k (default: ``[1, 3, 10]``).

    Metrics: ``train/loss``, ``val/{mrr,mr,hits@1,hits@3,hits@10}``, ``val/mrr_best``,
    ``test/{mrr,mr,hits@1,hits@3,hits@10}``.
    """

    best_metrics = {"val/mrr": "max"}

    def __init__(
        self,
        *,
        net: KGEModel,
        sampler: NegativeSampler,
        loss: KGELoss,
        optimizer: OptimizerFactory,
        scheduler: Optional[SchedulerFactory] = None,
        scheduler_interval: str = "epoch",
        hits_at: tuple[int, ...] = (1, 3, 10),
    ) -> None:
        super().__init__(optimizer=optimizer, scheduler=scheduler, scheduler_interval=scheduler_interval)
        self.save_hyperparameters(logger=False, ignore=["net", "sampler", "loss", "optimizer", "scheduler"])
        if not isinstance(net, KGEModel):
            raise ValueError(f"model.net={type(net).__name__}; expected a zoo.nets.kge_model.KGEModel")
        self.net = net
        self.sampler = sampler
        self.loss = loss
        self.hits_at = tuple(int(k) for k in hits_at)
        self.val_metrics = RankBasedMetrics(self.hits_at)
        self.test_metrics = RankBasedMetrics(self.hits_at)
        self.filter_index: Optional[FilterIndex] = None
        self._sampler_fitted = False

    # -- setup ------------------------------------------------------------------------------------
    def setup(self, stage: str) -> None:
        datamodule = self.trainer.datamodule
        datamodule.setup(stage)
        if datamodule.num_entities != self.net.num_entities or datamodule.num_relations != self.net.num_relations:
            raise ValueError(
                f"model.net has {self.net.num_entities} entities / {self.net.num_relations} relations but the "
                f"datamodule {datamodule.num_entities} / {datamodule.num_relations}; use ${{datamodule:num_entities}}"
            )
        if self.filter_index is None:
            self.filter_index = FilterIndex(datamodule.all_triples, datamodule.num_entities, datamodule.num_relations)
        if stage == "fit" and not self._sampler_fitted:
            strategy = self.trainer.strategy
            # a sampler that clusters entity vectors (LEMON) gets the datamodule's cached embeddings
            fit = lambda: self.sampler.fit(  # noqa: E731
                datamodule.triples("train"), num_entities=datamodule.num_entities,
                num_relations=datamodule.num_relations, rank=self.global_rank,
                entity_embeddings=datamodule.entity_embeddings if self.sampler.needs_entity_embeddings else None)
            if self.global_rank == 0:
                fit()  # computes and caches the datamodule's text embeddings once
            strategy.barrier("kge_sampler_fit")
            if self.global_rank != 0:
                fit()
            self._sampler_fitted = True

    # -- training ---------------------------------------------------------------------------------
    def forward(self, triples: Tensor) -> Tensor:
        """Scores of ``(..., 3)`` id triples."""
        return self.net(triples[..., 0], triples[..., 1], triples[..., 2])

    def on_train_start(self) -> None:
        self.val_metrics.reset()
        # also here: a run resumed inside an epoch does not call on_train_epoch_start first
        self._loss_sum = torch.zeros((), device=self.device)
        self._loss_count = 0

    def on_train_epoch_start(self) -> None:
        self._loss_sum = torch.zeros((), device=self.device)
        self._loss_count = 0

    def training_step(self, batch: Tensor, batch_idx: int) -> Tensor:
        positive = batch[:, :3]
        negatives, mask = self.sampler.sample(positive)
        # negatives keep their positive's relation; the net builds each positive's query once
        positive_scores, negative_scores = self.net.score_slcwa(positive, negatives)
        loss = self.loss(positive_scores, negative_scores, mask)
        # the epoch mean is logged once in on_train_epoch_end: a per-step self.log costs more than
        # a small KGE step (no host sync here either)
        self._loss_sum += loss.detach()
        self._loss_count += 1
        return loss

    def on_train_epoch_end(self) -> None:
        if self._loss_count:
            self.log("train/loss", self._loss_sum / self._loss_count, prog_bar=True, sync_dist=True)

    def on_train_batch_end(self, outputs, batch, batch_idx: int) -> None:
        self.net.post_update_()

    # -- evaluation -------------------------------------------------------------------------------
    @torch.no_grad()
    def rank_batch(self, triples: Tensor) -> tuple[Tensor, Tensor]:
        """Filtered realistic ranks ``(head_rank, tail_rank)`` of ``(B, 3)`` triples."""
        h, r, t = triples[:, 0], triples[:, 1], triples[:, 2]
        tail_scores = self.net.score_tails(h, r)
        tail_rank = realistic_rank(tail_scores, t, self.filter_index.mask(h, r, "tail"))
        del tail_scores
        head_scores = self.net.score_heads(r, t)
        head_rank = realistic_rank(head_scores, h, self.filter_index.mask(t, r, "head"))
        return head_rank, tail_rank

    def _eval_step(self, batch: Tensor, metrics: RankBasedMetrics) -> None:
        head_rank, tail_rank = self.rank_batch(batch[:, :3])
        index = batch[:, 3] if batch.size(1) > 3 else torch.arange(len(batch), device=batch.device)
        metrics.update(index, head_rank, tail_rank)

    def validation_step(self, batch: Tensor, batch_idx: int) -> None:
        self._eval_step(batch, self.val_metrics)

    def on_validation_epoch_end(self) -> None:
        values = self.val_metrics.compute()
        self.val_metrics.reset()
        self.log_dict({f"val/{k}": v for k, v in values.items()}, prog_bar=False, sync_dist=True)
        self.log_best({"val/mrr": values["mrr"]})

    def test_step(self, batch: Tensor, batch_idx: int) -> None:
        self._eval_step(batch, self.test_metrics)

    #: how many best-scored tails :meth:`predict_step` returns (``eval.top_k``)
    predict_top_k: int = 10

    @torch.no_grad()
    def predict_step(self, batch: Tensor, batch_idx: int) -> dict[str, Tensor]:
        """One row per test triple: ``head``, ``relation``, ``tail`` (the true one) and the
        ``predict_top_k`` best-scored ``tails`` with their ``scores`` (raw, unfiltered)."""
        h, r, t = batch[:, 0], batch[:, 1], batch[:, 2]
        scores = self.net.score_tails(h, r)
        top = scores.topk(min(int(self.predict_top_k), scores.size(-1)), dim=-1)
        return {"head": h, "relation": r, "tail": t, "tails": top.indices, "scores": top.values}

    def on_test_epoch_end(self) -> None:
        values = self.test_metrics.compute()
        self.test_metrics.reset()
        self.log_dict({f"test/{k}": v for k, v in values.items()}, sync_dist=True)
