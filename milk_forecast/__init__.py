"""Milk price forecast: the notebook pipeline's logic and the prediction service.

Layers, one subpackage each: ``data`` (raw inputs, cleaning, features, the synthetic
sample), ``model`` (metrics, models, backtests, training), ``runner`` (the stages run
by papermill, run folders, lock, schedule, history, report) and ``service`` (what the
API serves). Names shared between them live in ``contracts``.
"""
