"""lavaan model syntax: the parser.

A model is text with one formula per line (or separated by ``;``); ``#`` and ``!``
start comments, and a formula may continue on the next line after a ``+`` or an
operator. The operators are those of lavaan:

``f =~ x1 + x2``   latent variable ``f`` measured by ``x1``, ``x2`` (loadings)
``y ~ x + z``      regression of ``y`` on ``x`` and ``z``
``x ~~ z``         (residual) variance or covariance
``y ~ 1``          intercept (mean) of ``y``
``ab := a*b``      defined parameter, a function of labelled parameters

A term may carry modifiers joined by ``*``: a number fixes the parameter
(``1*x1``, ``0*x``), ``NA`` frees it (``NA*x1`` frees a first loading), a name
labels it (``a*x1``; parameters sharing a label are held equal), and ``c(...)``
gives one modifier per group (``c(a1, a2)*x1``, ``c(1, NA)*x1``).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

__all__ = ["Definition", "Formula", "ModelSyntaxError", "Modifier", "ParsedModel", "parse"]

#: Operators, longest first so that ``=~`` and ``~~`` are not read as ``~``.
OPERATORS = (":=", "=~", "~~", "~")
_NAME = re.compile(r"^[A-Za-z_.][A-Za-z0-9_.]*$")
_NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


class ModelSyntaxError(ValueError):
    """A model formula that cannot be read; the message quotes the formula."""


@dataclass(frozen=True)
class Modifier:
    """What a term's modifier says about one group: a fixed value, free (``NA``), or a label."""

    fixed: float | None = None
    label: str = ""
    free: bool = False


@dataclass(frozen=True)
class Formula:
    """One parameter statement: ``lhs op rhs`` with per-group modifiers (one entry for all groups)."""

    lhs: str
    op: str
    rhs: str
    modifiers: tuple[Modifier, ...] = ()


@dataclass(frozen=True)
class Definition:
    """A defined parameter ``name := expression`` over parameter labels."""

    name: str
    expression: str
    labels: tuple[str, ...]


@dataclass(frozen=True)
class ParsedModel:
    """The formulas and defined parameters of a model, in the order written."""

    formulas: tuple[Formula, ...]
    definitions: tuple[Definition, ...]


def parse(model: str) -> ParsedModel:
    """Read lavaan model syntax.

    Parameters
    ----------
    model : str
        Model text (see the module docstring).

    Returns
    -------
    ParsedModel

    Raises
    ------
    ModelSyntaxError
        (a ``ValueError``) naming the formula that cannot be read: no operator, an
        empty side, a bad modifier, an unsupported operator or modifier.
    """
    if not isinstance(model, str) or not model.strip():
        raise ModelSyntaxError("the model is empty: give lavaan model syntax, e.g. 'f =~ x1 + x2 + x3'")
    formulas, definitions = [], []
    for statement in _statements(model):
        op = _operator(statement)
        lhs, rhs = (part.strip() for part in statement.split(op, 1))
        if not lhs or not rhs:
            raise ModelSyntaxError(f"formula {statement!r}: both sides of {op!r} need a term")
        if op == ":=":
            definitions.append(_definition(lhs, rhs, statement))
            continue
        for left in (part.strip() for part in lhs.split("+")):
            _check_name(left, statement)
            for term in _split_terms(rhs, statement):
                formulas.append(_formula(left, op, term, statement))
    return ParsedModel(tuple(formulas), tuple(definitions))


def _statements(model: str) -> list[str]:
    """Formulas: comments removed, split on newlines and ``;``, continued lines joined."""
    lines = []
    for raw in model.splitlines():
        for line in re.split(r"[#!]", raw, maxsplit=1)[0].split(";"):
            line = line.strip()
            if not line:
                continue
            continues = lines and (lines[-1].endswith(("+", "*", "=~", "~", ":=", "(", ","))
                                   or line.startswith(("+", "*")) or not _has_operator(line))
            if continues:
                lines[-1] = f"{lines[-1]} {line}"
            else:
                lines.append(line)
    return lines


