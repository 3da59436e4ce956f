"""Named conditions: Python predicates a business writes and its YAML policies call by name.

Some rules are easier to state in code than in the policy language (a lookup in a table, a text
classifier, a rule that walks the case in an unusual way). A plugin declares such a predicate with its
parameters; a policy calls it as a condition::

    require:
      condition:
        name: reason-recorded
        args: {commitment: $subject, after: $failed_visit}

The compiler checks the name and the arguments when the policy loads, and binds the function into the
compiled policy, so both evaluators call the same Python code and neither needs a registry at run
time. When the function raises, or returns anything but ``True``/``False``, the policy cannot decide
about that record: the evaluators report an engine-error finding naming the plugin and the policy,
never a crash and never a silent pass.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from serviceflow.errors import PLUGIN_FAILURES, EvaluatorError
from serviceflow.records.model import Record

#: Declared argument types and the Python values they accept (``None`` is accepted for every type:
#: a field the record does not have is missing, and the predicate decides what missing means).
ARG_TYPES: dict[str, tuple[type, ...]] = {
    "record": (Record,),
    "records": (list, tuple),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "datetime": (datetime,),
    "duration": (timedelta,),
    "list": (list, tuple),
    "any": (object,),
}


@dataclass(frozen=True)
class ConditionContext:
    """What a named condition may look at besides its arguments: the case as known at ``now``."""

    case_id: str
    now: datetime
    records: Sequence[Record]
    """The case's records with ``at`` at or before ``now``, in case order."""
    policy_id: str

    def of_type(self, *types: str) -> list[Record]:
        """The visible records of these types, in case order."""
        return [record for record in self.records if record.type in types]


@dataclass(frozen=True, eq=False)
class NamedCondition:
    """A predicate ``function(context, **args) -> bool`` callable from policies as ``name``.

    ``params`` maps each argument name to its type (a key of :data:`ARG_TYPES`); every declared
    argument must be given by the policy unless it is listed in ``optional`` (then it is passed as
    ``None`` when the policy leaves it out). ``plugin`` names the plugin that registered it; the plugin
    host fills it in, and engine-error findings quote it.
    """

    name: str
    function: Callable[..., Any]
    params: Mapping[str, str] = field(default_factory=dict)
    description: str = ""
    optional: frozenset[str] = frozenset()
    reads_now: bool = True
    """Whether the function's answer may depend on ``context.now`` (beyond which records are
    visible). Declare ``False`` when it does not: a live service then knows when the policy's verdict
    can change with time alone (:mod:`serviceflow.policy.timing`); otherwise a case the policy applies
    to is evaluated again every ``recheck``."""
    plugin: str = ""
    """Compared and hashed by identity: the compiled policy holds this very object."""

    def __post_init__(self) -> None:
        for param, type_name in self.params.items():
            if type_name not in ARG_TYPES:
                raise ValueError(
                    f"named condition '{self.name}': parameter '{param}' has unknown type '{type_name}' "
                    f"(types: {', '.join(ARG_TYPES)})"
                )
        unknown = set(self.optional) - set(self.params)
        if unknown:
            raise ValueError(f"named condition '{self.name}': optional names undeclared {sorted(unknown)}")

    def call(self, context: ConditionContext, args: Mapping[str, Any]) -> bool:
        """Check the arguments' types, call the function, insist on a boolean answer.

        Raises :class:`ConditionError` for anything that goes wrong, so the evaluator can turn it into
        an engine-error finding for this policy and record.
        """
        for param, value in args.items():
            expected = ARG_TYPES[self.params[param]]
            if value is not None and not _is_instance(value, expected):
                raise ConditionError(
                    self,
                    f"argument '{param}' should be {self.params[param]}, got {type(value).__name__}",
                )
        try:
            result = self.function(context, **args)
        except PLUGIN_FAILURES as exc:
            raise ConditionError(self, f"raised {type(exc).__name__}: {exc}") from exc
        if not isinstance(result, bool):
            raise ConditionError(self, f"returned {result!r}, not true or false")
        return result

    @property
    def origin(self) -> str:
        """How engine errors name it: ``'reason-recorded' (plugin acme-policies)``."""
        return f"'{self.name}'" + (f" (plugin {self.plugin})" if self.plugin else "")


def _is_instance(value: Any, expected: tuple[type, ...]) -> bool:
    if isinstance(value, bool) and bool not in expected and object not in expected:
        return False  # True is an int to Python, not to a policy author
    return isinstance(value, expected)


class ConditionError(EvaluatorError):
    """A named condition could not decide: it raised, returned a non-boolean, or got a wrong argument."""

    def __init__(self, condition: NamedCondition, problem: str) -> None:
        super().__init__(f"named condition {condition.origin} {problem}")
        self.condition = condition
        self.problem = problem
