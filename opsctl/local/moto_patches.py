"""Patches that turn moto into the embedded AWS of the local plane.

* Lambda: moto's backends are patched so an invocation calls the real handler in-process. A raised
  exception becomes Lambda's error envelope ``{errorType, errorMessage, stackTrace}`` with the
  ``x-amz-function-error: Unhandled`` header, exactly what Step Functions' Retry/Catch match on.
* SendTaskFailure: moto's response handler drops ``cause``; the patch passes it on, as Step Functions does.
  moto also delivers a success or failure to an execution that was already stopped; Step Functions answers
  the token of a closed task with ``TaskTimedOut``, and so does the plane.
* Stopping an execution does not end a state waiting for a task token in moto (it waits out its timeout);
  the patch interrupts the wait, and keeps the ``States.Runtime`` error moto then raises from overwriting
  ABORTED with FAILED: an aborted execution stays ABORTED, as in Step Functions.
* Retried callback tasks: moto mints a state's task token once and reuses it for every Retry attempt, so the
  second attempt finds the first one's outcome at once (and the retried Lambda or SSM command runs on with
  nobody waiting, or its late answer taken for the retry's). In Step Functions each attempt is a new task with
  a new token, and the closed task's token is refused: the patch mints a fresh token per attempt and closes
  the previous one.
* Workflows starting workflows (``states:startExecution.sync:2``): moto's interpreter passes the ASL's
  PascalCase parameters (``StateMachineArn``, ``Input``) to boto3 unchanged and returns boto3's camelCase
  response; Step Functions maps both ways (its service integrations take and give the API's PascalCase
  names, e.g. ``$.Output``, ``$.ExecutionArn``). The patch maps them, as AWS does.
* StartExecution without a name: Step Functions names the execution with a UUID; moto names every one "None", so
  a second nameless start with the same input got the first execution back (moto's idempotency), with another
  input ``ExecutionAlreadyExists``. The patch names it with a UUID, for API calls (the local plane's endpoint:
  an operator's CLI) and service integrations alike.
* Time: Wait states and Retry back-off sleep ``seconds * time_scale`` (0 in tests) instead of real time, and so
  does the SDK's own retry back-off (botocore's standard mode, ``ExponentialBackoff.delay_amount``: up to 1, 2, 4 s
  between a throttled call's 4 attempts, so a lock state retrying a throttled table 5 times slept about 20 s of a
  test's time). The attempts, their number and their order are botocore's own; only the pause is scaled.
* Lambda's timeout: an invocation still running at its function's timeout answers like Lambda does — the
  ``Sandbox.Timedout`` error (DESIGN 4b) — so code that only works without a deadline fails here too. A thread
  cannot be frozen the way Lambda freezes the sandbox: the handler runs on, but the task token it carried is
  closed (SendTask* answers TaskTimedOut, as for an aborted execution), so its late success is refused and
  undone by the same code that undoes work outlived by its execution.
* Lambda service errors (Invoke refused: ServiceException, TooManyRequestsException) of a Task whose Resource is a
  function ARN are ``Lambda.<code>``, as in Step Functions (moto called them ``Exception``).
* IAM: a task's calls are checked against its deployed role's policy while its handler runs (``iam``).
* One request per execution environment: Lambda gives each concurrent request its own execution environment
  ("For each concurrent request, Lambda provisions a separate instance of your execution environment",
  https://docs.aws.amazon.com/lambda/latest/dg/lambda-concurrency.html), so module globals never see two requests.
  Here every invocation is a thread of one process: a handler module that keeps the request in a global (powertools'
  event handler keeps ``current_event`` on its resolver) runs one request at a time, or one delivery would read
  another's headers and request id (measured: four concurrent webhook deliveries all answered "started", each
  deciding as the first one's request).
* ASL parsing: moto parses a definition with a pure-Python ANTLR parser when the state machine is created and
  again at every execution start (about 0.3-0.7 s for our larger machines, most of a plane's start). The patch
  keeps the parse tree of each definition text that parsed cleanly and builds a fresh program from it for every
  execution (the evaluation components carry per-execution state; the tree is only read). A definition that
  fails to parse is parsed, and refused, every time: the cache changes no outcome, only the time.
* SNS: a Publish ``Subject`` with a line break or a control character is refused, as SNS does ("Subjects must be
  UTF-8 text with no line breaks or control characters", Publish API reference); moto checks only the length
  (at most 100 characters, which is what SNS enforces: moto issue 1503).
* S3: uploads follow S3's integrity rules (a checksum on every upload under Object Lock, Content-MD5 checked,
  default retention on completed multipart uploads): ``s3_strict``.

Installed once per process; the routing table and time scale are swapped per plane.
"""

