"""The declared rating scale: parsing, checks on load (file, line, value, scale), splits, fingerprint."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from recfair.data import Dataset, fingerprint, load_atomic, load_csv, load_dataset, load_movielens, make_split
from recfair.data import dataset as D
from recfair.data import loaders as L
from recfair.data import movielens as M
from recfair.data import validate as V
from recfair.data.fetch import have_ml100k
from recfair.errors import DataError
from tests.helpers.cli import run_cli


@pytest.mark.parametrize("text, expected", [("1,5", (1.0, 5.0)), ((0.5, 5), (0.5, 5.0)), ([1, 10], (1.0, 10.0))])
def test_rating_scale_of_accepts_pairs(text, expected):
    assert D.rating_scale_of(text) == expected


@pytest.mark.parametrize("bad", ["5,1", "1,1", "x", "1,5,7", "1", "nan,5", "1,inf", None, (1,)])
def test_rating_scale_of_refuses(bad):
    with pytest.raises(DataError) as e:
        D.rating_scale_of(bad)
    assert str(e.value) == D.BAD_RATING_SCALE.format(value=bad)


def test_csv_rating_outside_scale_names_file_line_value_and_scale(tmp_path, write):
    path = write(tmp_path / "r.csv", "user,item,rating\na,x,3\nb,x,7\nc,y,0\n")
    with pytest.raises(DataError) as e:
        load_csv(path, user_col="user", item_col="item", rating_col="rating", rating_scale="1,5")
    err = e.value
    assert err.detail == V.RATING_OUT_OF_SCALE.format(value="7", lo=1.0, hi=5.0)
    assert (err.path, err.line, err.column) == (str(path), 3, "rating")
    assert str(err).startswith(f"{path}:3: column 'rating': rating 7 is outside the declared rating scale [1, 5]")


def test_csv_inside_scale_loads_and_keeps_scale(tmp_path, write):
    path = write(tmp_path / "r.csv", "user,item,rating\na,x,1\nb,x,5\n")
    ds = load_csv(path, user_col="user", item_col="item", rating_col="rating", rating_scale=(1, 5))
    assert ds.rating_scale == (1.0, 5.0)
    assert ds.summary()["rating_scale"] == [1.0, 5.0]
    assert load_csv(path, user_col="user", item_col="item", rating_col="rating").rating_scale is None


def test_scale_without_rating_column_is_an_error(tmp_path, write):
    path = write(tmp_path / "r.csv", "user,item\na,x\n")
    with pytest.raises(DataError) as e:
        load_csv(path, user_col="user", item_col="item", rating_scale="1,5")
    assert e.value.detail == V.SCALE_WITHOUT_RATINGS.format(lo=1.0, hi=5.0)


def test_atomic_rating_outside_scale(tmp_path, write):
    write(tmp_path / "x.inter", "user_id:token\titem_id:token\trating:float\nu\ti\t4\nv\ti\t5.5\n")
    with pytest.raises(DataError) as e:
        load_atomic(tmp_path / "x", rating_scale=(1, 5))
    assert e.value.detail == V.RATING_OUT_OF_SCALE.format(value="5.5", lo=1.0, hi=5.0)
    assert e.value.line == 3


def test_movielens_formats_declare_their_scale(ml100k_raw, mllatest_raw):
    assert load_movielens(ml100k_raw).rating_scale == M.MOVIELENS_RATING_SCALES["ml-100k"] == (1.0, 5.0)
    assert load_movielens(mllatest_raw).rating_scale == (0.5, 5.0)
    with pytest.raises(DataError) as e:
        load_movielens(mllatest_raw, rating_scale=(3, 5))
    assert e.value.detail == V.RATING_OUT_OF_SCALE.format(value="2.5", lo=3.0, hi=5.0)


def test_dataset_refuses_rating_outside_scale_without_a_file():
    df = pd.DataFrame({"user": ["a", "b"], "item": ["x", "y"], "rating": [2.0, 9.0]})
    with pytest.raises(DataError) as e:
        Dataset.from_frame(df, rating_scale=(1, 5))
    assert str(e.value) == D.RATING_OUTSIDE_SCALE.format(value=9.0, index=1, lo=1.0, hi=5.0)


def test_scale_is_carried_into_subsets_and_splits_and_not_fingerprinted():
    rng = np.random.default_rng(0)
    n = 200
    df = pd.DataFrame({"user": rng.integers(0, 20, n).astype(str), "item": rng.integers(0, 30, n).astype(str),
                       "rating": rng.integers(1, 6, n).astype(float), "timestamp": np.arange(n)})
    df = df.drop_duplicates(["user", "item"])
    plain = Dataset.from_frame(df)
    scaled = Dataset.from_frame(df, rating_scale="1,5")
    assert fingerprint(plain) == fingerprint(scaled)
    sp = make_split(scaled, "random", test_size=0.2, seed=0)
    assert sp.train.rating_scale == sp.test.rating_scale == (1.0, 5.0)
    assert scaled.subset(np.arange(3)).rating_scale == (1.0, 5.0)


@pytest.mark.skipif(not have_ml100k(), reason="ML-100K not fetched")
def test_ml100k_declares_one_to_five():
    ds = load_dataset("ml-100k")
    assert ds.rating_scale == L.ML100K_RATING_SCALE == (1.0, 5.0)
    with pytest.raises(DataError) as e:
        load_dataset("ml-100k", rating_scale="2,5")
    assert e.value.detail == V.RATING_OUT_OF_SCALE.format(value="1", lo=2.0, hi=5.0)


@pytest.mark.skipif(not have_ml100k(), reason="ML-100K not fetched")
def test_cli_rating_scale_option(capsys):
    code, out, _ = run_cli(capsys, "data", "info", "ml-100k", "--json", "--rating-scale", "1,5")
    assert code == 0 and json.loads(out)["rating_scale"] == [1.0, 5.0]
    for scale, message in (("5,1", D.BAD_RATING_SCALE.format(value="5,1")),
                           ("2,5", V.RATING_OUT_OF_SCALE.format(value="1", lo=2.0, hi=5.0))):
        code, _, err = run_cli(capsys, "data", "info", "ml-100k", "--rating-scale", scale)
        assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
        assert message in err
