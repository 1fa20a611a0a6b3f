# FreshTrack Ops — every target creates or reuses .venv and installs what it needs.
SHELL := /bin/bash
PY := .venv/bin/python
# checkov pins an older boto3 than the Lambda asset's: it lives in a venv of its own (requirements-checkov.txt)
CHECKOV_VENV := .venv-checkov
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
CONFIG ?= config/example.yaml

.PHONY: docs demo test lint unit integration faults infra synth bench sysdeps venv checkov-venv clean

# The project is installed into .venv in editable mode (pyproject.toml maps freshtrack_ops to functions/), so
# opsctl, `python -m opsctl|bench` and `import freshtrack_ops` work without PYTHONPATH. An editable install
# points at one checkout by absolute path: when .venv's points elsewhere (a moved clone, or a venv shared by
# several git worktrees) it is redone for this one.
venv: .venv/.installed
	@$(PY) -I -c "$$EDITABLE_HERE" "$(CURDIR)" || $(PY) -m pip install -q --no-deps -e .

.venv/.installed: requirements-dev.txt requirements-lambda.txt pyproject.toml
	@test -x $(PY) || python3 -m venv .venv
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt
	$(PY) -m pip install -q --no-deps -e .
	@touch $@

# the security scan of the synthesized templates (tests/infra/test_infra_checkov.py runs its checkov CLI)
checkov-venv: $(CHECKOV_VENV)/.installed

$(CHECKOV_VENV)/.installed: requirements-checkov.txt
	@test -x $(CHECKOV_VENV)/bin/python || python3 -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install -q --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install -q -r requirements-checkov.txt
	@touch $@

# exit status 0 when the installed freshtrack_ops and opsctl are this checkout's (-I: no cwd, no PYTHONPATH)
define EDITABLE_HERE
import importlib.util, pathlib, sys
here = pathlib.Path(sys.argv[1]).resolve()
for name, path in (("freshtrack_ops", "functions/freshtrack_ops"), ("opsctl", "opsctl")):
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None or pathlib.Path(spec.origin).resolve() != here / path / "__init__.py":
        sys.exit(1)
endef
export EDITABLE_HERE

sysdeps:
	@bash tools/ensure-system-packages.sh

demo: venv sysdeps
	$(PY) -m opsctl demo

# mypy -n 2: a cold run (CI's fresh clone) is mostly aws_cdk's types, 103 s in one process, 84 s in two
lint: venv
	.venv/bin/ruff check .
	.venv/bin/mypy -n 2
	.venv/bin/xenon --max-absolute C --max-modules B --max-average A functions/
	.venv/bin/shellcheck functions/freshtrack_ops/host_scripts/*.sh functions/freshtrack_ops/host_scripts/lib/*.sh tools/*.sh .ci/run \
		opsctl/local/app_repo_files/scripts/*.sh

# Two workers: the integration tests spend much of their time waiting on PostgreSQL, sshd and the host's
# polls, and the infra suite on node (jsii); measured 1090 s serial vs 827 s with -n 2 on the same loaded
# machine. --durations shows in CI where the time goes.
# The two venvs and the system packages install side by side (pip is one process: 85 s and 24 s in a fresh clone).
test:
	@$(MAKE) --no-print-directory -j3 --output-sync=target venv checkov-venv sysdeps
	@$(MAKE) --no-print-directory lint
	$(PY) -m pytest -q -n 2 --dist loadscope --durations=25

unit: venv
	$(PY) -m pytest -q tests/unit tests/asl

integration: venv sysdeps
	$(PY) -m pytest -q tests/integration

# the fault matrix alone (docs/reliability.md; make test runs it too)
faults: venv sysdeps
	$(PY) -m pytest -q tests/faults

infra: venv checkov-venv
	$(PY) -m pytest -q tests/infra

synth: venv
	CDK_OUTDIR=cdk.out FRESHTRACK_CONFIG=$(CONFIG) $(PY) app.py
	@echo "templates in cdk.out/ (config $(CONFIG))"

bench: venv sysdeps
	$(PY) -m bench

clean:
	rm -rf cdk.out build .pytest_cache .mypy_cache .ruff_cache

docs: venv
	$(PY) -m state_machines.maintenance_asl
	$(PY) -m opsctl.docs_gen
