import numpy as np

from harness.stats import bootstrap_ci, mcnemar_test, paired_bootstrap


def test_bootstrap_ci_brackets_the_mean():
    values = np.r_[np.ones(30), np.zeros(70)]
    point, low, high = bootstrap_ci(values)
    assert point == 0.3 and low < 0.3 < high and 0.15 < low and high < 0.45


def test_corpus_level_statistic_from_resampled_columns():
    tp, fp, fn = np.array([2, 0, 1, 3]), np.array([0, 1, 0, 1]), np.array([1, 0, 0, 0])

    def f1(tp, fp, fn, axis=-1):
        tp, fp, fn = tp.sum(axis), fp.sum(axis), fn.sum(axis)
        return 2 * tp / (2 * tp + fp + fn)

    point, low, high = bootstrap_ci((tp, fp, fn), statistic=f1)
    assert point == 2 * 6 / (12 + 2 + 1)
    assert low <= point <= high


def test_paired_tests_detect_a_real_difference_and_not_a_null_one():
    rng = np.random.default_rng(0)
    base = rng.random(400) < 0.5
    better = base | (rng.random(400) < 0.3)
    assert mcnemar_test(better, base).p_value < 0.01
    assert paired_bootstrap(better.astype(float), base.astype(float)).ci_low > 0
    assert mcnemar_test(base, base).p_value == 1.0


def test_bootstrap_p_values_are_never_an_impossible_zero():
    from harness.stats import N_RESAMPLES, paired_statistic_diff

    rng = np.random.default_rng(1)
    base = rng.normal(0, 1, 300)
    far = paired_bootstrap(base + 5, base)
    assert far.p_value == 1 / (N_RESAMPLES + 1)  # every resample less extreme: the smallest p 1000 resamples support
    total = paired_statistic_diff((base + 5,), (base,), lambda x, axis=-1: x.mean(axis))
    assert total.p_value == 1 / (N_RESAMPLES + 1)
    assert paired_bootstrap(base, base).p_value == 1.0


def _vectors(table):
    """Candidate/baseline correctness vectors with the given 2x2 table [[both, base only], [cand only, neither]]."""
    (both, base_only), (cand_only, neither) = table
    cand = [1] * both + [0] * base_only + [1] * cand_only + [0] * neither
    base = [1] * both + [1] * base_only + [0] * cand_only + [0] * neither
    return np.array(cand), np.array(base)


def test_mcnemar_p_values_equal_statsmodels_reference_figures():
    # statsmodels.stats.contingency_tables.mcnemar(table, exact=discordant < 25).pvalue, computed once
    reference = {((10, 3), (9, 5)): 0.14599609375, ((50, 12), (30, 8)): 0.008711912962379598,
                 ((5, 0), (0, 5)): 1.0, ((1, 7), (1, 1)): 0.0703125}
    for table, p in reference.items():
        assert abs(mcnemar_test(*_vectors(table)).p_value - p) < 1e-12, table
