# Two entry points for a newcomer: `make train` and `make test`.
# Both create .venv (if missing), install zoo with every extra, then run.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch/torchvision pair that installs on the project's machines; a GPU user may override TORCH_SPEC.
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1
STAMP := $(VENV)/.zoo-installed

.PHONY: install train test test-slow test-gpu test-multiprocess test-slurm slurm-up slurm-down \
	docs results results-check wheel wheel-check clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH_SPEC)
	$(BIN)/python -m pip install --quiet -e ".[all]"
	@# Fashion-MNIST for the model-update family comes from Debian (the datamodule downloads it elsewhere)
	test -d /usr/share/datasets/fashion-mnist || { command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] && \
	  apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist; } || \
	  echo "note: dataset-fashion-mnist not installed; zoo downloads Fashion-MNIST on first use"
	touch $(STAMP)

install: $(STAMP)

train: install
	$(BIN)/python train.py $(ARGS)

test: install
	$(BIN)/python -m pytest $(ARGS)

test-slow: install
	$(BIN)/python -m pytest -m slow $(ARGS)

# Every experiment's fast_dev_run on one CUDA GPU (needs a GPU build of torch; CI has no GPU)
test-gpu: install
	ZOO_TEST_ACCELERATOR=gpu $(BIN)/python -m pytest tests/test_train.py -k "test_fast_dev_run and not full_preprocessing" $(ARGS)

# Every family's DDP (2 gloo processes) equivalence case and Optuna sweep: ~10 min on 2 cores
test-multiprocess: install
	$(BIN)/python -m pytest -m multiprocess $(ARGS)

# Tests on a real single-node SLURM cluster (pytest -m slurm). The cluster is installed (apt-get) and
# started by slurm/start_cluster.sh and always stopped again, by PID, whatever the tests do.
test-slurm: install
	bash slurm/start_cluster.sh || { bash slurm/stop_cluster.sh; exit 1; }
	$(BIN)/python -m pytest -m slurm $(ARGS); status=$$?; bash slurm/stop_cluster.sh; exit $$status

slurm-up:
	bash slurm/start_cluster.sh

slurm-down:
	bash slurm/stop_cluster.sh

# Every results table in README.md, docs/, research/ and bench/ re-rendered from bench/results/*.csv
results: install
	$(BIN)/python bench/render_results.py

# Fails naming the file and table when a rendered table disagrees with its data file
results-check: install
	$(BIN)/python bench/render_results.py --check

# The docs site (mkdocs-material; API pages from the docstrings) into site/; any broken link fails
docs: install
	$(BIN)/python bench/render_results.py --check
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

# The wheel (with the config tree as zoo/conf) and its sdist, into dist/
wheel: install
	$(BIN)/python -m build --outdir dist .

# Build the wheel, install it into a fresh venv, run zoo-train and zoo-eval outside the checkout
wheel-check: install
	TORCH_SPEC="$(TORCH_SPEC)" bash .ci/wheel_check.sh $(BIN)/python

clean:
	rm -rf logs .cache .pytest_cache site dist build
