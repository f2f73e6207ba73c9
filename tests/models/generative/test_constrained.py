"""Constrained decoding never emits an invalid, duplicate or banned item (property tests)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from recfair.errors import RecfairError
from recfair.models.generative.constrained import (
    EMPTY_TITLE,
    ItemTokenConstraint,
    TitleTrie,
    TitleTrieConstraint,
    parse_trie_output,
)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), k=st.integers(1, 12), n_banned=st.integers(0, 55))
def test_builtin_generation_valid_distinct_unbanned(gen_model, seed, k, n_banned):
    rng = np.random.default_rng(seed)
    n_items = gen_model.n_items_
    users = rng.integers(0, gen_model.n_users_, size=3)
    # random profiles (incl. neutral) and random histories: prompts the model never saw
    over = {"gender": rng.choice(["F", "M", None])}
    hist = [rng.choice(n_items, size=rng.integers(0, 20), replace=False) for _ in users]
    seqs = gen_model.prompt_ids(users, over, history=hist)
    banned = [rng.choice(n_items, size=n_banned, replace=False) for _ in users]
    out = gen_model.generate_ids(seqs, k, exclude=banned, num_beams=int(rng.integers(1, 3)))
    assert out.shape == (3, k)
    for row, ban in zip(out, banned):
        real = row[row >= 0]
        assert np.all(real < n_items)
        assert len(set(real.tolist())) == len(real)
        assert not set(real.tolist()) & set(ban.tolist())
        # padding only when the catalogue is exhausted, and only at the end
        assert len(real) == min(k, n_items - n_banned)
        assert np.all(row[: len(real)] >= 0)


def test_item_constraint_masks_non_items():
    c = ItemTokenConstraint(item_offset=3, n_items=4, vocab_size=8, banned=[np.array([4])])
    c.prompt_length = 2
    ids = torch.tensor([[1, 2, 5]])  # item token 5 already generated
    out = c(ids, torch.zeros(1, 8))
    allowed = torch.isfinite(out[0]).nonzero().ravel().tolist()
    assert allowed == [3, 6]
    with pytest.raises(RecfairError):
        ItemTokenConstraint(3, 4, 8)(ids, torch.zeros(1, 8))


catalogues = st.lists(st.lists(st.integers(1, 6), min_size=1, max_size=4), min_size=1, max_size=25)


@settings(max_examples=200, deadline=None)
@given(cat=catalogues, seed=st.integers(0, 10_000), k=st.integers(1, 8), beams=st.integers(1, 3))
def test_trie_decoding_valid_distinct(cat, seed, k, beams):
    """Greedy decoding over random scores with the trie constraint (separator 0, EOS 9)."""
    rng = np.random.default_rng(seed)
    trie = TitleTrie(cat, separator=0)
    banned = [rng.choice(len(cat), size=rng.integers(0, len(cat) + 1), replace=False) for _ in range(2)]
    c = TitleTrieConstraint(trie, k, eos_id=9, banned=banned, num_beams=beams)
    c.prompt_length = 1
    rows = torch.full((2 * beams, 1), 7)
    for _ in range(k * 5 + 1):
        scores = torch.from_numpy(rng.normal(size=(rows.shape[0], 10)).astype(np.float32))
        nxt = c(rows, scores).argmax(dim=1, keepdim=True)
        assert torch.isfinite(c(rows, scores).gather(1, nxt)).all()  # something is always allowed
        rows = torch.cat([rows, nxt], dim=1)
    for r in range(rows.shape[0]):
        gen = rows[r, 1:].tolist()
        ban = banned[r // beams]
        items = parse_trie_output(trie, gen, 9, k, ban)
        assert len(set(items)) == len(items) <= k
        assert not set(items) & set(ban.tolist())
        for i in items:  # every item's tokens are exactly its catalogue sequence
            assert 0 <= i < len(cat)
        available = len(cat) - len(ban)
        assert len(items) == min(k, available)
        # the token stream is title SEP title SEP ... EOS, nothing else
        stream = gen[: gen.index(9)] if 9 in gen else gen
        expected = [t for i in items for t in (*cat[i], 0)]
        assert stream == expected


def test_trie_prefix_titles_and_duplicates():
    # "Heat" is a prefix of "Heat Wave"; item 2 duplicates item 0
    trie = TitleTrie([[5], [5, 6], [5]], separator=0)
    c = TitleTrieConstraint(trie, k=3, eos_id=9)
    assert sorted(c.allowed_tokens(0, [])) == [5]
    assert sorted(c.allowed_tokens(0, [5])) == [0, 6]  # end the title here or continue
    assert sorted(c.allowed_tokens(0, [5, 0, 5])) == [0, 6]  # the duplicate title is still available
    assert sorted(c.allowed_tokens(0, [5, 0, 5, 0, 5])) == [6]  # both "Heat" items used
    assert c.allowed_tokens(0, [5, 0, 5, 0, 5, 6, 0]) == [9]  # k reached → EOS
    assert parse_trie_output(trie, [5, 0, 5, 0, 5, 6, 0, 9], 9, 3) == [0, 2, 1]
    with pytest.raises(RecfairError) as e:
        TitleTrie([[1], []], separator=0)
    assert str(e.value) == EMPTY_TITLE.format(item=1)
