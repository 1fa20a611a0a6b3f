"""SSM Command documents generated from the host script files: one source of truth for both transports.

Each script (but ``SSH_ONLY_SCRIPTS``, whose output holds secrets) becomes one schema-2.2 Command document with one
``aws:runShellScript`` step:

* every parameter the script reads (``SCRIPT_PARAMETERS``) is declared as a String with the
  ``allowedPattern`` and ``maxChars`` of ``PARAMETERS`` and ``"interpolationType": "ENV_VAR"``. SSM checks
  length and pattern when the command is sent (the pattern with Java's regex library); the agent checks the
  pattern again with Go's ``regexp`` (RE2 syntax: a pattern Go cannot compile fails the whole invocation,
  see ``parameters.py``), then (>= 3.3.2746.0) hands the value to the step as the environment variable
  ``SSM_<NAME>``. The command text never contains ``{{ }}``, so no value is ever pasted into a shell line.
  An agent too old for ENV_VAR sets no ``SSM_*`` variable: ``set -u`` then stops the step before the
  script runs (fails closed, never runs with empty parameters).
* ``runCommand`` (POSIX sh, as the agent runs it) exports ``NAME="$SSM_NAME"`` for each parameter, reads
  the script body from a quoted here-doc (no expansion of its text) and ``exec``s ``bash -c "$script"``.
* ``timeoutSeconds`` (the execution timeout) comes from ``EXECUTION_TIMEOUT_S``.

``render_for_local`` is how the local plane's stand-in for the SSM agent runs such a document: the same
runCommand text, run by ``/bin/sh`` with the ``SSM_*`` variables set.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, TypedDict

from freshtrack_ops import host_scripts
from freshtrack_ops.host_scripts.parameters import PARAMETERS, SCRIPT_PARAMETERS

SCHEMA_VERSION = "2.2"
#: the document step's name (the agent's plugin id: S3 output goes under ``.../awsrunShellScript/<step>/``)
STEP_NAME = "runHostScript"
PLUGIN_FOLDER = "awsrunShellScript"
NAME_PREFIX = "FreshTrackOps-"
#: the here-doc delimiter that carries the script body; a script must never contain it as a line
HEREDOC_DELIMITER = "FRESHTRACK_OPS_HOST_SCRIPT_END"
#: SSM's limit on a document's content
MAX_DOCUMENT_BYTES = 64 * 1024
#: the step's execution timeout per script (seconds); anything not listed gets DEFAULT_TIMEOUT_S
EXECUTION_TIMEOUT_S: dict[str, int] = {
    "preflight.sh": 120,
    "backup_dump.sh": 3600,
    "archive_list.sh": 3600,
    "restore_stream.sh": 3600,
    "ssm_backup_upload.sh": 3600,
    "ssm_archive_list.sh": 3600,
    "ssm_restore_stream.sh": 3600,
    # image rebuilds and migrations: the control plane's own limit is expected to be shorter
    "app_deploy.sh": 3600,
    # a force rebuild (`build --no-cache`): the service workflow's Act state waits 900 s (service/host.py ACT_TIMEOUT_S)
    "service.sh": 840,
    # an OS update: apt-get stops at APT_TIMEOUT_S (at most 3 h), after up to DPKG_LOCK_WAIT_S (1 h) for the lock
    "os_update.sh": 4 * 3600 + 600,
}
DEFAULT_TIMEOUT_S = 600
#: Host scripts whose stdout carries secret values: they run over SSH (or the local transport) only, where the
#: output travels on the command's channel and is kept nowhere. SSM keeps every command's output
#: (GetCommandInvocation, and the output prefix in S3), so these get no Command document at all: not even a
#: mistaken SendCommand can run them (each has an ``ssm_`` variant that uploads to a presigned URL instead).
SSH_ONLY_SCRIPTS = frozenset({"dr_capture_config.sh"})
#: SSM's bounds of aws:runShellScript timeoutSeconds
_MIN_TIMEOUT_S, _MAX_TIMEOUT_S = 1, 172_800
_DOCUMENT_NAME = re.compile(r"^[a-zA-Z0-9_.-]{3,128}$")


def execution_timeout(script: str) -> int:
    return EXECUTION_TIMEOUT_S.get(script, DEFAULT_TIMEOUT_S)


def document_name(script: str) -> str:
    """``preflight.sh`` -> ``FreshTrackOps-preflight`` (CDK may put a deployment prefix in front)."""
    _parameter_names(script)
    name = NAME_PREFIX + script.removesuffix(".sh")
    if not _DOCUMENT_NAME.match(name):
        raise ValueError(f"script: {script!r} gives an invalid SSM document name {name!r}")
    return name


def env_var(name: str) -> str:
    """The environment variable the agent creates for an ENV_VAR parameter (``SSM_<parameter name>``)."""
    return f"SSM_{name}"


def document_scripts() -> list[str]:
    """The host scripts that have a Command document (every script but ``SSH_ONLY_SCRIPTS``), sorted."""
    return sorted(script for script in SCRIPT_PARAMETERS if script not in SSH_ONLY_SCRIPTS)


def _parameter_names(script: str) -> tuple[str, ...]:
    names = SCRIPT_PARAMETERS.get(script)
    if names is None:
        raise ValueError(f"script: {script!r} has no parameter table")
    if script in SSH_ONLY_SCRIPTS:
        raise ValueError(f"script: {script} prints secrets on stdout: it runs over SSH only and has no SSM document")
    return names


def run_command(script: str) -> list[str]:
    """The step's shell lines (POSIX sh): export each parameter from its SSM_* variable, exec the script."""
    body = host_scripts.load(script).rstrip("\n")
    if HEREDOC_DELIMITER in body.splitlines():
        raise ValueError(f"script: {script} contains the here-doc delimiter {HEREDOC_DELIMITER}")
    if "{{" in body:
        # the agent would treat it as a parameter reference
        raise ValueError(f"script: {script} contains '{{{{', which SSM reads as a parameter reference")
    lines = ["set -eu"]
    lines += [f'export {name}="${env_var(name)}"' for name in _parameter_names(script)]
    lines.append(f"script=$(cat <<'{HEREDOC_DELIMITER}'")
    lines += body.split("\n")
    lines += [HEREDOC_DELIMITER, ")", f'exec bash -c "$script" {script}']
    return lines


