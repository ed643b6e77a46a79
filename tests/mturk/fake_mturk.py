"""A fault-injecting fake of the MTurk requester endpoint, reached by a real boto3 client.

It speaks the JSON protocol (``X-Amz-Target: MTurkRequesterServiceV20170117.<Op>``) on a
loopback port, with the field names of botocore's service model, and does what the real
service does where our code depends on it:

- a ``UniqueRequestToken`` is remembered for 24 hours of the fake's clock (``now``): reused
  within them, the call is refused with "already been processed"; afterwards it is new;
- workers accept a HIT (an assignment in no listed status), then submit, return it, or let it
  run past its deadline (abandoned); a returned or abandoned assignment frees its slot;
- submitted work is approved by MTurk itself once ``AutoApprovalDelayInSeconds`` has passed on
  the clock; approving twice is refused;
- money: CreateHIT takes every assignment's reward and MTurk's fee from the balance
  (GetAccountBalance), SendBonus the bonus and its fee; short of funds, both fail with MTurk's
  insufficient-funds error; a rejection, and deleting a HIT with unfilled slots, give back what
  was held for them (a simplification of MTurk's escrow);
- ListHITs lags a creation by ``list_lag`` (MTurk's lists are eventually consistent);
- lists page by ``NextToken``; qualifications, blocks and messages (:mod:`fake_mturk_workers`).

Faults are queued per operation:

- ``"lost-before"``: the connection drops before the call is applied;
- ``"lost-after"``: the call is applied, then the connection drops (the answer is lost);
- ``"throttle"``: ``ThrottlingException``;
- ``"503"``: HTTP 503.

``applied`` counts calls that changed or read state, so a test can assert exactly-once effects.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from http.server import ThreadingHTTPServer
from itertools import count
from typing import Any

from tests.mturk.fake_mturk_workers import TurkError, WorkerOps, page_of
from tests.mturk.fake_wire import Fault, JsonWire

__all__ = ["INSUFFICIENT_FUNDS", "FakeMTurk", "Fault", "TurkError"]

TOKEN_MEMORY = timedelta(hours=24)
OVERRIDE_WINDOW = timedelta(days=30)
LISTED = ("Submitted", "Approved", "Rejected")  # botocore's AssignmentStatus values
HOLDING = ("Accepted", *LISTED)  # statuses that take a HIT's slot
INSUFFICIENT_FUNDS = (
    "This Requester has insufficient funds in their account to complete this transaction. "
    "Please visit https://requester.mturk.com/prepayments/new to purchase Prepaid HITs."
)
CENT = Decimal("0.01")


@dataclass
class FakeMTurk(JsonWire, WorkerOps):
    """The fake service. Use as a context manager; ``url`` is the endpoint."""

    balance: Decimal = Decimal("10000.00")
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    list_lag: timedelta = timedelta(0)
    sqs: Any = None  # a boto3 SQS client; events go to queues named in notification settings
    hit_types: dict[str, dict[str, Any]] = field(default_factory=dict)
    hits: dict[str, dict[str, Any]] = field(default_factory=dict)
    assignments: dict[str, dict[str, Any]] = field(default_factory=dict)
    bonuses: list[dict[str, Any]] = field(default_factory=list)
    qualification_types: dict[str, dict[str, Any]] = field(default_factory=dict)
    worker_qualifications: dict[tuple[str, str], int] = field(default_factory=dict)
    blocks: dict[str, str] = field(default_factory=dict)
    notifications: dict[str, dict[str, Any]] = field(default_factory=dict)
    messages: list[dict[str, Any]] = field(default_factory=list)
    applied: Counter[str] = field(default_factory=Counter)
    received: Counter[str] = field(default_factory=Counter)
    _tokens: dict[tuple[str, str], tuple[datetime, str]] = field(default_factory=dict)
    _faults: deque[Fault] = field(default_factory=deque)
    _ids: Iterator[int] = field(default_factory=lambda: count(1))
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _server: ThreadingHTTPServer | None = None

    # -- test controls ---------------------------------------------------------------------
    def forget_tokens(self) -> None:
        """What MTurk does after 24 hours: request tokens are no longer recognised."""
        self._tokens.clear()

    def accept(self, hit_id: str, worker_id: str, *, seconds_ago: float = 0.0) -> str:
        """A worker accepts a HIT (``seconds_ago`` on the clock); the new assignment's id.

        Raises
        ------
        TurkError
            The HIT expired or is full, the worker has it already or may not work on it.
        """
        with self._lock:
            self._tick()
            hit = self._hit(hit_id)
            self._check_worker_may_work(hit, worker_id)
            if hit["Expiration"] <= self.now():
                raise TurkError(f"HIT {hit_id} has expired")
            taken = self._taken(hit_id)
            if len(taken) >= hit["MaxAssignments"]:
                raise TurkError(f"HIT {hit_id} has no assignment left")
            if any(a["WorkerId"] == worker_id for a in taken):
                raise TurkError(f"worker {worker_id} already works on {hit_id}")
            at = self.now() - timedelta(seconds=seconds_ago)
            assignment_id = self._new_id("A")
            self.assignments[assignment_id] = {
                "AssignmentId": assignment_id,
                "WorkerId": worker_id,
                "HITId": hit_id,
                "AssignmentStatus": "Accepted",
                "AcceptTime": at,
                "Deadline": at + timedelta(seconds=hit["AssignmentDurationInSeconds"]),
            }
            self._notify(hit, assignment_id, "AssignmentAccepted")
            return assignment_id

    def submit(
        self,
        hit_id: str,
        worker_id: str,
        answer: str,
        *,
        assignment_id: str | None = None,
        accepted_seconds_ago: float = 120.0,
    ) -> str:
        """A worker submits ``answer`` (QuestionFormAnswers XML); returns the assignment's id.

        Without ``assignment_id`` the worker accepts the HIT first, ``accepted_seconds_ago``.

        Raises
        ------
        TurkError
            Not an accepted assignment of this worker, or past its deadline (abandoned).
        """
        with self._lock:
            if assignment_id is None:
                assignment_id = self.accept(hit_id, worker_id, seconds_ago=accepted_seconds_ago)
            self._tick()
            a = self.assignments.get(assignment_id)
            if a is None or a["WorkerId"] != worker_id or a["HITId"] != hit_id:
                raise TurkError(f"assignment {assignment_id} is not {worker_id}'s on {hit_id}")
            if a["AssignmentStatus"] != "Accepted":
                raise TurkError(f"assignment {assignment_id} is {a['AssignmentStatus']}")
            hit = self.hits[hit_id]
            now = self.now()
            a.update(
                AssignmentStatus="Submitted",
                SubmitTime=now,
                AutoApprovalTime=now + timedelta(seconds=hit["AutoApprovalDelayInSeconds"]),
                Answer=answer,
            )
            self._notify(hit, assignment_id, "AssignmentSubmitted")
            return assignment_id

    def return_assignment(self, assignment_id: str) -> None:
        """The worker gives an accepted assignment back: its slot is free again."""
        with self._lock:
            a = self.assignments[assignment_id]
            if a["AssignmentStatus"] != "Accepted":
                raise TurkError(f"assignment {assignment_id} is {a['AssignmentStatus']}")
            a["AssignmentStatus"] = "Returned"
            self._notify(self.hits[a["HITId"]], assignment_id, "AssignmentReturned")

    def auto_approve(self) -> int:
        """Let the clock act now: auto-approvals and abandonments; returns how many approved."""
        with self._lock:
            return self._tick()

    def hit_by_annotation(self, annotation: str) -> dict[str, Any]:
        return next(h for h in self.hits.values() if h.get("RequesterAnnotation") == annotation)

    def _tick(self) -> int:
        """What MTurk does as time passes: accepted work past its deadline is abandoned, and
        submitted work past its auto-approval time is approved."""
        now, approved = self.now(), 0
        for a in self.assignments.values():
            if a["AssignmentStatus"] == "Accepted" and a["Deadline"] <= now:
                a["AssignmentStatus"] = "Abandoned"
                self._notify(self.hits[a["HITId"]], a["AssignmentId"], "AssignmentAbandoned")
            elif a["AssignmentStatus"] == "Submitted" and a["AutoApprovalTime"] <= now:
                a.update(AssignmentStatus="Approved", ApprovalTime=a["AutoApprovalTime"])
                self._notify(self.hits[a["HITId"]], a["AssignmentId"], "AssignmentApproved")
                approved += 1
        return approved

    def _taken(self, hit_id: str) -> list[dict[str, Any]]:
        return [
            a
            for a in self.assignments.values()
            if a["HITId"] == hit_id and a["AssignmentStatus"] in HOLDING
        ]

    # -- helpers ---------------------------------------------------------------------------
    def _new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):029d}"

    def _dedup(self, operation: str, token: str | None) -> str | None:
        """The id a live token already produced, or None (and forget expired tokens)."""
        if not token:
            return None
        seen = self._tokens.get((operation, token))
        if seen is None or self.now() - seen[0] > TOKEN_MEMORY:
            return None
        return seen[1]

    def _remember(self, operation: str, token: str | None, result_id: str) -> None:
        if token:
            self._tokens[(operation, token)] = (self.now(), result_id)

    def _hit(self, hit_id: str) -> dict[str, Any]:
        hit = self.hits.get(hit_id)
        if hit is None or hit.get("_deleted"):
            raise TurkError(
                f"Hit {hit_id} does not exist.", turk_code="AWS.MechanicalTurk.HitDoesNotExist"
            )
        return hit

    def _assignment(self, assignment_id: str) -> dict[str, Any]:
        """A submitted (or decided) assignment; work in progress is not the requester's yet."""
        a = self.assignments.get(assignment_id)
        if a is None or a["AssignmentStatus"] not in LISTED:
            raise TurkError(f"Assignment {assignment_id} does not exist.")
        return a

    def _hit_view(self, hit: dict[str, Any]) -> dict[str, Any]:
        taken = self._taken(hit["HITId"])
        pending = sum(1 for a in taken if a["AssignmentStatus"] == "Accepted")
        done = sum(1 for a in taken if a["AssignmentStatus"] in ("Approved", "Rejected"))
        expired = hit["Expiration"] <= self.now()
        available = 0 if expired else hit["MaxAssignments"] - len(taken)
        if hit.get("_deleted"):
            status = "Disposed"
        elif available == 0 and pending:
            status = "Unassignable"
        elif available == 0:
            status = "Reviewable"
        else:
            status = "Assignable"
        view = {k: v for k, v in hit.items() if not k.startswith("_")}
        view.update(
            HITStatus=status,
            NumberOfAssignmentsPending=pending,
            NumberOfAssignmentsAvailable=available,
            NumberOfAssignmentsCompleted=done,
        )
        return view

    def _charge(self, amount: Decimal) -> None:
        """Take ``amount`` from the balance, or refuse the call as MTurk does."""
        if amount > self.balance:
            raise TurkError(INSUFFICIENT_FUNDS, turk_code="AWS.MechanicalTurk.InsufficientFunds")
        self.balance -= amount

    # -- operations ------------------------------------------------------------------------
    def _op_GetAccountBalance(self, body: dict[str, Any]) -> dict[str, Any]:
        return {"AvailableBalance": f"{self.balance:.2f}", "OnHoldBalance": "0.00"}

    def _op_CreateHITType(self, body: dict[str, Any]) -> dict[str, Any]:
        key = hashlib.sha1(json.dumps(body, sort_keys=True).encode()).hexdigest().upper()
        type_id = "T" + key[:29]
        self.hit_types[type_id] = dict(
            body, AutoApprovalDelayInSeconds=body.get("AutoApprovalDelayInSeconds", 259200)
        )
        return {"HITTypeId": type_id}

    def _op_CreateHITWithHITType(self, body: dict[str, Any]) -> dict[str, Any]:
        token = body.get("UniqueRequestToken")
        if self._dedup("CreateHIT", token):
            raise TurkError(
                f'The idempotency token "{token}" has already been processed.',
                turk_code="AWS.MechanicalTurk.HitAlreadyExists",
            )
        hit_type = self.hit_types.get(body["HITTypeId"])
        if hit_type is None:
            raise TurkError(f"HITType {body['HITTypeId']} does not exist.")
        if len(body.get("Question", "").encode()) > 65535:
            raise TurkError("Question is larger than 65535 bytes")
        if len(body.get("RequesterAnnotation", "")) > 255:
            raise TurkError("RequesterAnnotation is longer than 255 characters")
        slots = int(body.get("MaxAssignments", 1))
        each = Decimal(hit_type["Reward"]) + assignment_fee(Decimal(hit_type["Reward"]), slots)
        self._charge(each * slots)
        now = self.now()
        hit_id = self._new_id("H")
        self.hits[hit_id] = {
            "HITId": hit_id,
            "HITTypeId": body["HITTypeId"],
            "HITGroupId": "G" + body["HITTypeId"][1:],
            "CreationTime": now,
            "Title": hit_type["Title"],
            "Description": hit_type["Description"],
            "Question": body.get("Question", ""),
            "Reward": hit_type["Reward"],
            "MaxAssignments": body.get("MaxAssignments", 1),
            "AutoApprovalDelayInSeconds": hit_type["AutoApprovalDelayInSeconds"],
            "AssignmentDurationInSeconds": hit_type["AssignmentDurationInSeconds"],
            "Expiration": now + timedelta(seconds=body["LifetimeInSeconds"]),
            "RequesterAnnotation": body.get("RequesterAnnotation", ""),
            "QualificationRequirements": hit_type.get("QualificationRequirements", []),
            "_each": each,  # reward and fee held per assignment
        }
        self._remember("CreateHIT", token, hit_id)
        return {"HIT": self._hit_view(self.hits[hit_id])}

    def _op_GetHIT(self, body: dict[str, Any]) -> dict[str, Any]:
        return {"HIT": self._hit_view(self._hit(body["HITId"]))}

    def _op_ListHITs(self, body: dict[str, Any]) -> dict[str, Any]:
        seen = self.now() - self.list_lag  # a HIT shows in lists only some time after creation
        live = [
            self._hit_view(h)
            for h in self.hits.values()
            if not h.get("_deleted") and h["CreationTime"] <= seen
        ]
        return page_of(live, body, "HITs")

    def _op_UpdateExpirationForHIT(self, body: dict[str, Any]) -> dict[str, Any]:
        hit = self._hit(body["HITId"])
        at = datetime.fromtimestamp(float(body["ExpireAt"]), UTC)
        hit["Expiration"] = max(at, self.now())
        return {}

    def _op_DeleteHIT(self, body: dict[str, Any]) -> dict[str, Any]:
        hit = self._hit(body["HITId"])
        view = self._hit_view(hit)
        undecided = [
            a
            for a in self.assignments.values()
            if a["HITId"] == hit["HITId"] and a["AssignmentStatus"] == "Submitted"
        ]
        if view["HITStatus"] != "Reviewable" or undecided:
            raise TurkError(
                f"This HIT is currently in the state '{view['HITStatus']}'. This operation can "
                "be called with a status of: Reviewable, and every assignment approved or rejected"
            )
        hit["_deleted"] = True
        unfilled = hit["MaxAssignments"] - len(self._taken(hit["HITId"]))
        self.balance += hit["_each"] * unfilled
        return {}

    def _op_ListAssignmentsForHIT(self, body: dict[str, Any]) -> dict[str, Any]:
        self._hit(body["HITId"])
        statuses = body.get("AssignmentStatuses") or list(LISTED)
        if not set(statuses) <= set(LISTED):
            raise TurkError(f"AssignmentStatuses must be among {', '.join(LISTED)}")
        found = [
            a
            for a in self.assignments.values()
            if a["HITId"] == body["HITId"] and a["AssignmentStatus"] in statuses
        ]
        return page_of(found, body, "Assignments")

    def _op_GetAssignment(self, body: dict[str, Any]) -> dict[str, Any]:
        a = self._assignment(body["AssignmentId"])
        return {"Assignment": a, "HIT": self._hit_view(self.hits[a["HITId"]])}

    def _op_ApproveAssignment(self, body: dict[str, Any]) -> dict[str, Any]:
        a = self._assignment(body["AssignmentId"])
        status = a["AssignmentStatus"]
        override = status == "Rejected" and body.get("OverrideRejection")
        if override and self.now() - a["SubmitTime"] > OVERRIDE_WINDOW:
            raise TurkError("A rejection can be overridden only within 30 days")
        if status != "Submitted" and not override:
            raise TurkError(
                f"This operation can be called with a status of: Submitted (assignment is {status})"
            )
        if override:
            self._charge(self.hits[a["HITId"]]["_each"])  # given back when it was rejected
        a.update(AssignmentStatus="Approved", ApprovalTime=self.now())
        if body.get("RequesterFeedback"):
            a["RequesterFeedback"] = body["RequesterFeedback"]
        return {}

    def _op_RejectAssignment(self, body: dict[str, Any]) -> dict[str, Any]:
        a = self._assignment(body["AssignmentId"])
        if a["AssignmentStatus"] != "Submitted":
            raise TurkError(
                "This operation can be called with a status of: Submitted "
                f"(assignment is {a['AssignmentStatus']})"
            )
        a.update(
            AssignmentStatus="Rejected",
            RejectionTime=self.now(),
            RequesterFeedback=body["RequesterFeedback"],
        )
        self.balance += self.hits[a["HITId"]]["_each"]
        return {}

    def _op_SendBonus(self, body: dict[str, Any]) -> dict[str, Any]:
        token = body.get("UniqueRequestToken")
        if self._dedup("SendBonus", token):
            raise TurkError(f'The idempotency token "{token}" has already been processed.')
        a = self._assignment(body["AssignmentId"])
        if a["WorkerId"] != body["WorkerId"]:
            raise TurkError("The worker did not work on this assignment")
        amount = Decimal(body["BonusAmount"])
        if amount <= 0 or amount.as_tuple().exponent < -2:  # type: ignore[operator]
            raise TurkError(f"BonusAmount {body['BonusAmount']} is not a positive dollar amount")
        self._charge(amount + max(CENT, (amount * Decimal("0.2")).quantize(CENT, ROUND_HALF_UP)))
        self.bonuses.append(
            {
                "WorkerId": body["WorkerId"],
                "BonusAmount": f"{amount:.2f}",
                "AssignmentId": body["AssignmentId"],
                "Reason": body["Reason"],
                "GrantTime": self.now(),
            }
        )
        self._remember("SendBonus", token, body["AssignmentId"])
        return {}

    def _op_ListBonusPayments(self, body: dict[str, Any]) -> dict[str, Any]:
        if body.get("AssignmentId"):
            found = [b for b in self.bonuses if b["AssignmentId"] == body["AssignmentId"]]
        else:
            hit = body.get("HITId")
            found = [b for b in self.bonuses if self.assignments[b["AssignmentId"]]["HITId"] == hit]
        return page_of(found, body, "BonusPayments")


def assignment_fee(reward: Decimal, slots: int) -> Decimal:
    """MTurk's commission on one assignment: 20% of the reward, at least a cent; 40% for HITs
    of 10 or more assignments (written from MTurk's pricing page, not from our own fees)."""
    rate = Decimal("0.4") if slots >= 10 else Decimal("0.2")
    return max(CENT, (reward * rate).quantize(CENT, ROUND_HALF_UP))
