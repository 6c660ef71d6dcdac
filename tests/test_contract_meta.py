"""The contract suites are not vacuous: each fails a deliberately broken component of its kind.

``tests/contract_meta/cases.py`` holds a small good component of each kind and a broken twin (a label
source returning a non-string, a class with a bad name and a lax options model, a grounder labelling its
box with a label nobody asked for, an entropy model that cannot decode a subset of its chunks, a composer
returning the picture transposed, a task head predicting a numpy array). It runs once, in-process
(``pytest.main``), and every good component must pass while every broken one fails where it is broken.
"""

from __future__ import annotations

import importlib.util
from collections import defaultdict
from pathlib import Path

import pytest

CASES = Path(__file__).resolve().parent / "contract_meta" / "cases.py"


def _broken_table() -> dict:
    spec = importlib.util.spec_from_file_location("discover_contract_meta_cases", CASES)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.BROKEN


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory) -> dict[str, dict[str, tuple[str, str]]]:
    """class name -> test name -> (outcome, failure text) of one run of the suites on the cases."""
    inner = tmp_path_factory.mktemp("contract-meta")
    (inner / "test_cases.py").write_text(CASES.read_text(encoding="utf-8"), encoding="utf-8")
    (inner / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    reports = []

    class Recorder:
        def pytest_runtest_logreport(self, report):
            reports.append(report)

    code = pytest.main([str(inner), "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
                        "--import-mode=prepend", "--rootdir", str(inner), "-c",
                        str(inner / "pytest.ini")], plugins=[Recorder()])
    assert code in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED), f"the inner run ended with {code!r}"
    table: dict[str, dict[str, tuple[str, str]]] = defaultdict(dict)
    for r in reports:
        if r.when == "call" or r.outcome != "passed":
            cls, test = r.nodeid.split("::")[1:3]
            table[cls][test.split("[")[0]] = (r.outcome, r.longreprtext if r.failed else "")
    return table


def test_good_components_pass_their_suites(outcomes):
    good = {cls: tests for cls, tests in outcomes.items() if cls.startswith("TestGood")}
    assert len(good) == 7, sorted(outcomes)
    bad = {f"{cls}::{t}": o[1][-600:] for cls, tests in good.items() for t, o in tests.items() if o[0] != "passed"}
    skipped_on_purpose = {"TestGoodLabels::test_registered_through_entry_point"}  # not installed
    assert set(bad) == skipped_on_purpose, bad
    assert len(good["TestGoodCodec"]) > 15


@pytest.mark.parametrize("cls", sorted(_broken_table()))
def test_each_suite_fails_its_broken_component(outcomes, cls):
    tests = outcomes[cls]
    assert tests, f"{cls} did not run"
    for test, text in _broken_table()[cls]:
        outcome, failure = tests.get(test, ("missing", ""))
        assert outcome == "failed", f"{cls}::{test} should fail, it is {outcome}"
        assert text in failure, f"{cls}::{test} failed for another reason:\n{failure[-1500:]}"
    passed = [t for t, o in tests.items() if o[0] == "passed"]
    assert passed, f"{cls}: every test failed, so the failures say nothing about the breakage"
