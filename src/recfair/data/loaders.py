"""Loaders: RecBole atomic files, generic CSV / Parquet, and :func:`load_dataset`.

Every loader returns a :class:`~recfair.data.dataset.Dataset` with the fixed
attribute column names: users ``age`` (int), ``gender``, ``occupation`` (plus any
others, e.g. ``zip_code``); items ``title`` (str), ``year`` (float, NaN when
unknown), ``genres`` (tuple of str).  The MovieLens raw formats live in
:mod:`recfair.data.movielens`.  Malformed input raises
:class:`~recfair.errors.DataError` naming file, line and column (see
:mod:`recfair.data.validate`).

Index order: users / items in their attribute file first (file order), then any
others in order of first appearance in the interactions.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from recfair.data import validate as V
from recfair.data.build import assemble, attribute_frame
from recfair.data.dataset import Dataset
from recfair.errors import DataError, RecfairError

BUILTIN_DATASETS = ("ml-100k", "synthetic")
#: The rating scale the built-in ml-100k declares (whole stars 1–5).
ML100K_RATING_SCALE = (1.0, 5.0)

UNKNOWN_DATASET = (
    "unknown data set {name!r}: not a built-in name ({names}) and no such file or folder; expected a "
    "built-in name or a path to a RecBole atomic folder, a MovieLens folder, or a .csv/.tsv/.parquet file"
)
BAD_SYNTHETIC_OPTION = "option {option!r} does not apply to the synthetic data set; it takes: {allowed}"
UNRECOGNISED_FOLDER = (
    "no recognised data files in this folder; expected RecBole atomic files (*.inter), "
    "ml-100k (u.data), ml-1m (ratings.dat) or ml-latest (ratings.csv)"
)
UNRECOGNISED_FILE = "unrecognised file type {suffix!r}; expected .csv, .tsv, .parquet or a RecBole .inter file"
BAD_ATOMIC_HEADER = (
    "header field {field!r} has no type; expected tab-separated typed fields such as 'user_id:token'"
)
AMBIGUOUS_ATOMIC = "several .inter files ({files}); pass the path prefix of one, e.g. {example}"

# RecBole field names → recfair's fixed attribute names.
ATOMIC_RENAMES = {
    "movie_title": "title",
    "release_year": "year",
    "class": "genres",
    "genre": "genres",
}
_ATOMIC_TYPES = ("token", "token_seq", "float", "float_seq")

# Column names tried, in order, when a CSV / Parquet file is sniffed without a mapping.
SNIFF_COLUMNS = {
    "user_col": ("user_id", "user", "userId", "userID", "uid"),
    "item_col": ("item_id", "item", "movieId", "movie_id", "itemId", "iid"),
    "rating_col": ("rating", "score", "ratings"),
    "timestamp_col": ("timestamp", "time", "ts", "datetime", "date"),
}


# -------------------------------------------------------------------- atomic
def _atomic_header(path: Path, encoding: str) -> dict[str, tuple[str, str]]:
    """Map base field name → (header text, type) from an atomic file's first line."""
    if not path.is_file():
        raise DataError(V.FILE_MISSING.format(what="a RecBole atomic file"), path=str(path))
    with open(path, encoding=encoding, errors="replace") as fh:
        first = fh.readline().rstrip("\r\n")
    if not first.strip():
        raise DataError(V.EMPTY_FILE.format(what="a typed header such as 'user_id:token'"), path=str(path))
    fields = first.split("\t")
    out = {}
    for f in fields:
        base, _, typ = f.partition(":")
        if not typ or typ not in _ATOMIC_TYPES:
            other = V._guess_delimiter(first, "\t") if len(fields) == 1 else None
            if other is not None and other != ":":
                msg = V.WRONG_DELIMITER.format(found=first[:60], n="several", sep="\t", other=other)
            else:
                msg = BAD_ATOMIC_HEADER.format(field=f)
            raise DataError(msg, path=str(path), line=1)
        out[base] = (f, typ)
    return out


def _read_atomic(path: Path, required: Sequence[str], what: str, encoding: str):
    header = _atomic_header(path, encoding)
    missing = [r for r in required if r not in header]
    if missing:
        msg = V.MISSING_COLUMN.format(column=missing[0], expected=list(required), found=list(header))
        raise DataError(msg, path=str(path), line=1)
    str_cols = [h for h, t in header.values() if t in ("token", "token_seq")]
    df = V.read_delimited(
        path, sep="\t", header=True, required=[header[r][0] for r in required], str_columns=str_cols,
        encoding=encoding, quoting=csv.QUOTE_NONE, what=what,
    )
    return df, header


