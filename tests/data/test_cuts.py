from __future__ import annotations

from pathlib import Path

import pytest

from milk_forecast.data.columns import PRICE_FILE, RAIN_FILE
from milk_forecast.data.cuts import main, write_cut

PRICES = "Anio,Mes,Precio_leche\n2019,Oct,1\n2019,Nov,2\n2020,Ene,3\n"


def data_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / PRICE_FILE).write_text(PRICES)
    (folder / RAIN_FILE).write_text("date,x\n2019-10-01,1\n")
    return folder


def test_the_cut_keeps_the_prices_up_to_its_month_and_copies_the_rest(tmp_path: Path) -> None:
    out = write_cut(data_dir(tmp_path), tmp_path / "cut", "2019-11")
    assert (out / PRICE_FILE).read_text() == "Anio,Mes,Precio_leche\n2019,Oct,1\n2019,Nov,2\n"
    assert (out / RAIN_FILE).read_text() == "date,x\n2019-10-01,1\n"


@pytest.mark.parametrize("month", ["2019-13", "2019-1", "201910", None])
def test_a_month_not_written_yyyy_mm_is_refused(tmp_path: Path, month: object) -> None:
    with pytest.raises(ValueError, match=r"is not a month written YYYY-MM"):
        write_cut(data_dir(tmp_path), tmp_path / "cut", month)  # type: ignore[arg-type]


def test_the_cli_names_a_cut_without_prices(tmp_path: Path, capsys) -> None:
    folder = data_dir(tmp_path)
    assert (
        main(["--data-dir", str(folder), "--last-month", "2018-01", "--out", str(tmp_path / "cut")])
        == 2
    )
    assert "no price at or before 2018-01" in capsys.readouterr().err
