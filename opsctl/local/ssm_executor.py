"""The local plane's stand-in for the SSM agent: moto's ``send_command`` really runs the document.

moto answers ``send_command`` with a canned Success and runs nothing. For instance ids registered here
(``register_instance("mi-0123456789abcdef0", host.env())``) the patched backend instead does what SSM and
its agent do:

* the Command document is looked up (unknown -> ``InvalidDocument``) and every parameter value is checked
  as the SSM API checks it at SendCommand (``resolve_parameters``): undeclared, missing, longer than its
  ``maxChars`` or not matching its ``allowedPattern`` (whole value; Python's ``re`` standing in for the
  API's Java regex) -> the ``InvalidParameters`` ClientError, no command, and nothing runs;
* an instance registered offline gets an invocation that ends ``Failed`` / ``Undeliverable``;
* the agent then checks every declared ``allowedPattern`` again, with Go's ``regexp`` (``agent_check``:
  google-re2, which has Go's RE2 rules). A pattern RE2 cannot compile (a repeat count over 1000, nested
  repeats multiplying past 1000, a backreference, lookaround) or a value it does not match makes the agent
  refuse the whole document, as amazon-ssm-agent's ``processMessage`` does: the command exists (the API
  accepted it), its invocation ends ``Failed`` / ``Failed`` with ResponseCode -1, nothing runs, and the
  agent's error text (in the agent's words, quoting the refused value as the agent does) is the
  invocation's ``StandardErrorContent``;
* otherwise the step's runCommand runs locally in a background thread (``render_for_local``: /bin/sh with
  ``SSM_<NAME>`` variables, the host's PATH) with the document's ``timeoutSeconds``; the invocation is
  ``InProgress`` meanwhile, then ``Success`` / ``Failed`` (ResponseCode = exit code) or ``TimedOut`` /
  ``ExecutionTimedOut`` (the whole process group is killed);
* a step that exits 194 asks for the agent's reboot, as amazon-ssm-agent does on Linux (commit 1c217c89:
  ``appconfig.RebootExitCode``; ``pluginutil.GetStatus`` -> ``SuccessAndReboot``; ``processor.go`` ->
  ``rebooter.RequestPendingReboot``, ``/sbin/shutdown -r +1``; after the boot ``runpluginutil.go`` runs the step
  again): the instance's host reboots (``register_instance(reboot=...)``, ``LocalHost.reboot``: its agent goes
  offline), the invocation stays ``InProgress``, and once the agent is online again the step runs again; its
  result is the invocation's. Its output is appended to the first run's (the agent's stdout file is opened for
  appending and kept after a 194, ``iomodule/commandoutput.go``). A host that never comes back leaves the
  invocation InProgress until the document's execution timeout (then ``TimedOut``);
* stdout/stderr go to ``StandardOutputContent`` (first 24,000 characters) / ``StandardErrorContent``
  (first 8,000) and, when the command names an output bucket, complete to
  ``<OutputS3KeyPrefix>/<command id>/<instance id>/awsrunShellScript/<step>/stdout|stderr`` with
  ``StandardOutputUrl``/``StandardErrorUrl`` pointing at them.

* a document whose first step is ``aws:downloadContent`` (sourceType S3: the host exchange object of a script
  that reads credentials, ``ssm_document.py``) has that step done as the agent does it with the instance's own
  role: ``{{ NAME }}`` in its inputs is replaced by the parameter's value, the S3 URL is split into bucket and key
  (virtual-hosted or path style, as ``s3util.ParseAmazonS3URL``), and the object is read through moto's S3
  backend **only if the host policy lets this instance read it** (``host_may_read``: a key under
  ``ssm-exchange/hosts/`` whose ``freshtrack-ops:host`` tag is this instance's ARN; anything else is
  ``AccessDenied``, as S3 answers the agent). It lands in ``<orchestration dir>/downloads/<destinationPath>`` and
  the run step runs with ``downloads`` as its working directory (``runscript.go``). A failed fetch does not stop
  the run step (no ``onFailure``), which then finds no file;
* ``GetCommandInvocation`` of a command whose document has more than one step needs ``PluginName`` (the API
  reference: "If the document contains more than one step, you must specify the name of the step"): without it,
  ``InvalidPluginName``.

``DescribeInstanceInformation`` (not implemented by moto) answers for the registered instances, so the SSM
adapter's online check works locally. When an invocation ends, every listener added with ``add_listener``
receives the event EventBridge would deliver ("EC2 Command Invocation Status-change Notification", source
``aws.ssm``): the local plane routes it to the completion Lambda as the deployed rule does.
Installation is idempotent; all state is guarded by one lock.
Commands to instances that are not registered keep moto's canned behaviour.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from freshtrack_ops.adapters.host_exchange import HOST_TAG, instance_arn
from freshtrack_ops.host_scripts.parameters import HOST_EXCHANGE_PREFIX
from freshtrack_ops.host_scripts.ssm_document import (
    PLUGIN_FOLDER,
    document_timeout,
    fetch_step,
    render_for_local,
    resolve_parameters,
)

STDOUT_API_LIMIT = 24_000
STDERR_API_LIMIT = 8_000
AGENT_VERSION = "3.3.2746.0"
_BASE_ENV_KEYS = ("HOME", "LANG", "LC_ALL", "USER", "LOGNAME", "TMPDIR")
_DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#: a step's exit code that makes the agent reboot the instance and run the step again (Linux; Windows: 3010)
REBOOT_EXIT_CODE = 194
#: more reboots than this in one invocation fail it (the real agent would go on rebooting)
MAX_REBOOTS = 5


@dataclass(frozen=True)
class LocalInstance:
    instance_id: str
    env: dict[str, str]
    online: bool = True
    workdir: Path | None = None
    #: reboots the instance's host (exit 194): powers it off at once (the agent goes offline), on again later
    reboot: Callable[[], None] | None = None


@dataclass
class _State:
    lock: threading.RLock = field(default_factory=threading.RLock)
    instances: dict[str, LocalInstance] = field(default_factory=dict)
    threads: list[threading.Thread] = field(default_factory=list)
    installed: bool = False
    #: (command id, instance id, final status) of every command run here, in order
    runs: list[tuple[str, str, str]] = field(default_factory=list)
    #: the running process of each (command id, instance id), and the invocations asked to cancel
    processes: dict[tuple[str, str], subprocess.Popen[bytes]] = field(default_factory=dict)
    cancelled: set[tuple[str, str]] = field(default_factory=set)
    #: called with the EventBridge event of every finished invocation (must not block)
    listeners: list[Callable[[dict[str, Any]], None]] = field(default_factory=list)
    #: set while the plane stops: invocations waiting for a rebooted host to come back give up
    release_reboot_waits: threading.Event = field(default_factory=threading.Event)
    #: how many steps each command's document has (GetCommandInvocation needs PluginName when more than one)
    step_counts: dict[str, int] = field(default_factory=dict)
    #: the parameters of every command sent to a registered instance, as ListCommands would show them, in order
    sent: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    #: why an aws:downloadContent step failed, per (command id, instance id)
    fetch_errors: dict[tuple[str, str], str] = field(default_factory=dict)


STATE = _State()


def register_instance(
    instance_id: str,
    env: Mapping[str, str],
    online: bool = True,
    workdir: Path | None = None,
    reboot: Callable[[], None] | None = None,
) -> None:
    """Make ``send_command`` to ``instance_id`` run locally with ``env`` (e.g. ``LocalHost.env()``); ``reboot``:
    what the agent's reboot does (``LocalHost.reboot``), without it a step's exit 194 fails the invocation."""
    with STATE.lock:
        STATE.instances[instance_id] = LocalInstance(instance_id, dict(env), online, workdir, reboot)


def add_listener(listener: Callable[[dict[str, Any]], None]) -> None:
    with STATE.lock:
        STATE.listeners.append(listener)


def remove_listener(listener: Callable[[dict[str, Any]], None]) -> None:
    with STATE.lock:
        if listener in STATE.listeners:
            STATE.listeners.remove(listener)


def unregister_instance(instance_id: str) -> None:
    with STATE.lock:
        STATE.instances.pop(instance_id, None)


def set_online(instance_id: str, online: bool) -> None:
    with STATE.lock:
        STATE.instances[instance_id] = dataclasses.replace(STATE.instances[instance_id], online=online)


def wait_idle(timeout_s: float = 30.0) -> bool:
    """Wait for every running command to end; True when none is left running."""
    deadline = time.monotonic() + timeout_s
    while True:
        with STATE.lock:
            STATE.threads = [t for t in STATE.threads if t.is_alive()]
            pending = list(STATE.threads)
        if not pending:
            return True
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        pending[0].join(remaining)


def reset() -> None:
    """Forget every registered instance (running commands finish on their own)."""
    with STATE.lock:
        STATE.instances.clear()
        STATE.runs.clear()
        STATE.sent.clear()
        STATE.step_counts.clear()
        STATE.fetch_errors.clear()
        STATE.listeners.clear()


# -- the patches ----------------------------------------------------------------------------------------
def install() -> None:
    """Patch moto's SSM backend (idempotent)."""
    with STATE.lock:
        if STATE.installed:
            return
        from moto.ssm.models import SimpleSystemManagerBackend
        from moto.ssm.responses import SimpleSystemManagerResponse

        backend, response = SimpleSystemManagerBackend, SimpleSystemManagerResponse
        backend.send_command = _patched_send_command(backend.send_command)  # type: ignore[method-assign]
        backend.get_command_invocation = _patched_get_command_invocation(  # type: ignore[method-assign]
            backend.get_command_invocation
        )
        # moto implements no DescribeInstanceInformation: added for the registered instances
        backend.describe_instance_information = _backend_describe_instance_information  # type: ignore[attr-defined]
        response.describe_instance_information = _response_describe_instance_information  # type: ignore[attr-defined]
        # moto implements no CancelCommand: the agent stand-in kills the running step, as the agent does
        backend.cancel_command = _backend_cancel_command  # type: ignore[attr-defined]
        response.cancel_command = _response_cancel_command  # type: ignore[attr-defined]
        STATE.installed = True


