from __future__ import annotations

import importlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pandas as pd
import pytest
from openapi_spec_validator import validate
from run_factory import build_predictions, make_run
from starlette.routing import Route
from starlette.testclient import TestClient

import app
from milk_forecast import contracts
from milk_forecast.runner import run_folder
from milk_forecast.service import serving
from milk_forecast.service.openapi import OPENAPI

ROOT = Path(__file__).resolve().parents[1]
RUN_A = "20261127T120301Z"
RUN_B = "20261128T080000Z"


APP = app.app


@pytest.fixture
def runs_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "runs"
    path.mkdir()
    monkeypatch.setenv("RUNS_DIR", str(path))
    monkeypatch.setenv("RELOAD_INTERVAL", "0")
    return path


@pytest.fixture
def empty_client(runs_dir: Path) -> Iterator[TestClient]:
    with TestClient(APP, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def client(runs_dir: Path) -> Iterator[TestClient]:
    make_run(runs_dir, RUN_A)
    with TestClient(APP, raise_server_exceptions=False) as client:
        yield client


# --- checking responses against the OpenAPI document -------------------------------------


def resolve(node: dict[str, Any]) -> dict[str, Any]:
    """Follow a local $ref of the document (responses, parameters)."""
    while "$ref" in node and node["$ref"].startswith("#/components/responses/"):
        node = OPENAPI["components"]["responses"][node["$ref"].rsplit("/", 1)[1]]
    return node


def assert_documented(response: httpx.Response, path: str | None) -> dict[str, Any]:
    """The JSON body, validated against the document's schema for this path and status."""
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    if path is None:  # unknown routes: the shared error shape
        schema: dict[str, Any] = {"$ref": "#/components/schemas/Error"}
    else:
        answers = OPENAPI["paths"][path]["get"]["responses"]
        answer = resolve(answers.get(str(response.status_code), answers["default"]))
        schema = answer["content"]["application/json"]["schema"]
    jsonschema.Draft202012Validator(
        {"allOf": [schema], "components": OPENAPI["components"]}
    ).validate(body)
    if response.status_code >= 400:
        assert body["error"]["status"] == response.status_code
    return body


def test_openapi_document_is_valid_openapi_3() -> None:
    validate(OPENAPI)


def test_openapi_endpoint_serves_the_document(empty_client: TestClient) -> None:
    response = empty_client.get("/openapi.json")
    assert response.status_code == 200
    assert response.json() == OPENAPI


def test_every_route_is_documented_and_every_documented_path_exists() -> None:
    routes = {route.path for route in APP.routes if isinstance(route, Route)}
    assert routes == set(OPENAPI["paths"])


def test_an_invalid_body_fails_the_schema_check(client: TestClient) -> None:
    response = client.get("/api/predict", params={"year": 2020, "month": 4})
    tampered = httpx.Response(200, json={**response.json(), "unit": "USD/L"})
    with pytest.raises(jsonschema.ValidationError):
        assert_documented(tampered, "/api/predict")


# --- endpoints -------------------------------------------------------------------------------


def test_health_is_200_even_without_a_run(empty_client: TestClient) -> None:
    assert assert_documented(empty_client.get("/health"), "/health") == {"status": "alive"}


def test_index_names_the_service_and_the_served_run(runs_dir: Path) -> None:
    make_run(runs_dir, RUN_A, synthetic=False)
    with TestClient(APP) as client:
        body = assert_documented(client.get("/"), "/")
    record = contracts.read_run_record(runs_dir / RUN_A)
    assert body["service"] == serving.SERVICE_NAME
    assert body["run"]["run_id"] == RUN_A
    assert body["run"]["finished_at"] == record["finished_at"]
    assert body["run"]["data_source"] == "real"
    assert body["run"]["headline"] == record["headline"]


def test_ready_names_the_served_run(client: TestClient) -> None:
    response = client.get("/ready")
    assert response.status_code == 200
    assert assert_documented(response, "/ready")["run_id"] == RUN_A


def test_predict_answers_the_row_of_that_month(client: TestClient, runs_dir: Path) -> None:
    frame = build_predictions()
    row = frame[frame["month"] == "2019-07-01"].iloc[0]
    response = client.get("/api/predict", params={"year": 2019, "month": 7})
    body = assert_documented(response, "/api/predict")
    assert response.status_code == 200
    assert (body["year"], body["month"], body["unit"], body["run_id"]) == (2019, 7, "CLP/L", RUN_A)
    assert body["prediction"] == pytest.approx(row["predicted_clp_per_l"])
    assert body["actual"] == pytest.approx(row["actual_clp_per_l"])
    assert body["kind"] == row["kind"] == "backtest"
    assert body["interval"]["80"] == {
        "lower": pytest.approx(row["lower_80_clp_per_l"]),
        "upper": pytest.approx(row["upper_80_clp_per_l"]),
    }
    assert body["model"] == row["model"]


def test_predict_path_form_equals_query_form(client: TestClient) -> None:
    by_path = client.get("/api/predict/2016/2")
    assert by_path.status_code == 200
    assert_documented(by_path, "/api/predict/{year}/{month}")
    assert by_path.json() == client.get("/api/predict?year=2016&month=2").json()
    assert by_path.json()["kind"] == "in_sample"
    assert by_path.json()["interval"] is None


def test_precomputed_query_forms_answer_what_the_full_parser_answers(client: TestClient) -> None:
    for month in pd.date_range("2015-01", "2020-05", freq="MS"):
        year, number = month.year, month.month
        fast = client.get(f"/api/predict?year={year}&month={number}").json()
        assert fast == client.get(f"/api/predict?month={number}&year={year}").json()
        assert fast == client.get(f"/api/predict?year={year}&month={number:02d}&x=1").json()
        assert fast == client.get(f"/api/predict/{year}/{number}").json()
        assert (fast["year"], fast["month"]) == (year, number)
    assert client.get("/api/predict?year=2020&month=6").status_code == 404


def test_forecast_answers_the_forecast_row_with_reason_and_interval(client: TestClient) -> None:
    body = assert_documented(client.get("/api/forecast"), "/api/forecast")
    metrics = json.loads(
        (Path(os.environ["RUNS_DIR"]) / RUN_A / contracts.METRICS_FILE).read_text()
    )
    assert body["kind"] == "forecast"
    assert f"{body['year']:04d}-{body['month']:02d}" == metrics["forecast"]["month"]
    assert body["prediction"] == pytest.approx(metrics["forecast"]["predicted_clp_per_l"])
    assert body["reason"] == metrics["forecast"]["reason"]
    assert body["interval"]["95"]["upper"] == pytest.approx(
        metrics["forecast"]["upper_95_clp_per_l"]
    )


def test_run_without_intervals_answers_null_interval(runs_dir: Path) -> None:
    make_run(runs_dir, RUN_A, predictions=build_predictions(intervals=False))
    with TestClient(APP) as client:
        body = assert_documented(client.get("/api/forecast"), "/api/forecast")
    assert body["interval"] is None


def test_run_without_forecast_row_answers_404_on_forecast(runs_dir: Path) -> None:
    make_run(runs_dir, RUN_A, predictions=build_predictions().iloc[:-1])
    with TestClient(APP) as client:
        response = client.get("/api/forecast")
    assert response.status_code == 404
    assert assert_documented(response, "/api/forecast")["error"]["code"] == "no_forecast"


def test_runs_list_and_detail(client: TestClient, runs_dir: Path) -> None:
    make_run(runs_dir, RUN_B, status=contracts.FAILED, publish=False)
    listing = assert_documented(client.get("/api/runs"), "/api/runs")
    assert [row["run_id"] for row in listing["runs"]] == [RUN_B, RUN_A]
    assert [row["served"] for row in listing["runs"]] == [False, True]
    assert listing["served_run_id"] == RUN_A
    detail = assert_documented(client.get(f"/api/runs/{RUN_B}"), "/api/runs/{run_id}")
    assert detail["run"]["status"] == contracts.FAILED
    assert detail["metrics"]["unit"] == "CLP/L"


def test_bench_route_is_off_by_default(client: TestClient) -> None:
    assert client.get("/bench/plain").status_code == 404


def test_bench_route_is_mounted_on_request(monkeypatch: pytest.MonkeyPatch, runs_dir: Path) -> None:
    monkeypatch.setenv("MILK_BENCH_PLAIN", "1")
    fresh = importlib.reload(app)  # the route table is built when app.py is imported
    try:
        with TestClient(fresh.app) as client:
            assert client.get("/bench/plain").json() == {"status": "ok"}
    finally:
        monkeypatch.delenv("MILK_BENCH_PLAIN")
        importlib.reload(app)


# --- errors ----------------------------------------------------------------------------------

BAD_QUERIES = [
    ("", "year"),
    ("year=2020", "month"),
    ("month=5", "year"),
    ("year=2020&month=abc", "month"),
    ("year=2020&month=13", "month"),
    ("year=2020&month=0", "month"),
    ("year=-1&month=1", "year"),
    ("year=1899&month=1", "year"),
    ("year=2201&month=1", "year"),
    ("year=99999999999999999999999999&month=1", "year"),
    ("year=2020&month=" + "9" * 5000, "month"),
    ("year=2020&month=1.0", "month"),
    ("year=2020&month=1e1", "month"),
    ("year=2020&month=0x1", "month"),
    ("year=2020&month=%2B1", "month"),
    ("year=2020&month=%201", "month"),
    ("year=2020&month=%00", "month"),
    ("year=2020&month=%FF", "month"),
    ("year=2020&month=%ZZ", "month"),
    ("year=%D9%A2%D9%A0%D9%A2%D9%A0&month=1", "year"),
    ("year=2020&month=", "month"),
    ("year=2020&month", "month"),
    ("year=2020&month=1&month=1", "month"),
    ("year=2020&year=2021&month=1", "year"),
    ("year[]=2020&month[]=1", "year"),
    ("&&&=&", "year"),
]


@pytest.mark.parametrize(("query", "parameter"), BAD_QUERIES)
def test_bad_query_is_422_naming_the_parameter(
    client: TestClient, query: str, parameter: str
) -> None:
    response = client.get(f"/api/predict?{query}")
    assert response.status_code == 422
    error = assert_documented(response, "/api/predict")["error"]
    assert error["code"] == "invalid_parameter"
    assert error["parameter"] == parameter
    assert error["allowed"].startswith("integer from")


@pytest.mark.parametrize(
    ("path", "parameter"),
    [("abc/1", "year"), ("2020/13", "month"), ("2020/-1", "month"), ("-5/1", "year")],
)
def test_bad_path_parameter_is_422(client: TestClient, path: str, parameter: str) -> None:
    response = client.get(f"/api/predict/{path}")
    assert response.status_code == 422
    error = assert_documented(response, "/api/predict/{year}/{month}")["error"]
    assert error["parameter"] == parameter


def test_month_outside_the_run_is_404_with_the_covered_range(client: TestClient) -> None:
    response = client.get("/api/predict", params={"year": 1999, "month": 1})
    assert response.status_code == 404
    error = assert_documented(response, "/api/predict")["error"]
    assert (error["first_month"], error["last_month"]) == ("2015-01", "2020-05")


def test_no_run_is_503_on_predict_and_ready_and_200_on_health(empty_client: TestClient) -> None:
    for path, template in [
        ("/ready", "/ready"),
        ("/api/predict?year=2020&month=1", "/api/predict"),
        ("/api/predict/2020/1", "/api/predict/{year}/{month}"),
        ("/api/forecast", "/api/forecast"),
    ]:
        response = empty_client.get(path)
        assert response.status_code == 503, path
        assert "python run_pipeline.py" in assert_documented(response, template)["error"]["message"]
    assert empty_client.get("/health").status_code == 200
    index = assert_documented(empty_client.get("/"), "/")
    assert index["run"] is None and "run_pipeline.py" in index["message"]
    assert assert_documented(empty_client.get("/api/runs"), "/api/runs")["runs"] == []


@pytest.mark.parametrize(
    "path",
    [
        "/api/runs/..",
        "/api/runs/%2e%2e",
        "/api/runs/..%2F..%2Fetc%2Fpasswd",
        "/api/runs/%2E%2E%5C%2E%2E",
        "/api/runs/%252e%252e%252f",
        f"/api/runs/{RUN_A}%2F..%2F..",
        f"/api/runs/{RUN_A}%00",
        f"/api/runs/{RUN_A}/../../x",
        "/api/runs/99991231T235959Z",
        "/api/runs/" + "x" * 3000,
    ],
)
def test_unknown_or_malicious_run_id_is_404(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    body = response.json()
    template = "/api/runs/{run_id}" if body["error"]["code"] == "unknown_run" else None
    assert_documented(response, template)
    assert "run" not in body


def test_unknown_route_and_wrong_method_are_json(client: TestClient) -> None:
    missing = client.get("/api/nothing")
    assert missing.status_code == 404
    assert assert_documented(missing, None)["error"]["code"] == "not_found"
    wrong = client.post("/api/predict?year=2020&month=1")
    assert wrong.status_code == 405
    assert assert_documented(wrong, "/api/predict")["error"]["code"] == "method_not_allowed"
    assert "GET" in wrong.headers["allow"]


@pytest.mark.parametrize(
    "headers",
    [
        {"accept": "text/html"},
        {"host": "évil..example:99999".encode()},
        {"content-type": "garbage/; ;="},
        {"x-long": "a" * 8000},
        {"cookie": "=;;=%%"},
    ],
)
def test_odd_headers_do_not_change_the_answer(client: TestClient, headers: dict) -> None:
    response = client.get("/api/predict/2020/1", headers=headers)
    assert response.status_code == 200
    assert_documented(response, "/api/predict/{year}/{month}")
    assert client.get("/api/nothing", headers=headers).status_code == 404
    assert client.get("/api/predict?month=x", headers=headers).status_code == 422


def test_an_unexpected_exception_is_a_json_500(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(*args: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(serving, "runs_payload", explode)
    response = client.get("/api/runs")
    assert response.status_code == 500
    error = assert_documented(response, "/api/runs")["error"]
    assert error["code"] == "internal_error"
    assert "boom" not in error["message"]


# --- reload ----------------------------------------------------------------------------------


def test_a_new_run_is_served_by_the_next_request(client: TestClient, runs_dir: Path) -> None:
    assert client.get("/ready").json()["run_id"] == RUN_A
    make_run(runs_dir, RUN_B, predictions=build_predictions(first="2016-01", forecast="2020-06"))
    assert client.get("/ready").json()["run_id"] == RUN_B
    assert client.get("/api/predict?year=2020&month=1").json()["run_id"] == RUN_B
    assert client.get("/api/forecast").json()["month"] == 6
    assert client.get("/api/predict/2015/6").status_code == 404


def test_requests_during_a_reload_are_answered_by_the_old_run(
    client: TestClient, runs_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entered, release = threading.Event(), threading.Event()
    real_load = serving.load_served_run

    def slow_load(*args: Any) -> serving.ServedRun:
        entered.set()
        release.wait(10)
        return real_load(*args)

    monkeypatch.setattr(serving, "load_served_run", slow_load)
    make_run(runs_dir, RUN_B)
    answers: list[str] = []
    loader = threading.Thread(target=lambda: answers.append(client.get("/ready").json()["run_id"]))
    loader.start()
    assert entered.wait(10)
    during = [client.get("/api/predict/2020/1") for _ in range(3)]
    release.set()
    loader.join(10)
    assert [r.status_code for r in during] == [200, 200, 200]
    assert {r.json()["run_id"] for r in during} == {RUN_A}
    assert answers == [RUN_B]


def test_a_broken_newest_run_leaves_the_old_one_serving_and_is_logged_once(
    client: TestClient, runs_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    broken = make_run(runs_dir, RUN_B, publish=False)
    (broken / contracts.PREDICTIONS_FILE).write_bytes(b"corrupt")
    run_folder.publish_latest(runs_dir, RUN_B)
    with caplog.at_level("ERROR", logger=serving.__name__):
        answers = [client.get("/api/predict/2020/1") for _ in range(5)]
    assert [r.status_code for r in answers] == [200] * 5
    assert {r.json()["run_id"] for r in answers} == {RUN_A}
    assert len([r for r in caplog.records if RUN_B in r.getMessage()]) == 1


# --- several workers -------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_two_uvicorn_workers_serve_the_newest_run(runs_dir: Path, tmp_path: Path) -> None:
    make_run(runs_dir, RUN_A)
    make_run(runs_dir, RUN_B)
    port = free_port()
    log = (tmp_path / "uvicorn.log").open("w+")
    command = [sys.executable, "-m", "uvicorn", "app:app", "--workers", "2"]
    server = subprocess.Popen(
        [*command, "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env={**os.environ, "RUNS_DIR": str(runs_dir)},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while log_text(log).count("Application startup complete") < 2:
            assert server.poll() is None and time.monotonic() < deadline, log_text(log)
            time.sleep(0.2)
        answers = [httpx.get(f"http://127.0.0.1:{port}/ready", timeout=5) for _ in range(20)]
    finally:
        server.terminate()
        server.wait(20)
        log.close()
    assert {(r.status_code, r.json()["run_id"]) for r in answers} == {(200, RUN_B)}


def log_text(log: Any) -> str:
    log.seek(0)
    return log.read()
