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
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from infra.errors import ConfigError

ENV_PREFIX = "BEAUTY_"


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ImagesSettings(Section):
    max_pixels: int = Field(90_000_000, gt=0, description="larger images are refused as bombs")
    extensions: list[str] = [".jpg", ".jpeg", ".png", ".webp"]


class S3Settings(Section):
    region: str | None = None
    endpoint_url: str | None = None
    workers: int = Field(16, ge=1, le=256, description="parallel reads and uploads")
    url_expiry_seconds: int = Field(7 * 24 * 3600, ge=60, le=7 * 24 * 3600)


class HitsSettings(Section):
    design: Literal["pairwise", "fourup"] = "fourup"
    market: str = "local"  # a registered market (crowd.markets); checked when a batch is planned
    screens_per_hit: int = Field(10, ge=1, le=50)
    assignments: int = Field(3, ge=1)
    reward: Decimal = Field(Decimal("0.10"), ge=0)
    gold_rate: float = Field(0.2, ge=0, lt=1)
    appearances: int = Field(4, ge=1)
    no_preference: bool = Field(True, description="offer 'no preference' on pairs")
    seconds_per_screen: float = Field(6.0, gt=0, description="expected, for cost and pay estimates")


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
    min_approved_hits: int = Field(1000, ge=0)
    locales: list[str] = ["US"]
    masters: bool = False
    spend_cap: Decimal = Field(Decimal("50.00"), ge=0, description="dollars, per post")
    exclusion_qualification: str | None = None


class ReviewSettings(Section):
    """Review thresholds (``crowd/review.py``). A worker is excluded on any one finding; an
    assignment is rejected only on strong evidence (see the policy's docstring)."""

    min_gold_for_verdict: int = Field(3, ge=1, description="gold answers before gold counts")
    reject_below: float = Field(0.4, ge=0, le=1, description="upper Wilson bound under this")
    exclude_below: float = Field(0.72, ge=0, le=1, description="upper Wilson bound under this")
    bonus_above: float = Field(0.9, ge=0, le=1, description="lower Wilson bound over this")
    bonus: Decimal = Field(Decimal("0.05"), ge=0)
    min_screens: int = Field(8, ge=1, description="answers before a non-gold signal counts")
    alpha: float = Field(1e-4, gt=0, lt=0.5, description="test level that excludes")
    strong_alpha: float = Field(1e-7, gt=0, lt=0.5, description="test level that is strong")
    all_none_base: float = Field(0.25, gt=0, lt=1, description="keep-all/none rate allowed")
    fast_ratio: float = Field(0.35, gt=0, lt=1, description="a screen under this x crowd median")
    fast_base: float = Field(0.2, gt=0, lt=1, description="rushed-screen rate allowed")
    speed_alpha: float = Field(1e-3, gt=0, lt=0.5, description="test level for rushing")
    agreement_share: float = Field(
        0.42, gt=0, lt=1, description="agreement bound under this share of the crowd's lead"
    )
    strong_agreement_share: float = Field(0.2, gt=0, lt=1, description="strong when under")
    looking_above: float = Field(
        0.5, ge=0, le=1, description="gold lower bound that outweighs low agreement"
    )
    reliability_below: float = Field(0.2, ge=0, description="learned reliability under this")
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
    host: str = "127.0.0.1"
    port: int = Field(8765, ge=0, le=65535)
    access_code: str | None = None


class RankingSettings(Section):
    tiers: list[float] = [50.0, 95.0, 98.0]
    prior: float = Field(0.1, gt=0, description="L2 penalty on log-strengths (a weak prior)")


class TrainingSettings(Section):
    backbone: str = "xception"
    weights: str = "imagenet"
    input_height: int = Field(150, ge=71)
    input_width: int = Field(1152, ge=71)
    batch_size: int = Field(8, ge=1)
    epochs: int = Field(20, ge=1)


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
            raise ConfigError(f"{path}: not valid TOML ({exc}); fix the file") from exc
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
