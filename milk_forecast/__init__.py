"""Milk price forecast: the notebook pipeline's logic and the prediction service.

Layers, one subpackage each, each importing only those before it: ``run_folder`` (the
format of runs/, standard library only), ``data`` (raw inputs, cleaning, features, the
synthetic sample), ``model`` (candidates, backtests, training), ``runner`` (the stages run
by papermill), ``flows`` (the Prefect flow) and ``service`` (what the API serves, reading
runs/ through ``run_folder`` only).
"""
