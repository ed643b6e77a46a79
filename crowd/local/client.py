"""A labeler's side of the JSON API, as the HIT page speaks it: sign in, next HIT, submit.

One keep-alive connection and one session cookie per client; every call's latency is kept
so that load runs can report percentiles.
"""

from __future__ import annotations

import http.client
import json
import time
from collections import defaultdict
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urlsplit

from crowd.answers import HitAnswer
from crowd.local.api import NextHit, SessionReply, SubmitReply

RETRYABLE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


class MarketError(Exception):
    """The server refused a call; ``status`` is its HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status


class MarketClient:
    """One labeler's connection to a local labeling server at ``url``."""

    def __init__(self, url: str, timeout: float = 60.0) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"{url}: expected http://HOST:PORT")
        self._host, self._port, self._timeout = parts.hostname, parts.port or 80, timeout
        self._conn = http.client.HTTPConnection(self._host, self._port, timeout=timeout)
        self._cookie: str | None = None
        self.key: str | None = None
        self.timings: dict[str, list[float]] = defaultdict(list)

    def sign_in(
        self, worker: str, access_code: str | None = None, key: str | None = None
    ) -> SessionReply:
        """Sign in as ``worker``: with the name's key once it is claimed, else the access code
        where the server has one. A sign-in that claims the name gets its key (kept in
        ``self.key``)."""
        payload = {"worker": worker, "access_code": access_code, "key": key}
        _, body = self._call("POST", "/api/session", "session", payload)
        reply = SessionReply.model_validate_json(body)
        self.key = reply.key or key
        return reply

    def next_hit(self) -> NextHit | None:
        """The next HIT handed to this labeler, or None when nothing is left."""
        status, body = self._call("GET", "/api/next", "next")
        return None if status == 204 else NextHit.model_validate_json(body)

    def submit(self, hit: NextHit, answer: HitAnswer) -> SubmitReply:
        """Submit the answer to ``hit``; an unreadable one is refused (``MarketError`` 422) and
        the assignment stays this labeler's for a corrected answer."""
        _, body = self._call("POST", hit.submit_url, "submit", answer.model_dump())
        return SubmitReply.model_validate_json(body)

    def get(self, path: str) -> bytes:
        """Any page or image, as a browser would fetch it."""
        return self._call("GET", path, "get")[1]

    def close(self) -> None:
        self._conn.close()

    def _call(
        self,
        method: str,
        path: str,
        name: str,
        payload: Any = None,
    ) -> tuple[int, bytes]:
        headers = {"Accept": "application/json"}
        body = None
        if payload is not None:
            body = json.dumps(payload).encode()
            headers["Content-Type"] = "application/json"
        if self._cookie:
            headers["Cookie"] = self._cookie
        started = time.perf_counter()
        try:
            response = self._request(method, path, body, headers)
        except RETRYABLE:
            # The server closed an idle keep-alive connection: one fresh attempt.
            self._conn.close()
            response = self._request(method, path, body, headers)
        data = response.read()
        self.timings[name].append(time.perf_counter() - started)
        for header in response.headers.get_all("Set-Cookie") or []:
            cookie = SimpleCookie(header)
            self._cookie = "; ".join(f"{k}={m.value}" for k, m in cookie.items())
        if response.status >= 400:
            try:
                message = json.loads(data).get("error", "")
            except (ValueError, AttributeError):
                message = data[:200].decode(errors="replace")
            raise MarketError(response.status, message)
        return response.status, data

    def _request(
        self, method: str, path: str, body: bytes | None, headers: dict[str, str]
    ) -> http.client.HTTPResponse:
        self._conn.request(method, path, body=body, headers=headers)
        return self._conn.getresponse()
