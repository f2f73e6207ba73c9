"""Content fingerprint of a :class:`~recfair.data.Dataset`.

A run (or a study cell) records the fingerprint of the data it was trained on,
and every later command recomputes it and refuses to go on when it differs — a
data file edited after training silently changes every number otherwise.

The hash covers the interactions (user and item indices, ratings, timestamps in
file order), the raw-id maps and both attribute tables (values and column
names); it does not cover the data set's display name or where it was read from.

Nor does it cover the declared rating scale (:attr:`Dataset.rating_scale`): the
scale is a declaration checked against the ratings when the data is loaded, not
content, and no stored number depends on it — every rating it admits is already
hashed.  So declaring a scale (ML-100K now declares 1–5) leaves the fingerprints of
existing runs unchanged, and a run stays valid whether or not ``--rating-scale``
is repeated when it is read back.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

__all__ = ["fingerprint"]

#: Bumped when what is hashed changes, so old and new fingerprints never compare equal by accident.
FINGERPRINT_VERSION = 1


def _add_array(h, name: str, arr) -> None:
    h.update(name.encode())
    if arr is None:
        h.update(b"<none>")
        return
    a = np.ascontiguousarray(arr)
    if a.dtype == object:
        h.update("\x1f".join(map(str, a.tolist())).encode())
    else:
        h.update(str(a.dtype).encode() + str(a.shape).encode())
        h.update(a.tobytes())


def _add_table(h, name: str, df: pd.DataFrame) -> None:
    h.update(name.encode() + "\x1f".join(map(str, df.columns)).encode())
    for col in df.columns:
        s = df[col]
        values = pd.util.hash_pandas_object(s.astype(str) if s.dtype == object else s, index=False)
        h.update(values.to_numpy().tobytes())


def fingerprint(dataset) -> str:
    """SHA-256 (hex, 16 characters) of a data set's interactions, id maps and attribute tables."""
    h = hashlib.sha256(f"recfair-dataset-v{FINGERPRINT_VERSION}".encode())
    for name in ("user", "item", "rating", "timestamp", "user_ids", "item_ids"):
        _add_array(h, name, getattr(dataset, name))
    _add_table(h, "users", dataset.users)
    _add_table(h, "items", dataset.items)
    return h.hexdigest()[:16]
