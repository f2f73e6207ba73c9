"""Catalogue-constrained decoding for Hugging Face ``generate``.

Two logits processors (callables ``(input_ids, scores) -> scores`` as
``transformers`` expects) make a causal LM emit only items of the catalogue,
never the same item twice and, optionally, never an item of a per-prompt banned
set (e.g. the user's training items):

* :class:`ItemTokenConstraint` — items are single tokens (the built-in model).
* :class:`TitleTrieConstraint` — items are token sequences (titles) in a prefix
  trie; the output is ``title SEP title SEP ...`` and the trie walk decides which
  tokens may follow.  The walk is recomputed from each row's generated tokens
  (cached per prefix), so it is correct under beam search, which reorders rows.

:func:`parse_trie_output` maps generated tokens back to item indices with the same walk.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np

from recfair.errors import RecfairError

if TYPE_CHECKING:  # torch is optional, used through the model passed in
    import torch

EMPTY_TITLE = "Item {item} has an empty token sequence; every catalogue item needs at least one token."
SEP_IN_TITLE = "The separator token {sep} occurs inside the token sequence of item {item}; choose another separator."


def _neg_inf_except(scores, allowed):
    import torch

    out = torch.full_like(scores, float("-inf"))
    out[allowed] = scores[allowed]
    return out


class ItemTokenConstraint:
    """Only item tokens ``[item_offset, item_offset + n_items)``, each at most once per row.

    Parameters
    ----------
    item_offset, n_items, vocab_size:
        Where the item block sits in the vocabulary.
    banned:
        Optional per-prompt arrays of *token ids* that may never be emitted.
    num_beams:
        Rows of ``input_ids`` are ``prompt * num_beams + beam``.
    """

    def __init__(self, item_offset: int, n_items: int, vocab_size: int, banned: Sequence[np.ndarray] | None = None, num_beams: int = 1, pad_id: int = 0) -> None:
        self.item_offset, self.n_items, self.vocab_size = item_offset, n_items, vocab_size
        self.banned, self.num_beams, self.pad_id = banned, num_beams, pad_id
        self.prompt_length: int | None = None

    def __call__(self, input_ids, scores):
        import torch

        if self.prompt_length is None:
            raise RecfairError("ItemTokenConstraint.prompt_length must be set before decoding")
        n = scores.shape[0]
        allowed = torch.zeros_like(scores, dtype=torch.bool)
        allowed[:, self.item_offset : self.item_offset + self.n_items] = True
        gen = input_ids[:, self.prompt_length :]
        if gen.shape[1]:
            allowed.scatter_(1, gen, False)
        if self.banned is not None:
            for r in range(n):
                b = self.banned[r // self.num_beams]
                if len(b):
                    allowed[r, torch.as_tensor(b, dtype=torch.long)] = False
        empty = ~allowed.any(dim=1)
        allowed[empty, self.pad_id] = True  # catalogue exhausted: pad (parsed as "no item")
        return _neg_inf_except(scores, allowed)


@dataclass
class _Node:
    children: dict[int, int]
    items: list[int]  # items whose sequence ends here
    lo: int = 0  # items of the subtree are dfs_items[lo:hi]
    hi: int = 0


class TitleTrie:
    """Prefix trie over the token sequences of the catalogue's items.

    ``sequences[i]`` is the token-id sequence of item ``i``; identical sequences
    (duplicate titles) share a terminal node and are emitted in index order.
    """

    def __init__(self, sequences: Sequence[Sequence[int]], separator: int) -> None:
        self.separator = int(separator)
        self.nodes: list[_Node] = [_Node({}, [])]
        for item, seq in enumerate(sequences):
            if len(seq) == 0:
                raise RecfairError(EMPTY_TITLE.format(item=item))
            node = 0
            for tok in seq:
                tok = int(tok)
                if tok == self.separator:
                    raise RecfairError(SEP_IN_TITLE.format(sep=tok, item=item))
                nxt = self.nodes[node].children.get(tok)
                if nxt is None:
                    nxt = len(self.nodes)
                    self.nodes.append(_Node({}, []))
                    self.nodes[node].children[tok] = nxt
                node = nxt
            self.nodes[node].items.append(item)
        self.n_items = len(sequences)
        order: list[int] = []
        stack = [(0, False)]
        while stack:  # iterative DFS assigning contiguous item ranges to subtrees
            node, done = stack.pop()
            nd = self.nodes[node]
            if done:
                nd.hi = len(order)
                continue
            nd.lo = len(order)
            order.extend(nd.items)
            stack.append((node, True))
            stack.extend((c, False) for c in sorted(nd.children.values(), reverse=True))
        self.dfs_items = np.asarray(order, dtype=np.int64)
        self.dfs_pos = np.empty(self.n_items, dtype=np.int64)
        self.dfs_pos[self.dfs_items] = np.arange(self.n_items)

    def walk(self, tokens: Sequence[int], banned: Sequence[int] = ()) -> tuple[list[int], int, bool]:
        """Completed items, current node and validity of a generated token sequence.

        A completed item is the first item of the terminal node that the separator
        closes and that is neither used already nor ``banned``.  ``valid`` is False
        when a token leaves the trie or closes a node with no such item.
        """
        items: list[int] = []
        used: set[int] = {int(b) for b in banned}
        node = 0
        for tok in tokens:
            tok = int(tok)
            nd = self.nodes[node]
            if tok == self.separator and node != 0:
                free = [i for i in nd.items if i not in used]
                if not free:
                    return items, node, False
                items.append(free[0])
                used.add(free[0])
                node = 0
            elif tok in nd.children:
                node = nd.children[tok]
            else:
                return items, node, False
        return items, node, True


class TitleTrieConstraint:
    """Logits processor: ``k`` distinct catalogue titles separated by ``trie.separator``, then EOS.

    Parameters
    ----------
    trie:
        The catalogue's :class:`TitleTrie`.
    k:
        Titles to emit before EOS is forced.
    eos_id:
        Token that ends generation.
    banned:
        Optional per-prompt arrays of *item indices* never to emit.
    num_beams:
        Rows of ``input_ids`` are ``prompt * num_beams + beam``.
    """

    def __init__(self, trie: TitleTrie, k: int, eos_id: int, banned: Sequence[np.ndarray] | None = None, num_beams: int = 1) -> None:
        self.trie, self.k, self.eos_id = trie, k, int(eos_id)
        self.banned, self.num_beams = banned, num_beams
        self.prompt_length: int | None = None
        self._cache: dict[tuple[int, tuple[int, ...]], list[int]] = {}

    def _blocked_cumsum(self, prompt: int, used: Sequence[int]) -> np.ndarray:
        blocked = np.zeros(self.trie.n_items + 1, dtype=np.int64)
        if self.banned is not None and len(self.banned[prompt]):
            blocked[1 + self.trie.dfs_pos[np.asarray(self.banned[prompt], np.int64)]] = 1
        if used:
            blocked[1 + self.trie.dfs_pos[np.asarray(used, np.int64)]] = 1
        return np.cumsum(blocked)

    def allowed_tokens(self, prompt: int, generated: Sequence[int]) -> list[int]:
        """Token ids allowed after ``generated`` (the tokens produced so far for ``prompt``)."""
        key = (prompt, tuple(int(t) for t in generated))
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        banned = () if self.banned is None else self.banned[prompt]
        items, node, valid = self.trie.walk(generated, banned)
        if not valid or len(items) >= self.k or (generated and int(generated[-1]) == self.eos_id):
            out = [self.eos_id]
        else:
            cum = self._blocked_cumsum(prompt, items)
            nd = self.trie.nodes[node]
            out = []
            for tok, child in nd.children.items():
                c = self.trie.nodes[child]
                if (c.hi - c.lo) - (cum[c.hi] - cum[c.lo]) > 0:
                    out.append(tok)
            if node != 0 and nd.items:
                lo, hi = nd.lo, nd.lo + len(nd.items)  # the node's own items come first in its range
                if (hi - lo) - (cum[hi] - cum[lo]) > 0:
                    out.append(self.trie.separator)
            if not out:
                out = [self.eos_id]  # nothing left to recommend
        self._cache[key] = out
        return out

    def __call__(self, input_ids, scores):
        import torch

        if self.prompt_length is None:
            raise RecfairError("TitleTrieConstraint.prompt_length must be set before decoding")
        allowed = torch.zeros_like(scores, dtype=torch.bool)
        gen = input_ids[:, self.prompt_length :].tolist()
        for r, g in enumerate(gen):
            allowed[r, self.allowed_tokens(r // self.num_beams, g)] = True
        return _neg_inf_except(scores, allowed)


def parse_trie_output(trie: TitleTrie, tokens: Sequence[int], eos_id: int, k: int, banned: Sequence[int] = ()) -> list[int]:
    """Item indices of one generated sequence (stops at EOS; at most ``k``)."""
    toks = [int(t) for t in tokens]
    if eos_id in toks:
        toks = toks[: toks.index(eos_id)]
    items, _, _ = trie.walk(toks, banned)
    return items[:k]


def generate_constrained(
    net, input_ids, attention_mask, constraint, *, max_new_tokens: int, num_beams: int = 1,
    eos_token_id: int | None = None, pad_token_id: int = 0,
) -> torch.Tensor:
    """Deterministic (greedy / beam) constrained ``generate``; returns the new tokens ``(n, ≤ max_new_tokens)``."""
    from transformers import LogitsProcessorList

    constraint.prompt_length = int(input_ids.shape[1])
    constraint.num_beams = num_beams
    out = net.generate(
        input_ids=input_ids,
        attention_mask=attention_mask,
        max_new_tokens=max_new_tokens,
        min_new_tokens=0,
        do_sample=False,
        num_beams=num_beams,
        num_return_sequences=1,
        logits_processor=LogitsProcessorList([constraint]),
        eos_token_id=eos_token_id,
        pad_token_id=pad_token_id,
        bos_token_id=None,
        early_stopping=True if num_beams > 1 else False,
        renormalize_logits=False,
    )
    return out[:, input_ids.shape[1] :]
