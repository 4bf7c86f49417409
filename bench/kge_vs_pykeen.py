"""KGE benchmarks 1 and 2: zoo against PyKEEN 1.11 with the same model, loss, negatives, epochs, seed.

1. correctness (UMLS): filtered test MRR of both trainings (goal: within 0.02), and zoo's evaluator on
   PyKEEN's trained model against PyKEEN's RankBasedEvaluator (goal: within 1e-4);
2. speed (UMLS and WN18RR): training triples/second and test evaluation seconds, ratio zoo/PyKEEN.

    nice -n 10 python bench/kge_vs_pykeen.py --epochs 10 --wn18rr-batches 40

Writes bench/results/kge_correctness.md and bench/results/kge_speed.md.
"""

from __future__ import annotations

import argparse
import time

import torch

from kge_common import SHARED, build, evaluate, fit, write_table


def pykeen_run(dataset, *, dim, negatives, lr, epochs, batch_size, margin, temperature, seed):
    from pykeen.pipeline import pipeline

    result = pipeline(
        dataset=dataset, model="RotatE", model_kwargs=dict(embedding_dim=dim),
        loss="NSSA", loss_kwargs=dict(margin=margin, adversarial_temperature=temperature),
        training_loop="sLCWA", negative_sampler="basic", negative_sampler_kwargs=dict(num_negs_per_pos=negatives),
        optimizer="Adam", optimizer_kwargs=dict(lr=lr),
        training_kwargs=dict(num_epochs=epochs, batch_size=batch_size, use_tqdm=False, use_tqdm_batch=False),
        evaluator_kwargs=dict(filtered=True), evaluation_kwargs=dict(batch_size=256, use_tqdm=False),
        random_seed=seed, device="cpu",
    )
    mrr = float(result.metric_results.get_metric("both.realistic.inverse_harmonic_mean_rank"))
    return result, mrr


def zoo_overrides(data, *, dim, negatives, lr, batch_size, margin, temperature, seed, extra=()):
    return [f"data={data}", "model=kge", "model/net=rotate", "model/sampler=uniform", "model/loss=self_adversarial",
            f"model.net.embedding_dim={dim}", "model.net.p_norm=2", f"model.sampler.num_negatives={negatives}",
            "model.sampler.filtered=false", f"model.sampler.seed={seed}", f"model.optimizer.lr={lr}",
            f"model.loss.margin={margin}", f"model.loss.adversarial_temperature={temperature}",
            f"data.batch_size={batch_size}", f"seed={seed}", "logger=none", *extra]


