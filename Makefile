# The two commands: `make demo` (set up + run the main job) and `make test` (set up + run the tests).
# Each creates .venv from the hashed lock when it is missing or older than the lock.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
DEMO_DIR ?= demo
export BENTOML_DO_NOT_TRACK := true
export MLFLOW_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := true

.PHONY: demo test lint lock bench bpic2012 bench-bpic2012 serve bento bench-serving browser clean

$(VENV)/.synced: requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(BIN)/uv pip sync --quiet --python $(BIN)/python --compile-bytecode requirements.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps --compile-bytecode -e .
	@touch $@

demo: $(VENV)/.synced
	$(BIN)/dealrisk demo --out $(DEMO_DIR)

# The dashboard test drives Debian's Chromium; installed here when missing and apt can.
browser:
	@test -x /usr/bin/chromium || { command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] \
		&& apt-get install -y --no-install-recommends chromium >/dev/null \
		|| echo "chromium not installed (apt-get unavailable or not root): the dashboard test skips"; }

# Two test processes on two cores: LightGBM's OpenMP threads are one per process (two each,
# spinning while they wait, made the BPIC 2012 test 5x slower and starved a server test).
test: $(VENV)/.synced browser
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	OMP_NUM_THREADS=1 $(BIN)/pytest -n 2 --timeout 600 --durations=15

lint: $(VENV)/.synced
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

lock:
	$(BIN)/uv pip compile requirements.in --python-version 3.11 --generate-hashes -o requirements.lock

bench: $(VENV)/.synced
	$(BIN)/python benchmarks/bench_simulator.py --deals 100000

# The whole product on the real BPI Challenge 2012 loan log (the log stays outside the repo).
BPIC2012 ?= ../shared/data/bpic2012/BPI_Challenge_2012.xes.gz
BPIC2012_OUT ?= out/bpic2012
bpic2012: $(VENV)/.synced
	$(BIN)/dealrisk ingest $(BPIC2012) --source eventlog \
		--mapping examples/bpic2012/mapping.yaml --out $(BPIC2012_OUT)/canonical
	$(BIN)/dealrisk features $(BPIC2012_OUT)/canonical --cadence 1D \
		--out $(BPIC2012_OUT)/features.parquet
	$(BIN)/dealrisk train $(BPIC2012_OUT)/canonical --horizon 7 --cadence 1D
	$(BIN)/dealrisk rank $(BPIC2012_OUT)/canonical --out $(BPIC2012_OUT)/report

bench-bpic2012: $(VENV)/.synced
	$(BIN)/python benchmarks/bench_bpic2012.py --data $(dir $(BPIC2012))

# The scoring service (BentoML) on the pipeline's champion; see README "Serve".
serve: $(VENV)/.synced
	$(BIN)/dealrisk serve

# A bento that packages the champion (bentoml build); containerize it where Docker runs.
bento: $(VENV)/.synced
	$(BIN)/dealrisk bento

bench-serving: $(VENV)/.synced
	$(BIN)/python benchmarks/bench_serving.py

clean:
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache .ruff_cache
