# Two commands on a fresh machine (Python 3.11, PyPI only):  `make run`  and  `make test`.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
# `kedro mlflow ui` and `kedro jupyter` start `mlflow` / `jupyter` by name: the venv's must come first.
export PATH := $(abspath $(BIN)):$(PATH)
# The CPU wheel of torch; the project itself accepts a range so GPU users get CUDA builds.
TORCH_SPEC ?= torch==2.13.0

export KEDRO_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := 1
export TOKENIZERS_PARALLELISM := false
export HF_HUB_OFFLINE := 1
export MPLBACKEND := Agg

.PHONY: setup run test test-isa lint viz viz-png mlflow-ui compare seeds notebook bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

setup: $(BIN)/.installed

run: setup            ## set up and run the embedded default pipeline (toy world, CPU, minutes)
	$(BIN)/kedro run

# One worker per core; a test module stays on one worker (its module fixtures are built once), the
# slowest modules first (tests/conftest.py: SLOW_MODULES).
SUITE := $(BIN)/python -m pytest -n auto --dist loadscope --no-loadscope-reorder

test: setup           ## set up and run the whole test suite (CPU, hermetic)
	$(SUITE)

ISA ?= default
test-isa: setup       ## the suite on ATen's kernels for another instruction set (ISA=default|avx2|avx512)
	# Float reductions differ across CPU kinds: a test whose margin is an accident of one kind fails here.
	ATEN_CPU_CAPABILITY=$(ISA) $(SUITE)

lint: setup
	$(BIN)/ruff check src tests benchmarks scripts

viz: setup            ## the pipeline graph in the browser
	$(BIN)/kedro viz run

viz-png: setup        ## regenerate docs/images/pipeline_{stages,graph}.png (needs Debian's chromium)
	$(BIN)/python scripts/screenshot_viz.py --types task,modularPipeline --size 1700x420 \
		--out docs/images/pipeline_stages.png
	$(BIN)/python scripts/screenshot_viz.py --size 1900x650 --scale 1.2 --out docs/images/pipeline_graph.png

mlflow-ui: setup      ## the MLflow UI over ./mlflow.db
	$(BIN)/kedro mlflow ui

compare: setup        ## the newest MLflow runs side by side (CSV + PNG in data/toy/08_reporting/run_comparison)
	$(BIN)/kedro compare-runs

SEEDS ?= 42,3,5,7,11
seeds: setup          ## the default run once per seed (those MLflow lacks) and one table + plot: SEEDS=42,3,...
	$(BIN)/kedro seeds --seeds $(SEEDS)

notebook: setup       ## the analysis notebook in JupyterLab, with the catalog and MLflow runs loaded
	$(BIN)/pip install --quiet -e ".[notebook]"
	$(BIN)/kedro jupyter lab

bench: setup
	$(BIN)/python benchmarks/bench_filtering.py
	$(BIN)/python benchmarks/bench_tokenizer.py
	$(BIN)/python benchmarks/bench_pretraining.py
	$(BIN)/python benchmarks/bench_posttraining.py   # needs `make run` first (the base model)
	$(BIN)/python benchmarks/bench_allocator.py     # glibc's default malloc vs kept freed memory; needs `make run`
