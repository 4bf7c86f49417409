"""CapsuleEnsembleTask end to end on a tiny three-domain CSV corpus: metrics, plots, eval rebuild."""

from __future__ import annotations

import pytest
import torch
from omegaconf import open_dict

from tests.conftest import compose_eval, compose_train
from tests.data.test_multidomain_text import ROWS, _write_csv
from zoo import cli


def _cfg(tmp_path, extra=()):
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = _write_csv(tmp_path / "corpus.csv", ROWS)
    cfg = compose_train(tmp_path / "run", [
        "experiment=capsule_blitzer", "data=multidomain_csv", f"data.path={path}", "data.vocab_size=120",
        "data.batch_size=16", "seed=0", *extra,
    ])
    with open_dict(cfg):
        cfg.trainer.max_epochs = 3
        cfg.paths.cache_dir = str(tmp_path / "cache")
    return cfg


def test_ensemble_trains_logs_metrics_plots_and_rebuilds_from_checkpoint(tmp_path):
    metrics, objects = cli.train(_cfg(tmp_path, ["model.objective.class_weights=inverse"]))
    for key in ("train/loss", "val/polarity_acc", "val/polarity_acc_best", "val/domain_acc",
                "test/polarity_acc", "test/polarity_f1", "test/domain_acc",
                "test/polarity_acc_food", "test/polarity_acc_movies", "test/polarity_acc_phones"):
        assert key in metrics, (key, sorted(metrics))
    model = objects["model"]
    assert len(model.nets) == 3 and bool(model.dbd.fitted) and bool(model.use_class_weight)
    # nets are independent copies, re-initialised
    assert not torch.equal(model.nets[0].weight, model.nets[1].weight)
    run_dir = tmp_path / "run"
    assert (run_dir / "confusion_polarity.png").is_file() and (run_dir / "confusion_domain.png").is_file()
    assert (run_dir / "splits.tsv").is_file()
    best = objects["trainer"].checkpoint_callback.best_model_path
    eval_metrics, _ = cli.evaluate(compose_eval(tmp_path / "eval", [f"ckpt_path={best}"]))
    for key in ("test/polarity_acc", "test/domain_acc"):
        assert eval_metrics[key] == pytest.approx(metrics[key], abs=1e-6)


def test_mixing_weights_dbd_uniform_pooled(tmp_path):
    cfg = _cfg(tmp_path, ["debug=fdr"])
    _, objects = cli.train(cfg)
    model, dm = objects["model"].eval(), objects["datamodule"]
    ids = next(iter(dm.test_dataloader()))["input_ids"]
    degrees, weights = model.mixing_weights(ids)
    torch.testing.assert_close(weights, degrees)
    torch.testing.assert_close(degrees.sum(dim=1), torch.ones(ids.size(0)))
    with torch.no_grad():
        probs, _ = model(ids)
        per_net = torch.stack([n(ids) / n(ids).sum(dim=1, keepdim=True) for n in model.nets], dim=1)
        torch.testing.assert_close(probs, (degrees.unsqueeze(-1) * per_net).sum(dim=1), rtol=1e-4, atol=1e-5)
        model.weighting = "uniform"
        torch.testing.assert_close(model(ids)[0], per_net.mean(dim=1), rtol=1e-4, atol=1e-5)
    pooled_cfg = _cfg(tmp_path / "pooled", ["debug=fdr", "model.per_domain=false"])
    metrics, objects = cli.train(pooled_cfg)
    assert len(objects["model"].nets) == 1 and "test/domain_acc" in metrics


def test_bad_weighting_names_choices(tmp_path):
    with pytest.raises(ValueError, match=r"model.weighting='softmax'.*dbd"):
        cli.train(_cfg(tmp_path, ["model.weighting=softmax"]))


class _Counts:
    """The two statistics CapsuleEnsembleTask.fit_statistics reads from a datamodule."""

    def domain_term_counts(self) -> torch.Tensor:
        return torch.tensor([[0.0, 3.0, 1.0, 0.0], [0.0, 1.0, 0.0, 2.0]])

    def class_counts(self) -> torch.Tensor:
        # domain 0: 90 neg / 10 pos; domain 1: 2 neg / 18 pos. Pooled: 92 / 28.
        return torch.tensor([[90.0, 10.0], [2.0, 18.0]])


