"""Connection limits and timeouts of the labeling server, sized for people labeling photos.

waitress drops only connections that stay silent (after two minutes by default), and a byte
of header now and then counts as activity: a hundred clients trickling their headers would
hold every connection slot, and nobody else would be answered. Here a request's header must
arrive within ``header_timeout`` seconds of its first byte and its body within
``body_timeout`` of the header, or the connection is closed; a quiet keep-alive connection is
closed after ``idle_timeout``. A HIT page sends a few kilobytes at a time, so seconds suffice.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.server import TcpWSGIServer
from waitress.task import ThreadedTaskDispatcher

from infra.settings import LabelSettings

log = logging.getLogger(__name__)
CLEANUP_INTERVAL = 1  # seconds between sweeps for overdue connections (waitress takes whole s)
TRUSTED_PROXY = "127.0.0.1"  # a reverse proxy on this machine
_DEFAULTS = LabelSettings()


@dataclass(frozen=True)
class ServerLimits:
    """How many connections the server holds, and how long each may take (seconds)."""

    threads: int = _DEFAULTS.threads
    connection_limit: int = _DEFAULTS.connection_limit
    header_timeout: float = _DEFAULTS.header_timeout
    body_timeout: float = _DEFAULTS.body_timeout
    idle_timeout: int = _DEFAULTS.idle_timeout
    max_header_bytes: int = _DEFAULTS.max_header_bytes
    max_body_bytes: int = _DEFAULTS.max_body_bytes

    @classmethod
    def from_settings(cls, label: LabelSettings) -> ServerLimits:
        return cls(
            threads=label.threads,
            connection_limit=label.connection_limit,
            header_timeout=label.header_timeout,
            body_timeout=label.body_timeout,
            idle_timeout=label.idle_timeout,
            max_header_bytes=label.max_header_bytes,
            max_body_bytes=label.max_body_bytes,
        )


class GuardedChannel(HTTPChannel):
    """A connection that remembers when its pending request began and its header ended."""

    _pending: Any = None
    _started = 0.0
    _header_done: float | None = None

    def received(self, data: bytes) -> bool:
        now = time.monotonic()
        result = super().received(data)
        request = self.request  # the parser of the request still arriving, if any
        if request is not self._pending:
            self._pending, self._started, self._header_done = request, now, None
        if request is not None and self._header_done is None and request.headers_finished:
            self._header_done = now
        return result

    def overdue(self, now: float, limits: ServerLimits) -> bool:
        """Whether the request still arriving has taken longer than its header or body may."""
        if self.request is None or self.request is not self._pending:
            return False
        if self._header_done is None:
            return now - self._started > limits.header_timeout
        return now - self._header_done > limits.body_timeout


class GuardedServer(TcpWSGIServer):
    """waitress's TCP server, whose sweep also closes connections with overdue requests."""

    channel_class = GuardedChannel
    limits = ServerLimits()
    dropped = 0  # connections closed for a slow request, since start

    def maintenance(self, now: Any) -> None:
        super().maintenance(now)  # idle connections
        mono = time.monotonic()
        channels: dict[int, Any] = self.active_channels  # type: ignore[assignment]
        for channel in list(channels.values()):
            if (
                isinstance(channel, GuardedChannel)
                and not channel.will_close
                and channel.overdue(mono, self.limits)
            ):
                channel.will_close = True
                self.dropped += 1


def create_guarded_server(
    app: Any, host: str, port: int, limits: ServerLimits, *, trust_proxy: bool = False
) -> GuardedServer:
    """A server for ``app`` listening on ``host:port`` (not yet running)."""
    proxy: dict[str, Any] = {}
    if trust_proxy:  # the client's address and scheme, as a proxy on this machine saw them
        proxy = {
            "trusted_proxy": TRUSTED_PROXY,
            "trusted_proxy_count": 1,
            "trusted_proxy_headers": {"x-forwarded-for", "x-forwarded-proto"},
        }
    adj = Adjustments(
        host=host,
        port=port,
        threads=limits.threads,
        connection_limit=limits.connection_limit,
        channel_timeout=limits.idle_timeout,
        cleanup_interval=CLEANUP_INTERVAL,
        max_request_header_size=limits.max_header_bytes,
        max_request_body_size=limits.max_body_bytes,
        asyncore_use_poll=True,  # select() cannot watch descriptors past 1023
        ident="beauty-crowd",
        **proxy,
    )
    _room_for(limits.connection_limit)
    dispatcher = ThreadedTaskDispatcher()
    dispatcher.set_thread_count(limits.threads)
    listen: list[Any] = adj.listen  # (family, type, proto, address) per socket
    server = GuardedServer(app, map={}, dispatcher=dispatcher, adj=adj, sockinfo=listen[0])
    server.limits = limits
    return server


def _room_for(connections: int) -> None:
    """Raise this process's open-file limit to hold ``connections`` sockets, where allowed."""
    try:
        import resource
    except ImportError:  # Windows: no such limit to raise
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = connections + 64  # the database, the listening socket, logs, images being read
    if soft != resource.RLIM_INFINITY and soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            target = soft
        if target < wanted:
            log.warning(
                "open-file limit %d holds fewer than label.connection_limit=%d connections",
                target,
                connections,
            )
