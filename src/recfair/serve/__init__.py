"""REST service over a stored model: recommendations, optionally fairness re-ranked, with audit and metrics.

>>> from recfair.serve import ServeSettings, create_app, open_served      # doctest: +SKIP
>>> app = create_app(open_served("runs/study", "3f2a9c0d1e2b4a5c"), ServeSettings(api_key="s3cret"))
>>> import uvicorn; uvicorn.run(app, host="127.0.0.1", port=8000)           # doctest: +SKIP

``recfair serve DIR [--cell CELL_ID]`` does the same from the command line; see
docs/serving.md for the routes, security and deployment.
"""

from __future__ import annotations

from recfair.serve.app import ServeSettings, ServerState, create_app
from recfair.serve.source import ServedModel, open_served, served_cells

__all__ = ["ServeSettings", "ServedModel", "ServerState", "create_app", "open_served", "served_cells"]
