"""Turning checked frames into a :class:`~recfair.data.dataset.Dataset`.

Shared by every loader: :func:`attribute_frame` normalises an attribute table to
recfair's fixed column names and types, :func:`assemble` checks the interaction
columns, applies the ``unknown_ids`` and ``duplicates`` policies and builds the
index space (attribute-file order first, then first appearance).
"""

from __future__ import annotations

import logging
from typing import Sequence

import numpy as np
import pandas as pd

from recfair.data import validate as V
from recfair.data.dataset import Dataset, rating_scale_of
from recfair.errors import DataError

log = logging.getLogger(__name__)


def _int_column(df: pd.DataFrame, col: str, path) -> pd.Series:
    s = df[col]
    num = pd.to_numeric(s, errors="coerce")
    bad = (num.isna() & s.notna()).to_numpy()
    if bad.any():
        pos = int(np.argmax(bad))
        raise DataError(
            V.NOT_NUMERIC.format(expected="an integer", value=str(s.iloc[pos])),
            path=str(path), line=int(df.index[pos]), column=col,
        )
    if num.isna().any():
        return num.round().astype("Int64")
    return num.round().astype(np.int64)


def split_genres(values: pd.Series, sep: str) -> pd.Series:
    """Strings such as ``"Action|Comedy"`` → tuples; empty / missing → ``()``."""
    texts = values.fillna("").astype(str).to_numpy(dtype=object)
    none = {"", "(no genres listed)"}
    out = [tuple(g for g in t.split(sep) if g) if t not in none else () for t in texts]
    return pd.Series(out, index=values.index, dtype=object)


def attribute_frame(
    df: pd.DataFrame,
    id_col: str,
    path,
    what: str,
    *,
    renames: dict[str, str] | None = None,
    genres_sep: str = "|",
    seq_columns: Sequence[str] = (),
    seq_sep: str = " ",
) -> pd.DataFrame:
    """Normalise an attribute table read by :func:`validate.read_delimited`.

    Checks ids (present, unique), renames columns, and converts the fixed
    columns: ``age`` → int, ``year`` → float (unparseable → NaN), ``genres`` →
    tuple, ``title`` → str.  Columns in ``seq_columns`` (by original name) are
    split on ``seq_sep`` into tuples.  Returns a frame indexed by raw id.
    """
    ids = V.ids_column(df, id_col, path)
    V.check_unique_ids(ids, df.index.to_numpy(), path, what)
    out = df.drop(columns=[id_col])
    seq_set = {(renames or {}).get(c, c) for c in seq_columns}
    if renames:
        out = out.rename(columns=renames)
    if "age" in out.columns:
        out["age"] = _int_column(out, "age", path)
    if "year" in out.columns:
        out["year"] = pd.to_numeric(out["year"], errors="coerce").astype(np.float64)
    for col in out.columns:
        if col == "genres":
            sep = seq_sep if col in seq_set else genres_sep
            out[col] = split_genres(out[col], sep)
        elif col in seq_set and col != "title":
            out[col] = split_genres(out[col], seq_sep)
    if "title" in out.columns:
        out["title"] = out["title"].fillna("").astype(str).astype(object)
    for col in out.columns:
        if col not in ("age", "year") and pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].astype(object)
    out.index = pd.Index(ids, name=what)
    return out


# ------------------------------------------------------------------ assemble
def assemble(
    inter: pd.DataFrame,
    path,
    *,
    user_col: str,
    item_col: str,
    rating_col: str | None = None,
    timestamp_col: str | None = None,
    users: pd.DataFrame | None = None,
    users_path=None,
    items: pd.DataFrame | None = None,
    items_path=None,
    duplicates: str = "error",
    unknown_ids: str = "error",
    name: str = "dataset",
    rating_scale=None,
) -> Dataset:
    """Turn a checked interaction frame (indexed by line) and attribute frames into a Dataset.

    ``rating_scale`` (``(min, max)`` or text ``"min,max"``) is checked against every
    rating; the first one outside it is an error naming file, line and value.
    """
    V.check_policy(duplicates, "duplicates", "the loader", V.DUPLICATE_POLICIES)
    V.check_policy(unknown_ids, "unknown_ids", "the loader", V.UNKNOWN_ID_POLICIES)
    scale = None if rating_scale is None else rating_scale_of(rating_scale)
    lines = inter.index.to_numpy()
    u_raw = V.ids_column(inter, user_col, path)
    i_raw = V.ids_column(inter, item_col, path)
    rating = None
    if rating_col is not None:
        values = V.numeric_column(inter, rating_col, path, expected="a numeric rating")
        if scale is not None:
            V.check_rating_scale(values, scale, inter, rating_col, path)
        rating = values.astype(np.float32)
    elif scale is not None:
        raise DataError(V.SCALE_WITHOUT_RATINGS.format(lo=scale[0], hi=scale[1]), path=str(path))
    ts = V.timestamp_column(inter, timestamp_col, path) if timestamp_col is not None else None

    keep = None
    for raw, table, apath, what in ((u_raw, users, users_path, "user"), (i_raw, items, items_path, "item")):
        if table is not None:
            ok = V.check_known_ids(raw, table.index.to_numpy(), lines, path, what=what, attr_path=apath,
                                   policy=unknown_ids)
            if ok is not None:
                keep = ok if keep is None else keep & ok
    if keep is not None:
        log.info("%s: dropped %d interactions with ids missing from the attribute files", path, int((~keep).sum()))
        u_raw, i_raw, lines = u_raw[keep], i_raw[keep], lines[keep]
        rating = None if rating is None else rating[keep]
        ts = None if ts is None else ts[keep]

    def index_space(raw: np.ndarray, table: pd.DataFrame | None, label: str):
        if table is None:
            codes, uniques = pd.factorize(raw)
            ids = np.asarray(uniques, dtype=object)
            attrs = pd.DataFrame(index=pd.RangeIndex(len(ids), name=label))
            return codes, ids, attrs
        known = table.index.to_numpy(dtype=object)
        pos = pd.Index(known).get_indexer(raw)
        if (pos < 0).any():  # unknown_ids="keep": append them after the attribute table
            extra = pd.unique(raw[pos < 0])
            known = np.concatenate([known, np.asarray(extra, dtype=object)])
            table = table.reindex(known)
            pos = pd.Index(known).get_indexer(raw)
        attrs = table.reset_index(drop=True)
        attrs.index = pd.RangeIndex(len(known), name=label)
        return pos, known, attrs

    uidx, user_ids, users_t = index_space(u_raw, users, "user")
    iidx, item_ids, items_t = index_space(i_raw, items, "item")
    res = V.resolve_duplicates(uidx, iidx, len(item_ids), rating, ts, lines, path, duplicates, user_ids, item_ids)
    if res is not None:
        kept, rating, ts = res
        log.info("%s: %d duplicate (user, item) rows resolved with policy %r", path, len(uidx) - len(kept), duplicates)
        uidx, iidx = uidx[kept], iidx[kept]
    return Dataset(uidx, iidx, rating, ts, user_ids, item_ids, users_t, items_t, name, scale)
