"""The prediction service app.py assembles. It reads runs/ only through
milk_forecast.run_folder and imports no pandas, numpy, pyarrow, scikit-learn or joblib."""
