"""Methods paragraphs written from the fitted results, with their references, for :func:`analysis.report.paper.methods`.

Every sentence states what the results themselves record (the estimator, the optimiser or sampler and
its settings, the df or interval method, the rows left out, the diagnostics), so the paragraph stays
true when a parameter or the data change; each names the R functions that compute the same and cites
the methods papers in APA style (:data:`REFERENCES`). :func:`software` names the Python libraries the
kernel actually imported, with their installed versions.

One function per report family:

* :func:`mixed_models` (:mod:`.mixed`): linear and generalised mixed models, report 02;
* :func:`bayesian_models` (:mod:`.bayes`): Bayesian growth and adherence models, report 03;
* :func:`mediation_analyses` (:mod:`.mediation`): causal mediation, report 04;
* :func:`cross_lagged` (:mod:`.panel`): RI-CLPM and CLPM, report 05;
* :func:`meta_analysis` (:mod:`.meta`): meta-analysis and its bias analyses, report 06;
* :func:`power_simulation` (:mod:`.simulation`): simulation-based power, report 07;
* :func:`primary_analysis` (:mod:`.primary`): MMRM and multiple imputation, report 08;
* :func:`measurement` (:mod:`.measurement`): reliability, invariance and latent growth, report 09.
"""

from .bayes import bayesian_models
from .common import LIBRARY_CITATIONS, MethodsText, cited, combine, software
from .measurement import measurement
from .mediation import mediation_analyses
from .meta import meta_analysis
from .mixed import DF_METHODS, mixed_models
from .panel import cross_lagged
from .primary import primary_analysis
from .references import REFERENCES
from .simulation import power_simulation

__all__ = ["DF_METHODS", "LIBRARY_CITATIONS", "REFERENCES", "MethodsText", "bayesian_models", "cited", "combine",
           "cross_lagged", "measurement", "meta_analysis", "mediation_analyses", "mixed_models", "power_simulation",
           "primary_analysis", "software"]
