"""``GET /runs/{run_id}/report.html``: a run's report, read-only, and nothing else of runs/.

The report is nbconvert output (the run's executed notebooks): HTML that may hold
scripts and links to other hosts. It is served only from a run folder (the id checked
against the contract's pattern, the file through the guarded ``RunsFolder``: a regular
file inside ``runs/``, at most ``guard.MAX_REPORT_BYTES``), read when asked for (off the
event loop; the route is paced like the history), with a Content-Security-Policy that
lets its inline styles and ``data:`` images show and blocks every script, every
request to any host and every form (``sandbox``). Anything else is a JSON 404.

The page's own headers live here too: both are HTML for browsers.
"""

from __future__ import annotations

from milk_forecast.run_folder.layout import REPORT_FILE
from milk_forecast.service import guard
from milk_forecast.service.guard import RefusedError, RunsFolder
from milk_forecast.service.serving import ApiError, check_run_id

HTML_TYPE = "text/html; charset=utf-8"
# The page: no script at all, images only as data: URLs, styles inline; nothing fetched.
PAGE_CSP = (
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
# A report: the same, in a sandbox (a unique origin, no script, no form, no popup).
REPORT_CSP = PAGE_CSP + "; font-src data:; sandbox"
_COMMON = {"x-content-type-options": "nosniff", "referrer-policy": "no-referrer"}
PAGE_HEADERS = {"content-security-policy": PAGE_CSP, "cache-control": "no-cache", **_COMMON}
REPORT_HEADERS = {"content-security-policy": REPORT_CSP, **_COMMON}


def read_report(folder: RunsFolder, run_id: str) -> bytes:
    """The bytes of ``run_id``'s report.html; a 404 ApiError when there is none to serve."""
    check_run_id(run_id)
    try:
        run_dir = folder.run_dir(run_id)
        return folder.read_bytes(run_dir / REPORT_FILE, guard.MAX_REPORT_BYTES)
    except RefusedError:
        raise ApiError(
            404, "no_report", f"there is no report of run {run_id} to serve in {folder.path}"
        ) from None
