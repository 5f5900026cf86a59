"""``python -m milk_forecast.flows``: see ``milk_forecast.flows.cli``."""

from __future__ import annotations

import sys

from milk_forecast.flows.cli import main

if __name__ == "__main__":
    sys.exit(main())
