"""MovieLens raw formats: ml-100k, ml-1m and ml-latest(-small).

All three map onto recfair's fixed attribute names: users ``age`` (int),
``gender``, ``occupation``, ``zip_code``; items ``title`` (the name without the
trailing ``"(1995)"``), ``year`` (float, NaN when unknown) and ``genres``
(tuple of str).  ml-latest has no user file.  ML-1M ``age`` is the data set's
age-bucket code (1, 18, 25, 35, 45, 50, 56: the bucket's lower bound, 1 = under
18) and ``occupation`` its code mapped to the README's names.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd

from recfair.data import validate as V
from recfair.data.dataset import Dataset
from recfair.data.build import assemble, attribute_frame
from recfair.errors import DataError

MOVIELENS_MARKERS = ("u.data", "ratings.dat", "ratings.csv")

NOT_MOVIELENS = "no MovieLens files here; expected u.data (ml-100k), ratings.dat (ml-1m) or ratings.csv (ml-latest)"
BAD_DAT_FIELDS = "found {found} field(s) separated by '::', expected {n}"

#: The rating scale each MovieLens format declares (used unless ``rating_scale`` is given).
MOVIELENS_RATING_SCALES = {"ml-100k": (1.0, 5.0), "ml-1m": (1.0, 5.0), "ml-latest": (0.5, 5.0)}

ML100K_GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
)

ML1M_OCCUPATIONS = (
    "other", "academic/educator", "artist", "clerical/admin", "college/grad student", "customer service",
    "doctor/health care", "executive/managerial", "farmer", "homemaker", "K-12 student", "lawyer",
    "programmer", "retired", "sales/marketing", "scientist", "self-employed", "technician/engineer",
    "tradesman/craftsman", "unemployed", "writer",
)

_TITLE_YEAR = r"^(?P<name>.*?)\s*\((?P<year>\d{4})(?:[-–]\d{0,4})?\)\s*$"


def split_title_year(titles: pd.Series) -> tuple[pd.Series, pd.Series]:
    """``"Toy Story (1995)"`` → (``"Toy Story"``, ``1995.0``); no year → (whole title, NaN)."""
    t = titles.fillna("").astype(str)
    parts = t.str.extract(_TITLE_YEAR)
    name = parts["name"].where(parts["name"].notna(), t.str.strip())
    year = pd.to_numeric(parts["year"], errors="coerce").astype(np.float64)
    return name.astype(object), year


def _dat(path: Path, names: list[str], what: str) -> pd.DataFrame:
    """A ``::``-separated ML-1M file read with the C parser (``:`` and every other field skipped)."""
    fields = []
    for n in names:
        fields += [n, f"_sep{len(fields)}"]
    fields = fields[:-1]
    df = V.read_delimited(path, sep=":", header=False, columns=fields, str_columns=names, encoding="latin-1",
                          quoting=csv.QUOTE_NONE, what=what, sep_label="::")
    k = len(fields)
    filler = df.iloc[:, 1:k:2].notna().to_numpy().any(axis=1)
    extra = df.iloc[:, k:].notna().to_numpy().any(axis=1) if df.shape[1] > k else np.zeros(len(df), bool)
    bad = filler | extra
    if bad.any():
        pos = int(np.argmax(bad))
        found = int(df.iloc[pos].notna().sum())
        raise DataError(BAD_DAT_FIELDS.format(found=found, n=len(names)), path=str(path), line=int(df.index[pos]))
    df = df.iloc[:, :k]
    df = df.iloc[:, 0::2]
    df.columns = names
    return df


def _movies_dat(path: Path) -> pd.DataFrame:
    """ML-1M ``movies.dat`` (titles may hold ``:``, so it is split on ``::`` in Python; ~4k lines)."""
    if not path.is_file():
        raise DataError(V.FILE_MISSING.format(what="a file of items"), path=str(path))
    rows, lines = [], []
    with open(path, encoding="latin-1") as fh:
        for ln, line in enumerate(fh, 1):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            parts = line.split("::")
            if len(parts) != 3:
                raise DataError(BAD_DAT_FIELDS.format(found=len(parts), n=3), path=str(path), line=ln)
            rows.append(parts)
            lines.append(ln)
    if not rows:
        raise DataError(V.EMPTY_FILE.format(what="a file of items"), path=str(path))
    return pd.DataFrame(rows, columns=["item_id", "title", "genres"], index=pd.Index(lines))


def _load_ml100k(folder: Path, **kw) -> Dataset:
    inter = V.read_delimited(folder / "u.data", sep="\t", header=False,
                             columns=["user_id", "item_id", "rating", "timestamp"],
                             str_columns=["user_id", "item_id"], quoting=csv.QUOTE_NONE)
    inter.columns = ["user_id", "item_id", "rating", "timestamp"] + list(inter.columns[4:])
    users = items = None
    upath, ipath = folder / "u.user", folder / "u.item"
    if upath.is_file():
        cols = ["user_id", "age", "gender", "occupation", "zip_code"]
        udf = V.read_delimited(upath, sep="|", header=False, columns=cols, str_columns=["user_id", "zip_code"],
                               quoting=csv.QUOTE_NONE, what="user")
        udf = udf.iloc[:, :5]
        udf.columns = cols
        users = attribute_frame(udf, "user_id", upath, "user")
    if ipath.is_file():
        cols = ["item_id", "title", "release_date", "video_date", "url", *ML100K_GENRES]
        idf = V.read_delimited(ipath, sep="|", header=False, columns=cols, str_columns=["item_id"],
                               encoding="latin-1", quoting=csv.QUOTE_NONE, what="item")
        idf = idf.iloc[:, : len(cols)]
        idf.columns = cols
        flags = idf[list(ML100K_GENRES)].apply(pd.to_numeric, errors="coerce").fillna(0).to_numpy() > 0
        names = np.array(ML100K_GENRES)
        title, title_year = split_title_year(idf["title"])
        date_year = pd.to_numeric(idf["release_date"].astype(str).str[-4:], errors="coerce")
        frame = pd.DataFrame(
            {
                "item_id": idf["item_id"],
                "title": title,
                "year": date_year.where(date_year.notna(), title_year),
                "genres": ["|".join(names[row]) for row in flags],
            },
            index=idf.index,
        )
        items = attribute_frame(frame, "item_id", ipath, "item")
    return assemble(inter, folder / "u.data", user_col="user_id", item_col="item_id", rating_col="rating",
                    timestamp_col="timestamp", users=users, users_path=upath, items=items, items_path=ipath,
                    **kw)


def _load_ml1m(folder: Path, **kw) -> Dataset:
    inter = _dat(folder / "ratings.dat", ["user_id", "item_id", "rating", "timestamp"], "interaction")
    users = items = None
    upath, ipath = folder / "users.dat", folder / "movies.dat"
    if upath.is_file():
        udf = _dat(upath, ["user_id", "gender", "age", "occupation", "zip_code"], "user")
        code = pd.to_numeric(udf["occupation"], errors="coerce")
        known = code.between(0, len(ML1M_OCCUPATIONS) - 1)
        udf["occupation"] = [ML1M_OCCUPATIONS[int(c)] if k else str(o)
                             for c, k, o in zip(code.fillna(0), known, udf["occupation"])]
        users = attribute_frame(udf[["user_id", "age", "gender", "occupation", "zip_code"]], "user_id", upath, "user")
    if ipath.is_file():
        mdf = _movies_dat(ipath)
        mdf["title"], mdf["year"] = split_title_year(mdf["title"])
        items = attribute_frame(mdf[["item_id", "title", "year", "genres"]], "item_id", ipath, "item")
    return assemble(inter, folder / "ratings.dat", user_col="user_id", item_col="item_id", rating_col="rating",
                    timestamp_col="timestamp", users=users, users_path=upath, items=items, items_path=ipath, **kw)


def _load_latest(folder: Path, **kw) -> Dataset:
    cols = ["userId", "movieId", "rating", "timestamp"]
    inter = V.read_delimited(folder / "ratings.csv", sep=",", header=True, required=cols,
                             str_columns=["userId", "movieId"])
    items = None
    ipath = folder / "movies.csv"
    if ipath.is_file():
        mdf = V.read_delimited(ipath, sep=",", header=True, required=["movieId", "title", "genres"],
                               str_columns=["movieId", "title", "genres"], what="item")
        title, year = split_title_year(mdf["title"])
        frame = pd.DataFrame({"movieId": mdf["movieId"], "title": title, "year": year, "genres": mdf["genres"]},
                             index=mdf.index)
        items = attribute_frame(frame, "movieId", ipath, "item")
    return assemble(inter, folder / "ratings.csv", user_col="userId", item_col="movieId", rating_col="rating",
                    timestamp_col="timestamp", items=items, items_path=ipath, **kw)


def load_movielens(
    folder: str | Path,
    *,
    name: str | None = None,
    duplicates: str = "error",
    unknown_ids: str = "error",
    rating_scale: tuple[float, float] | str | None = None,
) -> Dataset:
    """Load a MovieLens folder in its raw format, detected from the files present.

    ``u.data`` (+ ``u.user``, ``u.item``) → ml-100k; ``ratings.dat``
    (+ ``users.dat``, ``movies.dat``) → ml-1m; ``ratings.csv`` (+ ``movies.csv``)
    → ml-latest / ml-latest-small.  ``duplicates`` and ``unknown_ids`` are the
    policies of :func:`recfair.data.loaders.load_atomic`.  ``rating_scale``
    defaults to the format's own (:data:`MOVIELENS_RATING_SCALES`: 1–5 stars, or
    0.5–5 in half stars for ml-latest); a rating outside it is an error naming
    file, line and value.

    Examples
    --------
    >>> ds = load_movielens("~/data/ml-1m")  # doctest: +SKIP
    """
    folder = Path(folder).expanduser()
    kw = dict(name=name or folder.name, duplicates=duplicates, unknown_ids=unknown_ids)
    for marker, fmt, loader in (("u.data", "ml-100k", _load_ml100k), ("ratings.dat", "ml-1m", _load_ml1m),
                                ("ratings.csv", "ml-latest", _load_latest)):
        if (folder / marker).is_file():
            scale = MOVIELENS_RATING_SCALES[fmt] if rating_scale is None else rating_scale
            return loader(folder, rating_scale=scale, **kw)
    raise DataError(NOT_MOVIELENS, path=str(folder))
