"""The built-in generative recommender: a small GPT-2 decoder trained from scratch.

Each user becomes one token sequence (P5-style, items are single tokens)::

    [BOS] <gender=F> <age=25-34> <occupation=writer> [SEP] item_1 item_2 ... item_n

and a causal transformer (``transformers.GPT2LMHeadModel`` built from a
``GPT2Config``; no downloaded weights) learns to predict every next item from the
profile and the items before it, with a full softmax over the item tokens (the
SASRec recipe with a cross-entropy loss).  Ranking reads the item softmax at the
last position; generation decodes item tokens with catalogue constraints
(:mod:`recfair.models.generative.constrained`).  Attribute tokens are replaced by a
neutral token at random during training (``profile_dropout``), so the model also
knows what a user "without a stated gender" looks like — the neutral profile of the
counterfactual probe.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from pydantic import Field

from recfair.errors import RecfairError, check_positive_int, require
from recfair.models.base import Penalty, Recommender
from recfair.models.config import ComponentConfig, Fraction, training_config
from recfair.models.generative.vocab import BOS_ID, PAD_ID, SEP_ID, ProfileVocab

if TYPE_CHECKING:  # torch and transformers are optional, imported lazily
    import torch
    from transformers import GPT2LMHeadModel

log = logging.getLogger(__name__)

VOCAB_KEY = "vocab.json"  # stored as a uint8 tensor so everything stays in one safetensors file
GENERATE_TOO_LONG = (
    "Cannot generate k={k} items: the model has positions for max_len={max_len} items after the profile. "
    "Use k <= {max_len}, or rank with score()/recommend() instead."
)
ITEM_INIT_SHAPE = "item_init must be an (n_items, d) array with n_items = {n}; got shape {shape}."


def _torch():
    return require("torch", extra="llm", feature="The built-in generative recommender")


def build_network(
    vocab_size: int, n_positions: int, embedding_size: int, n_layers: int, n_heads: int, dropout: float
) -> GPT2LMHeadModel:
    """A randomly initialised ``GPT2LMHeadModel`` with tied input/output embeddings."""
    transformers = require("transformers", extra="llm", feature="The built-in generative recommender")
    cfg = transformers.GPT2Config(
        vocab_size=vocab_size,
        n_positions=n_positions,
        n_embd=embedding_size,
        n_layer=n_layers,
        n_head=n_heads,
        n_inner=2 * embedding_size,
        resid_pdrop=dropout,
        embd_pdrop=dropout,
        attn_pdrop=dropout,
        bos_token_id=BOS_ID,
        eos_token_id=None,
        pad_token_id=None,  # training is right-padded and never attends to pads; generate gets PAD_ID explicitly
        tie_word_embeddings=True,
    )
    return transformers.GPT2LMHeadModel(cfg)


def fit_length(seq: np.ndarray, limit: int, prefix: int) -> np.ndarray:
    """Cut a token sequence to ``limit`` tokens, keeping its ``prefix`` (BOS + profile + SEP) and the latest items."""
    seq = np.asarray(seq, dtype=np.int64)
    if len(seq) <= limit:
        return seq
    if len(seq) and seq[0] == BOS_ID and limit > prefix:
        return np.concatenate([seq[:prefix], seq[len(seq) - (limit - prefix) :]])
    return seq[-limit:]


def left_pad(seqs: Sequence[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Left-padded ``input_ids``, ``attention_mask`` and ``position_ids`` tensors."""
    torch = _torch()
    width = max(len(s) for s in seqs)
    ids = np.full((len(seqs), width), PAD_ID, dtype=np.int64)
    mask = np.zeros((len(seqs), width), dtype=np.int64)
    for r, s in enumerate(seqs):
        ids[r, width - len(s) :] = s
        mask[r, width - len(s) :] = 1
    pos = np.clip(np.cumsum(mask, axis=1) - 1, 0, None)
    return torch.from_numpy(ids), torch.from_numpy(mask), torch.from_numpy(pos)


