"""Penalty math on hand-made tensors, and the spec parser."""

import numpy as np
import pytest
import torch

from mitigation_fixtures import tiny_dataset
from recfair.errors import RecfairError
from recfair.fairness.rating import rating_unfairness
from recfair.mitigation import (
    AdversarialPenalty,
    GroupLossGapPenalty,
    PopularityPenalty,
    RatingUnfairnessPenalty,
    make_penalty,
)
from recfair.mitigation import UNKNOWN_PENALTY, NEEDS_GROUPS
from recfair.mitigation.adversarial import grad_reverse
from recfair.mitigation.inprocess import NEEDS_FIELD, NOT_BOUND, group_loss_gap, pearson, yao_huang_term
from recfair.models.base import PenaltyBatch


def test_yao_huang_by_hand():
    # item 0: g rated 4 predicted 3 (dy=-1); ¬g rated 2 predicted 3 (dy=+1); item 1 only g → ignored
    y = torch.tensor([3.0, 3.0, 5.0], requires_grad=True)
    r = torch.tensor([4.0, 2.0, 1.0])
    items = torch.tensor([0, 0, 1])
    g = torch.tensor([1, 0, 1])
    assert yao_huang_term("value", y, items, g, r).item() == pytest.approx(2.0)
    assert yao_huang_term("absolute", y, items, g, r).item() == pytest.approx(0.0)
    assert yao_huang_term("under", y, items, g, r).item() == pytest.approx(1.0)
    assert yao_huang_term("over", y, items, g, r).item() == pytest.approx(1.0)
    # non-parity over every pair: mean_g = (3 + 5) / 2 = 4, mean_¬g = 3
    assert yao_huang_term("nonparity", y, items, g, r).item() == pytest.approx(1.0)
    # unknown group (-1) rows are dropped
    g2 = torch.tensor([1, 0, -1])
    assert yao_huang_term("nonparity", y, items, g2, r).item() == pytest.approx(0.0)


def test_yao_huang_matches_numpy_estimator_and_has_gradient():
    rng = np.random.default_rng(0)
    n = 400
    users = rng.integers(0, 40, n)
    items = rng.integers(0, 15, n)
    ratings = rng.integers(1, 6, n).astype(np.float64)
    preds = rng.normal(3, 1, n)
    group = rng.random(40) < 0.4
    ref = rating_unfairness(users, items, ratings, preds, group)
    y = torch.tensor(preds, requires_grad=True)
    for kind, key in [("value", "value"), ("absolute", "absolute"), ("under", "under"), ("over", "over"),
                      ("nonparity", "non_parity")]:
        t = yao_huang_term(kind, y, torch.tensor(items), torch.tensor(group[users].astype(np.int64)),
                           torch.tensor(ratings))
        assert t.item() == pytest.approx(ref[key], rel=1e-9)
        (grad,) = torch.autograd.grad(t, y)
        assert torch.isfinite(grad).all() and grad.abs().sum() > 0


def test_no_shared_item_gives_attached_zero():
    y = torch.tensor([3.0, 2.0], requires_grad=True)
    t = yao_huang_term("value", y, torch.tensor([0, 1]), torch.tensor([1, 0]), torch.tensor([4.0, 1.0]))
    assert t.item() == 0.0 and t.requires_grad


def test_group_loss_gap_by_hand():
    # user 0 (group 0): losses 1, 3 → 2; user 1 (group 0): 4; user 2 (group 1): 1
    losses = torch.tensor([1.0, 3.0, 4.0, 1.0], requires_grad=True)
    users = torch.tensor([0, 0, 1, 2])
    group = torch.tensor([0, 0, 0, 1])
    gap = group_loss_gap(losses, users, group)
    assert gap.item() == pytest.approx((2 + 4) / 2 - 1)
    gap.backward()
    np.testing.assert_allclose(losses.grad.numpy(), [0.25, 0.25, 0.5, -1.0])
    # one group present → 0
    assert group_loss_gap(losses, users, torch.tensor([0, 0, 0, 0])).item() == 0.0


