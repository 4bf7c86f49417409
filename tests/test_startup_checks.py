"""Start-up checks: every real Trainer argument is accepted by name, a misspelt one (or a misspelt
``logger.wandb.*`` key) is refused before data and model are built, a run that would train nothing is
refused, and a schedule that can never log ``optimized_metric`` is reported before the first step."""

from __future__ import annotations

import logging
import math
import subprocess
import sys

import pytest
from hydra.errors import ConfigCompositionException
from omegaconf import open_dict

from tests.conftest import ROOT, compose_train
from zoo import cli
from zoo.config import TRAINER_ARGS
from zoo.utils.startup_checks import first_validation_step

# a missing data root with downloads off: building the datamodule would raise FileNotFoundError, so
# a ValueError proves the check ran before the data was built
NO_DATA = ["data.download=false", "data.root=/nonexistent/zoo-startup-check"]


def _fit(cfg, **trainer):
    with open_dict(cfg):
        for key, value in trainer.items():
            cfg.trainer[key] = value
    return cli.train(cfg)


def test_every_trainer_argument_is_accepted_without_plus(tmp_path):
    from lightning.pytorch import Trainer
    import inspect

    assert set(TRAINER_ARGS) == set(inspect.signature(Trainer.__init__).parameters) - {"self"}
    cfg = compose_train(tmp_path, ["trainer.max_steps=3", "trainer.limit_val_batches=1", "trainer.benchmark=false"])
    metrics, objects = _fit(cfg, max_epochs=10)
    trainer = objects["trainer"]
    assert trainer.max_steps == 3 and trainer.global_step == 3 and trainer.current_epoch == 3
    # arguments the YAML does not set keep Lightning's defaults (they are dropped, not passed as ???)
    assert "accumulate_grad_batches" not in cfg.trainer and trainer.accumulate_grad_batches == 1
    assert "val/acc_best" in metrics


def test_misspelt_trainer_argument_is_refused(tmp_path):
    with pytest.raises(ConfigCompositionException) as err:
        compose_train(tmp_path, ["trainer.max_epoch=3"])
    assert "Key 'max_epoch' not in 'TrainerArgs'" in str(err.value.__cause__)
    assert "trainer.max_epoch" in str(err.value.__cause__)
    # with + it composes, and the start-up check names it and the real argument
    cfg = compose_train(tmp_path, ["+trainer.max_epoch=3", *NO_DATA])
    with pytest.raises(ValueError, match=r"trainer\.max_epoch: .*Trainer has no parameter 'max_epoch' "
                                         r"\(did you mean 'max_epochs'\?\)"):
        cli.train(cfg)


def test_misspelt_wandb_key_fails_before_data_is_built(tmp_path):
    cfg = compose_train(tmp_path, ["logger=wandb", *NO_DATA], shrink=False)
    with open_dict(cfg):
        cfg.logger.wandb.projet = "zoo"
    with pytest.raises(ValueError, match=r"logger\.wandb\.projet: .*WandbLogger has no parameter 'projet' "
                                         r"\(did you mean 'project'\?\)"):
        cli.train(cfg)
    # a real wandb.init argument (WandbLogger passes it on) is accepted
    with open_dict(cfg):
        del cfg.logger.wandb["projet"]
        cfg.logger.wandb.notes = "a note"
    cli.validate_config(cfg)


@pytest.mark.parametrize("key,value", [("limit_train_batches", 0), ("limit_train_batches", 0.0),
                                       ("max_steps", 0), ("max_epochs", 0)])
def test_a_run_that_trains_nothing_is_refused(tmp_path, key, value):
    cfg = compose_train(tmp_path, NO_DATA)
    with open_dict(cfg):
        cfg.trainer[key] = value
    with pytest.raises(ValueError, match=rf"trainer\.{key}={value!r} with train=true runs no training step, so "
                                         "the test would evaluate untrained weights"):
        cli.train(cfg)
    # testing a checkpoint (train=false) is what to do instead, and is not refused by this check
    with open_dict(cfg):
        cfg.train, cfg.optimized_metric = False, None
    cli.check_schedule(cfg)


