"""Evaluate the prototype's recipe on both tables, next to the baselines and our model.

The prototype (scale -> SelectKBest(mutual information) -> polynomial -> ridge, 630-point
grid search) is too slow to refit 24 times in every run, so its walk-forward evaluation
lives here. Usage, from the project root::

    .venv/bin/python benchmarks/evaluate_prototype.py [--data-dir ../shared/data]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd
from sklearn.model_selection import KFold

from milk_forecast.data.cleaning import clean_inputs
from milk_forecast.data.columns import PRICE_COLUMN
from milk_forecast.data.features import (
    add_shuffled_split,
    build_features,
    feature_columns,
    usable_rows,
)
from milk_forecast.data.raw import read_raw_inputs
from milk_forecast.data.series import price_rain_series
from milk_forecast.model import metrics as mt
from milk_forecast.model.params import TrainParams
from milk_forecast.model.prototype import PROTOTYPE, prototype_search, prototype_shuffled
from milk_forecast.model.training import train
from milk_forecast.run_folder.layout import MONTH
from milk_forecast.run_folder.metrics import MSE, SHUFFLED, WALK_FORWARD

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=PROJECT_ROOT.parent / "shared" / "data")
    parser.add_argument(
        "--random-state", type=int, default=42, help="mutual information and CV seed"
    )
    return parser.parse_args()


def prototype_walk_forward(
    features: pd.DataFrame, months: pd.DatetimeIndex, random_state: int
) -> pd.Series:
    """Refit the whole grid search on the usable months before each month, forecast it."""
    columns = feature_columns(features)
    by_month = features.set_index(MONTH)
    forecasts = {}
    for month in months:
        history = features[features[MONTH] < month]
        search = prototype_search(random_state, KFold(3, shuffle=True, random_state=random_state))
        search.fit(history[columns].to_numpy(), history[PRICE_COLUMN].to_numpy())
        # the features of `month` are built from earlier months only (03_preprocess)
        forecasts[month] = float(search.predict(by_month.loc[[month], columns].to_numpy())[0])
    return pd.Series(forecasts)


def main() -> None:
    args = parse_args()
    started = time.perf_counter()
    monthly = clean_inputs(read_raw_inputs(args.data_dir)).monthly
    features = add_shuffled_split(usable_rows(build_features(monthly)))
    timings = {"clean + features": time.perf_counter() - started}

    started = time.perf_counter()
    params = TrainParams(mutual_info_random_state=args.random_state)
    result = train(price_rain_series(monthly), features, params)
    timings["train stage (ours, baselines)"] = time.perf_counter() - started

    price = monthly.set_index(MONTH)[PRICE_COLUMN]
    print("prototype: one grid search on the shuffled split ...", flush=True)
    started = time.perf_counter()
    shuffled = prototype_shuffled(features, args.random_state)
    timings["prototype, shuffled split (1 grid search)"] = time.perf_counter() - started

    backtest_months = pd.DatetimeIndex(result.metrics["evaluations"][WALK_FORWARD]["months"])
    print(f"prototype: {len(backtest_months)} grid searches for the walk-forward ...", flush=True)
    started = time.perf_counter()
    walk = prototype_walk_forward(features, backtest_months, args.random_state)
    timings[f"prototype, walk-forward ({len(backtest_months)} grid searches)"] = (
        time.perf_counter() - started
    )

    extra = {
        SHUFFLED: mt.evaluate(price.reindex(shuffled.index), shuffled),
        WALK_FORWARD: mt.evaluate(price.reindex(backtest_months), walk),
    }
    rows = [r for _, r in result.comparison.iterrows()]
    rows += [pd.Series({"evaluation": e, "model": PROTOTYPE, **v}) for e, v in extra.items()]
    table = (
        pd.DataFrame(rows).sort_values(["evaluation", "model"]).set_index(["evaluation", "model"])
    )
    with pd.option_context("display.width", 160, "display.max_columns", 10):
        print(f"data: {args.data_dir}\n")
        print(table.drop(columns=MSE).round(3).to_string())
        print("\ntimings (s):")
        for name, seconds in timings.items():
            print(f"  {name:<45} {seconds:8.2f}")


if __name__ == "__main__":
    main()
