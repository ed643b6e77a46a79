"""The MTurk requester client: sandbox by default, live on request, with patient retries.

The endpoint is, in order: ``[mturk] endpoint_url`` in ``beauty.toml``, boto3's own
``AWS_ENDPOINT_URL_MTURK`` variable, then the sandbox or live endpoint. botocore's default for
the service is the live endpoint, so the endpoint is always passed explicitly: a missing setting
must never mean real money.

Throttling, 5xx answers and dropped connections are retried by botocore's standard retry mode
(exponential backoff with jitter). The backoff sleep can be replaced, so that tests of long
throttling bursts take no time.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any, Literal

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoRegionError
from botocore.retries import standard

from infra import aws
from infra.errors import BeautyError
from infra.settings import MTurkSettings

NAME = "mturk"  # this market's name in the market registry and in the ledger
Environment = Literal["sandbox", "live"]

SANDBOX_ENDPOINT = "https://mturk-requester-sandbox.us-east-1.amazonaws.com"
LIVE_ENDPOINT = "https://mturk-requester.us-east-1.amazonaws.com"
ENDPOINT_VARIABLE = "AWS_ENDPOINT_URL_MTURK"
MAX_ATTEMPTS = 10
_RETRY_EVENT = "needs-retry.mturk"
_RETRY_ID = "retry-config-mturk"


def environment_of(settings: MTurkSettings, live: bool) -> Environment:
    """The environment a posting command works in; live only with ``--live``.

    Raises
    ------
    BeautyError
        When the settings say live (``sandbox = false``) but ``--live`` was not given.
    """
    if live:
        return "live"
    if not settings.sandbox:
        raise BeautyError(
            "[mturk] sandbox is false (beauty.toml or BEAUTY_MTURK__SANDBOX): pass --live to "
            "spend real money, or set sandbox = true to stay in the sandbox"
        )
    return "sandbox"


def endpoint_for(settings: MTurkSettings, environment: Environment) -> str:
    """The endpoint URL for ``environment``, honouring overrides."""
    override = settings.endpoint_url or os.environ.get(ENDPOINT_VARIABLE)
    if override:
        return override
    return LIVE_ENDPOINT if environment == "live" else SANDBOX_ENDPOINT


def make_client(
    settings: MTurkSettings,
    environment: Environment,
    *,
    sleep: Callable[[float], None] | None = None,
    max_attempts: int = MAX_ATTEMPTS,
) -> Any:
    """A boto3 MTurk client for ``environment``.

    Parameters
    ----------
    settings : MTurkSettings
        The ``[mturk]`` section: region and endpoint override.
    environment : {"sandbox", "live"}
        Which MTurk to talk to.
    sleep : callable, optional
        Replaces the backoff sleep between retries (``time.sleep`` by default).
    max_attempts : int
        Attempts per call, the first included.
    """
    config = Config(retries={"max_attempts": max_attempts, "mode": "standard"})
    try:
        client = aws.session().client(
            "mturk",
            region_name=settings.region,
            endpoint_url=endpoint_for(settings, environment),
            config=config,
        )
    except NoRegionError:
        raise BeautyError("no AWS region for MTurk: set [mturk] region in beauty.toml") from None
    if sleep is not None:
        _replace_sleep(client, sleep, max_attempts)
    return client


def _replace_sleep(client: Any, sleep: Callable[[float], None], max_attempts: int) -> None:
    """Let ``sleep`` wait out botocore's backoff; botocore then sleeps for zero seconds."""
    events = client.meta.events
    events.unregister(_RETRY_EVENT, unique_id=_RETRY_ID)
    handler = standard.register_retry_handler(client, max_attempts=max_attempts)
    events.unregister(_RETRY_EVENT, unique_id=_RETRY_ID)

    def needs_retry(**kwargs: Any) -> float | None:
        delay: float | None = handler.needs_retry(**kwargs)
        if delay:
            sleep(delay)
            return 0.0
        return delay

    events.register(_RETRY_EVENT, needs_retry, unique_id=_RETRY_ID)


class Clients:
    """One client per environment, made on first use (or one given client for all)."""

    def __init__(self, settings: MTurkSettings, given: Any = None) -> None:
        self._settings = settings
        self._given = given
        self._made: dict[Environment, Any] = {}

    def __call__(self, environment: Environment) -> Any:
        if self._given is not None:
            return self._given
        if environment not in self._made:
            self._made[environment] = make_client(self._settings, environment)
        return self._made[environment]


def error_code(exc: ClientError) -> str:
    """The error's code (``RequestError``, ``ServiceFault``, ``ThrottlingException`` ...)."""
    return str(exc.response.get("Error", {}).get("Code", ""))


def error_message(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Message", "")) or str(exc)


def already_done(exc: ClientError) -> bool:
    """Whether MTurk refused a call because the same request token was already used."""
    text = f"{exc.response.get('TurkErrorCode', '')} {error_message(exc)}".lower()
    return error_code(exc) in ("RequestError", "ServiceFault") and (
        "already" in text or "idempotency" in text
    )


def insufficient_funds(exc: ClientError) -> bool:
    """Whether MTurk refused a call because the requester's balance is short."""
    text = f"{exc.response.get('TurkErrorCode', '')} {error_message(exc)}".lower()
    return "insufficientfunds" in text or "insufficient funds" in text


def unanswered(exc: BotoCoreError | ClientError) -> bool:
    """Whether a call that failed for good may still have been applied: no answer came, or a
    server error or throttling outlasted the retries."""
    if isinstance(exc, BotoCoreError):
        return True
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
    return status >= 500 or "Throttl" in error_code(exc) or error_code(exc) == "ServiceFault"


def market_error(exc: BotoCoreError | ClientError, action: str) -> BeautyError:
    """One line for an MTurk failure that survived the retries."""
    missing = aws.credentials_error(exc)
    if missing is not None:
        return missing
    if isinstance(exc, ClientError) and insufficient_funds(exc):
        return BeautyError(
            f"MTurk refused to {action} for want of funds ({error_message(exc)}): add funds, "
            "then run the same command again; it continues where it stopped"
        )
    if isinstance(exc, ClientError) and not unanswered(exc):
        return BeautyError(f"MTurk refused to {action}: {error_message(exc)}")
    return BeautyError(
        f"MTurk did not answer while trying to {action} ({exc}): run the same command again; "
        "it continues where it stopped"
    )


def each(client: Any, operation: str, key: str, **params: Any) -> Iterator[Any]:
    """Every item of a paginated MTurk list call, 100 to a page."""
    paginator = client.get_paginator(operation)
    for page in paginator.paginate(PaginationConfig={"PageSize": 100}, **params):
        yield from page.get(key, [])
