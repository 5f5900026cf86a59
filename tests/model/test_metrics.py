from __future__ import annotations

import math

import pytest

from milk_forecast.model import metrics as mt

ACTUAL = [1.0, 2.0, 3.0, 4.0]
PREDICTED = [1.0, 2.0, 3.0, 8.0]  # errors 0, 0, 0, -4


def test_each_metric_by_hand_keyed_as_the_contract():
    values = mt.evaluate(ACTUAL, PREDICTED)
    assert list(values) == ["rmse_clp_per_l", "mae_clp_per_l", "mape_pct", "r2", "mse_clp2_per_l2"]
    assert values["mse_clp2_per_l2"] == pytest.approx(4.0)
    assert values["rmse_clp_per_l"] == pytest.approx(2.0)
    assert math.isclose(values["rmse_clp_per_l"], math.sqrt(values["mse_clp2_per_l2"]))
    assert values["mae_clp_per_l"] == pytest.approx(1.0)
    assert values["mape_pct"] == pytest.approx(25.0)  # 100 * mean(0, 0, 0, 4/4)
    # SST = 2.25 + 0.25 + 0.25 + 2.25 = 5, SSE = 16: R2 can be negative
    assert values["r2"] == pytest.approx(1 - 16 / 5)
    assert mt.evaluate(ACTUAL, ACTUAL)["r2"] == pytest.approx(1.0)


def test_coverage_counts_values_inside_closed_bounds():
    lower = [0.0, 2.5, 3.0, 5.0]
    upper = [2.0, 3.0, 3.0, 6.0]
    assert mt.coverage(ACTUAL, lower, upper) == pytest.approx(0.5)  # months 1 and 3 covered


@pytest.mark.parametrize(
    ("actual", "predicted", "message"),
    [
        ([1.0, 2.0], [1.0], "shape"),
        ([], [], "empty"),
        ([1.0, float("nan")], [1.0, 2.0], "actual has 1 non-finite"),
        ([0.0, 1.0], [1.0, 1.0], "MAPE is undefined: actual has a value of 0"),
        ([2.0, 2.0], [1.0, 2.0], "R2 is undefined: actual is constant"),
    ],
)
def test_bad_inputs_are_rejected(actual, predicted, message):
    with pytest.raises(mt.MetricsError, match=message):
        mt.evaluate(actual, predicted)
