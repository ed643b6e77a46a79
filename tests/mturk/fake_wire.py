"""The wire of the MTurk fake: MTurk's JSON protocol on a loopback port, with injected faults.

A mixin of :class:`tests.mturk.fake_mturk.FakeMTurk`: requests name their operation in
``X-Amz-Target: MTurkRequesterServiceV20170117.<Op>`` and are answered by the fake's
``_op_<Op>`` method; errors come back as MTurk's ``{"__type", "Message", "TurkErrorCode"}``.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.mturk.fake_mturk_workers import TurkError

TARGET_PREFIX = "MTurkRequesterServiceV20170117."


@dataclass
class Fault:
    operation: str
    kind: str  # lost-before | lost-after | throttle | 503


class JsonWire:
    """Serve the fake's operations over HTTP; use the fake as a context manager."""

    applied: Counter[str]
    received: Counter[str]
    _faults: deque[Fault]
    _lock: threading.RLock
    _server: ThreadingHTTPServer | None
    _tick: Callable[[], int]

    # -- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> Any:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in two writes

            def do_POST(self) -> None:
                fake._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None, "use FakeMTurk as a context manager"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def fault(self, operation: str, kind: str, times: int = 1) -> None:
        """Queue ``times`` faults of ``kind`` for the next calls of ``operation``."""
        for _ in range(times):
            self._faults.append(Fault(operation, kind))

    @property
    def faults_left(self) -> int:
        return len(self._faults)

    # -- the wire --------------------------------------------------------------------------
    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        body = json.loads(request.rfile.read(length) or b"{}")
        target = request.headers.get("X-Amz-Target", "")
        operation = target.removeprefix(TARGET_PREFIX)
        self.received[operation] += 1
        fault = self._take_fault(operation)
        if fault == "lost-before":
            return self._drop(request)
        if fault == "throttle":
            return self._reply(
                request, 400, {"__type": "ThrottlingException", "message": "Rate exceeded"}
            )
        if fault == "503":
            return self._reply(
                request, 503, {"__type": "ServiceUnavailable", "message": "Try again"}
            )
        method = getattr(self, f"_op_{operation}", None)
        if method is None:
            return self._reply(request, 400, {"__type": "UnknownOperationException"})
        try:
            with self._lock:
                self._tick()
                result = method(body)
                self.applied[operation] += 1
        except TurkError as exc:
            payload = {"__type": exc.code, "Message": str(exc), "TurkErrorCode": exc.turk_code}
            status = 500 if exc.code == "ServiceFault" else 400
            return self._reply(request, status, payload)
        if fault == "lost-after":
            return self._drop(request)
        self._reply(request, 200, result)

    def _take_fault(self, operation: str) -> str | None:
        with self._lock:
            for fault in self._faults:
                if fault.operation == operation:
                    self._faults.remove(fault)
                    return fault.kind
        return None

    @staticmethod
    def _drop(request: BaseHTTPRequestHandler) -> None:
        request.close_connection = True

    @staticmethod
    def _reply(request: BaseHTTPRequestHandler, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload, default=_wire).encode()
        request.send_response(status)
        request.send_header("Content-Type", "application/x-amz-json-1.1")
        request.send_header("Content-Length", str(len(data)))
        request.send_header("x-amzn-RequestId", hashlib.sha1(data).hexdigest())
        request.end_headers()
        request.wfile.write(data)


def _wire(value: Any) -> Any:
    """JSON-protocol timestamps are epoch seconds."""
    if isinstance(value, datetime):
        return value.timestamp()
    raise TypeError(f"cannot send {type(value).__name__}")
