"""Putting the labeling server on a lab network: private workspace files, access codes, hosts,
origins, cookies and failed sign-ins."""

from __future__ import annotations

import http.client
import json
import os
import signal
import stat
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient

from beauty.cli import cli
from crowd.local import (
    MarketClient,
    MarketError,
    ServerOptions,
    ServerPolicy,
    create_app,
    server_codes,
    start_server,
)
from crowd.local.guard import HostPolicy, SignInLimiter, is_loopback
from infra.errors import BeautyError
from infra.workspace import Workspace
from tests.crowd.market_fixtures import gallery_workspace, plan

posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@posix_only
def test_a_new_workspace_is_private_to_its_owner(tmp_path: Path) -> None:
    old = os.umask(0o022)  # a usual umask: the workspace must not rely on it
    try:
        result = CliRunner().invoke(cli, ["init", str(tmp_path / "ws")])
    finally:
        os.umask(old)
    assert result.exit_code == 0, result.output
    root = tmp_path / "ws"
    assert _mode(root) == 0o700
    assert _mode(root / "beauty.toml") == 0o600 and _mode(root / "beauty.db") == 0o600
    assert {_mode(root / d) for d in ("reports", "tables", "runs", "previews")} == {0o700}
    for name in ("beauty.db-wal", "beauty.db-shm"):
        if (root / name).exists():
            assert _mode(root / name) == 0o600


@posix_only
def test_opening_an_older_workspace_closes_its_files(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "ws")
    for path in (ws.root / "beauty.toml", ws.ledger_path):
        path.chmod(0o644)
    result = CliRunner().invoke(cli, ["-w", str(ws.root), "hits", "list"])
    assert result.exit_code == 0, result.output
    assert _mode(ws.root / "beauty.toml") == 0o600 and _mode(ws.ledger_path) == 0o600


@posix_only
def test_what_a_command_writes_is_private(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "ws")
    out = tmp_path / "votes.csv"
    old = os.umask(0o022)
    try:
        result = CliRunner().invoke(cli, ["-w", str(ws.root), "votes", "export", str(out)])
        assert os.umask(0o022) == 0o022  # the command's umask does not outlive it
    finally:
        os.umask(old)
    assert out.exists(), result.output
    assert _mode(out) == 0o600


# Access codes: never on the command line, strong enough, generated where needed, shown once.


