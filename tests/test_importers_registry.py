"""The importers as the plugin host registers them: names, lookup, source zones, the engine asking by name."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from serviceflow import Engine
from serviceflow.config import Config
from serviceflow.errors import InputError
from serviceflow.importers import BUILT_IN_IMPORTERS, TicketLogImporter
from serviceflow.plugins import PluginHost
from serviceflow.run import evaluate_sources

NAMES = sorted(importer.name for importer in BUILT_IN_IMPORTERS)


def get_importer(name: str, source_tz: str | None = None) -> TicketLogImporter:
    importer = PluginHost().reader(name).read
    assert isinstance(importer, TicketLogImporter)
    return importer if source_tz is None else importer.with_source_tz(source_tz)


DOCS = Path(__file__).resolve().parents[1] / "docs" / "importers.md"


def test_there_is_one_importer_per_ticket_log() -> None:
    assert NAMES == [
        "bpic2013-incidents",
        "bpic2014-incidents",
        "helpdesk-log",
        "servicenow-incidents",
    ]


def test_an_unknown_format_is_an_input_error_naming_the_known_ones() -> None:
    with pytest.raises(InputError) as raised:
        get_importer("zendesk")
    assert raised.value.message == (
        "unknown input format 'zendesk' (formats: abcd, bpic2013-incidents, bpic2014-incidents, "
        "helpdesk-log, records, servicenow-incidents, twcs)"
    )


def test_the_engine_refuses_an_unknown_format_before_reading_anything(tmp_path: Path) -> None:
    engine = Engine.from_config(config=Config())
    with pytest.raises(InputError, match="unknown input format 'zendesk'"):
        evaluate_sources(
            engine, [tmp_path / "missing.csv"], now=datetime(2024, 1, 1, tzinfo=UTC), input_format="zendesk"
        )


@pytest.mark.parametrize("name", NAMES)
def test_bare_timestamps_are_utc_unless_a_source_zone_is_given(name: str) -> None:
    assert get_importer(name).zone is UTC
    amsterdam = get_importer(name, source_tz="Europe/Amsterdam")
    assert str(amsterdam.zone) == "Europe/Amsterdam"
    assert get_importer(name).zone is UTC  # the registered importer is not changed


def test_an_unknown_source_zone_is_an_input_error() -> None:
    with pytest.raises(InputError, match="unknown time zone 'Europe/Atlantis'"):
        get_importer("helpdesk-log", source_tz="Europe/Atlantis")


@pytest.mark.parametrize("name", NAMES)
def test_every_importer_has_its_mapping_documented(name: str) -> None:
    assert f"`{name}`" in DOCS.read_text(encoding="utf-8")
