import numpy as np
import pytest

from mitigation_fixtures import tiny_dataset
from recfair.errors import RecfairError
from recfair.mitigation import GroupReweigher, GroupUpsampler, make_reweigher
from recfair.mitigation._groups import NOT_BINARY, binary_labels
from recfair.mitigation.pre import UNKNOWN_GROUP


def _normalised(w):
    return w / w.mean()


def test_equal_share_weights_by_hand():
    ds = tiny_dataset()
    w = GroupReweigher("gender", balance="interactions").weights(ds)
    # 12 interactions, F holds 4, M holds 8, G = 2: w_F = 12 / (2·4) = 1.5, w_M = 12 / (2·8) = 0.75
    is_f = ds.users["gender"].to_numpy()[ds.user] == "F"
    expected = _normalised(np.where(is_f, 1.5, 0.75))
    np.testing.assert_allclose(w, expected)
    # each group now carries the same total weight
    assert w[is_f].sum() == pytest.approx(w[~is_f].sum())
    assert w.mean() == pytest.approx(1.0)


def test_inverse_frequency_weights_by_hand():
    ds = tiny_dataset()
    w = GroupReweigher("gender", balance="users").weights(ds)
    # 3 F users and 3 M users: equal group sizes, so all weights are 1
    np.testing.assert_allclose(w, np.ones(ds.n_interactions))
    # activity: top 5% of 6 users = 1 user (u3, 4 interactions) vs 5 others
    w = GroupReweigher("activity", balance="users").weights(ds)
    top = ds.user == 3
    expected = _normalised(np.where(top, 6 / (2 * 1), 6 / (2 * 5)))
    np.testing.assert_allclose(w, expected)


def test_lambda_tempers_and_zero_is_no_op():
    ds = tiny_dataset()
    full = GroupReweigher("gender").weights(ds)
    half = GroupReweigher("gender", lambda_=0.5).weights(ds)
    is_f = ds.users["gender"].to_numpy()[ds.user] == "F"
    ratio = lambda w: w[is_f][0] / w[~is_f][0]  # noqa: E731
    assert ratio(half) == pytest.approx(np.sqrt(ratio(full)))
    rw = GroupReweigher("gender", lambda_=0)
    np.testing.assert_array_equal(rw.weights(ds), np.ones(ds.n_interactions))
    train, sw = rw.apply(ds)
    assert train is ds and sw is None


def test_upsampler_balances_groups_and_is_seeded():
    ds = tiny_dataset()
    up = GroupUpsampler("gender", seed=3)
    out = up.resample(ds)
    g = out.users["gender"].to_numpy()[out.user]
    assert (g == "F").sum() == (g == "M").sum() == 8
    # same index space and attribute tables; originals first
    assert out.n_users == ds.n_users and out.n_items == ds.n_items
    np.testing.assert_array_equal(out.user[: ds.n_interactions], ds.user)
    np.testing.assert_array_equal(out.rating[: ds.n_interactions], ds.rating)
    # the copies are F interactions only
    assert set(g[ds.n_interactions:]) == {"F"}
    # seeded: same seed same draw, weights agree with the re-sampled set
    again = GroupUpsampler("gender", seed=3).resample(ds)
    np.testing.assert_array_equal(out.item, again.item)
    w = up.weights(ds)
    assert w.sum() == out.n_interactions
    keys = lambda d: np.sort(d.user.astype(np.int64) * 100 + d.item)  # noqa: E731
    np.testing.assert_array_equal(keys(out), np.sort(np.repeat(keys(ds), w.astype(int))))
    assert not np.array_equal(GroupUpsampler("gender", seed=4).resample(ds).item, out.item)


def test_upsampler_named_group_and_errors():
    ds = tiny_dataset()
    out = GroupUpsampler("gender", group="F").resample(ds)
    assert out.n_interactions == 16
    with pytest.raises(RecfairError) as exc:
        GroupUpsampler("gender", group="X").resample(ds)
    assert str(exc.value) == UNKNOWN_GROUP.format(group="X", groups="gender", choices="F, M")
    assert GroupUpsampler("gender", lambda_=0).apply(ds) == (ds, None)
    train, w = GroupUpsampler("gender", seed=1).apply(ds)
    assert train is ds
    np.testing.assert_array_equal(w, GroupUpsampler("gender", seed=1).weights(ds))


def test_make_reweigher_specs_and_errors():
    assert make_reweigher("equal-share:gender").balance == "interactions"
    assert make_reweigher("inverse:activity[20]").groups == "activity[20]"
    up = make_reweigher("upsample:gender=F", seed=2)
    assert (up.groups, up.group, up.seed) == ("gender", "F", 2)
    with pytest.raises(RecfairError, match="Unknown pre-processing 'magic'.*equal-share, inverse, upsample"):
        make_reweigher("magic:gender")
    with pytest.raises(RecfairError, match="needs a user group"):
        make_reweigher("equal-share")
    with pytest.raises(RecfairError, match="balance"):
        GroupReweigher("gender", balance="x").weights(tiny_dataset())


def test_binary_labels_message():
    with pytest.raises(RecfairError) as exc:
        binary_labels(tiny_dataset(), "age", owner="X")
    names = "1-17, 18-24, 25-34, 35-44, 45-49, 50-55, 56+"
    assert str(exc.value) == NOT_BINARY.format(owner="X", groups="age", n=7, names=names)
