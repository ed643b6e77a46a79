"""The HIT page: one template for MTurk, the local labeling server and offline previews.

The page shows one screen at a time and keeps every answer in the browser until the worker
submits: on MTurk as one hidden form field per screen posted to ``externalSubmit``, locally as
the same answer in JSON posted to the server. Screens, images and the HIT are named only by
opaque tokens, and gold screens are rendered exactly like the others.

Presigned S3 URLs run to about 1.5 KB each, most of it query parameters every URL shares
(credential, date, security token); the page carries those once and each image's own part (its
path and signature) once, which keeps it under MTurk's question size (:mod:`mturk.question`).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Literal

import jinja2

from crowd.answers import HIT_FIELD, MAX_SECONDS
from crowd.content import HitContent, hit_content
from infra.errors import BeautyError
from infra.images import EXTENSIONS
from infra.progress import bar
from infra.sources import read_verified
from infra.workspace import Workspace

Mode = Literal["mturk", "local", "preview"]
PREVIEW_ASSIGNMENT = "ASSIGNMENT_ID_NOT_AVAILABLE"  # what MTurk passes before a worker accepts
DEFAULT_INSTRUCTIONS = (
    "These are photos of one city skyline, taken at different times. Judge each as a photo: "
    "light, sharpness, colour, and whether the view is worth showing."
)
SLOTS = 4


def render_hit_page(
    content: HitContent,
    *,
    mode: Mode,
    image_url: Callable[[str], str],
    submit_url: str = "",
    assignment_id: str | None = None,
    instructions: str | None = None,
    no_preference: bool = True,
    next_url: str | None = None,
) -> str:
    """Render one HIT's page.

    Parameters
    ----------
    content : HitContent
        What the HIT shows (:func:`crowd.content.hit_content`).
    mode : {"mturk", "local", "preview"}
        ``mturk``: a form posted to ``submit_url`` (MTurk's externalSubmit, see
        :mod:`mturk.question`) with the assignment id, which the page also reads from its own
        URL as MTurk passes it; while that id is :data:`PREVIEW_ASSIGNMENT` there is no submit
        button. ``local``: the page POSTs the answer as JSON (:class:`crowd.answers.HitAnswer`)
        to ``submit_url``, then goes to the ``next`` URL of the JSON reply, else ``next_url``,
        else reloads; an error reply ``{"error": "..."}`` is shown and the answer kept for
        another try. ``preview``: no submit; the last step shows the answer that would be sent.
    image_url : callable
        Image token -> URL the browser loads it from.
    submit_url : str
        Where the answer goes (``mturk`` and ``local``).
    assignment_id : str, optional
        The assignment's id, where known when rendering.
    instructions : str, optional
        Replaces the default first line of the instructions (plain text).
    no_preference : bool
        Offer "No preference" on pairs.
    next_url : str, optional
        Local mode: where to go after a successful submit.
    """
    urls = {token: image_url(token) for s in content.screens for token, _ in s.images}
    unique = list(dict.fromkeys(urls.values()))
    index = {u: i for i, u in enumerate(unique)}
    base, query, entries = compact_urls(unique)
    preview = assignment_id == PREVIEW_ASSIGNMENT
    data = {
        "mode": mode,
        "hit": content.hit_token,
        "base": base,
        "query": query,
        "urls": entries,
        "screens": [
            {
                "token": s.token,
                "kind": s.kind,
                "images": [[token, index[urls[token]]] for token, _ in s.images],
            }
            for s in content.screens
        ],
        "no_preference": no_preference,
        "max_seconds": MAX_SECONDS,
        "submit_url": submit_url,
        "next_url": next_url,
        "preview_assignment": PREVIEW_ASSIGNMENT,
    }
    labels = {"mturk": None if preview else "Submit", "local": "Submit", "preview": "Show answer"}
    return _template().render(
        data=data,
        instructions=instructions or DEFAULT_INSTRUCTIONS,
        kinds={s.kind for s in content.screens},
        no_preference=no_preference,
        submit_url=submit_url if mode == "mturk" else "",
        assignment_id=assignment_id or "",
        hit_field=HIT_FIELD,
        hit_token=content.hit_token,
        screen_tokens=[s.token for s in content.screens],
        slots=SLOTS,
        submit_label=labels[mode],
        preview=preview,
    )


def compact_urls(urls: list[str]) -> tuple[str, list[str | int] | None, list[list[str]]]:
    """Factor what a page's image URLs share, so that each part travels once.

    Returns ``(base, query, entries)``. Every URL is ``base + entry[0]``, followed, when
    ``query`` is not None, by ``"?"`` and the query parameters in their original order: a
    string in ``query`` is a parameter all URLs share, a ``0`` takes the URL's next own part
    from ``entry[1:]``. URLs come back byte for byte.
    """
    split = [u.partition("?") for u in urls]
    prefix = _common_folder([b for b, _, _ in split])
    parts = [q.split("&") for _, sep, q in split if sep]
    if not urls or len(parts) != len(urls) or len({len(p) for p in parts}) != 1:
        return prefix, None, [[u[len(prefix) :]] for u in urls]
    query: list[str | int] = [p[0] if len(set(p)) == 1 else 0 for p in zip(*parts, strict=True)]
    entries = [
        [b[len(prefix) :], *(x for x, q in zip(own, query, strict=True) if q == 0)]
        for (b, _, _), own in zip(split, parts, strict=True)
    ]
    return prefix, query, entries


def _common_folder(bases: list[str]) -> str:
    """The longest prefix ending in "/" that every base starts with."""
    prefix = bases[0][: bases[0].rfind("/") + 1] if bases else ""
    while not all(b.startswith(prefix) for b in bases):
        prefix = prefix[: prefix.rstrip("/").rfind("/") + 1]
    return prefix


def preview_hit(ws: Workspace, hit_id: int, out_dir: Path) -> Path:
    """Write ``out_dir/page.html`` and the HIT's images, named by their tokens, to open offline.

    Returns the page's path.
    """
    content = hit_content(ws.ledger, hit_id)
    out_dir.mkdir(parents=True, exist_ok=True)
    ids = content.image_ids()
    rows = {
        row["id"]: row
        for row in ws.ledger.query(
            "SELECT DISTINCT i.id, i.uri, i.format FROM images i "
            "JOIN screen_images si ON si.image_id = i.id "
            "JOIN screens s ON s.id = si.screen_id WHERE s.hit_id = ?",
            (hit_id,),
        )
    }
    names = {token: f"{token}.{EXTENSIONS[rows[image]['format']]}" for token, image in ids.items()}
    written: dict[str, Path] = {}
    progress = bar(len(ids), desc="copying")
    for token, image in ids.items():
        target = out_dir / names[token]
        if image in written:
            shutil.copyfile(written[image], target)
        else:
            uri = rows[image]["uri"]
            try:
                target.write_bytes(read_verified(uri, image))
            except Exception as exc:  # local and S3 sources fail with their own error types
                raise BeautyError(
                    f"image {image}: cannot read {uri} ({exc}); restore the gallery file"
                ) from None
            written[image] = target
        progress.update(1)
    progress.close()
    html = render_hit_page(
        content,
        mode="preview",
        image_url=names.__getitem__,
        no_preference=ws.settings.hits.no_preference,
    )
    page = out_dir / "page.html"
    page.write_text(html, encoding="utf-8")
    return page


@cache
def _template() -> jinja2.Template:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("crowd", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    return env.get_template("hit.html.j2")
