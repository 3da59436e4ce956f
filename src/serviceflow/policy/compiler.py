"""Turn a policy document (YAML data) into the compiled tree of :mod:`serviceflow.policy.ir`.

Two steps, because users override parameters without editing the YAML:

* :func:`parse_policy` checks the document against ``policy.schema.json`` and compiles it, once, with
  its default parameters, so that any error in the logic is reported (file, line, key) as soon as the
  policy is loaded, whether or not it is ever bound differently;
* :meth:`PolicyDefinition.bind` sets the user's parameters, severity and calendar on that tree.
  Parameters compile to marked literals, so binding other values substitutes them
  (:func:`~serviceflow.policy.ir.bind_params`); only a parameter the compiler had to fold into
  something else (a literal list, a ``matches`` pattern) makes a binding compile the document again.

Every error names the file, the line and the JSON pointer of the offending key.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

import jsonschema_rs

from serviceflow.conditions import NamedCondition
from serviceflow.errors import PolicyError
from serviceflow.findings import Severity
from serviceflow.policy import ir

if TYPE_CHECKING:
    import jsonschema
from serviceflow.policy.regex import PatternError, compile_pattern
from serviceflow.policy.templates import placeholders
from serviceflow.policy.timing import with_timing
from serviceflow.policy.yamlsource import SourceDocument, escape_pointer_token
from serviceflow.timeutil import parse_duration


@cache
def policy_schema() -> dict[str, Any]:
    """The JSON Schema every policy document must satisfy."""
    text = resources.files("serviceflow.policy").joinpath("policy.schema.json").read_text("utf-8")
    return json.loads(text)


@dataclass(frozen=True)
class PolicyDefinition:
    """A validated policy document, not yet bound to a user's parameters."""

    id: str
    title: str
    severity: Severity
    rationale: str
    params: dict[str, ir.Param]
    document: SourceDocument
    conditions: Mapping[str, NamedCondition] = field(default_factory=dict, repr=False)
    """The named conditions the policy may call (the plugins' registry when it was loaded)."""
    compiled: ir.CompiledPolicy | None = field(default=None, repr=False, compare=False)
    """The tree compiled with the default parameters (set by :func:`parse_policy`)."""
    folded_params: frozenset[str] = field(default=frozenset(), repr=False, compare=False)
    """Parameters whose values the compiler folded into something other than their own literal."""

    def bind(
        self,
        params: dict[str, Any] | None = None,
        severity: Severity | str | None = None,
        calendar: str | None = None,
    ) -> ir.CompiledPolicy:
        """Compile with parameter overrides (checked against the declared types), severity and calendar."""
        values = {name: param.default for name, param in self.params.items()}
        for name, value in (params or {}).items():
            if name not in self.params:
                known = ", ".join(sorted(self.params)) or "none"
                raise PolicyError(
                    f"policy '{self.id}' has no parameter '{name}' (parameters: {known})", policy_id=self.id
                )
            values[name] = _coerce_param(self.params[name], value, self.id)
        bound_severity = Severity(severity) if severity is not None else self.severity
        overridden = {name for name, param in self.params.items() if values[name] != param.default}
        if self.compiled is None or overridden & self.folded_params:
            compiled = _Compiler(self.document, values, self.conditions).compile(bound_severity)
        else:
            compiled = ir.bind_params(self.compiled, values) if overridden else self.compiled
            compiled = replace(compiled, severity=bound_severity, params=values)
        chosen = calendar if calendar is not None else self.document.data.get("calendar")
        return with_timing(replace(compiled, calendar=None if chosen in (None, "none") else chosen))

    @property
    def description(self) -> str:
        return str(self.document.data.get("description", ""))


