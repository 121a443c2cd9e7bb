"""Structural equation models with lavaan's syntax, defaults and numbers.

``fit`` (lavaan's ``sem()``), ``cfa``, ``growth`` and ``lavaan`` (its bare defaults) fit a model written in lavaan
model syntax by maximum likelihood (FIML with missing values, robust MLR on request,
bootstrap standard errors with ``se="bootstrap"``) and return a :class:`SemResult` whose
``parameters`` and ``fit`` are laid out as lavaan's ``parameterEstimates()`` and
``fitMeasures()``; ``invariance`` fits and compares the configural, metric, scalar and
strict levels across groups or waves, and ``lrt`` tests any two nested fits (``lavTestLRT``).

Parts: ``syntax`` (the model parser), ``model`` (parameter table with lavaan's defaults,
RAM matrices and their derivatives), ``estimation`` (ML and FIML discrepancy, optimiser,
information), ``robust`` (MLR sandwich and scaled test), ``robust_fit`` (scaled and robust
CFI, TLI, RMSEA), ``bootstrap``, ``fit`` (fit measures), ``standardized`` (std.all),
``parameters`` (the parameter table), ``fitting`` (the user functions), ``invariance``,
``result``.
"""

from .estimation import ConvergenceFailure, ModelIdentificationError
from .fitting import cfa, fit, growth, lavaan
from .invariance import invariance, longitudinal_syntax, lrt
from .result import SemResult
from .syntax import ModelSyntaxError, parse

__all__ = [
           "ConvergenceFailure",
           "ModelIdentificationError",
           "ModelSyntaxError",
           "SemResult",
           "cfa",
           "fit",
           "growth",
           "lavaan",
           "invariance",
           "longitudinal_syntax",
           "lrt",
           "parse",
]