# -- the agent's own parameter check (Go regexp, RE2 syntax) ---------------------------------------------
def agent_check(content: Mapping[str, Any], values: Mapping[str, str]) -> str | None:
    """What the SSM Agent says about a document's parameters before it runs anything; None when it accepts.

    Mirrors amazon-ssm-agent ``parameterstore.ValidateSSMParameters`` with its one mandatory validator,
    ``allowedregexparamvalidator``: for every declared parameter, ``regexp.Compile(allowedPattern)`` (a
    compile error is "encountered error while compiling allowed pattern - internal error: ...") and
    ``MatchString(value)`` (an unanchored search: our patterns anchor themselves), the value being the given
    one or the default. All errors are collected, as the agent does. RE2 is google-re2, which refuses what
    Go's ``regexp/syntax`` refuses (repeat counts over 1000, nested repeat products over 1000, backreferences,
    lookaround): checked side by side with Go 1.19, see docs/ssm.md."""
    import re2

    options = re2.Options()
    options.log_errors = False  # RE2 would also log every compile error to stderr
    errors: list[str] = []
    declared: Mapping[str, Mapping[str, Any]] = content.get("parameters") or {}
    for name, spec in declared.items():
        pattern = spec.get("allowedPattern")
        if not pattern:
            continue
        try:
            compiled = re2.compile(pattern, options)
        except re2.error as exc:
            reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
            detail = (
                f"encountered error while compiling allowed pattern - internal error: error parsing regexp: {reason}"
            )
        else:
            value = values.get(name, spec.get("default"))
            if not isinstance(value, str) or compiled.search(value) is not None:
                continue
            detail = f"parameter value /{value}/ does not match the allowed pattern /{pattern}/"
        errors.append(f"error thrown in 'AllowedRegexParamValidator' while validating parameter /{name}/: {detail}")
    if not errors:
        return None
    return "all errors during param validation errors: " + "\n".join(errors)


