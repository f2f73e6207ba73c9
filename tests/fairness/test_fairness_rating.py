import numpy as np
import pytest
import torch

from recfair.errors import RecfairError
from recfair.fairness import rating as R
from recfair.fairness.rating import RATING_UNFAIRNESS, rating_unfairness, rating_unfairness_torch


def hand_case():
    """Users 0,1 ∈ g; 2,3 ∈ ¬g.

    item 0: g (r 4, y 3), (r 2, y 3) → E[y]−E[r] = 0 · ¬g (r 5, y 4) → −1
    item 1: g (r 3, y 4) → +1 · ¬g (r 4, y 3.5) → −.5
    item 2: ¬g only → left out of the per-item averages (n = 2 items)
      value      = (|0 − (−1)| + |1 − (−.5)|) / 2          = 1.25
      absolute   = (|0 − 1| + |1 − .5|) / 2                 = .75
      under      = (|0 − 1| + |0 − .5|) / 2                 = .75
      over       = (|0 − 0| + |1 − 0|) / 2                  = .5
      non-parity = |(3 + 3 + 4)/3 − (4 + 3.5 + 2)/3|        = 1/6
    """
    users = np.array([0, 1, 2, 0, 3, 2])
    items = np.array([0, 0, 0, 1, 1, 2])
    ratings = np.array([4, 2, 5, 3, 4, 1], dtype=float)
    preds = np.array([3, 3, 4, 4, 3.5, 2], dtype=float)
    group = np.array([True, True, False, False])
    return users, items, ratings, preds, group


EXPECTED = {"value": 1.25, "absolute": 0.75, "under": 0.75, "over": 0.5, "non_parity": 1 / 6}


def test_numpy_measures_by_hand():
    out = rating_unfairness(*hand_case())
    for k, v in EXPECTED.items():
        assert out[k] == pytest.approx(v), k
    assert out["n_items"] == 2


@pytest.mark.parametrize("kind", RATING_UNFAIRNESS)
def test_torch_measures_by_hand_and_differentiable(kind):
    users, items, ratings, preds, group = hand_case()
    y = torch.tensor(preds, requires_grad=True)
    loss = rating_unfairness_torch(kind, y, torch.tensor(ratings), torch.tensor(items), torch.tensor(group[users]))
    assert loss.item() == pytest.approx(EXPECTED[kind])
    loss.backward()
    assert y.grad is not None and torch.isfinite(y.grad).all() and y.grad.abs().sum() > 0


def test_torch_matches_numpy_on_random_batches():
    rng = np.random.default_rng(0)
    n = 400
    users = rng.integers(0, 50, n)
    items = rng.integers(0, 30, n)
    ratings = rng.integers(1, 6, n).astype(float)
    preds = ratings + rng.normal(0, 1, n)
    group = rng.random(50) < 0.4
    ref = rating_unfairness(users, items, ratings, preds, group)
    for kind in RATING_UNFAIRNESS:
        got = rating_unfairness_torch(kind, torch.tensor(preds), torch.tensor(ratings), torch.tensor(items),
                                      torch.tensor(group[users])).item()
        assert got == pytest.approx(ref[kind], rel=1e-9), kind


def test_no_item_rated_by_both_groups():
    users, items = np.array([0, 1]), np.array([0, 1])
    out = rating_unfairness(users, items, np.array([3.0, 4.0]), np.array([3.5, 4.0]), np.array([True, False]))
    assert out["n_items"] == 0 and np.isnan(out["value"]) and out["non_parity"] == pytest.approx(0.5)
    y = torch.tensor([3.5, 4.0], requires_grad=True)
    loss = rating_unfairness_torch("value", y, torch.tensor([3.0, 4.0]), torch.tensor([0, 1]),
                                   torch.tensor([True, False]))
    assert loss.item() == 0.0 and loss.requires_grad
    one_group = rating_unfairness_torch("non_parity", y, torch.tensor([3.0, 4.0]), torch.tensor([0, 0]),
                                        torch.tensor([True, True]))
    assert one_group.item() == 0.0


def test_errors_use_message_constants():
    users, items, ratings, preds, group = hand_case()
    with pytest.raises(RecfairError) as e:
        rating_unfairness_torch("parity", torch.tensor(preds), torch.tensor(ratings), torch.tensor(items),
                                torch.tensor(group[users]))
    assert str(e.value) == R.UNKNOWN_KIND.format(kind="parity")
    with pytest.raises(RecfairError) as e:
        rating_unfairness(users, items, ratings, preds, group[:2])
    assert str(e.value) == R.BAD_GROUP.format(n=4, shape=(2,))
    with pytest.raises(RecfairError, match="same length"):
        rating_unfairness(users, items, ratings[:3], preds, group)
