"""The usage dashboard: what the page shows, and its templates and static files.

``selection.py`` reads the page's URL into export query items and writes the
links that change one thing of what is shown; ``summary.py`` turns an export's
rows into the page's totals, split rows and chart series over the export's own
buckets. ``static/zone.js`` gives a URL without ``timeZone`` the browser's zone
(``templates/zone.html``, a page that shows no usage). The routes are in
:mod:`creditmeter.web.routes.dashboard`, the sign-in cookie in
:mod:`creditmeter.web.session`. Usage is read only through
:func:`creditmeter.export.parse_query` and :func:`creditmeter.export.run_export`.
"""

from __future__ import annotations

from pathlib import Path

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"
