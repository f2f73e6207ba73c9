"""The OpenAI-compatible backend against a fake server on 127.0.0.1 started by the test."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from tests.helpers.generative import TITLES, YEARS, FakeServer
from tests.helpers.lists import item_lists

from recfair.errors import RecfairError
from recfair.data.titles import TitleMatcher, normalize_title, parse_titles
from recfair.models.generative.openai import FATAL_STATUS, MISSING_KEY, OpenAIBackend


@pytest.fixture()
def server():
    s = FakeServer()
    yield s
    s.close()


def backend(server, **kw):
    opts = dict(timeout=0.4, max_retries=2, backoff=0.01, concurrency=3)
    opts.update(kw)
    return OpenAIBackend(server.url, "fake-model", TITLES, YEARS, **opts)


def test_matching_report(server):
    be = backend(server)
    recs, reps = be.generate_report(["FIXED please"], 5, seen=[[2]])
    lists = item_lists(recs)
    assert recs.users.tolist() == [0] and recs.scores[0, :3].tolist() == [5.0, 4.0, 3.0]
    rep = reps[0]
    assert rep.raw == ["The Usual Suspects (1995)", "Heat", "Nonexistent Movie", "heat (1995)", "Toy Story", "Jaws"]
    assert lists[0] == rep.items == [0, 1, 3]
    assert rep.hallucinated == ["Nonexistent Movie"]
    assert rep.duplicates == [1] and rep.already_seen == [2]
    assert rep.valid_rate == pytest.approx(5 / 6)
    assert be.calls == 1 and server.requests == 1


def test_completions_endpoint(server):
    be = backend(server, endpoint="completions")
    assert item_lists(be.generate(["FIXED"], 2)) == [[0, 1]]


def test_timeout_busy_and_malformed_are_retried(server):
    be = backend(server)
    recs, reps = be.generate_report(["SLOW a", "NOTJSON ONCE b", "BUSY c"], 3)
    lists = item_lists(recs)
    assert all(len(lst) == 3 and r.error is None for lst, r in zip(lists, reps))
    assert server.per_prompt["SLOW a"] == 2 and server.per_prompt["NOTJSON ONCE b"] == 2
    assert server.per_prompt["BUSY c"] == 2


def test_persistent_failures_are_reported_not_raised(server):
    be = backend(server, max_retries=1)
    recs, reps = be.generate_report(["NOTJSON always", "MISSING fields", "fine"], 3)
    lists = item_lists(recs)
    assert lists[0] == [] and "not JSON" in reps[0].error
    assert lists[1] == [] and "missing field" in reps[1].error
    assert reps[2].error is None and len(lists[2]) == 3
    assert server.per_prompt["NOTJSON always"] == 2  # first try + one retry


def test_api_key(server, monkeypatch):
    with pytest.raises(RecfairError) as e:
        backend(server, api_key_env="RECFAIR_TEST_KEY_UNSET")
    assert str(e.value) == MISSING_KEY.format(name="RECFAIR_TEST_KEY_UNSET")
    monkeypatch.setenv("RECFAIR_TEST_KEY", "wrong")
    with pytest.raises(RecfairError) as e:
        backend(server, api_key_env="RECFAIR_TEST_KEY").generate(["KEY"], 3)
    assert str(e.value).startswith(FATAL_STATUS.format(url=server.url + "/chat/completions", status=401, body="")[:40])
    monkeypatch.setenv("RECFAIR_TEST_KEY", "sekret")
    assert len(item_lists(backend(server, api_key_env="RECFAIR_TEST_KEY").generate(["KEY"], 3))[0]) == 3


def test_cache_makes_zero_calls(server, tmp_path):
    prompts = [f"user {i}" for i in range(6)]
    first = backend(server, cache_dir=tmp_path)
    a = item_lists(first.generate(prompts, 4))
    assert first.calls == 6 and server.requests == 6
    files = sorted(tmp_path.rglob("*.json"))
    assert len(files) == 6 and json.loads(files[0].read_text())["model"] == "fake-model"
    second = backend(server, cache_dir=tmp_path)
    assert item_lists(second.generate(prompts, 4)) == a
    assert second.calls == 0 and second.cache_hits == 6 and server.requests == 6
    changed = backend(server, cache_dir=tmp_path, temperature=0.7)  # other params → other key
    changed.generate(prompts[:1], 4)
    assert changed.calls == 1


def test_probe_rerun_from_cache_identical(server, tmp_path):
    from recfair.fairness.counterfactual import run_probe
    from recfair.fairness.probe_targets import PromptLister, fairllm_prompts

    names = ["Alfred Hitchcock", "Agnès Varda", "Steven Spielberg"]
    attrs = {"gender": ["a female", "a male"], "physics": ["fat", "thin"]}

    def probe():
        be = backend(server, cache_dir=tmp_path / "cache")
        res = run_probe(PromptLister(be, 5, fairllm_prompts(names, 5)), np.arange(3), attrs, k=5, grounded=False)
        return be, res

    be1, r1 = probe()
    n = server.requests
    assert be1.calls == n == 3 * (1 + 4)  # neutral + four values, three names
    be2, r2 = probe()
    assert be2.calls == 0 and server.requests == n
    for name in ("attributes", "similarity", "per_unit", "lists", "validity"):
        pd.testing.assert_frame_equal(getattr(r1, name), getattr(r2, name))
    v = r1.validity
    assert (v["hallucinated"] == 1.0).all()  # every reply invents "Made Up Film"
    assert v["valid_output_rate"].to_numpy() == pytest.approx(8 / 9)
    assert (r1.attributes["snsr"] >= 0).all()


def test_matcher_normalisation():
    assert normalize_title("Usual Suspects, The (1995)") == normalize_title("the usual suspects") == "usual suspects"
    assert normalize_title("Amélie") == "amelie"
    m = TitleMatcher(TITLES, YEARS, threshold=0.8)
    assert m.match("Casablanka") == 6 and m.match("Star Wars") is None
    assert parse_titles("Heat; Jaws | Fargo") == ["Heat", "Jaws", "Fargo"]
    with pytest.raises(RecfairError):
        TitleMatcher(TITLES, threshold=1.5)
