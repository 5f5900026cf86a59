from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import pytest
from run_factory import make_run

from milk_forecast.run_folder.layout import LATEST, PREDICTIONS_JSON
from milk_forecast.run_folder.write import publish_latest
from milk_forecast.service.store import RunStore

RUN_A = "20261127T120301Z"
RUN_B = "20261128T080000Z"
LOGGER = "milk_forecast.service.store"


def break_predictions(run_dir: Path) -> None:
    (run_dir / PREDICTIONS_JSON).write_text('{"rows": []}')


def test_store_serves_latest_and_swaps_to_a_newer_run(runs_dir: Path) -> None:
    make_run(runs_dir, RUN_A)
    store = RunStore(runs_dir, reload_interval=0)
    assert store.refresh() is True
    first = store.served
    assert first is not None and first.run_id == RUN_A
    assert store.refresh() is False  # LATEST unchanged: nothing reloaded
    assert store.served is first
    make_run(runs_dir, RUN_B)
    assert store.refresh() is True
    assert store.served.run_id == RUN_B


def test_store_without_latest_serves_nothing_and_says_how_to_make_a_run(runs_dir: Path) -> None:
    store = RunStore(runs_dir)
    assert store.refresh() is False
    assert store.served is None
    error = store.no_run_error().payload()["error"]
    assert error["status"] == 503
    assert "python run_pipeline.py" in error["message"]


def test_a_broken_newest_run_keeps_the_old_one_with_one_line_per_publication(
    runs_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    make_run(runs_dir, RUN_A)
    store = RunStore(runs_dir, reload_interval=0)
    store.refresh()
    break_predictions(make_run(runs_dir, RUN_B, publish=False))
    publish_latest(runs_dir, RUN_B)
    with caplog.at_level(logging.ERROR, logger=LOGGER):
        for _ in range(3):
            store.refresh()  # LATEST unchanged: not looked at again, not logged again
    assert store.served.run_id == RUN_A
    refusals = [r.getMessage() for r in caplog.records if RUN_B in r.getMessage()]
    assert len(refusals) == 1
    assert "predictions.json" in refusals[0] and f"still serving {RUN_A}" in refusals[0]


def test_a_refused_run_is_looked_at_again_when_latest_is_written_again(runs_dir: Path) -> None:
    make_run(runs_dir, RUN_A)
    store = RunStore(runs_dir, reload_interval=0)
    store.refresh()
    document = make_run(runs_dir, RUN_B, publish=False) / PREDICTIONS_JSON
    good = document.read_bytes()
    document.write_text("{")
    publish_latest(runs_dir, RUN_B)
    assert store.refresh() is False and store.served.run_id == RUN_A
    document.write_bytes(good)
    publish_latest(runs_dir, RUN_B)
    assert store.refresh() is True and store.served.run_id == RUN_B
    assert store.refusal is None


def test_garbage_in_latest_is_refused_and_the_run_keeps_serving(
    runs_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    make_run(runs_dir, RUN_A)
    store = RunStore(runs_dir, reload_interval=0)
    store.refresh()
    with caplog.at_level(logging.ERROR, logger=LOGGER):
        (runs_dir / LATEST).write_text("../../etc\n")
        store.refresh()
        store.refresh()
    assert store.served.run_id == RUN_A
    assert len([r for r in caplog.records if "not a run id" in r.getMessage()]) == 1


def test_a_first_run_refused_leaves_a_503_with_the_reason(runs_dir: Path) -> None:
    break_predictions(make_run(runs_dir, RUN_A))
    store = RunStore(runs_dir)
    store.refresh()
    assert store.served is None
    assert "predictions.json" in store.no_run_error().message


def test_a_fifo_latest_at_start_up_does_not_hang(runs_dir: Path) -> None:
    os.mkfifo(runs_dir / LATEST)
    store = RunStore(runs_dir)
    loader = threading.Thread(target=store.refresh)
    loader.start()
    loader.join(5)
    assert not loader.is_alive()
    assert store.served is None and "is a FIFO" in store.no_run_error().message


def test_due_at_most_once_per_interval() -> None:
    now = [100.0]
    store = RunStore(Path("unused"), reload_interval=1.0, clock=lambda: now[0])
    assert store.due() is True
    now[0] += 0.5
    assert store.due() is False
    now[0] += 0.6
    assert store.due() is True


def test_changed_detects_an_atomic_replacement_of_latest(runs_dir: Path) -> None:
    make_run(runs_dir, RUN_A)
    store = RunStore(runs_dir, reload_interval=0)
    store.refresh()
    assert store.changed() is False
    publish_latest(runs_dir, RUN_A)
    assert store.changed() is True