def _task(**kwargs):
    from functools import partial

    from zoo.nets.domain_belonging_degree import DomainBelongingDegree
    from zoo.nets.text_capsule_net import TextCapsuleNet
    from zoo.objectives.margin_loss import MarginLoss
    from zoo.tasks.capsule_ensemble import CapsuleEnsembleTask

    return CapsuleEnsembleTask(
        net=TextCapsuleNet(vocab_size=4, num_classes=2, embed_dim=4, hidden_dim=4, pool=1),
        objective=MarginLoss(class_weights="inverse"),
        dbd=DomainBelongingDegree(num_domains=2, vocab_size=4),
        num_classes=2, num_domains=2, class_names=["neg", "pos"], domain_names=["a", "b"],
        optimizer=partial(torch.optim.Adam, lr=1e-3), **kwargs,
    )


def test_class_weight_counts_domain_vs_pooled():
    per_domain = _task()
    per_domain.fit_statistics(_Counts())
    # w_c = N / (C N_c) per domain
    torch.testing.assert_close(per_domain.class_weight, torch.tensor([[100 / 180, 100 / 20], [20 / 4, 20 / 36]]))
    pooled = _task(class_weight_counts="pooled")
    pooled.fit_statistics(_Counts())
    expected = torch.tensor([120 / 184, 120 / 56])
    torch.testing.assert_close(pooled.class_weight, torch.stack([expected, expected]))
    single = _task(per_domain=False)
    single.fit_statistics(_Counts())
    torch.testing.assert_close(single.class_weight, expected.unsqueeze(0))
    assert bool(pooled.use_class_weight) and bool(single.use_class_weight)
    with pytest.raises(ValueError, match=r"model.class_weight_counts='global'.*pooled"):
        _task(class_weight_counts="global")


def test_share_embeddings_ties_only_the_embedding_table():
    task = _task(share_embeddings=True)
    first, second = task.nets
    assert first.embedding.weight is second.embedding.weight
    assert first.weight is not second.weight and not torch.equal(first.weight, second.weight)
    # the shared table is one optimizer parameter, trained by both domains' documents
    names = {id(p) for p in task.parameters()}
    assert len(names) == 2 * len(list(first.parameters())) - 1
    # term 3 occurs only in domain 1's document: its row of the shared table is trained through net 1
    batch = {"input_ids": torch.tensor([[1, 2], [3, 3]]), "label": torch.tensor([0, 1]),
             "domain": torch.tensor([0, 1])}
    for model, shared in ((task, True), (_task(), False)):
        model.log = lambda *args, **kwargs: None  # no trainer attached
        model.training_step(batch, 0).backward()
        row3 = model.nets[0].embedding.weight.grad[3]
        assert bool(row3.abs().sum() > 0) is shared
        assert model.nets[1].embedding.weight.grad[3].abs().sum() > 0
    plain = _task()
    assert plain.nets[0].embedding.weight is not plain.nets[1].embedding.weight


def test_share_embeddings_needs_an_embedding():
    from functools import partial

    from zoo.nets.domain_belonging_degree import DomainBelongingDegree
    from zoo.objectives.margin_loss import MarginLoss
    from zoo.tasks.capsule_ensemble import CapsuleEnsembleTask

    with pytest.raises(ValueError, match="share_embeddings.*Linear"):
        CapsuleEnsembleTask(
            net=torch.nn.Linear(3, 2), objective=MarginLoss(), dbd=DomainBelongingDegree(num_domains=2, vocab_size=4),
            num_classes=2, num_domains=2, class_names=["neg", "pos"], domain_names=["a", "b"],
            optimizer=partial(torch.optim.Adam, lr=1e-3), share_embeddings=True,
        )


def _nets_equal(state: dict, num_nets: int) -> bool:
    """Whether every domain network in a (checkpoint) state dict holds network 0's tensors."""
    first = {k[len("nets.0."):]: v for k, v in state.items() if k.startswith("nets.0.")}
    return all(torch.equal(state[f"nets.{i}.{name}"], value) for i in range(1, num_nets) for name, value in first.items())


