"""``--publish RUN_ID``: an earlier run made the served one, checked as the service checks it."""

from __future__ import annotations

from pathlib import Path

import pytest
import run_factory as factory

from milk_forecast.run_folder.layout import LATEST, PREDICTIONS_JSON
from milk_forecast.run_folder.publications import PUBLISHED_BY_OPERATOR, read_publications
from milk_forecast.runner.publish import PublishError, publish_existing


def test_publish_existing_serves_an_earlier_run_and_logs_it(tmp_path: Path) -> None:
    factory.make_run(tmp_path, "20261127T120301Z")
    factory.make_run(tmp_path, "20261127T120302Z")
    entry = publish_existing(tmp_path, "20261127T120301Z")
    assert (tmp_path / LATEST).read_text().strip() == "20261127T120301Z"
    assert entry["by"] == PUBLISHED_BY_OPERATOR
    entries, _ = read_publications(tmp_path)
    assert entries[-1] == entry


@pytest.mark.parametrize(
    ("prepare", "run_id", "message"),
    [
        (lambda d: None, "20261127T999999Z", "there is no run"),
        (lambda d: None, "../etc", "is not a run id"),
        (
            lambda d: factory.make_run(d, "20261127T120303Z", status="failed", publish=False),
            "20261127T120303Z",
            "'status' is 'failed', not 'succeeded'",
        ),
        (
            lambda d: (
                factory.make_run(d, "20261127T120303Z", publish=False),
                (d / "20261127T120303Z" / PREDICTIONS_JSON).write_text("{}"),
            ),
            "20261127T120303Z",
            "predictions.json",
        ),
    ],
)
def test_a_run_that_cannot_be_served_is_refused_and_latest_stays(
    tmp_path: Path, prepare, run_id: str, message: str
) -> None:
    factory.make_run(tmp_path, "20261127T120301Z")
    prepare(tmp_path)
    with pytest.raises(PublishError, match=message):
        publish_existing(tmp_path, run_id)
    assert (tmp_path / LATEST).read_text().strip() == "20261127T120301Z"
    assert read_publications(tmp_path)[0] == []