def _ssm_error(code: str, message: str) -> Exception:
    from moto.ssm.exceptions import SSMException

    return SSMException(code, message)


def _patched_send_command(original: Callable[..., Any]) -> Callable[..., Any]:
    def send_command(self: Any, **kwargs: Any) -> Any:
        instance_ids: list[str] = list(kwargs.get("instance_ids") or [])
        with STATE.lock:
            local = [STATE.instances[i] for i in instance_ids if i in STATE.instances]
        documents = self._documents.get(kwargs.get("document_name") or "")
        if not local and documents is None:
            return original(self, **kwargs)  # moto's canned behaviour (e.g. AWS-RunShellScript, other tests)
        if local and len(local) != len(instance_ids):
            raise _ssm_error("InvalidInstanceId", "local SSM executor: mix of local and other instances")
        if documents is None:
            raise _ssm_error("InvalidDocument", "The specified document does not exist.")
        document = documents.get_default_version()
        if document.document_type != "Command":
            raise _ssm_error("InvalidDocument", f"{document.name} is not a Command document")
        content: dict[str, Any] = document.content_json
        values: dict[str, str] = {}
        for name, value in (kwargs.get("parameters") or {}).items():
            if not isinstance(value, list) or len(value) != 1 or not isinstance(value[0], str):
                raise _ssm_error("InvalidParameters", f"Parameter {name} must be a list of exactly one string.")
            values[name] = value[0]
        try:
            resolve_parameters(content, values)
        except ValueError as exc:
            raise _ssm_error("InvalidParameters", f"Invalid parameters for {document.name}: {exc}") from exc
        command = original(self, **kwargs)
        if not local:
            return command
        with STATE.lock:
            STATE.step_counts[command.command_id] = len(content.get("mainSteps") or [])
            STATE.sent.append((command.command_id, document.name, dict(values)))
            command.status, command.status_details = "InProgress", "InProgress"
            command.completed_count = 0
            for invocation in command.invocations:
                invocation.update(
                    Status="InProgress",
                    StatusDetails="InProgress",
                    ResponseCode=-1,
                    ExecutionStartDateTime=_now_iso(),
                    ExecutionElapsedTime="",
                    ExecutionEndDateTime="",
                    StandardOutputContent="",
                    StandardErrorContent="",
                    StandardOutputUrl="",
                    StandardErrorUrl="",
                    PluginName=content["mainSteps"][-1]["name"],  # the run step (GetCommandInvocation)
                    DocumentVersion=document.document_version,
                )
        refusal = agent_check(content, values)
        for instance in local:
            if not instance.online:
                _finish(self, command, instance.instance_id, status="Failed", details="Undeliverable", code=-1)
                continue
            if refusal is not None:  # the agent refuses the document: the invocation fails, nothing runs
                # no plugin ran, so nothing goes to the output bucket (the agent uploads a plugin's output)
                _finish(
                    self,
                    command,
                    instance.instance_id,
                    status="Failed",
                    details="Failed",
                    code=-1,
                    err=refusal.encode(),
                    to_s3=False,
                )
                continue
            thread = threading.Thread(
                target=_run,
                args=(self, command, instance, content, values),
                name=f"ssm-{command.command_id[:8]}-{instance.instance_id}",
                daemon=True,
            )
            with STATE.lock:
                STATE.threads.append(thread)
            thread.start()
        return command

    return send_command


