import itertools

import numpy as np
import pytest

from recfair.fairness import stats
from recfair.fairness.stats import bootstrap_means, group_means, percentile_ci, permutation_gap_test, rng_for


def exact_permutation_p(values, codes, n_groups):
    """Exact permutation p-value by enumerating every distinct relabelling (independent implementation)."""
    values = np.asarray(values, dtype=float)
    sizes = np.bincount(codes, minlength=n_groups)

    def gap(labels):
        means = [values[labels == g].mean() for g in range(n_groups)]
        return max(means) - min(means)

    observed = gap(np.asarray(codes))
    n = len(values)
    hits = total = 0
    # every assignment of positions to groups with the observed sizes
    def assign(remaining, g, labels):
        nonlocal hits, total
        if g == n_groups - 1:
            labels = labels.copy()
            labels[list(remaining)] = g
            total += 1
            hits += gap(labels) >= observed - 1e-12
            return
        for chosen in itertools.combinations(sorted(remaining), sizes[g]):
            nxt = labels.copy()
            nxt[list(chosen)] = g
            assign(remaining - set(chosen), g + 1, nxt)

    assign(set(range(n)), 0, np.full(n, -1))
    return hits / total


def test_group_means_ignore_negative_codes_and_give_nan_for_empty_groups():
    v = np.array([[1.0, 10.0], [3.0, 30.0], [5.0, 50.0], [7.0, 70.0]])
    means, n = group_means(v, np.array([0, 0, -1, 2]), 3)
    np.testing.assert_allclose(means[0], [2.0, 20.0])
    assert np.isnan(means[1]).all()
    np.testing.assert_allclose(means[2], [7.0, 70.0])
    np.testing.assert_array_equal(n, [2, 0, 1])


def test_bootstrap_means_match_a_naive_loop_on_the_same_draws():
    rng_values = np.random.default_rng(1)
    v = rng_values.random((37, 3))
    fast = bootstrap_means(v, 200, np.random.default_rng(5))
    idx = np.random.default_rng(5).integers(0, 37, size=(200, 37))
    naive = np.stack([v[row].mean(axis=0) for row in idx])
    np.testing.assert_allclose(fast, naive, rtol=1e-12, atol=1e-12)


def test_results_do_not_depend_on_chunk_size(monkeypatch):
    rng = np.random.default_rng(0)
    v = rng.random((50, 2))
    codes = rng.integers(0, 3, 50)
    big_b = bootstrap_means(v, 300, np.random.default_rng(1))
    big_p = permutation_gap_test(v, codes, 3, 300, np.random.default_rng(2))
    monkeypatch.setattr(stats, "CHUNK_ENTRIES", 120)  # 2 resamples per chunk
    # same draws; only BLAS blocking of the count × value product may differ in the last bit
    np.testing.assert_allclose(bootstrap_means(v, 300, np.random.default_rng(1)), big_b, rtol=1e-13, atol=0)
    small_p = permutation_gap_test(v, codes, 3, 300, np.random.default_rng(2))
    np.testing.assert_array_equal(small_p[1], big_p[1])


def test_bootstrap_of_constant_and_two_point_groups():
    const = bootstrap_means(np.full(5, 0.3), 100, np.random.default_rng(0))
    np.testing.assert_allclose(const, 0.3)
    # two users, values 0 and 1: resampled means are 0, .5, 1 with prob 1/4, 1/2, 1/4
    two = bootstrap_means(np.array([0.0, 1.0]), 4000, np.random.default_rng(0))[:, 0]
    assert set(np.unique(two)) == {0.0, 0.5, 1.0}
    assert abs((two == 0.5).mean() - 0.5) < 0.03
    lo, hi = percentile_ci(two, 0.95)
    assert (lo, hi) == (0.0, 1.0)


@pytest.mark.parametrize(
    "values, codes, n_groups",
    [
        ([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8], [0, 0, 0, 0, 1, 1, 1, 1], 2),  # exact p = 2/70
        ([0.3, 0.1, 0.4, 0.2, 0.5, 0.1, 0.9, 0.0], [0, 1, 0, 1, 0, 1, 1, 0], 2),
        ([0.0, 0.2, 0.9, 0.4, 0.5, 0.3, 0.8, 0.1, 0.6], [0, 0, 0, 1, 1, 1, 2, 2, 2], 3),
    ],
)
def test_permutation_p_value_approaches_the_exact_enumeration(values, codes, n_groups):
    codes = np.asarray(codes)
    exact = exact_permutation_p(values, codes, n_groups)
    n_perm = 20000
    observed, p = permutation_gap_test(np.asarray(values), codes, n_groups, n_perm, np.random.default_rng(3))
    means = [np.mean(np.asarray(values)[codes == g]) for g in range(n_groups)]
    assert observed[0] == pytest.approx(max(means) - min(means))
    sd = np.sqrt(exact * (1 - exact) / n_perm)
    assert abs(p[0] - exact) < 5 * sd + 2 / n_perm


def test_permutation_p_is_one_when_all_values_are_equal_and_at_least_the_floor():
    v = np.full(10, 0.7)
    codes = np.array([0] * 5 + [1] * 5)
    _, p = permutation_gap_test(v, codes, 2, 99, np.random.default_rng(0))
    assert p[0] == 1.0  # every permutation ties with the observed gap 0
    sep = np.arange(40, dtype=float)
    _, p = permutation_gap_test(sep, np.array([0] * 20 + [1] * 20), 2, 99, np.random.default_rng(0))
    assert p[0] == pytest.approx(1 / 100)  # (1 + 0) / (1 + 99)


def test_rng_for_is_deterministic_and_key_dependent():
    a = rng_for(0, "x", "y").random(3)
    np.testing.assert_array_equal(a, rng_for(0, "x", "y").random(3))
    assert not np.array_equal(a, rng_for(0, "x", "z").random(3))
    assert not np.array_equal(a, rng_for(1, "x", "y").random(3))
