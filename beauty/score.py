"""`beauty score`, `curate`, `similar`, `personalize` and `export`: a trained model at work."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import pandas as pd

from beauty.common import emit, json_option, run_context
from infra.errors import BeautyError

model_option = click.option(
    "--model", required=True, help="The run: runs/NAME, or the NAME of a run in the workspace."
)
batch_option = click.option(
    "--batch-size", default=16, show_default=True, type=click.IntRange(1), help="Images per call."
)
scores_option = click.option(
    "--scores",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A table written by `beauty score` [default: the gallery's, under runs/NAME/scores/].",
)
gallery_option = click.option(
    "--gallery", help="Folder or s3://bucket/prefix [default: the workspace's images]."
)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows with plain Python values, ready for JSON."""
    rows: list[dict[str, Any]] = json.loads(frame.to_json(orient="records"))
    return rows


def _progress(as_json: bool) -> Callable[[str], None]:
    def say(line: str) -> None:
        click.echo(line, err=as_json)

    return say


@click.command("score")
@click.argument("gallery", required=False)
@model_option
@batch_option
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Table, .parquet or .csv [default: runs/NAME/scores/<gallery>.parquet].",
)
@click.option(
    "--chunk", default=1024, show_default=True, type=click.IntRange(1), help="Images per part."
)
@click.option(
    "--engine",
    type=click.Choice(["local", "ray"]),
    default="local",
    show_default=True,
    help="local: this process; ray: an actor pool of model replicas on a Ray cluster.",
)
@click.option(
    "--address",
    help="Ray cluster: auto, HOST:PORT or ray://HOST:PORT [default: a Ray started for this call].",
)
@click.option(
    "--cpus-per-replica",
    default=1.0,
    show_default=True,
    type=click.FloatRange(0, min_open=True),
    help="Ray: CPUs per model replica (one replica per GPU when the cluster has GPUs).",
)
@click.option(
    "--replicas",
    default=0,
    show_default=True,
    type=click.IntRange(0),
    help="Ray: model replicas [0: as many as the cluster's CPUs or GPUs allow].",
)
@json_option
def score_command(
    gallery: str | None,
    model: str,
    batch_size: int,
    out: Path | None,
    chunk: int,
    engine: str,
    address: str | None,
    cpus_per_replica: float,
    replicas: int,
    as_json: bool,
) -> None:
    """Score every image of GALLERY (a folder or s3://bucket/prefix; default: the workspace's
    images) with a trained run: a table of scores and percentiles, and the embeddings beside it.

    Streams in batches and resumes: run it again after an interruption, and only the images
    not scored yet are scored. Unreadable images are reported and skipped. `--engine ray`
    scores on a Ray cluster (pip install 'beauty-crowd[ray]') and writes the same files.
    """
    ws, run_dir = run_context(model)
    from scoring.gallery import score_gallery
    from scoring.ray_engine import RayOptions, import_ray

    if engine == "ray":
        import_ray()  # before any listing: a missing extra is one line

    result = score_gallery(
        run_dir,
        gallery,
        workspace=ws,
        out=out,
        batch_size=batch_size,
        chunk=chunk,
        progress=_progress(as_json),
        engine=engine,
        ray=RayOptions(address, cpus_per_replica, replicas),
    )
    row = {
        "table": str(result.files.table),
        "embeddings": str(result.files.embeddings),
        "images": len(result.table),
        "scored": result.scored,
        "reused": result.reused,
        "skipped": len(result.skipped),
        "images_per_second": round(result.images_per_second, 2),
    }
    if as_json:
        emit([row], True, [])
        return
    click.echo(
        f"{row['images']} images in the table: {result.scored} scored now "
        f"({row['images_per_second']} images/s, model loading included), {result.reused} "
        f"before, {row['skipped']} skipped"
    )
    click.echo(f"table       {row['table']}\nembeddings  {row['embeddings']}")


@click.command("curate")
@click.argument("gallery", required=False)
@model_option
@click.option("--top", help="A share (5%) or a count (100) of the gallery, best first.")
@click.option(
    "--keep-recall",
    type=click.FloatRange(0, 1, min_open=True),
    help="Cut where the held-out evaluation kept this share of the top 5% (e.g. 0.95).",
)
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Album folder: new, empty, or an earlier album (replaced).",
)
@click.option("--link", is_flag=True, help="Symbolic links to the originals instead of copies.")
@click.option("--xmp", is_flag=True, help="Star-rating sidecars beside the album's photos.")
@click.option(
    "--xmp-originals",
    is_flag=True,
    help="Star-rating sidecars beside the originals (existing ones are left alone).",
)
@scores_option
@batch_option
@json_option
def curate_command(
    gallery: str | None,
    model: str,
    top: str | None,
    keep_recall: float | None,
    out: Path,
    link: bool,
    xmp: bool,
    xmp_originals: bool,
    scores: Path | None,
    batch_size: int,
    as_json: bool,
) -> None:
    """Copy the best photos of GALLERY into an album named by rank, with a contact sheet
    (HTML and PNG) and optional XMP star ratings (tier 0..3 -> 1..4 stars).

    Uses the gallery's table from `beauty score`; scores the gallery first when it has none.
    """
    ws, run_dir = run_context(model)
    from scoring.albums import curate, parse_top

    album = curate(
        run_dir,
        out,
        top=parse_top(top) if top is not None else None,
        keep_recall=keep_recall,
        gallery=gallery,
        scores=scores,
        workspace=ws,
        link=link,
        xmp=xmp,
        xmp_beside_originals=xmp_originals,
        batch_size=batch_size,
        progress=_progress(as_json),
    )
    if as_json:
        emit(_records(album.photos), True, [])
        return
    click.echo(
        f"album {album.folder}: {len(album.photos)} of {album.gallery_images} photos "
        f"({album.rule}); the gallery's other {album.skipped_share:.1%} can be skipped"
    )
    if album.cut is not None:
        cut = album.cut
        click.echo(
            f"on {cut.heldout_images} held-out images this line kept {cut.heldout_kept} and "
            f"skipped {cut.heldout_reduction:.1%}"
        )
    if album.xmp_written or album.xmp_kept:
        click.echo(
            f"{album.xmp_written} XMP sidecar(s) written, {len(album.xmp_kept)} existing kept"
        )
    click.echo(f"contact sheet  {album.sheet_html}\n               {album.sheet_png}")


