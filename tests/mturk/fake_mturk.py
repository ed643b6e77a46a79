"""A fault-injecting fake of the MTurk requester endpoint, reached by a real boto3 client.

It speaks the JSON protocol (``X-Amz-Target: MTurkRequesterServiceV20170117.<Op>``) on a
loopback port and keeps HITs, assignments, request tokens, bonuses, qualifications and blocks the
way MTurk does: a reused ``UniqueRequestToken`` within 24 hours is refused with "already been
processed", approving twice is refused, a qualification name is unique, a worker must hold
an ``Exists`` qualification and lack a ``DoesNotExist`` one to work, lists page by
``NextToken``. Faults are queued per operation:

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
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import count
from typing import Any

TARGET_PREFIX = "MTurkRequesterServiceV20170117."
TOKEN_MEMORY = timedelta(hours=24)
OVERRIDE_WINDOW = timedelta(days=30)


class TurkError(Exception):
    def __init__(self, message: str, code: str = "RequestError", turk_code: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.turk_code = turk_code or "AWS.MechanicalTurk.InvalidRequest"


@dataclass
class Fault:
    operation: str
    kind: str  # lost-before | lost-after | throttle | 503


@dataclass
class FakeMTurk:
    """The fake service. Use as a context manager; ``url`` is the endpoint."""

    balance: Decimal = Decimal("10000.00")
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
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
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> FakeMTurk:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in two writes

            def do_POST(self) -> None:
                fake._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None, "use FakeMTurk as a context manager"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    # -- test controls ---------------------------------------------------------------------
    def fault(self, operation: str, kind: str, times: int = 1) -> None:
        """Queue ``times`` faults of ``kind`` for the next calls of ``operation``."""
        for _ in range(times):
            self._faults.append(Fault(operation, kind))

    @property
    def faults_left(self) -> int:
        return len(self._faults)

    def forget_tokens(self) -> None:
        """What MTurk does after 24 hours: request tokens are no longer recognised."""
        self._tokens.clear()

    def submit(
        self,
        hit_id: str,
        worker_id: str,
        answer: str,
        *,
        accepted_seconds_ago: float = 120.0,
    ) -> str:
        """A worker submits ``answer`` (QuestionFormAnswers XML) to a HIT; returns its id."""
        with self._lock:
            hit = self.hits[hit_id]
            self._check_worker_may_work(hit, worker_id)
            taken = [a for a in self.assignments.values() if a["HITId"] == hit_id]
            if len(taken) >= hit["MaxAssignments"]:
                raise TurkError(f"HIT {hit_id} has no assignment left")
            if any(a["WorkerId"] == worker_id for a in taken):
                raise TurkError(f"worker {worker_id} already worked on {hit_id}")
            now = self.now()
            assignment_id = f"A{next(self._ids):029d}"
            delay = self.hit_types[hit["HITTypeId"]]["AutoApprovalDelayInSeconds"]
            self.assignments[assignment_id] = {
                "AssignmentId": assignment_id,
                "WorkerId": worker_id,
                "HITId": hit_id,
                "AssignmentStatus": "Submitted",
                "AcceptTime": now - timedelta(seconds=accepted_seconds_ago),
                "SubmitTime": now,
                "AutoApprovalTime": now + timedelta(seconds=delay),
                "Deadline": now + timedelta(seconds=hit["AssignmentDurationInSeconds"]),
                "Answer": answer,
            }
            self._notify(hit, assignment_id, "AssignmentSubmitted")
            return assignment_id

    def auto_approve(self) -> int:
        """Approve every submitted assignment past its auto-approval time; returns how many."""
        done = 0
        with self._lock:
            for a in self.assignments.values():
                if a["AssignmentStatus"] == "Submitted" and a["AutoApprovalTime"] <= self.now():
                    a["AssignmentStatus"] = "Approved"
                    a["ApprovalTime"] = self.now()
                    done += 1
        return done

    def hit_by_annotation(self, annotation: str) -> dict[str, Any]:
        return next(h for h in self.hits.values() if h.get("RequesterAnnotation") == annotation)

    def qualified(self, qualification_type_id: str, worker_id: str) -> bool:
        return (qualification_type_id, worker_id) in self.worker_qualifications

    # -- the wire --------------------------------------------------------------------------
    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        body = json.loads(request.rfile.read(length) or b"{}")
        target = request.headers.get("X-Amz-Target", "")
        operation = target.removeprefix(TARGET_PREFIX)
        self.received[operation] += 1
        fault = self._take_fault(operation)
        if fault == "lost-before":
            return self._drop(request)
        if fault == "throttle":
            return self._reply(
                request, 400, {"__type": "ThrottlingException", "message": "Rate exceeded"}
            )
        if fault == "503":
            return self._reply(
                request, 503, {"__type": "ServiceUnavailable", "message": "Try again"}
            )
        method = getattr(self, f"_op_{operation}", None)
        if method is None:
            return self._reply(request, 400, {"__type": "UnknownOperationException"})
        try:
            with self._lock:
                result = method(body)
                self.applied[operation] += 1
        except TurkError as exc:
            payload = {"__type": exc.code, "Message": str(exc), "TurkErrorCode": exc.turk_code}
            status = 500 if exc.code == "ServiceFault" else 400
            return self._reply(request, status, payload)
        if fault == "lost-after":
            return self._drop(request)
        self._reply(request, 200, result)

    def _take_fault(self, operation: str) -> str | None:
        with self._lock:
            for fault in self._faults:
                if fault.operation == operation:
                    self._faults.remove(fault)
                    return fault.kind
        return None

    @staticmethod
    def _drop(request: BaseHTTPRequestHandler) -> None:
        request.close_connection = True

    @staticmethod
    def _reply(request: BaseHTTPRequestHandler, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload, default=_wire).encode()
        request.send_response(status)
        request.send_header("Content-Type", "application/x-amz-json-1.1")
        request.send_header("Content-Length", str(len(data)))
        request.send_header("x-amzn-RequestId", hashlib.sha1(data).hexdigest())
        request.end_headers()
        request.wfile.write(data)

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
        a = self.assignments.get(assignment_id)
        if a is None:
            raise TurkError(f"Assignment {assignment_id} does not exist.")
        return a

    def _hit_view(self, hit: dict[str, Any]) -> dict[str, Any]:
        taken = [a for a in self.assignments.values() if a["HITId"] == hit["HITId"]]
        done = sum(1 for a in taken if a["AssignmentStatus"] != "Submitted")
        expired = hit["Expiration"] <= self.now()
        if hit.get("_deleted"):
            status = "Disposed"
        elif expired or len(taken) >= hit["MaxAssignments"]:
            status = "Reviewable"
        else:
            status = "Assignable"
        view = {k: v for k, v in hit.items() if not k.startswith("_")}
        view.update(
            HITStatus=status,
            NumberOfAssignmentsPending=0,
            NumberOfAssignmentsAvailable=0 if expired else hit["MaxAssignments"] - len(taken),
            NumberOfAssignmentsCompleted=done,
        )
        return view

    def _check_worker_may_work(self, hit: dict[str, Any], worker_id: str) -> None:
        if worker_id in self.blocks:
            raise TurkError(f"worker {worker_id} is blocked")
        for req in self.hit_types[hit["HITTypeId"]].get("QualificationRequirements", []):
            has = (req["QualificationTypeId"], worker_id) in self.worker_qualifications
            if (req["Comparator"] == "DoesNotExist" and has) or (
                req["Comparator"] == "Exists" and not has
            ):
                raise TurkError(f"worker {worker_id} does not meet the qualification requirements")

    def _notify(self, hit: dict[str, Any], assignment_id: str, event: str) -> None:
        spec = self.notifications.get(hit["HITTypeId"])
        if self.sqs is None or spec is None or not spec["Active"]:
            return
        if event not in spec["Notification"]["EventTypes"]:
            return
        message = {
            "Events": [
                {
                    "EventType": event,
                    "EventTimestamp": self.now().isoformat(),
                    "HITTypeId": hit["HITTypeId"],
                    "HITId": hit["HITId"],
                    "AssignmentId": assignment_id,
                }
            ],
            "EventDocId": self._new_id("E"),
            "EventDocVersion": "2014-08-15",
        }
        self.sqs.send_message(
            QueueUrl=spec["Notification"]["Destination"], MessageBody=json.dumps(message)
        )

    @staticmethod
    def _page(items: list[Any], body: dict[str, Any], key: str) -> dict[str, Any]:
        size = int(body.get("MaxResults") or 10)
        if not 1 <= size <= 100:
            raise TurkError("MaxResults must be between 1 and 100")
        start = int(body.get("NextToken") or 0)
        chunk = items[start : start + size]
        out: dict[str, Any] = {key: chunk, "NumResults": len(chunk)}
        if start + size < len(items):
            out["NextToken"] = str(start + size)
        return out

    # -- operations ------------------------------------------------------------------------
    def _op_GetAccountBalance(self, body: dict[str, Any]) -> dict[str, Any]:
        return {"AvailableBalance": f"{self.balance:.2f}"}

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
        }
        self._remember("CreateHIT", token, hit_id)
        return {"HIT": self._hit_view(self.hits[hit_id])}

    def _op_GetHIT(self, body: dict[str, Any]) -> dict[str, Any]:
        return {"HIT": self._hit_view(self._hit(body["HITId"]))}

    def _op_ListHITs(self, body: dict[str, Any]) -> dict[str, Any]:
        live = [self._hit_view(h) for h in self.hits.values() if not h.get("_deleted")]
        return self._page(live, body, "HITs")

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
        return {}

    def _op_ListAssignmentsForHIT(self, body: dict[str, Any]) -> dict[str, Any]:
        self._hit(body["HITId"])
        statuses = body.get("AssignmentStatuses") or ["Submitted", "Approved", "Rejected"]
        found = [
            a
            for a in self.assignments.values()
            if a["HITId"] == body["HITId"] and a["AssignmentStatus"] in statuses
        ]
        return self._page(found, body, "Assignments")

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
        self.balance -= amount
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
        return self._page(found, body, "BonusPayments")

    def _op_CreateQualificationType(self, body: dict[str, Any]) -> dict[str, Any]:
        if any(q["Name"] == body["Name"] for q in self.qualification_types.values()):
            raise TurkError(
                "You have already created a QualificationType with this name. A "
                "QualificationType's name must be unique among all of the QualificationTypes "
                "created by the same user."
            )
        if body.get("AnswerKey") and not body.get("Test"):
            raise TurkError("An AnswerKey needs a Test")
        type_id = self._new_id("Q")
        self.qualification_types[type_id] = dict(
            body,
            QualificationTypeId=type_id,
            CreationTime=self.now(),
            IsRequestable=bool(body.get("Test")),
        )
        return {"QualificationType": self.qualification_types[type_id]}

    def _op_ListQualificationTypes(self, body: dict[str, Any]) -> dict[str, Any]:
        query = (body.get("Query") or "").lower()
        found = [q for q in self.qualification_types.values() if query in q["Name"].lower()]
        return self._page(found, body, "QualificationTypes")

    def _op_AssociateQualificationWithWorker(self, body: dict[str, Any]) -> dict[str, Any]:
        if body["QualificationTypeId"] not in self.qualification_types:
            raise TurkError(f"QualificationType {body['QualificationTypeId']} does not exist.")
        key = (body["QualificationTypeId"], body["WorkerId"])
        self.worker_qualifications[key] = int(body.get("IntegerValue", 1))
        return {}

    def _op_DisassociateQualificationFromWorker(self, body: dict[str, Any]) -> dict[str, Any]:
        key = (body["QualificationTypeId"], body["WorkerId"])
        if key not in self.worker_qualifications:
            raise TurkError(f"Worker {body['WorkerId']} does not hold this qualification.")
        del self.worker_qualifications[key]
        return {}

    def _op_GetQualificationScore(self, body: dict[str, Any]) -> dict[str, Any]:
        key = (body["QualificationTypeId"], body["WorkerId"])
        if key not in self.worker_qualifications:
            raise TurkError(f"Worker {body['WorkerId']} does not hold this qualification.")
        return {
            "Qualification": {
                "QualificationTypeId": key[0],
                "WorkerId": key[1],
                "IntegerValue": self.worker_qualifications[key],
                "Status": "Granted",
            }
        }

    def _op_CreateWorkerBlock(self, body: dict[str, Any]) -> dict[str, Any]:
        self.blocks[body["WorkerId"]] = body["Reason"]
        return {}

    def _op_NotifyWorkers(self, body: dict[str, Any]) -> dict[str, Any]:
        ids = body["WorkerIds"]
        if not 1 <= len(ids) <= 100:
            raise TurkError("WorkerIds must hold between 1 and 100 workers")
        known = {a["WorkerId"] for a in self.assignments.values()}
        failures = [
            {
                "NotifyWorkersFailureCode": "HardFailure",
                "NotifyWorkersFailureMessage": "Worker has not worked for you",
                "WorkerId": w,
            }
            for w in ids
            if w not in known
        ]
        self.messages.append(
            {"Subject": body["Subject"], "MessageText": body["MessageText"], "WorkerIds": list(ids)}
        )
        return {"NotifyWorkersFailureStatuses": failures}

    def _op_UpdateNotificationSettings(self, body: dict[str, Any]) -> dict[str, Any]:
        if body["HITTypeId"] not in self.hit_types:
            raise TurkError(f"HITType {body['HITTypeId']} does not exist.")
        current = self.notifications.get(body["HITTypeId"], {})
        self.notifications[body["HITTypeId"]] = {
            "Notification": body.get("Notification", current.get("Notification")),
            "Active": body.get("Active", True),
        }
        return {}


def _wire(value: Any) -> Any:
    """JSON-protocol timestamps are epoch seconds."""
    if isinstance(value, datetime):
        return value.timestamp()
    raise TypeError(f"cannot send {type(value).__name__}")
