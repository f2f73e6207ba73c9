"""Loaders on small fixture files: fixed attribute names, types, index order."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from recfair.data import fetch, load_atomic, load_csv, load_dataset, load_movielens, load_parquet
from recfair.data import loaders as L
from recfair.errors import DataError, RecfairError


def test_atomic_fixture_maps_recbole_fields(atomic_dir):
    ds = load_atomic(atomic_dir)
    assert ds.name == "toy"
    assert (ds.n_users, ds.n_items, ds.n_interactions) == (4, 3, 5)
    assert list(ds.user_ids) == ["1", "2", "3", "4"]  # user file order; user 4 has no interaction
    assert list(ds.item_ids) == ["10", "20", "30"]
    assert ds.user.tolist() == [0, 0, 1, 2, 1]
    assert ds.item.tolist() == [0, 1, 0, 2, 2]
    assert ds.rating.dtype == np.float32 and ds.rating.tolist() == [4, 3, 5, 2, 1]
    assert ds.timestamp.dtype == np.int64 and ds.timestamp.tolist() == [100, 200, 150, 120, 300]
    assert list(ds.users.columns) == ["age", "gender", "occupation", "zip_code"]
    assert ds.users["age"].dtype == np.int64 and ds.users["age"].tolist() == [24, 53, 33, 40]
    assert ds.users["zip_code"].tolist()[2] == "05201"  # tokens stay strings
    assert list(ds.items.columns) == ["title", "year", "genres"]
    assert ds.items["title"].tolist()[:2] == ["Toy Story", 'Lord of the Rings, The "Fellowship"']
    assert ds.items["year"].tolist()[:2] == [1995.0, 2001.0] and math.isnan(ds.items["year"].iloc[2])
    assert ds.items["genres"].tolist() == [("Animation", "Children's", "Comedy"), ("Fantasy",), ("unknown",)]
    assert ds.user_counts.tolist() == [2, 2, 1, 0]


def test_atomic_path_forms(atomic_dir, write):
    a = load_atomic(atomic_dir / "toy")
    b = load_atomic(atomic_dir / "toy.inter")
    c = load_dataset(atomic_dir)
    for other in (b, c):
        assert np.array_equal(a.user, other.user) and np.array_equal(a.item, other.item)
    write(atomic_dir / "other.inter", "user_id:token\titem_id:token\n1\t2\n")
    assert load_atomic(atomic_dir).name == "toy"  # the file named like the folder wins
    write(atomic_dir.parent / "two" / "a.inter", "user_id:token\titem_id:token\n1\t2\n")
    write(atomic_dir.parent / "two" / "b.inter", "user_id:token\titem_id:token\n1\t2\n")
    with pytest.raises(DataError, match="several .inter files"):
        load_atomic(atomic_dir.parent / "two")


def test_atomic_without_attribute_files(tmp_path, write):
    write(tmp_path / "x.inter", "user_id:token\titem_id:token\nu\ti\nv\ti\n")
    ds = load_atomic(tmp_path / "x")
    assert ds.rating is None and ds.timestamp is None
    assert list(ds.users.columns) == [] and len(ds.users) == 2


def test_movielens_100k_raw(ml100k_raw):
    ds = load_movielens(ml100k_raw)
    assert (ds.n_users, ds.n_items, ds.n_interactions) == (2, 2, 3)
    assert ds.users["age"].tolist() == [24, 53] and ds.users["gender"].tolist() == ["M", "F"]
    assert ds.items["title"].tolist() == ["Toy Story", "Café au lait"]  # latin-1 decoded, year stripped
    assert ds.items["year"].tolist() == [1995.0, 1996.0]  # release date, else the title's year
    assert ds.items["genres"].tolist() == [("Animation", "Children's", "Comedy"), ("Drama",)]
    assert ds.timestamp.tolist() == [881250949, 881250950, 881250951]


def test_movielens_1m_raw(ml1m_raw):
    ds = load_movielens(ml1m_raw)
    assert ds.name == "ml-1m"
    assert (ds.n_users, ds.n_items, ds.n_interactions) == (2, 2, 3)
    assert ds.users["gender"].tolist() == ["F", "M"]
    assert ds.users["age"].tolist() == [1, 56]
    assert ds.users["occupation"].tolist() == ["K-12 student", "self-employed"]
    assert ds.items["title"].tolist() == ["One Flew Over the Cuckoo's Nest", "Star Wars: Episode IV - A New Hope"]
    assert ds.items["year"].tolist() == [1975.0, 1977.0]
    assert ds.items["genres"].tolist() == [("Drama",), ("Action", "Adventure", "Sci-Fi")]
    assert ds.rating.tolist() == [5, 3, 4]


def test_movielens_latest_raw(mllatest_raw):
    ds = load_movielens(mllatest_raw)
    assert (ds.n_users, ds.n_items, ds.n_interactions) == (2, 2, 3)
    assert list(ds.users.columns) == []  # ml-latest has no user file
    assert ds.items["title"].tolist() == ["American President, The", "Some Short"]
    assert ds.items["year"].tolist() == [1995.0, 2015.0]
    assert ds.items["genres"].tolist() == [("Comedy", "Drama", "Romance"), ()]
    assert ds.rating.tolist() == [4.0, 4.5, 2.5]
    assert load_dataset(mllatest_raw).n_interactions == 3


def test_csv_with_mapping_and_attribute_files(tmp_path, write):
    inter = write(tmp_path / "r.csv", "uid,iid,score,when\na,x,1,2024-01-01T00:00:00\nb,x,2,2024-01-02T00:00:00\n")
    users = write(tmp_path / "u.csv", "uid,age,gender\nb,30,F\na,20,M\n")
    items = write(tmp_path / "i.csv", "iid,title,year,genres\nx,The X,1999,A|B\ny,Why,,\n")
    ds = load_csv(inter, user_col="uid", item_col="iid", rating_col="score", timestamp_col="when",
                  users_path=users, items_path=items)
    assert list(ds.user_ids) == ["b", "a"] and ds.user.tolist() == [1, 0]
    assert ds.timestamp.tolist() == [1704067200, 1704153600]  # ISO date-times → Unix seconds
    assert ds.users["age"].tolist() == [30, 20]
    assert ds.items["genres"].tolist() == [("A", "B"), ()]
    assert ds.items["year"].iloc[0] == 1999.0 and math.isnan(ds.items["year"].iloc[1])
    assert ds.n_items == 2 and ds.item_counts.tolist() == [2, 0]  # item y kept (cold item)


def test_parquet_equals_csv(tmp_path):
    df = pd.DataFrame({"user_id": ["1", "2", "2"], "item_id": ["a", "a", "b"], "rating": [1.0, 2.0, 3.0]})
    df.to_csv(tmp_path / "r.csv", index=False)
    df.to_parquet(tmp_path / "r.parquet")
    a = load_csv(tmp_path / "r.csv", rating_col="rating")
    b = load_parquet(tmp_path / "r.parquet", rating_col="rating")
    c = load_dataset(tmp_path / "r.parquet")  # columns sniffed
    for other in (b, c):
        assert np.array_equal(a.user, other.user) and np.array_equal(a.item, other.item)
        assert np.array_equal(a.rating, other.rating)


def test_load_dataset_sniffs_csv_columns(tmp_path, write):
    write(tmp_path / "r.tsv", "userId\tmovieId\trating\ttimestamp\n1\t2\t3.5\t10\n")
    ds = load_dataset(tmp_path / "r.tsv")
    assert ds.rating.tolist() == [3.5] and ds.timestamp.tolist() == [10]


def test_load_dataset_dispatch(ml100k_raw, ml1m_raw, mllatest_raw):
    assert load_dataset(ml100k_raw).n_interactions == 3
    assert load_dataset(str(ml1m_raw)).n_interactions == 3
    assert load_dataset("synthetic", n_users=20, n_items=10, n_interactions=50).n_interactions == 50


def test_load_dataset_errors(tmp_path, monkeypatch, write):
    monkeypatch.setenv("RECFAIR_DATA", str(tmp_path / "nothing"))
    with pytest.raises(RecfairError) as e:
        load_dataset("ml-100k")
    assert str(e.value) == fetch.ML100K_MISSING.format(path=fetch.ml100k_dir())
    with pytest.raises(RecfairError) as e:
        load_dataset("no-such-set")
    assert str(e.value) == L.UNKNOWN_DATASET.format(name="no-such-set", names="ml-100k, synthetic")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError) as e:
        load_dataset(tmp_path / "empty")
    assert e.value.detail == L.UNRECOGNISED_FOLDER
    write(tmp_path / "x.json", "{}")
    with pytest.raises(DataError) as e:
        load_dataset(tmp_path / "x.json")
    assert e.value.detail == L.UNRECOGNISED_FILE.format(suffix=".json")


def test_data_home_folder_by_name(tmp_path, monkeypatch, atomic_dir):
    monkeypatch.setenv("RECFAIR_DATA", str(atomic_dir.parent))
    monkeypatch.chdir(tmp_path.parent)
    assert load_dataset("toy").n_interactions == 5


ML100K_MISSING = f"ML-100K not in the data folder; run `{fetch.FETCH_ML100K}`"


def test_skip_reason_names_a_command_that_fetches(monkeypatch, tmp_path):
    from typer.testing import CliRunner

    from recfair.cli import app

    calls = []
    monkeypatch.setattr(fetch, "fetch_ml100k", lambda force=False: calls.append(force) or tmp_path)
    argv = fetch.FETCH_ML100K.split()
    assert argv[0] == "recfair" and fetch.FETCH_ML100K in ML100K_MISSING
    result = CliRunner().invoke(app, argv[1:])
    assert result.exit_code == 0, result.output
    assert calls == [False]


@pytest.mark.skipif(not fetch.have_ml100k(), reason=ML100K_MISSING)
def test_ml100k_real():
    ds = load_dataset("ml-100k")
    assert (ds.n_users, ds.n_items, ds.n_interactions) == (943, 1682, 100000)
    assert ds.name == "ml-100k"
    assert list(ds.users.columns[:3]) == ["age", "gender", "occupation"]
    assert ds.users["age"].dtype == np.int64 and set(ds.users["gender"]) == {"M", "F"}
    assert ds.items["title"].iloc[0] == "Toy Story" and ds.items["year"].iloc[0] == 1995.0
    assert ds.items["genres"].iloc[0] == ("Animation", "Children's", "Comedy")
    assert all(isinstance(g, tuple) for g in ds.items["genres"])
    assert ds.items["year"].isna().sum() == 2  # "unkonwn" and "V" in RecBole's file
    assert ds.rating.min() == 1 and ds.rating.max() == 5
    assert (ds.user_counts >= 20).all()  # ML-100K's documented minimum
    key = ds.user.astype(np.int64) * ds.n_items + ds.item
    assert len(np.unique(key)) == ds.n_interactions  # no duplicate pairs


def test_bom_and_datetime_parquet(tmp_path, write):
    p = write(tmp_path / "r.csv", "\ufeffuser_id,item_id\n1,2\n")
    assert load_csv(p).n_interactions == 1
    q = tmp_path / "t.parquet"
    pd.DataFrame({"user_id": [1, 2], "item_id": [3, 3],
                  "timestamp": pd.to_datetime(["1970-01-01 00:00:10", "2024-01-01 00:00:00"])}).to_parquet(q)
    ds = load_parquet(q, timestamp_col="timestamp")
    assert ds.timestamp.tolist() == [10, 1704067200] and list(ds.user_ids) == ["1", "2"]