def _patched_get_command_invocation(original: Callable[..., Any]) -> Callable[..., Any]:
    def get_command_invocation(self: Any, command_id: str, instance_id: str, plugin_name: str | None) -> Any:
        with STATE.lock:  # a copy: the runner thread updates the dict
            if plugin_name is None and STATE.step_counts.get(command_id, 1) > 1:
                raise _ssm_error(
                    "InvalidPluginName", "The document has more than one step: PluginName names the step to read."
                )
            return dict(original(self, command_id, instance_id, plugin_name))

    return get_command_invocation


def _backend_describe_instance_information(self: Any, filters: list[dict[str, Any]]) -> list[dict[str, Any]]:
    wanted: set[str] | None = None
    for entry in filters:
        if entry.get("Key") == "InstanceIds":
            wanted = set(entry.get("Values") or [])
    with STATE.lock:
        instances = [i for i in STATE.instances.values() if wanted is None or i.instance_id in wanted]
    now = datetime.datetime.now(datetime.UTC)
    return [
        {
            "InstanceId": i.instance_id,
            "PingStatus": "Online" if i.online else "ConnectionLost",
            "LastPingDateTime": now,
            "AgentVersion": AGENT_VERSION,
            "IsLatestVersion": True,
            "PlatformType": "Linux",
            "PlatformName": "Debian GNU/Linux",
            "ResourceType": "ManagedInstance" if i.instance_id.startswith("mi-") else "EC2Instance",
            "ComputerName": "localhost",
        }
        for i in sorted(instances, key=lambda i: i.instance_id)
    ]


