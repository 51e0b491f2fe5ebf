# Videoloom — each target installs what it needs, so on a fresh machine it is the only command.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: serve test lint bench clean install install-diffusion postgres soak

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || \
		{ echo "Videoloom needs Python 3.11 (PyAV 18 wheels); set PYTHON=python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)

# Reinstall when the dependency list changes.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# The diffusion extra (tests and CPU smoke runs). torch first and pinned (the extra pins the same
# version): a loose torch spec makes pip fetch the newest torch plus ~3 GB of CUDA wheels. GPU hosts
# install the CUDA build of torch 2.13.0 they want first, then `pip install -e '.[diffusion]'`.
TORCH_VERSION ?= 2.13.0
DIFFUSION_STAMP := $(VENV)/.installed-diffusion
$(DIFFUSION_STAMP): pyproject.toml $(STAMP)
	$(BIN)/python -m pip install --quiet 'torch==$(TORCH_VERSION)'
	$(BIN)/python -m pip install --quiet -e '.[test,diffusion]'
	touch $(DIFFUSION_STAMP)

install-diffusion: $(DIFFUSION_STAMP)

serve: $(STAMP)
	$(BIN)/videoloom serve

# The scale-out tests need PostgreSQL on 127.0.0.1:5432 (trust auth); start it if it is down.
postgres:
	@pg_isready -q -h 127.0.0.1 -p 5432 || \
		{ command -v pg_ctlcluster >/dev/null || { apt-get update -qq && apt-get install -y -qq postgresql; }; \
		  pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql | head -1) main start; \
		  for i in $$(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done; }

# The playground tests drive Debian's Chromium (Playwright never downloads a browser here).
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

test: $(DIFFUSION_STAMP) postgres $(CHROMIUM)
	$(BIN)/python -m pytest -q

# Reliability soak: 25+ kill -9 cycles, then 100 pollers for 60 s (docs/reliability.md).
# SOAK_ARGS passes options through, e.g. make soak SOAK_ARGS="--cycles 40 --seed 7".
soak: $(STAMP)
	$(BIN)/python scripts/soak_crash.py $(SOAK_ARGS)

# Benchmarks (docs/benchmarks.md): installs Debian's ffmpeg and wrk (the baselines) when missing,
# runs bench/*, ends with one "BENCH <name> <value> <goal>" line per figure. Not part of `make test`.
bench: $(STAMP)
	@for tool in ffmpeg wrk; do command -v $$tool >/dev/null || { \
		$$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get install -y $$tool || \
		{ $$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get update && \
		  $$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get install -y $$tool; }; }; done
	$(BIN)/python -m bench.run_all $(BENCH_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests

clean:
	rm -rf $(VENV) .pytest_cache
