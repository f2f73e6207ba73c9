"""`recfair serve`: options reach the server; bad folders are one-line errors."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from recfair.cli import app, main
from recfair.serve.source import NOT_SERVABLE


def test_serve_options_reach_uvicorn(bpr_run, tmp_path, monkeypatch):
    import uvicorn

    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda asgi, **kw: seen.update(app=asgi, **kw))
    monkeypatch.setenv("RECFAIR_API_KEY", "from-env")
    res = CliRunner().invoke(app, ["serve", str(bpr_run), "--port", "8123", "--state-dir", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert (seen["host"], seen["port"]) == ("127.0.0.1", 8123)
    settings = seen["app"].state.settings
    assert settings.api_key == "from-env" and settings.state_dir == tmp_path and settings.n_candidates == 100
    assert seen["app"].state.served.version.startswith("bpr@bpr#")


def test_serve_refuses_a_folder_it_cannot_serve(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["serve", str(tmp_path)])
    assert exc.value.code == 2
    assert capsys.readouterr().err == f"Error: {NOT_SERVABLE.format(path=tmp_path.resolve())}\n"
