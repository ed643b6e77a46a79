from __future__ import annotations

import tomllib
from decimal import Decimal
from pathlib import Path

import pytest

from infra.errors import ConfigError
from infra.settings import Settings, default_toml, load_settings


def test_defaults_without_a_file() -> None:
    settings = load_settings(None, environ={})
    assert settings.mturk.sandbox is True
    assert settings.hits.reward == Decimal("0.10")


def test_file_values_and_environment_overrides(tmp_path: Path) -> None:
    path = tmp_path / "beauty.toml"
    path.write_text('[mturk]\nsandbox = true\ntitle = "Pick skies"\n[label]\nport = 9000\n')
    settings = load_settings(
        path, environ={"BEAUTY_MTURK__SANDBOX": "false", "BEAUTY_HITS__REWARD": "0.25"}
    )
    assert settings.mturk.sandbox is False
    assert settings.mturk.title == "Pick skies"
    assert settings.label.port == 9000
    assert settings.hits.reward == Decimal("0.25")


@pytest.mark.parametrize(
    ("text", "env", "key"),
    [
        ("[label]\nport = -3\n", {}, "label.port"),
        ("[hits]\nscreens_per_hit = 'many'\n", {}, "hits.screens_per_hit"),
        ("[mturk]\nunknown_key = 1\n", {}, "mturk.unknown_key"),
        ("", {"BEAUTY_HITS__GOLD_RATE": "2"}, "hits.gold_rate"),
    ],
)
def test_a_bad_value_names_its_key_in_one_line(
    tmp_path: Path, text: str, env: dict[str, str], key: str
) -> None:
    path = tmp_path / "beauty.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_settings(path, environ=env)
    message = str(err.value)
    assert key in message
    assert "\n" not in message


def test_broken_toml_is_one_line_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "beauty.toml"
    path.write_text("[mturk\n")
    with pytest.raises(ConfigError, match=r"beauty\.toml"):
        load_settings(path, environ={})


def test_default_file_is_valid_toml_that_loads_to_the_defaults(tmp_path: Path) -> None:
    text = default_toml()
    tomllib.loads(text)
    path = tmp_path / "beauty.toml"
    path.write_text(text)
    assert load_settings(path, environ={}) == Settings()
    assert "[mturk]" in text and "sandbox = true" in text
