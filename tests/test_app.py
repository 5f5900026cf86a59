from __future__ import annotations

import ast
import json
import os
import re
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
import pytest
from prometheus_client.parser import text_string_to_metric_families
from run_factory import (
    REPORT_HTML,
    add_page_files,
    build_rows,
    make_history,
    make_run,
    make_unservable,
    month_range,
    publish_latest,
    write_publications,
)
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

import app
from milk_forecast.run_folder.layout import (
    LATEST,
    METRICS_FILE,
    PREDICTIONS_JSON,
    PUBLICATIONS_FILE,
    REPORT_FILE,
    RUN_JSON,
)
from milk_forecast.run_folder.metrics import read_metrics
from milk_forecast.run_folder.predictions import FORECAST_HORIZON
from milk_forecast.run_folder.record import FAILED, read_run_record
from milk_forecast.run_folder.servable import Servable
from milk_forecast.service import history, page, state
from milk_forecast.service.answers import SERVICE_NAME
from milk_forecast.service.endpoints import OPENAPI

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
    monkeypatch.setenv("HISTORY_RATE", "0")
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


def test_openapi_endpoint_serves_the_document(empty_client: TestClient) -> None:
    response = empty_client.get("/openapi.json")
    assert response.status_code == 200
    assert response.json() == OPENAPI


def test_every_route_is_documented_and_every_documented_path_exists() -> None:
    routes = {route.path for route in APP.routes if isinstance(route, Route)}
    routes |= {route.path + "/{path}" for route in APP.routes if isinstance(route, Mount)}
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
    record = read_run_record(runs_dir / RUN_A)
    assert body["service"] == SERVICE_NAME
    assert body["run"]["run_id"] == RUN_A
    assert body["run"]["finished_at"] == record["finished_at"]
    assert body["run"]["data_source"] == "real"
    assert body["run"]["headline"] == record["headline"]


def test_ready_names_the_served_run(client: TestClient) -> None:
    response = client.get("/ready")
    assert response.status_code == 200
    assert assert_documented(response, "/ready")["run_id"] == RUN_A


def row_of(month: str) -> dict[str, Any]:
    return next(row for row in build_rows() if row["month"] == month)


def test_predict_answers_the_row_of_that_month_rounded_to_cents(client: TestClient) -> None:
    row = row_of("2019-07")
    response = client.get("/api/predict", params={"year": 2019, "month": 7})
    body = assert_documented(response, "/api/predict")
    assert response.status_code == 200
    assert (body["year"], body["month"], body["unit"], body["run_id"]) == (2019, 7, "CLP/L", RUN_A)
    assert body["prediction"] == round(row["predicted_clp_per_l"], 2) != row["predicted_clp_per_l"]
    assert body["actual"] == round(row["actual_clp_per_l"], 2)
    assert body["kind"] == row["kind"] == "backtest"
    assert (body["horizon"], body["reason"]) == (None, None)
    assert body["interval"]["80"] == {
        "lower": round(row["lower_80_clp_per_l"], 2),
        "upper": round(row["upper_80_clp_per_l"], 2),
    }
    assert body["model"] == row["model"]


def test_predict_answers_every_month_of_the_forecast_path(client: TestClient) -> None:
    path = [row for row in build_rows() if row["kind"] == "forecast"]
    assert len(path) == FORECAST_HORIZON
    for row in path:
        year, month = int(row["month"][:4]), int(row["month"][5:])
        by_query = client.get(f"/api/predict?year={year}&month={month}")
        body = assert_documented(by_query, "/api/predict")
        assert (body["kind"], body["horizon"], body["actual"]) == ("forecast", row["horizon"], None)
        assert body["prediction"] == round(row["predicted_clp_per_l"], 2)
        assert body["reason"] == row["reason"]
        assert client.get(f"/api/predict/{year}/{month}").json() == body
    after = client.get("/api/predict?year=2021&month=5")
    error = assert_documented(after, "/api/predict")["error"]
    assert after.status_code == 404 and error["last_month"] == path[-1]["month"] == "2021-04"
    assert "2021-04" in error["message"]


