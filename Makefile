# pathfer: two commands on a fresh machine
#   make demo   - install into .venv, then run the demo (synthetic corpora -> report)
#   make test   - install into .venv, then run the test suite
#   make report-screenshot RUN=runs/NAME - a full-page screenshot of RUN/report.html in
#                 headless Chromium (apt-get install chromium), and each figure's drawn size
VENV ?= .venv
PY := $(VENV)/bin/python
EXTRAS ?= dev,export

.PHONY: install demo test lint bench report-screenshot

# torch is pinned here, not in pyproject.toml (which gives a range): the version the demo's
# and the docs' numbers were measured with (a seed fixes the numbers for one torch version
# on one kind of CPU); install pathfer with pip into your own environment to use your torch.
$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[$(EXTRAS)]"
	touch $@

install: $(VENV)/.installed

demo: install
	$(VENV)/bin/pathfer demo

test: install
	$(VENV)/bin/python -m pytest -q

lint: install
	$(VENV)/bin/ruff check src tests benchmarks scripts
	$(VENV)/bin/ruff format --check src tests benchmarks scripts

report-screenshot: install
	@test -n "$(RUN)" || { echo "usage: make report-screenshot RUN=runs/NAME (a folder with report.html)"; exit 2; }
	$(PY) scripts/report_screenshot.py "$(RUN)"
