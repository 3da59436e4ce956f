"""The durable-rules evaluator (needs the ``durable`` extra: durable-rules 2.0.28 on CPython 3.11 or 3.12).

It compiles the same :class:`~serviceflow.policy.ir.CompiledPolicy` trees as the native evaluator into
one durable-rules ruleset and lets durable-rules' Rete network match; it gives the native findings,
finding for finding (message, evidence and deadline included). No policy is known by name.

**Facts.** Per case, in one durable-rules session: a record fact per visible record (``k: "r"``; its
position ``o`` (its place in case order, which ``before``/``after`` compare), the fields rules
read, a rank per type set giving case order), a list-item
fact per element of a list that a rule iterates (``k: "i"``), a ``now`` fact, then one *start stage*
fact per policy, asserted last: every rule starts from a stage fact, so nothing fires before the
records are in. Values are encoded as :mod:`.encoding` says (a missing value is a sentinel, times are
integer microseconds); Python keeps the exact values for messages.

**Stages.** A policy runs per subject as a path of *stages* (:mod:`.steps`, :mod:`.machine`): a stage
fact holds the values bound so far that the stage's rules compare, its rules join it with record and
item facts, and the action of the rule that matched moves the path on (once per stage fact, however
many rules matched). A stage whose "no rule matched" branch cannot be written as rules is *resolved*:
once everything it set off has run, a resolve fact is asserted and ``resolve and none(marker)`` fires.
Actions run synchronously inside the assertion that triggers them, without durable-rules' threads.

**How each IR node compiles** (a condition first becomes terms, :mod:`.normal_form`; a term is one rule,
:mod:`.rules`; "negation" below is the stage's branch for "no rule matched"):

* ``CompiledPolicy``: the start stage's rules join it with records of ``for_each`` satisfying its
  where, one subject path per record (if the where needs stages, each record of the types is probed
  stage by stage, its evidence discarded as the native probe's is); then the lets in order, ``when``
  (false: no finding), ``require`` (true: no finding), ``by`` and the stage deciding ``by > now``
  (pending with the deadline, else violation). Findings use ``base.render``/``evidence_ids``.
* ``Lit``: an encoded constant (a constant test in the clause). ``Ref``: an attribute of the stage fact
  (a bound value), of a record fact (a field path, ``seq``, identity) or of an item fact.
* ``Arith``: in a condition, durable-rules ``$add``/``$sub`` (the linear comparison is rearranged so one
  attribute of the clause's own fact stands alone on the left); as a let or ``by``, computed in Python.
  When the policy counts time on a calendar, business-hours arithmetic is computed in Python before the
  comparison (per candidate record when it depends on one), as the native clock does.
* ``Coalesce``: in a condition, split into "item k is the first present"; as a value, computed.
* ``Query``: a clause over record facts of its types; its where becomes literals of that clause and
  further clauses (nested ``exists``). ``Exists``: a positive clause, its negation a ``none`` clause.
  A ``none`` (``Exists`` negated) whose evidence may reach a finding is a stage of its own whose rule
  fires once per match (each match is evidence); otherwise it is a ``none`` clause.
* ``Pick``: one stage: a matching record with ``none`` of a later (``latest``) or earlier
  (``earliest``) match; the record is bound and is evidence; the negation binds nothing.
* ``Count``, ``CountDistinct``, ``Fold``: a loop (:mod:`.queries`): a stage fact holding the position,
  a rule finding the next match (a match after the position, ``none`` in between), the body bound to
  it; ``count`` adds one, ``count_distinct`` gathers the value into a set (missing values not counted),
  ``fold`` decides ``when`` and computes ``value`` with ``$acc`` bound, the record being evidence when
  it changes the accumulator. The negation of "a next match" ends the loop.
* ``Find``: over a bound text with literal phrases, an attribute each fact carries (the helper both
  evaluators share computes it); otherwise computed as a value.
* ``Compare``: ``eq``/``ne`` compare encodings (missing equals missing); ``lt``/``le``/``gt``/``ge``
  require both present; the negation is "either missing, or the opposite comparison".
* ``In``: a literal list is a disjunction of ``eq``; a list bound at run time is a join with its item
  facts (some item equal). ``Intersects``: some item of one list equal to an item of the other.
* ``Present``: the attribute is (not) the missing sentinel. ``Order``: the two records' positions in
  case order.
* ``Quantifier``: over a literal list, unrolled; over a run-time list, ``some`` joins an item fact
  satisfying the where and ``every`` is ``none`` of an item failing it.
* ``Matches``: an attribute each fact carries (Python's regular expressions; durable-rules' own
  dialect differs). ``In`` a string is a substring test: for a literal string, or a string bound on the
  stage, the stage fact carries its result.
* ``Call`` (a named condition, a plugin's Python predicate): never a rule. Its arguments are bound in
  order (a literal or reference is read directly; any other argument is a value computed first into a
  hidden name, so the records a ``latest`` in it visits are evidence as natively), then a Python step
  calls the predicate with the case at ``now`` and binds its answer to a hidden name, and a stage
  decides ``eq(answer, true)`` (as a value, the answer is bound directly). In a query's where it makes
  the query a loop deciding the where per record, as below. When the predicate cannot decide
  (``ConditionError``), that step reports the native engine-error finding for the record being decided
  (the subject, or the candidate of the ``for_each`` probe) and ends its path: no verdict, no crash, and
  the other subjects, policies and cases go on in the same session.
* ``All``/``AnyOf``/``Not``: negation pushed to the literals, ``all``/``any`` multiplied out; when that
  is not one rule per term, a chain of stages makes the short-circuit explicit.
* Any operand that needs a query (a ``latest`` in a comparison, a condition used as a value) is
  computed first into a hidden name, in the native left-to-right order; where the where of a query
  needs that, the query becomes a loop deciding the where for each record, as the native evaluator does.
"""

from serviceflow.evaluators.durable.evaluator import DurableEvaluator

__all__ = ["DurableEvaluator"]
