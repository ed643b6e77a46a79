"""boto3 clients with the standard credential chain and retries suited to long campaigns."""

from __future__ import annotations

from functools import cache
from typing import Any

from botocore.config import Config
from botocore.exceptions import (
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
)

from infra.errors import BeautyError

RETRIES = Config(retries={"max_attempts": 10, "mode": "adaptive"}, max_pool_connections=64)


@cache
def _service_models() -> Any:
    """botocore's loader of service models and endpoints, shared by every session of the
    process: each new session would read the same JSON files again (a quarter of a second a
    client)."""
    from botocore.loaders import create_loader

    return create_loader()


def session() -> Any:
    """A fresh boto3 session (its own credential chain and settings, read now) that reuses the
    service models already loaded in this process."""
    import boto3
    import botocore.session

    core = botocore.session.get_session()
    core.register_component("data_loader", _service_models())
    return boto3.session.Session(botocore_session=core)


def client(service: str, *, region: str | None = None, endpoint_url: str | None = None) -> Any:
    """A boto3 client. Credentials come from boto3's chain (env, profile, SSO, instance role)."""
    try:
        return session().client(
            service, region_name=region, endpoint_url=endpoint_url, config=RETRIES
        )
    except NoRegionError:
        raise BeautyError(
            f"no AWS region for {service}: set AWS_DEFAULT_REGION or [s3] region in beauty.toml"
        ) from None


def credentials_error(exc: Exception) -> BeautyError | None:
    """Translate botocore's credential errors into the one-line form."""
    if isinstance(exc, NoCredentialsError):
        return BeautyError(
            "no AWS credentials: run `aws configure` or set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY (or AWS_PROFILE)"
        )
    return None


# Errors that every further call would repeat: stop at the first, with the fix.
SYSTEMIC_CODES = {
    "AccessDenied",
    "AllAccessDisabled",
    "ExpiredToken",
    "InvalidAccessKeyId",
    "InvalidToken",
    "NoSuchBucket",
    "SignatureDoesNotMatch",
}


def systemic_error(exc: Exception) -> BeautyError | None:
    """The one-line error for a failure that is not about one object (credentials, a missing
    bucket, no network), or None for a failure of that object alone."""
    if isinstance(exc, NoCredentialsError | EndpointConnectionError):
        return user_error(exc)
    if isinstance(exc, ClientError) and exc.response.get("Error", {}).get("Code") in SYSTEMIC_CODES:
        return user_error(exc)
    return None


def user_error(exc: Exception) -> BeautyError:
    """One line for an AWS failure that reached the user: what AWS said, and what to check."""
    missing = credentials_error(exc)
    if missing is not None:
        return missing
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code, message = error.get("Code", "error"), error.get("Message", "")
        operation = exc.operation_name
        return BeautyError(
            f"AWS refused {operation}: {code} {message}".rstrip()
            + "; check the bucket or prefix, the region and your permissions"
        )
    return BeautyError(f"AWS could not be reached ({exc}); check the network and run it again")
