"""What one HIT shows: its screens in shown order, each with its images and their tokens."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from infra.errors import BeautyError
from infra.ledger import Ledger

ScreenKind = Literal["pair", "fourup"]


@dataclass(frozen=True)
class ScreenContent:
    """One screen of a HIT.

    ``images`` holds ``(image token, image id)`` in shown order; ``gold_id`` names the gold
    item behind a gold screen and is never rendered.
    """

    screen_id: int
    token: str
    kind: ScreenKind
    images: list[tuple[str, str]]
    gold_id: int | None = None


@dataclass(frozen=True)
class HitContent:
    """One HIT: its token and its screens in shown order."""

    hit_id: int
    hit_token: str
    screens: list[ScreenContent]

    def image_ids(self) -> dict[str, str]:
        """Image token -> image id, over every screen."""
        return {token: image for s in self.screens for token, image in s.images}


def hit_content(ledger: Ledger, hit_id: int) -> HitContent:
    """Read what HIT ``hit_id`` shows from the ledger."""
    hit = ledger.one("SELECT id, token FROM hits WHERE id = ?", (hit_id,))
    if hit is None:
        raise BeautyError(f"no HIT {hit_id}: see `beauty hits list` for the HITs planned")
    rows = ledger.query(
        "SELECT s.id, s.token, s.kind, s.gold_id, i.token AS image_token, i.image_id "
        "FROM screens s JOIN screen_images i ON i.screen_id = s.id "
        "WHERE s.hit_id = ? ORDER BY s.position, i.position",
        (hit_id,),
    )
    screens: list[ScreenContent] = []
    for row in rows:
        if not screens or screens[-1].screen_id != row["id"]:
            screens.append(ScreenContent(row["id"], row["token"], row["kind"], [], row["gold_id"]))
        screens[-1].images.append((row["image_token"], row["image_id"]))
    return HitContent(hit_id=hit["id"], hit_token=hit["token"], screens=screens)
