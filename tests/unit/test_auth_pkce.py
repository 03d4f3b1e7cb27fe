"""PKCE verifier and S256 challenge (RFC 7636)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from imagegen.auth.pkce import challenge_s256, is_valid_verifier, new_verifier

UNRESERVED = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"


def test_rfc7636_appendix_b_vector() -> None:
    assert (
        challenge_s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")
        == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    )


def test_new_verifier_is_long_random_and_in_the_alphabet() -> None:
    verifiers = {new_verifier() for _ in range(50)}
    assert len(verifiers) == 50
    for verifier in verifiers:
        assert 43 <= len(verifier) <= 128
        assert set(verifier) <= set(UNRESERVED)


@given(st.text(alphabet=UNRESERVED, min_size=43, max_size=128))
def test_any_valid_verifier_gives_an_unpadded_43_char_challenge(verifier: str) -> None:
    challenge = challenge_s256(verifier)
    assert len(challenge) == 43
    assert "=" not in challenge and "+" not in challenge and "/" not in challenge


@pytest.mark.parametrize("bad", ["", "a" * 42, "a" * 129, "a" * 42 + " ", "a" * 42 + "+", "a" * 42 + "é"])
def test_invalid_verifiers_are_refused(bad: str) -> None:
    assert not is_valid_verifier(bad)
    with pytest.raises(ValueError):
        challenge_s256(bad)
