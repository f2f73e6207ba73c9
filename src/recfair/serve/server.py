"""Run the service with uvicorn: open the folder, build the app, serve until stopped."""

from __future__ import annotations

import ipaddress
import logging
from pathlib import Path
from typing import Any

from recfair.serve.app import ServeSettings, create_app
from recfair.serve.source import open_served

log = logging.getLogger(__name__)

__all__ = ["OPEN_WITHOUT_KEY", "default_state_dir", "is_loopback", "run_server"]

OPEN_WITHOUT_KEY = ("Serving on {host} without an API key: anyone who can reach this address can call every route. "
                    "Pass --api-key or set RECFAIR_API_KEY.")
STATE_DIR = "serve-state"


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def default_state_dir(path: str | Path) -> Path:
    """Where the exposure state lives by default: ``DIR/serve-state/``."""
    return Path(path).expanduser().resolve() / STATE_DIR


def run_server(path: str | Path, cell: str | None = None, *, host: str = "127.0.0.1", port: int = 8000,
               settings: ServeSettings | None = None, log_level: str = "info") -> None:
    """Open ``path`` (a study folder with ``cell``, or a run folder) and serve it until interrupted."""
    import uvicorn

    settings = settings or ServeSettings()
    if settings.state_dir is None:
        settings.state_dir = default_state_dir(path)
    if not settings.api_key and not is_loopback(host):
        log.warning(OPEN_WITHOUT_KEY.format(host=host))
    threads = getattr(settings.runtime, "threads", None)
    if threads:  # scoring one user is small: more threads only add contention with the event loop
        import torch

        torch.set_num_threads(int(threads))
    served = open_served(path, cell, runtime=settings.runtime)
    log.info("serving %s on http://%s:%d", served.version, host, port)
    app: Any = create_app(served, settings)
    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False)
