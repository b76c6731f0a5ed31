"""Strict expected failures from `xfail.json`, and the pass/fail/xfail/skip counts per category.

`xfail.json` maps test names (`test_abs_cpu`) to the reason they fail. A listed test that fails is
reported as xfailed; one that passes fails the run ("now passes: remove it from xfail.json"), so
the list stays true. At the end of every run that includes this folder, the counts are printed for
the node tests and for the other categories, with the most frequent skip reasons.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path

import pytest

XFAIL_FILE = Path(__file__).with_name("xfail.json")
XFAIL: dict[str, str] = json.loads(XFAIL_FILE.read_text())

_CATEGORY_LABELS = {
    "OnnxBackendNodeModelTest": "node",
    "OnnxBackendPyTorchConvertedModelTest": "pytorch-converted",
    "OnnxBackendPyTorchOperatorModelTest": "pytorch-operator",
    "OnnxBackendSimpleModelTest": "simple",
}
_counts: dict[str, Counter] = defaultdict(Counter)
_skip_reasons: Counter = Counter()
_seen: set[str] = set()


def _category(nodeid: str) -> str | None:
    for part in nodeid.split("::"):
        if part in _CATEGORY_LABELS:
            return _CATEGORY_LABELS[part]
    return None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if _category(item.nodeid) is None:
        return
    _seen.add(item.name)
    reason = XFAIL.get(item.name)
    if reason is None or report.when != "call":
        return
    if report.passed:
        report.outcome = "failed"
        report.longrepr = f"{item.name} now passes: remove it from {XFAIL_FILE.name} (listed as: {reason})"
    elif report.failed:
        report.outcome = "skipped"
        report.wasxfail = reason


def pytest_runtest_logreport(report):
    category = _category(report.nodeid)
    if category is None:
        return
    if report.when == "call" or (report.when == "setup" and not report.passed):
        if hasattr(report, "wasxfail"):
            _counts[category]["xfailed"] += 1
        elif report.skipped:
            _counts[category]["skipped"] += 1
            _skip_reasons[_skip_reason(report)] += 1
        else:
            _counts[category][report.outcome] += 1
    elif report.when == "teardown" and report.failed:
        _counts[category]["failed"] += 1


def _skip_reason(report) -> str:
    longrepr = report.longrepr
    text = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    text = text.removeprefix("Skipped: ")
    return text if len(text) <= 110 else text[:107] + "..."


def pytest_terminal_summary(terminalreporter):
    if not _counts:
        return
    write = terminalreporter.write_line
    terminalreporter.section("ONNX backend conformance (graphc CPU)")
    for category in ("node", "pytorch-converted", "pytorch-operator", "simple"):
        c = _counts.get(category)
        if c:
            write(f"{category:>18}: {c['passed']} passed, {c['failed']} failed, {c['xfailed']} xfailed, "
                  f"{c['skipped']} skipped")  # fmt: skip
    stale = sorted(name for name in XFAIL if name not in _seen)
    if stale and len(_seen) > 1000:  # a full run: entries that match no test are stale
        write(f"xfail.json lists {len(stale)} tests that do not exist: {', '.join(stale[:10])}")
    if _skip_reasons:
        write("most frequent skip reasons:")
        for reason, count in _skip_reasons.most_common(12):
            write(f"  {count:4d}  {reason}")