def test_forecast_answers_the_whole_path_first_month_first(client: TestClient) -> None:
    body = assert_documented(client.get("/api/forecast"), "/api/forecast")
    path = [row for row in build_rows() if row["kind"] == "forecast"]
    assert body["interval_levels"] == ["80", "95"]
    assert [item["horizon"] for item in body["path"]] == list(range(1, 13))
    assert [f"{item['year']}-{item['month']:02d}" for item in body["path"]] == [
        row["month"] for row in path
    ]
    for item, row in zip(body["path"], path, strict=True):
        assert item["interval"]["95"]["upper"] == round(row["upper_95_clp_per_l"], 2)
        assert (item["model"], item["reason"]) == (row["model"], row["reason"])
    widths = [
        item["interval"]["80"]["upper"] - item["interval"]["80"]["lower"] for item in body["path"]
    ]
    assert widths == sorted(widths)


@pytest.mark.parametrize("horizon", [1, 3, 12])
def test_forecast_horizon_answers_that_month_of_the_path(client: TestClient, horizon: int) -> None:
    response = client.get(f"/api/forecast?horizon={horizon}")
    body = assert_documented(response, "/api/forecast")
    assert body == client.get("/api/forecast").json()["path"][horizon - 1]
    assert body == client.get(f"/api/forecast?horizon={horizon:02d}&x=1").json()


@pytest.mark.parametrize(
    "query", ["horizon=0", "horizon=13", "horizon=x", "horizon=1&horizon=2", "horizon="]
)
def test_forecast_bad_horizon_is_422_naming_the_allowed_range(
    client: TestClient, query: str
) -> None:
    response = client.get(f"/api/forecast?{query}")
    assert response.status_code == 422
    error = assert_documented(response, "/api/forecast")["error"]
    assert (error["parameter"], error["allowed"]) == ("horizon", "integer from 1 to 12")


def test_forecast_horizon_past_a_short_path_is_404_with_the_months_covered(runs_dir: Path) -> None:
    make_run(runs_dir, RUN_A, rows=build_rows(horizons=3))
    with TestClient(APP) as client:
        assert client.get("/api/forecast?horizon=3").status_code == 200
        response = client.get("/api/forecast?horizon=4")
    error = assert_documented(response, "/api/forecast")["error"]
    assert (response.status_code, error["code"]) == (404, "horizon_not_covered")
    assert (error["first_month"], error["last_month"]) == ("2020-05", "2020-07")
    assert "2020-05 to 2020-07" in error["message"]


def test_other_interval_levels_are_served(runs_dir: Path) -> None:
    make_run(runs_dir, RUN_A, rows=build_rows(levels=(0.5, 0.9)), levels=(0.5, 0.9))
    with TestClient(APP) as client:
        path = assert_documented(client.get("/api/forecast"), "/api/forecast")
        month = assert_documented(client.get("/api/predict/2019/1"), "/api/predict/{year}/{month}")
    assert path["interval_levels"] == ["50", "90"]
    assert set(path["path"][0]["interval"]) == set(month["interval"]) == {"50", "90"}


