"""The pipeline as a Prefect flow: an optional layer for teams that run Prefect.

    pip install -r requirements.txt -r requirements-prefect.txt
    python -m milk_forecast.flows run --data-dir ../shared/data --runs-dir runs
    python -m milk_forecast.flows serve --cron "0 0 * * 0"
    prefect deploy --all          # prefect.yaml: the flow on a work pool

The flow (``milk_forecast.flows.pipeline_flow``) calls the runner's recipe
(``runner/recipe.py``) with each step as a Prefect task, so a flow run and
``run_pipeline.py`` write the same run folders, share the fingerprint skip, publish
``LATEST`` the same way and take the same lock. Prefect is imported only by the modules
of this package, which import the runner (never the reverse).
"""
