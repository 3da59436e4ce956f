"""``serviceflow test``: run policy test files against the loaded policies and report pass or fail."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import click

from serviceflow.cli.options import (
    build_engine,
    debug_option,
    engine_option,
    jobs_option,
    load_user_config,
    output_option,
    plugin_host,
    plugin_options,
    policy_source_options,
)
from serviceflow.cli.output import echo_errors, emit_report, use_color
from serviceflow.errors import ServiceflowError
from serviceflow.explain.coverage import PolicyCoverage
from serviceflow.policytest import (
    PolicyTestError,
    PolicyTestFile,
    PolicyTestRunner,
    find_test_files,
    load_test_file,
    select,
)
from serviceflow.policytest import coverage as clause_coverage
from serviceflow.policytest.parallel import run_in_parallel
from serviceflow.policytest.report import FORMATS, render_json, render_junit, render_text, summary_line
from serviceflow.policytest.results import EXIT_ERROR, EXIT_FAILED, EXIT_PASSED, SuiteResult


@click.command("test")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path), metavar="[PATH]...")
@policy_source_options
@engine_option("Evaluator to run the tests on")
@click.option(
    "--format",
    "report_format",
    type=click.Choice(FORMATS),
    default="text",
    show_default=True,
    help="Report format (junit: for CI systems).",
)
@click.option(
    "-k",
    "keywords",
    multiple=True,
    metavar="SUBSTRING",
    help="Run only tests whose 'POLICY: NAME' contains SUBSTRING (case-insensitive; repeatable).",
)
@click.option("--coverage", is_flag=True, help="Report, per policy under test, the clauses the tests cover.")
@click.option(
    "--threshold",
    type=click.FloatRange(0, 100),
    metavar="PCT",
    help="Fail (exit 1) when a policy under test has less clause coverage than PCT percent "
    "(implies --coverage).",
)
@output_option
@jobs_option
@plugin_options
@debug_option
def test(
    paths: tuple[Path, ...],
    policy_paths: tuple[Path, ...],
    config_path: Path | None,
    no_bundled: bool,
    evaluator: str | None,
    report_format: str,
    keywords: tuple[str, ...],
    coverage: bool,
    threshold: float | None,
    output: Path | None,
    jobs: int,
) -> None:
    """Run policy tests: records at a time, and exactly the findings each policy must give.

    PATH is a test file or a directory searched for *.test.yaml files and YAML files under tests/
    folders. Without PATH, the tests every loaded policy pack ships (the bundled policies' and each
    plugin's) are run. A test runs only the policies it names, with its own settings, from the policies loaded
    as lint loads them (bundled, --policies, policy-paths, plugins). See docs/policy-tests.md.

    \b
    Exit status: 0 every test passed (and coverage met --threshold),
    1 a test failed or coverage is below --threshold,
    2 a bad test file, policy or configuration, or a test that could not run.
    """
    config = load_user_config(config_path)
    if not paths:
        paths = _pack_tests(no_bundled)
    files, errors = _load(find_test_files(paths))
    # The engine is only the catalogue of policies (and record schemas) the project loads: each test
    # binds its own policies on the evaluator asked for, so the catalogue is built on the native one.
    with build_engine(config, policy_paths, no_bundled, "native") as engine:
        definitions, validator = list(engine.definitions), engine.validator
    runner = PolicyTestRunner(definitions, evaluator or config.evaluator, validator)
    for test_file in files:
        try:
            runner.check(test_file)
        except PolicyTestError as error:
            errors.append(error)
    if errors:
        echo_errors(errors)
        click.get_current_context().exit(EXIT_ERROR)
    tests = select((test for test_file in files for test in test_file.tests), keywords)
    if not tests:
        where = f"matching -k {' '.join(keywords)} " if keywords else ""
        raise ServiceflowError(f"no policy tests {where}in {', '.join(map(str, paths))}")
    results, per_test = run_in_parallel(runner, tests, jobs, measure=coverage or threshold is not None)
    suite = SuiteResult(tuple(results), runner.evaluator)
    exit_code = suite.exit_code
    measured = None
    if per_test is not None:
        measured = clause_coverage.merge(per_test)
        if exit_code == EXIT_PASSED and threshold is not None and clause_coverage.below(measured, threshold):
            exit_code = EXIT_FAILED
    color = use_color(output)
    emit_report(_render(suite, report_format, measured, threshold, color), output, color=color)
    if output is not None:
        click.echo(f"serviceflow: wrote {output}: {summary_line(suite)}", err=True)
    if measured is not None and report_format == "junit":
        # JUnit has no place for coverage; CI logs still show it.
        click.echo(clause_coverage.render_text(measured, threshold), nl=False, err=True)
    click.get_current_context().exit(exit_code)


def _render(
    suite: SuiteResult,
    report_format: str,
    measured: list[PolicyCoverage] | None,
    threshold: float | None,
    color: bool,
) -> str:
    """The report in ``report_format``; text and JSON carry the coverage too, when it was measured."""
    if report_format == "json":
        return render_json(suite, clause_coverage.to_dicts(measured) if measured is not None else None)
    if report_format == "junit":
        return render_junit(suite)
    text = render_text(suite, color=color)
    if measured is not None:
        text += "\n" + clause_coverage.render_text(measured, threshold)
    return text


def _pack_tests(no_bundled: bool) -> tuple[Path, ...]:
    """The test folders of the loaded policy packs (without the bundled one under --no-bundled)."""
    folders = tuple(
        pack.tests
        for pack in plugin_host().policy_packs
        if pack.tests is not None and not (no_bundled and pack.bundled)
    )
    if not folders:
        raise ServiceflowError("no PATH given, and no loaded policy pack ships tests")
    return folders


def _load(paths: Sequence[Path]) -> tuple[list[PolicyTestFile], list[ServiceflowError]]:
    """Every test file that reads, and the error of each that does not, so all are reported at once."""
    files: list[PolicyTestFile] = []
    errors: list[ServiceflowError] = []
    for path in paths:
        try:
            files.append(load_test_file(path))
        except PolicyTestError as error:
            errors.append(error)
    return files, errors
