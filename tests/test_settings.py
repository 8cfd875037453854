"""Configuration is read from the environment in one place, with the documented defaults."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from api.settings import DEFAULT_DATABASE_URL, Settings

ROOT = Path(__file__).resolve().parent.parent


def test_defaults_when_nothing_is_set() -> None:
    s = Settings.from_env({})
    assert s.database_url == DEFAULT_DATABASE_URL
    assert s.dialect == "sqlite"
    assert s.max_body_bytes == 1024 * 1024
    assert s.tick_interval == 60
    assert s.plugin_autoload is True
    assert s.plugin_allow is None


def test_plugin_switches_and_database_url_are_read() -> None:
    s = Settings.from_env(
        {
            "JORNADA_DATABASE_URL": "postgres://u@db:5432/jornada",
            "JORNADA_PLUGINS": " acme , jornada-acme-subscriptions,",
            "JORNADA_DISABLE_PLUGIN_AUTOLOAD": "true",
            "JORNADA_TICK_INTERVAL": "0",
        }
    )
    assert s.dialect == "postgres"
    assert s.plugin_allow == frozenset({"acme", "jornada-acme-subscriptions"})
    assert s.plugin_autoload is False
    assert s.tick_interval == 0


def test_a_bad_number_names_the_variable() -> None:
    with pytest.raises(ValueError, match="JORNADA_MAX_BODY_BYTES"):
        Settings.from_env({"JORNADA_MAX_BODY_BYTES": "lots"})


def test_settings_built_in_code_leave_the_periodic_check_off() -> None:
    assert Settings(database_url="sqlite://x.sqlite3").tick_interval == 0


def test_every_variable_read_is_in_the_readme_table() -> None:
    source = (ROOT / "api" / "settings.py").read_text()
    table = (ROOT / "README.md").read_text().split("## Configuration", 1)[1]
    read = set(re.findall(r'"(JORNADA_[A-Z_]+)"', source))
    documented = set(re.findall(r"^\| `(JORNADA_[A-Z_]+)` \|", table, re.MULTILINE))
    assert "JORNADA_REPLAY_WORKERS" in read
    assert read - documented == set()
