"""Reading delimited files with checks that name the file, line and column.

Every loader in :mod:`recfair.data.loaders` goes through these helpers, so the
same malformed input gives the same message whatever the format.  Messages are
module constants (asserted verbatim in the tests); :class:`~recfair.errors.DataError`
prefixes them with ``path:line: column 'x': ``.

Line numbers are 1-based as in the file: with a header, the header is line 1
and the first data row is line 2.  Blank lines are skipped but counted.  For
Parquet files the "line" is the 1-based row number.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from recfair.errors import DataError, RecfairError

FILE_MISSING = "file not found; expected {what}"
EMPTY_FILE = "file is empty; expected {what}"
NO_ROWS = "file has a header but no data rows; expected at least one {what}"
MISSING_COLUMN = "missing column '{column}'; expected columns {expected}, found {found}"
WRONG_DELIMITER = (
    "only one column was read ({found!r}) where {n} were expected: expected delimiter {sep!r}, "
    "but the line looks separated by {other!r}"
)
TOO_FEW_FIELDS = "found {found} field(s) per line, expected {n} separated by {sep!r}"
PARSE_FAILED = "could not be parsed with delimiter {sep!r}: {detail}"
BAD_ENCODING = "could not be decoded as {encoding}: {detail}"
MISSING_VALUE = "empty value; expected {expected}"
NOT_NUMERIC = "expected {expected}, got {value!r}"
DUPLICATE_PAIR = (
    "duplicate (user, item) pair ({user!r}, {item!r}), first seen on line {first}; the duplicates "
    "policy is '{policy}' (pass duplicates='last', 'first' or 'mean' to resolve duplicates)"
)
DUPLICATE_ID = "duplicate {what} id {value!r}, first seen on line {first}; expected one row per {what}"
UNKNOWN_ID = (
    "{what} id {value!r} is not in the {what} file {attr_path}; expected every interaction's {what} "
    "to have a row there (pass unknown_ids='drop' to drop such interactions or 'keep' to keep them)"
)

DUPLICATE_POLICIES = ("error", "last", "first", "mean")
UNKNOWN_ID_POLICIES = ("error", "drop", "keep")
_OTHER_DELIMITERS = ("\t", "::", ",", ";", "|", ":")


def check_policy(value: str, param: str, owner: str, choices: Sequence[str]) -> str:
    """Return ``value`` if it is one of ``choices``, else raise a :class:`RecfairError` listing them.

    Used for the ``duplicates`` (:data:`DUPLICATE_POLICIES`) and ``unknown_ids``
    (:data:`UNKNOWN_ID_POLICIES`) options; ``param`` and ``owner`` name the
    option and the loader in the message.
    """
    if value not in choices:
        raise RecfairError(
            f"The '{param}' parameter of {owner} must be one of {', '.join(map(repr, choices))}. "
            f"Got {value!r} instead."
        )
    return value


def _guess_delimiter(text: str, sep: str) -> str | None:
    for other in _OTHER_DELIMITERS:
        if other != sep and other not in sep and other in text:
            return other
    return None


def read_delimited(
    path: str | Path,
    *,
    sep: str,
    columns: Sequence[str] | None = None,
    header: bool = True,
    required: Sequence[str] = (),
    str_columns: Sequence[str] = (),
    encoding: str = "utf-8",
    quoting: int = csv.QUOTE_MINIMAL,
    what: str = "interaction",
    sep_label: str | None = None,
) -> pd.DataFrame:
    """Read a delimited text file with the pandas C parser and check its shape.

    Parameters
    ----------
    path:
        The file.
    sep:
        Field delimiter (one character: the C parser needs it).
    columns:
        For headerless files (``header=False``): the names of the leading
        fields; the file must have at least that many.
    required:
        For files with a header: columns that must be present.
    str_columns:
        Columns read as strings (ids keep leading zeros).
    what:
        What one row is (used in messages: "interaction", "user", "item").
    sep_label:
        The delimiter as messages should name it (``"::"`` for MovieLens-1M
        files, which are read with ``":"`` and every other field skipped).

    Returns
    -------
    pandas.DataFrame
        Indexed by the 1-based line number of each row in the file; blank
        lines dropped.  Only empty fields are missing values.
    """
    path = Path(path)
    shown = sep_label or sep
    expected = f"a file of {what}s"
    head = _read_head(path, expected)
    if encoding.lower().replace("_", "-") in ("utf-8", "utf8"):
        encoding = "utf-8-sig"  # tolerate a byte-order mark before the header
    df = _parse(path, header=header, columns=columns, str_columns=str_columns, encoding=encoding,
                quoting=quoting, sep=sep, shown=shown, expected=expected)
    first_line = head.decode(encoding, errors="replace").splitlines()[0]
    if header:
        _check_header(df, path, required, first_line, shown)
        offset = 2
    else:
        _check_width(df, path, len(columns or ()), first_line, shown)
        offset = 1
    df.index = pd.RangeIndex(offset, offset + len(df))
    blank = df.isna().all(axis=1).to_numpy()
    if blank.any():
        df = df[~blank]
    if len(df) == 0:
        raise DataError(NO_ROWS.format(what=what), path=str(path))
    return df


def _read_head(path: Path, expected: str) -> bytes:
    """The first 64 KiB of ``path``; a missing or blank file is a :class:`DataError`."""
    if not path.is_file():
        raise DataError(FILE_MISSING.format(what=expected), path=str(path))
    try:
        with open(path, "rb") as fh:
            head = fh.read(65536)
    except OSError as exc:  # pragma: no cover - permissions
        raise DataError(str(exc), path=str(path)) from exc
    if not head.strip():
        raise DataError(EMPTY_FILE.format(what=expected), path=str(path))
    return head


def _parse(path: Path, *, header: bool, columns, str_columns, encoding: str, quoting: int, sep: str, shown: str,
           expected: str) -> pd.DataFrame:
    """Run the pandas C parser; decoding and parser failures become :class:`DataError`."""
    kw = dict(
        sep=sep,
        encoding=encoding,
        quoting=quoting,
        skip_blank_lines=False,
        keep_default_na=False,
        na_values=[""],
        engine="c",
    )
    try:
        if header:
            dtype = {c: str for c in str_columns}
            return pd.read_csv(path, header=0, dtype=dtype, **kw)
        dtype = {i: str for i, c in enumerate(columns or ()) if c in str_columns}
        return pd.read_csv(path, header=None, dtype=dtype, **kw)
    except UnicodeDecodeError as exc:
        raise DataError(BAD_ENCODING.format(encoding=encoding, detail=exc), path=str(path)) from exc
    except pd.errors.EmptyDataError as exc:
        raise DataError(EMPTY_FILE.format(what=expected), path=str(path)) from exc
    except (pd.errors.ParserError, ValueError) as exc:
        raise DataError(PARSE_FAILED.format(sep=shown, detail=str(exc).strip()), path=str(path)) from exc


def _check_header(df: pd.DataFrame, path: Path, required, first_line: str, shown: str) -> None:
    """Stringify ``df``'s column names in place; raise if a ``required`` column is missing."""
    df.columns = [str(c) for c in df.columns]
    missing = [c for c in required if c not in df.columns]
    if missing:
        other = _guess_delimiter(first_line, shown)
        if len(df.columns) == 1 and len(required) > 1 and other is not None:
            msg = WRONG_DELIMITER.format(found=df.columns[0], n=len(required), sep=shown, other=other)
            raise DataError(msg, path=str(path), line=1)
        msg = MISSING_COLUMN.format(column=missing[0], expected=list(required), found=list(df.columns))
        raise DataError(msg, path=str(path), line=1)