def _response_describe_instance_information(self: Any) -> Any:
    from moto.core.responses import ActionResult

    filters = list(self._get_param("Filters", []) or []) + [
        {"Key": f["key"], "Values": f["valueSet"]} for f in self._get_param("InstanceInformationFilterList", []) or []
    ]
    return ActionResult({"InstanceInformationList": self.ssm_backend.describe_instance_information(filters)})


def _backend_cancel_command(self: Any, command_id: str, instance_ids: list[str]) -> None:
    command = next((c for c in self._commands if c.command_id == command_id), None)
    if command is None:
        raise _ssm_error("InvalidCommandId", f"no command {command_id}")
    targets = instance_ids or [i["InstanceId"] for i in command.invocations]
    with STATE.lock:
        running = [(key, STATE.processes[key]) for key in ((command_id, i) for i in targets) if key in STATE.processes]
        STATE.cancelled.update(key for key, _ in running)
    for _key, process in running:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)


def _response_cancel_command(self: Any) -> Any:
    from moto.core.responses import ActionResult

    self.ssm_backend.cancel_command(self._get_param("CommandId"), list(self._get_param("InstanceIds", []) or []))
    return ActionResult({})


# -- running a command ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Outcome:
    """How one run of a step ended: ``exit`` (with its code), ``timeout``, ``cancelled`` or ``error`` (not started)."""

    kind: str
    code: int = -1
    out: bytes = b""
    err: bytes = b""


def _run_once(argv: list[str], env: dict[str, str], workdir: Path, timeout_s: float, key: tuple[str, str]) -> _Outcome:
    try:
        process = subprocess.Popen(
            argv,
            env=env,
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its own process group: a timeout kills everything it started
        )
    except OSError as exc:
        return _Outcome("error", 1, err=str(exc).encode())
    with STATE.lock:
        STATE.processes[key] = process
    try:
        out, err = process.communicate(timeout=max(timeout_s, 0.001))
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate()
        return _Outcome("timeout", out=out, err=err)
    finally:
        with STATE.lock:
            STATE.processes.pop(key, None)
            was_cancelled = key in STATE.cancelled
            STATE.cancelled.discard(key)
    if was_cancelled:
        return _Outcome("cancelled", out=out, err=err)
    code = process.returncode if process.returncode >= 0 else 128 - process.returncode
    return _Outcome("exit", code, out, err)


