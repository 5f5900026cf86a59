"""Declared parameters: each value is checked against its rule, with a message naming both."""

from __future__ import annotations

import pytest

from milk_forecast.data.params import PreprocessParams
from milk_forecast.model.params import TrainParams
from milk_forecast.parameters import ParameterError


def test_defaults_pass_their_rules_and_lists_become_tuples() -> None:
    params = TrainParams.from_values({"input_sets": [["price"], ["price", "rain"]]})
    assert params.input_sets == (("price",), ("price", "rain"))
    assert TrainParams().ridge_alpha == 1.0
    assert PreprocessParams().test_fraction == 0.2


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"ridge_alpha": -1.0}, "'ridge_alpha': -1.0 is not a finite number in (0, inf)"),
        ({"ridge_alpha": float("inf")}, "'ridge_alpha': inf"),
        ({"half_lives_years": [0.0]}, "'half_lives_years': (0.0,)"),
        ({"half_lives_years": []}, "at least 1"),
        ({"interval_levels": [0.8, 1.5]}, "'interval_levels'"),
        ({"interval_levels": [0.8, 0.8]}, "distinct"),
        ({"input_sets": [["wind"]]}, "one of 'price', 'rain'"),
        ({"history_start": "1990-13"}, "a month written YYYY-MM"),
        ({"fit_prototype": 1}, "true or false"),
        ({"mutual_info_random_state": -3}, "an integer in [0,"),
    ],
)
def test_a_value_breaking_its_rule_names_parameter_value_and_rule(
    values: dict[str, object], named: str
) -> None:
    with pytest.raises(ParameterError) as info:
        TrainParams.from_values(values)
    assert named in str(info.value)


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.2])
def test_the_test_fraction_is_strictly_between_0_and_1(fraction: float) -> None:
    with pytest.raises(ParameterError, match="'test_fraction'"):
        PreprocessParams(test_fraction=fraction)


def test_from_values_ignores_names_that_are_not_parameters() -> None:
    assert TrainParams.from_values({"run_dir": "x", "ridge_alpha": 2.0}).ridge_alpha == 2.0