def parse_policy(
    document: SourceDocument, conditions: Mapping[str, NamedCondition] | None = None
) -> PolicyDefinition:
    """Validate a policy document against the policy schema and compile it once with its defaults.

    ``conditions`` are the named conditions the policy may call; a call to any other name, or with
    arguments the condition does not declare, is an error here, before any record is read.
    """
    data = document.data
    if not _schema_accepts(data):
        # jsonschema only now, to say what is wrong: importing it costs more than loading the policies.
        import jsonschema

        validator = jsonschema.Draft202012Validator(policy_schema())
        errors = sorted(
            validator.iter_errors(data), key=lambda e: (len(e.absolute_path), list(map(str, e.path)))
        )
        if errors:
            error = jsonschema.exceptions.best_match(errors)
            pointer = "".join(f"/{escape_pointer_token(p)}" for p in error.absolute_path)
            policy_id = data.get("id") if isinstance(data, dict) else None
            raise PolicyError(_schema_message(error), document.location(pointer), policy_id=policy_id)
    params: dict[str, ir.Param] = {}
    for name, spec in data.get("params", {}).items():
        param = ir.Param(name, spec["type"], spec["default"], spec.get("description", ""))
        try:
            params[name] = ir.Param(name, param.type, _coerce_param(param, spec["default"], data["id"]))
        except PolicyError as exc:
            raise PolicyError(exc.message, document.location(f"/params/{name}/default"), data["id"]) from None
        params[name] = ir.Param(name, param.type, params[name].default, param.description)
    conditions = dict(conditions or {})
    compiler = _Compiler(document, {name: param.default for name, param in params.items()}, conditions)
    compiled = compiler.compile(Severity(data["severity"]))  # logic errors surface here, at load time
    return PolicyDefinition(
        id=data["id"],
        title=data["title"],
        severity=Severity(data["severity"]),
        rationale=data["rationale"].strip(),
        params=params,
        document=document,
        conditions=conditions,
        compiled=compiled,
        folded_params=frozenset(compiler.folded_params),
    )


@cache
def _fast_policy_validator() -> Any:
    return jsonschema_rs.validator_for(policy_schema())


def _schema_accepts(data: Any) -> bool:
    """Whether the policy schema accepts ``data``, decided by jsonschema-rs (fast, no import cost)."""
    try:
        return bool(_fast_policy_validator().is_valid(data))
    except (ValueError, TypeError):  # a value it cannot represent: let jsonschema decide and explain
        return False


def _schema_message(error: jsonschema.ValidationError) -> str:
    if error.validator == "additionalProperties":
        return error.message.replace("Additional properties are not allowed", "unknown key")
    if error.validator == "propertyNames" and isinstance(error.instance, str):
        return f"unknown key or operator {error.instance!r}"
    return error.message


def _coerce_param(param: ir.Param, value: Any, policy_id: str) -> Any:
    def fail(expected: str) -> PolicyError:
        return PolicyError(
            f"parameter '{param.name}' of policy '{policy_id}' must be {expected}, got {value!r}",
            policy_id=policy_id,
        )

    if param.type == "duration":
        if isinstance(value, timedelta):
            return value
        try:
            return parse_duration(value)
        except ValueError:
            raise fail("a duration such as 30m, 4h or 2d") from None
    if param.type == "integer" and not (isinstance(value, int) and not isinstance(value, bool)):
        raise fail("an integer")
    if param.type == "number" and not (isinstance(value, int | float) and not isinstance(value, bool)):
        raise fail("a number")
    if param.type == "string" and not isinstance(value, str):
        raise fail("a string")
    if param.type == "boolean" and not isinstance(value, bool):
        raise fail("true or false")
    if param.type == "list":
        if not isinstance(value, list):
            raise fail("a list")
        return tuple(value)
    return value


