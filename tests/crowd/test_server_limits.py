"""Slow and many clients against a real labeling server on loopback, with short timeouts."""

from __future__ import annotations

import http.client
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from crowd.local import RunningServer, ServerLimits, ServerOptions, start_server
from infra.errors import ConfigError
from infra.settings import load_settings
from infra.workspace import Workspace
from tests.crowd.market_fixtures import gallery_workspace

HEADER_START = b"GET /login HTTP/1.1\r\nHost: 127.0.0.1\r\n"


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return gallery_workspace(tmp_path, n_images=2)


def _address(server: RunningServer) -> tuple[str, int]:
    host, _, port = server.url.removeprefix("http://").rpartition(":")
    return host, int(port)


@contextmanager
def slow_clients(server: RunningServer, count: int) -> Iterator[dict[int, float]]:
    """``count`` connections sending a header line every 0.2 s and never finishing it; yields
    each connection's seconds from its first byte to the server closing it, as they close."""
    closed: dict[int, float] = {}
    stop = threading.Event()
    with ExitStack() as stack:
        sockets = []
        for _ in range(count):
            sock = stack.enter_context(socket.create_connection(_address(server), timeout=5))
            sockets.append(sock)
        started = time.monotonic()
        for sock in sockets:
            sock.sendall(HEADER_START)
            sock.setblocking(False)

        def trickle() -> None:
            while not stop.is_set() and len(closed) < count:
                for i, sock in enumerate(sockets):
                    if i in closed:
                        continue
                    try:
                        if sock.recv(4096) == b"":
                            closed[i] = time.monotonic() - started
                            continue
                    except BlockingIOError:
                        pass
                    except OSError:
                        closed[i] = time.monotonic() - started
                        continue
                    try:
                        sock.send(b"X-Slow: 1\r\n")
                    except OSError:
                        closed[i] = time.monotonic() - started
                stop.wait(0.2)

        thread = threading.Thread(target=trickle, daemon=True)
        thread.start()
        try:
            yield closed
        finally:
            stop.set()
            thread.join(timeout=5)


def _timed_get(server: RunningServer, timeout: float) -> tuple[int, float]:
    """A fresh connection's GET /login: its status and seconds to the answer."""
    started = time.monotonic()
    conn = http.client.HTTPConnection(*_address(server), timeout=timeout)
    try:
        conn.request("GET", "/login")
        status = conn.getresponse().status
    finally:
        conn.close()
    return status, time.monotonic() - started


def _wait_for(closed: dict[int, float], count: int, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while len(closed) < count and time.monotonic() < deadline:
        time.sleep(0.05)


def test_a_slow_header_client_is_dropped_and_others_still_answer(ws: Workspace) -> None:
    limits = ServerLimits(header_timeout=1.0, idle_timeout=30)
    with start_server(ws, ServerOptions(limits=limits)) as server:
        with slow_clients(server, 20) as closed:
            status, seconds = _timed_get(server, timeout=5)
            assert status == 200 and seconds < 1.0  # answered while the slow ones trickle
            _wait_for(closed, 20, 6.0)
        assert len(closed) == 20, "a slow header was held beyond its timeout"
        assert min(closed.values()) >= 0.9  # not before the header timeout
        assert max(closed.values()) < 4.0  # timeout plus the sweep's second, and some slack
        assert server.dropped == 20


def test_full_connection_slots_free_up_when_slow_clients_are_dropped(ws: Workspace) -> None:
    # 10 slots, two of them the server's own sockets: 12 slow clients fill the rest and queue.
    limits = ServerLimits(connection_limit=10, header_timeout=1.0, idle_timeout=30)
    with start_server(ws, ServerOptions(limits=limits)) as server:
        with slow_clients(server, 12):
            time.sleep(0.3)
            status, seconds = _timed_get(server, timeout=8)
        assert status == 200 and seconds < 6.0


def test_a_silent_connection_is_closed_after_the_idle_timeout(ws: Workspace) -> None:
    limits = ServerLimits(idle_timeout=1, header_timeout=1.0)
    with (
        start_server(ws, ServerOptions(limits=limits)) as server,
        socket.create_connection(_address(server), timeout=6) as sock,
    ):
        started = time.monotonic()
        assert sock.recv(1) == b""  # the server hung up
        assert 0.9 <= time.monotonic() - started < 4.0


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("header_timeout", "inf"),
        ("header_timeout", "nan"),
        ("header_timeout", "0"),
        ("idle_timeout", "3600"),
        ("connection_limit", "0"),
        ("max_body_bytes", "1e12"),
    ],
)
def test_server_limits_must_be_finite_and_in_range(key: str, value: str) -> None:
    with pytest.raises(ConfigError, match=f"label.{key}"):
        load_settings(None, {f"BEAUTY_LABEL__{key.upper()}": value})
    defaults = load_settings(None, {}).label
    assert 0 < defaults.header_timeout <= 10 and 0 < defaults.idle_timeout <= 60
