"""CI-sized run of bench/stress_coins.py: the same core, fewer clients and requests (about 30 s).

Its own stack (GENERATION_COST=7, UPLOAD_COST=3, SIGNUP_BONUS_COINS=100), one user's balance under
concurrent generations (shared and conflicting Idempotency-Keys), permanent failures, uploads good and
bad, admin grants and debits; then the books are audited. ``make stress`` runs the full size.
"""

from __future__ import annotations

import pytest

from bench.stress_coins import GENERATION_COST, SIGNUP_BONUS, Settings, print_summary, run

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_one_balance_under_concurrent_spends_keeps_its_books() -> None:
    settings = Settings(clients=12, requests=70, max_seconds=20, settle_seconds=45, seed=7)
    report = run(settings)
    print_summary(report)
    assert report.violations == []
    counts = report.counts
    assert counts["requests"] >= 50, counts  # the time limit did not cut the run short
    # The drain phase got exactly what 100 coins buy at 7 a generation; the mix reached every kind.
    assert counts["by_kind"]["generate"].get("202", 0) >= SIGNUP_BONUS // GENERATION_COST
    assert {"generate_fail", "upload_png", "upload_text", "admin_grant", "admin_debit"} <= set(
        counts["by_kind"]
    )
    reasons = report.ledger["by_reason"]
    assert {"signup_bonus", "image_generation", "image_upload", "refund", "admin_grant"} <= set(reasons)
    assert report.ledger["final_balance"] == sum(r["sum"] for r in reasons.values())
