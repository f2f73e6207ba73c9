"""Shared machinery of the large-model recommenders (``lm-*``).

:class:`LMRecommender` keeps what every text-reading model needs beyond the base
:class:`~recfair.models.base.Recommender`: the rendered item texts, each user's
rendered profile, the item titles and a recency-ordered history of every user
(training interactions, then anything passed to :meth:`observe`).  All of it is
stored with the weights (strings as UTF-8 byte arrays), so a loaded model scores
users — cold ones included — without the original data set.

Interface for counterfactual probes (used by ``recfair.fairness``):

* :attr:`user_fields_` — the profile fields the fitted model reads (``user_fields``
  as given; the default keeps those of age / gender / occupation the data set has);
* :meth:`render_user_texts` — each user's text under the true profile
  (``overrides=None``), the neutral profile (``fields=()``) or a counterfactual
  one (``overrides={"gender": "F"}``);
* :meth:`score_texts` — ``(n, n_items)`` scores of arbitrary user texts.
"""

from __future__ import annotations

import logging
from typing import Any, Mapping, Sequence

import numpy as np

from recfair.data import text as T
from recfair.errors import RecfairError, check_positive_int
from recfair.models.base import Recommender, checked_indices
from recfair.models.lm.history import history_bags, pack_strings, resolve_history, unpack_strings
from recfair.recommendations import Recommendations, rank_scores

log = logging.getLogger(__name__)

BAD_TEXTS = "score_texts needs a sequence of strings; got {what}."
BAD_TEXT_USERS = "score_texts got {n} texts but {m} users; pass one user index per text (or none)."
BAD_NEW_USERS = "score_new_users got {n} profiles but {m} histories; pass one history per profile (or none)."
BAD_PROFILE = ("new user {i}: the profile must be a mapping of field to value (or None); got {what}.")
UNKNOWN_PROFILE_FIELD = ("new user {i}: profile field {field!r} is not one this model reads; it was trained "
                         "with user_fields {fields}.")


