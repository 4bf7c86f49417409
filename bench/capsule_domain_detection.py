"""Benchmark: domain detection by the domain-belonging degree (DBD) next to TF-IDF + logistic
regression, on the same split in the same script. Writes ``bench/results/capsule_domain_detection.csv``.

    nice -n 10 python bench/capsule_domain_detection.py --seeds 0 1 2

No capsule network is trained: the DBD is fitted on the training split's subword counts (as
:class:`~zoo.tasks.capsule_ensemble.CapsuleEnsembleTask` fits it) and its argmax is the predicted
domain. Corpora (``--corpora``, default all):

- ``persian/full``: the Persian set (digital 7,415 / food 1,733 / movie 442 reviews);
- ``blitzer/full``: Blitzer MDSD (four domains of 2,000 reviews);
- ``blitzer/imbalanced_8421``: a seeded subsample of Blitzer with domain sizes 1,600 / 800 / 400 /
  200 (which domain gets which size is drawn by the seed);
- ``blitzer/imbalanced_8421_first_sentence``: the same subsample, each text cut to its first sentence.

Each seed is the split seed (and the subsample seed). Tokenizer, vocabulary and truncation are the
data presets' (``conf/data/blitzer_mdsd.yaml``, ``conf/data/persian_sentiment.yaml``); the
subsamples are read through ``data.source=table`` with the Blitzer preset's settings. The DBD
candidates of the selection grid (``research/capsules.md``) are scored on val; the shipped default
(``conf/model/capsule_ensemble.yaml``'s ``dbd``), the paper's additive score and the baseline on
val and test. ``setting`` is ``<corpus>/<variant>/<method>``; metrics ``val/domain_acc`` and
``test/domain_acc``. The paired standard errors of the selection are printed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

import torch  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402
from sklearn.feature_extraction.text import TfidfVectorizer  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402

from results_data import write_results  # noqa: E402
from zoo.data.multidomain_text import MultiDomainTextDataModule  # noqa: E402
from zoo.data.sentiment_readers import read_blitzer_mdsd  # noqa: E402
from zoo.nets.domain_belonging_degree import DomainBelongingDegree  # noqa: E402

CORPORA = ("persian/full", "blitzer/full", "blitzer/imbalanced_8421", "blitzer/imbalanced_8421_first_sentence")
DATA_PRESET = {"persian": "persian_sentiment", "blitzer": "blitzer_mdsd"}
DATA_FOLDER = {"persian": "persian", "blitzer": "blitzer_mdsd"}
RATIOS = (8, 4, 2, 1)
LARGEST = 1600
# the selection grid of research/capsules.md: name -> DomainBelongingDegree options
CANDIDATES = {
    "dbd_additive": {"aggregation": "additive"},
    "dbd_additive_balanced": {"aggregation": "additive", "balance_domains": True},
    **{
        f"dbd_log{'' if prior else '_noprior'}{'_idf' if idf else ''}_a{alpha:g}":
            {"aggregation": "log", "prior": prior, "idf": idf, "smoothing": alpha}
        for prior in (True, False) for idf in (False, True) for alpha in (1.0, 0.1)
    },
}
REFERENCE = "dbd_additive"
BASELINE = "tfidf_logreg"
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def data_dir() -> Path:
    env = os.environ.get("ZOO_DATA_DIR")
    for candidate in ([Path(env)] if env else []) + [ROOT.parent / "shared" / "data", Path("/work/shared/data")]:
        if (candidate / "sentiment").is_dir():
            return candidate
    raise FileNotFoundError("no sentiment data: set ZOO_DATA_DIR to the folder holding sentiment/")


def preset(name: str) -> dict:
    cfg = OmegaConf.load(ROOT / "conf" / "data" / f"{name}.yaml")
    keep = ("source", "persian_mixed", "val_fraction", "test_fraction", "vocab_size", "tokenizer", "max_length")
    return {k: cfg[k] for k in keep if k in cfg}


def default_dbd() -> dict:
    """The shipped DBD options (conf/model/capsule_ensemble.yaml), without the datamodule sizes."""
    cfg = OmegaConf.to_container(OmegaConf.load(ROOT / "conf" / "model" / "capsule_ensemble.yaml").dbd)
    return {k: v for k, v in cfg.items() if k not in ("_target_", "num_domains", "vocab_size")}


def first_sentence(text: str) -> str:
    return _SENTENCE_END.split(text.strip(), maxsplit=1)[0]


def subsample(seed: int, cut: bool, out: Path) -> Path:
    """A JSONL file: Blitzer with domain sizes 8:4:2:1 (seeded), texts optionally cut."""
    records = read_blitzer_mdsd(str(data_dir() / "sentiment" / "blitzer_mdsd"))
    rng = random.Random(seed)
    domains = sorted({r.domain for r in records})
    sizes = dict(zip(rng.sample(domains, len(domains)), (LARGEST * r // RATIOS[0] for r in RATIOS)))
    rows = []
    for domain in domains:
        pool = [r for r in records if r.domain == domain]
        rows += rng.sample(pool, sizes[domain])
    path = out / f"blitzer_8421_seed{seed}{'_first' if cut else ''}.jsonl"
    with open(path, "w", encoding="utf-8") as handle:
        for r in rows:
            handle.write(json.dumps({"text": first_sentence(r.text) if cut else r.text,
                                     "label": r.label, "domain": r.domain}, ensure_ascii=False) + "\n")
    return path


def datamodule(corpus: str, seed: int, tmp: Path, cache_dir: str) -> MultiDomainTextDataModule:
    name, variant = corpus.split("/")
    options = preset(DATA_PRESET[name])
    options.update(split_seed=seed, cache_dir=cache_dir, save_dir=None)
    if variant == "full":
        options["root"] = str(data_dir() / "sentiment" / DATA_FOLDER[name])
    else:
        options.update(source="table", path=str(subsample(seed, variant.endswith("first_sentence"), tmp)),
                       labels=["negative", "positive"])
    dm = MultiDomainTextDataModule(**options)
    dm.setup("fit")
    return dm


def padded(ids: list[list[int]]) -> torch.Tensor:
    out = torch.zeros(len(ids), max(1, max(map(len, ids))), dtype=torch.long)
    for row, seq in enumerate(ids):
        out[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
    return out


def dbd_hits(dm, options: dict, splits) -> dict[str, torch.Tensor]:
    dbd = DomainBelongingDegree(num_domains=dm.num_domains, vocab_size=dm.vocab_size, **options)
    dbd.fit(dm.domain_term_counts(), dm.class_counts().sum(dim=1))
    hits = {}
    for split in splits:
        data = dm.split(split)
        pred = torch.cat([dbd(padded(data.ids[i:i + 1024])).argmax(dim=1) for i in range(0, len(data), 1024)])
        hits[split] = pred == torch.tensor(data.domains)
    return hits


def baseline_hits(dm, seed: int) -> dict[str, torch.Tensor]:
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True, max_features=200_000)
    train_x = vectorizer.fit_transform(dm.texts("train"))
    clf = LogisticRegression(max_iter=2000, C=4.0, random_state=seed).fit(train_x, dm.split("train").domains)
    return {split: torch.tensor(clf.predict(vectorizer.transform(dm.texts(split))) == dm.split(split).domains)
            for split in ("val", "test")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--corpora", nargs="+", choices=CORPORA, default=list(CORPORA))
    parser.add_argument("--name", default="capsule_domain_detection", help="results file name")
    args = parser.parse_args()
    torch.set_num_threads(1)
    cache_dir = os.environ.get("ZOO_CACHE_DIR", str(ROOT / ".cache")) + "/multidomain_text"
    shipped = default_dbd()
    shipped_name = next((n for n, o in CANDIDATES.items()
                         if DomainBelongingDegree(num_domains=2, vocab_size=2, **o).extra_repr()
                         == DomainBelongingDegree(num_domains=2, vocab_size=2, **shipped).extra_repr()), None)
    methods = dict(CANDIDATES)
    if shipped_name is None:
        shipped_name = "dbd_default"
        methods[shipped_name] = shipped
    print(f"shipped DBD: {shipped_name} {shipped}", flush=True)
    rows, hits = [], {}  # hits[(corpus, method, split)] = list over seeds of bool tensors
    start = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        for corpus in args.corpora:
            for seed in args.seeds:
                dm = datamodule(corpus, seed, Path(tmp), cache_dir)
                results = {BASELINE: baseline_hits(dm, seed)}
                for name, options in methods.items():
                    splits = ("val", "test") if name in (shipped_name, REFERENCE) else ("val",)
                    results[name] = dbd_hits(dm, options, splits)
                for name, per_split in results.items():
                    for split, hit in per_split.items():
                        hits.setdefault((corpus, name, split), []).append(hit)
                        rows.append({"setting": f"{corpus}/{name}", "seed": seed, "metric": f"{split}/domain_acc",
                                     "value": float(hit.float().mean())})
                print(f"{corpus} seed {seed} ({time.time() - start:.0f}s): " + ", ".join(
                    f"{n} {float(r['val'].float().mean()):.4f}" for n, r in results.items()), flush=True)
    path = write_results(args.name, rows)
    print(f"wrote {path}")
    summarise(hits, args.corpora, list(methods), shipped_name)


def summarise(hits, corpora, methods, shipped_name) -> None:
    """Mean val accuracy per corpus, the gap to the baseline and the paired standard error against
    the candidate with the best worst-corpus gap (the selection rule of research/capsules.md)."""
    def acc(corpus, method, split="val"):
        return float(torch.cat(hits[(corpus, method, split)]).float().mean())

    def paired_se(corpus, a, b):
        diff = (torch.cat(hits[(corpus, a, "val")]).double() - torch.cat(hits[(corpus, b, "val")]).double())
        return float(diff.std() / math.sqrt(diff.numel()))

    worst = {m: min(acc(c, m) - acc(c, BASELINE) for c in corpora) for m in methods}
    best = max(worst, key=worst.get)
    print(f"\nval domain accuracy (mean over seeds); best worst-corpus gap: {best}")
    print("| method | " + " | ".join(corpora) + " | worst gap | tie with best |")
    print("|---|" + "---|" * (len(corpora) + 2))
    for m in [BASELINE, *methods]:
        cells = [f"{acc(c, m):.4f}" for c in corpora]
        if m == BASELINE:
            print(f"| {m} | " + " | ".join(cells) + " | | |")
            continue
        tie = all(abs(acc(c, m) - acc(c, best)) < paired_se(c, m, best) for c in corpora) if m != best else True
        cells = [f"{acc(c, m):.4f} ({acc(c, m) - acc(c, BASELINE):+.4f})" for c in corpora]
        print(f"| {m} | " + " | ".join(cells) + f" | {worst[m]:+.4f} | {'yes' if tie else 'no'} |")
    print("\ntest domain accuracy (mean over seeds)")
    for m in dict.fromkeys((BASELINE, REFERENCE, shipped_name)):
        print(f"| {m} | " + " | ".join(f"{acc(c, m, 'test'):.4f}" for c in corpora) + " |")


if __name__ == "__main__":
    main()
