"""The knobs of the train stage (04_train's ``parameters`` cell); standard library only."""

from __future__ import annotations

from dataclasses import dataclass

from milk_forecast import parameters as rules
from milk_forecast.parameters import Parameters, parameter
from milk_forecast.run_folder.predictions import level_label

MONTH_OR_NONE = rules.none_or(rules.MONTH_TEXT)
# Each interval level is two columns of every prediction row and a band of every chart.
MAX_INTERVAL_LEVELS = 20
INTERVAL_LEVELS = rules.sequence_of(
    rules.number(0, 1), MAX_INTERVAL_LEVELS, level_label, " (as percents to 10 digits)"
)


@dataclass(frozen=True)
class TrainParams(Parameters):
    """Months are written ``YYYY-MM``; lists may be given as lists or tuples.

    Windows left ``None`` follow the data: the backtest is the last 24 observed months,
    the first selection window the 24 months before it.
    """

    history_start: str = parameter("1990-01", rules.MONTH_TEXT)
    selection_start: str | None = parameter(None, MONTH_OR_NONE)
    selection_end: str | None = parameter(None, MONTH_OR_NONE)
    backtest_start: str | None = parameter(None, MONTH_OR_NONE)
    backtest_end: str | None = parameter(None, MONTH_OR_NONE)
    ridge_alpha: float = parameter(1.0, rules.number(0))
    half_lives_years: tuple[float | None, ...] = parameter(
        (2.0, 3.0, 4.0, 6.0, 10.0, None), rules.sequence_of(rules.none_or(rules.number(0)))
    )
    input_sets: tuple[tuple[str, ...], ...] = parameter(
        (("price",), ("rain",), ("price", "rain")),
        rules.sequence_of(rules.sequence_of(rules.one_of("price", "rain"))),
    )
    interval_levels: tuple[float, ...] = parameter((0.8, 0.95), INTERVAL_LEVELS)
    interval_window: int = parameter(36, rules.integer(2, 240))
    calibration_months: int = parameter(75, rules.integer(1, 600))
    combination_window: int = parameter(60, rules.integer(2, 240))
    combination_power: float = parameter(2.0, rules.number(0))
    fit_prototype: bool = parameter(False, rules.BOOLEAN)
    mutual_info_random_state: int = parameter(42, rules.integer(0, 2**32 - 1))