def load_atomic(
    folder_or_prefix: str | Path,
    name: str | None = None,
    *,
    duplicates: str = "error",
    unknown_ids: str = "error",
    encoding: str = "utf-8",
    rating_scale: tuple[float, float] | str | None = None,
) -> Dataset:
    """Load RecBole atomic files ``<prefix>.inter`` (+ optional ``.user``, ``.item``).

    Parameters
    ----------
    folder_or_prefix:
        A folder holding one ``*.inter`` file, a path prefix such as
        ``data/ml-100k/ml-100k``, or the path of any of the three files.
    name:
        Data set label; defaults to the file prefix's name.
    duplicates:
        Policy for repeated (user, item) pairs: ``"error"`` (default),
        ``"first"``, ``"last"`` or ``"mean"`` (mean rating, latest timestamp).
    unknown_ids:
        Interactions whose user / item has no row in the ``.user`` / ``.item``
        file: ``"error"`` (default), ``"drop"`` or ``"keep"``.
    rating_scale:
        ``(min, max)`` (or ``"min,max"``) the ratings must lie in; a rating
        outside it is an error naming file, line and value.  ``None``: not checked
        (the built-in ``ml-100k`` declares ``(1, 5)``).

    Fields ``user_id``, ``item_id`` are required; ``rating``, ``timestamp``
    optional.  RecBole's ``movie_title`` → ``title`` (kept whole),
    ``release_year`` → ``year``, ``class`` / ``genre`` → ``genres`` (tuple, split
    on spaces); other ``token_seq`` fields become tuples too.

    Examples
    --------
    >>> from recfair.data.fetch import ml100k_dir
    >>> ds = load_atomic(ml100k_dir())  # doctest: +SKIP
    >>> ds.n_users, ds.n_items, ds.n_interactions  # doctest: +SKIP
    (943, 1682, 100000)
    """
    p = Path(folder_or_prefix).expanduser()
    if p.is_dir():
        inters = sorted(p.glob("*.inter"))
        if not inters:
            raise DataError(V.FILE_MISSING.format(what="a RecBole .inter file"), path=str(p / "*.inter"))
        match = [f for f in inters if f.stem == p.name]
        if len(inters) > 1 and not match:
            raise DataError(AMBIGUOUS_ATOMIC.format(files=[f.name for f in inters], example=inters[0].with_suffix("")),
                            path=str(p))
        prefix = str((match or inters)[0].with_suffix(""))
    elif p.suffix in (".inter", ".user", ".item"):
        prefix = str(p.with_suffix(""))
    else:
        prefix = str(p)
    inter_path, user_path, item_path = (Path(prefix + s) for s in (".inter", ".user", ".item"))
    df, header = _read_atomic(inter_path, ("user_id", "item_id"), "interaction", encoding)

    users = items = None
    if user_path.is_file():
        udf, uh = _read_atomic(user_path, ("user_id",), "user", encoding)
        udf.columns = [c.partition(":")[0] for c in udf.columns]
        seq = [b for b, (_, t) in uh.items() if t == "token_seq"]
        users = attribute_frame(udf, "user_id", user_path, "user", seq_columns=seq)
    if item_path.is_file():
        idf, ih = _read_atomic(item_path, ("item_id",), "item", encoding)
        idf.columns = [c.partition(":")[0] for c in idf.columns]
        seq = [b for b, (_, t) in ih.items() if t == "token_seq"]
        items = attribute_frame(idf, "item_id", item_path, "item", renames=ATOMIC_RENAMES, seq_columns=seq)

    get = lambda base: header[base][0] if base in header else None  # noqa: E731
    return assemble(
        df, inter_path,
        user_col=get("user_id"), item_col=get("item_id"), rating_col=get("rating"), timestamp_col=get("timestamp"),
        users=users, users_path=user_path, items=items, items_path=item_path,
        duplicates=duplicates, unknown_ids=unknown_ids, name=name or Path(prefix).name, rating_scale=rating_scale,
    )


