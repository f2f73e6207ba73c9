import subprocess
import sys

import pytest

from recfair.cli.train import BAD_PARAM_SYNTAX, parse_params
from recfair.errors import RecfairError


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "recfair", *args], capture_output=True, text=True, timeout=120)


def test_parse_params_types():
    from recfair.models.registry import get_model_class

    bpr = get_model_class("bpr")
    assert parse_params(["epochs=20", "reg=0.01", "item_bias=false", "embedding-size=8"], bpr) == {
        "epochs": 20, "reg": 0.01, "item_bias": False, "embedding_size": 8}
    with pytest.raises(RecfairError) as exc:
        parse_params(["epochs"], bpr)
    assert str(exc.value) == BAD_PARAM_SYNTAX.format(raw="epochs")


def test_models_params_prints_the_typed_parameters():
    res = run_cli("models", "--params", "bpr")
    assert res.returncode == 0, res.stderr
    for text in ("embedding_size", "a positive int", "4096", "a non-negative number", "maximum training epochs"):
        assert text in res.stdout


def test_a_misspelt_param_names_the_closest_key():
    from recfair.models.config import DID_YOU_MEAN

    res = run_cli("train", "bpr", "--dataset", "/nonexistent/path.csv", "--out", "x", "--param", "embeding_size=8")
    assert res.returncode == 2, res.stderr
    assert "Unknown parameter 'embeding_size' (= '8') for model 'bpr'." in res.stderr
    assert DID_YOU_MEAN.format(close="embedding_size") in res.stderr
    assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "bpr", "--bogus", "1"], "No such option: --bogus"),
        (["train", "bpr", "--out", "x", "--test-size", "abc"], "Invalid value for '--test-size'"),
        (["train", "nosuchmodel", "--out", "x", "--dataset", "/nonexistent/path.csv"], "Unknown model 'nosuchmodel'"),
        (["evaluate", "/nonexistent-run"], "is not a recfair run folder"),
    ],
)
def test_bad_input_exits_2_with_one_line(args, message):
    res = run_cli(*args)
    assert res.returncode == 2, res.stderr
    assert message in res.stderr
    assert "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_models_lists_registry():
    res = run_cli("models")
    assert res.returncode == 0
    for name in ("random", "popularity", "itemknn", "mf", "bpr"):
        assert name in res.stdout


@pytest.mark.parametrize("model, split, what", [("bpr", "cold-users", "users"), ("itemknn", "cold-items", "items")])
def test_classic_models_refuse_cold_splits_before_training(model, split, what):
    from recfair.cli.runs import COLD_SPLIT

    res = run_cli("train", model, "--split", split, "--out", "unused-run-dir")
    assert res.returncode == 2
    klass = {"bpr": "BPRRecommender", "itemknn": "ItemKNNRecommender"}[model]
    assert COLD_SPLIT.format(name=klass, what=what, models="").split(" Use one of")[0] in res.stderr


def test_data_fetch_reports_present_copy_and_rejects_unknown_names():
    from recfair.cli.data import UNKNOWN_FETCH
    from recfair.data.fetch import have_ml100k

    bad = run_cli("data", "fetch", "ml-zzz")
    assert bad.returncode == 2 and UNKNOWN_FETCH.format(name="ml-zzz") in bad.stderr
    if have_ml100k():  # set-up (make test) obtained it: fetching again downloads nothing
        ok = run_cli("data", "fetch", "ml-100k")
        assert ok.returncode == 0 and "already present" in ok.stdout
