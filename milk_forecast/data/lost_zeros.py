"""The ``PIB_*`` cells that lost trailing zeros in the central bank export, rescaled by the
data README's rule (``lost_zero_factors``: ``55059326`` becomes ``550593260``) and listed
in ``rescaled_cells.parquet`` (02_clean), which ``check_rescaled_cells`` checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from milk_forecast.data import checks
from milk_forecast.data.checks import StageOutputError
from milk_forecast.data.columns import BANK_FILE, PIB_COLUMNS, RESCALED_COLUMNS
from milk_forecast.run_folder.layout import MONTH

# rescaled_cells.parquet: the type of each of RESCALED_COLUMNS.
RESCALED_TYPES = ["str", "int64", "datetime64[ns]", "str", "str", "int64", "float64"]


def lost_zero_factors(digits: pd.Series) -> pd.Series:
    """Per cell of one ``PIB_*`` series, the power of ten that restores its lost zeros.

    ``digits``: the number of significant digits of each cell (0 for an empty cell or a
    zero). The data README's rule: a value with fewer digits than the series' most common
    digit count (the larger one on a tie) is multiplied by the power of ten that restores
    that count; every other cell gets 1.
    """
    counted = digits[digits > 0]
    factors = pd.Series(1, index=digits.index, dtype="int64")
    if counted.empty:
        return factors
    frequency = counted.value_counts()
    usual = int(frequency[frequency == frequency.max()].index.max())
    short = counted[counted < usual]
    factors[short.index] = 10 ** (usual - short).astype("int64")
    return factors


def restore_lost_zeros(kept: pd.DataFrame, gdp: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``gdp`` (the ``PIB_*`` series parsed into their lower-case columns) with the cells that
    lost trailing zeros rescaled (``lost_zero_factors``), and the list of those cells.
    ``kept``: the raw text of the same rows, CSV lines as index."""
    gdp = gdp.copy()
    parts = []
    for source in PIB_COLUMNS:
        name = source.lower()
        digits = kept[source].str.replace(".", "", regex=False).str.lstrip("0").str.len()
        digits = digits.where(gdp[name].notna().to_numpy(), 0)
        factors = lost_zero_factors(digits)
        rescaled = (factors > 1).to_numpy()
        if not rescaled.any():
            continue
        gdp.loc[rescaled, name] = gdp.loc[rescaled, name] * factors[rescaled].to_numpy()
        cells = {
            "file": BANK_FILE,
            "row": kept.index[rescaled],
            MONTH: gdp.loc[rescaled, MONTH].to_numpy(),
            "column": source,
            "value": kept.loc[rescaled, source].to_numpy(),
            "factor": factors[rescaled].to_numpy(),
            "rescaled": gdp.loc[rescaled, name].to_numpy(),
        }
        parts.append(pd.DataFrame(cells))
    listed = pd.concat(parts or [pd.DataFrame(columns=RESCALED_COLUMNS)], ignore_index=True)
    return gdp, listed.astype(dict(zip(RESCALED_COLUMNS, RESCALED_TYPES, strict=True)))


def check_rescaled_cells(rescaled: pd.DataFrame, monthly: pd.DataFrame, path: Path | str) -> None:
    """The rescaled cells as written to ``path``: their columns, powers of ten above 1, and
    each cell's rescaled value being the one in the monthly table; else ``StageOutputError``.
    """
    checks.check_columns(rescaled, path, RESCALED_COLUMNS)
    checks.check_no_nan(rescaled, path, RESCALED_COLUMNS)
    factors = rescaled["factor"]
    if not (factors >= 10).all():
        raise StageOutputError(f"{path}: a factor below 10: {factors.min()}")
    if not np.allclose(np.log10(factors.astype(float)) % 1, 0):
        raise StageOutputError(f"{path}: a factor that is not a power of ten")
    clean = monthly.set_index(MONTH)
    for cell in rescaled.itertuples(index=False):
        name = cell.column.lower()
        if name not in clean.columns or cell.month not in clean.index:
            raise StageOutputError(f"{path}: {cell.column} {cell.month:%Y-%m} is not in the table")
        if clean.at[cell.month, name] != cell.rescaled:
            raise StageOutputError(
                f"{path}: {cell.column} {cell.month:%Y-%m} is {clean.at[cell.month, name]} "
                f"in the monthly table, not the rescaled {cell.rescaled}"
            )
