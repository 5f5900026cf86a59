"""Whether a run can be served: one decision for the publisher and the service."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import run_factory as factory

from milk_forecast.run_folder.layout import METRICS_FILE, PREDICTIONS_JSON, RunFolderError
from milk_forecast.run_folder.servable import changed_outputs, load_servable
from milk_forecast.run_folder.write import output_digests, write_run_record

RUN = "20261127T120301Z"


def test_a_complete_succeeded_run_is_servable(tmp_path: Path) -> None:
    factory.make_run(tmp_path, RUN)
    servable = load_servable(tmp_path, RUN)
    assert servable.record["status"] == "succeeded"
    assert servable.predictions["interval_levels"] == servable.metrics["interval_levels"]


def break_levels(run_dir: Path) -> None:
    path = run_dir / METRICS_FILE
    metrics = json.loads(path.read_text())
    metrics["interval_levels"] = [0.8]
    for key in [k for k in metrics["forecast"] if "95" in k]:
        del metrics["forecast"][key]
    path.write_text(json.dumps(metrics))


@pytest.mark.parametrize(
    ("prepare", "message"),
    [
        (
            lambda d: factory.make_run(d, RUN, status="failed"),
            "'status' is 'failed', not 'succeeded'",
        ),
        (lambda d: None, "no such run folder"),
        (
            lambda d: (factory.make_run(d, RUN), (d / RUN / PREDICTIONS_JSON).write_text("{}")),
            "predictions.json: unit",
        ),
        (
            lambda d: (factory.make_run(d, RUN), (d / RUN / METRICS_FILE).unlink()),
            "metrics.json: missing",
        ),
        (
            lambda d: (factory.make_run(d, RUN), break_levels(d / RUN)),
            "interval_levels .* differ from",
        ),
    ],
)
def test_what_cannot_be_served_is_refused_naming_the_file(
    tmp_path: Path, prepare, message: str
) -> None:
    prepare(tmp_path)
    with pytest.raises(RunFolderError, match=message):
        load_servable(tmp_path, RUN)


def test_a_run_folder_that_is_a_symlink_is_refused(tmp_path: Path) -> None:
    factory.make_run(tmp_path / "elsewhere", RUN)
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / RUN).symlink_to(tmp_path / "elsewhere" / RUN)
    with pytest.raises(RunFolderError, match="no such run folder"):
        load_servable(tmp_path / "runs", RUN)


def record_outputs(run_dir: Path) -> None:
    """run.json records the outputs' digests, as the runner does when the run succeeds."""
    record = json.loads((run_dir / "run.json").read_text())
    write_run_record(run_dir, record | {"outputs": output_digests(run_dir)})


def test_a_run_whose_served_outputs_changed_since_it_succeeded_is_refused(tmp_path: Path) -> None:
    run_dir = factory.make_run(tmp_path, RUN)
    record_outputs(run_dir)
    assert load_servable(tmp_path, RUN).run_id == RUN
    document = json.loads((run_dir / PREDICTIONS_JSON).read_text())
    document["rows"][-1]["predicted_clp_per_l"] += 1.0  # still a valid document
    (run_dir / PREDICTIONS_JSON).write_text(json.dumps(document))
    with pytest.raises(RunFolderError, match=r"predictions\.json: changed since the run succeeded"):
        load_servable(tmp_path, RUN)
    assert changed_outputs(
        run_dir,
        json.loads((run_dir / "run.json").read_text()),
        ["metrics.json", "predictions.json"],
    ) == ["predictions.json"]


def test_a_run_that_recorded_no_digests_is_served_as_before(tmp_path: Path) -> None:
    run_dir = factory.make_run(tmp_path, RUN)
    (run_dir / METRICS_FILE).write_text((run_dir / METRICS_FILE).read_text() + " ")
    assert load_servable(tmp_path, RUN).run_id == RUN
