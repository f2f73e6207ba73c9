"""Reload under concurrent requests (a real uvicorn server on 127.0.0.1): no request is lost."""

from __future__ import annotations

import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import uvicorn

from recfair.serve import ServeSettings, create_app, open_served


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def server(study_dir, tmp_path):
    app = create_app(open_served(study_dir, "bpr0"), ServeSettings(state_dir=tmp_path))
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", app
    srv.should_exit = True
    thread.join(timeout=10)


def test_reload_under_concurrent_requests_loses_none(server):
    url, app = server
    users = list(app.state.served.user_ids[:20])
    stop = threading.Event()

    def client(worker: int) -> list[tuple[int, str, bool]]:
        out = []
        with httpx.Client(base_url=url, timeout=30) as c:
            i = 0
            while not stop.is_set() or i < 30:
                body = {"user_id": users[(worker + i) % len(users)], "k": 5}
                if i % 3 == 0:
                    body["rerank"] = {"method": "amortized", "lambda": 0.5}
                r = c.post("/recommend", json=body)
                out.append((r.status_code, r.json().get("model"), "rerank" in body))
                i += 1
        return out

    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(client, w) for w in range(4)]
        with httpx.Client(base_url=url, timeout=60) as admin:
            versions = []
            for cell in ["pop0", "bpr0", "missing-cell", "pop0", "bpr0"]:
                r = admin.post("/admin/reload", json={"cell": cell})
                versions.append(r.status_code)
                time.sleep(0.1)
        stop.set()
        results = [r for f in futures for r in f.result()]
    assert versions == [200, 200, 422, 200, 200]
    assert len(results) >= 120 and {s for s, _, _ in results} == {200}
    assert {m for _, m, _ in results} <= {"bpr@bpr0", "popularity@pop0"}
    assert app.state.metrics.reloads == {"ok": 4, "failed": 1}
    counted = sum(n for (route, _, status), n in app.state.metrics.counts.items()
                  if route == "/recommend" and status == 200)
    assert counted == len(results)  # every answered request was counted once
    assert app.state.ledger.snapshot()["popularity"]["lists"] == sum(a for _, _, a in results)
