"""The worker side of the MTurk fake: qualifications, blocks, messages and notifications.

A mixin of :class:`tests.mturk.fake_mturk.FakeMTurk`, kept apart so that each file stays
readable; it follows MTurk's rules where our code depends on them: a qualification name is
unique, a worker must hold an ``Exists`` qualification and lack a ``DoesNotExist`` one to work,
NotifyWorkers takes 1 to 100 workers and fails for those who never worked for us.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any


class TurkError(Exception):
    """An error MTurk answers with: ``RequestError`` (HTTP 400) or ``ServiceFault`` (500)."""

    def __init__(self, message: str, code: str = "RequestError", turk_code: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.turk_code = turk_code or "AWS.MechanicalTurk.InvalidRequest"


def page_of(items: list[Any], body: dict[str, Any], key: str) -> dict[str, Any]:
    """One page of a list call, by ``MaxResults`` (1-100) and an opaque ``NextToken``."""
    size = int(body.get("MaxResults") or 10)
    if not 1 <= size <= 100:
        raise TurkError("MaxResults must be between 1 and 100")
    start = int(body.get("NextToken") or 0)
    chunk = items[start : start + size]
    out: dict[str, Any] = {key: chunk, "NumResults": len(chunk)}
    if start + size < len(items):
        out["NextToken"] = str(start + size)
    return out


class WorkerOps:
    """Qualification, block, message and notification operations of the fake."""

    now: Callable[[], datetime]
    sqs: Any
    hit_types: dict[str, dict[str, Any]]
    assignments: dict[str, dict[str, Any]]
    qualification_types: dict[str, dict[str, Any]]
    worker_qualifications: dict[tuple[str, str], int]
    blocks: dict[str, str]
    notifications: dict[str, dict[str, Any]]
    messages: list[dict[str, Any]]
    _new_id: Callable[[str], str]

    def qualified(self, qualification_type_id: str, worker_id: str) -> bool:
        return (qualification_type_id, worker_id) in self.worker_qualifications

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
        return page_of(found, body, "QualificationTypes")

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
