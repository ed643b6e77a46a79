"""Access codes of the labeling server: where they come from and how strong they must be.

A code typed on the command line is visible to every user of the machine (``ps``), so codes
come from the environment (``BEAUTY_LABEL__ACCESS_CODE``), ``beauty.toml`` (0600) or a file
(``--access-code-file``). A server reachable beyond this machine, one behind a proxy, and an
expert server get a fresh code when none is set; a chosen code has at least 12 characters.
The requester's code (``label.admin_code``) opens the full progress table on ``/status``; when
unset, one is generated for each run.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from pathlib import Path

from crowd.local.guard import is_loopback
from infra.errors import BeautyError

MIN_LENGTH = 12
# No 0/o, 1/l/i: a generated code is read off a screen and typed.
ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
GROUPS, GROUP = 4, 4  # 16 characters: 79 random bits


def generate_code() -> str:
    """A fresh code, e.g. ``k7mq-2xwe-p9ta-c4rn``."""
    chars = [secrets.choice(ALPHABET) for _ in range(GROUPS * GROUP)]
    return "-".join("".join(chars[i : i + GROUP]) for i in range(0, len(chars), GROUP))


def check_strength(code: str, what: str = "access code") -> str:
    """The code, stripped; refused when shorter than :data:`MIN_LENGTH`."""
    code = code.strip()
    if len(code) < MIN_LENGTH:
        raise BeautyError(
            f"the {what} is {len(code)} characters long: use at least {MIN_LENGTH} "
            "(or set none and one is generated when it is needed)"
        )
    return code


def read_code_file(path: Path) -> str:
    """A code from its file's first line (a secret manager's or ``openssl rand`` output)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BeautyError(f"{path}: cannot read the access code file ({exc.strerror})") from None
    lines = text.splitlines()
    return check_strength(lines[0] if lines else "")


def matches(given: str | None, code: str) -> bool:
    """Whether ``given`` is ``code``, in time that does not depend on where they differ."""
    digest = hashlib.sha256((given or "").encode()).digest()
    return hmac.compare_digest(digest, hashlib.sha256(code.encode()).digest())


@dataclass(frozen=True)
class ServerCodes:
    """The codes a server run checks; ``generated`` names the ones made for this run, which the
    person starting it is shown once."""

    access: str | None
    admin: str
    generated: tuple[str, ...] = ()


def server_codes(
    host: str,
    access_code: str | None,
    admin_code: str | None,
    *,
    expert: bool = False,
    trust_proxy: bool = False,
) -> ServerCodes:
    """The codes for a server bound to ``host``: chosen ones checked, missing ones generated.

    Without an access code, a server on loopback lets anyone on this machine sign in; beyond
    loopback, behind a proxy and in expert mode a code is generated.
    """
    generated: list[str] = []
    access = check_strength(access_code) if access_code else None
    if access is None and (expert or trust_proxy or not is_loopback(host)):
        access = generate_code()
        generated.append("access")
    admin = check_strength(admin_code, "requester's code") if admin_code else None
    if admin is None:
        admin = generate_code()
        generated.append("admin")
    if access is not None and matches(access, admin):
        raise BeautyError("the requester's code must differ from the access code labelers get")
    return ServerCodes(access, admin, tuple(generated))