from __future__ import annotations

import functools
import importlib
import json
import sys
import threading
import time
import traceback
import types
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from freshtrack_ops.observability import metrics
from opsctl.local import iam, s3_strict

Handler = Callable[[Any, Any], Any]


@dataclass
class LocalLambdaContext:
    """The attributes of Lambda's context object that powertools reads."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int = 256
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = "/aws/lambda/local"
    log_stream_name: str = "local"
    deadline: float = field(default_factory=lambda: time.time() + 900)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.time()) * 1000))


@dataclass
class _State:
    routes: dict[str, tuple[str, int, int]] = field(default_factory=dict)  # name -> (handler, memory, timeout)
    time_scale: float = 0.0
    installed: bool = False
    invocations: list[tuple[str, float, str]] = field(default_factory=list)  # (function, seconds, outcome)
    #: task tokens of invocations that ran past their timeout: nobody may complete them any more
    closed_tokens: set[str] = field(default_factory=set)
    #: told of every invocation that ended, ``observer(function, payload, is_error)`` (the secrets scan's recorder)
    observers: list[Callable[[str, bytes, bool], None]] = field(default_factory=list)


STATE = _State()
_install_lock = threading.Lock()


def resolve_handler(dotted: str) -> Handler:
    module_name, _, attribute = dotted.rpartition(".")
    handler: Handler = getattr(importlib.import_module(module_name), attribute)
    return handler


_ONE_AT_A_TIME_GUARD = threading.Lock()
_ONE_AT_A_TIME: dict[str, threading.Lock | None] = {}


def _environment_lock(dotted: str) -> threading.Lock | None:
    """The lock that keeps a request-stateful handler module to one request at a time (None for the others): a
    module holding a powertools event-handler resolver, whose ``current_event`` is the request being served."""
    with _ONE_AT_A_TIME_GUARD:
        if dotted not in _ONE_AT_A_TIME:
            from aws_lambda_powertools.event_handler.api_gateway import BaseRouter

            module = importlib.import_module(dotted.rpartition(".")[0])
            stateful = any(isinstance(value, BaseRouter) for value in vars(module).values())
            _ONE_AT_A_TIME[dotted] = threading.Lock() if stateful else None
        return _ONE_AT_A_TIME[dotted]


class _InFlight:
    """In-process invocations running now (they share the one powertools Metrics object, as they share this
    process)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count = 0

    def __enter__(self) -> None:
        self._lock.acquire()

    def __exit__(self, *_: object) -> None:
        self._lock.release()


_IN_FLIGHT = _InFlight()


def invocations_in_flight() -> int:
    """Lambda invocations running now, including the task threads of executions that already ended (a Parallel
    state that failed leaves its other branch's task running, as Lambda does)."""
    with _IN_FLIGHT:
        return _IN_FLIGHT.count


def _clear_metrics_when_idle() -> None:
    """With POWERTOOLS_METRICS_DISABLED (no EMF on stdout here) a flush does not clear what was added (EMF
    provider ``flush_metrics``: ``clear_metrics`` only when enabled), so the next invocation would inherit this
    one's dimensions, as a deployed function never does. Cleared once no other invocation is running, so a
    concurrent one keeps what it added."""
    with _IN_FLIGHT:
        _IN_FLIGHT.count -= 1
        if _IN_FLIGHT.count == 0:
            metrics.clear_metrics()


def invoke_in_process(function_name: str, function_arn: str, body: Any) -> tuple[bytes, bool]:
    """Run the routed handler within its function's timeout; returns (payload, is_error). Every observer in
    ``STATE.observers`` is told of the outcome."""
    payload, failed = _invoke_in_process(function_name, function_arn, body)
    for observer in list(STATE.observers):
        observer(function_name, payload, failed)
    return payload, failed


def _invoke_in_process(function_name: str, function_arn: str, body: Any) -> tuple[bytes, bool]:
    handler_path = STATE.routes[function_name][0]
    environment = _environment_lock(handler_path)
    if environment is None:
        return _invoke_now(function_name, function_arn, body)
    with environment:  # another execution environment's request: its wait is not this one's run time
        return _invoke_now(function_name, function_arn, body)


