"""The knobs of the preprocess stage (03_preprocess's ``parameters`` cell); standard library only."""

from __future__ import annotations

from dataclasses import dataclass

from milk_forecast.parameters import Parameters, integer, number, parameter


@dataclass(frozen=True)
class PreprocessParams(Parameters):
    test_fraction: float = parameter(0.2, number(0, 1))
    split_random_state: int = parameter(42, integer(0, 2**32 - 1))
