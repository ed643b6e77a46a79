"""`beauty label`: the local labeling server, where people label photos in a browser."""

from __future__ import annotations

import socket

import click

from beauty.common import workspace
from crowd.local import serve
from infra.errors import BeautyError


@click.group("label")
def label_group() -> None:
    """Label photos in a browser: the local market for the open local batches."""


@label_group.command("serve")
@click.option("--host", default=None, help="Address to bind [label.host: 127.0.0.1].")
@click.option(
    "--port", default=None, type=click.IntRange(0, 65535), help="Port [label.port: 8765]."
)
@click.option("--expert", is_flag=True, help="Labelers' answers become expert gold.")
@click.option(
    "--access-code",
    default=None,
    help="Code labelers enter to sign in; required beyond loopback and in expert mode "
    "[label.access_code].",
)
def serve_command(
    host: str | None, port: int | None, expert: bool, access_code: str | None
) -> None:
    """Serve the open local batches' HITs to labelers until Ctrl-C."""
    ws = workspace()
    settings = ws.settings.label

    def ready(url: str) -> None:
        mode = "expert labeling" if expert else "labeling"
        click.echo(f"{mode} server at {url}  (progress: {url}/status); Ctrl-C stops it")

    bind = host or settings.host
    try:  # an address that does not resolve is the user's to fix, not a traceback
        socket.getaddrinfo(bind, None)
    except (OSError, UnicodeError) as exc:
        raise BeautyError(
            f"label.host {bind!r} is not an address this machine can bind ({exc}): "
            "use 127.0.0.1, 0.0.0.0 or one of this machine's addresses"
        ) from None
    serve(
        ws,
        host=bind,
        port=settings.port if port is None else port,
        expert=expert,
        access_code=access_code or settings.access_code,
        ready=ready,
    )
