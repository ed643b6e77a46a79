"""Running the labeling server under waitress, in the foreground or on a background thread.

waitress is a production WSGI server in pure Python: multi-threaded, no compiled parts, the
same on every platform. Each of its threads gets its own ledger connection. The limits on
connections and how long a request may take are in :mod:`crowd.local.connections`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import Any

from crowd.local.app import create_app
from crowd.local.codes import ServerCodes, server_codes
from crowd.local.connections import GuardedServer, ServerLimits, create_guarded_server
from crowd.local.guard import HostPolicy, ServerPolicy
from crowd.local.market import Clock
from infra.errors import BeautyError
from infra.workspace import Workspace

# A queue of a few requests is normal when a simulated crowd bursts in; waitress warns of every
# one, which would bury the progress bar.
logging.getLogger("waitress.queue").setLevel(logging.ERROR)


@dataclass(frozen=True)
class ServerOptions:
    """How a server run is reached and who may sign in (codes still as configured)."""

    host: str = "127.0.0.1"
    port: int = 0
    expert: bool = False
    access_code: str | None = None
    admin_code: str | None = None
    host_names: tuple[str, ...] = ()
    invite_only: bool = False
    trust_proxy: bool = False
    batches: tuple[int, ...] = ()  # the batches handed out; empty: every open local batch
    limits: ServerLimits = field(default_factory=ServerLimits)


@dataclass
class RunningServer:
    """A server on a background thread; a context manager that stops it on exit."""

    url: str
    codes: ServerCodes
    _server: GuardedServer
    _thread: threading.Thread

    @property
    def dropped(self) -> int:
        """Connections closed so far because a request took too long to arrive."""
        return self._server.dropped

    def stop(self) -> None:
        """Close the listening socket and every connection, then wait for the threads."""
        sockets: dict[int, Any] = getattr(self._server, "_map")  # noqa: B009  # ours to empty

        def close_all() -> None:
            for channel in list(sockets.values()):
                channel.close()

        try:
            self._server.trigger.pull_trigger(close_all)  # type: ignore[attr-defined]
        except OSError:  # the loop has closed its wake-up pipe already: close from here
            close_all()
        self._thread.join(timeout=10)
        self._server.task_dispatcher.shutdown()

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _create(
    ws: Workspace, options: ServerOptions, clock: Clock | None
) -> tuple[GuardedServer, ServerCodes]:
    codes = server_codes(
        options.host,
        options.access_code,
        options.admin_code,
        expert=options.expert,
        trust_proxy=options.trust_proxy,
    )
    host = options.host
    if host == "localhost":  # one socket, one URL (waitress would bind ::1 and 127.0.0.1)
        host = "127.0.0.1"
    policy = ServerPolicy(
        hosts=HostPolicy.for_bind(options.host, options.host_names),
        access_code=codes.access,
        admin_code=codes.admin,
        expert=options.expert,
        invite_only=options.invite_only,
        max_body_bytes=options.limits.max_body_bytes,
    )
    app = create_app(ws, policy=policy, clock=clock, batches=options.batches)
    try:
        server = create_guarded_server(
            app, host, options.port, options.limits, trust_proxy=options.trust_proxy
        )
    except OSError as exc:
        raise BeautyError(
            f"cannot listen on {host}:{options.port} ({exc.strerror}): choose another --port"
        ) from None
    return server, codes


def _url(server: GuardedServer) -> str:
    host, port = server.effective_host, server.effective_port  # type: ignore[attr-defined]
    return f"http://[{host}]:{port}" if ":" in str(host) else f"http://{host}:{port}"


def start_server(
    ws: Workspace, options: ServerOptions | None = None, *, clock: Clock | None = None
) -> RunningServer:
    """Start the server on a background thread (port 0: a free port) and return its URL."""
    server, codes = _create(ws, options or ServerOptions(), clock)
    thread = threading.Thread(target=server.run, name="label-server", daemon=True)
    thread.start()
    return RunningServer(_url(server), codes, server, thread)


def serve(
    ws: Workspace,
    options: ServerOptions,
    ready: Callable[[str, ServerCodes], None] | None = None,
) -> None:
    """Serve in the foreground until interrupted; ``ready`` is told the URL and codes once
    listening (generated codes are shown there, once, and nowhere else)."""
    server, codes = _create(ws, options, None)
    if ready is not None:
        ready(_url(server), codes)
    server.run()  # returns on Ctrl-C, after waitress has let its threads finish


def options_from_settings(
    ws: Workspace,
    *,
    host: str | None = None,
    port: int | None = None,
    host_names: Iterable[str] = (),
    **given: Any,
) -> ServerOptions:
    """Options from the ``[label]`` settings, with what the command line gave on top (None:
    not given; ``host_names`` add to the settings' names)."""
    label = ws.settings.label
    options = ServerOptions(
        host=host or label.host,
        port=label.port if port is None else port,
        access_code=label.access_code,
        admin_code=label.admin_code,
        host_names=(*label.host_names, *host_names),
        invite_only=label.invite_only,
        trust_proxy=label.trust_proxy,
        limits=ServerLimits.from_settings(label),
    )
    return replace(options, **{k: v for k, v in given.items() if v is not None})
