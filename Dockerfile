# One image for the services of compose.yaml: the scheduled pipeline and the API (and,
# built with WITH_PREFECT=1, the Prefect server and worker of its prefect profile).
# Build: docker compose build   (or: docker build -t milk-forecast .)
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MPLBACKEND=Agg

WORKDIR /app

# Dependencies first, so a code change does not reinstall them. requirements.txt
# also installs this package editable (-e .), which needs pyproject.toml and the package.
COPY requirements.txt pyproject.toml ./
COPY milk_forecast/ milk_forecast/
RUN pip install -r requirements.txt
# The Prefect server and worker of compose.yaml's prefect profile build with WITH_PREFECT=1.
ARG WITH_PREFECT=0
COPY requirements-prefect.txt ./
RUN if [ "$WITH_PREFECT" = "1" ]; then pip install -r requirements-prefect.txt; fi

COPY . .

EXPOSE 8000
# The API by default; compose.yaml gives the pipeline service its own command.
# Flags: see README "The served HTTP surface" (the same in compose.yaml and the Makefile).
CMD ["uvicorn", "app:app", "--host", "0.0.0.0", "--port", "8000", \
     "--http", "httptools", "--timeout-keep-alive", "5", \
     "--limit-concurrency", "200", "--ws", "none", "--no-access-log"]
