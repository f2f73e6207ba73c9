"""Content → collaborative mapping: score items a factor model never trained on (DropoutNet-style).

A classic factor model (BPR-MF, MF) learns one vector per item it saw in
training; a new item has none.  :class:`ContentMapping` regresses the learned
item side ``[q_j | b_j]`` on the item's text embedding ``x_j`` with ridge
regression over the trained items, ``W = argmin ‖XW − Q‖² + reg‖W‖²``, and gives
new items ``x_j·W`` (Volkovs et al. 2017 train the mapping jointly with dropout;
this is the cheap post-hoc variant).  Scores of new items are then the usual
product with the user side, so a factor model can opt in to new items.

>>> mapping = ContentMapping(reg=1.0).fit(features, item_side, trained)   # doctest: +SKIP
>>> scores = mapping.scores(user_side, scores, trained)                    # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np

from recfair.errors import RecfairError

__all__ = ["ContentMapping", "factor_sides", "item_text_features"]

NO_FACTORS = ("content mapping needs a factor model (user_factors_/item_factors_, e.g. bpr or mf); "
              "{name} has none. Set simulation.content_mapping = false for it.")


def item_text_features(dataset, encoder: str | None = None) -> np.ndarray:
    """Sentence embeddings of every item's text (title, year, genres), cached on disk by the encoder."""
    from recfair.data import text as T
    from recfair.models.lm.encoder import TextEncoder

    return TextEncoder(encoder).encode(T.render_items(dataset, T.DEFAULT_ITEM_TEMPLATE)).astype(np.float32)


def factor_sides(model) -> tuple[np.ndarray, np.ndarray]:
    """``(user side, item side)`` of a fitted factor model: ``[p_u | 1]`` and ``[q_j | b_j]``."""
    if not hasattr(model, "user_factors_") or not hasattr(model, "item_factors_"):
        raise RecfairError(NO_FACTORS.format(name=type(model).__name__))
    u, q = model.user_factors_, model.item_factors_
    bias = getattr(model, "item_bias_", None)
    b = np.zeros(len(q), np.float32) if bias is None else np.asarray(bias, np.float32).ravel()
    return (np.hstack([u, np.ones((len(u), 1), np.float32)]).astype(np.float32),
            np.hstack([q, b[:, None]]).astype(np.float32))


class ContentMapping:
    """Ridge map from item text embeddings to a factor model's item side.

    Parameters
    ----------
    reg : float
        Ridge weight (on standardised features).
    """

    def __init__(self, reg: float = 1.0) -> None:
        self.reg = float(reg)

    def fit(self, features: np.ndarray, item_side: np.ndarray, trained: np.ndarray) -> "ContentMapping":
        """Fit on the trained items' rows; returns ``self``."""
        x = np.asarray(features, np.float64)[trained]
        y = np.asarray(item_side, np.float64)[trained]
        self.mean_x_, self.mean_y_ = x.mean(0), y.mean(0)
        xc, yc = x - self.mean_x_, y - self.mean_y_
        d = xc.shape[1]
        self.weights_ = np.linalg.solve(xc.T @ xc + self.reg * np.eye(d), xc.T @ yc)
        resid = yc - xc @ self.weights_
        self.r2_ = float(1 - (resid ** 2).sum() / max((yc ** 2).sum(), 1e-12))
        self.features_ = np.asarray(features, np.float64)
        return self

    def predict(self, items: np.ndarray) -> np.ndarray:
        """Mapped item sides of ``items``: ``(len(items), d + 1)`` float32."""
        return ((self.features_[items] - self.mean_x_) @ self.weights_ + self.mean_y_).astype(np.float32)

    def scores(self, user_side: np.ndarray, scores: np.ndarray, trained: np.ndarray) -> np.ndarray:
        """``scores`` with the columns of untrained items replaced by ``user side · mapped item side``."""
        cold = np.flatnonzero(~trained)
        out = np.array(scores, dtype=np.float32, copy=True)
        if cold.size:
            out[:, cold] = user_side @ self.predict(cold).T
        return out
