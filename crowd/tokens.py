"""Opaque tokens: how a HIT page addresses its HIT, screens and images.

Every token is random and of one length, so nothing in a page (a gold screen, a made-gold
variant, the order of planning) can be read off the names it uses.
"""

from __future__ import annotations

import secrets

TOKEN_BYTES = 12
TOKEN_LENGTH = 16  # base64 of 12 bytes: no padding, always 16 characters
TOKEN_PATTERN = r"^[A-Za-z0-9_-]{16}$"


def new_token() -> str:
    """A fresh random token of :data:`TOKEN_LENGTH` URL-safe characters (96 bits)."""
    return secrets.token_urlsafe(TOKEN_BYTES)