def _check_width(df: pd.DataFrame, path: Path, n: int, first_line: str, shown: str) -> None:
    """Raise if a headerless file has fewer than ``n`` fields (naming a likelier delimiter if any)."""
    if df.shape[1] < n:
        other = _guess_delimiter(first_line, shown)
        if df.shape[1] == 1 and other is not None:
            msg = WRONG_DELIMITER.format(found=first_line[:60], n=n, sep=shown, other=other)
        else:
            msg = TOO_FEW_FIELDS.format(found=df.shape[1], n=n, sep=shown)
        raise DataError(msg, path=str(path), line=1)


def ids_column(df: pd.DataFrame, col, path, *, label: str | None = None) -> np.ndarray:
    """A column of raw ids as an object array of ``str``; empty ids are errors."""
    s = df[col]
    missing = s.isna().to_numpy()
    if missing.any():
        pos = int(np.argmax(missing))
        raise DataError(
            MISSING_VALUE.format(expected="an id"), path=str(path), line=int(df.index[pos]), column=label or str(col)
        )
    return s.astype(str).to_numpy(dtype=object)


def numeric_column(df: pd.DataFrame, col, path, *, expected: str = "a number", label: str | None = None) -> np.ndarray:
    """A column as finite float64; empty, non-numeric, NaN or infinite values are errors."""
    s = df[col]
    if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
        vals = s.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        vals = pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isfinite(vals)
    if bad.any():
        pos = int(np.argmax(bad))
        raw = s.iloc[pos]
        line = int(df.index[pos])
        if raw is None or (not isinstance(raw, str) and pd.isna(raw)):
            msg = MISSING_VALUE.format(expected=expected)
        else:
            msg = NOT_NUMERIC.format(expected=expected, value=str(raw))
        raise DataError(msg, path=str(path), line=line, column=label or str(col))
    return vals