def test_pearson_matches_numpy():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=50), rng.normal(size=50)
    assert pearson(torch.tensor(x), torch.tensor(y)).item() == pytest.approx(np.corrcoef(x, y)[0, 1], rel=1e-6)


def test_popularity_penalty_uses_training_popularity_and_negatives():
    ds = tiny_dataset()
    pen = PopularityPenalty(lambda_=2.0)
    pen.bind(ds)
    np.testing.assert_allclose(pen.popularity_.numpy(), np.log1p(ds.item_popularity), rtol=1e-6)
    items, neg = torch.tensor([0, 1, 2]), torch.tensor([3, 3, 2])
    pred = torch.tensor([3.0, 1.0, 0.5], requires_grad=True)
    negp = torch.tensor([0.2, 0.1, 0.4])
    out = pen(PenaltyBatch(torch.tensor([0, 1, 2]), items, pred, negative_predictions=negp, negative_items=neg))
    pop = np.log1p(ds.item_popularity)[np.r_[items.numpy(), neg.numpy()]]
    expected = 2.0 * abs(np.corrcoef(np.r_[pred.detach().numpy(), negp.numpy()], pop)[0, 1])
    assert out.item() == pytest.approx(expected, rel=1e-5)
    only_pos = pen(PenaltyBatch(torch.tensor([0, 1, 2]), items, pred))
    assert only_pos.item() == pytest.approx(2.0 * abs(np.corrcoef(pred.detach().numpy(), pop[:3])[0, 1]), rel=1e-5)


def test_penalties_scale_with_weight_and_need_bind():
    ds = tiny_dataset()
    batch = PenaltyBatch(torch.tensor([0, 3, 1, 4]), torch.tensor([0, 0, 1, 1]), torch.tensor([4.0, 2.0, 3.0, 3.5]),
                         losses=torch.tensor([1.0, 0.5, 2.0, 0.1]), targets=torch.tensor([5.0, 1.0, 3.0, 4.0]))
    for make in (lambda w: RatingUnfairnessPenalty("value", "gender", w), lambda w: GroupLossGapPenalty("gender", w)):
        p1, p3 = make(1.0), make(3.0)
        with pytest.raises(RecfairError) as exc:
            p1(batch)
        assert str(exc.value) == NOT_BOUND.format(owner=type(p1).__name__)
        p1.bind(ds)
        p3.bind(ds)
        assert p3(batch).item() == pytest.approx(3 * p1(batch).item())
        assert p1(batch).item() > 0


def test_missing_batch_fields_are_clear_errors():
    ds = tiny_dataset()
    batch = PenaltyBatch(torch.tensor([0, 3]), torch.tensor([0, 0]), torch.tensor([4.0, 2.0]))
    pen = RatingUnfairnessPenalty("under", "gender")
    pen.bind(ds)
    with pytest.raises(RecfairError, match="needs batch.targets"):
        pen(batch)
    gap = GroupLossGapPenalty("gender")
    gap.bind(ds)
    with pytest.raises(RecfairError) as exc:
        gap(batch)
    assert str(exc.value) == NEEDS_FIELD.format(owner="GroupLossGapPenalty", field="losses", hint="per-example losses")
    adv = AdversarialPenalty("gender")
    adv.bind(ds)
    with pytest.raises(RecfairError, match="needs batch.user_embeddings"):
        adv(batch)


def test_grad_reverse():
    x = torch.tensor([1.0, -2.0], requires_grad=True)
    (grad_reverse(x, 0.5) * torch.tensor([3.0, 4.0])).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [-1.5, -2.0])


