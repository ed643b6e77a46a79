"""Per-HIT image copies on moto's S3: no URL links HITs together or gives a gold variant away."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from crowd.content import hit_content
from crowd.gold_items import make_gold
from infra.errors import BeautyError
from infra.sources import split_s3
from mturk.post import post_batches
from tests.crowd.market_fixtures import gallery_workspace, plan
from tests.mturk.fake_mturk import FakeMTurk
from tests.mturk.mturk_campaign import (
    BUCKET,
    Campaign,
    Crash,
    dummy_aws,
    make_campaign,
    page_image_urls,
    push,
    question_html,
)

ROOT = "/gallery/h/"  # every copy's path starts here: the push prefix, then "h/"


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Campaign]:
    """6 four-up HITs over 6 photos and 4 made-gold variants (half the screens gold), pushed."""
    dummy_aws(monkeypatch)
    with FakeMTurk() as fake:
        campaign = make_campaign(tmp_path, fake, hits=1, pushed=False)
        ws = campaign.ws = gallery_workspace(tmp_path / "gold", n_images=6)
        ws.settings.mturk.endpoint_url = fake.url
        make_gold(ws, 4, qualification_share=0.0)
        campaign.batch = plan(
            ws,
            hits=6,
            assignments=1,
            design="fourup",
            screens_per_hit=4,
            gold_rate=0.5,
            market="mturk",
        )
        push(ws, campaign.s3)
        yield campaign


def post(world: Campaign) -> None:
    post_batches(world.ws, client=world.client, s3_client=world.s3)


def shown(world: Campaign) -> dict[int, dict[str, str]]:
    """Per HIT of ours: image id -> the URL path its page loads it from."""
    by_remote = {h["remote_id"]: int(h["id"]) for h in world.hits()}
    out: dict[int, dict[str, str]] = {}
    for remote, hit in world.fake.hits.items():
        urls = page_image_urls(question_html(hit["Question"]))
        ids = hit_content(world.ws.ledger, by_remote[remote]).image_ids()
        paths = {ids[token]: urlsplit(url).path for token, url in urls.items()}
        out[by_remote[remote]] = paths
    return out


def test_two_hits_never_share_an_image_url(world: Campaign) -> None:
    post(world)
    paths = shown(world)
    seen: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for hit, images in paths.items():
        assert len(set(images.values())) == len(images), f"HIT {hit}: two images, one URL"
        for image, path in images.items():
            seen[image].append((hit, path))
    repeated = {image: uses for image, uses in seen.items() if len(uses) > 1}
    assert repeated, "the plan should show some photo in two HITs"
    for image, uses in repeated.items():
        assert len({path for _, path in uses}) == len(uses), f"image {image}: one URL in two HITs"


def test_no_path_component_is_shared_across_hits_or_names_an_image(world: Campaign) -> None:
    post(world)
    paths = shown(world)
    pushed = {r[0] for r in world.ws.ledger.query("SELECT uri FROM image_uris")}
    ids = {r[0] for r in world.ws.ledger.query("SELECT id FROM images")}
    variants = {r[0] for r in world.ws.ledger.query("SELECT id FROM images WHERE derived_from")}
    components: dict[str, set[int]] = defaultdict(set)
    for hit, images in paths.items():
        for path in images.values():
            assert path.startswith(f"/{BUCKET}{ROOT}") or path.startswith(ROOT), path
            own = path.split(ROOT, 1)[1].split("/")
            assert len(own) == 2, f"{path}: expected h/<HIT folder>/<name>"
            for part in own:
                components[part].add(hit)
                assert not any(i in part for i in ids), f"{path} names an image id"
            assert not any(split_s3(u)[1] in path for u in pushed if u.startswith("s3://"))
    shared = {part: hits for part, hits in components.items() if len(hits) > 1}
    assert not shared, f"path components in several HITs: {shared}"
    variant_paths = [p for images in paths.values() for i, p in images.items() if i in variants]
    assert variant_paths, "the plan should show made-gold variants"


def test_copies_hold_the_image_and_its_content_type(world: Campaign) -> None:
    post(world)
    rows = world.ws.ledger.query("SELECT source, uri FROM mturk_image_copies")
    assert len(rows) == sum(len(images) for images in shown(world).values())
    for row in rows[:8]:
        source, copy = (world.s3.get_object(Bucket=BUCKET, Key=split_s3(u)[1]) for u in row)
        assert copy["Body"].read() == source["Body"].read()
        assert copy["ContentType"] == source["ContentType"] == "image/jpeg"


def test_a_post_run_again_reuses_the_recorded_copies(world: Campaign) -> None:
    world.crash("before", "CreateHITWithHITType", on_call=2)
    with pytest.raises(Crash):
        post(world)
    before = {
        (r["hit_id"], r["image_id"]): r["uri"]
        for r in world.ws.ledger.query("SELECT * FROM mturk_image_copies")
    }
    assert {hit for hit, _ in before} == {1, 2}  # recorded (and copied) before each HIT's call
    copied = world.s3.list_objects_v2(Bucket=BUCKET, Prefix="gallery/h/")["KeyCount"]
    lost = next(uri for (hit, _), uri in before.items() if hit == 2)  # HIT 2 was never created
    world.s3.delete_object(Bucket=BUCKET, Key=split_s3(lost)[1])
    post(world)
    after = {
        (r["hit_id"], r["image_id"]): r["uri"]
        for r in world.ws.ledger.query("SELECT * FROM mturk_image_copies")
    }
    assert {k: after[k] for k in before} == before
    assert world.s3.list_objects_v2(Bucket=BUCKET, Prefix="gallery/h/")["KeyCount"] == len(after)
    assert len(after) > copied
    for hit, images in shown(world).items():
        for image, path in images.items():
            assert path.endswith(split_s3(after[(hit, image)])[1])


def test_a_refused_copy_stops_the_post_with_what_to_fix(world: Campaign) -> None:
    first = next(iter(hit_content(world.ws.ledger, 1).image_ids().values()))
    source = world.ws.ledger.scalar(
        "SELECT uri FROM image_uris WHERE kind = 'pushed' AND image_id = ?", (first,)
    )
    world.s3.delete_object(Bucket=BUCKET, Key=split_s3(str(source))[1])
    with pytest.raises(BeautyError, match="s3:PutObject"):
        post(world)
    assert not world.fake.hits