@pytest.mark.parametrize("command", [["label", "serve"], ["crowd", "simulate", "--truth", "t.csv"]])
def test_a_code_on_the_command_line_is_refused_in_one_line(
    tmp_path: Path, command: list[str]
) -> None:
    ws = Workspace.init(tmp_path / "ws")
    args = ["-w", str(ws.root), *command, "--access-code", "correct-horse-battery"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert "BEAUTY_LABEL__ACCESS_CODE" in result.stderr and "--access-code-file" in result.stderr
    assert "correct-horse-battery" not in result.output


def test_a_code_file_must_hold_a_long_enough_code(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "ws")
    short = tmp_path / "code.txt"
    short.write_text("s3cret\n")
    serve = ["-w", str(ws.root), "label", "serve", "--port", "0", "--access-code-file"]
    result = CliRunner().invoke(cli, [*serve, str(short)])
    assert result.exit_code == 1 and "at least 12" in result.stderr
    missing = CliRunner().invoke(cli, [*serve, str(tmp_path / "nope.txt")])
    assert missing.exit_code == 1 and "cannot read" in missing.stderr


def test_binding_beyond_loopback_gets_an_access_code() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.4")
    for host, expert in [("0.0.0.0", False), ("192.168.1.4", False), ("127.0.0.1", True)]:
        codes = server_codes(host, None, None, expert=expert)
        assert codes.access is not None and len(codes.access) >= 12
        assert codes.generated == ("access", "admin")
    assert server_codes("0.0.0.0", None, None).access != server_codes("0.0.0.0", None, None).access
    assert server_codes("127.0.0.1", None, None).access is None
    chosen = server_codes("0.0.0.0", "correct horse battery", None)
    assert chosen.access == "correct horse battery" and chosen.generated == ("admin",)
    with pytest.raises(BeautyError, match="at least 12"):
        server_codes("0.0.0.0", "s3cret", None)


def test_serve_refuses_a_short_code_in_one_line(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "ws")
    result = CliRunner().invoke(
        cli,
        ["-w", str(ws.root), "label", "serve", "--host", "0.0.0.0", "--port", "0"],
        env={"BEAUTY_LABEL__ACCESS_CODE": "s3cret"},
    )
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and "at least 12" in result.stderr


def _first_lines(proc: subprocess.Popen[str], count: int, seconds: float) -> list[str]:
    lines: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        while len(lines) < count and (line := proc.stdout.readline()):
            lines.append(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(seconds)
    return lines


def test_an_expert_server_gets_a_code_shown_once_and_nowhere_else(tmp_path: Path) -> None:
    ws = gallery_workspace(tmp_path)
    plan(ws, hits=1, assignments=1)
    args = ["-m", "beauty", "-w", str(ws.root), "label", "serve", "--port", "0", "--expert"]
    proc = subprocess.Popen(
        [sys.executable, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        lines = _first_lines(proc, 3, seconds=60)
        assert len(lines) == 3, lines
        url = lines[0].split(" at ", 1)[1].split()[0]
        assert url.startswith("http://127.0.0.1:")
        code = lines[1].rsplit(": ", 1)[1].strip()
        admin = lines[2].rsplit(": ", 1)[1].strip()
        assert len(code) >= 12 and len(admin) >= 12 and code != admin
        cmdline = Path(f"/proc/{proc.pid}/cmdline")
        if cmdline.exists():
            assert code.encode() not in cmdline.read_bytes()
        client = MarketClient(url, timeout=10)
        with pytest.raises(MarketError) as refused:
            client.sign_in("ada", "not-the-code-at-all")
        assert refused.value.status == 403
        assert client.sign_in("ada", code).worker == "ada"
        client.close()
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert code not in out and code not in err  # printed once, at start, and never logged


# Hosts and origins: DNS rebinding and cross-site forms get nowhere.

CODE = "correct-horse-battery"


def _csrf(client: FlaskClient) -> str:
    page = client.get("/login").data.decode()
    return page.split('name="csrf" value="', 1)[1].split('"', 1)[0]


def test_only_the_servers_own_host_names_are_answered(tmp_path: Path) -> None:
    ws = gallery_workspace(tmp_path)
    app = create_app(ws)  # loopback
    client = app.test_client()
    for host in ["attacker.example", "attacker.example:8765", "127.0.0.1.attacker.example"]:
        assert client.get("/status", headers={"Host": host}).status_code == 400, host
        rebound = client.post("/api/session", json={"worker": "eve"}, headers={"Host": host})
        assert rebound.status_code == 400 and "Set-Cookie" not in rebound.headers
    for host in ["127.0.0.1:8765", "localhost:8765", "LOCALHOST", "[::1]:8765"]:
        assert client.get("/login", headers={"Host": host}).status_code == 200, host

    lab = HostPolicy.for_bind("0.0.0.0", ["label.lab.example"])
    assert lab.allows("label.lab.example:8765") and lab.allows("Label.Lab.Example.")
    assert lab.allows("192.168.1.4:8765") and lab.allows("localhost")
    assert not lab.allows("attacker.example") and not lab.allows("")
    one = HostPolicy.for_bind("192.168.1.4")
    assert one.allows("192.168.1.4:8765")
    assert not one.allows("192.168.1.5") and not one.allows("localhost")


def test_posts_from_another_site_are_refused(tmp_path: Path) -> None:
    ws = gallery_workspace(tmp_path)
    client = create_app(ws, ServerPolicy(access_code=CODE)).test_client()
    token = _csrf(client)
    form = {"csrf": token, "worker": "eve", "access_code": CODE}
    for headers in [
        {"Origin": "http://attacker.example"},
        {"Origin": "null"},
        {"Referer": "http://attacker.example/page.html"},
    ]:
        login = client.post("/login", data=form, headers=headers)
        assert login.status_code == 403, headers
        payload = {"worker": "eve", "access_code": CODE}
        api = client.post("/api/session", json=payload, headers=headers)
        assert api.status_code == 403, headers
    assert client.get("/api/next").status_code == 401  # nobody got signed in
    missing = client.post("/login", data={"worker": "eve", "access_code": CODE})
    assert missing.status_code == 403 and b"expired" in missing.data  # no CSRF token
    as_text = client.post("/api/session", data='{"worker": "eve"}', content_type="text/plain")
    assert as_text.status_code == 415
    ok = client.post("/login", data=form, headers={"Origin": "http://localhost"})
    assert ok.status_code == 302 and client.get("/api/next").status_code in (200, 204)


def test_session_cookies_are_strict_and_secure_over_https(tmp_path: Path) -> None:
    ws = gallery_workspace(tmp_path)
    app = create_app(ws)
    plain = app.test_client().post("/api/session", json={"worker": "ada"})
    cookie = plain.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" not in cookie
    tls = app.test_client().post(
        "/api/session", json={"worker": "bea"}, base_url="https://localhost"
    )
    assert "Secure" in tls.headers["Set-Cookie"]


def _sign_in_over(url: str, worker: str, code: str, **headers: str) -> tuple[int, Any]:
    """A JSON sign-in over a real socket, as a proxy would forward it: status and headers."""
    host, _, port = url.removeprefix("http://").rpartition(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        body = json.dumps({"worker": worker, "access_code": code})
        sent = {"Content-Type": "application/json"} | {
            k.replace("_", "-"): v for k, v in headers.items()
        }
        conn.request("POST", "/api/session", body=body, headers=sent)
        response = conn.getresponse()
        response.read()
        return response.status, response.headers
    finally:
        conn.close()


def test_behind_a_trusted_proxy_cookies_are_secure(tmp_path: Path) -> None:
    ws = gallery_workspace(tmp_path)
    with start_server(ws, ServerOptions(trust_proxy=True, access_code=CODE)) as server:
        status, headers = _sign_in_over(server.url, "ada", CODE, X_Forwarded_Proto="https")
        assert status == 200 and "Secure" in headers["Set-Cookie"]
        status, headers = _sign_in_over(server.url, "bea", CODE, X_Forwarded_Proto="http")
        assert status == 200 and "Secure" not in headers["Set-Cookie"]
    with start_server(ws, ServerOptions(access_code=CODE)) as server:  # no proxy: header ignored
        status, headers = _sign_in_over(server.url, "cy", CODE, X_Forwarded_Proto="https")
        assert status == 200 and "Secure" not in headers["Set-Cookie"]


def test_behind_a_trusted_proxy_each_client_has_its_own_budget(tmp_path: Path) -> None:
    ws = gallery_workspace(tmp_path)
    for trusted in (True, False):
        with start_server(ws, ServerOptions(trust_proxy=trusted, access_code=CODE)) as server:
            for _ in range(6):
                status, _ = _sign_in_over(server.url, "eve", "guess", X_Forwarded_For="10.0.0.1")
                assert status == 403
            blocked, _ = _sign_in_over(server.url, "eve", "guess", X_Forwarded_For="10.0.0.1")
            other, _ = _sign_in_over(server.url, "eve", "guess", X_Forwarded_For="10.0.0.2")
            assert blocked == 429
            # Behind the proxy 10.0.0.2 is another client; otherwise the header is ignored
            # and both are the one address the requests came from.
            assert other == (403 if trusted else 429)


# Failed sign-ins: a few free, then exponential backoff per client address.


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_failed_sign_ins_back_off_exponentially_per_address(tmp_path: Path) -> None:
    ws = gallery_workspace(tmp_path)
    clock = Clock()
    limiter = SignInLimiter(free=5, base=1.0, cap=300.0, clock=clock)
    app = create_app(ws, ServerPolicy(access_code=CODE), limiter=limiter)
    client = app.test_client()

    def attempt(code: str, address: str = "10.0.0.7", name: str = "ada") -> Any:
        return client.post(
            "/api/session",
            json={"worker": name, "access_code": code},
            environ_base={"REMOTE_ADDR": address},
        )

    assert [attempt("guess").status_code for _ in range(5)] == [403] * 5
    assert attempt("guess").status_code == 403  # the sixth failure starts the backoff
    assert attempt(CODE, address="10.0.0.8", name="bea").status_code == 200  # not held
    waits = []
    for _ in range(4):
        locked = attempt(CODE)  # even the right code waits
        assert locked.status_code == 429 and "try again" in locked.json["error"]
        waits.append(int(locked.headers["Retry-After"]))
        clock.now += waits[-1]
        assert attempt("guess").status_code == 403
    assert waits == [1, 2, 4, 8]
    clock.now += 16
    assert attempt(CODE).status_code == 200


def test_guessing_is_bounded_in_real_time(tmp_path: Path) -> None:
    ws = gallery_workspace(tmp_path)
    client = create_app(ws, ServerPolicy(access_code=CODE)).test_client()
    statuses = [
        client.post("/api/session", json={"worker": "eve", "access_code": f"guess{i}"}).status_code
        for i in range(200)
    ]
    assert statuses.count(403) <= 8  # the free tries, and one after each (doubling) wait
    assert statuses.count(429) >= 192