def _reboot_and_wait(instance: LocalInstance, key: tuple[str, str], deadline: float) -> str:
    """The agent's reboot: the host goes down now, and this waits for its agent to be online again. ``back``, or why
    not: ``cancelled``, ``timeout`` (the execution timeout passed), ``gone`` (unregistered, or the plane stops)."""
    if instance.reboot is None:
        return "unsupported"
    instance.reboot()
    while True:
        with STATE.lock:
            current = STATE.instances.get(instance.instance_id)
            if key in STATE.cancelled:
                STATE.cancelled.discard(key)
                return "cancelled"
        if current is None or STATE.release_reboot_waits.is_set():
            return "gone"
        if current.online:
            return "back"
        if time.monotonic() >= deadline:
            return "timeout"
        time.sleep(0.05)


# -- aws:downloadContent (sourceType S3) with the instance's own role ---------------------------------------
def host_may_read(backend: Any, instance_id: str, bucket: str, key: str) -> bool:
    """Whether the host policy (``SsmHostPolicy``, stacks/control_plane_stack.py) lets ``instance_id`` GetObject
    ``s3://bucket/key``: only a host exchange object (``ssm-exchange/hosts/``) tagged with this instance's ARN
    (``s3:ExistingObjectTag/freshtrack-ops:host`` = ``${ec2:SourceInstanceARN}`` / ``${ssm:SourceInstanceARN}``)."""
    from moto.s3.models import s3_backends
    from moto.utilities.utils import get_partition

    if not key.startswith(HOST_EXCHANGE_PREFIX):
        return False
    s3 = s3_backends[backend.account_id][get_partition(backend.region_name)]
    try:
        found = s3.get_object(bucket, key)
    except Exception:
        return False
    if found is None:
        return False
    tags = {t["Key"]: t["Value"] for t in s3.get_object_tagging(found).get("Tags", [])}
    return tags.get(HOST_TAG) == instance_arn(instance_id, backend.region_name, backend.account_id)


