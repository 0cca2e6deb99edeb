# Two commands do all the set-up: `make demo` and `make test`.
# Each creates .venv if missing, installs torch==2.13.0 first (the CPU wheel on this machine; a bare
# `torch` requirement would pull a multi-GB CUDA build), then ptft itself with its dev extras.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.ptft-installed
FMNIST := /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
WORDNET := /usr/share/wordnet/data.noun

.PHONY: demo demo-text demo-table data-tables test test-faults fuzz-explore lint bench data browser clean-venv

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

# The built-in real datasets come from Debian packages: Fashion-MNIST and WordNet 3.0 (installed), and the
# tables `letter` and `income`: the .rda files of r-cran-mlbench and r-cran-kernlab, fetched with
# `apt-get download` and unpacked with `dpkg-deb -x` into $(RDATA), so that R itself is not installed.
RDATA := $(HOME)/.cache/ptft/r-data
RLIB := usr/lib/R/site-library
data:
	@missing=""; \
	[ -f $(FMNIST) ] || [ -n "$$PTFT_DATA_DIR" ] || missing="$$missing dataset-fashion-mnist"; \
	[ -f $(WORDNET) ] || [ -n "$$PTFT_DATA_DIR" ] || missing="$$missing wordnet-base"; \
	if [ -n "$$missing" ] && command -v apt-get >/dev/null; then \
	  echo "installing Debian package(s):$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && $$SUDO apt-get install -y -q $$missing; \
	fi
	@$(MAKE) --no-print-directory data-tables

data-tables:
	@for pkg in mlbench:LetterRecognition kernlab:income; do \
	  name=$${pkg%%:*}; file=$${pkg##*:}.rda; \
	  [ -f /$(RLIB)/$$name/data/$$file ] || [ -f $(RDATA)/$(RLIB)/$$name/data/$$file ] && continue; \
	  command -v apt-get >/dev/null || { echo "no apt-get: install r-cran-$$name for the built-in tables"; continue; }; \
	  echo "unpacking Debian package r-cran-$$name (its data only, without R) into $(RDATA)"; \
	  tmp=$$(mktemp -d); chmod 755 $$tmp; \
	  ( cd $$tmp && apt-get download -q r-cran-$$name 2>/dev/null || \
	    { SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); $$SUDO apt-get update -q >/dev/null && apt-get download -q r-cran-$$name; } ) && \
	  mkdir -p $(RDATA) && dpkg-deb -x $$tmp/r-cran-$${name}_*.deb $(RDATA); \
	  rm -rf $$tmp; \
	done

# Headless Chromium (Debian package chromium) renders the compare report in the browser test.
browser:
	@if ! command -v chromium >/dev/null && command -v apt-get >/dev/null; then \
	  echo "installing Debian package chromium (the report's browser test)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && $$SUDO apt-get install -y -q chromium; \
	fi

demo: $(STAMP) data
	$(BIN)/ptft demo

demo-text: $(STAMP) data
	$(BIN)/ptft demo --task wordnet-supersenses

demo-table: $(STAMP) data-tables
	$(BIN)/ptft demo --task letter

test: $(STAMP) browser data-tables
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy src
	$(BIN)/lint-imports
	$(BIN)/python -m pytest

# The long reliability set: SIGKILL at every file boundary of a save and at 50 random moments, and
# fuzzing with 1,500 cases per target (7 targets, 10,500 in all).
test-faults: $(STAMP)
	PTFT_FAULTS=1 $(BIN)/python -m pytest -q tests/test_kill.py
	PTFT_FUZZ_CASES=1500 $(BIN)/python -m pytest -q -W ignore::UserWarning tests/test_fuzz.py

# Fresh random fuzz cases (not in CI, which must be reproducible): FUZZ_CASES per target.
FUZZ_CASES ?= 5000
fuzz-explore: $(STAMP)
	PTFT_FUZZ_EXPLORE=1 PTFT_FUZZ_CASES=$(FUZZ_CASES) $(BIN)/python -m pytest -q -W ignore::UserWarning tests/test_fuzz.py

# Throughput only (minutes); the label-efficiency studies are bench/compare.py (an hour or more each, README).
bench: $(STAMP) data
	$(BIN)/python bench/fashion_mnist.py
	$(BIN)/python bench/wordnet.py

clean-venv:
	rm -rf $(VENV)
