"""What a paying loan pays: the learnt share of the arrears (models/payment_amount.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.payment_amount import PaymentShare, fit_payment_share


def _snapshots(rows: list[tuple[float, float, float, int]]) -> pd.DataFrame:
    """(installments overdue, amount overdue, paid in the window, label) per snapshot."""
    return pd.DataFrame(
        rows, columns=["n_installments_overdue", "amount_overdue", "amount_paid_in_window", "label"]
    )


def test_a_book_that_pays_one_installment_learns_a_falling_share_and_one_that_settles_learns_one():
    one_installment = [(k, 100.0 * k, 100.0, 1) for k in (1, 2, 4, 9) for _ in range(500)]
    settles = [(k, 100.0 * k, 100.0 * k, 1) for k in (1, 2, 4, 9) for _ in range(500)]
    falling = fit_payment_share(_snapshots(one_installment))
    flat = fit_payment_share(_snapshots(settles))
    assert falling.share([1, 2, 4, 9]) == pytest.approx([1.0, 0.5, 0.25, 0.111], abs=0.04)
    assert flat.share([1, 2, 4, 9]) == pytest.approx([1.0, 1.0, 1.0, 1.0])
    frame = pd.DataFrame({"amount_overdue": [900.0], "n_installments_overdue": [9.0]})
    assert falling.amount_at_stake(frame)[0] == pytest.approx(100.0, abs=30)
    assert flat.amount_at_stake(frame)[0] == pytest.approx(900.0)


def test_only_paying_snapshots_count_and_a_payment_beyond_the_arrears_counts_as_all_of_it():
    rows = [(1, 100.0, 250.0, 1)] * 40 + [(1, 100.0, 0.0, 0)] * 400
    share = fit_payment_share(_snapshots(rows))
    assert share.overall == pytest.approx(1.0)
    assert share.rows[0] == 40


def test_a_thin_bucket_is_shrunk_toward_the_books_mean():
    rows = [(1, 100.0, 100.0, 1)] * 300 + [(9, 900.0, 90.0, 1)] * 3
    share = fit_payment_share(_snapshots(rows), prior_rows=30)
    overall = (300 * 1.0 + 3 * 0.1) / 303
    assert share.overall == pytest.approx(overall)
    assert share.share([9])[0] == pytest.approx((3 * 0.1 + 30 * overall) / 33)
    # An empty bucket is the overall mean.
    assert share.share([4])[0] == pytest.approx(overall)


def test_an_unknown_count_gets_the_overall_share_and_the_last_bucket_is_open():
    share = PaymentShare(edges=(1.0, 2.0), shares=(0.9, 0.6, 0.3), overall=0.7, rows=(10, 10, 10))
    assert share.share([np.nan, 0.0, 1.0, 1.5, 2.0, 3.0, 40.0]).tolist() == [
        0.7,
        0.9,
        0.9,
        0.6,
        0.6,
        0.3,
        0.3,
    ]


def test_the_logged_document_gives_back_the_same_share():
    rows = [(k, 100.0 * k, 100.0, 1) for k in (1, 3, 6) for _ in range(50)]
    share = fit_payment_share(_snapshots(rows))
    again = PaymentShare.from_document(share.to_document())
    assert again.share([1, 3, 6, np.nan]) == pytest.approx(share.share([1, 3, 6, np.nan]), abs=1e-6)


def test_a_history_without_a_qualifying_payment_learns_nothing():
    assert fit_payment_share(_snapshots([(2, 200.0, 0.0, 0)] * 10)) is None
