"""Endpoints with FastAPI's TestClient: answers, refusals (with their messages), token, limits."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from recfair.serve import ServeSettings, create_app, open_served
from recfair.serve.app import NO_AUDIT, UNKNOWN_ITEM_ID
from recfair.serve.engine import (
    NO_NEW_USERS, NOT_PER_REQUEST, UNKNOWN_ITEM, UNKNOWN_METHOD, UNKNOWN_RERANK_PARAM, UNKNOWN_USER,
)
from recfair.serve.guard import BODY_TOO_LARGE, MISSING_TOKEN, WRONG_TOKEN
from recfair.serve.schemas import MAX_BATCH, MAX_K, ONE_USER
from recfair.serve.source import CHOOSE_CELL, NO_CELL_FOR_RUN, NO_MODEL, NOT_SERVABLE, UNKNOWN_CELL

from .conftest import KEY

AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module")
def served(bpr_run):
    return open_served(bpr_run)


@pytest.fixture()
def client(served, tmp_path):
    with TestClient(create_app(served, ServeSettings(api_key=KEY, state_dir=tmp_path, n_candidates=30))) as c:
        c.headers.update(AUTH)
        yield c


def test_known_user_list_matches_the_model(client, served):
    import numpy as np

    uid = served.user_ids[3]
    body = client.post("/recommend", json={"user_id": uid, "k": 7}).json()
    want = served.model.recommend(np.array([3]), k=7)
    assert [i["item_id"] for i in body["items"]] == [served.item_ids[j] for j in want.items[0]]
    assert [i["score"] for i in body["items"]] == pytest.approx(want.scores[0].tolist())
    assert body["rerank"] is None and body["user_id"] == uid and body["model"] == served.version
    assert body["items"][0]["title"] == served.titles[want.items[0][0]]


def test_exclude_and_seen_items_never_listed(client, served):
    uid = served.user_ids[5]
    first = [i["item_id"] for i in client.post("/recommend", json={"user_id": uid, "k": 5}).json()["items"]]
    again = client.post("/recommend", json={"user_id": uid, "k": 5, "exclude": first[:2]}).json()["items"]
    assert not {i["item_id"] for i in again} & set(first[:2])
    seen = set(served.item_ids[served.train.matrix[5].indices])
    assert not seen & {i["item_id"] for i in again}


@pytest.mark.parametrize("method,params", [("prefix", {"target": 0.5}), ("fair", {"p": 0.5}),
                                           ("calibrated", {"lambda": 0.5}), ("amortized", {"lambda": 0.3})])
def test_rerankers_run_per_request(client, served, method, params):
    body = client.post("/recommend", json={"user_id": served.user_ids[0], "k": 6,
                                           "rerank": {"method": method, **params}}).json()
    assert body["rerank"] == method and len(body["items"]) == 6


def test_refusals_name_the_value(client, served):
    def detail(payload, status=422):
        r = client.post("/recommend", json=payload)
        assert r.status_code == status, r.text
        return r.json()["detail"]

    ex_u, ex_i = ", ".join(repr(x) for x in served.user_ids[:3]), ", ".join(repr(x) for x in served.item_ids[:3])
    assert detail({"user_id": "nobody"}, 404) == UNKNOWN_USER.format(user_id="nobody", n=80, examples=ex_u)
    assert detail({"user_id": served.user_ids[0], "exclude": ["zz"]}) == UNKNOWN_ITEM.format(
        item_id="zz", field="exclude", n=60, examples=ex_i)
    choices = "fair, prefix, calibrated, amortized"
    assert detail({"user_id": served.user_ids[0], "rerank": {"method": "magic"}}) == UNKNOWN_METHOD.format(
        method="magic", choices=choices)
    assert detail({"user_id": served.user_ids[0], "rerank": {"method": "ugf"}}) == NOT_PER_REQUEST.format(
        method="ugf", choices=choices)
    assert detail({"user_id": served.user_ids[0], "rerank": {"method": "prefix", "item_mask": [1]}}) == \
        UNKNOWN_RERANK_PARAM.format(key="item_mask", method="prefix", valid="target, item_groups")
    assert "lambda_" in detail({"user_id": served.user_ids[0], "rerank": {"method": "amortized", "lambda": 7}})
    assert detail({"history": ["1"]}).startswith(NO_NEW_USERS.format(model="bpr", models="")[:40])
    k_err = detail({"user_id": served.user_ids[0], "k": MAX_K + 1})
    assert k_err[0]["loc"] == ["body", "k"] and "less than or equal to 100" in k_err[0]["msg"]
    both = detail({"user_id": "1", "history": ["2"]})
    assert ONE_USER.format(given="user_id, history") in both[0]["msg"]
    assert detail({"user_id": 196})[0]["loc"] == ["body", "user_id"]  # raw ids are strings


def test_catalogue_routes(client, served):
    item = client.get(f"/items/{served.item_ids[2]}").json()
    assert item["item_id"] == served.item_ids[2] and item["interactions"] == int(served.popularity[2])
    assert set(item["groups"]) == {"popularity", "tiers"} and item["groups"]["popularity"] in ("head", "tail")
    assert client.get("/items/none").json() == {"detail": UNKNOWN_ITEM_ID.format(item_id="none")}
    user = client.get(f"/users/{served.user_ids[1]}").json()
    assert user["profile"]["gender"] in ("F", "M") and user["interactions"] == int(served.train.user_counts[1])
    assert client.get("/users/none").status_code == 404
    assert client.get("/audit").json() == {"detail": NO_AUDIT.format(name="bpr")}


def test_batch_is_bounded_and_names_the_failing_request(client, served):
    reqs = [{"user_id": u, "k": 3} for u in served.user_ids[:4]]
    out = client.post("/recommend/batch", json={"requests": reqs}).json()["results"]
    assert [r["user_id"] for r in out] == list(served.user_ids[:4])
    too_many = client.post("/recommend/batch", json={"requests": reqs * (MAX_BATCH // 4 + 1)})
    assert too_many.status_code == 422 and too_many.json()["detail"][0]["loc"] == ["body", "requests"]
    bad = client.post("/recommend/batch", json={"requests": [reqs[0], {"user_id": "nobody"}]})
    assert bad.status_code == 404 and bad.json()["detail"].startswith("requests[1]: Unknown user_id 'nobody'")


def test_token_required_everywhere_but_health(served):
    with TestClient(create_app(served, ServeSettings(api_key=KEY))) as c:
        assert c.get("/health").json() == {"status": "ok"}
        for method, path in [("get", "/ready"), ("get", "/metrics"), ("get", "/openapi.json"), ("get", "/docs"),
                             ("post", "/recommend"), ("post", "/admin/reload"), ("post", "/admin/exposure/reset")]:
            r = getattr(c, method)(path)
            assert r.status_code == 401 and r.json() == {"detail": MISSING_TOKEN}
            assert r.headers["www-authenticate"].startswith("Bearer")
        wrong = c.get("/ready", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and wrong.json() == {"detail": WRONG_TOKEN}
        assert c.get("/ready", headers={"Authorization": f"Basic {KEY}"}).status_code == 401
        assert c.get("/ready", headers=AUTH).json()["model"] == "bpr"


def test_oversized_bodies_rejected(served):
    with TestClient(create_app(served, ServeSettings(max_body_bytes=2000))) as c:
        big = {"user_id": served.user_ids[0], "exclude": ["x" * 100] * 30}
        r = c.post("/recommend", json=big)
        assert r.status_code == 413 and r.json() == {"detail": BODY_TOO_LARGE.format(limit=2000)}

        def chunks():  # no Content-Length: the limit is enforced while reading
            data = json.dumps(big).encode()
            for i in range(0, len(data), 500):
                yield data[i:i + 500]

        r = c.post("/recommend", content=chunks(), headers={"content-type": "application/json"})
        assert r.status_code == 413 and r.json() == {"detail": BODY_TOO_LARGE.format(limit=2000)}


def test_cells_are_validated_against_the_store(study_dir, bpr_run, tmp_path):
    from recfair.errors import RecfairError
    from recfair.study.rows import BAD_CELL_ID

    with pytest.raises(RecfairError) as exc:
        open_served(study_dir)
    assert str(exc.value) == CHOOSE_CELL.format(path=study_dir, n=2, ids="bpr0, pop0")
    for bad in ("../bpr0", "cells/bpr0", "/etc", "..", "bpr0/../pop0", ".hidden"):
        with pytest.raises(RecfairError) as exc:
            open_served(study_dir, bad)
        assert str(exc.value) == BAD_CELL_ID.format(value=bad)
    with pytest.raises(RecfairError) as exc:
        open_served(study_dir, "abc123")
    assert str(exc.value) == UNKNOWN_CELL.format(cell="abc123", path=study_dir, ids="bpr0, pop0")
    with pytest.raises(RecfairError) as exc:
        open_served(study_dir, "post0")
    assert str(exc.value) == NO_MODEL.format(cell="post0", mitigation="fair", parent="bpr0")
    with pytest.raises(RecfairError) as exc:
        open_served(bpr_run, "bpr0")
    assert str(exc.value) == NO_CELL_FOR_RUN.format(path=bpr_run)
    with pytest.raises(RecfairError) as exc:
        open_served(tmp_path)
    assert str(exc.value) == NOT_SERVABLE.format(path=tmp_path)


def test_study_cell_audit_and_reload(study_dir, served):
    from recfair.study.rows import BAD_CELL_ID

    cell = open_served(study_dir, "bpr0")
    assert cell.version == "bpr@bpr0"
    with TestClient(create_app(cell)) as c:
        audit = c.get("/audit").json()
        assert audit["name"] == "bpr0" and audit["tables"]["overall"][0] == {"metric": "ndcg@10", "value": 0.1}
        first = c.post("/recommend", json={"user_id": served.user_ids[0]}).json()
        r = c.post("/admin/reload", json={"cell": "../../etc"})
        assert r.status_code == 422 and r.json()["detail"] == BAD_CELL_ID.format(value="../../etc")
        assert c.post("/recommend", json={"user_id": served.user_ids[0]}).json() == first  # old model serves on
        assert c.post("/admin/reload", json={"cell": "pop0"}).json()["version"] == "popularity@pop0"
        assert c.post("/recommend", json={"user_id": served.user_ids[0]}).json()["model"] == "popularity@pop0"
        assert c.get("/audit").json()["tables"]["overall"][0]["value"] == pytest.approx(1.1)
        text = c.get("/metrics").text
        assert 'recfair_model_reloads_total{result="ok"} 1' in text
        assert 'recfair_model_reloads_total{result="failed"} 1' in text
        assert 'recfair_model_info{model="popularity",version="popularity@pop0",source="cell"} 1' in text
