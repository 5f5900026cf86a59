"""The raw input files and their columns (``RAW_FILES``; a ``SYNTHETIC`` file beside them
marks the synthetic sample), and the columns of the monthly tables, in snake_case with units."""

from __future__ import annotations

import re

PRICE_FILE = "precio_leche.csv"
RAIN_FILE = "precipitaciones.csv"
BANK_FILE = "banco_central.csv"
SYNTHETIC_MARKER = "SYNTHETIC"

MONTH_NAMES = ("Ene", "Feb", "Mar", "Abr", "May", "Jun", "Jul", "Ago", "Sep", "Oct", "Nov", "Dic")
PRICE_COLUMNS = ("Anio", "Mes", "Precio_leche")
RAIN_DATE = "date"
RAIN_REGIONS = (
    "Coquimbo",
    "Valparaiso",
    "Metropolitana_de_Santiago",
    "Libertador_Gral__Bernardo_O_Higgins",
    "Maule",
    "Biobio",
    "La_Araucania",
    "Los_Rios",
)
BANK_PERIOD = "Periodo"
IMACEC_COLUMNS = (
    "Imacec_empalmado",
    "Imacec_produccion_de_bienes",
    "Imacec_minero",
    "Imacec_industria",
    "Imacec_resto_de_bienes",
    "Imacec_comercio",
    "Imacec_servicios",
    "Imacec_a_costo_de_factores",
    "Imacec_no_minero",
)
PIB_COLUMNS = (
    "PIB_Agropecuario_silvicola",
    "PIB_Pesca",
    "PIB_Mineria",
    "PIB_Mineria_del_cobre",
    "PIB_Otras_actividades_mineras",
    "PIB_Industria_Manufacturera",
    "PIB_Alimentos",
    "PIB_Bebidas_y_tabaco",
    "PIB_Textil",
    "PIB_Maderas_y_muebles",
    "PIB_Celulosa",
    "PIB_Refinacion_de_petroleo",
    "PIB_Quimica",
    "PIB_Minerales_no_metalicos_y_metalica_basica",
    "PIB_Productos_metalicos",
    "PIB_Electricidad",
    "PIB_Construccion",
    "PIB_Comercio",
    "PIB_Restaurantes_y_hoteles",
    "PIB_Transporte",
    "PIB_Comunicaciones",
    "PIB_Servicios_financieros",
    "PIB_Servicios_empresariales",
    "PIB_Servicios_de_vivienda",
    "PIB_Servicios_personales",
    "PIB_Administracion_publica",
    "PIB_a_costo_de_factores",
    "PIB",
)
IVCM_COLUMN = "Indice_de_ventas_comercio_real_no_durables_IVCM"
# The 38 central bank series the project reads, in the order of the real header.
BANK_SERIES = (*IMACEC_COLUMNS, *PIB_COLUMNS, IVCM_COLUMN)
RAW_FILES: dict[str, tuple[str, ...]] = {
    PRICE_FILE: PRICE_COLUMNS,
    RAIN_FILE: (RAIN_DATE, *RAIN_REGIONS),
    BANK_FILE: (BANK_PERIOD, *BANK_SERIES),
}
# inputs.json: file name -> these keys
INPUT_KEYS = ("path", "sha256", "bytes", "rows")

PRICE_COLUMN = "milk_price_clp_per_l"


def rain_column(region: str) -> str:
    """``"Libertador_Gral__Bernardo_O_Higgins"`` -> ``"rain_libertador_gral_bernardo_o_higgins_mm"``."""
    return f"rain_{re.sub('_+', '_', region.lower())}_mm"


RAIN_COLUMNS = [rain_column(region) for region in RAIN_REGIONS]
BANK_COLUMNS = [name.lower() for name in BANK_SERIES]
SERIES_COLUMNS = [PRICE_COLUMN, *RAIN_COLUMNS, *BANK_COLUMNS]
# dropped_rows.parquet and rescaled_cells.parquet (02_clean)
DROPPED_COLUMNS = ["file", "row", "value", "reason"]
RESCALED_COLUMNS = ["file", "row", "month", "column", "value", "factor", "rescaled"]
# price_rain_monthly.parquet (03_preprocess): the rainfall of the 8 regions summed, NaN
# where any region is missing.
RAIN_TOTAL_COLUMN = "rain_8_regions_mm"
# features_monthly.parquet (03_preprocess): the prototype's shuffled comparison split.
SPLIT = "split"
TRAIN, TEST = "train", "test"
