"""The compiled form of a policy: a small typed tree that both evaluators read.

A policy is compiled once, with its parameters bound, into these frozen nodes. The native evaluator
walks them directly; the durable evaluator translates them into durable-rules rulesets. Neither
evaluator knows any policy by name: everything a policy means is in this tree.

Meaning, per case and at ``now`` (records with ``at`` after ``now`` are not yet known and are ignored):

* ``CompiledPolicy.subject`` selects the records the policy is about; each yields at most one finding.
* ``lets`` are evaluated in order, each seeing the subject and the earlier lets.
* ``when`` (applicability) false → no finding.
* ``require`` true → no finding. Otherwise, if ``by`` evaluates to a time after ``now`` the obligation is
  *pending* with that deadline, else it is a *violation*.

Time arithmetic follows the policy's clock: adding a duration to a time, or subtracting two times,
counts business hours when the policy runs with a calendar (``CompiledPolicy.calendar``), and plain
elapsed time otherwise.

Values are ``None`` (missing), bool, int/float, str, aware ``datetime``, ``timedelta``, lists, dicts and
:class:`~serviceflow.records.model.Record` (bound by ``latest``/``earliest``). Ordering comparisons with a
missing value are false; ``eq``/``ne`` compare missing as ``None``.

Evidence of a finding, in case order and without repeats: the subject, every record a ``latest`` or
``earliest`` let bound, every record that changed a ``fold`` accumulator, and every record matched by a
``none`` query that was evaluated.

Source pointers: every node the compiler builds from the YAML carries ``pointer``, the JSON pointer of
the YAML node it came from (a condition ``/require/exists/where/2``, its query ``/require/exists``), so
that traces, ``serviceflow explain`` and coverage can name the clause an author wrote. It is not part of
a node's value (``compare=False``): nodes that evaluators build for themselves have none and still
compare equal to the compiler's, and ``dataclasses.replace`` keeps it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal

from serviceflow.conditions import NamedCondition
from serviceflow.errors import Location
from serviceflow.findings import Severity

if TYPE_CHECKING:
    from serviceflow.policy.yamlsource import SourceDocument

# --- value expressions -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Lit:
    """A constant. A parameter is a constant too, marked with its name so that binding other values
    (:func:`bind_params`) is a substitution, not a second compilation."""

    value: Any
    pointer: str | None = field(default=None, compare=False)
    param: str | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Ref:
    """A variable and a field path: ``$subject.window.start`` is ``Ref("subject", ("window", "start"))``.

    Roots: ``subject``, ``now``, ``acc`` (inside a fold), a let name, or a query alias (``it`` by default).
    """

    root: str
    path: tuple[str, ...] = ()
    pointer: str | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Arith:
    """``add``/``sub`` of a time and a duration (or two numbers, or two times for ``sub``)."""

    op: Literal["add", "sub"]
    left: Expr
    right: Expr
    pointer: str | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Coalesce:
    """The first value that is not missing."""

    items: tuple[Expr, ...]
    pointer: str | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Query:
    """Records of the same case, visible at ``now``, of the given types, for which ``where`` holds.

    While ``where`` is evaluated the candidate is bound to ``alias``.
    """

    types: tuple[str, ...]
    where: Cond | None = None
    alias: str = "it"
    pointer: str | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Pick:
    """The latest or earliest record (in case order) matched by a query, or missing."""

    which: Literal["latest", "earliest"]
    query: Query
    pointer: str | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Count:
    """How many records a query matches."""

    query: Query
    pointer: str | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class CountDistinct:
    """How many different values ``value`` takes over a query's matches (missing values not counted)."""

    query: Query
    value: Expr
    pointer: str | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Find:
    """The first of several phrases found in a text, as ``{phrase, position}`` (1-based), or missing.

    Phrases are literal, matched case-insensitively and only as whole words, so "bye" is not found in
    "goodbye"; the earliest occurrence in the text wins, the longer phrase on a tie.
    """

    text: Expr
    phrases: Expr
    pointer: str | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Fold:
    """Walk a query's matches in case order; where ``when`` holds, the accumulator becomes ``value``.

    Inside ``when`` and ``value`` the accumulator is ``$acc`` and the record is the query's alias. This
    states chains such as "each agreed reschedule made before the current due replaces the due".
    """

    query: Query
    initial: Expr
    when: Cond | None
    value: Expr
    pointer: str | None = field(default=None, compare=False)


