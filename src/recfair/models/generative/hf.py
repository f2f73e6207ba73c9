"""Backend for any local Hugging Face causal language model folder.

The folder must hold a tokenizer and an ``AutoModelForCausalLM`` checkpoint; nothing
is fetched from a hub.  Decoding is deterministic (greedy or beam search), batched,
on CPU or GPU.  With ``constrained=True`` (the default) the output is forced to be
``title SEP title SEP ... EOS`` with every title a distinct catalogue item (a
prefix trie over the titles' token sequences); with ``constrained=False`` the free
text is parsed and matched like an HTTP backend's reply.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from pydantic import Field

from recfair.data.titles import MatchReport, TitleMatcher
from recfair.errors import RecfairError, check_positive_int, require
from recfair.models.config import BatchSize, ComponentConfig, Configurable
from recfair.models.generative.constrained import TitleTrie, TitleTrieConstraint, generate_constrained, parse_trie_output
from recfair.models.generative.backends import ReportingBackend, lists_to_recommendations
from recfair.recommendations import Recommendations

log = logging.getLogger(__name__)

NOT_A_MODEL = (
    "{path} is not a local Hugging Face causal-LM folder (expected config.json plus a tokenizer). "
    "Save one with model.save_pretrained(DIR) and tokenizer.save_pretrained(DIR)."
)
MULTI_TOKEN_SEP = "The separator {sep!r} is {n} tokens for this tokenizer; constrained decoding needs a single-token separator (try '\\n' or ';')."
NO_EOS = "The tokenizer in {path} has no EOS token; constrained decoding needs one to end the list."


def display_titles(titles: Sequence[str], years: Sequence[float] | None) -> list[str]:
    """``"Title (1995)"`` where the year is known, else the bare title."""
    if years is None:
        return [str(t) for t in titles]
    out = []
    for t, y in zip(titles, years):
        ok = y is not None and not (isinstance(y, float) and np.isnan(y))
        out.append(f"{t} ({int(y)})" if ok else str(t))
    return out


class HFBackendConfig(ComponentConfig):
    """Hyper-parameters of :class:`HFBackend` (``titles`` / ``years`` are data, passed apart)."""

    path: Path = Field(description="local Hugging Face causal-LM folder (save_pretrained output)")
    constrained: bool = Field(True, description="decode only catalogue titles (prefix trie) instead of free text")
    separator: str = Field("\n", min_length=1, description="text between titles (one token when constrained)")
    num_beams: int = Field(1, ge=1, description="beam width (1 = greedy)")
    batch_size: BatchSize = 8
    device: str | None = Field(None, description="torch device; None = CUDA when available")
    threshold: float = Field(0.9, gt=0, le=1, description="fuzzy title-match threshold (free-text decoding)")


class HFBackend(Configurable, ReportingBackend):
    """Generate ranked item lists with a local causal LM.

    Parameters
    ----------
    path:
        Local model folder (``save_pretrained`` output).
    titles, years:
        Catalogue titles (and years, shown as ``"Title (1995)"``) by item index.
    constrained:
        Decode only catalogue titles (prefix trie) instead of free text.
    separator:
        Text between titles (one token for the tokenizer when constrained).
    num_beams, batch_size, device:
        Decoding set-up; ``device=None`` picks CUDA when available.
    threshold:
        Fuzzy-match threshold for free-text decoding.
    """

    Config = HFBackendConfig

    def __init__(
        self,
        path: str | os.PathLike,
        titles: Sequence[str],
        years: Sequence[float] | None = None,
        *,
        config: Any = None,
        **params: Any,
    ) -> None:
        torch = require("torch", extra="llm", feature="The Hugging Face backend")
        transformers = require("transformers", extra="llm", feature="The Hugging Face backend")
        self._apply_config(config, {"path": path, **params})
        if not (self.path / "config.json").is_file():
            raise RecfairError(NOT_A_MODEL.format(path=self.path))
        self.device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
        try:
            self.tokenizer = transformers.AutoTokenizer.from_pretrained(str(self.path), local_files_only=True)
            self.model = transformers.AutoModelForCausalLM.from_pretrained(str(self.path), local_files_only=True)
        except (OSError, ValueError) as exc:
            raise RecfairError(NOT_A_MODEL.format(path=self.path) + f" ({exc})") from exc
        self.model.to(self.device).eval()
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.titles = display_titles(titles, years)
        self.matcher = TitleMatcher(titles, years, threshold=self.threshold)
        self.calls = 0
        self.trie: TitleTrie | None = None
        if self.constrained:
            if self.tokenizer.eos_token_id is None:
                raise RecfairError(NO_EOS.format(path=self.path))
            sep = self.tokenizer(self.separator, add_special_tokens=False)["input_ids"]
            if len(sep) != 1:
                raise RecfairError(MULTI_TOKEN_SEP.format(sep=self.separator, n=len(sep)))
            seqs = [self.tokenizer(t, add_special_tokens=False)["input_ids"] for t in self.titles]
            self.trie = TitleTrie(seqs, separator=sep[0])
            self.max_title_tokens = max(len(s) for s in seqs)

    def _encode(self, prompts: Sequence[str]):
        enc = self.tokenizer(list(prompts), return_tensors="pt", padding=True)
        return enc["input_ids"].to(self.device), enc["attention_mask"].to(self.device)

    def generate_report(
        self, prompts: Sequence[str], k: int, seen: Sequence[Sequence[int]] | None = None
    ) -> tuple[Recommendations, list[MatchReport]]:
        """Lists plus one :class:`MatchReport` per prompt (``seen`` items are banned when constrained)."""
        torch = require("torch", extra="llm", feature="The Hugging Face backend")
        k = check_positive_int(k, "k", "generate")
        lists: list[list[int]] = []
        reports: list[MatchReport] = []
        eos = self.tokenizer.eos_token_id
        for start in range(0, len(prompts), self.batch_size):
            batch = list(prompts[start : start + self.batch_size])
            ids, mask = self._encode(batch)
            self.calls += len(batch)
            with torch.no_grad():
                if self.trie is not None:
                    banned = None if seen is None else [np.asarray(s, np.int64) for s in seen[start : start + len(batch)]]
                    constraint = TitleTrieConstraint(self.trie, k, eos, banned=banned)
                    new = generate_constrained(
                        self.model, ids, mask, constraint, max_new_tokens=k * (self.max_title_tokens + 1) + 1,
                        num_beams=self.num_beams, eos_token_id=eos, pad_token_id=self.tokenizer.pad_token_id,
                    )
                    for r, row in enumerate(new.cpu().tolist()):
                        b = () if banned is None else banned[r]
                        items = parse_trie_output(self.trie, row, eos, k, b)
                        lists.append(items)
                        reports.append(MatchReport(raw=[self.titles[i] for i in items], items=list(items)))
                else:
                    out = self.model.generate(
                        input_ids=ids, attention_mask=mask, do_sample=False, num_beams=self.num_beams,
                        max_new_tokens=k * 24, pad_token_id=self.tokenizer.pad_token_id,
                    )
                    texts = self.tokenizer.batch_decode(out[:, ids.shape[1] :], skip_special_tokens=True)
                    for r, text in enumerate(texts):
                        s = seen[start + r] if seen is not None else ()
                        rep = self.matcher.match_reply(text, k, s)
                        lists.append(rep.items)
                        reports.append(rep)
        return lists_to_recommendations(lists, k), reports
