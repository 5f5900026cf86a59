"""report.html: served only for valid run ids, only from run folders, never anything else."""

from __future__ import annotations

from pathlib import Path

import pytest
from run_factory import REPORT_HTML, UNSERVABLE, add_page_files, make_run, make_unservable

from milk_forecast.run_folder.layout import REPORT_FILE
from milk_forecast.service import guard
from milk_forecast.service.guard import RunsFolder
from milk_forecast.service.report import read_report
from milk_forecast.service.serving import ApiError

RUN_A = "20261127T120301Z"


def report_path(runs_dir: Path) -> Path:
    return runs_dir / RUN_A / REPORT_FILE


def test_the_report_of_a_run_folder_is_read(runs_dir: Path) -> None:
    add_page_files(make_run(runs_dir, RUN_A))
    assert read_report(RunsFolder(runs_dir), RUN_A) == REPORT_HTML


@pytest.mark.parametrize("run_id", ["..", "LATEST", "20261127T120301Z/..", "x" * 300, "%2e%2e"])
def test_a_malformed_run_id_is_a_404(runs_dir: Path, run_id: str) -> None:
    add_page_files(make_run(runs_dir, RUN_A))
    with pytest.raises(ApiError) as caught:
        read_report(RunsFolder(runs_dir), run_id)
    assert (caught.value.status, caught.value.code) == (404, "unknown_run")


@pytest.mark.parametrize("kind", [*UNSERVABLE, "too_big"])
def test_a_report_that_is_not_a_bounded_regular_file_in_runs_is_a_404(
    runs_dir: Path, tmp_path: Path, kind: str
) -> None:
    add_page_files(make_run(runs_dir, RUN_A))
    path = report_path(runs_dir)
    if kind == "too_big":
        with path.open("wb") as handle:
            handle.truncate(guard.MAX_REPORT_BYTES + 1)
    else:
        make_unservable(path, kind, tmp_path / "outside.html")
    with pytest.raises(ApiError) as caught:
        read_report(RunsFolder(runs_dir), RUN_A)
    assert (caught.value.status, caught.value.code) == (404, "no_report")
    assert "outside" not in caught.value.message


def test_a_run_folder_that_is_a_symlink_out_of_runs_is_a_404(
    runs_dir: Path, tmp_path: Path
) -> None:
    elsewhere = add_page_files(make_run(tmp_path / "other", RUN_A, publish=False))
    (runs_dir / RUN_A).symlink_to(elsewhere)
    with pytest.raises(ApiError) as caught:
        read_report(RunsFolder(runs_dir), RUN_A)
    assert caught.value.status == 404
