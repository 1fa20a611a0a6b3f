"""``opsctl local up|down|status``: the embedded local plane's background process (``--local`` starts it too)."""

from __future__ import annotations

from typing import Annotated

import typer

from opsctl.session import session

local_app = typer.Typer(name="local", help="Start, stop or inspect the embedded local plane.", no_args_is_help=True)
JsonFlag = Annotated[bool, typer.Option("--json", help="print JSON for scripts")]


def _describe(endpoint: object) -> dict[str, object]:
    return {
        "pid": getattr(endpoint, "pid", None),
        "endpoint_url": getattr(endpoint, "endpoint_url", None),
        "hosts": list(getattr(endpoint, "hosts", ())),
        "state_dir": str(getattr(endpoint, "state_dir", "")),
    }


@local_app.command("up")
def up(ctx: typer.Context, json_flag: JsonFlag = False) -> None:
    """Start the local plane (embedded AWS, hosts "demo" over SSH and "demo-ssm" over SSM) if it is not running."""
    from opsctl.errors import Unreachable
    from opsctl.local import daemon

    current = session(ctx, json_flag)
    try:
        endpoint = daemon.ensure_running(on_starting=lambda: current.err.print("starting the local plane ..."))
    except daemon.PlaneStartFailed as exc:
        raise Unreachable(str(exc)) from None
    if current.json:
        current.emit_json({"running": True, **_describe(endpoint)})
    else:
        current.out.print(
            f"local plane running (pid {endpoint.pid}), hosts {', '.join(endpoint.hosts)}; "
            f"files in {endpoint.state_dir}",
            markup=False,
        )


@local_app.command("down")
def down(ctx: typer.Context, json_flag: JsonFlag = False) -> None:
    """Stop the local plane (its databases, backups and executions go with it)."""
    from opsctl.local import daemon

    current = session(ctx, json_flag)
    stopped = daemon.stop()
    if current.json:
        current.emit_json({"stopped": stopped})
    else:
        current.out.print("local plane stopped" if stopped else "the local plane was not running")


@local_app.command("status")
def status(ctx: typer.Context, json_flag: JsonFlag = False) -> None:
    """Whether the local plane runs, and where (exit 1 when it does not)."""
    from opsctl.local import daemon

    current = session(ctx, json_flag)
    endpoint = daemon.status()
    if current.json:
        current.emit_json({"running": endpoint is not None, **(_describe(endpoint) if endpoint else {})})
    elif endpoint is None:
        current.out.print("the local plane is not running (`opsctl local up`, or any `opsctl --local` command)")
    else:
        current.out.print(f"running (pid {endpoint.pid}) at {endpoint.endpoint_url}; hosts {', '.join(endpoint.hosts)}")
    if endpoint is None:
        raise typer.Exit(1)