def _s3_location(url: str) -> tuple[str, str] | None:
    """(bucket, key) of an S3 URL, virtual-hosted or path style (amazon-ssm-agent ``s3util.ParseAmazonS3URL``)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    match = re.fullmatch(r"((.+)\.)?s3[.-](([-a-z0-9]+)\.)?amazonaws\.com(\.cn)?", host)
    if match is None:
        return None
    path = parts.path.lstrip("/")
    if match.group(2):
        return (match.group(2), unquote(path)) if path else None
    bucket, _, key = path.partition("/")
    return (bucket, unquote(key)) if bucket and key else None


def _substitute(text: str, content: Mapping[str, Any], values: Mapping[str, str]) -> str:
    """The agent's ``{{ NAME }}`` substitution of the document's non-ENV_VAR parameters (given value or default)."""
    declared: Mapping[str, Mapping[str, Any]] = content.get("parameters") or {}

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        spec = declared.get(name)
        if spec is None:
            return match.group(0)
        return str(values.get(name, spec.get("default", "")))

    return re.sub(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}", value, text)


def _fetch(
    backend: Any,
    instance: LocalInstance,
    step: Mapping[str, Any],
    *,
    content: Mapping[str, Any],
    values: Mapping[str, str],
    downloads: Path,
) -> str | None:
    """Do the document's aws:downloadContent step; None when it succeeded, else the agent's error text."""
    from moto.s3.models import s3_backends
    from moto.utilities.utils import get_partition

    inputs = step.get("inputs") or {}
    if inputs.get("sourceType") != "S3":
        return f"local SSM agent: only sourceType S3 is supported, not {inputs.get('sourceType')!r}"
    try:
        path = json.loads(_substitute(str(inputs.get("sourceInfo", "")), content, values))["path"].strip()
    except (ValueError, KeyError, TypeError):
        return "Source Info could not be unmarshalled for source type S3"
    location = _s3_location(path)
    if location is None:
        return "invalid S3 path parameter"
    bucket, key = location
    if not host_may_read(backend, instance.instance_id, bucket, key):
        return "AccessDenied: Access Denied (status code: 403)"  # what S3 answers the agent's signed GetObject
    found = s3_backends[backend.account_id][get_partition(backend.region_name)].get_object(bucket, key)
    if found is None:
        return "NoSuchKey: The specified key does not exist."
    data = found.value
    destination = str(inputs.get("destinationPath") or Path(key).name)
    target = Path(destination) if Path(destination).is_absolute() else downloads / destination
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    target.chmod(0o750)  # the agent's setPermissions: appconfig.ReadWriteExecuteAccess
    return None


def _run(backend: Any, command: Any, instance: LocalInstance, content: dict[str, Any], values: dict[str, str]) -> None:
    argv, ssm_env = render_for_local(content, values)
    base = {k: v for k, v in os.environ.items() if k in _BASE_ENV_KEYS}
    env = {"PATH": _DEFAULT_PATH} | base | instance.env | ssm_env
    timeout_s = document_timeout(content)
    deadline = time.monotonic() + timeout_s
    workdir = instance.workdir or Path(tempfile.gettempdir())
    key = (command.command_id, instance.instance_id)
    out, err = b"", b""
    fetch = fetch_step(content)
    orchestration: Path | None = None
    if fetch is not None:
        # <orchestration dir>/downloads: where a relative destinationPath lands and the run step's working directory
        orchestration = Path(tempfile.mkdtemp(prefix=f"ssm-{command.command_id[:8]}-"))
        downloads = orchestration / "downloads"
        downloads.mkdir(mode=0o700)
        refused = _fetch(backend, instance, fetch, content=content, values=values, downloads=downloads)
        if refused is not None:  # the fetch step's own output, not the run step's (GetCommandInvocation per step)
            with STATE.lock:
                STATE.fetch_errors[key] = f"{fetch.get('name')}: failed to download the content: {refused}"
        workdir = downloads
    try:
        _run_steps(
            backend,
            command,
            instance,
            argv=argv,
            env=env,
            workdir=workdir,
            deadline=deadline,
            key=key,
            out=out,
            err=err,
        )
    finally:
        if orchestration is not None:
            shutil.rmtree(orchestration, ignore_errors=True)


def _run_steps(
    backend: Any,
    command: Any,
    instance: LocalInstance,
    *,
    argv: list[str],
    env: dict[str, str],
    workdir: Path,
    deadline: float,
    key: tuple[str, str],
    out: bytes,
    err: bytes,
) -> None:
    for _reboots in range(MAX_REBOOTS + 1):
        outcome = _run_once(argv, env, workdir, deadline - time.monotonic(), key)
        out, err = out + outcome.out, err + outcome.err
        if outcome.kind != "exit" or outcome.code != REBOOT_EXIT_CODE:
            break
        waited = _reboot_and_wait(instance, key, deadline)
        if waited != "back":
            outcome = _Outcome(waited, REBOOT_EXIT_CODE)
            break
    _finish_outcome(backend, command, instance.instance_id, outcome, out=out, err=err)


def _finish_outcome(backend: Any, command: Any, instance_id: str, outcome: _Outcome, *, out: bytes, err: bytes) -> None:
    """The invocation's final status for how its last run ended."""
    status, details, code = {
        "timeout": ("TimedOut", "ExecutionTimedOut", -1),
        "cancelled": ("Cancelled", "Cancelled", -1),
        "gone": ("Failed", "Undeliverable", -1),
        "unsupported": ("Failed", "Failed", outcome.code),
        "error": ("Failed", "Failed", outcome.code),
    }.get(outcome.kind, ("Success", "Success", 0) if outcome.code == 0 else ("Failed", "Failed", outcome.code))
    if outcome.kind == "unsupported":
        err += b"local SSM agent: exit 194 asks for a reboot, and this instance was registered without one\n"
    _finish(backend, command, instance_id, status=status, details=details, code=code, out=out, err=err)