class StepInputs(TypedDict):
    timeoutSeconds: str
    runCommand: list[str]


class DocumentStep(TypedDict):
    action: str
    name: str
    precondition: dict[str, list[str]]
    inputs: StepInputs


class CommandDocument(TypedDict):
    """A schema-2.2 Command document as SSM stores it (what ``json.dumps`` sends)."""

    schemaVersion: str
    description: str
    parameters: dict[str, dict[str, str | int]]
    mainSteps: list[DocumentStep]


def document_content(script: str, *, timeout_s: int | None = None) -> CommandDocument:
    """The Command document of host script ``script`` (``json.dumps`` it for the API).

    ``timeout_s`` overrides the execution timeout (tests use tiny ones); normally it comes from the table."""
    timeout = execution_timeout(script) if timeout_s is None else timeout_s
    if not _MIN_TIMEOUT_S <= timeout <= _MAX_TIMEOUT_S:
        raise ValueError(f"timeout_s: {timeout} is outside {_MIN_TIMEOUT_S}..{_MAX_TIMEOUT_S}")
    parameters: dict[str, dict[str, str | int]] = {}
    for name in _parameter_names(script):
        spec = PARAMETERS[name]
        declared: dict[str, str | int] = {
            "type": "String",
            "description": spec.description,
            "allowedPattern": spec.pattern,
            "maxChars": spec.max_chars,
            "interpolationType": "ENV_VAR",
        }
        if spec.default is not None:
            declared["default"] = spec.default
        parameters[name] = declared
    content: CommandDocument = {
        "schemaVersion": SCHEMA_VERSION,
        "description": f"FreshTrack Ops host script {script} (generated from host_scripts/{script}; do not edit)",
        "parameters": parameters,
        "mainSteps": [
            {
                "action": "aws:runShellScript",
                "name": STEP_NAME,
                "precondition": {"StringEquals": ["platformType", "Linux"]},
                "inputs": {"timeoutSeconds": str(timeout), "runCommand": run_command(script)},
            }
        ],
    }
    size = len(json.dumps(content).encode("utf-8"))
    if size > MAX_DOCUMENT_BYTES:
        raise ValueError(f"script: the document of {script} is {size} bytes, over SSM's {MAX_DOCUMENT_BYTES}")
    return content


