"""The prediction service that app.py assembles: it reads the runs folder only through
milk_forecast.run_folder, and imports no pandas, numpy, pyarrow, scikit-learn or joblib.

``endpoints`` (the routes' functions, the lifespan, pacing) over ``state`` (the served run,
the run history and the page, refreshed at most once per interval); ``served_run`` (one
run's answers, encoded once), ``history`` (/api/runs), ``page`` (templates/page.html,
static/page.css), ``metrics`` (/metrics), ``accept`` (the page or JSON at /), ``answers``
(JSON encoding and the one error shape); ``openapi.yaml`` (served at /openapi.json).
"""