def zoo_eval_of_pykeen_model(pk_model, datamodule, task):
    ent = pk_model.entity_representations[0](indices=None).detach()
    rel = pk_model.relation_representations[0](indices=None).detach()
    with torch.no_grad():
        task.net.entity_embedding.copy_(torch.view_as_real(ent).reshape(task.net.entity_embedding.shape))
        task.net.relation_embedding.copy_(torch.angle(rel).reshape(task.net.relation_embedding.shape))
    return evaluate(datamodule, task)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--wn18rr-batches", type=int, default=40, help="WN18RR training batches timed (of 512)")
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--negatives", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    common = dict(dim=args.dim, negatives=args.negatives, margin=6.0, temperature=1.0, seed=args.seed)

    # -- UMLS: correctness and speed ----------------------------------------------------------------
    umls = dict(lr=1e-2, batch_size=256)
    pk, pk_mrr = pykeen_run("UMLS", epochs=args.epochs, **umls, **common)
    pk_train_triples = pk.training.num_triples * args.epochs
    _, dm, task = build(zoo_overrides("umls", **umls, **common))
    timer = fit(dm, task, args.epochs)
    ours, our_eval_s = evaluate(dm, task)
    _, dm2, task2 = build(zoo_overrides("umls", **umls, **common))
    dm2.setup("test")
    on_pk, _ = zoo_eval_of_pykeen_model(pk.model, dm2, task2)
    rows = [
        ["zoo training, zoo evaluator", ours["mrr"], ours["hits@10"], ours["mr"]],
        ["PyKEEN training, PyKEEN evaluator", pk_mrr,
         float(pk.metric_results.get_metric("both.realistic.hits_at_10")),
         float(pk.metric_results.get_metric("both.realistic.arithmetic_mean_rank"))],
        ["PyKEEN's model, zoo evaluator", on_pk["mrr"], on_pk["hits@10"], on_pk["mr"]],
    ]
    notes = (f"UMLS, RotatE (p=2, dim {args.dim}), NSSA/self-adversarial loss (margin 6, temperature 1), "
             f"{args.negatives} uniform negatives (unfiltered), Adam lr 1e-2, batch 256, {args.epochs} epochs, "
             f"seed {args.seed}, CPU. Filtered realistic ranks on the test split (661 triples).\n\n"
             f"|MRR zoo - MRR PyKEEN| = {abs(ours['mrr'] - pk_mrr):.4f} (goal <= 0.02); "
             f"|zoo evaluator - PyKEEN evaluator| on PyKEEN's model = {abs(on_pk['mrr'] - pk_mrr):.2e} (goal <= 1e-4).\n\n"
             "Command: `nice -n 10 python bench/kge_vs_pykeen.py " + f"--epochs {args.epochs} --wn18rr-batches {args.wn18rr_batches}`")
    write_table("kge_correctness", "run | test MRR | Hits@10 | MR", rows, notes)

    speed = [["UMLS", "train triples/s", timer.triples / timer.seconds, pk_train_triples / pk.train_seconds,
              (timer.triples / timer.seconds) / (pk_train_triples / pk.train_seconds)],
             ["UMLS", "test eval seconds", our_eval_s, pk.evaluate_seconds, pk.evaluate_seconds / our_eval_s]]

    # -- WN18RR: speed ------------------------------------------------------------------------------
    if args.wn18rr_batches > 0:
        from pykeen.datasets import EagerDataset, PathDataset

        root = SHARED / "kg" / "WN18RR"
        full = PathDataset(training_path=root / "train.txt", testing_path=root / "test.txt",
                           validation_path=root / "valid.txt")
        # both train on wn18rr_batches * 512 training triples (PyKEEN: the first ones; zoo: shuffled batches), rank the full test split
        n = args.wn18rr_batches * 512
        subset = full.training.clone_and_exchange_triples(full.training.mapped_triples[:n])
        dataset = EagerDataset(training=subset, testing=full.testing, validation=full.validation)
        wn = dict(lr=1e-3, batch_size=512)
        pk, _ = pykeen_run(dataset, epochs=1, **wn, **common)
        pk_rate = subset.num_triples / pk.train_seconds
        _, dm, task = build(zoo_overrides("wn18rr", **wn, **common, extra=["data.unseen=drop", "data.eval_batch_size=256"]))
        timer = fit(dm, task, 1, limit_train_batches=args.wn18rr_batches)
        _, our_eval_s = evaluate(dm, task)
        speed += [["WN18RR", "train triples/s", timer.triples / timer.seconds, pk_rate, (timer.triples / timer.seconds) / pk_rate],
                  ["WN18RR", "test eval seconds", our_eval_s, pk.evaluate_seconds, pk.evaluate_seconds / our_eval_s]]
    notes = (f"Same settings as kge_correctness (RotatE p=2 dim {args.dim}, {args.negatives} negatives, NSSA); UMLS "
             f"{args.epochs} epochs batch 256, WN18RR {args.wn18rr_batches} batches of 512 (the same number of triples in both) (PyKEEN drops the 210 "
             "valid/test triples with unseen entities; zoo uses data.unseen=drop to match). Training rate = "
             "triples / seconds inside the training epochs (zoo: Lightning epoch hooks; PyKEEN: pipeline "
             "train_seconds); evaluation = filtered ranking of the test split (head and tail, all entities). "
             "speed-up = zoo rate / PyKEEN rate for training, PyKEEN seconds / zoo seconds for evaluation "
             "(> 1: zoo faster). CPU (2 cores, shared with other jobs: absolute numbers are noisy).\n\n"
             "Command: `nice -n 10 python bench/kge_vs_pykeen.py " + f"--epochs {args.epochs} --wn18rr-batches {args.wn18rr_batches}`")
    write_table("kge_speed", "data | measure | zoo | PyKEEN | speed-up", speed, notes)


if __name__ == "__main__":
    start = time.time()
    main()
    print(f"total {time.time() - start:.0f}s")
