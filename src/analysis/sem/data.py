"""The trial's long data in the layout the engine fits, and growth models on its waves.

The trial contract is long (a row per participant and wave); a structural equation
model wants one row per participant with a column per variable and wave.
:func:`wide` makes that table, naming each column ``<variable>_w<wave>`` (the names
:func:`analysis.sem.invariance` fills in for ``{wave}`` when given ``waves=["w0",
"w1", ...]``), and :func:`growth_syntax` writes the intercept and slope factors of a
latent growth model of one variable with the waves' times as slope loadings.
"""

from __future__ import annotations

from typing import Sequence

import pandas as pd

from .. import io

__all__ = ["growth_syntax", "wave_label", "wide"]


def wave_label(wave) -> str:
    """Suffix of a wave's columns in the wide table (``w0``, ``w1``, ...)."""
    return f"w{wave}"


def wide(data: pd.DataFrame, variables: Sequence[str], *, waves: Sequence[int] | None = None,
         keep: Sequence[str] = (), group: str = "participant_id", wave: str = "wave") -> pd.DataFrame:
    """One row per participant, one column per variable and wave.

    Parameters
    ----------
    data : pandas.DataFrame
        Long data, a row per participant and wave (the trial contract).
    variables : sequence of str
        Numeric columns to spread over the waves (items or totals); missing
        values stay missing (for FIML).
    waves : sequence of int, optional
        Waves to keep, in this order (default: every wave in the data, sorted).
    keep : sequence of str
        Columns constant within a participant (``arm``, baseline covariates),
        carried over as they are.
    group, wave : str
        Participant and wave columns.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``group``: the ``keep`` columns, then ``<variable>_w<wave>`` for
        each wave and variable (all variables of the first wave first).
        Participants without a row at any of the waves are left out.

    Raises
    ------
    analysis.io.DataValidationError
        A column that is absent or not numeric, a participant seen twice at a wave,
        a ``keep`` column that changes within a participant.
    ValueError
        A requested wave absent from the data, or no variables.
    """
    variables, keep = list(variables), list(keep)
    if not variables:
        raise ValueError("sem.wide: give at least one variable to spread over the waves")
    frame = io.model_frame(data, partial=variables, optional=keep, clusters=keep, group=group, wave=wave,
                           who="sem.wide").data
    present = sorted(frame[wave].unique())
    waves = present if waves is None else list(waves)
    absent = [w for w in waves if w not in present]
    if absent:
        raise ValueError(f"sem.wide: waves {absent} are not in column {wave!r} (waves present: {present})")
    frame = frame[frame[wave].isin(waves)]
    spread = frame.pivot(index=group, columns=wave, values=variables)
    columns = {f"{v}_{wave_label(w)}": spread[(v, w)] for w in waves for v in variables}
    carried = frame.groupby(group, sort=False)[keep].first() if keep else pd.DataFrame(index=spread.index)
    return pd.concat([carried.reindex(spread.index), pd.DataFrame(columns)], axis=1)


def growth_syntax(variable: str, times: Sequence[float], waves: Sequence[int], name: str | None = None) -> str:
    """Intercept and slope factors of a linear growth model, in lavaan syntax.

    Parameters
    ----------
    variable : str
        The repeated variable; its columns are ``<variable>_w<wave>`` (:func:`wide`).
    times : sequence of float
        Time of each wave (the slope loadings; the intercept is the level at time 0
        and the slope the change per unit of time).
    waves : sequence of int
        The waves, in the order of ``times``.
    name : str, optional
        Suffix of the factors ``i<name>`` and ``s<name>`` (default ``variable``).

    Returns
    -------
    str
        Two ``=~`` lines for :func:`analysis.sem.growth`.
    """
    times, waves = list(times), list(waves)
    if len(times) != len(waves) or len(waves) < 2:
        raise ValueError(f"sem.growth_syntax: need one time per wave and at least two waves; got times {times} "
                         f"for waves {waves}")
    name = variable if name is None else name
    columns = [f"{variable}_{wave_label(w)}" for w in waves]
    intercept = " + ".join(f"1*{c}" for c in columns)
    slope = " + ".join(f"{t:g}*{c}" for t, c in zip(times, columns))
    return f"i{name} =~ {intercept}\ns{name} =~ {slope}"
