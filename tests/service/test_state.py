from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from run_factory import make_run, publish_latest

from milk_forecast.run_folder.layout import LATEST, PREDICTIONS_JSON
from milk_forecast.service.answers import ApiError
from milk_forecast.service.state import MAX_WAIT, State

RUN_A = "20261127T120301Z"
RUN_B = "20261128T080000Z"
LOGGER = "milk_forecast.service.state"


def serving_a(runs_dir: Path) -> State:
    """A state serving RUN_A, looking at LATEST on every call."""
    make_run(runs_dir, RUN_A)
    state = State(runs_dir, 0)
    assert state.reload()
    return state


def break_predictions(run_dir: Path) -> None:
    (run_dir / PREDICTIONS_JSON).write_text('{"rows": []}')


def test_store_serves_latest_and_swaps_to_a_newer_run(runs_dir: Path) -> None:
    make_run(runs_dir, RUN_A)
    state = State(runs_dir, 0)
    assert state.reload() is True
    first = state.run
    assert first is not None and first.run_id == RUN_A
    assert state.reload() is False  # LATEST unchanged: nothing reloaded
    assert state.run is first
    make_run(runs_dir, RUN_B)
    assert state.reload() is True
    assert state.run.run_id == RUN_B


def test_store_without_latest_serves_nothing_and_says_how_to_make_a_run(runs_dir: Path) -> None:
    state = State(runs_dir, 1.0)
    assert state.reload() is False
    assert state.run is None
    assert "python run_pipeline.py" in state.message()


