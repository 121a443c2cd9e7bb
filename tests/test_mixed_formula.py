"""lme4 formulas: fixed part and random-effect terms expanded as lme4 expands them."""

import pytest

from analysis.mixed import formula


def _terms(text):
    return [str(term) for term in formula.parse(text).random]


def test_fixed_part_and_terms_in_order():
    parsed = formula.parse("phq9_total ~ time * arm + (time | participant_id) + (1 | therapist)")
    assert parsed.fixed == "phq9_total ~ time * arm" and parsed.response == "phq9_total"
    assert _terms("y ~ time * arm + (time | participant_id) + (1 | therapist)") == [
        "(time | participant_id)", "(1 | therapist)"]


def test_nested_groups_expand_to_the_outer_factor_and_the_interaction():
    assert _terms("y ~ time + (1 | therapist/participant_id)") == [
        "(1 | therapist)", "(1 | therapist:participant_id)"]
    assert formula.parse("y ~ 1 + (1 | a/b/c)").random[2].factors == ["a", "b", "c"]


def test_double_bar_gives_uncorrelated_terms():
    assert _terms("y ~ time + (time || id)") == ["(1 | id)", "(0 + time | id)"]
    assert _terms("y ~ time + (0 + time + x || id)") == ["(0 + time | id)", "(0 + x | id)"]


def test_fixed_parentheses_and_functions_stay_fixed():
    parsed = formula.parse("y ~ (a + b):c + np.log(x) + (poly(t, 2) | g)")
    assert parsed.fixed == "y ~ (a + b):c + np.log(x)"
    assert _terms("y ~ (a + b):c + np.log(x) + (poly(t, 2) | g)") == ["(poly(t, 2) | g)"]
    assert formula.parse("y ~ (1 | g)").fixed == "y ~ 1"


@pytest.mark.parametrize("text, message", [
    ("y + (1 | g)", "one '~'"),
    ("y ~ x + (1 | g", "unbalanced"),
    ("y ~ x + ( | g)", "needs the form"),
    ("y ~ x + (1 | )", "needs the form"),
])
def test_malformed_formulas_are_refused(text, message):
    with pytest.raises(ValueError, match=message):
        formula.parse(text)
