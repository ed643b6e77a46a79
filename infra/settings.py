"""Workspace settings: ``beauty.toml``, validated by pydantic, overridden by ``BEAUTY_*`` variables.

An override names a section and a key with a double underscore: ``BEAUTY_MTURK__SANDBOX=false``,
``BEAUTY_LABEL__PORT=9000``. Values are parsed as TOML scalars (``true``, ``3``, ``"text"``),
falling back to the raw string.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from decimal import Decimal
from itertools import pairwise
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from infra.errors import ConfigError

ENV_PREFIX = "BEAUTY_"


class Section(BaseModel):
    # No setting is infinite or NaN: `inf` minutes or a NaN threshold would pass every check.
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


class ImagesSettings(Section):
    max_pixels: int = Field(
        90_000_000, gt=0, le=2_000_000_000, description="larger images are refused as bombs"
    )
    max_bytes: int = Field(
        64 * 1024**2, gt=0, le=4 * 1024**3, description="larger files are skipped unread"
    )
    extensions: list[str] = [".jpg", ".jpeg", ".png", ".webp"]
    camera_timezone: str | None = Field(
        None,
        description="IANA time zone of the camera's clock (e.g. America/Los_Angeles), for "
        "capture times without an EXIF offset; unset keeps them as local time",
    )

    @field_validator("camera_timezone")
    @classmethod
    def _known_zone(cls, zone: str | None) -> str | None:
        if zone is None:
            return None
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {zone!r}: use an IANA name") from None
        return zone


class S3Settings(Section):
    region: str | None = None
    endpoint_url: str | None = None
    workers: int = Field(16, ge=1, le=256, description="parallel reads and uploads")
    url_expiry_seconds: int = Field(7 * 24 * 3600, ge=60, le=7 * 24 * 3600)


class HitsSettings(Section):
    design: Literal["pairwise", "fourup"] = "fourup"
    market: str = "local"  # a registered market (crowd.markets); checked when a batch is planned
    screens_per_hit: int = Field(10, ge=1, le=50)
    assignments: int = Field(3, ge=1, le=1000)
    reward: Decimal = Field(Decimal("0.10"), ge=0, le=1000)
    gold_rate: float = Field(0.2, ge=0, lt=1)
    appearances: int = Field(4, ge=1, le=10_000)
    no_preference: bool = Field(True, description="offer 'no preference' on pairs")
    seconds_per_screen: float = Field(
        6.0, gt=0, le=3600, description="expected, for cost and pay estimates"
    )


class MTurkSettings(Section):
    sandbox: bool = True
    endpoint_url: str | None = None
    region: str = "us-east-1"
    title: str = "Which photos are worth keeping?"
    description: str = "Look at photos of a city skyline and pick the better ones. Quick, visual."
    keywords: str = "image, photo, comparison, rating, beauty"
    assignment_duration_seconds: int = Field(1800, ge=30, le=365 * 24 * 3600)
    lifetime_seconds: int = Field(3 * 24 * 3600, ge=30, le=365 * 24 * 3600)
    auto_approval_delay_seconds: int = Field(3 * 24 * 3600, ge=0, le=30 * 24 * 3600)
    min_approval_rate: int = Field(95, ge=0, le=100)
    min_approved_hits: int = Field(1000, ge=0, le=1_000_000_000)
    locales: list[str] = ["US"]
    masters: bool = False
    spend_cap: Decimal = Field(
        Decimal("50.00"), ge=0, le=1_000_000, description="dollars, per post"
    )
    exclusion_qualification: str | None = None


class ReviewSettings(Section):
    """Review thresholds (``crowd/review.py``). A worker is excluded on any one finding; an
    assignment is rejected only on strong evidence (see the policy's docstring)."""

    min_gold_for_verdict: int = Field(
        3, ge=1, le=1_000_000, description="gold answers before gold counts"
    )
    reject_below: float = Field(0.4, ge=0, le=1, description="upper Wilson bound under this")
    exclude_below: float = Field(0.72, ge=0, le=1, description="upper Wilson bound under this")
    bonus_above: float = Field(0.9, ge=0, le=1, description="lower Wilson bound over this")
    bonus: Decimal = Field(Decimal("0.05"), ge=0, le=1000)
    min_screens: int = Field(
        8, ge=1, le=1_000_000, description="answers before a non-gold signal counts"
    )
    alpha: float = Field(1e-4, gt=0, lt=0.5, description="test level that excludes")
    strong_alpha: float = Field(1e-7, gt=0, lt=0.5, description="test level that is strong")
    all_none_base: float = Field(0.25, gt=0, lt=1, description="keep-all/none rate allowed")
    fast_ratio: float = Field(0.35, gt=0, lt=1, description="a screen under this x crowd median")
    fast_base: float = Field(0.2, gt=0, lt=1, description="rushed-screen rate allowed")
    speed_alpha: float = Field(1e-3, gt=0, lt=0.5, description="test level for rushing")
    unloaded_base: float = Field(
        0.05, gt=0, lt=1, description="could-not-load screen rate allowed (or the crowd's)"
    )
    agreement_share: float = Field(
        0.42, gt=0, lt=1, description="agreement bound under this share of the crowd's lead"
    )
    strong_agreement_share: float = Field(0.2, gt=0, lt=1, description="strong when under")
    looking_above: float = Field(
        0.5, ge=0, le=1, description="gold lower bound that outweighs low agreement"
    )
    reliability_below: float = Field(
        0.2, ge=0, le=100, description="learned reliability under this"
    )
    near: float = Field(0.1, ge=0, lt=1, description="report margin: 'near a line'")

    @model_validator(mode="after")
    def _ordered(self) -> ReviewSettings:
        if self.reject_below > self.exclude_below:
            raise ValueError("reject_below must not exceed exclude_below")
        if self.strong_alpha > self.alpha:
            raise ValueError("strong_alpha must not exceed alpha")
        if self.strong_agreement_share > self.agreement_share:
            raise ValueError("strong_agreement_share must not exceed agreement_share")
        return self


class LabelSettings(Section):
    """The local labeling server: where it listens, who may sign in, what a client may hold."""

    host: str = "127.0.0.1"
    port: int = Field(8765, ge=0, le=65535)
    access_code: str | None = Field(None, description="at least 12 characters; or a file")
    admin_code: str | None = Field(None, description="for the full /status; generated if unset")
    host_names: list[str] = Field([], description="names labelers reach the server by")
    invite_only: bool = Field(False, description="only names given by `beauty label invite`")
    trust_proxy: bool = Field(False, description="X-Forwarded-For/-Proto from 127.0.0.1")
    threads: int = Field(8, ge=1, le=64)
    connection_limit: int = Field(500, ge=8, le=10_000, description="open connections at most")
    header_timeout: float = Field(
        5.0, gt=0, le=120, allow_inf_nan=False, description="seconds to send a request header"
    )
    body_timeout: float = Field(
        15.0, gt=0, le=300, allow_inf_nan=False, description="seconds to send a request body"
    )
    idle_timeout: int = Field(15, ge=1, le=600, description="seconds a quiet connection is kept")
    max_header_bytes: int = Field(32 * 1024, ge=1024, le=1 << 20)
    max_body_bytes: int = Field(1 << 20, ge=1024, le=64 << 20)


class RankingSettings(Section):
    tiers: list[float] = Field(
        [50.0, 95.0, 98.0], description="percentiles, strictly increasing, each within (0, 100)"
    )
    prior: float = Field(
        0.1, gt=0, le=1e6, description="L2 penalty on log-strengths (a weak prior)"
    )

    @field_validator("tiers")
    @classmethod
    def _tiers(cls, tiers: list[float]) -> list[float]:
        if not tiers:
            raise ValueError("give at least one percentile, e.g. [50.0, 95.0, 98.0]")
        if any(not (0 < t < 100) for t in tiers):
            raise ValueError(f"each percentile must lie within (0, 100), got {tiers}")
        if any(b <= a for a, b in pairwise(tiers)):
            raise ValueError(f"percentiles must be strictly increasing, got {tiers}")
        return tiers


class TrainingSettings(Section):
    backbone: str = "xception"
    weights: str = "imagenet"
    input_height: int = Field(150, ge=71, le=8192)
    input_width: int = Field(1152, ge=71, le=8192)
    batch_size: int = Field(8, ge=1, le=4096)
    epochs: int = Field(20, ge=1, le=100_000)


class Settings(Section):
    images: ImagesSettings = ImagesSettings()
    s3: S3Settings = S3Settings()
    hits: HitsSettings = HitsSettings()
    mturk: MTurkSettings = MTurkSettings()
    review: ReviewSettings = ReviewSettings()
    label: LabelSettings = LabelSettings()
    ranking: RankingSettings = RankingSettings()
    training: TrainingSettings = TrainingSettings()


def load_settings(path: Path | None, environ: Mapping[str, str] | None = None) -> Settings:
    """Read ``beauty.toml`` (if any), apply ``BEAUTY_*`` overrides, validate."""
    data: dict[str, Any] = {}
    if path is not None and path.exists():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML ({exc}); fix the file") from None
        except UnicodeDecodeError as exc:
            raise ConfigError(
                f"{path}: not UTF-8 text (byte {exc.start}); save it as UTF-8"
            ) from None
        except OSError as exc:
            raise ConfigError(
                f"{path}: cannot read it ({exc.strerror}); check its permissions"
            ) from None
    env = os.environ if environ is None else environ
    for name, raw in env.items():
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        section, _, key = name[len(ENV_PREFIX) :].lower().partition("__")
        data.setdefault(section, {})
        if not isinstance(data[section], dict):
            raise ConfigError(f"{name}: [{section}] is not a section")
        data[section][key] = _parse_scalar(raw)
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"])
        source = f"{path.name if path else 'settings'}"
        raise ConfigError(
            f"setting {key} in {source} (or BEAUTY_ override): {err['msg']}; fix or remove it"
        ) from None


def _parse_scalar(raw: str) -> Any:
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def default_toml() -> str:
    """A commented ``beauty.toml`` holding every default, for ``beauty init``."""
    lines = [
        "# Beauty Crowd workspace settings. Every key is optional; shown here with its default.",
        "# Override a key for one run: BEAUTY_<SECTION>__<KEY>, e.g. BEAUTY_MTURK__SANDBOX=false",
    ]
    for section, model in Settings().model_dump(mode="json").items():
        lines.append(f"\n[{section}]")
        fields = type(getattr(Settings(), section)).model_fields
        for key, value in model.items():
            doc = fields[key].description
            comment = f"  # {doc}" if doc else ""
            if value is None:
                lines.append(f"# {key} = ...{comment}")
            else:
                lines.append(f"# {key} = {_toml_value(value)}{comment}")
    return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