#: A rating outside the scale the data set declares (``--rating-scale``, or the format's own, e.g. ML-100K 1–5).
RATING_OUT_OF_SCALE = "rating {value} is outside the declared rating scale [{lo:g}, {hi:g}]; expected {lo:g} <= rating <= {hi:g}"
#: A rating scale declared for data that has no rating column.
SCALE_WITHOUT_RATINGS = "a rating scale [{lo:g}, {hi:g}] was declared but the interactions have no rating column"


def check_rating_scale(values: np.ndarray, scale: tuple[float, float], df: pd.DataFrame, col, path, *,
                       label: str | None = None) -> None:
    """Raise naming file, line, value and scale when a rating of ``df[col]`` lies outside ``scale``."""
    lo, hi = scale
    bad = (values < lo) | (values > hi)
    if bad.any():
        pos = int(np.argmax(bad))
        raise DataError(RATING_OUT_OF_SCALE.format(value=str(df[col].iloc[pos]), lo=lo, hi=hi), path=str(path),
                        line=int(df.index[pos]), column=label or str(col))


#: A numeric timestamp that int64 cannot hold (it would wrap around silently).
TIMESTAMP_RANGE = "timestamp {value} is outside the int64 range [-2**63, 2**63); expected Unix seconds or an ISO date-time"


def timestamp_column(df: pd.DataFrame, col, path, *, label: str | None = None) -> np.ndarray:
    """Timestamps as int64: numbers as they are, ISO date-times as Unix seconds."""
    s = df[col]
    if pd.api.types.is_datetime64_any_dtype(s):
        if s.isna().to_numpy().any():
            pos = int(np.argmax(s.isna().to_numpy()))
            raise DataError(MISSING_VALUE.format(expected="a date-time"), path=str(path),
                            line=int(df.index[pos]), column=label or str(col))
        utc = pd.to_datetime(s, utc=True)  # naive values are taken as UTC
        return utc.astype("datetime64[s, UTC]").astype("int64").to_numpy(dtype=np.int64)
    if not pd.api.types.is_numeric_dtype(s):
        num = pd.to_numeric(s, errors="coerce")
        if num.isna().to_numpy().any() and s.notna().to_numpy().all():
            dt = pd.to_datetime(s, errors="coerce", format="ISO8601", utc=True)
            if dt.notna().to_numpy().all():
                return (dt.astype("datetime64[s, UTC]").astype("int64")).to_numpy(dtype=np.int64)
    if pd.api.types.is_integer_dtype(s) and s.dtype != np.uint64:
        return s.to_numpy(dtype=np.int64)  # exact: no round trip through float64
    vals = numeric_column(df, col, path, expected="a number or an ISO date-time", label=label)
    out = (vals < -(2.0**63)) | (vals >= 2.0**63)
    if out.any():
        pos = int(np.argmax(out))
        raise DataError(TIMESTAMP_RANGE.format(value=s.iloc[pos]), path=str(path), line=int(df.index[pos]),
                        column=label or str(col))
    return vals.astype(np.int64)


