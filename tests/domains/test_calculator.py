"""The shared `calculate` tool agrees with the Python `eval` tau²-bench uses, results and error messages alike."""

from __future__ import annotations

import warnings

import pytest

from eigenfast.domains.calculator import calculate_expression
from eigenfast.domains.toolkit import ToolError


@pytest.mark.parametrize("expression", ["7 / 3", "-3 // 2", "2 ** 0.5", "10 ** 400 / 10 ** 399", "((1.5))", "()",
                                        "(1)(2)", "(-8) ** (1 / 3)", "0 ** -1", "1" + " + 1" * 1500])  # fmt: skip
def test_calculate_agrees_with_python(expression: str):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SyntaxWarning)
            want = str(round(float(eval(expression, {"__builtins__": None}, {})), 2))
    except Exception as exc:  # the agent sees the same message tau²'s eval-based calculator gives
        want = f"error: {exc}"
    try:
        got = calculate_expression(expression)
    except ToolError as exc:
        got = f"error: {exc}"
    assert got == want
