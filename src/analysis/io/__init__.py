"""Reading trial data and holding it to the trial-data contract.

The contract (see ``shared/DESIGN.md`` and the README) is a long table, one row per
participant and wave:

``participant_id``
    required, never missing.
``wave``
    required, whole number >= 0; (``participant_id``, ``wave``) unique.
``time``
    optional, weeks since baseline, defaults to ``wave``; never decreasing over a
    participant's waves.
``arm``
    required (a single level is allowed for single-arm studies).
instruments
    item columns (``gse_1`` .. ``gse_10``, ``phq9_1`` .. ``phq9_9``, ``gad7_1`` ..
    ``gad7_7``, ``cesd_1`` .. ``cesd_20``) and/or totals (``gse_total``,
    ``phq9_total``, ``gad7_total``, ``cesd_total``, ``bdi_total``, ``pcl5_total``);
    at least one instrument must be present. Totals are scored from items when
    absent (see :mod:`analysis.scales` for prorating).
optional
    ``sessions_attended``, ``sessions_offered``, the four sources of self-efficacy
    (``src_mastery``, ``src_vicarious``, ``src_persuasion``,
    ``src_physiological``), ``social_support`` and any covariates.

Row numbers in problem reports are those a spreadsheet shows: the header is row 1
and the first data row is row 2 (for a CSV file this is also the line number).
Nothing here ever writes to the input file.
"""


from .arms import CONTROL_NAMES, arm_factor, describe_arms, reference_arm  # noqa: F401
from .contract import (COUNT_COLUMNS, NUMERIC_OPTIONAL, REQUIRED, SOURCES, load_trial,  # noqa: F401
                       retention, summarise, validate)
from .errors import FIRST_ROW, SHOWN, DataFileError, DataValidationError, Problem, _plain, _problem  # noqa: F401
from .frames import ModelFrame, check_design, model_frame
from .read import from_wide, load_yaml, read_mapping, read_table

__all__ = [
    "DataFileError",
    "DataValidationError",
    "Problem",
    "load_trial",
    "read_table",
    "read_mapping",
    "load_yaml",
    "validate",
    "from_wide",
    "summarise",
    "retention",
    "arm_factor",
    "describe_arms",
    "reference_arm",
    "model_frame",
    "ModelFrame",
    "check_design",
]
