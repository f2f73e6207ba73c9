"""Match free-text titles (from a language model or a user) to a Dataset's item indices.

Used by the ``lm-*`` models (new-user histories given as titles) and by the
generative backends (free-text replies); it sits in ``data`` so both read it
without importing each other.

Matching is two-stage: a normalised exact match (case, accents, punctuation,
leading articles and the catalogue convention "Title, The" ↔ "The Title", a
"(1995)" year) and then a fuzzy match (``difflib`` ratio ≥ ``threshold``).  A year
given in the reply breaks ties between catalogue items sharing a title.

Examples
--------
>>> m = TitleMatcher(["Usual Suspects, The", "Heat", "Heat"], years=[1995, 1995, 1986])
>>> m.match("The Usual Suspects (1995)"), m.match("heat (1986)"), m.match("Usual Suspect"), m.match("Jaws")
(0, 2, 0, None)
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from recfair.errors import check_param

ARTICLES = ("the", "a", "an", "la", "le", "les", "il", "el", "das", "der", "die")
_YEAR = re.compile(r"\s*[\(\[]\s*(\d{4})\s*[\)\]]\s*$")
_TRAILING_ARTICLE = re.compile(r",\s*(" + "|".join(ARTICLES) + r")\s*$", re.IGNORECASE)
_LEADING_ARTICLE = re.compile(r"^(" + "|".join(ARTICLES) + r")\s+", re.IGNORECASE)
_NON_WORD = re.compile(r"[^a-z0-9]+")
_LIST_MARK = re.compile(r"^\s*(?:[-*•·]+|\(?\d{1,3}[\.\):]|\#\d+)\s*")


def split_year(title: str) -> tuple[str, int | None]:
    """``"Heat (1995)"`` → ``("Heat", 1995)``; no trailing year → ``(title, None)``."""
    m = _YEAR.search(title)
    if m:
        return title[: m.start()], int(m.group(1))
    return title, None


def normalize_title(title: str) -> str:
    """Canonical form: ascii, lowercase, no year, no leading/trailing article, no punctuation."""
    t, _ = split_year(str(title).strip())
    t = unicodedata.normalize("NFKD", t).encode("ascii", "ignore").decode()
    t = t.strip().strip("\"'“”*_").strip()
    t, _ = split_year(t)
    t = _TRAILING_ARTICLE.sub("", t)  # "Usual Suspects, The" -> "Usual Suspects"
    t = _LEADING_ARTICLE.sub("", t.strip())
    t = _NON_WORD.sub(" ", t.lower()).strip()
    return t


def parse_titles(text: str) -> list[str]:
    """Titles in a model reply: one per line (list marks, quotes and trailing notes stripped).

    A single line holding several titles separated by ``;`` or ``|`` is split too;
    preamble lines ending in ``:`` ("Here are 20 movies:") are skipped.
    """
    lines = [ln for ln in str(text).replace("\r", "\n").split("\n") if ln.strip() and not ln.strip().endswith(":")]
    if len(lines) == 1 and (";" in lines[0] or "|" in lines[0]):
        lines = re.split(r"[;|]", lines[0])
    out = []
    for ln in lines:
        t = _LIST_MARK.sub("", ln).strip()
        t = t.strip("\"'“”*_ ").strip()
        # "Title (1995) - a great film": keep the title part
        t = re.split(r"\s+[-–—]\s+", t, maxsplit=1)[0].strip().strip("\"'“”*_ ")
        if t:
            out.append(t)
    return out


@dataclass
class MatchReport:
    """What happened to one reply: raw titles, matched items and the problems found."""

    raw: list[str] = field(default_factory=list)
    items: list[int] = field(default_factory=list)  # matched, de-duplicated, not seen, in order
    hallucinated: list[str] = field(default_factory=list)  # titles not in the catalogue
    duplicates: list[int] = field(default_factory=list)  # items named more than once
    already_seen: list[int] = field(default_factory=list)  # items in the user's history
    fuzzy: int = 0  # matches that needed the fuzzy stage
    error: str | None = None  # transport / format failure for this prompt

    @property
    def valid_rate(self) -> float:
        """Share of raw titles that matched a catalogue item (nan when there were none)."""
        return (len(self.raw) - len(self.hallucinated)) / len(self.raw) if self.raw else float("nan")

    def to_json(self) -> dict:
        """Plain-JSON form of the report (lists, counts and the error, if any)."""
        return {
            "raw": self.raw, "items": self.items, "hallucinated": self.hallucinated,
            "duplicates": self.duplicates, "already_seen": self.already_seen,
            "fuzzy": self.fuzzy, "error": self.error,
        }


class TitleMatcher:
    """Normalised-exact then fuzzy matching of titles to item indices.

    Parameters
    ----------
    titles:
        Catalogue titles by item index.
    years:
        Optional release years by item index (NaN / None when unknown).
    threshold:
        Minimum ``difflib.SequenceMatcher`` ratio for a fuzzy match (0–1).
    """

    def __init__(self, titles: Sequence[str], years: Sequence[float] | None = None, threshold: float = 0.9) -> None:
        check_param(threshold, "threshold", "TitleMatcher", "a number in [0, 1]",
                    isinstance(threshold, (int, float)) and 0 <= threshold <= 1)
        self.threshold = float(threshold)
        self.titles = [str(t) for t in titles]
        yrs = [None] * len(self.titles) if years is None else list(years)
        self.years = [None if y is None or (isinstance(y, float) and np.isnan(y)) else int(y) for y in yrs]
        self._index: dict[str, list[int]] = {}
        for i, t in enumerate(self.titles):
            self._index.setdefault(normalize_title(t), []).append(i)
        self._keys = list(self._index)

    @classmethod
    def from_dataset(cls, dataset: Any, threshold: float = 0.9) -> "TitleMatcher":
        """Matcher over ``dataset.items["title"]`` (raw item ids when there is no title) and ``"year"``."""
        items = dataset.items
        titles = items["title"].astype(str).tolist() if "title" in items.columns else [str(i) for i in dataset.item_ids]
        years = items["year"].tolist() if "year" in items.columns else None
        return cls(titles, years, threshold=threshold)

    def _pick(self, candidates: list[int], year: int | None) -> int:
        if year is not None:
            same = [i for i in candidates if self.years[i] == year]
            if same:
                return same[0]
        return candidates[0]

    def match(self, title: str) -> int | None:
        """Item index of ``title``, or ``None`` when nothing in the catalogue is close enough."""
        return self.match_detail(title)[0]

    def match_detail(self, title: str) -> tuple[int | None, bool]:
        """``(item or None, fuzzy?)``."""
        _, year = split_year(str(title).strip())
        key = normalize_title(title)
        if not key:
            return None, False
        if key in self._index:
            return self._pick(self._index[key], year), False
        close = difflib.get_close_matches(key, self._keys, n=1, cutoff=self.threshold)
        if close:
            return self._pick(self._index[close[0]], year), True
        return None, False

    def match_reply(self, text: str, k: int, seen: Sequence[int] = ()) -> MatchReport:
        """Parse a reply, match its titles, and report duplicates, hallucinations and seen items.

        The first ``k`` distinct, unseen matched items are kept, in the reply's order.
        """
        rep = MatchReport(raw=parse_titles(text))
        seen_set = {int(s) for s in seen}
        named: set[int] = set()
        for t in rep.raw:
            item, fuzzy = self.match_detail(t)
            if item is None:
                rep.hallucinated.append(t)
                continue
            rep.fuzzy += int(fuzzy)
            if item in named:
                rep.duplicates.append(item)
                continue
            named.add(item)
            if item in seen_set:
                rep.already_seen.append(item)
                continue
            if len(rep.items) < k:
                rep.items.append(item)
        return rep