@click.command("similar")
@click.argument("image")
@model_option
@click.option(
    "--k",
    default=12,
    show_default=True,
    type=click.IntRange(1),
    help="How many nearest photos to show (the query itself is left out).",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the contact sheet [default: runs/NAME/similar/<photo>]; an earlier "
    "sheet there is replaced.",
)
@gallery_option
@scores_option
@json_option
def similar_command(
    image: str,
    model: str,
    k: int,
    out: Path | None,
    gallery: str | None,
    scores: Path | None,
    as_json: bool,
) -> None:
    """The K photos of a scored gallery most like IMAGE (an id, URI or file name of the
    gallery, or the path of any photo), by the model's embeddings, with a contact sheet."""
    ws, run_dir = run_context(model)
    from scoring.similar import similar

    found = similar(
        run_dir,
        image,
        k=k,
        gallery=gallery,
        scores=scores,
        workspace=ws,
        out=out,
        progress=_progress(as_json),
    )
    rows = _records(found.photos)
    if as_json:
        emit(rows, True, [])
        return
    emit(rows, False, ["rank", "image", "similarity", "score", "uri"])
    click.echo(f"searched in {found.seconds:.2f} s; contact sheet {found.sheet_html}")


@click.command("personalize")
@model_option
@click.option("--labeler", required=True, help="The name the person labels under.")
@click.option("--name", help="The new run [default: MODEL-LABELER].")
@click.option(
    "--holdout",
    default=0.2,
    show_default=True,
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    help="Share of their comparisons held out to measure agreement.",
)
@click.option(
    "--seed",
    default=0,
    show_default=True,
    type=int,
    help="Seed of the held-out split of the person's comparisons.",
)
@click.option(
    "--min-votes",
    default=20,
    show_default=True,
    type=click.IntRange(2),
    help="Fewest decisive comparisons (a winner between two photos) to personalize from.",
)
@click.option(
    "--force",
    is_flag=True,
    help="Write the personal run even when it agrees with the person no better than the base.",
)
@json_option
def personalize_command(
    model: str,
    labeler: str,
    name: str | None,
    holdout: float,
    seed: int,
    min_votes: int,
    force: bool,
    as_json: bool,
) -> None:
    """Teach a run one person's taste: refit its head on their own comparisons (from
    `beauty label serve`) and write the new run runs/MODEL-LABELER."""
    ws, run_dir = run_context(model)
    if ws is None:
        raise BeautyError("personalize works in a workspace: pass --workspace DIR")
    from crowd.votes import labeler_votes
    from scoring.personalize import personalize

    taste = personalize(
        ws,
        run_dir,
        labeler,
        labeler_votes(ws.ledger, labeler),
        name=name,
        holdout=holdout,
        seed=seed,
        min_votes=min_votes,
        progress=_progress(as_json),
        force=force,
    )
    row = {
        "run": taste.name,
        "run_dir": str(taste.run_dir),
        "base_run": taste.base_run,
        "labeler": taste.labeler,
        "train_votes": taste.train_votes,
        "heldout_votes": taste.heldout_votes,
        "agreement_before": round(taste.agreement_before, 4),
        "agreement_after": round(taste.agreement_after, 4),
        "written": taste.written,
    }
    if as_json:
        emit([row], True, [])
        return
    if not taste.written:
        click.echo(
            f"kept the base run {taste.base_run}: a head fitted to {labeler} agreed with "
            f"{taste.agreement_after:.1%} of their {taste.heldout_votes} held-out comparisons, "
            f"no better than the base run's {taste.agreement_before:.1%}; nothing written "
            "(label more, or --force to write it anyway)"
        )
        return
    click.echo(
        f"run {taste.name} ({taste.run_dir}): agreement with {labeler} on "
        f"{taste.heldout_votes} held-out comparisons {taste.agreement_before:.1%} -> "
        f"{taste.agreement_after:.1%} ({taste.train_votes} used to fit)"
    )


@click.command("export")
@model_option
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the SavedModel, e.g. serving/NAME/1 (TensorFlow Serving's version folder).",
)
def export_command(model: str, out: Path) -> None:
    """Write the run as a TensorFlow SavedModel for serving: uint8 (serving_default) or float
    (serving_float) RGB images of any size in; score and embedding out."""
    _, run_dir = run_context(model)
    from scoring.export import export_savedmodel

    click.echo(f"SavedModel {export_savedmodel(run_dir, out)}")
