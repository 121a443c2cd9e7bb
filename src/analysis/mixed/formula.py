"""Formulas: the data columns a patsy formula refers to.
"""

from __future__ import annotations

import ast

import patsy


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