class _Compiler:
    """Compiles one document with bound parameters, checking every reference against its scope."""

    def __init__(
        self, document: SourceDocument, params: dict[str, Any], conditions: Mapping[str, NamedCondition]
    ) -> None:
        self.document = document
        self.params = params
        self.named_conditions = conditions
        self.policy_id = document.data["id"]
        self.folded_params: set[str] = set()

    def error(self, message: str, pointer: str) -> PolicyError:
        return PolicyError(message, self.document.location(pointer), policy_id=self.policy_id)

    def compile(self, severity: Severity) -> ir.CompiledPolicy:
        data = self.document.data
        subject = self.query(data["for_each"], "/for_each", scope=frozenset({"now"}))
        scope = frozenset({"now", "subject"})
        lets: list[ir.Let] = []
        for name, expr in data.get("let", {}).items():
            lets.append(ir.Let(name, self.expr(expr, f"/let/{name}", scope)))
            scope = scope | {name}
        when = self.conditions(data["when"], "/when", scope) if "when" in data else None
        require = self.conditions(data["require"], "/require", scope)
        by = self.expr(data["by"], "/by", scope) if "by" in data else None
        message_scope = scope | {"deadline", "params"}
        self.template(data["message"], "/message", message_scope)
        if "pending_message" in data:
            self.template(data["pending_message"], "/pending_message", message_scope)
        return ir.CompiledPolicy(
            id=self.policy_id,
            title=data["title"],
            severity=severity,
            rationale=data["rationale"].strip(),
            subject=subject,
            lets=tuple(lets),
            when=when,
            require=require,
            by=by,
            message=data["message"].strip(),
            pending_message=data.get("pending_message", "").strip() or None,
            params=dict(self.params),
            source=self.document.location(""),
            document=self.document,
        )

    def template(self, text: str, pointer: str, scope: frozenset[str]) -> None:
        for root, path, placeholder in placeholders(text):
            if root not in scope:
                raise self.error(f"message placeholder '{{{placeholder}}}' names unknown '{root}'", pointer)
            if root == "params" and ".".join(path) not in self.params:
                raise self.error(f"message placeholder names unknown parameter '{'.'.join(path)}'", pointer)

    def query(self, data: dict[str, Any], pointer: str, scope: frozenset[str]) -> ir.Query:
        types = data["type"]
        types = (types,) if isinstance(types, str) else tuple(types)
        alias = data.get("as", "it")
        if alias in ir.RESERVED_ROOTS:
            raise self.error(f"'{alias}' is reserved and cannot name a query's record", f"{pointer}/as")
        where = None
        if "where" in data:
            where = self.conditions(data["where"], f"{pointer}/where", scope | {alias})
        return ir.Query(types=types, where=where, alias=alias, pointer=pointer)

    def conditions(self, data: Any, pointer: str, scope: frozenset[str]) -> ir.Cond:
        if isinstance(data, list):
            items = tuple(self.condition(item, f"{pointer}/{i}", scope) for i, item in enumerate(data))
            return items[0] if len(items) == 1 else ir.All(items, pointer=pointer)
        return self.condition(data, pointer, scope)

    def condition(self, data: Any, pointer: str, scope: frozenset[str]) -> ir.Cond:
        if not isinstance(data, dict) or len(data) != 1:
            raise self.error(
                "a condition is an object with exactly one operator key, such as eq or exists", pointer
            )
        ((op, arg),) = data.items()
        here = f"{pointer}/{op}"
        if op in ("all", "any"):
            if not isinstance(arg, list) or not arg:
                raise self.error(f"'{op}' takes a non-empty list of conditions", here)
            items = tuple(self.condition(item, f"{here}/{i}", scope) for i, item in enumerate(arg))
            return ir.All(items, pointer=pointer) if op == "all" else ir.AnyOf(items, pointer=pointer)
        if op == "not":
            return ir.Not(self.condition(arg, here, scope), pointer=pointer)
        if op in ir.COMPARE_OPS:
            left, right = self.pair(arg, here, scope, op)
            return ir.Compare(op, left, right, pointer=pointer)
        if op == "in":
            item, options = self.pair(arg, here, scope, op)
            return ir.In(item, options, pointer=pointer)
        if op == "intersects":
            left, right = self.pair(arg, here, scope, op)
            return ir.Intersects(left, right, pointer=pointer)
        if op in ("present", "absent"):
            return ir.Present(self.expr(arg, here, scope), negate=op == "absent", pointer=pointer)
        if op in ("exists", "none"):
            if not isinstance(arg, dict):
                raise self.error(f"'{op}' takes a query: an object with 'type' and optional 'where'", here)
            return ir.Exists(self.query_checked(arg, here, scope), negate=op == "none", pointer=pointer)
        if op in ("before", "after"):
            left, right = self.pair(arg, here, scope, op)
            return ir.Order(op, left, right, pointer=pointer)
        if op in ("every", "some"):
            if (
                not isinstance(arg, dict)
                or set(arg) - {"in", "as", "where"}
                or not {"in", "where"} <= set(arg)
            ):
                raise self.error(
                    f"'{op}' takes an object with 'in' (a list), 'where' and optional 'as'", here
                )
            alias = arg.get("as", "item")
            listed = self.expr(arg["in"], f"{here}/in", scope)
            where = self.conditions(arg["where"], f"{here}/where", scope | {alias})
            return ir.Quantifier(op, listed, alias, where, pointer=pointer)
        if op == "matches":
            value, pattern = self.pair(arg, here, scope, op, literal_right=True)
            if not isinstance(pattern, ir.Lit) or not isinstance(pattern.value, str):
                raise self.error("'matches' takes [value, pattern] with a literal pattern", here)
            if pattern.param is not None:
                self.folded_params.add(pattern.param)
            try:
                compile_pattern(pattern.value)  # linear-time (RE2), or refused here with the reason
            except PatternError as exc:
                raise self.error(str(exc), f"{here}/1") from None
            return ir.Matches(value, pattern.value, pointer=pointer)
        if op == "condition":
            return replace(self.call(arg, here, scope), pointer=pointer)
        raise self.error(f"unknown condition operator '{op}'", here)

    def call(self, arg: Any, pointer: str, scope: frozenset[str]) -> ir.Call:
        """``condition: {name: N, args: {...}}``: a named condition, checked against its declaration."""
        if not isinstance(arg, dict) or set(arg) - {"name", "args"} or not isinstance(arg.get("name"), str):
            raise self.error("'condition' takes an object with 'name' and optional 'args'", pointer)
        name = arg["name"]
        condition = self.named_conditions.get(name)
        if condition is None:
            known = ", ".join(sorted(self.named_conditions)) or "none are registered"
            raise self.error(
                f"unknown named condition '{name}' (named conditions: {known}; plugins register them, "
                "see 'serviceflow plugins')",
                f"{pointer}/name",
            )
        given = arg.get("args", {})
        if not isinstance(given, dict):
            raise self.error("'args' maps each argument name to a value", f"{pointer}/args")
        for key in given:
            if key not in condition.params:
                declared = ", ".join(condition.params) or "none"
                raise self.error(
                    f"named condition '{name}' has no argument '{key}' (arguments: {declared})",
                    f"{pointer}/args/{escape_pointer_token(key)}",
                )
        missing = [p for p in condition.params if p not in given and p not in condition.optional]
        if missing:
            raise self.error(f"named condition '{name}' needs argument(s) {', '.join(missing)}", pointer)
        args = tuple(
            (name_, self.expr(given[name_], f"{pointer}/args/{name_}", scope))
            if name_ in given
            else (name_, ir.Lit(None))
            for name_ in condition.params
        )
        return ir.Call(condition, args, pointer=pointer)

    def query_checked(self, data: dict[str, Any], pointer: str, scope: frozenset[str]) -> ir.Query:
        unknown = set(data) - {"type", "where", "as"}
        if unknown or "type" not in data:
            raise self.error("a query is an object with 'type' and optional 'where' and 'as'", pointer)
        types = data["type"]
        if not (
            isinstance(types, str)
            or (isinstance(types, list) and types and all(isinstance(t, str) for t in types))
        ):
            raise self.error("a query's 'type' is a record type or a list of them", f"{pointer}/type")
        return self.query(data, pointer, scope)

    def pair(
        self, arg: Any, pointer: str, scope: frozenset[str], op: str, literal_right: bool = False
    ) -> tuple[ir.Expr, ir.Expr]:
        if not isinstance(arg, list) or len(arg) != 2:
            raise self.error(f"'{op}' takes a list of two operands", pointer)
        return self.expr(arg[0], f"{pointer}/0", scope), self.expr(arg[1], f"{pointer}/1", scope)

    def expr(self, data: Any, pointer: str, scope: frozenset[str]) -> ir.Expr:
        if isinstance(data, str):
            return self.reference(data, pointer, scope) if data.startswith("$") else ir.Lit(data, pointer)
        if isinstance(data, list):
            items = [self.expr(item, f"{pointer}/{i}", scope) for i, item in enumerate(data)]
            if all(isinstance(item, ir.Lit) for item in items):
                self.folded_params.update(item.param for item in items if item.param)  # type: ignore[union-attr]
                return ir.Lit(tuple(item.value for item in items), pointer)  # type: ignore[union-attr]
            raise self.error("a list value may hold only literals", pointer)
        if not isinstance(data, dict):
            return ir.Lit(data, pointer)
        if len(data) != 1:
            raise self.error("an expression object has exactly one operator key", pointer)
        ((op, arg),) = data.items()
        here = f"{pointer}/{op}"
        if op in ("add", "sub"):
            left, right = self.pair(arg, here, scope, op)
            return ir.Arith(op, left, right, pointer=pointer)
        if op == "duration":
            try:
                return ir.Lit(parse_duration(arg), pointer)
            except ValueError as exc:
                raise self.error(str(exc), here) from None
        if op == "coalesce":
            if not isinstance(arg, list) or not arg:
                raise self.error("'coalesce' takes a non-empty list", here)
            options = tuple(self.expr(item, f"{here}/{i}", scope) for i, item in enumerate(arg))
            return ir.Coalesce(options, pointer=pointer)
        if op in ("latest", "earliest", "count"):
            query = self.query_checked(self.need_dict(arg, here, op), here, scope)
            return ir.Count(query, pointer=pointer) if op == "count" else ir.Pick(op, query, pointer=pointer)
        if op == "fold":
            return replace(self.fold(self.need_dict(arg, here, op), here, scope), pointer=pointer)
        if op == "count_distinct":
            spec = self.need_dict(arg, here, op)
            if set(spec) != {"over", "value"}:
                raise self.error("'count_distinct' takes 'over' (a query) and 'value'", here)
            query = self.query_checked(
                self.need_dict(spec["over"], f"{here}/over", "over"), f"{here}/over", scope
            )
            value = self.expr(spec["value"], f"{here}/value", scope | {query.alias})
            return ir.CountDistinct(query, value, pointer=pointer)
        if op == "find":
            text, phrases = self.pair(arg, here, scope, op)
            return ir.Find(text, phrases, pointer=pointer)
        return self.condition(data, pointer, scope)

    def need_dict(self, arg: Any, pointer: str, op: str) -> dict[str, Any]:
        if not isinstance(arg, dict):
            raise self.error(f"'{op}' takes an object", pointer)
        return arg

    def fold(self, arg: dict[str, Any], pointer: str, scope: frozenset[str]) -> ir.Fold:
        allowed = {"over", "initial", "when", "value"}
        if set(arg) - allowed or not {"over", "initial", "value"} <= set(arg):
            raise self.error("'fold' takes 'over' (a query), 'initial', 'value' and optional 'when'", pointer)
        query = self.query_checked(
            self.need_dict(arg["over"], f"{pointer}/over", "over"), f"{pointer}/over", scope
        )
        inner = scope | {query.alias, "acc"}
        when = self.conditions(arg["when"], f"{pointer}/when", inner) if "when" in arg else None
        return ir.Fold(
            query=query,
            initial=self.expr(arg["initial"], f"{pointer}/initial", scope),
            when=when,
            value=self.expr(arg["value"], f"{pointer}/value", inner),
        )

    def reference(self, text: str, pointer: str, scope: frozenset[str]) -> ir.Expr:
        if text.startswith("$$"):
            return ir.Lit(text[1:], pointer)
        parts = text[1:].split(".")
        root, path = parts[0], tuple(parts[1:])
        if not root or any(not part for part in path):
            raise self.error(f"malformed reference {text!r}", pointer)
        if root == "params":
            if len(path) != 1 or path[0] not in self.params:
                known = ", ".join(sorted(self.params)) or "none"
                raise self.error(f"unknown parameter in {text!r} (parameters: {known})", pointer)
            return ir.Lit(self.params[path[0]], pointer, param=path[0])
        if root not in scope:
            raise self.error(
                f"unknown name '{root}' in {text!r} (in scope: {', '.join(sorted(scope))})", pointer
            )
        return ir.Ref(root, path, pointer)
