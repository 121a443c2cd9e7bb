"""Formulas: lme4's random-effect terms, and the data columns a patsy formula refers to.

:func:`parse` splits an lme4 formula such as
``"phq9_total ~ time * arm + (time | participant_id) + (1 | therapist)"`` into its
fixed part (a patsy formula) and its random-effect terms, expanded as lme4 expands
them (Bates et al. 2015, JSS 67(1), section 2.2):

* ``(expr | g)``: correlated random effects of the columns of ``expr`` within ``g``;
* ``(expr || g)``: uncorrelated: one term per column, ``(1 | g) + (0 + x | g)``;
* ``(expr | g1/g2)``: nested: ``(expr | g1) + (expr | g1:g2)``;
* ``g1:g2``: the interaction of two factors as the grouping factor;
* several terms, with the same or crossed grouping factors.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

import patsy


@dataclass(frozen=True)
class RandomTerm:
    """One random-effect term ``(expr | group)`` after lme4's expansion.

    Attributes
    ----------
    expr : str
        The random-effects model formula's right side, e.g. ``"1"``, ``"time"``,
        ``"0 + time"`` (patsy syntax: ``"time"`` includes an intercept).
    group : str
        The grouping factor: a column, or columns joined by ``:`` (their interaction).
    """

    expr: str
    group: str

    @property
    def factors(self) -> list[str]:
        """The columns whose combinations define the groups."""
        return self.group.split(":")

    def __str__(self) -> str:
        return f"({self.expr} | {self.group})"


@dataclass(frozen=True)
class LmerFormula:
    """An lme4 formula split into its fixed part and its expanded random-effect terms."""

    fixed: str
    random: tuple[RandomTerm, ...]

    @property
    def response(self) -> str:
        """The left side of the formula."""
        return self.fixed.split("~")[0].strip()


def parse(formula: str) -> LmerFormula:
    """Split an lme4 formula into its fixed part and expanded random-effect terms.

    Parameters
    ----------
    formula : str
        E.g. ``"y ~ time * arm + (time | participant_id) + (1 | therapist)"``,
        ``"y ~ time + (1 | therapist/participant_id)"`` or ``"y ~ time + (time || id)"``.

    Returns
    -------
    LmerFormula
        ``fixed`` is the formula without its bar terms (``"y ~ time * arm"``);
        ``random`` holds the terms in the order written, nested and ``||`` terms
        expanded as lme4 expands them.

    Raises
    ------
    ValueError
        No ``~``, unbalanced parentheses, or a bar term without an expression or a
        grouping factor.
    """
    if formula.count("~") != 1:
        raise ValueError(f"formula must have one '~' (response ~ terms), got {formula!r}")
    left, right = formula.split("~")
    kept, bars = _split_bars(right, formula)
    fixed = " + ".join(kept) if kept else "1"
    terms = tuple(term for bar in bars for term in _expand(bar, formula))
    return LmerFormula(f"{left.strip()} ~ {fixed}", terms)


def _split_bars(right: str, formula: str) -> tuple[list[str], list[str]]:
    """The top-level ``+`` terms of a formula's right side: fixed ones and bar terms (without parentheses)."""
    parts, depth, current = [], 0, ""
    for char in right:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth < 0:
            raise ValueError(f"unbalanced parentheses in formula {formula!r}")
        if char == "+" and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += char
    if depth:
        raise ValueError(f"unbalanced parentheses in formula {formula!r}")
    parts.append(current.strip())
    fixed, bars = [], []
    for part in filter(None, parts):
        if part.startswith("(") and part.endswith(")") and "|" in part:
            bars.append(part[1:-1])
        else:
            fixed.append(part)
    return fixed, bars


def _expand(bar: str, formula: str) -> list[RandomTerm]:
    """lme4's expansion of one bar term: ``||`` into uncorrelated terms, ``g1/g2`` into nested ones."""
    uncorrelated = "||" in bar
    expr, _, group = (part.strip() for part in bar.partition("||" if uncorrelated else "|"))
    if not expr or not group or "|" in group:
        raise ValueError(f"random-effect term ({bar}) in {formula!r} needs the form (expr | group)")
    groups = _nested(group)
    exprs = _uncorrelated(expr) if uncorrelated else [expr]
    return [RandomTerm(e, g) for g in groups for e in exprs]


def _nested(group: str) -> list[str]:
    """``a/b/c`` -> ``a``, ``a:b``, ``a:b:c`` (lme4's nesting); other groups as they are."""
    levels = [g.strip() for g in group.split("/")]
    return [":".join(levels[: k + 1]) for k in range(len(levels))]


def _uncorrelated(expr: str) -> list[str]:
    """``(x + z || g)`` -> ``1``, ``0 + x``, ``0 + z`` (the intercept only if ``expr`` has one)."""
    columns = patsy.ModelDesc.from_formula(f"~ {expr}").rhs_termlist
    names = [term.name() for term in columns if term.factors]
    has_intercept = any(not term.factors for term in columns)
    return (["1"] if has_intercept else []) + [f"0 + {name}" for name in names]


def _formula_variables(formula: str) -> list[str]:
    """Names of the data columns a patsy formula refers to."""
    names = []
    desc = patsy.ModelDesc.from_formula(formula)
    for term in desc.lhs_termlist + desc.rhs_termlist:
        for factor in term.factors:
            names.extend(_code_names(factor.code))
    return list(dict.fromkeys(names))


def _code_names(code: str) -> list[str]:
    """Variable names in one patsy factor's Python code (``Q("a.b")`` included)."""
    tree = ast.parse(code, mode="eval")
    callees = {id(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)}
    attributes = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and id(node) not in callees | attributes:
            names.append(node.id)
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
              and node.func.id == "Q" and node.args and isinstance(node.args[0], ast.Constant)):
            names.append(node.args[0].value)
    return names