# --- conditions ----------------------------------------------------------------------------------

CompareOp = Literal["eq", "ne", "lt", "le", "gt", "ge"]
#: The comparison operators, in the order the policy language documents them.
COMPARE_OPS: tuple[CompareOp, ...] = ("eq", "ne", "lt", "le", "gt", "ge")
#: ``a op b`` is ``b MIRRORED[op] a``.
MIRRORED: dict[str, CompareOp] = {"eq": "eq", "ne": "ne", "lt": "gt", "gt": "lt", "le": "ge", "ge": "le"}
#: A policy's ``calendar`` meaning "the calendar the case names on its ``case_opened``".
CASE_CALENDAR = "case"
#: Names a query alias or let cannot take: the roots the language binds itself.
RESERVED_ROOTS = frozenset({"subject", "now", "acc", "deadline", "params"})


@dataclass(frozen=True, slots=True)
class Compare:
    op: CompareOp
    left: Expr
    right: Expr
    pointer: str | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class In:
    """The value is one of the options (a list expression)."""

    item: Expr
    options: Expr
    pointer: str | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Intersects:
    """Two lists share at least one item (a missing list shares nothing)."""

    left: Expr
    right: Expr
    pointer: str | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Present:
    """The value is present (``negate``: it is missing)."""

    expr: Expr
    negate: bool = False
    pointer: str | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Exists:
    """The query matches at least one record (``negate``: it matches none)."""

    query: Query
    negate: bool = False
    pointer: str | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Order:
    """Case order between two records: ``before`` means strictly earlier (by ``at``, then input order)."""

    op: Literal["before", "after"]
    left: Expr
    right: Expr
    pointer: str | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Quantifier:
    """``every``/``some`` item of a list satisfies ``where`` (the item bound to ``alias``)."""

    kind: Literal["every", "some"]
    items: Expr
    alias: str
    where: Cond
    pointer: str | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Matches:
    """A string matches a regular expression (Python syntax, searched anywhere, case-insensitive)."""

    expr: Expr
    pattern: str
    pointer: str | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Call:
    """A named condition (a plugin's Python predicate) called with arguments by name.

    The predicate sees its arguments' values and the case at ``now``
    (:class:`~serviceflow.conditions.ConditionContext`); what it reads is not evidence, since the
    evaluators cannot see inside it.
    """

    condition: NamedCondition
    args: tuple[tuple[str, Expr], ...]
    pointer: str | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class All:
    items: tuple[Cond, ...]
    pointer: str | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class AnyOf:
    items: tuple[Cond, ...]
    pointer: str | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Not:
    item: Cond
    pointer: str | None = field(default=None, compare=False)


Cond = Compare | In | Intersects | Present | Exists | Order | Quantifier | Matches | Call | All | AnyOf | Not
Expr = Lit | Ref | Arith | Coalesce | Pick | Count | CountDistinct | Find | Fold | Cond

# --- the policy ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Param:
    """A declared parameter: its type, default and description (users override it in config)."""

    name: str
    type: Literal["duration", "integer", "number", "string", "boolean", "list"]
    default: Any
    description: str = ""


@dataclass(frozen=True, slots=True)
class Let:
    name: str
    expr: Expr


@dataclass(frozen=True, slots=True)
class NowWatch:
    """A hidden let holding the value ``$now`` is compared with, and the offsets from it at which
    the comparison turns (:mod:`serviceflow.policy.timing`)."""

    let: str
    offsets: tuple[timedelta, ...]


@dataclass(frozen=True, slots=True)
class Timing:
    """How ``$now`` enters a policy: the watches, and whether anything else about it is unbounded."""

    watches: tuple[NowWatch, ...] = ()
    unbounded: str | None = None
    """Why the policy's dependence on ``$now`` cannot be bounded (``None``: it can)."""


