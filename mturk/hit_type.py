"""The HIT type a batch is posted under, and who may work on it.

Requirements: an approval rate and a count of approved HITs, the locales, optionally Masters
(whose qualification id differs between sandbox and production), our own exclusion
qualification (``DoesNotExist``: an excluded worker no longer sees our HITs), the gold
qualification test when one was posted, and for a batch offered only to chosen workers its own
qualification (``Exists``: no one else even sees its HITs), granted to each of them first.

Creating a HIT type or a qualification type needs no intent row: MTurk answers an identical
CreateHITType with the same id, and a qualification name is unique per requester, so a retry
after a lost answer finds the type by name. Granting a qualification twice is harmless, so a
retry after a crash simply grants every chosen worker theirs again.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any, Literal

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, ConfigDict

from infra.errors import BeautyError
from infra.ledger import Ledger, utcnow
from infra.progress import bar
from infra.settings import MTurkSettings
from infra.workspace import Workspace
from mturk.client import (
    Environment,
    each,
    environment_of,
    error_message,
    make_client,
    market_error,
    unanswered,
)
from mturk.qualification import QualificationTest
from mturk.reconcile import namespace

APPROVAL_RATE = "000000000000000000L0"
APPROVED_HITS = "00000000000000000040"
LOCALE = "00000000000000000071"
MASTERS: dict[Environment, str] = {
    "sandbox": "2ARFPLSP75KLA8M8DH1HTEQVJT3SY6",
    "live": "2F1QJWKUDD8XADTFD2Q0G6UTO95ALH",
}
Purpose = Literal["exclusion", "gold"]
RETEST_SECONDS = 24 * 3600  # a worker who failed the gold test may take it again a day later


class Requirement(BaseModel):
    """One QualificationRequirement, as CreateHITType takes it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    QualificationTypeId: str
    Comparator: str
    IntegerValues: list[int] | None = None
    LocaleValues: list[dict[str, str]] | None = None
    ActionsGuarded: Literal["Accept", "PreviewAndAccept", "DiscoverPreviewAndAccept"] = "Accept"


class HitTypeSpec(BaseModel):
    """A CreateHITType request."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    Title: str
    Description: str
    Keywords: str
    Reward: str
    AssignmentDurationInSeconds: int
    AutoApprovalDelayInSeconds: int
    QualificationRequirements: list[Requirement]

    def request(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


def requirements(
    settings: MTurkSettings,
    environment: Environment,
    *,
    masters: bool,
    exclusion: str,
    gold: tuple[str, int] | None = None,
    invited: str | None = None,
) -> list[Requirement]:
    """Who may work on our HITs.

    ``gold`` is (qualification type id, minimum score); ``invited`` the qualification type of a
    batch offered only to the workers holding it.
    """
    out = [
        Requirement(
            QualificationTypeId=exclusion,
            Comparator="DoesNotExist",
            ActionsGuarded="DiscoverPreviewAndAccept",
        )
    ]
    if settings.min_approval_rate > 0:
        out.append(
            Requirement(
                QualificationTypeId=APPROVAL_RATE,
                Comparator="GreaterThanOrEqualTo",
                IntegerValues=[settings.min_approval_rate],
            )
        )
    if settings.min_approved_hits > 0:
        out.append(
            Requirement(
                QualificationTypeId=APPROVED_HITS,
                Comparator="GreaterThanOrEqualTo",
                IntegerValues=[settings.min_approved_hits],
            )
        )
    if settings.locales:
        places = [_locale(code) for code in settings.locales]
        out.append(
            Requirement(
                QualificationTypeId=LOCALE,
                Comparator="EqualTo" if len(places) == 1 else "In",
                LocaleValues=places,
            )
        )
    if masters:
        out.append(Requirement(QualificationTypeId=MASTERS[environment], Comparator="Exists"))
    if gold is not None:
        out.append(
            Requirement(
                QualificationTypeId=gold[0],
                Comparator="GreaterThanOrEqualTo",
                IntegerValues=[gold[1]],
            )
        )
    if invited is not None:
        out.append(
            Requirement(
                QualificationTypeId=invited,
                Comparator="Exists",
                ActionsGuarded="DiscoverPreviewAndAccept",
            )
        )
    return out


def _locale(code: str) -> dict[str, str]:
    """``"US"`` or ``"US-NY"`` (country, optionally a subdivision) as an MTurk Locale."""
    country, _, subdivision = code.strip().upper().partition("-")
    return {"Country": country, "Subdivision": subdivision} if subdivision else {"Country": country}


def hit_type_spec(
    settings: MTurkSettings, reward_cents: int, reqs: list[Requirement]
) -> HitTypeSpec:
    return HitTypeSpec(
        Title=settings.title,
        Description=settings.description,
        Keywords=settings.keywords,
        Reward=f"{reward_cents / 100:.2f}",
        AssignmentDurationInSeconds=settings.assignment_duration_seconds,
        AutoApprovalDelayInSeconds=settings.auto_approval_delay_seconds,
        QualificationRequirements=reqs,
    )


def ensure_hit_type(
    ledger: Ledger,
    client: Any,
    settings: MTurkSettings,
    batch: sqlite3.Row,
    environment: Environment,
) -> tuple[str, bool]:
    """The batch's HIT type, created on first use; returns (HITTypeId, created now)."""
    row = ledger.one(
        "SELECT environment, remote_id FROM mturk_hit_types WHERE batch_id = ?", (batch["id"],)
    )
    if row is not None:
        return str(row["remote_id"]), False
    reqs = requirements(
        settings,
        environment,
        masters=batch_masters(batch, settings),
        exclusion=exclusion_qualification(ledger, client, settings, environment),
        gold=gold_qualification(ledger, environment),
        invited=batch_qualification(ledger, client, batch, environment),
    )
    spec = hit_type_spec(settings, int(batch["reward_cents"]), reqs)
    try:
        type_id = str(client.create_hit_type(**spec.request())["HITTypeId"])
    except (BotoCoreError, ClientError) as exc:
        raise market_error(exc, f"create the HIT type of batch {batch['id']}") from exc
    with ledger.transaction() as conn:
        conn.execute(
            "INSERT INTO mturk_hit_types (batch_id, environment, remote_id, params, created_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (batch["id"], environment, type_id, json.dumps(spec.request()), utcnow()),
        )
    return type_id, True


