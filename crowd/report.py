"""The worker reliability report for QA: a CSV and one self-contained HTML page with plots.

Per worker: HITs, gold seen, gold accuracy with its Wilson 95% interval, learned reliability (the
Crowd-BT discrimination), agreement with the consensus, median seconds per screen, position
bias, 4-up selection rate, and the latest verdict with its reason.
"""

from __future__ import annotations

import base64
import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape

from crowd.judgments import judgments_table
from crowd.rank import fit_scores
from crowd.report_charts import Chart, worker_charts
from crowd.review import Verdict, review_signals
from infra.atomic import atomic_path, atomic_write_text
from infra.ledger import Ledger
from infra.text import safe_csv_frame
from infra.workspace import Workspace
from ranking.workers import worker_stats

SIMULATED_KINDS = "simulated-workers.csv"  # reports/: worker, kind, written by a simulation
OUTCOMES = ("kept", "excluded", "rejected")
# Columns of sentences, which wrap; every other column is figures, kept on one line.
TEXT_COLUMNS = ("verdict", "evidence", "near a line")

if TYPE_CHECKING:
    from matplotlib.figure import Figure


@dataclass
class WorkerReport:
    table: pd.DataFrame
    csv: Path
    html: Path | None


def worker_report(ws: Workspace, *, html: bool = True, out_dir: Path | None = None) -> WorkerReport:
    """Compute the per-worker table and write ``reports/workers.csv`` (and ``workers.html``)."""
    fit = fit_scores(ws)
    scores = fit.table.set_index("image")["score"]
    judgments = judgments_table(ws.ledger)
    table = worker_stats(judgments, scores)
    reliability = fit.worker_reliability
    table["learned_reliability"] = (
        table["worker"].map(reliability) if reliability is not None else float("nan")
    )
    learned = None if reliability is None else {str(k): float(v) for k, v in reliability.items()}
    _, assessments = review_signals(ws.ledger, ws.settings.review, learned)
    table["evidence"] = table["worker"].map(
        lambda w: "; ".join(f.text for f in assessments[w].findings) if w in assessments else ""
    )
    table["near_a_line"] = table["worker"].map(
        lambda w: "; ".join(assessments[w].near) if w in assessments else ""
    )
    table = table.merge(_verdicts(ws), on="worker", how="left")
    out = out_dir or ws.reports_dir
    out.mkdir(parents=True, exist_ok=True)
    csv = out / "workers.csv"
    with atomic_path(csv) as tmp:  # worker names are theirs: no cell runs as a formula
        safe_csv_frame(table).to_csv(tmp, index=False)
    page = None
    if html:
        page = out / "workers.html"
        charts = worker_charts(
            table, worker_outcomes(ws.ledger), fit.table["score"], ws.settings.ranking.tiers
        )
        atomic_write_text(page, _render(table, charts))
    return WorkerReport(table=table, csv=csv, html=page)


def _verdicts(ws: Workspace) -> pd.DataFrame:
    """The latest decision about each worker or one of their assignments."""
    rows = ws.ledger.query(
        "SELECT w.id AS worker, w.excluded, "
        "  (SELECT d.decision || ': ' || d.reason FROM decisions d "
        "   WHERE (d.subject_kind = 'worker' AND d.subject_id = w.id) OR "
        "         (d.subject_kind = 'assignment' AND d.subject_id IN "
        "            (SELECT CAST(a.id AS TEXT) FROM assignments a WHERE a.worker_id = w.id)) "
        "   ORDER BY d.id DESC LIMIT 1) AS verdict "
        "FROM workers w"
    )
    return pd.DataFrame(
        [(r["worker"], bool(r["excluded"]), r["verdict"] or "") for r in rows],
        columns=["worker", "excluded", "verdict"],
    )


