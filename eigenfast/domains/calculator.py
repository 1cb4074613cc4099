"""tau²'s `calculate` tool (airline and retail): the arithmetic its `eval` allows, evaluated without `eval`."""

from __future__ import annotations

import ast
import operator
import warnings
from collections.abc import Callable
from typing import Any

from eigenfast.domains.toolkit import ToolError

_BINARY: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Pow: operator.pow,
}
_UNARY: dict[type, Callable[[Any], Any]] = {ast.UAdd: operator.pos, ast.USub: operator.neg}
_MAX_INT_BITS = 1 << 16  # bounds `9**9**9`-style expressions; anything this big overflows float() anyway


def _too_big(op: type, left: Any, right: Any) -> bool:
    if not (isinstance(left, int) and isinstance(right, int)):
        return False
    if op is ast.Pow:
        return right > 0 and abs(left) > 1 and right * left.bit_length() > _MAX_INT_BITS
    if op is ast.Mult:
        return left.bit_length() + right.bit_length() > _MAX_INT_BITS
    return False


def _arith(root: ast.AST) -> Any:
    """Evaluate the node kinds the allowed characters can form, left to right, with Python's own semantics.

    Iterative, so chains as long as the parser accepts cannot exhaust the interpreter's stack.
    """
    stack: list[tuple[ast.AST, bool]] = [(root, False)]
    values: list[Any] = []
    while stack:
        node, operands_ready = stack.pop()
        if isinstance(node, ast.Expression):
            stack.append((node.body, False))
        elif isinstance(node, ast.Constant):
            values.append(node.value)
        elif isinstance(node, ast.Tuple) and not node.elts:
            values.append(())
        elif isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            if not operands_ready:
                stack += [(node, True), (node.right, False), (node.left, False)]
                continue
            right, left = values.pop(), values.pop()
            if _too_big(type(node.op), left, right):
                raise ToolError("Expression too large to evaluate")
            values.append(_BINARY[type(node.op)](left, right))
        elif isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
            if not operands_ready:
                stack += [(node, True), (node.operand, False)]
                continue
            values.append(_UNARY[type(node.op)](values.pop()))
        elif isinstance(node, ast.Call) and not node.keywords:  # `(2)(3)`: calling a number
            if not operands_ready:
                stack += [(node, True), *((arg, False) for arg in reversed(node.args)), (node.func, False)]
                continue
            del values[len(values) - len(node.args) :]
            raise TypeError(f"'{type(values.pop()).__name__}' object is not callable")
        else:
            raise ToolError(f"Unsupported expression element: {type(node).__name__}")
    return values.pop()


def calculate_expression(expression: str) -> str:
    """tau²'s calculator: + - * / ( ) . digits and spaces, result rounded to 2 decimals, without `eval`."""
    if not all(char in "0123456789+-*/(). " for char in expression):
        raise ToolError("Invalid characters in expression")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SyntaxWarning)
            tree = ast.parse(expression.lstrip(" "), "<string>", mode="eval")
        return str(round(float(_arith(tree)), 2))
    except (SyntaxError, ArithmeticError, TypeError, ValueError, RecursionError) as exc:
        raise ToolError(str(exc)) from None
