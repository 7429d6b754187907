from __future__ import annotations

import pytest

from ptrain.evaluation.stats import discordant, mcnemar_exact, paired_bootstrap_ci


def test_mcnemar_exact_known_values():
    assert mcnemar_exact(0, 10) == pytest.approx(2 / 2**10)  # ≈ 0.00195
    assert mcnemar_exact(10, 0) == mcnemar_exact(0, 10)
    assert mcnemar_exact(0, 2) == pytest.approx(0.5)  # a two-case fluke
    assert mcnemar_exact(0, 5) == pytest.approx(0.0625)  # five is still not enough at 0.05
    assert mcnemar_exact(0, 6) == pytest.approx(0.03125)
    assert mcnemar_exact(3, 3) == 1.0
    assert mcnemar_exact(0, 0) == 1.0
    # 2 broken, 12 fixed: 2 * P(X <= 2 | n=14) = 2 * (1 + 14 + 91) / 16384
    assert mcnemar_exact(2, 12) == pytest.approx(2 * 106 / 16384)


def test_discordant_counts():
    base = [True, True, False, False, True]
    cand = [True, False, True, True, True]
    assert discordant(base, cand) == (1, 2)


def test_paired_bootstrap_ci():
    # every case improved: the interval is exactly [1, 1]
    assert paired_bootstrap_ci([0.0] * 10, [1.0] * 10) == (1.0, 1.0)
    # two fixed cases out of 20: the interval reaches 0 (not a reliable gain)
    base = [1.0] * 10 + [0.0] * 10
    cand = [1.0] * 12 + [0.0] * 8
    lo, hi = paired_bootstrap_ci(base, cand, seed=0)
    assert lo == 0.0 and 0.1 <= hi <= 0.25
    # seeded: reproducible
    assert paired_bootstrap_ci(base, cand, seed=0) == (lo, hi)
    # ten fixed out of 20: clearly positive
    lo2, hi2 = paired_bootstrap_ci(base, [1.0] * 20)
    assert 0.25 <= lo2 < 0.5 < hi2 <= 0.75
    assert paired_bootstrap_ci([], []) == (0.0, 0.0)
