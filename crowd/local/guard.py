"""Request guards of the labeling server: which hosts it answers, whose POSTs it takes, and how
fast one client may get sign-ins wrong.

- Host allow-list: a browser tricked by DNS rebinding sends the attacker's name as ``Host``;
  the server answers only the names it is reached by (400 otherwise).
- Same origin: a POST whose ``Origin`` (or, lacking it, ``Referer``) is another site is refused,
  so a foreign page cannot sign a visitor in or submit for them. Forms carry a CSRF token too.
- Failed sign-ins (wrong access code, key or requester's code) are limited per client address
  with exponential backoff: a few free tries, then 429 with ``Retry-After``.
"""

from __future__ import annotations

import ipaddress
import math
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from crowd.local.market import Refused

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
MAX_BODY_BYTES = 1 << 20
WILDCARDS = frozenset({"0.0.0.0", "::", ""})


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` keeps the server on this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _hostname(host: str) -> str:
    """The name in a ``Host`` header or bind address, without port, brackets or final dot."""
    host = host.strip().lower()
    if host.startswith("["):
        host = host[1:].partition("]")[0]
    elif host.count(":") == 1:
        host = host.partition(":")[0]
    return host.rstrip(".")


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class HostPolicy:
    """The ``Host`` names a server answers: its bound address, the loopback names when it is
    reachable through loopback, names given with ``--host-name``, and, bound to every address
    (``0.0.0.0``), any IP address (an address cannot be rebound the way a name can)."""

    names: frozenset[str]
    any_address: bool = False

    @classmethod
    def for_bind(cls, host: str, extra: Iterable[str] = ()) -> HostPolicy:
        bound = _hostname(host)
        names = {bound, *(_hostname(n) for n in extra if n.strip())}
        wildcard = bound in WILDCARDS
        if wildcard or is_loopback(bound):
            names |= LOOPBACK_NAMES
        return cls(frozenset(names - {""}), any_address=wildcard)

    def allows(self, host_header: str) -> bool:
        name = _hostname(host_header)
        return bool(name) and (name in self.names or (self.any_address and _is_ip(name)))


def same_origin(origin: str | None, referer: str | None, own: str) -> bool:
    """Whether a POST comes from a page of this server (``own``: ``scheme://host[:port]``).

    A request naming neither is not from a browser page that could be forged (browsers send
    ``Origin`` on every cross-origin POST); forms are held to their CSRF token besides.
    """
    own = own.lower()
    if origin is not None:
        return origin.strip().lower() == own  # "null" (a sandboxed or privacy-stripped page) fails
    if referer:
        parts = urlsplit(referer.strip())
        return f"{parts.scheme}://{parts.netloc}".lower() == own
    return True


@dataclass
class _Record:
    failures: int = 0
    locked_until: float = 0.0
    last: float = 0.0


@dataclass
class SignInLimiter:
    """Failed sign-ins per client address: ``free`` failures, then a wait that doubles with
    each further failure (``base`` seconds up to ``cap``). A success clears the record.

    Memory is bounded: at most ``max_clients`` records, the longest quiet forgotten first.
    """

    free: int = 5
    base: float = 1.0
    cap: float = 300.0
    max_clients: int = 10_000
    forget_after: float = 3600.0
    clock: Callable[[], float] = time.monotonic
    _records: dict[str, _Record] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def retry_after(self, client: str) -> int:
        """Whole seconds the client must wait before its next try; 0 when it may try now."""
        with self._lock:
            record = self._records.get(client)
            if record is None:
                return 0
            return max(0, math.ceil(record.locked_until - self.clock()))

    def failed(self, client: str) -> int:
        """Record a failure; the seconds the client must now wait."""
        now = self.clock()
        with self._lock:
            self._prune(now)
            record = self._records.setdefault(client, _Record())
            record.failures += 1
            record.last = now
            over = record.failures - self.free
            if over > 0:
                wait = min(self.cap, self.base * 2.0 ** min(over - 1, 32))
                record.locked_until = now + wait
            return max(0, math.ceil(record.locked_until - now))

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._records.pop(client, None)

    def _prune(self, now: float) -> None:
        if len(self._records) < self.max_clients:
            return
        stale = [k for k, r in self._records.items() if now - r.last > self.forget_after]
        for key in stale:
            del self._records[key]
        if len(self._records) >= self.max_clients:  # all recent: drop the quietest half
            by_age = sorted(self._records, key=lambda k: self._records[k].last)
            for key in by_age[: len(by_age) // 2]:
                del self._records[key]


@dataclass(frozen=True)
class ServerPolicy:
    """Who the app answers and admits.

    Attributes
    ----------
    hosts : HostPolicy
        ``Host`` names answered (400 otherwise).
    access_code : str, optional
        Needed to claim a name (a claimed name's key stands in for it).
    admin_code : str, optional
        The requester's code, which opens the full progress table; None: nobody sees it.
    expert : bool
        Labelers' answers become expert gold.
    invite_only : bool
        Only names given by ``beauty label invite`` sign in.
    max_body_bytes : int
        Largest request body.
    """

    hosts: HostPolicy = field(default_factory=lambda: HostPolicy.for_bind("127.0.0.1"))
    access_code: str | None = None
    admin_code: str | None = None
    expert: bool = False
    invite_only: bool = False
    max_body_bytes: int = MAX_BODY_BYTES


class TooManyTries(Refused):
    """429: this client got sign-ins wrong too often; ``wait`` seconds until the next try."""

    def __init__(self, wait: int) -> None:
        super().__init__(429, f"too many failed sign-ins from your address: try again in {wait} s")
        self.wait = wait