def _invoke_now(function_name: str, function_arn: str, body: Any) -> tuple[bytes, bool]:
    handler_path, memory, timeout = STATE.routes[function_name]
    event = json.loads(body) if body else {}
    context = LocalLambdaContext(
        function_name=function_name,
        invoked_function_arn=function_arn,
        memory_limit_in_mb=memory,
        deadline=time.time() + timeout,
    )
    started = time.perf_counter()
    outcome: list[tuple[Any, BaseException | None]] = []

    def call() -> None:
        with _IN_FLIGHT:
            _IN_FLIGHT.count += 1
        try:
            with iam.running_task(function_name):  # its calls are checked against its role's policy
                outcome.append((resolve_handler(handler_path)(event, context), None))
        except BaseException as exc:
            outcome.append((None, exc))
        finally:
            _clear_metrics_when_idle()

    worker = threading.Thread(target=call, name=f"lambda-{function_name}", daemon=True)
    worker.start()
    worker.join(timeout)
    if not outcome:
        token = event.get("task_token") if isinstance(event, dict) else None
        if isinstance(token, str):
            STATE.closed_tokens.add(token)
        STATE.invocations.append((function_name, time.perf_counter() - started, "Sandbox.Timedout"))
        timed_out = {"errorType": "Sandbox.Timedout", "errorMessage": f"Task timed out after {timeout:.2f} seconds"}
        return json.dumps(timed_out).encode(), True
    result, error = outcome[0]
    if error is not None:
        if not isinstance(error, Exception):
            raise error
        STATE.invocations.append((function_name, time.perf_counter() - started, type(error).__name__))
        envelope = {
            "errorType": type(error).__name__,
            "errorMessage": str(error),
            "stackTrace": traceback.format_exception(error)[-5:],
        }
        return json.dumps(envelope).encode(), True
    STATE.invocations.append((function_name, time.perf_counter() - started, "ok"))
    return json.dumps(result).encode(), False


def _patched_invoke(original: Callable[..., Any]) -> Callable[..., Any]:
    def invoke(  # noqa: PLR0917 - moto's signature
        self: Any, function_name: str, qualifier: str | None, body: Any, headers: Any, response_headers: Any
    ) -> Any:
        fn = self.get_function(function_name, qualifier)
        if fn.function_name not in STATE.routes:
            return original(self, function_name, qualifier, body, headers, response_headers)
        payload, failed = invoke_in_process(fn.function_name, fn.function_arn, body)
        if failed:
            response_headers["x-amz-function-error"] = "Unhandled"
        response_headers["Content-Length"] = str(len(payload))
        return payload

    return invoke


def _patched_wait_interval(self: Any, env: Any, wait_seconds: int) -> None:
    if wait_seconds > 0 and STATE.time_scale > 0:
        env.program_state_event.wait(wait_seconds * STATE.time_scale)


def _scaled_sleep(seconds: float) -> None:
    if seconds > 0 and STATE.time_scale > 0:
        time.sleep(seconds * STATE.time_scale)


def _scaled_backoff(original: Callable[..., float]) -> Callable[..., float]:
    @functools.wraps(original)
    def delay_amount(self: Any, context: Any) -> float:
        return float(original(self, context)) * STATE.time_scale

    return delay_amount


def _send_task_failure_with_cause(self: Any) -> Any:
    from moto.core.responses import EmptyResult

    self.stepfunction_backend.send_task_failure(
        self._get_param("taskToken"), error=self._get_param("error"), cause=self._get_param("cause")
    )
    return EmptyResult()


@functools.cache
def _task_timed_out_error() -> type[Exception]:
    """moto's parser exceptions reach boto3 without an error code; an AWSError carries it."""
    from moto.core.exceptions import AWSError

    class TaskTimedOut(AWSError):
        TYPE = "TaskTimedOut"
        STATUS = 400

    return TaskTimedOut


def _closed_tasks_refused(original: Callable[..., Any]) -> Callable[..., Any]:
    """SendTaskSuccess/Failure for a token whose execution was stopped: TaskTimedOut, as Step Functions
    answers for a task that is already closed (moto would deliver it to the stopped execution)."""

    def send(self: Any, task_token: str, *args: Any, **kwargs: Any) -> Any:
        _TaskTimedOut = _task_timed_out_error()  # noqa: N806 - an exception class
        from moto.stepfunctions.parser.asl.eval.program_state import ProgramRunning

        if task_token in STATE.closed_tokens:
            raise _TaskTimedOut("Task Timed Out")

        for execution in self._get_executions():
            # a worker has no env before its execution starts and after it ended
            env = getattr(getattr(execution, "exec_worker", None), "env", None)
            if env is None or env.callback_pool_manager.get(task_token) is None:
                continue
            if not isinstance(env.program_state(), ProgramRunning):
                raise _TaskTimedOut("Task Timed Out")
        return original(self, task_token, *args, **kwargs)

    return send


