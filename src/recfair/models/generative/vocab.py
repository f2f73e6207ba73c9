"""Token vocabulary of the built-in generative recommender (P5-style item tokens).

Layout of the vocabulary (ids are contiguous)::

    0 [PAD]  1 [BOS]  2 [SEP]
    per profile field f:  <f=?> (neutral / unknown), <f=value_1>, <f=value_2>, ...
    per item i:           <item=RAW_ID>            (item_offset + i)

A user prompt is ``[BOS] <gender=F> <age=25-34> <occupation=writer> [SEP] item item ...``.
Numeric fields (``age``) are binned; every other field is categorical.  The neutral
token of a field stands for "attribute not stated": training replaces attribute
tokens by it at random (profile dropout), so a neutral prompt is one the model knows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from recfair.data.profiles import bin_value, profile_values
from recfair.errors import RecfairError

PAD_ID, BOS_ID, SEP_ID = 0, 1, 2
SPECIAL_TOKENS = ("[PAD]", "[BOS]", "[SEP]")
NEUTRAL = "?"

UNKNOWN_VALUE = "Unknown value {value!r} for profile field '{field}'. Valid values: {choices} (or None for neutral)."
UNKNOWN_FIELD = "Unknown profile field '{field}'. The model knows: {choices}."
UNKNOWN_TOKEN = "Unknown token {token!r} in prompt {index}; prompts are whitespace-separated vocabulary tokens such as '[BOS]', '<gender=F>', '<item=242>'."


@dataclass(frozen=True)
class ProfileVocab:
    """Profile fields, their value labels and the item block of the token space.

    Build with :meth:`from_dataset`; round-trips through :meth:`to_json`.
    """

    fields: tuple[str, ...]
    values: dict[str, tuple[str, ...]]  # value labels per field, without the neutral label
    edges: dict[str, tuple[float, ...]]  # bin edges of numeric fields
    item_ids: tuple[str, ...] = field(repr=False)

    # ----------------------------------------------------------- build / io
    @classmethod
    def from_dataset(cls, dataset: Any, fields: Sequence[str]) -> "ProfileVocab":
        """Fields present in ``dataset.users`` among ``fields`` (others are skipped)."""
        kept, values, edges = profile_values(dataset.users, fields)
        return cls(tuple(kept), values, edges, tuple(str(i) for i in dataset.item_ids))

    def to_json(self) -> dict[str, Any]:
        """The vocabulary as a JSON-ready dict (saved with the model; read back by :meth:`from_json`)."""
        return {
            "fields": list(self.fields),
            "values": {f: list(v) for f, v in self.values.items()},
            "edges": {f: list(e) for f, e in self.edges.items()},
            "item_ids": list(self.item_ids),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "ProfileVocab":
        """Rebuild a vocabulary from the dict written by :meth:`to_json`."""
        return cls(
            tuple(data["fields"]),
            {f: tuple(v) for f, v in data["values"].items()},
            {f: tuple(e) for f, e in data["edges"].items()},
            tuple(data["item_ids"]),
        )

    # ------------------------------------------------------------- layout
    @property
    def n_items(self) -> int:
        """Number of item tokens (the catalogue size)."""
        return len(self.item_ids)

    def field_offset(self, f: str) -> int:
        """Id of field ``f``'s neutral token; its value tokens follow at ``offset + 1 + value index``.

        Raises :class:`RecfairError` for a field the vocabulary does not hold.
        """
        off = len(SPECIAL_TOKENS)
        for g in self.fields:
            if g == f:
                return off
            off += 1 + len(self.values[g])
        raise RecfairError(UNKNOWN_FIELD.format(field=f, choices=", ".join(self.fields) or "(none)"))

    @property
    def item_offset(self) -> int:
        """Id of the first item token: item index ``i`` has token id ``item_offset + i``."""
        return len(SPECIAL_TOKENS) + sum(1 + len(self.values[f]) for f in self.fields)

    @property
    def size(self) -> int:
        """Number of tokens: special, profile (neutral + values per field) and item tokens."""
        return self.item_offset + self.n_items

    @property
    def prefix_length(self) -> int:
        """Tokens before the first history item: BOS, one per field, SEP."""
        return len(self.fields) + 2

    def tokens(self) -> list[str]:
        """Every token string, by id."""
        out = list(SPECIAL_TOKENS)
        for f in self.fields:
            out += [f"<{f}={v}>" for v in (NEUTRAL, *self.values[f])]
        out += [f"<item={i}>" for i in self.item_ids]
        return out

    # ---------------------------------------------------------- profiles
    def label(self, f: str, value: Any) -> str:
        """The value label of ``value`` (raw value or label; ``None``/NaN → neutral)."""
        if value is None or (isinstance(value, float) and np.isnan(value)):
            return NEUTRAL
        if f not in self.values:
            raise RecfairError(UNKNOWN_FIELD.format(field=f, choices=", ".join(self.fields) or "(none)"))
        s = str(value)
        if s in self.values[f] or s == NEUTRAL:
            return s
        if f in self.edges:
            try:
                return bin_value(float(value), self.edges[f])
            except (TypeError, ValueError):
                pass
        raise RecfairError(UNKNOWN_VALUE.format(value=value, field=f, choices=", ".join(self.values[f])))

    def token_id(self, f: str, value: Any) -> int:
        """Token id of field ``f`` set to ``value`` (raw value or label; ``None``/NaN → the neutral token)."""
        lab = self.label(f, value)
        return self.field_offset(f) + (0 if lab == NEUTRAL else 1 + self.values[f].index(lab))

    def profile_ids(
        self, users_table: pd.DataFrame, users: np.ndarray, overrides: Mapping[str, Any] | None = None
    ) -> np.ndarray:
        """``(n, n_fields)`` token ids of the users' profiles, with ``overrides`` applied.

        ``overrides`` maps a field to the value every user gets (``None`` = neutral).
        Fields the vocabulary does not know are an error.
        """
        overrides = dict(overrides or {})
        for f in overrides:
            if f not in self.fields:
                raise RecfairError(UNKNOWN_FIELD.format(field=f, choices=", ".join(self.fields) or "(none)"))
        out = np.zeros((len(users), len(self.fields)), dtype=np.int64)
        for j, f in enumerate(self.fields):
            if f in overrides:
                out[:, j] = self.token_id(f, overrides[f])
            else:
                col = users_table[f].to_numpy(object)[np.asarray(users, dtype=np.int64)]
                cache: dict[Any, int] = {}
                for r, v in enumerate(col):
                    key = "__nan__" if v is None or (isinstance(v, float) and np.isnan(v)) else v
                    if key not in cache:
                        cache[key] = self.token_id(f, None if key == "__nan__" else v)
                    out[r, j] = cache[key]
        return out

    # ------------------------------------------------------------- prompts
    def render(self, profile_ids: np.ndarray, history: Sequence[int]) -> str:
        """The text prompt of one user: vocabulary tokens separated by spaces."""
        toks = self.tokens()
        parts = [SPECIAL_TOKENS[BOS_ID], *(toks[int(t)] for t in profile_ids), SPECIAL_TOKENS[SEP_ID]]
        parts += [toks[self.item_offset + int(i)] for i in history]
        return " ".join(parts)

    def parse(self, prompts: Sequence[str]) -> list[np.ndarray]:
        """Token ids of text prompts written by :meth:`render` (or by hand)."""
        index = {t: i for i, t in enumerate(self.tokens())}
        out = []
        for n, p in enumerate(prompts):
            ids = []
            for tok in p.split():
                if tok not in index:
                    raise RecfairError(UNKNOWN_TOKEN.format(token=tok, index=n))
                ids.append(index[tok])
            out.append(np.asarray(ids, dtype=np.int64))
        return out
