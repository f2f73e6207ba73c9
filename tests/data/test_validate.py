"""Every malformed-input case: DataError naming file, line (1-based, header = 1), column and what was expected."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recfair.data import load_atomic, load_csv, load_movielens, load_parquet
from recfair.data import loaders as L
from recfair.data import movielens as M
from recfair.data import validate as V
from recfair.errors import DataError, RecfairError

HEADER = "user_id,item_id,rating,timestamp\n"


def load(path, **kw):
    return load_csv(path, rating_col="rating", timestamp_col="timestamp", **kw)


def check(exc: DataError, detail: str, path, line=None, column=None):
    assert exc.detail == detail
    assert exc.path == str(path) and exc.line == line and exc.column == column
    where = f"{path}:{line}: " if line is not None else f"{path}: "
    assert str(exc) == where + (f"column '{column}': " if column else "") + detail


def test_missing_column(tmp_path, write):
    p = write(tmp_path / "r.csv", "user_id,item_id,timestamp\n1,2,3\n")
    with pytest.raises(DataError) as e:
        load(p)
    expected = ["user_id", "item_id", "rating", "timestamp"]
    check(e.value, V.MISSING_COLUMN.format(column="rating", expected=expected,
                                           found=["user_id", "item_id", "timestamp"]), p, line=1)


@pytest.mark.parametrize(
    "value, detail",
    [
        ("abc", V.NOT_NUMERIC.format(expected="a numeric rating", value="abc")),
        ("nan", V.NOT_NUMERIC.format(expected="a numeric rating", value="nan")),
        ("inf", V.NOT_NUMERIC.format(expected="a numeric rating", value="inf")),
        ("", V.MISSING_VALUE.format(expected="a numeric rating")),
    ],
)
def test_bad_rating(tmp_path, write, value, detail):
    p = write(tmp_path / "r.csv", HEADER + "1,2,3,10\n1,3,4,11\n2,2," + value + ",12\n")
    with pytest.raises(DataError) as e:
        load(p)
    check(e.value, detail, p, line=4, column="rating")


def test_bad_timestamp(tmp_path, write):
    p = write(tmp_path / "r.csv", HEADER + "1,2,3,10\n1,3,4,yesterday\n")
    with pytest.raises(DataError) as e:
        load(p)
    check(e.value, V.NOT_NUMERIC.format(expected="a number or an ISO date-time", value="yesterday"), p,
          line=3, column="timestamp")


def test_missing_id(tmp_path, write):
    p = write(tmp_path / "r.csv", HEADER + "1,2,3,10\n,3,4,11\n")
    with pytest.raises(DataError) as e:
        load(p)
    check(e.value, V.MISSING_VALUE.format(expected="an id"), p, line=3, column="user_id")


def test_blank_lines_are_counted(tmp_path, write):
    p = write(tmp_path / "r.csv", HEADER + "1,2,3,10\n\n\n1,3,x,11\n")
    with pytest.raises(DataError) as e:
        load(p)
    assert e.value.line == 5


def test_duplicate_pairs_error_names_policy(tmp_path, write):
    p = write(tmp_path / "r.csv", HEADER + "1,2,3,10\n1,3,4,11\n1,2,5,12\n")
    with pytest.raises(DataError) as e:
        load(p)
    check(e.value, V.DUPLICATE_PAIR.format(user="1", item="2", first=2, policy="error"), p, line=4)
    assert "duplicates policy is 'error'" in str(e.value)


@pytest.mark.parametrize(
    "policy, pair_12, position",
    [
        ("first", (3.0, 10), 0),  # line 2
        ("last", (4.0, 9), 1),  # line 5: the last occurrence (kept rows: lines 3, 5, 6)
        ("mean", (4.0, 12), 0),  # mean of 3, 5, 4; latest timestamp; at the first occurrence's place
    ],
)
def test_duplicate_policies(tmp_path, write, policy, pair_12, position):
    # pair (1,2) on lines 2, 4 and 5 with ratings 3, 5, 4; pairs (1,3) and (2,2) once
    p = write(tmp_path / "r.csv", HEADER + "1,2,3,10\n1,3,4,11\n1,2,5,12\n1,2,4,9\n2,2,1,14\n")
    ds = load(p, duplicates=policy)
    pairs = list(zip(ds.user_ids[ds.user], ds.item_ids[ds.item]))
    got = {pr: (r, t) for pr, r, t in zip(pairs, ds.rating.tolist(), ds.timestamp.tolist())}
    assert got == {("1", "2"): pair_12, ("1", "3"): (4.0, 11), ("2", "2"): (1.0, 14)}
    assert pairs.index(("1", "2")) == position  # file order of the kept rows


def test_bad_policy_value(tmp_path, write):
    p = write(tmp_path / "r.csv", HEADER + "1,2,3,10\n")
    with pytest.raises(RecfairError, match="The 'duplicates' parameter of the loader must be one of"):
        load(p, duplicates="sum")


def test_empty_file(tmp_path, write):
    p = write(tmp_path / "r.csv", "")
    with pytest.raises(DataError) as e:
        load(p)
    check(e.value, V.EMPTY_FILE.format(what="a file of interactions"), p)


def test_header_only(tmp_path, write):
    p = write(tmp_path / "r.csv", HEADER)
    with pytest.raises(DataError) as e:
        load(p)
    check(e.value, V.NO_ROWS.format(what="interaction"), p)


def test_missing_file(tmp_path):
    with pytest.raises(DataError) as e:
        load(tmp_path / "nope.csv")
    check(e.value, V.FILE_MISSING.format(what="a file of interactions"), tmp_path / "nope.csv")


def test_wrong_delimiter_csv(tmp_path, write):
    p = write(tmp_path / "r.csv", "user_id;item_id;rating;timestamp\n1;2;3;4\n")
    with pytest.raises(DataError) as e:
        load(p)
    check(e.value, V.WRONG_DELIMITER.format(found="user_id;item_id;rating;timestamp", n=4, sep=",", other=";"),
          p, line=1)
    assert "expected delimiter ','" in str(e.value)


def test_wrong_delimiter_headerless_u_data(tmp_path, write):
    write(tmp_path / "u.data", "1,10,4,881250949\n")
    with pytest.raises(DataError) as e:
        load_movielens(tmp_path)
    check(e.value, V.WRONG_DELIMITER.format(found="1,10,4,881250949", n=4, sep="\t", other=","),
          tmp_path / "u.data", line=1)


def test_wrong_delimiter_atomic(tmp_path, write):
    p = write(tmp_path / "x.inter", "user_id:token,item_id:token\n1,2\n")
    with pytest.raises(DataError) as e:
        load_atomic(tmp_path / "x")
    check(e.value, V.WRONG_DELIMITER.format(found="user_id:token,item_id:token", n="several", sep="\t",
                                            other=","), p, line=1)


def test_wrong_delimiter_ml1m(tmp_path, write):
    p = write(tmp_path / "ratings.dat", "1::1193::5::978300760\n1:661:3:978302109\n")
    with pytest.raises(DataError) as e:
        load_movielens(tmp_path)
    check(e.value, M.BAD_DAT_FIELDS.format(found=4, n=4), p, line=2)
    p = write(tmp_path / "ratings.dat", "1\t1193\t5\t978300760\n")
    with pytest.raises(DataError) as e:
        load_movielens(tmp_path)
    check(e.value, V.WRONG_DELIMITER.format(found="1\t1193\t5\t978300760", n=7, sep="::", other="\t"), p, line=1)


def test_untyped_atomic_header(tmp_path, write):
    p = write(tmp_path / "x.inter", "user_id:token\titem_id\n1\t2\n")
    with pytest.raises(DataError) as e:
        load_atomic(tmp_path / "x")
    check(e.value, L.BAD_ATOMIC_HEADER.format(field="item_id"), p, line=1)


def test_unknown_ids(tmp_path, write):
    inter = write(tmp_path / "r.csv", HEADER + "1,a,3,10\n9,a,4,11\n2,b,4,12\n")
    users = write(tmp_path / "u.csv", "user_id,age\n1,20\n2,30\n")
    items = write(tmp_path / "i.csv", "item_id,title\na,A\n")
    with pytest.raises(DataError) as e:
        load(inter, users_path=users)
    check(e.value, V.UNKNOWN_ID.format(what="user", value="9", attr_path=users), inter, line=3)
    with pytest.raises(DataError) as e:
        load(inter, items_path=items)
    check(e.value, V.UNKNOWN_ID.format(what="item", value="b", attr_path=items), inter, line=4)
    dropped = load(inter, users_path=users, items_path=items, unknown_ids="drop")
    assert dropped.n_interactions == 1 and dropped.n_users == 2 and dropped.n_items == 1
    kept = load(inter, users_path=users, unknown_ids="keep")
    assert list(kept.user_ids) == ["1", "2", "9"] and pd.isna(kept.users["age"].iloc[2])


def test_duplicate_id_in_attribute_file(tmp_path, write):
    inter = write(tmp_path / "r.csv", HEADER + "1,a,3,10\n")
    users = write(tmp_path / "u.csv", "user_id,age\n1,20\n2,30\n1,40\n")
    with pytest.raises(DataError) as e:
        load(inter, users_path=users)
    check(e.value, V.DUPLICATE_ID.format(what="user", value="1", first=2), users, line=4)


def test_non_integer_age(tmp_path, write):
    inter = write(tmp_path / "r.csv", HEADER + "1,a,3,10\n")
    users = write(tmp_path / "u.csv", "user_id,age\n1,old\n")
    with pytest.raises(DataError) as e:
        load(inter, users_path=users)
    check(e.value, V.NOT_NUMERIC.format(expected="an integer", value="old"), users, line=2, column="age")


def test_ragged_line(tmp_path, write):
    p = write(tmp_path / "r.csv", HEADER + "1,2,3,10\n1,3,4,11,99\n")
    with pytest.raises(DataError) as e:
        load(p)
    assert e.value.detail.startswith(V.PARSE_FAILED.format(sep=",", detail="")[:-1])
    assert "line 3" in str(e.value)


def test_atomic_line_numbers(tmp_path, write):
    p = write(tmp_path / "x.inter", "user_id:token\titem_id:token\trating:float\n1\t2\t3\n1\t3\tbad\n")
    with pytest.raises(DataError) as e:
        load_atomic(tmp_path / "x")
    check(e.value, V.NOT_NUMERIC.format(expected="a numeric rating", value="bad"), p, line=3,
          column="rating:float")


def test_parquet_problems(tmp_path):
    p = tmp_path / "r.parquet"
    pd.DataFrame({"user_id": ["1"], "item": ["2"]}).to_parquet(p)
    with pytest.raises(DataError) as e:
        load_parquet(p)
    check(e.value, V.MISSING_COLUMN.format(column="item_id", expected=["user_id", "item_id"],
                                           found=["user_id", "item"]), p)
    pd.DataFrame({"user_id": ["1", "2"], "item_id": ["2", "2"], "rating": [1.0, np.nan]}).to_parquet(p)
    with pytest.raises(DataError) as e:
        load_parquet(p, rating_col="rating")
    check(e.value, V.MISSING_VALUE.format(expected="a numeric rating"), p, line=2, column="rating")


def test_bad_encoding(tmp_path, write):
    p = write(tmp_path / "r.csv", HEADER + "1,Caf\xe9,3,10\n", encoding="latin-1")
    with pytest.raises(DataError) as e:
        load(p)
    assert e.value.detail.startswith("could not be decoded as utf-8")