def test_a_broken_newest_run_keeps_the_old_one_with_one_line_per_publication(
    runs_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    state = serving_a(runs_dir)
    break_predictions(make_run(runs_dir, RUN_B, publish=False))
    publish_latest(runs_dir, RUN_B)
    with caplog.at_level(logging.ERROR, logger=LOGGER):
        for _ in range(3):
            state.reload()  # LATEST unchanged: not looked at again, not logged again
    assert state.run.run_id == RUN_A
    refusals = [r.getMessage() for r in caplog.records if RUN_B in r.getMessage()]
    assert len(refusals) == 1
    assert "predictions.json" in refusals[0] and f"still serving {RUN_A}" in refusals[0]


def test_a_refused_run_is_looked_at_again_when_latest_is_written_again(runs_dir: Path) -> None:
    state = serving_a(runs_dir)
    document = make_run(runs_dir, RUN_B, publish=False) / PREDICTIONS_JSON
    good = document.read_bytes()
    document.write_text("{")
    publish_latest(runs_dir, RUN_B)
    assert state.reload() is False and state.run.run_id == RUN_A
    document.write_bytes(good)
    publish_latest(runs_dir, RUN_B)
    assert state.reload() is True and state.run.run_id == RUN_B
    assert state.refusal is None


def test_garbage_in_latest_is_refused_and_the_run_keeps_serving(
    runs_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    state = serving_a(runs_dir)
    with caplog.at_level(logging.ERROR, logger=LOGGER):
        (runs_dir / LATEST).write_text("../../etc\n")
        state.reload()
        state.reload()
    assert state.run.run_id == RUN_A
    assert len([r for r in caplog.records if "not a run id" in r.getMessage()]) == 1


def test_a_first_run_refused_leaves_a_503_with_the_reason(runs_dir: Path) -> None:
    break_predictions(make_run(runs_dir, RUN_A))
    state = State(runs_dir, 1.0)
    state.reload()
    assert state.run is None
    assert "predictions.json" in state.message()


def test_a_fifo_latest_at_start_up_does_not_hang(runs_dir: Path) -> None:
    os.mkfifo(runs_dir / LATEST)
    state = State(runs_dir, 1.0)
    loader = threading.Thread(target=state.refresh)
    loader.start()
    loader.join(5)
    assert not loader.is_alive()
    assert state.run is None and "is a FIFO" in state.message()


def test_due_at_most_once_per_interval_for_each_kind_the_first_after_one() -> None:
    now = [100.0]
    state = State(Path("unused"), 1.0, clock=lambda: now[0])
    assert state.due("look") is False  # start-up looked already
    now[0] += 1.0
    assert (state.due("look"), state.due("look"), state.due("scan")) == (True, False, True)
    now[0] += 0.5
    assert state.due("look") is False
    now[0] += 0.6
    assert state.due("look") is True


def test_changed_detects_an_atomic_replacement_of_latest(runs_dir: Path) -> None:
    make_run(runs_dir, RUN_A)
    state = State(runs_dir, 0)
    assert state.changed() is True
    state.reload()
    assert state.changed() is False
    publish_latest(runs_dir, RUN_A)
    assert state.changed() is True


def test_refresh_scans_the_history_and_renders_the_page_once_per_state(runs_dir: Path) -> None:
    make_run(runs_dir, RUN_A)
    state = State(runs_dir, 0)
    state.refresh()
    page = state.page.body
    assert state.run.run_id == RUN_A and list(state.index.rows) == [RUN_A]
    assert RUN_A.encode() in page
    state.refresh()
    assert state.page.body is page  # nothing changed: not rendered again
    make_run(runs_dir, RUN_B, publish=False)
    state.refresh()
    assert list(state.index.rows) == [RUN_B, RUN_A] and RUN_B.encode() in state.page.body


def test_a_refresh_that_fails_is_logged_and_the_run_keeps_serving(
    runs_dir: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_run(runs_dir, RUN_A)
    state = State(runs_dir, 0)

    def explode(*args: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(state.page, "render", explode)
    with caplog.at_level(logging.ERROR, logger=LOGGER):
        state.refresh()
    assert state.run.run_id == RUN_A
    assert "could not be refreshed" in caplog.text


@contextmanager
def refresh_in_progress(state: State) -> Iterator[None]:
    """A refresh in another thread, held in its history scan until the block ends."""
    entered, release = threading.Event(), threading.Event()
    real_scan = state.index.scan

    def slow_scan() -> None:
        entered.set()
        release.wait(10)
        real_scan()

    state.index.scan = slow_scan  # type: ignore[method-assign]
    first = threading.Thread(target=state.refresh)
    first.start()
    assert entered.wait(10)
    try:
        yield
    finally:
        release.set()
        first.join(10)


def test_a_refresh_during_another_returns_at_once(runs_dir: Path) -> None:
    make_run(runs_dir, RUN_A)
    state = State(runs_dir, 0)
    with refresh_in_progress(state):
        state.refresh()  # returns while the first one is still scanning
    assert state.run.run_id == RUN_A


def test_a_look_during_a_refresh_swaps_the_run_and_the_page_follows(runs_dir: Path) -> None:
    """LATEST written while a history refresh runs: the request that looks serves the new
    run at once, without waiting for the scan; the next history request renders again."""
    make_run(runs_dir, RUN_A)
    now = [0.0]
    state = State(runs_dir, 10.0, clock=lambda: now[0])
    state.reload()
    with refresh_in_progress(state):
        make_run(runs_dir, RUN_B)  # published while the first refresh scans
        now[0] = 10.0
        assert state.due("look") and state.changed()
        state.refresh()  # busy: reloads only
        assert state.run.run_id == RUN_B
        assert state.due("scan")  # not in another 10 s: now


def paced(rate: float, now: list[float]) -> State:
    return State(Path("unused"), 1.0, rate, clock=lambda: now[0])


def test_history_requests_within_the_rate_do_not_wait() -> None:
    now = [0.0]
    state = paced(10, now)
    for _ in range(5):
        assert state.turn() == 0
        now[0] += 0.1


def test_a_burst_waits_for_its_turns_then_is_refused_with_a_429() -> None:
    state = paced(4, [0.0])  # one turn every 0.25 s
    turns = int(MAX_WAIT * 4) + 1
    assert [state.turn() for _ in range(turns)] == [n / 4 for n in range(turns)]
    with pytest.raises(ApiError) as caught:
        state.turn()
    assert caught.value.status == 429
    assert f"retry in {MAX_WAIT + 0.25:.1f} s" in caught.value.message


def test_a_refused_request_takes_no_turn_and_the_budget_comes_back() -> None:
    now = [0.0]
    state = paced(1 / (MAX_WAIT + 0.5), now)  # one turn every MAX_WAIT + 0.5 s
    assert state.turn() == 0
    with pytest.raises(ApiError):
        state.turn()
    now[0] += MAX_WAIT + 0.5
    assert state.turn() == 0


def test_rate_zero_never_waits() -> None:
    state = paced(0, [0.0])
    assert [state.turn() for _ in range(1000)] == [0.0] * 1000