# --------------------------------------------------------------- CSV/Parquet
def _read_table(path: Path, *, sep: str, required: Sequence[str], str_columns: Sequence[str], what: str,
                encoding: str) -> pd.DataFrame:
    if path.suffix.lower() in (".parquet", ".pq"):
        if not path.is_file():
            raise DataError(V.FILE_MISSING.format(what=f"a Parquet file of {what}s"), path=str(path))
        try:
            df = pd.read_parquet(path)
        except Exception as exc:  # pyarrow raises several types for corrupt files
            raise DataError(f"could not be read as Parquet: {exc}", path=str(path)) from exc
        df.columns = [str(c) for c in df.columns]
        missing = [c for c in required if c not in df.columns]
        if missing:
            raise DataError(V.MISSING_COLUMN.format(column=missing[0], expected=list(required), found=list(df.columns)),
                            path=str(path))
        if len(df) == 0:
            raise DataError(V.NO_ROWS.format(what=what), path=str(path))
        df.index = pd.RangeIndex(1, len(df) + 1)
        return df
    return V.read_delimited(path, sep=sep, header=True, required=required, str_columns=str_columns,
                            encoding=encoding, what=what)


def load_csv(
    path: str | Path,
    *,
    user_col: str = "user_id",
    item_col: str = "item_id",
    rating_col: str | None = None,
    timestamp_col: str | None = None,
    sep: str = ",",
    users_path: str | Path | None = None,
    items_path: str | Path | None = None,
    genres_sep: str = "|",
    duplicates: str = "error",
    unknown_ids: str = "error",
    encoding: str = "utf-8",
    name: str | None = None,
    rating_scale: tuple[float, float] | str | None = None,
) -> Dataset:
    """Load interactions from a delimited file with a header, mapping columns by name.

    ``users_path`` / ``items_path`` are optional attribute files (same
    delimiter, or Parquet by suffix) whose id column is named like
    ``user_col`` / ``item_col``; their other columns become attributes
    (``age`` → int, ``year`` → float, ``genres`` split on ``genres_sep``).
    Timestamps may be numbers or ISO date-times (stored as Unix seconds).
    ``rating_scale`` is the ``(min, max)`` the ratings must lie in (see
    :func:`load_atomic`).

    Examples
    --------
    >>> ds = load_csv("ratings.csv", user_col="userId", item_col="movieId",
    ...               rating_col="rating", timestamp_col="timestamp")  # doctest: +SKIP
    """
    path = Path(path).expanduser()
    required = [c for c in (user_col, item_col, rating_col, timestamp_col) if c is not None]
    df = _read_table(path, sep=sep, required=required, str_columns=(user_col, item_col), what="interaction",
                     encoding=encoding)
    users = items = None
    if users_path is not None:
        users_path = Path(users_path).expanduser()
        udf = _read_table(users_path, sep=sep, required=[user_col], str_columns=[user_col], what="user",
                          encoding=encoding)
        users = attribute_frame(udf, user_col, users_path, "user", genres_sep=genres_sep)
    if items_path is not None:
        items_path = Path(items_path).expanduser()
        idf = _read_table(items_path, sep=sep, required=[item_col], str_columns=[item_col], what="item",
                          encoding=encoding)
        items = attribute_frame(idf, item_col, items_path, "item", genres_sep=genres_sep)
    return assemble(
        df, path, user_col=user_col, item_col=item_col, rating_col=rating_col, timestamp_col=timestamp_col,
        users=users, users_path=users_path, items=items, items_path=items_path,
        duplicates=duplicates, unknown_ids=unknown_ids, name=name or path.stem, rating_scale=rating_scale,
    )


def load_parquet(path: str | Path, **kwargs: Any) -> Dataset:
    """Load interactions from a Parquet file; same column mapping as :func:`load_csv`."""
    p = Path(path).expanduser()
    if p.suffix.lower() not in (".parquet", ".pq"):
        raise DataError(UNRECOGNISED_FILE.format(suffix=p.suffix), path=str(p))
    return load_csv(p, **kwargs)


# ----------------------------------------------------------------- dispatch
def _header_columns(path: Path, sep: str) -> list[str]:
    if path.suffix.lower() in (".parquet", ".pq"):
        import pyarrow.parquet as pq

        try:
            return list(pq.read_schema(path).names)
        except Exception:
            return []
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return next(csv.reader([fh.readline().rstrip("\r\n")], delimiter=sep), [])
    except OSError:
        return []