def test_adversary_discriminator_learns_and_model_gradient_is_reversed():
    ds = tiny_dataset()
    torch.manual_seed(0)
    emb = torch.randn(6, 4)
    emb[:3, 0] += 3.0  # women are separable along dimension 0
    emb.requires_grad_(True)
    users = torch.arange(6)
    pen = AdversarialPenalty("gender", lambda_=1.0, embedding_size=4, seed=0)
    pen.bind(ds)
    assert pen.parameters() == []  # disc_steps > 0: the penalty trains its own discriminator
    with torch.no_grad():
        untrained = torch.nn.functional.cross_entropy(pen.logits(emb), pen.labels_[users], weight=pen.class_weight_)
    losses = [pen(PenaltyBatch(users, users, torch.zeros(6), user_embeddings=emb)).item() for _ in range(3)]
    assert losses[-1] < untrained.item() - 0.2
    # model side: the gradient reaching the embeddings is −λ × the discriminator's own gradient
    pen.lambda_ = 0.7
    pen.disc_steps = 0  # freeze the discriminator for the comparison
    pen.optimizer_.zero_grad(set_to_none=True)
    out = pen(PenaltyBatch(users, users, torch.zeros(6), user_embeddings=emb))
    (g_rev,) = torch.autograd.grad(out, emb)
    x = emb.detach().clone().requires_grad_(True)
    ce = torch.nn.functional.cross_entropy(pen.logits(x), pen.labels_[users], weight=pen.class_weight_)
    (g,) = torch.autograd.grad(ce, x)
    torch.testing.assert_close(g_rev, -0.7 * g)
    assert g.abs().sum() > 0


def test_adversary_external_mode_hands_parameters_to_the_model():
    ds = tiny_dataset()
    pen = AdversarialPenalty("gender", embedding_size=4, disc_steps=0, hidden_size=3, seed=1)
    pen.bind(ds)
    shapes = [tuple(p.shape) for p in pen.parameters()]
    assert shapes == [(3, 4), (3,), (2, 3), (2,)]
    # seeded, independent of the global RNG
    torch.manual_seed(123)
    other = AdversarialPenalty("gender", embedding_size=4, disc_steps=0, hidden_size=3, seed=1)
    other.bind(ds)
    for a, b in zip(pen.parameters(), other.parameters()):
        assert torch.equal(a, b)


def test_make_penalty_grammar_and_errors():
    p = make_penalty("group-gap:gender", lambda_=0.5)
    assert isinstance(p, GroupLossGapPenalty) and p.lambda_ == 0.5 and p.groups == "gender"
    p = make_penalty("non-parity:activity[20]", lambda_=2)
    assert isinstance(p, RatingUnfairnessPenalty) and p.kind == "nonparity" and p.groups == "activity[20]"
    assert isinstance(make_penalty("popularity", lambda_=1), PopularityPenalty)
    a = make_penalty("adversarial:gender", lambda_=1, embedding_size=8, seed=3)
    assert isinstance(a, AdversarialPenalty) and a.embedding_size == 8 and a.seed == 3
    with pytest.raises(RecfairError) as exc:
        make_penalty("fairness:gender")
    assert str(exc.value) == UNKNOWN_PENALTY.format(
        name="fairness", spec="fairness:gender",
        choices="value, absolute, under, over, nonparity, group-gap, adversarial, popularity")
    with pytest.raises(RecfairError) as exc:
        make_penalty("value")
    assert str(exc.value) == NEEDS_GROUPS.format(name="value", spec="value")
    with pytest.raises(RecfairError, match="takes no user group"):
        make_penalty("popularity:gender")
    with pytest.raises(RecfairError, match="binary"):
        make_penalty("value:age").bind(tiny_dataset())


def test_rating_penalty_squared_and_plain_forms():
    ds = tiny_dataset()
    # u0 (F) and u3 (M) both rate item a (index 0): dy_F = 4 − 5 = −1, dy_M = 2 − 1 = +1 → value = 2
    batch = PenaltyBatch(torch.tensor([0, 3]), torch.tensor([0, 0]), torch.tensor([4.0, 2.0]),
                         targets=torch.tensor([5.0, 1.0]))
    sq, plain = RatingUnfairnessPenalty("value", "gender", 0.5), RatingUnfairnessPenalty("value", "gender", 0.5, squared=False)
    sq.bind(ds)
    plain.bind(ds)
    assert plain(batch).item() == pytest.approx(0.5 * 2.0)
    assert sq(batch).item() == pytest.approx(0.5 * 4.0)
