# The README's two commands: `make search` and `make test`. Everything installs into .venv.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
# torch and torchvision are installed together so pip resolves a matching pair.
TORCH  := torch==2.14.1 torchvision==0.29.1

.PHONY: search test install services clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install $(TORCH)
	$(BIN)/pip install -e '.[test]'
	touch $@

install: $(VENV)/.installed

# the main job: a real search on the embedded default data (scikit-learn's digits)
search: install
	$(BIN)/nasblocks search --budget 300MFLOPs

# services and programs the tests need (PostgreSQL, Graphviz), from Debian's packages
services:
	scripts/install-services.sh

test: install services
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) build *.egg-info
