# Two entry points for a fresh clone (Python >= 3.10 and make, nothing else):
#   make demo   - the emulator on a free loopback port, then validate, plan, apply, plan
#   make test   - format check, lint, types and the whole test suite (= make lint types unit)
#   make bench  - start-up (--version, validate of the examples: bench/startup.py), then
#                 validate and plan at 1,000 to 100,000 products against the YAML parser's
#                 floor (bench/plan_speed.py, a few minutes), written to docs/benchmarks.md.
#                 A quick smoke run that writes nothing: make bench SIZES=1000 RUNS=1 BENCH_OUT=
#   make docs   - docs that cannot drift: the commands' reference in docs/cli.md, from the click
#                 commands (reconciler/cli/reference.py), and docs/manifest.schema.json
#   make bench-apply - parallel apply of 5,000 products against the emulator at 20 ms per
#                 request, parallelism 1, 8 and 32 (bench/apply_parallel.py, ~2.5 minutes)
#   make bench-stores - the same apply at parallelism 8 with the state in a file, in PostgreSQL
#                 and in S3 (SeaweedFS), servers started on 127.0.0.1 (bench/state_stores.py,
#                 3 rounds, ~4 minutes)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

SIZES ?= 1000 10000 100000
RUNS ?= 5
BENCH_OUT ?= docs/benchmarks.md

.PHONY: demo test docs bench bench-apply bench-refresh bench-stores lint types unit fmt clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python scripts/demo.py

test: lint types unit

lint: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

types: $(STAMP)
	$(BIN)/mypy

# PYTHONDONTWRITEBYTECODE unset: pytest keeps its rewritten test modules and Python the compiled
# package between runs (collection 5.2 -> 1.8 s of CPU per worker, measured on this machine).
unit: $(STAMP)
	env -u PYTHONDONTWRITEBYTECODE $(BIN)/pytest -q -n 4 --dist load --maxschedchunk 1

docs: $(STAMP)
	$(BIN)/python -m reconciler.cli.reference docs/cli.md
	$(BIN)/python -m reconciler schema > docs/manifest.schema.json.tmp
	mv docs/manifest.schema.json.tmp docs/manifest.schema.json

bench: $(STAMP)
	$(BIN)/python bench/startup.py --runs $(if $(filter 1,$(RUNS)),1,20) $(if $(BENCH_OUT),--write $(BENCH_OUT))
	$(BIN)/python bench/plan_speed.py --sizes $(SIZES) --runs $(RUNS) $(if $(BENCH_OUT),--write $(BENCH_OUT))

fmt: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .demo .mypy_cache .pytest_cache .ruff_cache

bench-apply: $(STAMP)
	$(BIN)/python bench/apply_parallel.py --write docs/benchmarks.md

bench-refresh: $(STAMP)
	$(BIN)/python bench/refresh_speed.py --write docs/benchmarks.md

bench-stores: $(STAMP)
	$(BIN)/python bench/state_stores.py --write docs/benchmarks.md