@dataclass(frozen=True)
class CompiledPolicy:
    """One policy, parameters bound, ready for an evaluator."""

    id: str
    title: str
    severity: Severity
    rationale: str
    subject: Query
    lets: tuple[Let, ...]
    when: Cond | None
    require: Cond
    by: Expr | None
    message: str
    pending_message: str | None
    params: dict[str, Any] = field(default_factory=dict)
    source: Location | None = None
    calendar: str | None = None
    """Durations count in this business-hours calendar; ``case``: the case's own; ``None``: calendar time."""
    document: SourceDocument | None = field(default=None, compare=False, repr=False)
    """The YAML the policy was compiled from: the lines and spellings behind the nodes' pointers."""
    timing: Timing = field(default_factory=Timing)
    """How the policy depends on ``$now`` (:mod:`serviceflow.policy.timing`): the hidden lets it
    watches, or why that dependence cannot be bounded."""

    @property
    def own_lets(self) -> tuple[Let, ...]:
        """The lets the author wrote, without the hidden ones :mod:`.timing` appended."""
        hidden = {watch.let for watch in self.timing.watches}
        return tuple(let for let in self.lets if let.name not in hidden)

    @property
    def message_for_pending(self) -> str:
        return self.pending_message or self.message


def bind_params(node: Any, values: dict[str, Any]) -> Any:
    """``node`` with every parameter literal set to its value in ``values`` (unchanged parts shared)."""
    if isinstance(node, Lit):
        if node.param is not None and node.param in values and values[node.param] is not node.value:
            return Lit(values[node.param], node.pointer, node.param)
        return node
    if isinstance(node, tuple):
        mapped = tuple(bind_params(item, values) for item in node)
        return node if all(a is b for a, b in zip(mapped, node, strict=True)) else mapped
    if not _is_node(node):
        return node
    changes = {}
    for name in _FIELDS[type(node)]:
        value = getattr(node, name)  # a node's fields: nodes, tuples of nodes or plain values
        bound = bind_params(value, values)
        if bound is not value:
            changes[name] = bound
    return dataclasses.replace(node, **changes) if changes else node


def _is_node(value: Any) -> bool:
    return type(value) in _NODE_TYPES


_NODE_TYPES = frozenset(
    {
        Ref,
        Arith,
        Coalesce,
        Query,
        Pick,
        Count,
        CountDistinct,
        Find,
        Fold,
        Compare,
        In,
        Intersects,
        Present,
        Exists,
        Order,
        Quantifier,
        Matches,
        Call,
        All,
        AnyOf,
        Not,
        Let,
        CompiledPolicy,
    }
)
#: The fields :func:`bind_params` walks in each node type: not the pointers, not a call's condition.
_FIELDS: dict[type, tuple[str, ...]] = {
    node_type: tuple(
        item.name for item in dataclasses.fields(node_type) if item.name not in ("pointer", "condition")
    )
    for node_type in _NODE_TYPES
}


def walk(node: Any) -> Iterator[Any]:
    """Every node under ``node`` (itself included), depth first: for analyses of a compiled tree."""
    if isinstance(node, tuple):
        for item in node:
            yield from walk(item)
        return
    if type(node) not in _FIELDS:
        return
    yield node
    for name in _FIELDS[type(node)]:
        yield from walk(getattr(node, name))


def reads_field(policy: CompiledPolicy, name: str) -> bool:
    """Whether the policy may read a record field called ``name`` (any reference through it), or
    calls a named condition, which may read anything."""
    for node in walk(policy):
        if isinstance(node, Call):
            return True
        if isinstance(node, Ref) and name in node.path:
            return True
    return False


def deferred_lets(policy: CompiledPolicy) -> frozenset[str]:
    """The lets computed only for a subject that ``when`` admits: not read by ``when``, by a watch of
    ``$now``, or by a let that is.

    Every evaluator computes a policy's lets in order, but these only after ``when`` holds, so a
    subject that ``when`` turns away costs nothing for them: ``one-human`` counts the people in a case
    (a walk over its contacts) only at a contact by someone new, which makes a long case linear rather
    than quadratic. A let ``when`` needs, or one whose value says when ``$now`` turns the verdict,
    stays first. A reference is matched by its root name, so a query alias spelt like a let keeps that
    let first: never wrong, at most eager.
    """
    if policy.when is None:
        return frozenset()
    names = {let.name for let in policy.lets}
    needed = _roots(policy.when) & names
    needed |= {watch.let for watch in policy.timing.watches}
    for let in reversed(policy.lets):
        if let.name in needed:
            needed |= _roots(let.expr) & names
    return frozenset(names - needed)


def _roots(node: Any) -> set[str]:
    return {item.root for item in walk(node) if isinstance(item, Ref)}