def test_pooled_warmup_ties_the_nets_then_they_diverge_after_resume(tmp_path):
    overrides = ["model.pooled_warmup_epochs=2", "model.finetune_lr_scale=0.5", "model.optimizer.lr=0.004",
                 "model.objective.class_weights=inverse", "callbacks.early_stopping=null"]
    cfg = _cfg(tmp_path, overrides)
    with open_dict(cfg):
        cfg.trainer.max_epochs = 2
    _, objects = cli.train(cfg)
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    warm = torch.load(last, map_location="cpu", weights_only=True)
    assert warm["epoch"] == 1
    assert warm["optimizer_states"][0]["param_groups"][0]["lr"] == pytest.approx(0.004)
    # after the warm-up epochs every domain net holds the (trained) pooled weights
    assert _nets_equal(warm["state_dict"], 3)
    assert not torch.equal(warm["state_dict"]["nets.0.weight"], objects["model"].nets[0].weight.new_zeros(1))
    # resume: epoch 2 starts the per-domain fine-tuning from the pooled weights and optimizer state
    resumed_cfg = _cfg(tmp_path / "resumed", [*overrides, f"ckpt_path={last}"])
    with open_dict(resumed_cfg):
        resumed_cfg.trainer.max_epochs = 3
    cli.train(resumed_cfg)
    tuned = torch.load(tmp_path / "resumed" / "run" / "checkpoints" / "last.ckpt", map_location="cpu",
                       weights_only=True)
    assert tuned["epoch"] == 2
    assert tuned["optimizer_states"][0]["param_groups"][0]["lr"] == pytest.approx(0.002)  # finetune_lr_scale
    assert not _nets_equal(tuned["state_dict"], 3)
    # one fine-tuning epoch from equal weights: the nets moved apart but stay near the pooled weights
    for i in range(3):
        moved = tuned["state_dict"][f"nets.{i}.weight"] - warm["state_dict"]["nets.0.weight"]
        assert 0 < float(moved.abs().max()) < 0.5


def test_pooled_warmup_step_trains_net0_on_all_domains_and_tie_nets_copies_optimizer_state():
    task = _task(pooled_warmup_epochs=1)
    task.log = lambda *args, **kwargs: None  # no trainer attached: current_epoch is 0, inside the warm-up
    assert task.in_pooled_warmup and not _task().in_pooled_warmup
    assert not _task(pooled_warmup_epochs=1, per_domain=False).in_pooled_warmup
    batch = {"input_ids": torch.tensor([[1, 2], [3, 3]]), "label": torch.tensor([0, 1]), "domain": torch.tensor([0, 1])}
    optimizer = torch.optim.Adam(task.parameters(), lr=1e-2)
    task.training_step(batch, 0).backward()
    first, second = task.nets
    # term 3 occurs only in domain 1's document: in the warm-up it trains network 0's embedding row
    assert first.embedding.weight.grad[3].abs().sum() > 0
    # the tied copy takes part in the loss (DDP reduces every parameter) with zero gradients
    assert all(p.grad is not None and not p.grad.any() for p in second.parameters())
    optimizer.step()
    task.tie_nets(optimizer)
    for p0, p1 in zip(first.parameters(), second.parameters()):
        assert torch.equal(p0, p1) and p0 is not p1
        torch.testing.assert_close(optimizer.state[p1]["exp_avg"], optimizer.state[p0]["exp_avg"])
        assert optimizer.state[p1]["exp_avg"] is not optimizer.state[p0]["exp_avg"]
    with pytest.raises(ValueError, match=r"model.pooled_warmup_epochs=-1"):
        _task(pooled_warmup_epochs=-1)
    with pytest.raises(ValueError, match=r"model.finetune_lr_scale=0.0"):
        _task(finetune_lr_scale=0.0)


def test_mixing_weights_sum_to_one_and_weight_the_per_domain_nets():
    """With either DBD aggregation the mixing weights are the DBD rows (summing to 1) and the
    polarity probabilities are the weighted sum of the domain nets' normalised capsule lengths;
    the DBD prior comes from the documents per domain (class_counts summed over classes)."""
    from zoo.nets.domain_belonging_degree import DomainBelongingDegree

    ids = torch.tensor([[1, 1, 2], [3, 3, 0], [1, 3, 2]])
    for aggregation in ("log", "additive"):
        task = _task()
        task.dbd = DomainBelongingDegree(num_domains=2, vocab_size=4, aggregation=aggregation)
        task.fit_statistics(_Counts())
        task.eval()
        torch.testing.assert_close(task.dbd.log_prior, torch.log(torch.tensor([100 / 120, 20 / 120])))
        degrees, weights = task.mixing_weights(ids)
        torch.testing.assert_close(weights, degrees)
        torch.testing.assert_close(weights.sum(dim=1), torch.ones(3))
        assert bool((weights >= 0).all())
        with torch.no_grad():
            probs, _ = task(ids)
            per_net = [net(ids) / net(ids).sum(dim=1, keepdim=True) for net in task.nets]
        torch.testing.assert_close(probs, weights[:, :1] * per_net[0] + weights[:, 1:] * per_net[1])
        # term 3 occurs (twice as often) in domain 1: the second document leans to net 1
        assert degrees[1].argmax().item() == 1


def test_removed_research_flags_are_refused():
    with pytest.raises(TypeError, match="share_features"):
        _task(share_features=True)
    with pytest.raises(TypeError, match="class_weight_phase"):
        _task(class_weight_phase="finetune")
