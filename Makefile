# Set-up and main jobs.  Everything a fresh machine needs happens here.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.recfair-installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: demo test data venv bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# torch first, explicitly: a loose requirement would pull a multi-GB CUDA build.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet "torch==2.13.0"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

venv: $(STAMP)

data: $(STAMP)
	$(BIN)/recfair data fetch ml-100k

# The default study (ML-100K, 7 models × none / in- / post-processing × 3 seeds), then its report.
# Re-running resumes: cells already in runs/study-default/study.duckdb are skipped.
DEMO_DIR ?= runs/study-default
# Cells run at once, one torch thread each (one per core of the 2-core reference machine).
DEMO_WORKERS ?= 2
demo: data
	$(BIN)/recfair study run src/recfair/study/presets/default.toml --out $(DEMO_DIR) --workers $(DEMO_WORKERS)
	$(BIN)/recfair report $(DEMO_DIR) -o $(DEMO_DIR)/report.html

test: data
	$(BIN)/python -m pytest -q

bench: data
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache
