"""Enrichers derive fields or flags of valid records before evaluation (see the hook reference).

:class:`EnricherChain` runs the enabled ones over one record's JSON data and says what failed, so
that the engine can report a failing enricher as an engine error naming its plugin and still evaluate
the record as it was read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from serviceflow.contributions import EnrichFunction
from serviceflow.errors import PLUGIN_FAILURES


@dataclass(frozen=True)
class EnricherFailure:
    """An enricher that raised or returned something other than a mapping of fields."""

    name: str
    plugin: str
    problem: str

    @property
    def message(self) -> str:
        owner = f" (plugin {self.plugin})" if self.plugin else ""
        return f"enricher '{self.name}'{owner} {self.problem}; the record was evaluated as it was read"


@dataclass(frozen=True)
class ActiveEnricher:
    name: str
    plugin: str
    enrich: EnrichFunction


class EnricherChain:
    """The enabled enrichers, in order; each sees the fields the ones before it set."""

    def __init__(self, enrichers: Sequence[ActiveEnricher]) -> None:
        self.enrichers = list(enrichers)

    def __bool__(self) -> bool:
        return bool(self.enrichers)

    def apply(self, data: Mapping[str, Any]) -> tuple[dict[str, Any] | None, list[EnricherFailure]]:
        """The enriched copy of ``data`` (``None`` when nothing changed) and the enrichers that failed.

        When any enricher fails, no enrichment is kept: a half-enriched record would be evaluated on
        fields nobody can account for.
        """
        record_type = data.get("type")
        current: dict[str, Any] | None = None
        failures: list[EnricherFailure] = []
        for enricher in self.enrichers:
            try:
                updates = enricher.enrich(str(record_type), current if current is not None else data)
            except PLUGIN_FAILURES as exc:
                failures.append(
                    EnricherFailure(enricher.name, enricher.plugin, f"raised {type(exc).__name__}: {exc}")
                )
                continue
            if updates is None:
                continue
            if not isinstance(updates, Mapping):
                failures.append(
                    EnricherFailure(
                        enricher.name, enricher.plugin, f"returned {updates!r}, not a mapping of fields"
                    )
                )
                continue
            if updates:
                current = {**(current if current is not None else data), **updates}
        if failures:
            return None, failures
        return current, []
