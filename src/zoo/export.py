"""Export a trained checkpoint as a shareable bundle with a model card.

``python eval.py ckpt_path=RUN.ckpt eval.export=DIR`` writes::

    DIR/model.safetensors   the task's weights (safetensors: tensors only, no code)
    DIR/config.json         {"zoo_config": <the composed config>, "metrics": {...}}
    DIR/config.yaml         the same config, for reading
    DIR/README.md           the model card (Hugging-Face-style YAML front matter)

``zoo.load(DIR)`` and ``eval.py ckpt_path=DIR`` read the bundle back (:func:`zoo.checkpoints.read_checkpoint`)
without unpickling anything.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import subprocess
from pathlib import Path
from typing import Any, Optional

import torch

from zoo.checkpoints import BUNDLE_CONFIG, BUNDLE_WEIGHTS, CONFIG_KEY, OVERRIDES_KEY, data_signature, to_plain

__all__ = ["export_bundle", "DATA_LICENSES", "data_license", "model_card"]

log = logging.getLogger(__name__)

#: data licence per dataset, keyed by the datamodule class and its ``name``/``root`` (see
#: ``../shared/data/*/SOURCES.md``): what a model card must repeat when weights trained on it are shared
DATA_LICENSES: dict[str, str] = {
    "PlanetoidDataModule:Cora": "MIT (Planetoid repository, kimiyoung/planetoid); cite Sen et al. 2008",
    "PlanetoidLinkDataModule:Cora": "MIT (Planetoid repository, kimiyoung/planetoid); cite Sen et al. 2008",
    "KnowledgeGraphDataModule:pykeen:Nations": "distributed with PyKEEN (MIT); research use",
    "KnowledgeGraphDataModule:pykeen:UMLS": "triples distributed with PyKEEN (MIT); entity texts kg-bert (Apache-2.0)",
    "KnowledgeGraphDataModule:pykeen:Kinships": "distributed with PyKEEN (MIT); research use",
    "KnowledgeGraphDataModule:WN18RR": "triples MIT (ConvE); entity texts Apache-2.0 (kg-bert)",
    "MultiDomainTextDataModule:blitzer_mdsd": "no licence stated; research use, cite Blitzer et al. ACL 2007",
    "MultiDomainTextDataModule:persian": "ParsiNLU CC BY-NC-SA 4.0 (non-commercial); SentiPers no licence stated",
    "MultiDomainTextDataModule:financial_phrasebank": "CC BY-NC-SA 3.0 (non-commercial)",
    "UTDMHADDataModule": "no licence stated; research use, cite Chen, Jafari, Kehtarnavaz, ICIP 2015",
    "FashionMNISTDataModule": "MIT (zalandoresearch/fashion-mnist)",
    "CIFAR10DataModule": "no licence stated; research use, cite Krizhevsky 2009",
    "ZincDataModule": "MIT (benchmarking-gnns subset)",
    "CitationSentimentDataModule": "corpus CC-BY (Athar 2011, via delft); AAN metadata no licence stated",
}


def _base_data(data_cfg: Any) -> Any:
    node = data_cfg
    while isinstance(node, dict) and "datamodule" in node and isinstance(node["datamodule"], dict):
        node = node["datamodule"]
    return node


def data_license(data_cfg: dict[str, Any]) -> str:
    """The licence of the dataset a ``data`` config reads (``"unknown"`` when not in :data:`DATA_LICENSES`)."""
    node = _base_data(data_cfg)
    cls = str(node.get("_target_", "")).rsplit(".", 1)[-1]
    hints = [str(node.get("name", "")), str(node.get("root", ""))]
    for key, licence in DATA_LICENSES.items():
        name, _, detail = key.partition(":")
        if name == cls and (not detail or any(h == detail or h.rstrip("/").endswith(detail) for h in hints)):
            return licence
    return "unknown: check the dataset's own terms"


def _git_commit() -> str:
    root = Path(__file__).resolve().parents[2]
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    if out.returncode != 0:
        return "unknown"
    return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def _run_metrics(ckpt_path: str) -> dict[str, float]:
    """The run's ``metrics.json`` (written by train.py), looked up beside the checkpoint's run dir."""
    path = Path(ckpt_path)
    for directory in (path.parent, path.parent.parent):
        candidate = directory / "metrics.json"
        if candidate.is_file():
            try:
                values = json.loads(candidate.read_text())
            except json.JSONDecodeError:
                log.warning(f"{candidate} is not valid JSON; the model card reports no run metrics")
                return {}
            return {k: float(v) for k, v in values.items() if isinstance(v, (int, float))}
    return {}


def _command(config: dict[str, Any], overrides: Optional[list[str]]) -> str:
    if overrides:
        return "python train.py " + " ".join(shlex.quote(o) for o in overrides)
    task = config.get("task_name", "train")
    return f"python train.py  # overrides not recorded (task_name={task}); config.yaml holds every value"


def _yaml_scalar(value: Any) -> str:
    return json.dumps(value) if isinstance(value, str) else repr(value)


def model_card(config: dict[str, Any], metrics: dict[str, float], commit: str, version: str,
               overrides: Optional[list[str]] = None) -> str:
    """``README.md`` of a bundle: YAML front matter (task, dataset, metrics) and the reproduction facts."""
    model = config.get("model", {})
    task = str(model.get("_target_", "unknown")).rsplit(".", 1)[-1]
    target, name = data_signature(config["data"])
    dataset = name or Path(str(_base_data(config["data"]).get("root", target))).name or target
    licence = data_license(config["data"])
    shown = {k: v for k, v in sorted(metrics.items()) if k.startswith(("test/", "val/"))}
    front = ["---", "library_name: zoo", f"tags: [zoo, {json.dumps(config.get('task_name', 'run'))}]",
             f"pipeline_tag: {json.dumps(task)}", f"datasets: [{json.dumps(dataset)}]",
             f"license_data: {json.dumps(licence)}", "model-index:",
             f"- name: {json.dumps(config.get('task_name', task))}",
             "  results:", "  - task:", f"      type: {json.dumps(task)}", "    dataset:",
             f"      name: {json.dumps(dataset)}", f"      type: {json.dumps(target)}", "    metrics:"]
    front += [f"    - type: {json.dumps(k)}\n      value: {_yaml_scalar(round(v, 6))}" for k, v in shown.items()]
    if not shown:
        front[-1] = "    metrics: []"
    front.append("---")
    rows = "\n".join(f"| `{k}` | {v:.6f} |" for k, v in shown.items()) or "| (none recorded) | |"
    body = f"""
