"""``${...}`` in workflow files: parameters, configuration fragments and earlier steps' records.

A string that is one ``${...}`` becomes the expression's value (its type
kept); ``${...}`` inside a longer string is written in.  Only arithmetic,
comparisons, ``in``, ``and``/``or``/``not``, ``if`` expressions, literals,
``a.b`` (key ``b`` of the mapping ``a``), ``a | b`` (the mappings merged,
``b``'s keys winning) and the functions int, float, round, min, max, len and
str are evaluated: a workflow cannot run code.
"""

from __future__ import annotations

import ast
import operator
import re
from collections.abc import Mapping
from typing import Any

from jetflow.core.errors import ConfigError


def _merged(a, b):
    if not isinstance(a, Mapping) or not isinstance(b, Mapping):
        raise TypeError(f"| merges two mappings, not {type(a).__name__} and {type(b).__name__}")
    return {**a, **b}


_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
           ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow, ast.BitOr: _merged}
_COMPARE = {ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
            ast.Gt: operator.gt, ast.GtE: operator.ge, ast.In: lambda a, b: a in b,
            ast.NotIn: lambda a, b: a not in b}
_FUNCTIONS = {"int": int, "float": float, "round": round, "min": min, "max": max, "len": len, "str": str}
_REFERENCE = re.compile(r"\$\{([^}]*)\}")


def evaluate(expression: str, names: Mapping[str, Any]) -> Any:
    """The value of a ``${...}`` expression: arithmetic, comparisons, ``if``, literals, attribute access.

    ``names`` maps parameter and step names to values; ``a.b`` reads key ``b``
    of the mapping ``a``.  Raises :class:`ConfigError` naming the expression.
    """
    try:
        tree = ast.parse(expression.strip(), mode="eval")
        return _eval(tree.body, names)
    except ConfigError as exc:
        raise ConfigError(f"${{{expression}}}: {exc}") from None
    except (SyntaxError, TypeError, ValueError, ZeroDivisionError) as exc:
        raise ConfigError(f"${{{expression}}}: {type(exc).__name__}: {exc}") from None


def _eval(node: ast.AST, names: Mapping[str, Any]) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        if node.id not in names:
            raise ConfigError(f"unknown name {node.id!r} (known: {', '.join(sorted(names))})")
        return names[node.id]
    if isinstance(node, ast.Attribute):
        value = _eval(node.value, names)
        if not isinstance(value, Mapping) or node.attr not in value:
            keys = ", ".join(map(str, value)) if isinstance(value, Mapping) else type(value).__name__
            raise ConfigError(f"no key {node.attr!r} (has: {keys})")
        return value[node.attr]
    if isinstance(node, ast.Subscript):
        return _eval(node.value, names)[_eval(node.slice, names)]
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        return _BINARY[type(node.op)](_eval(node.left, names), _eval(node.right, names))
    if isinstance(node, ast.UnaryOp):
        value = _eval(node.operand, names)
        if isinstance(node.op, ast.USub):
            return -value
        if isinstance(node.op, ast.UAdd):
            return +value
        if isinstance(node.op, ast.Not):
            return not value
    if isinstance(node, ast.BoolOp):
        values = [_eval(v, names) for v in node.values]
        return all(values) if isinstance(node.op, ast.And) else any(values)
    if isinstance(node, ast.Compare):
        left = _eval(node.left, names)
        for op, comparator in zip(node.ops, node.comparators):
            right = _eval(comparator, names)
            if type(op) not in _COMPARE or not _COMPARE[type(op)](left, right):
                return False
            left = right
        return True
    if isinstance(node, ast.IfExp):
        return _eval(node.body, names) if _eval(node.test, names) else _eval(node.orelse, names)
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_eval(e, names) for e in node.elts]
    if isinstance(node, ast.Dict):
        return {_eval(k, names): _eval(v, names) for k, v in zip(node.keys, node.values)}
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FUNCTIONS and not node.keywords:
        return _FUNCTIONS[node.func.id](*(_eval(a, names) for a in node.args))
    raise ConfigError(f"{ast.unparse(node)!r} is not allowed (arithmetic, comparisons, if, literals, "
                      f"{', '.join(_FUNCTIONS)})")


def substitute(value: Any, names: Mapping[str, Any]) -> Any:
    """``value`` with every ``${...}`` evaluated: a whole-string expression keeps its type."""
    if isinstance(value, str):
        if value.startswith("${") and value.endswith("}") and _balanced(value[2:-1]):
            return evaluate(value[2:-1], names)  # one expression, which may hold mapping literals' braces
        return _REFERENCE.sub(lambda m: str(evaluate(m.group(1), names)), value)
    if isinstance(value, Mapping):
        return {k: substitute(v, names) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [substitute(v, names) for v in value]
    return value


def _balanced(text: str) -> bool:
    """Whether every brace of ``text`` closes within it (so that ``${text}`` is one expression)."""
    depth = 0
    for c in text:
        depth += {"{": 1, "}": -1}.get(c, 0)
        if depth < 0:
            return False
    return depth == 0


class Fragments(Mapping):
    """The workflow's configuration fragments, each substituted when a step reads it (``${configs.base}``)."""

    def __init__(self, raw: Mapping[str, Any], names: Mapping[str, Any]) -> None:
        self._raw = raw
        self._names = names

    def __getitem__(self, key: str) -> Any:
        return substitute(self._raw[key], self._names)

    def __iter__(self):
        return iter(self._raw)

    def __len__(self) -> int:
        return len(self._raw)