def batch_masters(batch: sqlite3.Row, settings: MTurkSettings) -> bool:
    """Whether a batch asks for Masters: as planned, else the setting."""
    return bool(json.loads(batch["settings"] or "{}").get("masters", settings.masters))


def exclusion_qualification(
    ledger: Ledger, client: Any, settings: MTurkSettings, environment: Environment
) -> str:
    """Our exclusion qualification type: the setting if given, else made once per environment."""
    if settings.exclusion_qualification:
        return settings.exclusion_qualification
    ns = namespace(ledger)
    return ensure_qualification(
        ledger,
        client,
        environment,
        "exclusion",
        {
            "Name": f"Beauty Crowd exclusion {ns}",
            "Description": "Workers whose answers on this requester's photo comparisons "
            "missed too many known-answer screens.",
            "QualificationTypeStatus": "Active",
        },
    )


def gold_qualification(ledger: Ledger, environment: Environment) -> tuple[str, int] | None:
    """The posted gold qualification test and its passing score, if any."""
    row = ledger.one(
        "SELECT remote_id, min_score FROM mturk_qualifications "
        "WHERE environment = ? AND purpose = 'gold'",
        (environment,),
    )
    return None if row is None else (str(row["remote_id"]), int(row["min_score"]))


def ensure_qualification(
    ledger: Ledger,
    client: Any,
    environment: Environment,
    purpose: Purpose,
    params: dict[str, Any],
    min_score: int | None = None,
) -> str:
    """A qualification type made once per environment and purpose, and recorded."""
    row = ledger.one(
        "SELECT remote_id FROM mturk_qualifications WHERE environment = ? AND purpose = ?",
        (environment, purpose),
    )
    if row is not None:
        return str(row["remote_id"])
    type_id = _create_qualification(client, params)
    with ledger.transaction() as conn:
        conn.execute(
            "INSERT OR IGNORE INTO mturk_qualifications "
            "(environment, purpose, remote_id, name, min_score, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (environment, purpose, type_id, params["Name"], min_score, utcnow()),
        )
    return type_id


