"""The pipeline as a Prefect flow (``python -m milk_forecast.flows``, or ``prefect deploy
--all`` with prefect.yaml): the runner's recipe with each step a Prefect task, so a flow run
and ``run_pipeline.py`` write the same run folders, skip the same runs and take the same
lock. Prefect is imported only by this package, which imports the runner (never the reverse).
"""