def _keep_stopped(original: Callable[..., Any]) -> Callable[..., Any]:
    def set_error(self: Any, error: Any) -> None:
        from moto.stepfunctions.parser.asl.eval.program_state import ProgramStopped

        if isinstance(self.program_state(), ProgramStopped):
            return
        original(self, error)

    return set_error


def _interrupt_waits_on_stop(original: Callable[..., Any]) -> Callable[..., Any]:
    def set_stop(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        for endpoint in list(self.callback_pool_manager._pool.values()):
            endpoint.interrupt_all()

    return set_stop


def _fresh_token_per_attempt(original: Callable[..., Any]) -> Callable[..., Any]:
    def evaluate(self: Any, env: Any) -> Any:
        data = env.states.context_object.context_object_data
        if data.get("State", {}).get("RetryCount", 0) > 0 and "Task" in data:
            # the previous attempt's task is closed: a late SendTask* for it answers TaskTimedOut
            STATE.closed_tokens.add(str(data["Task"].get("Token", "")))
            token = env.states.context_object.update_task_token()
            env.callback_pool_manager.add(token)
        return original(self, env)

    return evaluate


def _pascal_case_sfn_integration(cls: Any) -> None:
    """Map startExecution's parameters to boto3's names and its (and DescribeExecution's) response back to the
    integration's PascalCase, with datetimes as ISO strings (state data is JSON)."""
    original_parameters = cls._normalise_parameters

    def normalise_parameters(
        self: Any, parameters: dict[str, Any], boto_service_name: Any = None, service_action_name: Any = None
    ) -> None:
        original_parameters(self, parameters, boto_service_name, service_action_name)
        for key in list(parameters):
            if key[:1].isupper():
                parameters[key[0].lower() + key[1:]] = parameters.pop(key)
        if "stateMachineArn" in parameters and not parameters.get("name"):
            # Step Functions names an execution started without a name with a UUID; moto would use "None" for
            # every one, and the second child of the same workflow would collide with the first
            parameters["name"] = str(uuid.uuid4())

    def normalise_response(
        self: Any, response: Any, boto_service_name: Any = None, service_action_name: Any = None
    ) -> None:
        if not isinstance(response, dict):
            return
        for key in list(response):
            value = response.pop(key)
            response[key[0].upper() + key[1:]] = value.isoformat() if hasattr(value, "isoformat") else value

    cls._normalise_parameters = normalise_parameters
    cls._normalise_response = normalise_response
    original_eval = cls._eval_service_task

    def eval_service_task(self: Any, env: Any, *args: Any, **kwargs: Any) -> None:
        original_eval(self, env, *args, **kwargs)
        normalise_response(self, env.stack[-1])

    cls._eval_service_task = eval_service_task


def _named_execution(original: Callable[..., Any]) -> Callable[..., Any]:
    def start_execution(self: Any, state_machine_arn: str, name: str | None = None, *args: Any, **kwargs: Any) -> Any:
        return original(self, state_machine_arn, name or str(uuid.uuid4()), *args, **kwargs)

    return start_execution


#: definition text -> (its program, its ANTLR parse tree), only definitions that parsed cleanly; bounded, cleared
#: when full
_PARSED: dict[str, tuple[Any, Any]] = {}
_PARSED_MAX = 256
_parse_lock = threading.Lock()


def _cached_parse(original: Callable[[str], tuple[Any, Any]]) -> Callable[[str], tuple[Any, Any]]:
    """Parse each definition once. moto parses it (ANTLR, then its preprocessor builds the program) when the state
    machine is created and again at every execution's start: 3.4 s of each plane's 6.5 s start and a sixth of a
    workflow test's CPU (py-spy). The program is shared like moto already shares it between a Map's or a Parallel's
    threads: its components keep no state of an evaluation (that lives in each execution's Environment; checked
    over moto's component classes: only per-run worker objects change after construction), except each component's
    lazily drawn heap key, drawn here at once so no two threads draw different keys for one component."""

    def parse(definition: str) -> tuple[Any, Any]:
        found = _PARSED.get(definition)
        if found is None:
            found = original(definition)
            _draw_heap_keys(found[0])
            with _parse_lock:
                if len(_PARSED) >= _PARSED_MAX:
                    _PARSED.clear()
                _PARSED[definition] = found
        return found

    return parse


def _draw_heap_keys(program: Any) -> None:
    from moto.stepfunctions.parser.asl.component.common.catch.catcher_decl import CatcherDecl
    from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent

    for component in components_of(program, CatcherDecl.DEFAULT_RESULT_PATH):  # moto's one default of every Catch
        if isinstance(component, EvalComponent):
            _ = component.heap_key


def components_of(*roots: Any) -> Iterator[Any]:
    """Every ASL component reachable from ``roots`` (through attributes, lists, tuples, sets and dicts), once."""
    from moto.stepfunctions.parser.asl.component.component import Component

    seen: set[int] = set()
    pending: list[Any] = list(roots)
    while pending:
        item = pending.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, Component):
            yield item
            pending.extend(vars(item).values())
        elif isinstance(item, (list, tuple, set, frozenset)):
            pending.extend(item)
        elif isinstance(item, dict):
            pending.extend(item.values())