class GenerativeRecommender(Recommender):
    """Small GPT-2-style generative recommender with item tokens, trained from scratch.

    Parameters
    ----------
    embedding_size, n_layers, n_heads:
        Transformer width, depth and attention heads.
    max_len:
        History items kept per sequence (the most recent); longer training
        sequences are cut into consecutive windows of this length.
    dropout:
        Dropout on embeddings, attention and residual paths.
    profile_fields:
        User attribute columns turned into profile tokens (missing ones are skipped).
    profile_dropout:
        Probability, per training window and field, of replacing an attribute
        token with the field's neutral token.
    epochs, batch_size, learning_rate, reg:
        Adam(W) training: ``reg`` is the decoupled weight decay.
    patience:
        With a ``valid`` set, stop after this many epochs without a better
        validation nDCG@10 and keep the best epoch's weights.
    item_init:
        Optional path of a ``.safetensors`` (key ``item_embeddings``) or ``.npy``
        file with ``(n_items, d)`` item vectors (e.g. ``lm-*`` text embeddings);
        their top principal components initialise the item tokens.
    seed:
        Seeds initialisation, batch order, dropout and profile dropout.

    Examples
    --------
    >>> from recfair.data import load_dataset, make_split          # doctest: +SKIP
    >>> split = make_split(load_dataset("ml-100k"), "user-temporal", test_size=0.2, seed=0)
    >>> model = GenerativeRecommender(epochs=30).fit(split.train)  # doctest: +SKIP
    >>> recs = model.recommend(k=10)                                # doctest: +SKIP
    >>> flipped = model.score_profiles([0, 1], {"gender": "F"})    # doctest: +SKIP
    """

    name = "generative"
    supports_cold_users = True  # profile tokens alone give a (profile-conditioned) ranking
    accepts_penalty = True
    uses_sample_weight = True

    class Config(training_config(ComponentConfig, "GenerativeTraining", embedding_size=64, epochs=20, batch_size=64,
                                 learning_rate=2e-3, reg=0.0, patience=5, seed=0)):
        """Hyper-parameters of :class:`GenerativeRecommender`."""

        n_layers: int = Field(2, ge=1, description="transformer blocks")
        n_heads: int = Field(2, ge=1, description="attention heads (must divide embedding_size)")
        max_len: int = Field(50, ge=1, description="history items kept per sequence (the most recent)")
        dropout: Fraction = Field(0.2, description="dropout on embeddings, attention and residual paths")
        profile_fields: tuple[str, ...] = Field(
            ("gender", "age", "occupation"), description="user attribute columns turned into profile tokens"
        )
        profile_dropout: Fraction = Field(0.2, description="chance per window and field of a neutral profile token")
        item_init: str | None = Field(None, description="(n_items, d) item vectors (.safetensors or .npy) initialising item tokens")

    # ------------------------------------------------------------- checks
    def _check_params(self) -> None:
        """The one cross-field rule the typed ``Config`` does not express."""
        owner = type(self).__name__
        if self.embedding_size % self.n_heads:
            raise RecfairError(
                f"The 'embedding_size' parameter of {owner} must be a multiple of n_heads={self.n_heads}. "
                f"Got {self.embedding_size} instead."
            )

    # --------------------------------------------------------------- fit
    def fit(
        self,
        train: Any,
        valid: Any | None = None,
        *,
        sample_weight: np.ndarray | None = None,
        penalty: Penalty | None = None,
    ) -> "GenerativeRecommender":
        """Train on every user's time-ordered training sequence (all positions are targets)."""
        from recfair.models.generative import training as gen_training

        self._check_params()
        self._start_fit(train, sample_weight)
        self.vocab_ = ProfileVocab.from_dataset(train, self.profile_fields)
        self.users_table_ = train.users[list(self.vocab_.fields)]
        torch = _torch()
        torch.manual_seed(self.seed)  # transformers' weight init draws from the global generator
        self.net_ = build_network(
            self.vocab_.size, self.vocab_.prefix_length + self.max_len, self.embedding_size,
            self.n_layers, self.n_heads, self.dropout,
        )
        if self.item_init is not None:
            self._init_items(gen_training.load_item_init(self.item_init))
        gen_training.train(self, train, valid, sample_weight=sample_weight, penalty=penalty)
        self.net_.eval()
        return self

    def _init_items(self, emb: np.ndarray) -> None:
        """Initialise item token embeddings from the principal components of ``emb``."""
        torch = _torch()
        if emb.ndim != 2 or emb.shape[0] != self.n_items_:
            raise RecfairError(ITEM_INIT_SHAPE.format(n=self.n_items_, shape=emb.shape))
        x = emb.astype(np.float64) - emb.mean(axis=0, keepdims=True)
        u, s, _ = np.linalg.svd(x, full_matrices=False)
        d = min(self.embedding_size, u.shape[1])
        proj = np.zeros((self.n_items_, self.embedding_size))
        proj[:, :d] = u[:, :d] * s[:d]
        proj *= 0.02 / max(proj.std(), 1e-12)  # GPT-2's initialisation scale
        wte = self.net_.transformer.wte.weight
        with torch.no_grad():
            wte[self.vocab_.item_offset :] = torch.from_numpy(proj.astype(np.float32))

    # ------------------------------------------------------------- prompts
    def prompt_ids(
        self, users: np.ndarray, overrides: Mapping[str, Any] | None = None, history: Sequence[np.ndarray] | None = None
    ) -> list[np.ndarray]:
        """Token sequences ``[BOS] profile [SEP] last max_len items`` of ``users``.

        ``overrides`` replaces profile fields (``None`` → neutral token); ``history``
        replaces the users' training histories (item indices, oldest first).
        """
        self._check_fitted()
        users = np.asarray(users, dtype=np.int64).ravel()
        prof = self.vocab_.profile_ids(self.users_table_, users, overrides)
        off = self.vocab_.item_offset
        out = []
        for r, u in enumerate(users):
            h = np.asarray(self.history_[u] if history is None else history[r], dtype=np.int64)[-self.max_len :]
            out.append(np.concatenate([[BOS_ID], prof[r], [SEP_ID], h + off]))
        return out

    def render_prompts(
        self, users: np.ndarray, overrides: Mapping[str, Any] | None = None
    ) -> list[str]:
        """Text prompts (vocabulary tokens) for the generative backend interface."""
        return [
            self.vocab_.render(p[1 : 1 + len(self.vocab_.fields)], p[self.vocab_.prefix_length :] - self.vocab_.item_offset)
            for p in self.prompt_ids(users, overrides)
        ]

    # ------------------------------------------------------------- score
    def score_ids(self, seqs: Sequence[np.ndarray], batch_size: int = 256) -> np.ndarray:
        """Item logits at the last position of each token sequence: ``(n, n_items)``."""
        from recfair.models.torch_kit import torch_threads

        torch = _torch()
        self._check_fitted()
        n_pos, plen = self.net_.config.n_positions, self.vocab_.prefix_length
        out = np.empty((len(seqs), self.n_items_), dtype=np.float32)
        items_w = self.net_.transformer.wte.weight[self.vocab_.item_offset :]
        with torch_threads(self.runtime.threads), torch.no_grad():
            self.net_.eval()
            for start in range(0, len(seqs), batch_size):
                chunk = [fit_length(s, n_pos, plen) for s in seqs[start : start + batch_size]]
                ids, mask, pos = left_pad(chunk)
                h = self.net_.transformer(input_ids=ids, attention_mask=mask, position_ids=pos).last_hidden_state
                out[start : start + len(chunk)] = (h[:, -1] @ items_w.T).numpy()
        return out

    def score(self, users: np.ndarray) -> np.ndarray:
        """Item logits after each user's prompt (stored profile + latest training items, see :meth:`prompt_ids`)."""
        users = self._check_users(users)
        return self.score_ids(self.prompt_ids(users))

    def score_profiles(self, users: np.ndarray, overrides: Mapping[str, Any] | None = None) -> np.ndarray:
        """Scores with the users' profile fields replaced (counterfactual probe hook)."""
        users = self._check_users(users)
        return self.score_ids(self.prompt_ids(users, overrides))

    def profile_values(self) -> dict[str, list[str]]:
        """Value labels of every profile field the model knows."""
        self._check_fitted()
        return {f: list(self.vocab_.values[f]) for f in self.vocab_.fields}

    # ----------------------------------------------------------- generate
    def generate_ids(
        self,
        seqs: Sequence[np.ndarray],
        k: int,
        *,
        exclude: Sequence[np.ndarray] | None = None,
        num_beams: int = 1,
        batch_size: int = 128,
    ) -> np.ndarray:
        """Decode ``k`` items after each token sequence: ``(n, k)`` item indices.

        Decoding is greedy (or beam search) and constrained: only item tokens,
        never an item twice, never an item in ``exclude[r]``.  The generated items
        need positions too, so the history is cut to its latest ``max_len - k``
        items (the profile prefix is always kept); ``k`` may not exceed ``max_len``.
        """
        from recfair.models.torch_kit import torch_threads
        from recfair.models.generative.constrained import ItemTokenConstraint, generate_constrained

        torch = _torch()
        self._check_fitted()
        k = check_positive_int(k, "k", "generate")
        if k > self.max_len:
            raise RecfairError(GENERATE_TOO_LONG.format(k=k, max_len=self.max_len))
        off = self.vocab_.item_offset
        out = np.empty((len(seqs), k), dtype=np.int32)
        n_pos, plen = self.net_.config.n_positions, self.vocab_.prefix_length
        with torch_threads(self.runtime.threads), torch.no_grad():
            self.net_.eval()
            for start in range(0, len(seqs), batch_size):
                chunk = [fit_length(s, n_pos - k, plen) for s in seqs[start : start + batch_size]]
                banned = None if exclude is None else [np.asarray(e, np.int64) + off for e in exclude[start : start + len(chunk)]]
                constraint = ItemTokenConstraint(off, self.n_items_, self.vocab_.size, banned=banned)
                ids, mask, _ = left_pad(chunk)
                new = generate_constrained(self.net_, ids, mask, constraint, max_new_tokens=k, num_beams=num_beams)
                got = new.numpy().astype(np.int64) - off
                got[(got < 0) | (got >= self.n_items_)] = -1  # pad: catalogue exhausted
                block = np.full((len(chunk), k), -1, dtype=np.int32)
                block[:, : got.shape[1]] = got
                out[start : start + len(chunk)] = block
        return out

    def observe(self, interactions: Any) -> "GenerativeRecommender":
        """Append post-training interactions (time order) to the users' histories; no re-training."""
        from recfair.models.generative.training import user_sequences

        super().observe(interactions)
        if interactions.n_interactions:
            new, _ = user_sequences(interactions)
            for u in np.unique(interactions.user):
                old = self.history_[u]
                add = new[u][~np.isin(new[u], old)]
                self.history_[u] = np.concatenate([old, add])
        return self

    # ------------------------------------------------------------ save/load
    def _get_state(self) -> dict[str, np.ndarray]:
        state = {f"net.{k}": v.detach().cpu().numpy() for k, v in self.net_.state_dict().items() if k != "lm_head.weight"}
        meta = {"vocab": self.vocab_.to_json(), "users": self.users_table_.reset_index(drop=True).to_dict(orient="list")}
        state[VOCAB_KEY] = np.frombuffer(json.dumps(meta, default=str).encode(), dtype=np.uint8)
        lengths = np.asarray([len(h) for h in self.history_], dtype=np.int64)
        state["history.indptr"] = np.concatenate([[0], np.cumsum(lengths)])
        state["history.items"] = np.concatenate([*self.history_, np.empty(0, np.int64)]).astype(np.int32)
        return state

    def _set_state(self, state: dict[str, np.ndarray]) -> None:
        import pandas as pd

        torch = _torch()
        meta = json.loads(bytes(state[VOCAB_KEY]).decode())
        self.vocab_ = ProfileVocab.from_json(meta["vocab"])
        users = pd.DataFrame(meta["users"])
        users.index.name = "user"
        self.users_table_ = users
        ptr, items = state["history.indptr"], state["history.items"].astype(np.int64)
        self.history_ = [items[ptr[u] : ptr[u + 1]] for u in range(len(ptr) - 1)]
        self.net_ = build_network(
            self.vocab_.size, self.vocab_.prefix_length + self.max_len, self.embedding_size,
            self.n_layers, self.n_heads, self.dropout,
        )
        weights = {k[4:]: torch.from_numpy(np.array(v)) for k, v in state.items() if k.startswith("net.")}
        missing, unexpected = self.net_.load_state_dict(weights, strict=False)
        missing = [m for m in missing if m != "lm_head.weight"]  # tied to the input embeddings
        if missing or unexpected:
            raise RecfairError(f"saved generative model does not match its config: missing {missing}, unexpected {unexpected}")
        self.net_.tie_weights()
        self.net_.eval()


__all__ = ["GenerativeRecommender", "build_network", "fit_length", "left_pad"]