def batch_qualification(
    ledger: Ledger, client: Any, batch: sqlite3.Row, environment: Environment
) -> str | None:
    """The qualification type admitting a batch's chosen workers, granted to each of them.

    Returns None for a batch open to every worker. The type is made once per batch and
    environment; the grants are repeated on every call (the HIT type is created after them).

    Raises
    ------
    BeautyError
        A chosen worker MTurk does not know in this environment, or MTurk failing for good.
    """
    workers = [
        str(r["worker_id"])
        for r in ledger.query(
            "SELECT worker_id FROM batch_workers WHERE batch_id = ? ORDER BY worker_id",
            (batch["id"],),
        )
    ]
    if not workers:
        return None
    row = ledger.one(
        "SELECT remote_id FROM mturk_batch_qualifications WHERE batch_id = ? AND environment = ?",
        (batch["id"], environment),
    )
    if row is not None:
        type_id = str(row["remote_id"])
    else:
        type_id = _create_qualification(
            client,
            {
                "Name": f"Beauty Crowd batch {batch['id']} {namespace(ledger)}",
                "Description": "You were invited to this batch of photo comparisons for your "
                "reliable past answers.",
                "QualificationTypeStatus": "Active",
            },
        )
        with ledger.transaction() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO mturk_batch_qualifications "
                "(batch_id, environment, remote_id, created_at) VALUES (?, ?, ?, ?)",
                (batch["id"], environment, type_id, utcnow()),
            )
    with bar(len(workers), desc="inviting workers", unit="worker") as progress:
        for worker in workers:
            _invite(client, type_id, worker, batch, environment)
            progress.update(1)
    return type_id


def _invite(
    client: Any, type_id: str, worker: str, batch: sqlite3.Row, environment: Environment
) -> None:
    action = f"grant worker {worker} the qualification of batch {batch['id']}"
    try:
        client.associate_qualification_with_worker(
            QualificationTypeId=type_id, WorkerId=worker, IntegerValue=1, SendNotification=False
        )
    except ClientError as exc:
        if unanswered(exc):
            raise market_error(exc, action) from exc
        refused = str(market_error(exc, action)).rstrip(".")
        raise BeautyError(
            f"{refused}; batch {batch['id']} may list only {environment} MTurk WorkerIds: "
            f"plan it again without {worker}"
        ) from exc
    except BotoCoreError as exc:
        raise market_error(exc, action) from exc


def _create_qualification(client: Any, params: dict[str, Any]) -> str:
    """Create a qualification type; a name clash means an earlier call made it: find it."""
    name = params["Name"]
    try:
        return str(
            client.create_qualification_type(**params)["QualificationType"]["QualificationTypeId"]
        )
    except ClientError as exc:
        if "already" not in error_message(exc).lower():
            raise market_error(exc, f"create the qualification type {name!r}") from exc
        return _find_qualification(client, name)
    except BotoCoreError as exc:
        raise market_error(exc, f"create the qualification type {name!r}") from exc


def _find_qualification(client: Any, name: str) -> str:
    for qual in each(
        client,
        "list_qualification_types",
        "QualificationTypes",
        Query=name,
        MustBeRequestable=False,
        MustBeOwnedByCaller=True,
    ):
        if qual.get("Name") == name:
            return str(qual["QualificationTypeId"])
    raise BeautyError(
        f"MTurk says a qualification type named {name!r} exists but does not list it: "
        "run the same command again in a minute"
    )


def post_gold_test(
    ws: Workspace, test: QualificationTest, *, live: bool = False, client: Any = None
) -> str:
    """Post the gold qualification test with its AnswerKey (MTurk grades it); returns its id.

    Posted once per environment. HIT types created afterwards require a score of at least
    ``test.passing_score``; batches already posted keep the HIT type they have.
    """
    environment = environment_of(ws.settings.mturk, live)
    ledger = ws.ledger
    return ensure_qualification(
        ledger,
        client or make_client(ws.settings.mturk, environment),
        environment,
        "gold",
        {
            "Name": f"Beauty Crowd photo test {namespace(ledger)}",
            "Description": "A short test: compare photos the way our HITs ask you to.",
            "Keywords": "photo, comparison, qualification",
            "QualificationTypeStatus": "Active",
            "Test": test.question_form_xml,
            "AnswerKey": test.answer_key_xml,
            "TestDurationInSeconds": test.test_duration,
            "RetryDelayInSeconds": RETEST_SECONDS,
        },
        min_score=test.passing_score,
    )