def _subject_checked(original: Callable[..., str]) -> Callable[..., str]:
    from moto.sns.exceptions import InvalidParameterValue

    def publish(self: Any, message: str, arn: str | None, phone_number: str | None = None,
                subject: str | None = None, *args: Any, **kwargs: Any) -> str:  # fmt: skip
        if subject is not None and any(ord(c) < 32 or ord(c) == 127 for c in subject):
            raise InvalidParameterValue("Invalid parameter: Subject")
        return original(self, message, arn, phone_number, subject, *args, **kwargs)

    return publish


def _lambda_service_errors_named(original: Callable[..., Any]) -> Callable[..., Any]:
    """A Task whose Resource is a function ARN: an Invoke the Lambda service refuses (ServiceException,
    TooManyRequestsException, ...) fails the state with ``Lambda.<code>``, as Step Functions reports it ("Lambda errors
    are reported as Lambda.<ExceptionName>", Step Functions developer guide, "Handle Lambda service exceptions") and as
    moto's own ``lambda:invoke`` integration already names it; moto's interpreter called every such error
    ``Exception`` here, so the workflows' Retry on ``Lambda.ServiceException`` never ran locally (found by the fault
    matrix: a record task failing at the Lambda service was caught at once instead of retried)."""

    def from_error(self: Any, env: Any, ex: Exception) -> Any:
        from botocore.exceptions import ClientError

        if not isinstance(ex, ClientError):
            return original(self, env, ex)
        from moto.stepfunctions.parser.api import HistoryEventType, LambdaFunctionFailedEventDetails
        from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
        from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEvent
        from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

        error = f"Lambda.{ex.response['Error']['Code']}"
        cause = str(ex.response["Error"].get("Message", ""))
        return FailureEvent(
            env=env,
            error_name=CustomErrorName(error),
            event_type=HistoryEventType.LambdaFunctionFailed,
            event_details=EventDetails(  # type: ignore[typeddict-item] # moto's own TypedDict, used as moto does
                lambdaFunctionFailedEventDetails=LambdaFunctionFailedEventDetails(error=error, cause=cause)
            ),
        )

    return from_error


def _all_items_snapshot(self: Any) -> list[Any]:
    """moto's ``Table.all_items`` (every Query and Scan) iterates the table's live dicts, so a put by another thread
    mid-query raised ``RuntimeError: dictionary changed size during iteration`` (CI 2026-12-01: one of 20 backups
    fired at once failed so, tests/integration/test_fleet_load.py). DynamoDB serves concurrent reads and writes;
    here each dict is copied first (``list(d.values())`` runs without releasing the GIL)."""
    items: list[Any] = []
    for hash_set in list(self.items.values()):
        if self.range_key_attr:
            items.extend(list(hash_set.values()))
        else:
            items.append(hash_set)
    return sorted(items, key=lambda x: (x.hash_key, x.range_key) if x.range_key else x.hash_key)


_interpreter_clients: dict[tuple[str, str], Any] = {}
_interpreter_clients_lock = threading.Lock()