def _png(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode()


def _cell(value: Any, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _rows(workers: pd.DataFrame) -> list[dict[str, str]]:
    """The page's columns: the ones QA reads first; the CSV keeps every statistic."""
    rows = []
    for w in workers.to_dict("records"):
        gold = "–"
        if w.get("gold_seen"):
            gold = (
                f"{w['gold_passed']}/{w['gold_seen']} = {_cell(w['gold_accuracy'])} "
                f"[{_cell(w['gold_lower'])}, {_cell(w['gold_upper'])}]"
            )
        rows.append(
            {
                "worker": str(w["worker"]),
                "verdict": _cell(w.get("verdict")) or "–",
                "HITs": _cell(w["hits"]),
                "gold (Wilson 95%)": gold,
                "learned reliability": _cell(w.get("learned_reliability")),
                "agreement": _cell(w["agreement"]),
                "median s / screen": _cell(w["median_seconds"], 1),
                "left rate (pairs)": _cell(w["left_rate"]),
                "kept rate (4-up)": _cell(w["fourup_selection_rate"]),
                "evidence": str(w.get("evidence") or "–"),
                "near a line": str(w.get("near_a_line") or "–"),
                "flagged": "flag" if w.get("excluded") else "",
            }
        )
    return rows


def _render(workers: pd.DataFrame, charts: list[Chart]) -> str:
    env = Environment(
        loader=PackageLoader("crowd", "templates"), autoescape=select_autoescape(["html", "j2"])
    )
    ordered = workers.sort_values(["excluded", "gold_accuracy"], ascending=[False, True])
    rows = _rows(ordered)
    columns = [c for c in rows[0] if c != "flagged"] if rows else []
    plots = [(c.title, c.caption, _png(c.figure)) for c in charts]
    return env.get_template("workers.html.j2").render(
        rows=rows, columns=columns, text_columns=TEXT_COLUMNS, plots=plots
    )


def worker_outcomes(ledger: Ledger, verdicts: list[Verdict] | None = None) -> dict[str, str]:
    """Each working worker's outcome so far: ``rejected`` (any assignment), ``excluded`` or
    ``kept``, from the decision log, with ``verdicts`` not yet recorded (a dry run) laid over
    it. Workers who never took a HIT have no outcome."""
    rows = ledger.query(
        "SELECT w.id, w.excluded OR EXISTS (SELECT 1 FROM decisions d WHERE d.subject_kind = "
        "'worker' AND d.subject_id = w.id AND d.decision = 'exclude') AS excluded, "
        "EXISTS (SELECT 1 FROM decisions d JOIN assignments a ON d.subject_kind = 'assignment' "
        "AND d.subject_id = CAST(a.id AS TEXT) WHERE a.worker_id = w.id "
        "AND d.decision = 'reject') AS rejected FROM workers w "
        "WHERE EXISTS (SELECT 1 FROM assignments a WHERE a.worker_id = w.id "
        "AND a.state != 'abandoned')"
    )
    outcome = {str(r[0]): "rejected" if r[2] else "excluded" if r[1] else "kept" for r in rows}
    for v in verdicts or []:
        rank = OUTCOMES.index(outcome.get(v.worker_id, "kept"))
        new = 2 if v.action == "reject" else 1 if v.exclude else 0
        outcome[v.worker_id] = OUTCOMES[max(rank, new)]
    return outcome


def simulated_kinds(ws: Workspace) -> dict[str, str]:
    """The true kind of each simulated worker, where a simulation wrote them; else empty."""
    path = ws.reports_dir / SIMULATED_KINDS
    if not path.exists():
        return {}
    table = pd.read_csv(path, dtype=str)
    return dict(zip(table["worker"], table["kind"], strict=True))


def confusion(outcomes: dict[str, str], kinds: dict[str, str]) -> pd.DataFrame:
    """Review outcome against each simulated worker's true kind: one row per kind, columns
    ``kind, workers, kept, excluded, rejected`` (workers with an outcome, that is who worked;
    rejected ones count there only)."""
    rows = []
    for kind in sorted(set(kinds.values())):
        mine = [outcomes[w] for w, k in kinds.items() if k == kind and w in outcomes]
        rows.append((kind, len(mine), *(mine.count(o) for o in OUTCOMES)))
    return pd.DataFrame(rows, columns=["kind", "workers", *OUTCOMES])


def confusion_lines(table: pd.DataFrame) -> list[str]:
    """The confusion table as text, honest workers first, with a caught/spared summary."""
    if table.empty:
        return []
    honest = table["kind"].str.startswith(("Honest", "Replay"))
    ordered = pd.concat([table[honest], table[~honest]])
    lines = [f"{'true kind':<15}{'workers':>8}{'kept':>6}{'excluded':>9}{'rejected':>9}"]
    for r in ordered.itertuples(index=False):
        lines.append(f"{r.kind:<15}{r.workers:>8}{r.kept:>6}{r.excluded:>9}{r.rejected:>9}")
    spam = ordered[~honest.loc[ordered.index]]
    caught = int(spam["excluded"].sum() + spam["rejected"].sum())
    flagged = int(table[honest]["excluded"].sum() + table[honest]["rejected"].sum())
    lines.append(
        f"spammers caught {caught}/{int(spam['workers'].sum())}; honest workers flagged "
        f"{flagged}/{int(table[honest]['workers'].sum())}"
    )
    return lines