@pytest.mark.parametrize(
    "url",
    [
        "/api/predict/2020/4?year=1999&month=1",
        "/api/predict/2020/13?year=1999&month=1",
        "/api/predict/2020/4?month=1",
        "/api/predict/2020/4?year=2020",
    ],
)
def test_path_and_query_together_is_422_never_one_of_them(client: TestClient, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 422
    error = assert_documented(response, "/api/predict/{year}/{month}")["error"]
    assert "both in the path and in the query string" in error["message"]


def test_path_form_ignores_unrelated_query_parameters(client: TestClient) -> None:
    assert client.get("/api/predict/2020/4?x=1").json() == client.get("/api/predict/2020/4").json()


def test_predict_path_form_equals_query_form(client: TestClient) -> None:
    by_path = client.get("/api/predict/2016/2")
    assert by_path.status_code == 200
    assert_documented(by_path, "/api/predict/{year}/{month}")
    assert by_path.json() == client.get("/api/predict?year=2016&month=2").json()
    assert by_path.json()["kind"] == "in_sample"
    assert by_path.json()["interval"] is None


def test_precomputed_query_forms_answer_what_the_full_parser_answers(client: TestClient) -> None:
    for label in month_range("2015-01", 76):
        year, number = int(label[:4]), int(label[5:])
        fast = client.get(f"/api/predict?year={year}&month={number}").json()
        assert fast == client.get(f"/api/predict?month={number}&year={year}").json()
        assert fast == client.get(f"/api/predict?year={year}&month={number:02d}&x=1").json()
        assert fast == client.get(f"/api/predict/{year}/{number}").json()
        assert (fast["year"], fast["month"]) == (year, number)
    assert client.get("/api/predict?year=2021&month=5").status_code == 404


def test_run_without_intervals_answers_null_interval(runs_dir: Path) -> None:
    make_run(runs_dir, RUN_A, rows=build_rows(levels=()), levels=())
    with TestClient(APP) as client:
        body = assert_documented(client.get("/api/forecast?horizon=1"), "/api/forecast")
        path = assert_documented(client.get("/api/forecast"), "/api/forecast")
    assert body["interval"] is None and path["interval_levels"] == []


def test_a_run_without_forecast_rows_answers_404_for_its_path(runs_dir: Path) -> None:
    make_run(runs_dir, RUN_A, rows=build_rows(horizons=0))
    with TestClient(APP) as client:
        response = client.get("/api/forecast")
        month = client.get("/api/predict/2020/4")
    error = assert_documented(response, "/api/forecast")["error"]
    assert (response.status_code, error["code"]) == (404, "no_forecast")
    assert month.status_code == 200


def test_runs_list_and_detail(client: TestClient, runs_dir: Path) -> None:
    make_run(runs_dir, RUN_B, status=FAILED, publish=False)
    listing = assert_documented(client.get("/api/runs"), "/api/runs")
    assert [row["run_id"] for row in listing["runs"]] == [RUN_B, RUN_A]
    assert [row["served"] for row in listing["runs"]] == [False, True]
    assert listing["served_run_id"] == RUN_A
    detail = assert_documented(client.get(f"/api/runs/{RUN_B}"), "/api/runs/{run_id}")
    assert detail["run"]["status"] == FAILED
    assert detail["metrics"]["unit"] == "CLP/L"
    metrics = json.loads((runs_dir / RUN_A / METRICS_FILE).read_text())
    metrics["headline"]["rmse_clp_per_l"] = 6.733294876750234
    (runs_dir / RUN_A / METRICS_FILE).write_text(json.dumps(metrics))
    served = client.get(f"/api/runs/{RUN_A}").json()["metrics"]["headline"]
    assert served["rmse_clp_per_l"] == 6.73  # prices and errors in CLP/L as the API serves them


def test_no_bench_route_in_the_served_app(client: TestClient) -> None:
    assert client.get("/bench/plain").status_code == 404


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
    assert (error["first_month"], error["last_month"]) == ("2015-01", "2021-04")


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

    monkeypatch.setattr(history.RunIndex, "list_body", explode)
    response = client.get("/api/runs")
    assert response.status_code == 500
    error = assert_documented(response, "/api/runs")["error"]
    assert error["code"] == "internal_error"
    assert "boom" not in error["message"]


# --- reload ----------------------------------------------------------------------------------


def test_a_new_run_is_served_by_the_next_request(client: TestClient, runs_dir: Path) -> None:
    assert client.get("/ready").json()["run_id"] == RUN_A
    make_run(runs_dir, RUN_B, rows=build_rows(first="2016-01", last_observed="2020-05"))
    assert client.get("/ready").json()["run_id"] == RUN_B
    assert client.get("/api/predict?year=2020&month=1").json()["run_id"] == RUN_B
    assert client.get("/api/forecast?horizon=1").json()["month"] == 6
    assert client.get("/api/predict/2015/6").status_code == 404


def test_requests_during_a_reload_are_answered_by_the_old_run(
    client: TestClient, runs_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entered, release = threading.Event(), threading.Event()
    real_load = state.load_servable

    def slow_load(*args: Any) -> Servable:
        entered.set()
        release.wait(10)
        return real_load(*args)

    monkeypatch.setattr(state, "load_servable", slow_load)
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
    (broken / PREDICTIONS_JSON).write_bytes(b"corrupt")
    publish_latest(runs_dir, RUN_B)
    with caplog.at_level("ERROR", logger="milk_forecast.service.state"):
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


# --- hardening: nothing in runs/ or a request takes the service over -----------------------

HEAVY_MODULES = ("pandas", "numpy", "pyarrow", "sklearn", "joblib", "scipy", "matplotlib")


def test_the_app_imports_nothing_heavy_and_never_unpickles(runs_dir: Path) -> None:
    make_run(runs_dir, RUN_A)
    script = (
        "import sys, app\n"
        "from starlette.testclient import TestClient\n"
        "with TestClient(app.app) as client:\n"
        "    assert client.get('/api/predict/2020/5').status_code == 200\n"
        "    for path in ('/dashboard', '/metrics', '/api/runs'):\n"
        "        assert client.get(path).status_code == 200, path\n"
        f"print(sorted(m for m in {HEAVY_MODULES!r} if m in sys.modules))\n"
    )
    env = {**os.environ, "RUNS_DIR": str(runs_dir)}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_the_service_imports_only_public_modules_of_its_dependencies() -> None:
    """No private module (a part starting with ``_``) and nothing of uvicorn's internals:
    the service runs on uvicorn as documented, by command line only."""
    sources = [ROOT / "app.py", *(ROOT / "milk_forecast" / "service").glob("*.py")]
    imported = set()
    for source in sources:
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imported |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                imported |= {node.module or ""} | {f"{node.module}.{a.name}" for a in node.names}
    assert "starlette.routing" in imported  # the walk sees the imports
    private = [name for name in imported if any(p.startswith("_") for p in name.split("."))]
    assert not [name for name in private if not name.startswith("__future__")]
    assert not [name for name in imported if name.split(".")[0] in ("uvicorn", "h11", "httptools")]


def test_the_summary_names_no_model_class(client: TestClient) -> None:
    run = assert_documented(client.get("/"), "/")["run"]
    assert "model_class" not in run
    assert (run["forecast_first_month"], run["forecast_last_month"]) == ("2020-05", "2021-04")


@pytest.mark.parametrize("path", ["/api/runs/", "/api/predict/", "/health/", "/api/forecast/"])
def test_a_trailing_slash_is_a_json_404_never_a_redirect_to_the_clients_host(
    client: TestClient, path: str
) -> None:
    response = client.get(path, headers={"host": "evil.example"}, follow_redirects=False)
    assert response.status_code == 404
    assert "location" not in response.headers
    assert "evil.example" not in response.text
    assert_documented(response, None)


def no_run_answers(runs_dir: Path) -> tuple[httpx.Response, httpx.Response]:
    with TestClient(APP) as client:
        return client.get("/api/predict/2020/1"), client.get("/")


def test_latest_symlink_to_another_file_is_refused_without_quoting_it(
    runs_dir: Path, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("20261127T120301Z\nTOP-SECRET-CONTENT\n")
    (runs_dir / LATEST).symlink_to(secret)
    predict, index = no_run_answers(runs_dir)
    message = assert_documented(predict, "/api/predict/{year}/{month}")["error"]["message"]
    assert predict.status_code == 503
    assert "symlink" in message
    for text in (predict.text, index.text):
        assert "TOP-SECRET" not in text and str(secret) not in text


def test_a_30_mb_latest_does_not_make_answers_big(runs_dir: Path) -> None:
    (runs_dir / LATEST).write_bytes(b"x" * (30 * 1024 * 1024))
    predict, index = no_run_answers(runs_dir)
    assert predict.status_code == 503 and index.status_code == 200
    assert len(predict.content) < 2000 and len(index.content) < 2000
    assert "bytes, more than the 64 allowed" in predict.json()["error"]["message"]


@pytest.mark.parametrize(
    ("make_latest", "reason"),
    [
        (lambda path: os.mkfifo(path), "is a FIFO"),
        (lambda path: path.mkdir(), "is a directory"),
        (lambda path: path.write_bytes(b"\xff\xfe20261127T120301Z"), "not UTF-8"),
        (lambda path: path.write_text("../../etc/passwd"), "not a run id"),
    ],
)
def test_a_broken_latest_at_start_up_still_starts_and_answers_503(
    runs_dir: Path, make_latest: Any, reason: str
) -> None:
    make_run(runs_dir, RUN_A, publish=False)
    make_latest(runs_dir / LATEST)
    predict, index = no_run_answers(runs_dir)
    assert predict.status_code == 503
    assert reason in predict.json()["error"]["message"]
    assert index.json()["run"] is None


def test_a_refused_run_is_served_once_repaired_and_published_again(
    client: TestClient, runs_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    client.get("/api/runs")  # waits for the start-up refresh: the next look is not lost
    broken = make_run(runs_dir, RUN_B, publish=False)
    document = (broken / PREDICTIONS_JSON).read_text()
    (broken / PREDICTIONS_JSON).write_text(document.replace('"kind"', '"knid"', 1))
    with caplog.at_level("ERROR", logger="milk_forecast.service.state"):
        publish_latest(runs_dir, RUN_B)
        assert client.get("/ready").json()["run_id"] == RUN_A
        (broken / PREDICTIONS_JSON).write_text(document)
        assert client.get("/ready").json()["run_id"] == RUN_A  # repaired, not yet published
        publish_latest(runs_dir, RUN_B)
        assert client.get("/ready").json()["run_id"] == RUN_B
    refusals = [r.getMessage() for r in caplog.records if RUN_B in r.getMessage()]
    assert len(refusals) == 1 and "predictions.json" in refusals[0]


CORRUPT_RECORDS = {
    "deep": lambda record: {**record, "parameters": json.loads("[" * 200 + "]" * 200)},
    "huge_pid": lambda record: {**record, "status": "running", "pid": 10**30},
    "list_headline": lambda record: {**record, "headline": [1, 2], "error": ["x"]},
    "list": lambda record: [record],
    "text_times": lambda record: {**record, "started_at": 5, "finished_at": {"a": 1}},
}


@pytest.mark.parametrize("name", list(CORRUPT_RECORDS))
def test_a_corrupt_run_json_in_the_history_never_makes_runs_500(
    client: TestClient, runs_dir: Path, name: str
) -> None:
    run_dir = make_run(runs_dir, RUN_B, publish=False)
    record = json.loads((run_dir / RUN_JSON).read_text())
    (run_dir / RUN_JSON).write_text(json.dumps(CORRUPT_RECORDS[name](record)))
    listing = client.get("/api/runs")
    rows = {row["run_id"]: row for row in assert_documented(listing, "/api/runs")["runs"]}
    assert set(rows) == {RUN_A, RUN_B} and rows[RUN_A]["served"]
    detail = client.get(f"/api/runs/{RUN_B}")
    assert detail.status_code == 200
    assert_documented(detail, "/api/runs/{run_id}")


def test_a_deep_or_huge_run_json_is_reported_not_echoed(client: TestClient, runs_dir: Path) -> None:
    run_dir = make_run(runs_dir, RUN_B, publish=False)
    (run_dir / RUN_JSON).write_text('{"status": "failed", "x": ' + "[" * 100 + "]" * 100 + "}")
    row = client.get("/api/runs").json()["runs"][0]
    assert row["status"] == "incomplete" and "deeper than" in row["error"]["message"]
    (run_dir / RUN_JSON).write_bytes(b'{"status": "failed", "x": "' + b"a" * 400_000 + b'"}')
    detail = client.get(f"/api/runs/{RUN_B}").json()
    assert detail["run"] is None and "more than the" in detail["error"]
    assert len(client.get("/api/runs").content) < 5000


def test_runs_is_answered_from_an_index_scanned_at_most_once_per_interval(
    runs_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RELOAD_INTERVAL", "3600")
    make_history(runs_dir, 500)
    make_run(runs_dir, RUN_A)
    scans: list[int] = []
    real_scan = history.RunIndex.scan
    monkeypatch.setattr(history.RunIndex, "scan", lambda self: scans.append(1) or real_scan(self))
    with TestClient(APP) as client:
        answers: list[int] = []

        def hammer(path: str) -> None:
            answers.extend(client.get(path).status_code for _ in range(20))

        threads = [threading.Thread(target=hammer, args=(p,)) for p in ["/api/runs"] * 4]
        threads += [
            threading.Thread(target=hammer, args=("/api/predict/2020/1",)) for _ in range(4)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        listing = client.get("/api/runs").json()
    assert answers == [200] * 160
    assert len(scans) == 1
    assert len(listing["runs"]) == 501 and listing["served_run_id"] == RUN_A


def test_the_index_is_refreshed_with_the_served_run(
    runs_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RELOAD_INTERVAL", "0")
    make_run(runs_dir, RUN_A)
    with TestClient(APP) as client:
        assert [r["run_id"] for r in client.get("/api/runs").json()["runs"]] == [RUN_A]
        make_run(runs_dir, RUN_B)
        listing = client.get("/api/runs").json()
    assert listing["served_run_id"] == RUN_B
    assert [(r["run_id"], r["served"]) for r in listing["runs"]] == [(RUN_B, True), (RUN_A, False)]


def test_a_burst_on_the_history_is_paced_then_refused_with_a_json_429(
    runs_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HISTORY_RATE", "1")
    make_run(runs_dir, RUN_A)
    with TestClient(APP) as client:
        answers: list[httpx.Response] = []
        threads = [
            threading.Thread(target=lambda: answers.append(client.get("/api/runs")))
            for _ in range(5)
        ]
        for thread in threads:
            thread.start()
        predict = client.get("/api/predict/2020/5")  # the hot path is not paced
        for thread in threads:
            thread.join(30)
    assert predict.status_code == 200
    statuses = sorted(r.status_code for r in answers)
    assert statuses == [200, 200, 200, 429, 429]
    refused = next(r for r in answers if r.status_code == 429)
    assert assert_documented(refused, "/api/runs")["error"]["code"] == "too_many_requests"


@pytest.mark.parametrize("variable", ["RELOAD_INTERVAL", "HISTORY_RATE"])
@pytest.mark.parametrize("value", ["x", "-1", "inf", "nan"])
def test_a_bad_setting_names_the_variable(
    runs_dir: Path, monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValueError, match=variable), TestClient(APP):
        pass


# --- the page, the reports, /metrics ----------------------------------------------------------

BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@pytest.fixture
def page_client(runs_dir: Path) -> Iterator[TestClient]:
    add_page_files(make_run(runs_dir, RUN_A))
    with TestClient(APP, raise_server_exceptions=False) as client:
        yield client


def assert_page(response: httpx.Response) -> str:
    """The HTML text of a page answer, once its type and security headers are checked."""
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "img-src data:" in policy
    assert "style-src 'self'" in policy and "unsafe-inline" not in policy
    assert "script-src" not in policy  # no script may run: default-src 'none' covers it
    assert response.headers["x-content-type-options"] == "nosniff"
    return response.text


def test_a_browser_gets_the_page_at_the_root(page_client: TestClient) -> None:
    text = assert_page(page_client.get("/", headers={"accept": BROWSER_ACCEPT}))
    assert 'id="forecast-value"' in text and RUN_A in text


@pytest.mark.parametrize("accept", ["application/json", "*/*", "", "text/html;q=0.5, */*"])
def test_api_clients_get_json_at_the_root_with_a_link_to_the_page(
    page_client: TestClient, accept: str
) -> None:
    body = assert_documented(page_client.get("/", headers={"accept": accept}), "/")
    assert body["links"]["page"] == "/dashboard" and body["links"]["metrics"] == "/metrics"


@pytest.mark.parametrize("accept", [BROWSER_ACCEPT, "application/json", "*/*"])
def test_the_dashboard_is_always_the_page(page_client: TestClient, accept: str) -> None:
    assert_page(page_client.get("/dashboard", headers={"accept": accept}))


def test_the_page_shows_the_served_forecast(page_client: TestClient) -> None:
    forecast = page_client.get("/api/forecast", params={"horizon": 1}).json()
    text = assert_page(page_client.get("/dashboard"))
    assert f'id="forecast-value">{forecast["prediction"]:,.1f} CLP/L<' in text
    assert text.count('src="data:image/svg+xml;base64,') == 1  # nothing scored: no track chart


def test_the_page_refers_to_no_other_host(page_client: TestClient, runs_dir: Path) -> None:
    write_publications(runs_dir, [(RUN_A, "2026-11-27T12:04:00Z", "https://evil.example/x")])
    text = assert_page(page_client.get("/dashboard"))
    targets = re.findall(r'(?:src|href|action)\s*=\s*"([^"]*)"', text)
    assert targets and all(
        t.startswith(("/", "data:", "#")) and not t.startswith("//") for t in targets
    )
    assert "<script" not in text and "<style" not in text and " style=" not in text
    assert '<link rel="stylesheet" href="/static/page.css">' in text


def test_the_pages_style_sheet_is_served_and_nothing_else_of_the_package(
    page_client: TestClient,
) -> None:
    css = page_client.get("/static/page.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert "url(" not in css.text and "@import" not in css.text  # it fetches nothing either
    for path in ("/static/../page.py", "/static/../templates/page.html", "/static/", "/static"):
        missing = page_client.get(path)
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


def test_the_page_is_rendered_when_the_run_loads_never_per_request(
    runs_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RELOAD_INTERVAL", "3600")
    add_page_files(make_run(runs_dir, RUN_A))
    renders: list[str | None] = []
    real = page.Page.render

    def counted(self: page.Page, run: Any, *args: Any) -> None:
        before = self.body
        real(self, run, *args)
        if self.body is not before:
            renders.append(run and run["run_id"])

    monkeypatch.setattr(page.Page, "render", counted)
    with TestClient(APP) as client:
        bodies = {client.get("/dashboard").content for _ in range(5)}
        bodies.add(client.get("/", headers={"accept": BROWSER_ACCEPT}).content)
        assert len(bodies) == 1 and renders == [RUN_A]  # once, at start-up
        make_run(runs_dir, RUN_B)  # published
        monkeypatch.setattr(state.State, "due", lambda self, what: True)
        assert client.get("/api/predict/2020/1").status_code == 200  # the reload: rendered
        assert renders == [RUN_A, RUN_B]
        client.get("/dashboard")
    assert renders == [RUN_A, RUN_B]


def test_a_new_run_renders_a_new_page(page_client: TestClient, runs_dir: Path) -> None:
    add_page_files(make_run(runs_dir, RUN_B))
    text = assert_page(page_client.get("/dashboard"))
    assert f"run {RUN_B}" in text and f"{RUN_B} <strong>(served)</strong>" in text


def test_without_a_run_the_page_says_how_to_make_one(empty_client: TestClient) -> None:
    assert "run_pipeline.py" in assert_page(empty_client.get("/dashboard"))


def test_the_served_report_is_served_read_only_under_a_sandbox(page_client: TestClient) -> None:
    response = page_client.get(f"/runs/{RUN_A}/report.html")
    assert response.status_code == 200 and response.content == REPORT_HTML
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "sandbox" in policy


@pytest.mark.parametrize(
    "path",
    [
        f"/runs/{RUN_A}/run.json",
        f"/runs/{RUN_A}/metrics.json",
        f"/runs/{RUN_A}/figures/forecast_fan.svg",
        "/runs/LATEST",
        "/runs/..%2F..%2Fetc/report.html",
        "/runs/99991231T235959Z/report.html",
        f"/runs/{RUN_A}%00/report.html",
    ],
)
def test_nothing_else_of_runs_is_served(page_client: TestClient, path: str) -> None:
    response = page_client.get(path)
    assert response.status_code == 404
    assert response.json()["error"]["code"] in ("not_found", "unknown_run", "no_report")


@pytest.mark.parametrize("kind", ["symlink_out", "fifo", "directory"])
def test_a_report_that_is_not_a_regular_file_in_runs_is_a_404(
    page_client: TestClient, runs_dir: Path, tmp_path: Path, kind: str
) -> None:
    path = runs_dir / RUN_A / REPORT_FILE
    path.write_text("TOP-SECRET")
    make_unservable(path, kind, tmp_path / "secret.html")
    response = page_client.get(f"/runs/{RUN_A}/report.html")
    body = assert_documented(response, "/runs/{run_id}/report.html")
    assert body["error"]["code"] == "no_report" and "TOP-SECRET" not in response.text


def metric_samples(client: TestClient) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def requests_of(samples: dict, route: str, status: str) -> float:
    return samples.get(("milk_http_requests_total", (("route", route), ("status", status))), 0)


def test_metrics_count_requests_by_route_template_and_status(page_client: TestClient) -> None:
    before = metric_samples(page_client)
    for month in (1, 2, 3):
        page_client.get(f"/api/predict/2020/{month}")
    page_client.get("/api/predict/2020/13")
    page_client.get("/no/such/path")
    after = metric_samples(page_client)
    template = "/api/predict/{year}/{month}"
    assert requests_of(after, template, "200") - requests_of(before, template, "200") == 3
    assert requests_of(after, template, "422") - requests_of(before, template, "422") == 1
    assert requests_of(after, "unmatched", "404") - requests_of(before, "unmatched", "404") == 1
    assert requests_of(after, "/metrics", "200") - requests_of(before, "/metrics", "200") == 1
    count = ("milk_http_request_duration_seconds_count", (("route", template),))
    assert after[count] - before.get(count, 0) == 4
    assert not any("2020/1" in str(labels) for _, labels in after)  # never the raw path


def test_metrics_show_the_served_run(page_client: TestClient, runs_dir: Path) -> None:
    samples = metric_samples(page_client)
    headline = read_metrics(runs_dir / RUN_A / METRICS_FILE)["headline"]
    assert samples[("milk_served_run_info", (("run_id", RUN_A),))] == 1
    assert samples[("milk_served_walk_forward_rmse_clp_per_l", ())] == headline["rmse_clp_per_l"]
    assert samples[("milk_served_run_age_seconds", ())] > 0
    assert samples[("milk_run_reloads_total", ())] == 1


def test_metrics_count_reloads_and_refused_runs(page_client: TestClient, runs_dir: Path) -> None:
    broken = make_run(runs_dir, RUN_B)
    (broken / METRICS_FILE).write_text("[]")
    assert page_client.get("/ready").json()["run_id"] == RUN_A
    samples = metric_samples(page_client)
    assert samples[("milk_runs_refused_total", ())] == 1
    assert samples[("milk_run_reloads_total", ())] == 1
    make_run(runs_dir, RUN_B)
    samples = metric_samples(page_client)
    assert samples[("milk_run_reloads_total", ())] == 2
    assert samples[("milk_served_run_info", (("run_id", RUN_B),))] == 1


def test_each_app_start_counts_from_zero(runs_dir: Path) -> None:
    make_run(runs_dir, RUN_A)
    with TestClient(APP) as client:
        client.get("/health")
        first = metric_samples(client)
    with TestClient(APP) as client:
        second = metric_samples(client)
    assert requests_of(first, "/health", "200") == 1
    assert requests_of(second, "/health", "200") == 0


def test_the_run_history_lists_the_publications_newest_first(
    page_client: TestClient, runs_dir: Path
) -> None:
    make_run(runs_dir, RUN_B, publish=False)
    log = write_publications(
        runs_dir,
        [(RUN_A, "2026-11-27T12:04:00Z", "pipeline"), (RUN_B, "2026-11-28T09:00:00Z", "--publish")],
    )
    with log.open("a") as handle:
        handle.write('{"torn": \n')
    listing = assert_documented(page_client.get("/api/runs"), "/api/runs")
    assert [(p["run_id"], p["by"]) for p in listing["publications"]] == [
        (RUN_B, "--publish"),
        (RUN_A, "pipeline"),
    ]
    text = assert_page(page_client.get("/dashboard"))
    assert text.index("2026-11-28T09:00:00Z") < text.index("2026-11-27T12:04:00Z")


def test_a_publication_log_leading_out_of_runs_is_not_read(
    page_client: TestClient, runs_dir: Path, tmp_path: Path
) -> None:
    outside = write_publications(tmp_path, [(RUN_A, "2026-11-27T12:04:00Z", "SECRET-BY")])
    (runs_dir / PUBLICATIONS_FILE).symlink_to(outside)
    listing = assert_documented(page_client.get("/api/runs"), "/api/runs")
    assert listing["publications"] == []
    assert "SECRET-BY" not in page_client.get("/dashboard").text


def test_a_request_that_raised_is_counted_as_a_500(
    page_client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(*args: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(history.RunIndex, "list_body", explode)
    assert page_client.get("/api/runs").status_code == 500
    assert requests_of(metric_samples(page_client), "/api/runs", "500") == 1


def test_unknown_report_and_run_ids_spend_none_of_the_pages_budget(
    runs_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HISTORY_RATE", "1")  # one answer a second; more than 2 s away: 429
    make_run(runs_dir, RUN_A)
    with TestClient(APP) as client:
        for second in range(5, 65):
            unknown = f"20261127T1203{second:02d}Z"
            assert client.get(f"/runs/{unknown}/report.html").status_code == 404
            assert client.get(f"/api/runs/{unknown}").status_code == 404
        assert client.get("/dashboard").status_code == 200


def test_error_bodies_never_show_where_the_runs_folder_is(runs_dir: Path) -> None:
    (runs_dir / LATEST).write_text("garbage\n")
    with TestClient(APP) as client:
        answers = [
            client.get("/api/predict/2020/4"),
            client.get(f"/runs/{RUN_A}/report.html"),
            client.get(f"/api/runs/{RUN_A}"),
            client.get("/"),
        ]
    assert [answer.status_code for answer in answers] == [503, 404, 404, 200]
    for answer in answers:
        assert str(runs_dir) not in answer.text and "runs/LATEST" in answers[0].text


def test_a_zero_padded_number_is_the_number(client: TestClient) -> None:
    assert (
        client.get("/api/forecast?horizon=00000003").json()
        == client.get("/api/forecast?horizon=3").json()
    )
    assert (
        client.get("/api/predict?year=2020&month=000004").json()
        == client.get("/api/predict/2020/4").json()
    )
