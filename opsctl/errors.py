"""The CLI's errors and exit codes: a user mistake is one line on stderr and a code a script can branch on."""

from __future__ import annotations

#: exit code -> meaning (the CLI reference prints this table)
EXIT_CODES: dict[int, str] = {
    0: "done: the command worked (with --wait: the execution SUCCEEDED)",
    1: "the execution ended FAILED, TIMED_OUT or ABORTED (with --wait), or a check found problems",
    2: "bad usage or invalid input: nothing was started or changed",
    3: "not found: no such execution, workflow, host or stack output",
    4: "the control plane could not be reached (credentials, region, stack, or the local plane did not start)",
    5: "--wait gave up after --timeout: the execution is still running",
    130: "interrupted (Ctrl-C): a started execution keeps running",
}


class OpsctlError(Exception):
    """An error the operator can act on: its message is printed as one line, ``exit_code`` is returned."""

    exit_code = 1


class InvalidArguments(OpsctlError):
    exit_code = 2


class NotFound(OpsctlError):
    exit_code = 3


class Unreachable(OpsctlError):
    exit_code = 4


class WaitTimedOut(OpsctlError):
    exit_code = 5