class LMRecommender(Recommender):
    """Base of the ``lm-*`` models: texts, histories, cold start, text scoring.

    Subclasses store the shared hyper-parameters ``encoder``, ``user_fields``,
    ``max_history``, ``item_template`` and ``user_template`` and implement
    ``fit`` (calling :meth:`_start_lm_fit`), ``score_texts``, ``_score_known``
    (scores of users by index) and ``_get_model_state`` / ``_set_model_state``.
    """

    supports_cold_users = True
    supports_cold_items = True
    accepts_penalty = True
    uses_sample_weight = True
    #: whether the user text includes the history titles (else: profile only,
    #: and the history enters through item representations)
    history_in_text: bool = True

    # ---------------------------------------------------------------- checks
    def _check_lm_params(self) -> None:
        """The user template's placeholders (the rest is validated by ``Config``)."""
        T.check_user_templates(self.user_template, T.DEFAULT_PROFILE_TEMPLATE, T.DEFAULT_HISTORY_TEMPLATE)

    # ------------------------------------------------------------------ fit
    def _start_lm_fit(self, train, sample_weight=None) -> None:
        """Base bookkeeping plus the texts and histories every LM model stores."""
        self._check_lm_params()
        self._start_fit(train, sample_weight)
        self.item_texts_ = T.render_items(train, self.item_template)
        self.titles_ = T.item_titles(train)
        users = np.arange(train.n_users)
        if tuple(self.user_fields) == T.DEFAULT_USER_FIELDS:  # the default adapts to the data set
            self.user_fields_ = [f for f in T.DEFAULT_USER_FIELDS if f in train.users.columns]
        else:  # explicit fields must exist (profile_phrases raises otherwise)
            self.user_fields_ = list(self.user_fields)
        self.profile_phrases_ = T.profile_phrases(train, users, fields=tuple(self.user_fields_))
        self.profile_texts_ = [T.format_user(p, [], template=self.user_template) for p in self.profile_phrases_]
        self._set_history(train, users)
        self.trained_items_ = np.asarray(train.item_counts > 0)
        self.folded_items_ = np.zeros(train.n_items, dtype=bool)
        self.observed_ = None  # interactions observed since this fit (not saved)
        self.trained_users_ = np.asarray(train.user_counts > 0)

    def _set_history(self, ds, users: np.ndarray) -> None:
        hists = T.recency_histories(ds, users)
        self.history_indptr_ = np.zeros(len(users) + 1, dtype=np.int64)
        self.history_indptr_[1:] = np.cumsum([len(h) for h in hists])
        self.history_items_ = np.concatenate(hists).astype(np.int32) if hists else np.zeros(0, np.int32)

    def history_of(self, user: int) -> np.ndarray:
        """Known items of ``user``, most recent first (training + observed)."""
        return self.history_items_[self.history_indptr_[user] : self.history_indptr_[user + 1]]

    def _known_bags(self, users: np.ndarray, window: int | None):
        """History bags of users from the known history (most recent first; the first ``window`` items)."""
        hi = self.history_indptr_
        ends = None if window is None else np.minimum(hi[users + 1] - hi[users], window)
        return history_bags(hi, self.history_items_.astype(np.int64), users, None, 0.0, None, None, ends)

    def _text_encoder(self):
        from recfair.models.lm.encoder import TextEncoder

        if getattr(self, "_encoder_obj", None) is None:
            self._encoder_obj = TextEncoder(self.encoder, batch_size=getattr(self, "encoder_batch_size", 64))
        return self._encoder_obj

    # -------------------------------------------------------------- observe
    def observe(self, interactions) -> "LMRecommender":
        """Add post-training interactions to the known history (most recent first).

        A user with no training interaction becomes a cold-start user the model
        represents from profile + these interactions.  Items with no training
        interaction that appear here are folded in by models with learned item id
        parts (``lm-frozen``, ``lm-hybrid``): their id part is fitted on every observed
        interaction with them while all other parameters stay fixed.
        """
        self._check_observed(interactions)
        if interactions.n_interactions == 0:
            return self
        # History items need no trained representation (titles / text suffice), so no item check here.
        self._add_seen(interactions)
        prior = getattr(self, "observed_", None)
        self.observed_ = (interactions.matrix if prior is None else prior + interactions.matrix).tocsr()
        new = T.recency_histories(interactions, np.arange(self.n_users_))
        hists = []
        for u in range(self.n_users_):
            old = self.history_of(u)
            add = new[u][~np.isin(new[u], old)]
            hists.append(np.concatenate([add, old]) if add.size else old)
        self.history_indptr_ = np.zeros(self.n_users_ + 1, dtype=np.int64)
        self.history_indptr_[1:] = np.cumsum([len(h) for h in hists])
        self.history_items_ = np.concatenate(hists).astype(np.int32)
        new_items = np.unique(interactions.item[~self.trained_items_[interactions.item]])
        with self._threads():
            self._after_observe(np.unique(interactions.user))
            if new_items.size:
                # every observed interaction with those items (they have no training interaction)
                sub = self.seen_.tocsc()[:, new_items].tocoo()
                self._fold_in_items(new_items, sub.row.astype(np.int64), new_items[sub.col].astype(np.int64))
        return self

    def _trained_items(self) -> np.ndarray:
        """Items with a training interaction (``seen_`` also holds the observed ones)."""
        return self.trained_items_

    def _after_observe(self, users: np.ndarray) -> None:
        """Hook: update learned state for users whose history changed."""

    def _fold_in_items(self, items: np.ndarray, users: np.ndarray, positives: np.ndarray) -> None:
        """Hook: fit the id parts of items without training interactions from observed pairs
        ``(users[n], positives[n])`` (every other parameter fixed).  Default: text only."""

    @property
    def id_items_(self) -> np.ndarray:
        """Items with a learned id part: trained, or folded in by :meth:`observe`."""
        folded = getattr(self, "folded_items_", None)
        return self.trained_items_ if folded is None else (self.trained_items_ | folded)

    # ---------------------------------------------------------------- texts
    def render_user_texts(
        self,
        dataset,
        users: np.ndarray | Sequence[int],
        overrides: dict[str, Any] | None = None,
        fields: Sequence[str] | None = None,
    ) -> list[str]:
        """User texts as this model reads them, from ``dataset``'s attributes and interactions.

        ``fields=None`` uses :attr:`user_fields_` (the true profile); ``fields=()``
        gives the neutral profile; ``overrides`` substitutes counterfactual values.
        The history titles (for models whose text includes them) come from
        ``dataset``'s interactions, most recent first.
        """
        return T.render_users(
            dataset,
            users,
            fields=tuple(self.user_fields_ if fields is None else fields),
            overrides=overrides,
            train=dataset if self.history_in_text else None,
            max_history=self.max_history,
            template=self.user_template,
        )

    def _known_user_texts(self, users: np.ndarray) -> list[str]:
        """Texts of users by index, from the stored profile and known history."""
        if not self.history_in_text:
            return [self.profile_texts_[u] for u in users]
        out = []
        for u in users:
            titles = [self.titles_[j] for j in self.history_of(int(u))[: self.max_history]]
            phrases = self._profile_phrases(int(u))
            out.append(T.format_user(phrases, titles, template=self.user_template, max_history=self.max_history))
        return out

    def _prefix_texts(self, rows: tuple[np.ndarray, np.ndarray], users: np.ndarray, ends: np.ndarray) -> list[str]:
        """Texts of training examples: profile + the titles before position ``ends[b]`` of the user's time-ordered row."""
        indptr, items = rows
        out = []
        for u, e in zip(users, ends):
            a = indptr[u]
            hist = items[max(a, a + e - self.max_history) : a + e][::-1]
            titles = [self.titles_[j] for j in hist]
            out.append(T.format_user(self._profile_phrases(int(u)), titles, template=self.user_template,
                                     max_history=self.max_history))
        return out

    def _profile_phrases(self, u: int) -> list[str]:
        return list(self.profile_phrases_[u])

    def _check_texts(self, user_texts, users) -> tuple[list[str], np.ndarray | None]:
        self._check_fitted()
        if isinstance(user_texts, str) or not all(isinstance(t, str) for t in user_texts):
            raise RecfairError(BAD_TEXTS.format(what=type(user_texts).__name__ if isinstance(user_texts, str) else "non-string items"))
        texts = list(user_texts)
        if users is not None:
            users = np.asarray(users, dtype=np.int64).ravel()
            if len(users) != len(texts):
                raise RecfairError(BAD_TEXT_USERS.format(n=len(texts), m=len(users)))
            checked_indices(users, self.n_users_, "user")
        return texts, users

    def score_texts(self, user_texts: Sequence[str], users: np.ndarray | None = None) -> np.ndarray:
        """Scores of every item for arbitrary user texts: ``(len(user_texts), n_items)`` float32.

        Seen items are not masked (callers mask with ``users``' history).  Models
        with a history pathway outside the text (``lm-frozen``, ``lm-hybrid``)
        add the given ``users``' known history / learned vector to the text.
        """
        with self._threads():
            return self._score_texts(user_texts, users)

    def _score_texts(self, user_texts: Sequence[str], users: np.ndarray | None) -> np.ndarray:
        raise NotImplementedError

    # ------------------------------------------------------------ new users
    def score_new_users(self, profiles: Sequence[Mapping[str, Any] | None],
                        histories: Sequence[Sequence[int | str]] | None = None) -> np.ndarray:
        """Scores of every item for users outside the data set: ``(len(profiles), n_items)`` float32.

        ``profiles``: per user a mapping of profile field to value (``{"age": 24,
        "gender": "F", "occupation": "writer"}``; fields left out are left out of
        the text; ``None`` or ``{}``: no profile).  ``histories``: per user the items
        consumed so far, oldest first, as item indices or titles (matched like the
        generative recommenders' replies: case, articles, a trailing year and small
        typos do not matter).  Nothing is stored; seen items are not masked (see
        :meth:`recommend_new_users`).
        """
        self._check_fitted()
        phrases, items = self._new_user_inputs(profiles, histories)
        with self._threads():
            return self._score_new(phrases, items).astype(np.float32)

    def recommend_new_users(self, profiles: Sequence[Mapping[str, Any] | None],
                            histories: Sequence[Sequence[int | str]] | None = None, *, k: int = 10,
                            candidates: np.ndarray | None = None) -> Recommendations:
        """Top-``k`` :class:`Recommendations` for users outside the data set (see :meth:`score_new_users`).

        ``users`` holds each new user's position in ``profiles``.  Items in a user's
        history are excluded; ``candidates`` restricts the ranking to those items (for
        example items added after training).  Rows are padded with ``-1`` / NaN when
        fewer than ``k`` items remain.
        """
        check_positive_int(k, "k", type(self).__name__)
        self._check_fitted()
        phrases, items = self._new_user_inputs(profiles, histories)
        with self._threads():
            scores = self._score_new(phrases, items).astype(np.float32)
        allowed = None
        if candidates is not None:
            allowed = np.zeros(self.n_items_, dtype=bool)
            allowed[self._check_items(np.asarray(candidates, dtype=np.int64).ravel())] = True
        return rank_scores(np.arange(len(items)), scores, k, seen=items, allowed=allowed)

    def _new_user_inputs(self, profiles, histories) -> tuple[list[list[str]], list[np.ndarray]]:
        """Profile phrases and item histories (most recent first) of new users, checked."""
        if isinstance(profiles, Mapping) or isinstance(profiles, str):
            profiles = [profiles]
        profiles = list(profiles)
        histories = [()] * len(profiles) if histories is None else list(histories)
        if len(histories) != len(profiles):
            raise RecfairError(BAD_NEW_USERS.format(n=len(profiles), m=len(histories)))
        phrases = []
        for i, prof in enumerate(profiles):
            prof = {} if prof is None else prof
            if not isinstance(prof, Mapping):
                raise RecfairError(BAD_PROFILE.format(i=i, what=type(prof).__name__))
            for f in prof:
                if f not in self.user_fields_:
                    raise RecfairError(UNKNOWN_PROFILE_FIELD.format(i=i, field=f, fields=list(self.user_fields_)))
            phrases.append(T.phrases_from_values(prof, self.user_fields_))
        return phrases, [self._resolve_history(i, h) for i, h in enumerate(histories)]

    def _resolve_history(self, i: int, history) -> np.ndarray:
        from recfair.data.titles import TitleMatcher

        if getattr(self, "_title_matcher", None) is None:
            self._title_matcher = TitleMatcher(self.titles_)
        return resolve_history(i, history, self._title_matcher, self.titles_[0], self.n_items_)

    def _score_new(self, phrases: list[list[str]], items: list[np.ndarray]) -> np.ndarray:
        """Default for models whose text carries the history: profile + history titles, scored as text."""
        texts = [T.format_user(p, [self.titles_[j] for j in h[: self.max_history]], template=self.user_template,
                               max_history=self.max_history) for p, h in zip(phrases, items)]
        return self._score_texts(texts, None)

    # ---------------------------------------------------------------- fit
    def fit(self, train, valid=None, *, sample_weight=None, penalty=None) -> "LMRecommender":
        """Train on ``train`` (early stopping on ``valid``'s nDCG@10 when given); returns ``self``."""
        with self._threads():
            self._fit(train, valid, sample_weight=sample_weight, penalty=penalty)
        return self

    def _fit(self, train, valid=None, *, sample_weight=None, penalty=None):
        raise NotImplementedError

    def _threads(self):
        """Run a block with ``self.runtime.threads`` torch threads (``None``: leave torch's setting)."""
        from recfair.models.torch_kit import torch_threads

        return torch_threads(self.runtime.threads)

    # ---------------------------------------------------------------- score
    def score(self, users: np.ndarray) -> np.ndarray:
        """Scores from the fitted text model, computed with ``runtime.threads`` torch threads."""
        users = self._check_users(users)
        with self._threads():
            return self._score_known(users)

    def _score_known(self, users: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    # -------------------------------------------------------- validation
    def _valid_ndcg(self, valid, k: int = 10) -> float:
        """nDCG@k on ``valid`` (full ranking, training items excluded) for users the model knows."""
        from recfair.models.torch_kit import ndcg_at_k

        vm = valid.matrix
        users = np.flatnonzero(np.diff(vm.indptr) > 0)
        if users.size == 0:
            return 0.0
        recs = self.recommend(users, k=k, exclude_seen=True)
        return ndcg_at_k(recs.items, recs.users.astype(np.int64), vm)

    # ---------------------------------------------------------------- state
    def _get_state(self) -> dict[str, np.ndarray]:
        state = {
            **pack_strings("text.items", self.item_texts_),
            **pack_strings("text.titles", self.titles_),
            **pack_strings("text.profiles", self.profile_texts_),
            **pack_strings("text.fields", self.user_fields_),
            **pack_strings("text.phrases", ["\x1f".join(p) for p in self.profile_phrases_]),
            "history.indptr": self.history_indptr_,
            "history.items": self.history_items_,
            "trained.items": self.trained_items_.astype(np.uint8),
            "folded.items": self.folded_items_.astype(np.uint8),
            "trained.users": self.trained_users_.astype(np.uint8),
        }
        state.update({f"model.{k}": v for k, v in self._get_model_state().items()})
        return state

    def _set_state(self, state: dict[str, np.ndarray]) -> None:
        self.item_texts_ = unpack_strings("text.items", state)
        self.titles_ = unpack_strings("text.titles", state)
        self.profile_texts_ = unpack_strings("text.profiles", state)
        self.user_fields_ = unpack_strings("text.fields", state)
        self.profile_phrases_ = [p.split("\x1f") if p else [] for p in unpack_strings("text.phrases", state)]
        self.history_indptr_ = state["history.indptr"].astype(np.int64)
        self.history_items_ = state["history.items"].astype(np.int32)
        self.trained_items_ = state["trained.items"].astype(bool)
        self.folded_items_ = state["folded.items"].astype(bool)
        self.trained_users_ = state["trained.users"].astype(bool)
        self._set_model_state({k[6:]: v for k, v in state.items() if k.startswith("model.")})

    def _get_model_state(self) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def _set_model_state(self, state: dict[str, np.ndarray]) -> None:
        raise NotImplementedError
