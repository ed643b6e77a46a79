"""Every MTurk test runs against moto's S3: posting copies images per HIT (S3 CopyObject)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from moto import mock_aws


@pytest.fixture(autouse=True)
def moto_s3() -> Iterator[None]:
    """moto in place of AWS (nested ``mock_aws`` blocks in a test share this one)."""
    with mock_aws():
        yield
