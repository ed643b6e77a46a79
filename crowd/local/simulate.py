"""A simulated crowd working the local market over HTTP, exactly as the HIT page does.

Each simulated worker is a thread with its own session: it asks for the next HIT, answers every
screen with its worker model (:mod:`ranking.crowd`), and submits. As our own instrument it may
read the ledger to learn which image an opaque token stands for; the server learns nothing
from it that a browser would not send.
"""

from __future__ import annotations

import csv
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from crowd.answers import HitAnswer, ScreenAnswer
from crowd.local.api import ScreenRef
from crowd.local.client import MarketClient, MarketError
from crowd.local.labelers import invite
from crowd.local.server import start_server
from crowd.truth import load_truth, load_votes
from infra.errors import BeautyError
from infra.ledger import Ledger, utcnow
from infra.progress import bar
from infra.workspace import Workspace
from ranking.crowd import (
    HONEST_SKILL,
    HonestWorker,
    ReplayCrowd,
    WorkerModel,
    answer_seconds,
    make_crowd,
)

OPEN_LOCAL_IMAGES = (
    "SELECT DISTINCT si.image_id FROM screen_images si JOIN screens s ON s.id = si.screen_id "
    "JOIN hits h ON h.id = s.hit_id JOIN batches b ON b.id = h.batch_id "
    "WHERE b.market = 'local' AND b.state = 'open'"
)


@dataclass
class SimulationReport:
    """What a simulated crowd did: assignments submitted in all and per kind of worker;
    ``refused``: submits turned down as already taken (409), ``unreadable``: answers refused as
    unreadable (422)."""

    url: str
    workers: int
    submissions: int
    unreadable: int
    refused: int
    seconds: float
    workers_by_kind: dict[str, int] = field(default_factory=dict)
    submissions_by_kind: dict[str, int] = field(default_factory=dict)
    kind_of: dict[str, str] = field(default_factory=dict)
    timings: dict[str, list[float]] = field(default_factory=dict, repr=False)

    def rows(self) -> list[dict[str, Any]]:
        """One summary row per kind of worker."""
        return [
            {
                "kind": kind,
                "workers": n,
                "assignments": self.submissions_by_kind.get(kind, 0),
            }
            for kind, n in sorted(self.workers_by_kind.items())
        ]


def simulate_crowd(
    ws: Workspace,
    workers: int,
    spammers: float,
    truth_path: str | Path | None = None,
    replay_path: str | Path | None = None,
    url: str | None = None,
    seed: int = 0,
    access_code: str | None = None,
) -> SimulationReport:
    """Let a simulated crowd work the open local batches until nothing is left for it.

    Parameters
    ----------
    ws : Workspace
        Its ledger maps image tokens to images; with no ``url`` a server for it is started
        in-process on a free loopback port.
    workers : int
        Crowd size.
    spammers : float
        Fraction of random clickers, always-left, select-all and select-none workers.
    truth_path : path, optional
        ``truth.csv`` (columns ``image, beauty``) that honest workers perceive.
    replay_path : path, optional
        Recorded votes (``worker, left, right, label``) that honest workers replay instead.
    url : str, optional
        A running labeling server for this workspace.
    seed : int
        Fixes the crowd and its answers (the order HITs are handed out still varies).
    access_code : str, optional
        The access code of the server at ``url`` (default: ``label.access_code``, e.g. from
        ``BEAUTY_LABEL__ACCESS_CODE``); the server started for the run needs none.
    """
    if (truth_path is None) == (replay_path is None):
        raise BeautyError("give the crowd a truth: --truth truth.csv or --replay votes.csv")
    if workers < 1 or not 0 <= spammers <= 1:
        raise BeautyError("need --workers >= 1 and --spammers between 0 and 1")
    ledger = ws.ledger
    crowd = make_crowd(workers, spammers, s_range=HONEST_SKILL, seed=seed)
    truth: dict[str, float] = {}
    if truth_path is not None:
        truth = load_truth(ledger, Path(truth_path), required=_open_images(ledger))
    else:
        try:
            replay = ReplayCrowd(load_votes(ledger, Path(replay_path or "")))
        except ValueError as exc:
            raise BeautyError(f"{replay_path}: {exc}") from None
        crowd = {name: replay if isinstance(m, HonestWorker) else m for name, m in crowd.items()}
    progress = bar(_open_slots(ledger), desc="simulating", unit="assignment")
    started = time.monotonic()
    with ExitStack() as stack:
        stack.callback(progress.close)
        access_code = access_code or ws.settings.label.access_code
        if url is None:
            url, access_code = stack.enter_context(start_server(ws)).url, None
        run = run_crowd(
            url,
            crowd,
            truth,
            ledger,
            seed=seed,
            seconds_per_screen=ws.settings.hits.seconds_per_screen,
            access_code=access_code,
            progress=progress.update,
        )
    kinds = {name: type(model).__name__ for name, model in crowd.items()}
    _write_kinds(ws, kinds)
    by_kind: Counter[str] = Counter()
    for name, n in run.submitted.items():
        by_kind[kinds[name]] += n
    return SimulationReport(
        url=url,
        workers=len(crowd),
        submissions=sum(run.submitted.values()),
        unreadable=run.unreadable,
        refused=run.refused,
        seconds=time.monotonic() - started,
        workers_by_kind=dict(Counter(kinds.values())),
        submissions_by_kind=dict(by_kind),
        kind_of=kinds,
        timings=run.timings,
    )


