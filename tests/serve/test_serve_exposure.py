"""The amortized-exposure state while serving: shared, exported, persisted, reset, kept across reloads."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from recfair.errors import RecfairError
from recfair.serve import ServeSettings, create_app, open_served
from recfair.serve.ledger import BAD_LEDGER, LEDGER_FILE, ExposureLedger

AMORTIZED = {"method": "amortized", "target": 0.5, "lambda": 1.0}


@pytest.fixture(scope="module")
def served(bpr_run):
    return open_served(bpr_run)


def _ask(c, served, n, rerank=AMORTIZED):
    for u in served.user_ids[:n]:
        r = c.post("/recommend", json={"user_id": u, "k": 5, "rerank": rerank})
        assert r.status_code == 200, r.text


def test_state_is_shared_exported_and_persisted(served, tmp_path):
    settings = ServeSettings(state_dir=tmp_path, flush_seconds=60)
    with TestClient(create_app(served, settings)) as c:
        _ask(c, served, 20)
        state = c.get("/admin/exposure").json()
        assert [s["item_groups"] for s in state] == ["popularity"] and state[0]["lists"] == 20
        assert state[0]["shares"]["tail"] == pytest.approx(0.5, abs=0.05)  # λ = 1: the target is met
        text = c.get("/metrics").text
        assert 'recfair_amortized_lists_total{item_groups="popularity"} 20' in text
        tail = state[0]["shares"]["tail"]
        assert f'recfair_amortized_exposure_share{{item_groups="popularity",group="tail"}} {tail!r}' in text
    saved = json.loads((tmp_path / LEDGER_FILE).read_text())  # written on shutdown
    assert saved["states"]["popularity"]["lists"] == 20
    with TestClient(create_app(served, settings)) as c:  # a restarted server continues
        _ask(c, served, 5)
        assert c.get("/admin/exposure").json()[0]["lists"] == 25
        assert c.post("/admin/exposure/reset").json() == {"reset": ["popularity"]}
        assert c.get("/admin/exposure").json() == []
        assert json.loads((tmp_path / LEDGER_FILE).read_text())["states"] == {}  # reset is written at once
        assert c.post("/admin/exposure/reset", params={"item_groups": "genre"}).status_code == 422


def test_plain_lists_keep_the_score_order_and_leave_the_state_alone(served, tmp_path):
    with TestClient(create_app(served, ServeSettings(state_dir=tmp_path))) as c:
        u = served.user_ids[0]
        plain = c.post("/recommend", json={"user_id": u, "k": 5}).json()["items"]
        zero = c.post("/recommend", json={"user_id": u, "k": 5,
                                          "rerank": {"method": "amortized", "lambda": 0}}).json()["items"]
        assert [i["item_id"] for i in zero] == [i["item_id"] for i in plain]
        assert c.get("/admin/exposure").json()[0]["lists"] == 1


def test_state_survives_a_reload(study_dir, tmp_path):
    cell = open_served(study_dir, "bpr0")
    with TestClient(create_app(cell, ServeSettings(state_dir=tmp_path))) as c:
        _ask(c, cell, 10)
        before = c.get("/admin/exposure").json()
        assert c.post("/admin/reload", json={"cell": "pop0"}).status_code == 200
        assert c.get("/admin/exposure").json() == before
        assert json.loads((tmp_path / LEDGER_FILE).read_text())["states"]["popularity"]["lists"] == 10
        _ask(c, cell, 2)
        assert c.get("/admin/exposure").json()[0]["lists"] == 12


def test_unreadable_state_is_refused(tmp_path):
    f = tmp_path / LEDGER_FILE
    f.write_text("{not json")
    with pytest.raises(RecfairError) as exc:
        ExposureLedger(f)
    assert str(exc.value).startswith(BAD_LEDGER.split("{error}")[0].format(path=f))
    f.write_text(json.dumps({"states": {"popularity": 3}}))
    with pytest.raises(RecfairError, match="'states' must map item groupings to states"):
        ExposureLedger(f)
