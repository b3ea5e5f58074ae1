# Deploy Studio: `make run` and `make test` do all set-up on a fresh machine.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
SAMPLE := resources/samples/lenet5.mindir
EXTRAS ?= dev

.PHONY: run test test-engine-headless lint proto package bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[$(EXTRAS)]"
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/dstudio $(SAMPLE)

test: $(STAMP)
	$(VENV)/bin/lint-imports
	$(PY) scripts/gen_proto.py --check
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q
	$(MAKE) --no-print-directory test-engine-headless

# The engine's tests with Qt made unimportable, as on a headless server (napari-style).
test-engine-headless: $(STAMP)
	DSTUDIO_BLOCK_QT=1 $(PY) -m pytest -q -p no:pytest-qt -m "not slow" tests/engine

proto: $(STAMP)
	$(PY) scripts/gen_proto.py

package: $(STAMP)
	$(PY) -m pip install --quiet -e ".[$(EXTRAS),package]"
	$(PY) packaging/build.py

bench: $(STAMP)
	$(PY) benchmarks/convert.py

clean:
	rm -rf $(VENV) build dist .pytest_cache
