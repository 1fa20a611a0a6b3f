# FreshTrack Ops — every target creates or reuses .venv and installs what it needs.
SHELL := /bin/bash
PY := .venv/bin/python
export PYTHONPATH := $(CURDIR)/functions:$(CURDIR)
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
CONFIG ?= config/example.yaml

.PHONY: demo test lint unit integration infra synth bench sysdeps venv clean

venv: .venv/.installed

.venv/.installed: requirements-dev.txt requirements-lambda.txt
	@test -x $(PY) || python3 -m venv .venv
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt
	@touch $@

sysdeps:
	@bash tools/ensure-system-packages.sh

demo: venv sysdeps
	$(PY) -m opsctl demo

lint: venv
	.venv/bin/ruff check .
	.venv/bin/mypy
	.venv/bin/xenon --max-absolute C --max-modules B --max-average A functions/
	.venv/bin/shellcheck functions/freshtrack_ops/host_scripts/*.sh functions/freshtrack_ops/host_scripts/lib/*.sh tools/*.sh .ci/run \
		opsctl/local/app_repo_files/scripts/*.sh

test: venv sysdeps lint
	$(PY) -m pytest -q

unit: venv
	$(PY) -m pytest -q tests/unit tests/asl

integration: venv sysdeps
	$(PY) -m pytest -q tests/integration

infra: venv
	$(PY) -m pytest -q tests/infra

synth: venv
	CDK_OUTDIR=cdk.out FRESHTRACK_CONFIG=$(CONFIG) $(PY) app.py
	@echo "templates in cdk.out/ (config $(CONFIG))"

bench: venv sysdeps
	$(PY) -m bench

clean:
	rm -rf cdk.out build .pytest_cache .mypy_cache .ruff_cache