def document_timeout(content: Mapping[str, Any]) -> int:
    """The execution timeout a document's (single) step declares."""
    return int(_step(content)["inputs"]["timeoutSeconds"])


def resolve_parameters(content: Mapping[str, Any], parameters: Mapping[str, str]) -> dict[str, str]:
    """Every declared parameter's value as the SSM API resolves it at SendCommand: the given value or the
    default.

    Raises ValueError (naming the parameter) for an undeclared parameter, a missing required one, a value
    outside ``minChars``..``maxChars`` or one that does not match its ``allowedPattern`` (the whole value must
    match). Python's ``re`` stands in for the API's Java regex here; the agent's second check, with Go's
    RE2, is the local agent stand-in's (``opsctl/local/ssm_executor.py``). The message never echoes a value:
    it would reach an error cause, and a value may be a presigned URL."""
    declared: Mapping[str, Mapping[str, Any]] = content.get("parameters") or {}
    unknown = sorted(set(parameters) - set(declared))
    if unknown:
        raise ValueError(f"parameters {', '.join(unknown)} are not declared by the document")
    resolved: dict[str, str] = {}
    for name, spec in declared.items():
        if name in parameters:
            value = parameters[name]
        elif "default" in spec:
            value = spec["default"]
        else:
            raise ValueError(f"parameter {name} is required and has no value")
        if "maxChars" in spec and len(value) > int(spec["maxChars"]):
            raise ValueError(
                f"parameter {name}: a value of {len(value)} characters exceeds maxChars {spec['maxChars']}"
            )
        if "minChars" in spec and len(value) < int(spec["minChars"]):
            raise ValueError(
                f"parameter {name}: a value of {len(value)} characters is under minChars {spec['minChars']}"
            )
        pattern = spec.get("allowedPattern")
        if pattern is not None and not re.fullmatch(pattern, value):
            raise ValueError(
                f"parameter {name}: the value ({len(value)} characters) does not match allowedPattern {pattern}"
            )
        resolved[name] = value
    return resolved


def render_for_local(content: Mapping[str, Any], parameters: Mapping[str, str]) -> tuple[list[str], dict[str, str]]:
    """(argv, env) that run the document's step locally as the agent would: the exact runCommand text,
    run by ``/bin/sh``, each (resolved) parameter only in the environment as ``SSM_<NAME>``.

    ``env`` holds only the SSM_* variables; the caller adds PATH etc. of the host."""
    step = _step(content)
    if step.get("action") != "aws:runShellScript":
        raise ValueError(f"step {step.get('name')!r}: only aws:runShellScript is supported locally")
    resolved = resolve_parameters(content, parameters)
    text = "\n".join(step["inputs"]["runCommand"]) + "\n"
    return ["/bin/sh", "-c", text], {env_var(name): value for name, value in resolved.items()}


def _step(content: Mapping[str, Any]) -> Mapping[str, Any]:
    steps = content.get("mainSteps") or []
    if len(steps) != 1:
        raise ValueError(f"expected one step, the document has {len(steps)}")
    step: Mapping[str, Any] = steps[0]
    return step


__all__ = [
    "EXECUTION_TIMEOUT_S",
    "SSH_ONLY_SCRIPTS",
    "STEP_NAME",
    "document_content",
    "document_name",
    "document_scripts",
    "document_timeout",
    "env_var",
    "execution_timeout",
    "render_for_local",
    "resolve_parameters",
]
