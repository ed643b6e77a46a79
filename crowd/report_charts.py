"""The worker report's charts: every worker on every chart, each with a legend and a caption.

A worker the review rejected or excluded is often the one without a learned reliability (their
votes are left out of the fit) or without gold: exactly the worker QA looks for. So a missing
value is drawn beyond a dashed line at the edge of the chart instead of being dropped, and the
outcome (kept, excluded, rejected) has its own colour and marker.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.artist import Artist
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

# outcome -> colour, marker, legend text
STYLE = {
    "kept": ("#357", "o", "kept"),
    "excluded": ("#c33", "s", "excluded from further HITs"),
    "rejected": ("#c33", "X", "rejected (work not paid)"),
}
GAP = 0.15  # missing values sit this share of the axis span beyond the lowest value


@dataclass
class Chart:
    title: str
    caption: str
    figure: Figure
    points: int  # markers drawn: one per worker on a scatter chart


def worker_charts(
    workers: pd.DataFrame, outcomes: dict[str, str], scores: pd.Series, tiers: Sequence[float]
) -> list[Chart]:
    """The report's charts: gold accuracy against learned reliability, speed against
    agreement (one marker per worker in ``workers``, styled by ``outcomes``: kept, excluded or
    rejected; a worker without an outcome counts as kept), and the score distribution with its
    tier lines."""
    outcome = workers["worker"].astype(str).map(outcomes).fillna("kept")
    return [
        _scatter(
            workers, outcome, ("gold_accuracy", "gold accuracy"),
            ("learned_reliability", "learned reliability"),
        ),
        _scatter(
            workers, outcome, ("median_seconds", "median seconds per screen"),
            ("agreement", "agreement with consensus"),
        ),
        _histogram(scores, tiers),
    ]  # fmt: skip


def _scatter(
    workers: pd.DataFrame, outcome: pd.Series, x: tuple[str, str], y: tuple[str, str]
) -> Chart:
    from matplotlib.figure import Figure  # matplotlib takes a while to import: only for plots
    from matplotlib.lines import Line2D

    fig = Figure(figsize=(5, 4))
    ax = fig.subplots()
    xs = workers[x[0]].astype(float).to_numpy()
    ys = workers[y[0]].astype(float).to_numpy()
    px, x_line = _with_missing(xs)
    py, y_line = _with_missing(ys)
    counts = []
    for kind, (colour, marker, label) in STYLE.items():
        mine = (outcome == kind).to_numpy()
        if mine.any():
            ax.scatter(px[mine], py[mine], c=colour, marker=marker, alpha=0.75, label=label)
            counts.append(f"{int(mine.sum())} {label}")
    notes = []
    handles, _ = ax.get_legend_handles_labels()
    axes = ((x_line, xs, x[1], "left of"), (y_line, ys, y[1], "below"))
    for line, values, name, side in axes:
        if line is None:
            continue
        draw = ax.axvline if side == "left of" else ax.axhline
        draw(line, color="#999", linestyle="--", linewidth=1)
        text = f"{side} the dashed line: no {name}"
        handles.append(Line2D([], [], color="#999", linestyle="--", label=text))
        notes.append(f"{int(np.isnan(values).sum())} worker(s) {text}")
    _legend(ax, handles)
    ax.set_xlabel(x[1])
    ax.set_ylabel(y[1])
    title = f"{x[1].capitalize()} vs {y[1]}"
    ax.set_title(title)
    points = _points(ax)
    caption = f"{points} workers, one marker each: {', '.join(counts)}."
    if notes:
        caption += " " + "; ".join(notes) + " (drawn there, not left out)."
    return Chart(title, caption, fig, points)


def _with_missing(values: np.ndarray) -> tuple[np.ndarray, float | None]:
    """The values with a missing one moved beyond the lowest, and the dashed line between."""
    missing = np.isnan(values)
    if not missing.any():
        return values, None
    known = values[~missing]
    low, high = (float(known.min()), float(known.max())) if len(known) else (0.0, 0.0)
    span = high - low or 1.0
    return np.where(missing, low - GAP * span, values), low - GAP * span / 2


def _legend(ax: Axes, handles: list[Artist]) -> None:
    # Below the chart, where it covers no marker (bbox_inches="tight" keeps it in the PNG).
    ax.legend(handles=handles, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2)


def _points(ax: Axes) -> int:
    # Counted from what the figure holds, so the caption cannot claim a marker it lacks.
    return sum(np.asarray(c.get_offsets()).shape[0] for c in ax.collections)


def _histogram(scores: pd.Series, tiers: Sequence[float]) -> Chart:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    ax.hist(scores, bins=40, color="#678", label="images")
    for q in tiers:
        line = float(scores.quantile(q / 100))
        ax.axvline(line, color="#c33", linestyle="--")
        ax.annotate(f"p{q:g}", (line, ax.get_ylim()[1] * 0.9))
    ax.plot([], [], color="#c33", linestyle="--", label="tier lines (percentiles)")
    _legend(ax, ax.get_legend_handles_labels()[0])
    ax.set_xlabel("beauty score (BT log-strength)")
    ax.set_ylabel("images")
    title = "Score distribution with tier lines"
    ax.set_title(title)
    percentiles = ", ".join(f"{q:g}th" for q in tiers)
    caption = (
        f"{len(scores)} images by score; dashed lines at the {percentiles} percentile of the "
        "scores: an image above a line is in that tier."
    )
    return Chart(title, caption, fig, len(scores))