def _finish(
    backend: Any,
    command: Any,
    instance_id: str,
    *,
    status: str,
    details: str,
    code: int,
    out: bytes = b"",
    err: bytes = b"",
    to_s3: bool = True,
) -> None:
    stdout = out.decode("utf-8", errors="replace")
    stderr = err.decode("utf-8", errors="replace")
    urls = {"stdout": "", "stderr": ""}
    bucket = command.output_s3_bucket_name
    with STATE.lock:
        invocation = next(i for i in command.invocations if i["InstanceId"] == instance_id)
        plugin = invocation.get("PluginName", "")
    if bucket and to_s3 and details != "Undeliverable":
        prefix = command.output_s3_key_prefix.strip("/")
        for stream, data in (("stdout", out), ("stderr", err)):
            parts = [*([prefix] if prefix else []), command.command_id, instance_id, PLUGIN_FOLDER, plugin, stream]
            key = "/".join(parts)
            if _put_object(backend, bucket, key, data):
                urls[stream] = f"https://s3.{backend.region_name}.amazonaws.com/{bucket}/{key}"
    started = invocation.get("ExecutionStartDateTime") or _now_iso()
    with STATE.lock:
        invocation.update(
            Status=status,
            StatusDetails=details,
            ResponseCode=code,
            ExecutionEndDateTime=_now_iso(),
            ExecutionElapsedTime=_elapsed(started),
            StandardOutputContent=stdout[:STDOUT_API_LIMIT],
            StandardErrorContent=stderr[:STDERR_API_LIMIT],
            StandardOutputUrl=urls["stdout"],
            StandardErrorUrl=urls["stderr"],
        )
        statuses = {i["Status"] for i in command.invocations}
        if not statuses & {"InProgress", "Pending", "Delayed"}:
            final = "Success" if statuses == {"Success"} else ("TimedOut" if "TimedOut" in statuses else "Failed")
            command.status, command.status_details = final, final
        command.completed_count = sum(1 for i in command.invocations if i["Status"] not in ("InProgress", "Pending"))
        command.error_count = sum(1 for i in command.invocations if i["Status"] in ("Failed", "TimedOut"))
        STATE.runs.append((command.command_id, instance_id, status))
        listeners = list(STATE.listeners)
    event = status_change_event(backend, command, instance_id, status)
    for listener in listeners:
        listener(event)


def status_change_event(backend: Any, command: Any, instance_id: str, status: str) -> dict[str, Any]:
    """The EventBridge event of an invocation's status change, shaped as SSM sends it."""
    region, account = backend.region_name, backend.account_id
    requested = command.requested_date_time
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "EC2 Command Invocation Status-change Notification",
        "source": "aws.ssm",
        "account": account,
        "time": _now_iso(),
        "region": region,
        "resources": [f"arn:aws:ec2:{region}:{account}:instance/{instance_id}"],
        "detail": {
            "command-id": command.command_id,
            "document-name": command.document_name,
            "instance-id": instance_id,
            "requested-date-time": requested.isoformat() if isinstance(requested, datetime.datetime) else _now_iso(),
            "status": status,
        },
    }


def _put_object(backend: Any, bucket: str, key: str, data: bytes) -> bool:
    """Write through moto's S3 backend, as the agent would with its instance credentials."""
    from moto.s3.models import s3_backends
    from moto.utilities.utils import get_partition

    try:
        s3_backends[backend.account_id][get_partition(backend.region_name)].put_object(bucket, key, data)
    except Exception:  # the agent too only logs a failed upload; the API content remains
        return False
    return True


def _now_iso() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat()


def _elapsed(started_iso: str) -> str:
    try:
        started = datetime.datetime.fromisoformat(started_iso)
    except ValueError:
        return "PT0S"
    seconds = (datetime.datetime.now(datetime.UTC) - started).total_seconds()
    return f"PT{seconds:.3f}S"
