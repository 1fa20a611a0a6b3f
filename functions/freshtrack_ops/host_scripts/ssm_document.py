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

A script that reads credentials (presigned URLs: ``credential_parameters``) does not declare them: anyone
allowed ``ssm:ListCommands`` reads every command's parameters. Its document declares ``EXCHANGE_URL`` instead,
the S3 URL (no signature) of a host exchange object that holds them, and gets a first step,
``aws:downloadContent`` (sourceType S3), with which the agent fetches that object with the host's own role into
the command's ``downloads`` directory (``EXCHANGE_FILE``). The run step's working directory is that directory,
and its runCommand reads the credentials from the file, deletes it and exports them under their usual names,
so the script itself is unchanged. ``EXCHANGE_URL`` is the one value substituted into the document
(``{{ EXCHANGE_URL }}`` in ``sourceInfo``, never in shell text); its pattern admits only our URL shape.
Agent source (amazon-ssm-agent, commit 1c217c89): ``plugins/downloadcontent/downloadcontent.go`` (relative
``destinationPath`` -> ``<orchestration dir>/downloads/``), ``downloadcontent/s3resource/s3resource.go`` and
``fileutil/artifact/artifact.go`` (``s3Download``: GetObject with the agent's credentials),
``plugins/runscript/runscript.go`` (an empty ``workingDirectory`` is ``<orchestration dir>/downloads`` when it
exists), ``framework/runpluginutil/runpluginutil.go`` (a failed step without ``onFailure`` does not stop the
next one: the run step then finds no file and exits ``EXCHANGE_MISSING_EXIT``).

``render_for_local`` is how the local plane's stand-in for the SSM agent runs such a document: the same
runCommand text, run by ``/bin/sh`` with the ``SSM_*`` variables set.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, TypedDict

from freshtrack_ops import host_scripts
from freshtrack_ops.host_scripts.parameters import PARAMETERS, SCRIPT_PARAMETERS, credential_parameters

SCHEMA_VERSION = "2.2"
#: the document step's name (the agent's plugin id: S3 output goes under ``.../awsrunShellScript/<step>/``)
STEP_NAME = "runHostScript"
PLUGIN_FOLDER = "awsrunShellScript"
#: the first step of a document whose script reads credentials: the agent fetches the host exchange object
FETCH_STEP_NAME = "fetchCredentials"
#: the parameter naming that object (an S3 URL without any credential), and the file it is fetched to (relative to
#: the command's downloads directory, the run step's working directory)
EXCHANGE_PARAMETER = "EXCHANGE_URL"
EXCHANGE_FILE = "ftops-exchange"
#: the run step's exit code when the exchange object did not arrive or holds something unexpected
EXCHANGE_MISSING_EXIT = 70
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


def declared_parameters(script: str) -> tuple[str, ...]:
    """The parameters the document of ``script`` declares: every parameter the script reads but its credentials,
    and ``EXCHANGE_URL`` when it reads any."""
    names = _parameter_names(script)
    secret = credential_parameters(script)
    plain = tuple(name for name in names if name not in secret)
    return (*plain, EXCHANGE_PARAMETER) if secret else plain


def _exchange_lines(script: str) -> list[str]:
    """POSIX sh that reads the script's credentials from the fetched exchange file (``NAME value`` lines), deletes
    the file and exports them; a missing file, an unknown name or a missing required credential stops the step."""
    secret = credential_parameters(script)
    if not secret:
        return []
    lines = [
        f'ftops_exchange="$PWD/{EXCHANGE_FILE}"',
        'if [ ! -f "$ftops_exchange" ]; then',
        "  echo 'host exchange: the credentials object was not delivered (aws:downloadContent failed: may this"
        " host read it?)' >&2",
        f"  exit {EXCHANGE_MISSING_EXIT}",
        "fi",
        "ftops_bad=",
    ]
    for name in secret:
        default = PARAMETERS[name].default
        if default is not None:
            lines.append(f"{name}='{default}'")
    lines.append("while IFS=' ' read -r ftops_name ftops_value; do")
    lines.append('  case "$ftops_name" in')
    lines += [f'    {name}) {name}="$ftops_value" ;;' for name in secret]
    lines += ["    *) ftops_bad=1 ;;", "  esac", 'done < "$ftops_exchange"', 'rm -f "$ftops_exchange"']
    lines += [
        'if [ -n "$ftops_bad" ]; then',
        "  echo 'host exchange: unexpected entry in the credentials object' >&2",
        f"  exit {EXCHANGE_MISSING_EXIT}",
        "fi",
    ]
    for name in secret:
        if PARAMETERS[name].default is None:
            lines += [
                f'if [ -z "${{{name}+x}}" ]; then',
                f"  echo 'host exchange: no {name} in the credentials object' >&2",
                f"  exit {EXCHANGE_MISSING_EXIT}",
                "fi",
            ]
    lines.append("export " + " ".join(secret))
    return lines


def run_command(script: str) -> list[str]:
    """The step's shell lines (POSIX sh): export each parameter from its SSM_* variable (credentials from the
    fetched exchange file), exec the script."""
    body = host_scripts.load(script).rstrip("\n")
    if HEREDOC_DELIMITER in body.splitlines():
        raise ValueError(f"script: {script} contains the here-doc delimiter {HEREDOC_DELIMITER}")
    if "{{" in body:
        # the agent would treat it as a parameter reference
        raise ValueError(f"script: {script} contains '{{{{', which SSM reads as a parameter reference")
    lines = ["set -eu"]
    secret = credential_parameters(script)
    lines += [f'export {name}="${env_var(name)}"' for name in _parameter_names(script) if name not in secret]
    lines += _exchange_lines(script)
    lines.append(f"script=$(cat <<'{HEREDOC_DELIMITER}'")
    lines += body.split("\n")
    lines += [HEREDOC_DELIMITER, ")", f'exec bash -c "$script" {script}']
    return lines


class StepInputs(TypedDict, total=False):
    """A step's inputs: ``timeoutSeconds`` and ``runCommand`` (aws:runShellScript), or ``sourceType``,
    ``sourceInfo`` and ``destinationPath`` (aws:downloadContent)."""

    timeoutSeconds: str
    runCommand: list[str]
    sourceType: str
    sourceInfo: str
    destinationPath: str


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
    for name in declared_parameters(script):
        spec = PARAMETERS[name]
        declared: dict[str, str | int] = {
            "type": "String",
            "description": spec.description,
            "allowedPattern": spec.pattern,
            "maxChars": spec.max_chars,
        }
        if name != EXCHANGE_PARAMETER:
            # EXCHANGE_URL is substituted into the fetch step's sourceInfo; everything else only reaches the
            # run step as an environment variable
            declared["interpolationType"] = "ENV_VAR"
        if spec.default is not None:
            declared["default"] = spec.default
        parameters[name] = declared
    steps: list[DocumentStep] = []
    if EXCHANGE_PARAMETER in parameters:
        steps.append(
            {
                "action": "aws:downloadContent",
                "name": FETCH_STEP_NAME,
                "precondition": {"StringEquals": ["platformType", "Linux"]},
                "inputs": {
                    "sourceType": "S3",
                    "sourceInfo": json.dumps({"path": "{{ " + EXCHANGE_PARAMETER + " }}"}),
                    "destinationPath": EXCHANGE_FILE,
                },
            }
        )
    steps.append(
        {
            "action": "aws:runShellScript",
            "name": STEP_NAME,
            "precondition": {"StringEquals": ["platformType", "Linux"]},
            "inputs": {"timeoutSeconds": str(timeout), "runCommand": run_command(script)},
        }
    )
    content: CommandDocument = {
        "schemaVersion": SCHEMA_VERSION,
        "description": f"FreshTrack Ops host script {script} (generated from host_scripts/{script}; do not edit)",
        "parameters": parameters,
        "mainSteps": steps,
    }
    size = len(json.dumps(content).encode("utf-8"))
    if size > MAX_DOCUMENT_BYTES:
        raise ValueError(f"script: the document of {script} is {size} bytes, over SSM's {MAX_DOCUMENT_BYTES}")
    return content


def document_timeout(content: Mapping[str, Any]) -> int:
    """The execution timeout a document's run step declares."""
    return int(_step(content)["inputs"]["timeoutSeconds"])


def fetch_step(content: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The document's ``aws:downloadContent`` step (None when it has none)."""
    steps = content.get("mainSteps") or []
    found = [step for step in steps if step.get("action") == "aws:downloadContent"]
    return found[0] if found else None


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
    declared: Mapping[str, Mapping[str, Any]] = content.get("parameters") or {}
    text = "\n".join(step["inputs"]["runCommand"]) + "\n"
    # the agent sets SSM_<NAME> only for ENV_VAR parameters (EXCHANGE_URL is substituted into the fetch step)
    return ["/bin/sh", "-c", text], {
        env_var(name): value
        for name, value in resolved.items()
        if declared.get(name, {}).get("interpolationType") == "ENV_VAR"
    }


def _step(content: Mapping[str, Any]) -> Mapping[str, Any]:
    """The document's run step: its last step, after at most one fetch step."""
    steps = content.get("mainSteps") or []
    if not 1 <= len(steps) <= 2:
        raise ValueError(f"expected one or two steps, the document has {len(steps)}")
    if len(steps) == 2 and steps[0].get("action") != "aws:downloadContent":
        raise ValueError(f"step {steps[0].get('name')!r}: only aws:downloadContent may come before the run step")
    step: Mapping[str, Any] = steps[-1]
    return step


__all__ = [
    "EXCHANGE_FILE",
    "EXCHANGE_MISSING_EXIT",
    "EXCHANGE_PARAMETER",
    "EXECUTION_TIMEOUT_S",
    "FETCH_STEP_NAME",
    "SSH_ONLY_SCRIPTS",
    "STEP_NAME",
    "declared_parameters",
    "document_content",
    "document_name",
    "document_scripts",
    "document_timeout",
    "env_var",
    "execution_timeout",
    "fetch_step",
    "render_for_local",
    "resolve_parameters",
]
