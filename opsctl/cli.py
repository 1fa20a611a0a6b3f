"""opsctl: the operator's command line (typer + rich).

Every workflow is one command away (``opsctl start WORKFLOW --host H``, options from the workflow's input model),
against the deployed control plane (ARNs and tables from its stacks' outputs: ``--stack``) or the embedded local
plane (``--local``). ``--json`` on every command for scripts; exit codes in ``opsctl.errors.EXIT_CODES``; a user
mistake is one line on stderr, never a traceback. The reference (docs/cli.md) is generated from this app.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from opsctl import cli_answer, cli_query
from opsctl.cli_config import config_app
from opsctl.cli_local import local_app
from opsctl.cli_start import start_app
from opsctl.errors import EXIT_CODES, OpsctlError
from opsctl.inputs import INPUT_MODELS
from opsctl.session import Session

EPILOG = "Exit codes: " + "; ".join(f"{code} {meaning}" for code, meaning in EXIT_CODES.items())


class OpsctlGroup(TyperGroup):
    """Runs the command and turns every user mistake into one line on stderr and its exit code.

    Click prints usage errors as a usage block plus the message (typer: a rich panel); an operator and a script
    both read one line better: ``opsctl: error: No such option: --hots (opsctl start backup --help)``."""

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        # typer 0.29 vendors click and exports only BadParameter of its exceptions
        from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError

        try:
            result = super().main(args, prog_name or "opsctl", complete_var, standalone_mode=False, **extra)
        except NoArgsIsHelpError as exc:  # `opsctl`, `opsctl start`: the help, and the usage error's code
            if exc.ctx is not None:
                sys.stdout.write(exc.ctx.get_help() + "\n")
            sys.exit(exc.exit_code)
        except UsageError as exc:
            where = exc.ctx.command_path if exc.ctx is not None else "opsctl"
            _fail(f"{exc.format_message()} (see {where} --help)", exc.exit_code)
        except ClickException as exc:
            _fail(exc.format_message(), exc.exit_code)
        except typer.Abort:
            _fail("aborted", 130)
        except OpsctlError as exc:
            _fail(str(exc), exc.exit_code)
        code = result if isinstance(result, int) else 0
        if not standalone_mode:
            return code
        sys.exit(code)


def _fail(message: str, code: int) -> None:
    sys.stderr.write(f"opsctl: error: {message}\n")
    sys.exit(code)


app = typer.Typer(
    cls=OpsctlGroup,
    name="opsctl",
    help="Operate FreshTrack Pro servers through the FreshTrack Ops control plane.",
    epilog=EPILOG,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110},
)


@app.callback()
def _options(
    ctx: typer.Context,
    local: Annotated[
        bool, typer.Option("--local", help="use the embedded local plane (started on first use; `opsctl local down`)")
    ] = False,
    json_flag: Annotated[
        bool, typer.Option("--json", help="print JSON for scripts (every command also takes it)")
    ] = False,
    stack: Annotated[
        str | None,
        typer.Option("--stack", envvar="FRESHTRACK_OPS_STACK", help="the deployment name (config `name`)"),
    ] = None,
    region: Annotated[str | None, typer.Option("--region", help="AWS region (default: your AWS configuration)")] = None,
) -> None:
    """Operate FreshTrack Pro servers through the FreshTrack Ops control plane."""
    ctx.obj = Session(local=local, json=json_flag, stack=stack, region=region)


app.add_typer(start_app)
app.command("executions")(cli_query.executions)
app.command("show")(cli_query.show)
app.command("backups")(cli_query.backups)
app.command("deployments")(cli_query.deployments)
app.command("approve")(cli_answer.approve)
app.command("reject")(cli_answer.reject)
app.command("halt-fleet")(cli_answer.halt_fleet)
app.add_typer(config_app)
app.add_typer(local_app)


@app.command("schema")
def schema(
    ctx: typer.Context,
    workflow: Annotated[str, typer.Argument(help=f"one of: {', '.join(INPUT_MODELS)}")],
) -> None:
    """Print the JSON schema of a workflow's execution input."""
    from opsctl.errors import InvalidArguments
    from opsctl.session import session

    if workflow not in INPUT_MODELS:
        raise InvalidArguments(f"workflow: unknown (got {workflow!r}; one of {', '.join(INPUT_MODELS)})")
    session(ctx).emit_json(INPUT_MODELS[workflow].model_json_schema())


@app.command("demo")
def demo(
    readings: Annotated[int, typer.Option("--readings", min=100, help="temperature_readings rows to seed")] = 20_000,
) -> None:
    """Run the whole demo on a fresh embedded local plane (what `make demo` runs)."""
    from opsctl.demo import run_demo

    raise typer.Exit(run_demo(readings=readings))


def main(argv: Sequence[str] | None = None) -> int:
    """The console script (``opsctl``) and ``python -m opsctl``; returns the exit code."""
    command = typer.main.get_command(app)
    try:
        command.main(list(argv) if argv is not None else None, "opsctl")
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return 0