def check_unique_ids(ids: np.ndarray, lines: np.ndarray, path, what: str) -> None:
    """Raise on a repeated id in an attribute file (one row per user / item)."""
    idx = pd.Index(ids)
    if idx.has_duplicates:
        dup = int(np.flatnonzero(idx.duplicated())[0])
        first = int(np.flatnonzero(ids == ids[dup])[0])
        raise DataError(
            DUPLICATE_ID.format(what=what, value=ids[dup], first=int(lines[first])),
            path=str(path),
            line=int(lines[dup]),
        )


def check_known_ids(
    raw: np.ndarray, known: np.ndarray, lines: np.ndarray, path, *, what: str, attr_path, policy: str
) -> np.ndarray | None:
    """Mask of interactions whose id is in the attribute file (``None``: all are)."""
    ok = pd.Index(known).get_indexer(raw) >= 0
    if ok.all():
        return None
    if policy == "error":
        pos = int(np.argmax(~ok))
        raise DataError(
            UNKNOWN_ID.format(what=what, value=raw[pos], attr_path=attr_path),
            path=str(path),
            line=int(lines[pos]),
        )
    return ok if policy == "drop" else None


def resolve_duplicates(
    user: np.ndarray,
    item: np.ndarray,
    n_items: int,
    rating: np.ndarray | None,
    timestamp: np.ndarray | None,
    lines: np.ndarray,
    path,
    policy: str,
    user_ids: np.ndarray,
    item_ids: np.ndarray,
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None] | None:
    """Apply the duplicate (user, item) policy.

    Returns ``None`` when there are no duplicates, else ``(keep, rating,
    timestamp)``: positions to keep (file order) and the ratings/timestamps
    of the kept rows.  ``"first"``/``"last"`` keep that occurrence;
    ``"mean"`` keeps the first position with the mean rating and the latest
    timestamp of the pair.
    """
    key = user.astype(np.int64) * max(1, n_items) + item.astype(np.int64)
    order = np.argsort(key, kind="stable")
    ks = key[order]
    same = ks[1:] == ks[:-1]
    if not same.any():
        return None
    start = np.r_[True, ~same]
    if policy == "error":
        later = np.zeros(len(key), dtype=bool)
        later[order[1:][same]] = True
        pos = int(np.argmax(later))
        first = int(order[np.searchsorted(ks, key[pos], side="left")])
        msg = DUPLICATE_PAIR.format(
            user=str(user_ids[user[pos]]), item=str(item_ids[item[pos]]), first=int(lines[first]), policy=policy
        )
        raise DataError(msg, path=str(path), line=int(lines[pos]))
    if policy == "first":
        keep = np.sort(order[start])
        return keep, None if rating is None else rating[keep], None if timestamp is None else timestamp[keep]
    if policy == "last":
        keep = np.sort(order[np.r_[~same, True]])
        return keep, None if rating is None else rating[keep], None if timestamp is None else timestamp[keep]
    # mean
    gid = np.cumsum(start) - 1
    firsts = order[start]
    new_rating = new_ts = None
    if rating is not None:
        sums = np.bincount(gid, weights=rating[order].astype(np.float64))
        counts = np.bincount(gid)
        new_rating = (sums / counts).astype(np.float32)
    if timestamp is not None:
        new_ts = np.full(len(firsts), np.iinfo(np.int64).min, dtype=np.int64)
        np.maximum.at(new_ts, gid, timestamp[order])
    perm = np.argsort(firsts, kind="stable")
    return (
        firsts[perm],
        None if new_rating is None else new_rating[perm],
        None if new_ts is None else new_ts[perm],
    )