def _reuse_interpreter_clients() -> None:
    """moto's ASL interpreter creates a boto3 client for every Lambda and service task it runs (``boto_client_for``);
    creating one was a tenth of the plane's CPU (py-spy). Reuse one per region and service (the arguments are the
    same every time; clients are thread-safe; the stubber routes every client's calls to the active mock)."""
    from moto.stepfunctions.parser.asl.utils import boto_client

    original = boto_client.boto_client_for

    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        with _interpreter_clients_lock:
            found = _interpreter_clients.get((region, service))
            if found is None:
                found = _interpreter_clients[region, service] = original(region, service, state_credentials)
            return found

    for module in list(sys.modules.values()):
        if getattr(module, "boto_client_for", None) is original:
            module.boto_client_for = boto_client_for  # type: ignore[attr-defined]


def _reuse_json_paths() -> None:
    """moto's ASL interpreter parses a state's JSONPath (InputPath, ResultPath, a Parameters value) every time the
    state runs, and jsonpath_ng builds a new parser for each parse (a twentieth of the plane's CPU, py-spy); the
    parsed expression is immutable: parse each path once."""
    from moto.stepfunctions.parser.asl.component.common.path import result_path
    from moto.stepfunctions.parser.asl.utils import json_path

    for module in (json_path, result_path):  # each imported jsonpath_ng's parse by name
        module.__dict__["parse"] = functools.lru_cache(maxsize=4096)(module.__dict__["parse"])


def install() -> None:
    with _install_lock:
        if STATE.installed:
            return
        from moto.awslambda.models import LambdaBackend
        from moto.awslambda_simple.models import LambdaSimpleBackend
        from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
        from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_callback import (
            StateTaskServiceCallback,
        )
        from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction
        from moto.stepfunctions.parser.asl.eval.environment import Environment
        from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
        from moto.stepfunctions.parser.models import StepFunctionsParserBackend
        from moto.stepfunctions.responses import StepFunctionResponse

        LambdaBackend.invoke = _patched_invoke(LambdaBackend.invoke)  # type: ignore[method-assign]
        LambdaSimpleBackend.invoke = _patched_invoke(LambdaSimpleBackend.invoke)  # type: ignore[method-assign]
        WaitFunction._wait_interval = _patched_wait_interval  # type: ignore[method-assign]
        from moto.sns.models import SNSBackend

        SNSBackend.publish = _subject_checked(SNSBackend.publish)  # type: ignore[method-assign]
        from moto.dynamodb.models.table import Table

        Table.all_items = _all_items_snapshot  # type: ignore[method-assign]
        AmazonStateLanguageParser.parse = staticmethod(  # type: ignore[method-assign,assignment]
            _cached_parse(AmazonStateLanguageParser.parse)
        )
        StepFunctionResponse.send_task_failure = _send_task_failure_with_cause  # type: ignore[method-assign]
        Environment.set_error = _keep_stopped(Environment.set_error)  # type: ignore[method-assign]
        Environment.set_stop = _interrupt_waits_on_stop(Environment.set_stop)  # type: ignore[method-assign]
        from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sfn import (
            StateTaskServiceSfn,
        )

        _pascal_case_sfn_integration(StateTaskServiceSfn)
        from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task_lambda import StateTaskLambda

        StateTaskLambda._from_error = _lambda_service_errors_named(  # type: ignore[method-assign]
            StateTaskLambda._from_error
        )
        StateTaskServiceCallback._evaluate_with_timeout = _fresh_token_per_attempt(  # type: ignore[method-assign]
            StateTaskServiceCallback._evaluate_with_timeout
        )
        StepFunctionsParserBackend.start_execution = _named_execution(  # type: ignore[method-assign]
            StepFunctionsParserBackend.start_execution
        )
        for name in ("send_task_success", "send_task_failure"):
            setattr(StepFunctionsParserBackend, name, _closed_tasks_refused(getattr(StepFunctionsParserBackend, name)))
        fake_time = types.SimpleNamespace(
            **{name: getattr(time, name) for name in dir(time) if not name.startswith("_")}
        )
        fake_time.sleep = _scaled_sleep
        retrier_decl.time = fake_time  # type: ignore[attr-defined,assignment]
        from botocore.retries.standard import ExponentialBackoff

        ExponentialBackoff.delay_amount = _scaled_backoff(  # type: ignore[method-assign]
            ExponentialBackoff.delay_amount
        )
        _reuse_interpreter_clients()
        _reuse_json_paths()
        s3_strict.install()
        iam.install()
        STATE.installed = True
