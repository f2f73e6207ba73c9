"""`recfair probe` end to end on small synthetic data (builtin and openai backends)."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from tests.helpers.generative import FakeServer

from recfair.cli import main

TINY = ["--param", "epochs=1", "--param", "embedding_size=16", "--param", "n_layers=1"]


def run(argv, capsys):
    code = 0
    try:
        main(argv)
    except SystemExit as e:
        code = e.code
    out = capsys.readouterr()
    return code, out.out, out.err


def test_probe_builtin_then_reuse_run(tmp_path, capsys):
    out = tmp_path / "p"
    code, stdout, err = run(["probe", "--backend", "builtin", "--dataset", "synthetic", "--groups", "gender,age",
                             "--k", "5", "--users", "20", "--out", str(out), *TINY], capsys)
    assert code == 0, err
    assert "SNSR" in stdout and "gender" in stdout
    att = pd.read_parquet(out / "attributes.parquet")
    assert set(att["attribute"]) == {"gender", "age"}
    assert set(att["measure"]) == {"jaccard", "serp_star", "serp_released", "prag_star"}
    assert ((att["snsr"] >= 0) & (att["snsv"] >= 0) & (att["snsv"] <= att["snsr"])).all()
    meta = json.loads((out / "probe.json").read_text())["meta"]
    assert meta["n_units"] == 20 and meta["backend"] == "builtin"
    assert (out / "run" / "run.json").is_file() and (out / "accuracy.csv").is_file()

    again = tmp_path / "q"  # the saved run gives the same numbers without training
    code, stdout, err = run(["probe", "--backend", "builtin", "--run", str(out / "run"), "--groups", "gender,age",
                             "--k", "5", "--users", "20", "--out", str(again)], capsys)
    assert code == 0, err
    assert "training" not in stdout
    pd.testing.assert_frame_equal(pd.read_parquet(again / "similarity.parquet"), pd.read_parquet(out / "similarity.parquet"))

    ranked = tmp_path / "r"
    code, _, err = run(["probe", "--backend", "run", "--run", str(out / "run"), "--groups", "gender",
                        "--k", "5", "--users", "10", "--out", str(ranked)], capsys)
    assert code == 0, err
    assert pd.read_parquet(ranked / "lists.parquet")["item"].between(0, 499).all()


def test_probe_openai_cached_rerun(tmp_path, capsys):
    server = FakeServer()
    try:
        args = ["probe", "--backend", "openai", "--base-url", server.url, "--model", "fake", "--dataset", "synthetic",
                "--groups", "gender", "--k", "4", "--users", "3", "--min-valid-rate", "0", "--out"]
        code, stdout, err = run([*args, str(tmp_path / "a")], capsys)
        assert code == 0, err
        n = server.requests
        meta = json.loads((tmp_path / "a" / "probe.json").read_text())["meta"]
        # true, neutral, F, M for three users; a user's true prompt equals one of F/M → served from the cache
        assert meta["model_calls"] + meta["cache_hits"] == 3 * 4 and meta["model_calls"] == n == 3 * 3
        assert "Generated output validity" in stdout
        code, _, err = run([*args, str(tmp_path / "b"), "--cache", str(tmp_path / "a" / "cache")], capsys)
        assert code == 0, err
        assert server.requests == n
        assert json.loads((tmp_path / "b" / "probe.json").read_text())["meta"]["model_calls"] == 0
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "a" / "attributes.parquet"),
                                      pd.read_parquet(tmp_path / "b" / "attributes.parquet"))
        before = server.requests
        code, stdout, err = run(["probe", "--backend", "openai", "--base-url", server.url, "--model", "fake",
                                 "--dataset", "synthetic", "--mode", "fairllm", "--names", "Agnès Varda,Jane Campion",
                                 "--groups", "gender,physics", "--k", "3", "--min-valid-rate", "0",
                                 "--out", str(tmp_path / "f")], capsys)
        assert code == 0, err
        assert server.requests - before == 2 * (1 + 4 + 2)  # neutral "a" + four genders + two physics, two names
        assert any(p.startswith("I am a female fan of Agnès Varda. Please provide me") for p in server.per_prompt)
        att = pd.read_parquet(tmp_path / "f" / "attributes.parquet")
        assert set(att["attribute"]) == {"gender", "physics"} and set(att["n_values"]) == {4, 2}
    finally:
        server.close()


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--backend", "nope"], "Unknown backend 'nope'. Choose one of: builtin, hf, openai, run."),
        (["--backend", "hf"], "--backend hf needs --model PATH"),
        (["--backend", "openai", "--model", "m"], "--backend openai needs --base-url URL and --model NAME."),
        (["--mode", "fairllm", "--backend", "openai", "--model", "m", "--base-url", "http://127.0.0.1:9/v1"],
         "--mode fairllm needs --names"),
        (["--groups", "shoe_size", "--param", "epochs=1"], "Unknown user attribute(s) shoe_size"),
        (["--users", "0"], "The 'users' parameter of probe must be a positive int. Got 0 instead."),
    ],
)
def test_bad_input_exits_2(tmp_path, capsys, extra, message):
    code, _, err = run(["probe", "--dataset", "synthetic", "--out", str(tmp_path / "x"), *extra], capsys)
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1
