"""One case's facts for durable-rules: its records, the items of lists rules iterate, its stage facts.

Every fact carries ``sid`` (the session), ``z`` (the case's number in the session) and ``k`` (its kind:
``r`` record, ``i`` list item, ``s`` stage). A record fact holds its position ``o`` and, encoded
(:mod:`.encoding`), exactly the attributes some rule over its type reads (:class:`~.rules.FactSchema`):
field paths, ``seq``, identity, the rank of the record in each type set's case order, flags for
``matches``, results of ``find``, and list ids. A list a rule iterates gets one item fact per element
(``l`` the list id, ``x`` the index). A stage fact holds its node ``n``, its unique ``g`` and the values
of the environment its node's rules read.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from serviceflow.evaluators.base import CaseView, find_phrase
from serviceflow.evaluators.durable.encoding import (
    MISSING,
    encode,
    iteration,
    local_truth,
    matches,
    pure_value,
    walk,
)
from serviceflow.evaluators.durable.steps import Env, Node
from serviceflow.policy import ir
from serviceflow.records.model import Record

if TYPE_CHECKING:
    from serviceflow.evaluators.durable.machine import Program

Fact = dict[str, Any]


class FactWriter:
    """Builds the facts of one case (see the module docstring)."""

    def __init__(
        self,
        program: Program,
        keys_for: Callable[[str], list[tuple[tuple[Any, ...], str]]],
        view: CaseView,
        positions: Mapping[int, int],
        sid: str,
        z: int,
    ) -> None:
        self.schema = program.schema
        self.local_conds = program.normalizer.local_conds
        self.keys_for = keys_for
        self.view = view
        self.positions = positions
        self.sid, self.z = sid, z
        self.items: dict[str, list[Any]] = {}
        self._ranks = self._rank_tables()

    def record_facts(self) -> list[Fact]:
        """Every record's fact, each after the item facts of its lists."""
        return [fact for o, record in enumerate(self.view.records) for fact in self._record(o, record)]

    def stage_facts(self, node: Node, env: Env, g: int) -> list[Fact]:
        """The stage fact entering ``node`` with ``env``, after the item facts of lists it binds."""
        fact: Fact = {"sid": self.sid, "z": self.z, "k": "s", "n": node.id, "g": g}
        items: list[Fact] = []
        for key, name in node.stage.keys.items():
            fact[name] = self._stage_value(key, env, f"g{g}.{name}", items)
        return [*items, fact]

    def _rank_tables(self) -> dict[tuple[str, ...], dict[int, int]]:
        tables: dict[tuple[str, ...], dict[int, int]] = {}
        for key in self.schema.record_keys:
            if key[0] == "rank":
                ordered = self.view.of_types(key[1])
                tables[key[1]] = {self.positions[id(record)]: rank for rank, record in enumerate(ordered)}
        return tables

    def _record(self, o: int, record: Record) -> list[dict[str, Any]]:
        fact: dict[str, Any] = {"sid": self.sid, "z": self.z, "k": "r", "o": o}
        extra: list[dict[str, Any]] = []
        for key, name in self.keys_for(record.type):
            kind = key[0]
            if kind == "ident":
                fact[name] = encode(record)
            elif kind == "seq":
                fact[name] = o  # the case's order: the record's position among the visible records
            elif kind == "rank":
                fact[name] = self._ranks[key[1]].get(o, MISSING)
            elif kind == "field":
                fact[name] = encode(record.get(key[1]))
            elif kind == "match":
                fact[name] = matches(record.get(key[1]), key[2])
            elif kind == "find":
                fact[name] = encode(find_phrase(record.get(key[1]), key[2]))
            elif kind == "list":
                fact[name] = self._list(record.get(key[1]), f"r{o}.{name}", extra)
        return [*extra, fact]

    def _list(self, value: Any, list_id: str, out: list[dict[str, Any]]) -> Any:
        """The list id of ``value`` (its item facts appended to ``out``), or MISSING if not iterable."""
        values = iteration(value)
        if values is None:
            return MISSING
        self.items[list_id] = values
        for index, item in enumerate(values):
            fact: dict[str, Any] = {"sid": self.sid, "z": self.z, "k": "i", "l": list_id, "x": index}
            for key, name in self.schema.item_keys.items():
                kind = key[0]
                if kind == "value":
                    fact[name] = encode(item)
                elif kind == "field":
                    fact[name] = encode(walk(item, key[1]))
                elif kind == "match":
                    fact[name] = matches(walk(item, key[1]), key[2])
                elif kind == "find":
                    fact[name] = encode(find_phrase(walk(item, key[1]), key[2]))
                elif kind == "list":
                    fact[name] = self._list(walk(item, key[1]), f"{list_id}.{index}.{name}", out)
            out.append(fact)
        return list_id

    def _stage_value(self, key: tuple[Any, ...], env: Env, list_id: str, out: list[dict[str, Any]]) -> Any:
        kind = key[0]
        if kind == "env":
            return encode(walk(env.get(key[1]), key[2]))
        if kind == "seq":
            value = env.get(key[1])
            return self.positions.get(id(value), MISSING) if isinstance(value, Record) else MISSING
        if kind == "list":
            return self._list(walk(env.get(key[1]), key[2]), list_id, out)
        if kind == "match":
            return matches(walk(env.get(key[1]), key[2]), key[3])
        if kind == "find":
            return encode(find_phrase(walk(env.get(key[1]), key[2]), key[3]))
        if kind == "truth":
            return local_truth(self.local_conds[key[1]], env)
        if kind == "substring":
            cond = self.local_conds[key[1]]
            assert isinstance(cond, ir.In)
            return local_truth(cond, env) if isinstance(pure_value(cond.options, env), str) else 0
        raise AssertionError(f"unknown stage attribute {key!r}")  # pragma: no cover
