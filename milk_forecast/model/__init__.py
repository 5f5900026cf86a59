"""Model layer: metrics, the models and baselines, walk-forward backtests, the train stage."""
