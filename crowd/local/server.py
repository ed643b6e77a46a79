"""Running the labeling server under waitress, in the foreground or on a background thread.

waitress is a production WSGI server in pure Python: multi-threaded, no compiled parts, the
same on every platform. Each of its threads gets its own ledger connection.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from waitress.server import create_server

from crowd.local.app import create_app
from crowd.local.market import Clock
from infra.errors import BeautyError
from infra.workspace import Workspace

THREADS = 8

# A queue of a few requests is normal when a simulated crowd bursts in; waitress warns of every
# one, which would bury the progress bar.
logging.getLogger("waitress.queue").setLevel(logging.ERROR)


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` keeps the server on this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(host: str, access_code: str | None, expert: bool) -> None:
    """Refuse an open server: beyond loopback, and in expert mode, an access code is needed."""
    if expert and not access_code:
        raise BeautyError(
            "expert mode makes answers gold: pass --access-code CODE (or set label.access_code)"
        )
    if not is_loopback(host) and not access_code:
        raise BeautyError(
            f"binding {host} exposes the server beyond this machine: pass --access-code CODE "
            "(or set label.access_code), or bind 127.0.0.1"
        )


@dataclass
class RunningServer:
    """A server on a background thread; a context manager that stops it on exit."""

    url: str
    _server: Any
    _thread: threading.Thread

    def stop(self) -> None:
        """Close the listening socket and every connection, then wait for the threads."""
        sockets = self._server._map  # the map create_server was given: ours to empty

        def close_all() -> None:
            for channel in list(sockets.values()):
                channel.close()

        self._server.trigger.pull_trigger(close_all)
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
    ws: Workspace,
    host: str,
    port: int,
    expert: bool,
    access_code: str | None,
    threads: int,
    clock: Clock | None,
) -> Any:
    check_bind(host, access_code, expert)
    if host == "localhost":  # one socket, one URL (waitress would bind ::1 and 127.0.0.1)
        host = "127.0.0.1"
    app = create_app(ws, expert=expert, access_code=access_code, clock=clock)
    try:
        return create_server(app, map={}, host=host, port=port, threads=threads)
    except OSError as exc:
        raise BeautyError(
            f"cannot listen on {host}:{port} ({exc.strerror}): choose another --port"
        ) from None


def _url(server: Any) -> str:
    host = server.effective_host
    return (
        f"http://[{host}]:{server.effective_port}"
        if ":" in host
        else (f"http://{host}:{server.effective_port}")
    )


def start_server(
    ws: Workspace,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    expert: bool = False,
    access_code: str | None = None,
    threads: int = THREADS,
    clock: Clock | None = None,
) -> RunningServer:
    """Start the server on a background thread (port 0: a free port) and return its URL."""
    server = _create(ws, host, port, expert, access_code, threads, clock)
    thread = threading.Thread(target=server.run, name="label-server", daemon=True)
    thread.start()
    return RunningServer(_url(server), server, thread)


def serve(
    ws: Workspace,
    *,
    host: str,
    port: int,
    expert: bool = False,
    access_code: str | None = None,
    threads: int = THREADS,
    ready: Callable[[str], None] | None = None,
) -> None:
    """Serve in the foreground until interrupted; ``ready`` is told the URL once listening."""
    server = _create(ws, host, port, expert, access_code, threads, None)
    if ready is not None:
        ready(_url(server))
    server.run()  # returns on Ctrl-C, after waitress has let its threads finish