@dataclass
class CrowdRun:
    """Per worker assignments submitted, refusals, unreadable answers, and every call's
    latency."""

    submitted: Counter[str] = field(default_factory=Counter)
    refused: int = 0
    unreadable: int = 0
    timings: dict[str, list[float]] = field(default_factory=dict)


class Budget:
    """At most ``limit`` submissions across all threads (None: no limit)."""

    def __init__(self, limit: int | None) -> None:
        self._left = limit
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            if self._left is None:
                return True
            if self._left <= 0:
                return False
            self._left -= 1
            return True

    def give_back(self) -> None:
        with self._lock:
            if self._left is not None:
                self._left += 1


def run_crowd(
    url: str,
    crowd: Mapping[str, WorkerModel],
    truth: Mapping[str, float],
    ledger: Ledger,
    *,
    seed: int,
    seconds_per_screen: float,
    access_code: str | None = None,
    limit: int | None = None,
    progress: Callable[[int], object] | None = None,
) -> CrowdRun:
    """Every worker of ``crowd`` on its own thread, submitting until nothing is left.

    ``limit`` caps the submissions of the whole crowd. Each worker's loop is bounded by the
    number of HITs in the ledger: no worker gets a HIT twice. Each worker signs in with a key
    for its name, issued through the ledger as ``beauty label invite`` issues one.
    """
    max_hits = int(ledger.scalar("SELECT COUNT(*) FROM hits")) + 1
    budget = Budget(limit)
    run = CrowdRun()
    lock = threading.Lock()

    def work(index: int, name: str, model: WorkerModel) -> None:
        rng = np.random.default_rng([seed, index])
        client = MarketClient(url)
        try:
            client.sign_in(name, access_code, invite(ledger, name, utcnow()).new_key)
            for _ in range(max_hits):
                if not budget.take():
                    break
                hit = client.next_hit()
                if hit is None:
                    budget.give_back()
                    break
                answer = _answer(
                    hit.hit, hit.screens, model, truth, ledger, rng, seconds_per_screen
                )
                try:
                    client.submit(hit, answer)
                except MarketError as exc:
                    if exc.status not in (409, 422):
                        raise
                    with lock:  # 422: the assignment stays this worker's, for another try
                        run.refused += exc.status == 409
                        run.unreadable += exc.status == 422
                    continue
                with lock:
                    run.submitted[name] += 1
                if progress is not None:
                    progress(1)
        finally:
            client.close()
            ledger.close()
            with lock:
                for op, seconds in client.timings.items():
                    run.timings.setdefault(op, []).extend(seconds)

    with ThreadPoolExecutor(max_workers=len(crowd), thread_name_prefix="worker") as pool:
        futures = [pool.submit(work, i, n, m) for i, (n, m) in enumerate(crowd.items())]
        for future in futures:
            future.result()
    return run


def _answer(
    hit_token: str,
    screens: list[ScreenRef],
    model: WorkerModel,
    truth: Mapping[str, float],
    ledger: Ledger,
    rng: np.random.Generator,
    seconds_per_screen: float,
) -> HitAnswer:
    tokens = [image.token for s in screens for image in s.images]
    marks = ",".join("?" * len(tokens))
    image_of: dict[str, str] = {
        r[0]: r[1]
        for r in ledger.query(
            f"SELECT token, image_id FROM screen_images WHERE token IN ({marks})", tokens
        )
    }
    parts = []
    for screen in screens:
        shown = [image_of[image.token] for image in screen.images]
        # Per screen: a photo may appear on two screens of one HIT, under two tokens.
        token_of = {image_of[image.token]: image.token for image in screen.images}
        chosen = model.choose(shown, screen.kind, truth, rng)
        pace = answer_seconds(model, shown, screen.kind, truth, rng)
        parts.append(
            ScreenAnswer(
                screen=screen.token,
                selected=[token_of[i] for i in chosen],
                seconds=round(float(pace * seconds_per_screen), 2),
            )
        )
    return HitAnswer(hit=hit_token, screens=parts)


def _write_kinds(ws: Workspace, kinds: Mapping[str, str]) -> None:
    """Record each simulated worker's true kind (``reports/simulated-workers.csv``), merged
    with earlier runs', so that ``beauty hits review`` can score the review against it."""
    path = ws.reports_dir / "simulated-workers.csv"
    known: dict[str, str] = {}
    if path.exists():
        with path.open(newline="", encoding="utf-8") as f:
            known = {row["worker"]: row["kind"] for row in csv.DictReader(f)}
    known.update(kinds)
    ws.reports_dir.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["worker", "kind"])
        writer.writerows(sorted(known.items()))


def _open_images(ledger: Ledger) -> list[str]:
    return [r[0] for r in ledger.query(OPEN_LOCAL_IMAGES)]


def _open_slots(ledger: Ledger) -> int:
    """Answers still wanted by the open local batches."""
    return int(
        ledger.scalar(
            "SELECT COALESCE(SUM(b.assignments), 0) - (SELECT COUNT(*) FROM assignments a "
            "  JOIN hits h2 ON h2.id = a.hit_id JOIN batches b2 ON b2.id = h2.batch_id "
            "  WHERE b2.market = 'local' AND b2.state = 'open' AND a.state != 'abandoned') "
            "FROM hits h JOIN batches b ON b.id = h.batch_id "
            "WHERE b.market = 'local' AND b.state = 'open'"
        )
    )