# {config.get('task_name', task)}

A `{task}` trained with zoo on `{dataset}` (`{target}`).

| | |
| --- | --- |
| zoo version | {version} |
| git commit | `{commit}` |
| data licence | {licence} |

## Reproduce

```
{_command(config, overrides)}
```

## Metrics

| metric | value |
| --- | --- |
{rows}

## Use

```python
import zoo

loaded = zoo.load("path/to/this/directory")   # the task in eval mode, weights from model.safetensors
loaded.task, loaded.config.data                  # the model, and the datamodule config it was trained with
```

`python eval.py ckpt_path=path/to/this/directory` evaluates it; `eval.split=predict` writes predictions.
"""
    return "\n".join(front) + "\n" + body


def export_bundle(directory: str | os.PathLike, checkpoint: dict[str, Any], run_cfg: Any, ckpt_path: str,
                  metrics: Optional[dict[str, float]] = None) -> Path:
    """Write ``model.safetensors``, ``config.json``/``config.yaml`` and ``README.md`` to ``directory``.

    :param checkpoint: the checkpoint as read by :func:`zoo.checkpoints.read_checkpoint`.
    :param run_cfg: the eval run's config (its ``data``/``model`` are the ones evaluated).
    :param metrics: the evaluated metrics; default: the run's ``metrics.json`` beside ``ckpt_path``.
    :returns: the bundle directory.
    """
    from omegaconf import OmegaConf
    from safetensors.torch import save_file

    import zoo

    out = Path(os.path.expanduser(str(directory)))
    out.mkdir(parents=True, exist_ok=True)
    # safetensors refuses shared storage: every tensor is stored as its own contiguous copy
    weights = {k: v.detach().cpu().contiguous().clone() for k, v in checkpoint["state_dict"].items()
               if isinstance(v, torch.Tensor)}
    save_file(weights, str(out / BUNDLE_WEIGHTS), metadata={"format": "pt", "zoo_version": zoo.__version__})
    config = to_plain(checkpoint[CONFIG_KEY], CONFIG_KEY)
    config["data"] = OmegaConf.to_container(run_cfg.data, resolve=False)
    config["model"] = OmegaConf.to_container(run_cfg.model, resolve=False)
    values = metrics if metrics else _run_metrics(ckpt_path)
    overrides = [str(o) for o in checkpoint.get(OVERRIDES_KEY) or []]
    (out / BUNDLE_CONFIG).write_text(json.dumps({CONFIG_KEY: config, OVERRIDES_KEY: overrides, "metrics": values},
                                                indent=2, sort_keys=True))
    (out / "config.yaml").write_text(OmegaConf.to_yaml(OmegaConf.create(config)))
    (out / "README.md").write_text(model_card(config, values, _git_commit(), zoo.__version__, overrides))
    log.info(f"Exported {ckpt_path} to {out}")
    return out