def test_limit_train_batches_0_on_the_command_line_is_refused(tmp_path):
    cfg = compose_train(tmp_path, ["+trainer.limit_train_batches=0", *NO_DATA])
    with pytest.raises(ValueError, match=r"trainer\.limit_train_batches=0 with train=true"):
        cli.train(cfg)


# gcn_cora is full batch: one step per epoch, so validating every 5th epoch first validates after step 5
NEVER_VALIDATES = ["trainer.max_steps=3", "trainer.check_val_every_n_epoch=5"]


def test_sweep_job_whose_metric_is_never_logged_fails_before_the_first_step(tmp_path):
    cfg = compose_train(tmp_path, [*NEVER_VALIDATES, "hydra.mode=MULTIRUN"])
    with pytest.raises(ValueError, match=r"optimized_metric='val/acc_best' can never be logged: "
                                         r"trainer\.max_steps=3 ends training before the first validation "
                                         r"\(after step 5"):
        _fit(cfg, max_epochs=10)
    assert not list(tmp_path.rglob("*.ckpt"))  # no step was taken, nothing saved
    # the config-only cases fail before data and model are built
    cfg = compose_train(tmp_path, ["trainer.limit_val_batches=0", "hydra.mode=MULTIRUN", *NO_DATA])
    with pytest.raises(ValueError, match=r"can never be logged: trainer\.limit_val_batches=0"):
        cli.train(cfg)
    cfg = compose_train(tmp_path, ["trainer.check_val_every_n_epoch=3", "hydra.mode=MULTIRUN", *NO_DATA])
    with pytest.raises(ValueError, match=r"trainer\.max_epochs=1 < trainer\.check_val_every_n_epoch=3"):
        cli.train(cfg)


def test_outside_a_sweep_a_metric_never_logged_is_a_warning(tmp_path, caplog):
    cfg = compose_train(tmp_path, NEVER_VALIDATES)
    with caplog.at_level(logging.WARNING):
        metrics, objects = _fit(cfg, max_epochs=10)
        assert objects["trainer"].global_step == 3 and "val/acc_best" not in metrics
        assert cli.metric_value(metrics, cfg.optimized_metric) is None
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("can never be logged: trainer.max_steps=3" in w for w in warnings), warnings
    assert any("optimized_metric='val/acc_best' was not logged" in w for w in warnings), warnings


@pytest.mark.slow
def test_train_py_exits_0_when_the_metric_cannot_be_logged_outside_a_sweep(tmp_path):
    out = subprocess.run(
        [sys.executable, "train.py", *NEVER_VALIDATES, "trainer.max_epochs=10", "trainer.accelerator=cpu",
         "logger=none", "callbacks.progress_bar=null", "extras.print_config=false", f"hydra.run.dir={tmp_path}"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    output = out.stdout + out.stderr  # Hydra's job logging writes to stdout
    assert "can never be logged: trainer.max_steps=3 ends training before the first validation" in output
    assert output.index("can never be logged") < output.index("`Trainer.fit` stopped: `max_steps=3` reached")
    assert "test/acc" in out.stdout  # trained, then tested


@pytest.mark.parametrize("kwargs,expected", [
    (dict(batches_per_epoch=10, accumulate_grad_batches=1, val_check_batch=10, check_val_every_n_epoch=1), 10),
    (dict(batches_per_epoch=10, accumulate_grad_batches=4, val_check_batch=10, check_val_every_n_epoch=1), 3),
    (dict(batches_per_epoch=10, accumulate_grad_batches=1, val_check_batch=5, check_val_every_n_epoch=1), 5),
    (dict(batches_per_epoch=10, accumulate_grad_batches=1, val_check_batch=10, check_val_every_n_epoch=3), 30),
    (dict(batches_per_epoch=1, accumulate_grad_batches=1, val_check_batch=1, check_val_every_n_epoch=5), 5),
    (dict(batches_per_epoch=math.inf, accumulate_grad_batches=1, val_check_batch=math.inf,
          check_val_every_n_epoch=1), math.inf),
])
def test_first_validation_step(kwargs, expected):
    assert first_validation_step(**kwargs) == expected
