"""`beauty label`: the local labeling server, where people label photos in a browser."""

from __future__ import annotations

import socket
from pathlib import Path
from urllib.parse import urlencode

import click

from beauty.common import workspace
from crowd.local import Refused, ServerCodes, invite, options_from_settings, serve
from crowd.local.codes import read_code_file
from crowd.local.guard import WILDCARDS
from infra.errors import BeautyError
from infra.ledger import utcnow
from infra.settings import LabelSettings

ARGV_CODE = (
    "--access-code on the command line shows the code to every user of this machine (ps): "
    "set BEAUTY_LABEL__ACCESS_CODE or pass --access-code-file PATH"
)


def _refuse_argv_code(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is not None:
        click.echo(f"error: {ARGV_CODE}", err=True)
        ctx.exit(2)


def access_code_file_option(func: click.decorators.FC) -> click.decorators.FC:
    """``--access-code-file PATH``, and a refusal of ``--access-code VALUE``."""
    func = click.option(
        "--access-code", hidden=True, expose_value=False, callback=_refuse_argv_code
    )(func)
    return click.option(
        "--access-code-file",
        type=click.Path(dir_okay=False, path_type=Path),
        help="File whose first line is the access code (at least 12 characters) "
        "[BEAUTY_LABEL__ACCESS_CODE, label.access_code].",
    )(func)


@click.group("label")
def label_group() -> None:
    """Label photos in a browser: the local market for the open local batches."""


@label_group.command("serve")
@click.option("--host", default=None, help="Address to bind [label.host: 127.0.0.1].")
@click.option(
    "--port",
    default=None,
    type=click.IntRange(0, 65535),
    help="Port to listen on; overrides the label.port setting [default: 8765].",
)
@click.option("--expert", is_flag=True, help="Labelers' answers become expert gold.")
@click.option(
    "--batch",
    "batches",
    multiple=True,
    type=click.IntRange(1),
    help="Hand out only this open local batch (repeatable) [default: every open local batch].",
)
@access_code_file_option
@click.option(
    "--host-name",
    "host_names",
    multiple=True,
    help="A name labelers reach the server by (repeatable); other Host headers get 400 "
    "[label.host_names].",
)
@click.option(
    "--invite-only", is_flag=True, help="Admit only names given by `beauty label invite`."
)
@click.option(
    "--trust-proxy",
    is_flag=True,
    help="Behind a TLS reverse proxy on this machine: take the client's address and scheme "
    "from its X-Forwarded-For and X-Forwarded-Proto.",
)
def serve_command(
    host: str | None,
    port: int | None,
    expert: bool,
    batches: tuple[int, ...],
    access_code_file: Path | None,
    host_names: tuple[str, ...],
    invite_only: bool,
    trust_proxy: bool,
) -> None:
    """Serve the open local batches' HITs (or those of --batch) to labelers until Ctrl-C.

    Beyond loopback, behind a proxy and in expert mode, a server without an access code gets
    one for the run, printed here once.
    """
    ws = workspace()
    bind = host or ws.settings.label.host
    try:  # an address that does not resolve is the user's to fix, not a traceback
        socket.getaddrinfo(bind, None)
    except (OSError, UnicodeError) as exc:
        raise BeautyError(
            f"label.host {bind!r} is not an address this machine can bind ({exc}): "
            "use 127.0.0.1, 0.0.0.0 or one of this machine's addresses"
        ) from None
    options = options_from_settings(
        ws,
        host=host,
        port=port,
        host_names=host_names,
        expert=expert or None,
        invite_only=invite_only or None,
        trust_proxy=trust_proxy or None,
        batches=tuple(dict.fromkeys(batches)),
        access_code=read_code_file(access_code_file) if access_code_file else None,
    )

    def ready(url: str, codes: ServerCodes) -> None:
        mode = "expert labeling" if expert else "labeling"
        click.echo(f"{mode} server at {url}  (progress: {url}/status); Ctrl-C stops it")
        if "access" in codes.generated:
            click.echo(f"  access code for this run, for labelers (shown only now): {codes.access}")
        if "admin" in codes.generated:
            click.echo(f"  requester's code for the full /status (shown only now): {codes.admin}")
        ids = ", ".join(map(str, options.batches))
        click.echo(f"  handing out {f'batch(es) {ids}' if ids else 'every open local batch'}")

    serve(ws, options, ready)


@label_group.command("invite")
@click.argument("names", nargs=-1, required=True)
@click.option(
    "--url",
    help="The address labelers open, e.g. https://label.lab.example "
    "[http://label.host_names[0] or label.host:label.port].",
)
def invite_command(names: tuple[str, ...], url: str | None) -> None:
    """Print a sign-in link for each NAME (a new link replaces the name's old one).

    A server started with --invite-only admits these names alone. The links are shown only now;
    the ledger keeps a hash of each.
    """
    ws = workspace()
    base = (url or _base_url(ws.settings.label)).rstrip("/")
    for name in names:
        try:
            identity = invite(ws.ledger, name, utcnow())
        except Refused as exc:
            raise BeautyError(f"{name!r}: {exc}") from None
        query = urlencode({"name": identity.worker, "key": identity.new_key})
        click.echo(f"{base}/login?{query}")
    click.echo("(each link signs its labeler in; shown only now)", err=True)


def _base_url(label: LabelSettings) -> str:
    host = label.host_names[0] if label.host_names else label.host
    if host in WILDCARDS:
        host = socket.gethostname()
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{label.port}"
