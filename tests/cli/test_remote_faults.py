"""A probe against an OpenAI-compatible server that refuses, times out or answers garbage fails loudly."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from recfair.cli import main
from recfair.runs.probe import FAILURES_FILE


class BadServer:
    """Answers every request the same bad way: ``garbage`` (HTML), ``slow`` (sleeps), ``busy`` (HTTP 503)."""

    def __init__(self, mode: str) -> None:
        self.requests = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):  # noqa: N802 - http.server API
                self.rfile.read(int(self.headers["Content-Length"]))
                server.requests += 1
                if mode == "slow":
                    time.sleep(0.5)
                body, status = (b"{}", 503) if mode == "busy" else (b"<html>oops</html>", 200)
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def closed_port_url() -> str:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now: every connection is refused
    return f"http://127.0.0.1:{port}/v1"


@pytest.mark.parametrize("mode", ["refuse", "slow", "garbage", "busy"])
def test_failing_backend_exits_2_and_records_every_failure(capsys, tmp_path, mode):
    server = None if mode == "refuse" else BadServer(mode)
    url = closed_port_url() if server is None else server.url
    try:
        try:
            main(["probe", "--backend", "openai", "--base-url", url, "--model", "m", "--dataset", "synthetic",
                  "--groups", "gender", "--k", "3", "--users", "2", "--timeout", "0.2", "--max-retries", "1",
                  "--out", str(tmp_path / "p")])
            code = 0
        except SystemExit as exc:
            code = exc.code
    finally:
        if server is not None:
            server.close()
    out = capsys.readouterr()
    assert code == 2, out.err
    assert "Traceback" not in out.err and len(out.err.strip().splitlines()) == 1
    assert "only 0.0% of the probe's model outputs were valid" in out.err
    assert "SNSR" not in out.out  # no fairness number from lists that were never produced
    failures = [json.loads(line) for line in (tmp_path / "p" / FAILURES_FILE).read_text().splitlines()]
    meta = json.loads((tmp_path / "p" / "probe.json").read_text())["meta"]
    assert len(failures) == meta["failures"] == 2 * 4  # two users × (true, neutral, F, M)
    assert all(f["error"] for f in failures)
    validity = json.loads((tmp_path / "p" / "probe.json").read_text())["validity"]
    assert sum(v["errors"] for v in validity) == 8 and all(v["valid_output_rate"] == 0.0 for v in validity)