def _has_operator(text: str) -> bool:
    return any(op in text for op in OPERATORS)


def _operator(statement: str) -> str:
    for unsupported in ("<~", "==", "|", "%", "<", ">"):
        if unsupported in statement:
            raise ModelSyntaxError(f"formula {statement!r}: operator {unsupported!r} is not supported "
                               "(supported: =~, ~, ~~, ~ 1, :=)")
    for op in OPERATORS:
        if op in statement:
            return op
    raise ModelSyntaxError(f"formula {statement!r} has no operator (=~, ~, ~~, :=)")


def _split_terms(rhs: str, statement: str) -> list[str]:
    """Split a right-hand side on ``+`` outside parentheses."""
    terms, depth, current = [], 0, ""
    for char in rhs:
        depth += (char == "(") - (char == ")")
        if char == "+" and depth == 0:
            terms.append(current.strip())
            current = ""
        else:
            current += char
    terms.append(current.strip())
    if any(not term for term in terms):
        raise ModelSyntaxError(f"formula {statement!r}: an empty term between '+' signs")
    return terms


def _formula(lhs: str, op: str, term: str, statement: str) -> Formula:
    parts = _split_modifiers(term)
    name, modifiers = parts[-1], parts[:-1]
    if len(modifiers) > 1:
        raise ModelSyntaxError(f"formula {statement!r}: term {term!r} has more than one modifier")
    if op == "~" and name == "1":
        op, name = "~1", ""
    else:
        _check_name(name, statement)
    if op == "=~" and lhs == name:
        raise ModelSyntaxError(f"formula {statement!r}: {lhs!r} cannot be an indicator of itself")
    return Formula(lhs, op, name, _modifiers(modifiers[0], statement) if modifiers else ())


def _split_modifiers(term: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in term:
        depth += (char == "(") - (char == ")")
        if char == "*" and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += char
    parts.append(current.strip())
    return parts


def _modifiers(text: str, statement: str) -> tuple[Modifier, ...]:
    """One Modifier, or one per group for ``c(...)``."""
    match = re.fullmatch(r"c\((.*)\)", text)
    items = [item.strip() for item in match.group(1).split(",")] if match else [text]
    return tuple(_modifier(item, statement) for item in items)


def _modifier(item: str, statement: str) -> Modifier:
    item = item.strip().strip("\"'")
    if item == "NA":
        return Modifier(free=True)
    if _NUMBER.match(item):
        return Modifier(fixed=float(item))
    if _NAME.match(item) and "(" not in item:
        return Modifier(label=item)
    raise ModelSyntaxError(f"formula {statement!r}: modifier {item!r} is not a number, NA, a label or c(...) "
                       "(start(), equal() and label() are not supported)")


def _check_name(name: str, statement: str) -> None:
    if not _NAME.match(name):
        raise ModelSyntaxError(f"formula {statement!r}: {name!r} is not a variable name")


#: Expression nodes allowed in defined parameters.
_ALLOWED = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Name, ast.Load, ast.Constant, ast.Add, ast.Sub,
            ast.Mult, ast.Div, ast.Pow, ast.USub, ast.UAdd, ast.Call)
_FUNCTIONS = {"sqrt", "exp", "log", "abs"}


def _definition(name: str, expression: str, statement: str) -> Definition:
    _check_name(name, statement)
    text = expression.replace("^", "**")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError:
        raise ModelSyntaxError(f"defined parameter {statement!r}: {expression!r} is not an expression") from None
    labels = []
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED):
            raise ModelSyntaxError(f"defined parameter {statement!r}: {type(node).__name__} is not allowed "
                               "(use labels, numbers, + - * / ^ and sqrt, exp, log, abs)")
        if isinstance(node, ast.Call) and not (isinstance(node.func, ast.Name) and node.func.id in _FUNCTIONS):
            raise ModelSyntaxError(f"defined parameter {statement!r}: only sqrt, exp, log, abs may be called")
        if isinstance(node, ast.Name) and node.id not in _FUNCTIONS:
            labels.append(node.id)
    return Definition(name, text, tuple(dict.fromkeys(labels)))