def _sniff_kwargs(path: Path, kw: dict) -> dict:
    kw = dict(kw)
    if path.suffix.lower() in (".tsv", ".tab") and "sep" not in kw:
        kw["sep"] = "\t"
    cols = _header_columns(path, kw.get("sep", ","))
    for key, candidates in SNIFF_COLUMNS.items():
        if key not in kw:
            found = next((c for c in candidates if c in cols), None)
            if found is not None:
                kw[key] = found
    return kw


#: A loader option that the detected format does not take (e.g. ``--sep`` for RecBole atomic files).
OPTION_NOT_FOR_FORMAT = "option '{option}' does not apply to {what} ({path}); options it takes: {allowed}."


def check_loader_options(loader, kwargs: dict, what: str, path) -> None:
    """Refuse keyword arguments ``loader`` does not take, naming the format and what it does take."""
    import inspect

    params = inspect.signature(loader).parameters
    allowed = [n for n, p in params.items() if p.kind == p.KEYWORD_ONLY or n == "name"]
    bad = [k for k in kwargs if k not in params]
    if bad:
        raise RecfairError(OPTION_NOT_FOR_FORMAT.format(option=bad[0], what=what, path=path,
                                                        allowed=", ".join(allowed)))


def load_dataset(name_or_path: str | Path, **kwargs: Any) -> Dataset:
    """Load a data set by built-in name or by path, sniffing the format.

    ``"ml-100k"`` reads the copy obtained at set-up
    (:func:`recfair.data.fetch.ml100k_dir`); ``"synthetic"`` calls
    :func:`recfair.data.synthetic.make_synthetic` with ``kwargs``.  A folder is
    read as RecBole atomic files (``*.inter``) or MovieLens (``u.data``,
    ``ratings.dat``, ``ratings.csv``); a file by suffix (``.inter``, ``.csv``,
    ``.tsv``, ``.parquet``).  For CSV / Parquet without an explicit mapping,
    columns are sniffed from :data:`SNIFF_COLUMNS`.  Other keyword arguments
    go to the loader.

    Examples
    --------
    >>> ds = load_dataset("ml-100k")  # doctest: +SKIP
    >>> ds.n_users, ds.n_items  # doctest: +SKIP
    (943, 1682)
    """
    from recfair.data import fetch

    key = str(name_or_path)
    if key == "ml-100k":
        if not fetch.have_ml100k():
            raise RecfairError(fetch.ML100K_MISSING.format(path=fetch.ml100k_dir()))
        check_loader_options(load_atomic, kwargs, "the built-in ml-100k (RecBole atomic files)", key)
        if kwargs.get("rating_scale") is None:
            kwargs["rating_scale"] = ML100K_RATING_SCALE
        return load_atomic(fetch.ml100k_dir() / "ml-100k", name=kwargs.pop("name", "ml-100k"), **kwargs)
    if key == "synthetic":
        import inspect

        from recfair.data.synthetic import make_synthetic

        allowed = inspect.signature(make_synthetic).parameters
        bad = [k for k in kwargs if k not in allowed]
        if bad:
            raise RecfairError(BAD_SYNTHETIC_OPTION.format(option=bad[0], allowed=", ".join(allowed)))
        return make_synthetic(**kwargs)
    p = Path(key).expanduser()
    if not p.exists() and not Path(key + ".inter").is_file():
        home = fetch.data_home() / key
        if home.is_dir() and "/" not in key:
            p = home
        else:
            raise RecfairError(UNKNOWN_DATASET.format(name=key, names=", ".join(BUILTIN_DATASETS)))
    if p.is_dir():
        if any(p.glob("*.inter")):
            check_loader_options(load_atomic, kwargs, "RecBole atomic files", p)
            return load_atomic(p, **kwargs)
        from recfair.data.movielens import MOVIELENS_MARKERS, load_movielens

        if any((p / m).is_file() for m in MOVIELENS_MARKERS):
            check_loader_options(load_movielens, kwargs, "a MovieLens folder", p)
            return load_movielens(p, **kwargs)
        raise DataError(UNRECOGNISED_FOLDER, path=str(p))
    suffix = p.suffix.lower()
    if suffix in (".inter", ".user", ".item") or (not p.exists() and Path(key + ".inter").is_file()):
        check_loader_options(load_atomic, kwargs, "RecBole atomic files", p)
        return load_atomic(p, **kwargs)
    if suffix in (".csv", ".tsv", ".tab", ".txt", ".parquet", ".pq"):
        return load_csv(p, **_sniff_kwargs(p, kwargs))
    raise DataError(UNRECOGNISED_FILE.format(suffix=suffix), path=str(p))
