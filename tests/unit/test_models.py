"""Domain models: validation rules, status transitions, and the contract's JSON shapes."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from imagegen.errors import InvalidTransition, ValidationError
from imagegen.models import (
    TRANSITIONS,
    Generation,
    Image,
    ImageStatus,
    ImageType,
    LedgerEntry,
    LedgerReason,
    User,
    UserRole,
    UserStats,
    utc_now,
    validate_coins,
    validate_email,
    validate_metadata,
)

ISO_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def _user(**overrides: Any) -> User:
    fields: dict[str, Any] = {"id": "u-1", "email": "ada@example.com", "google_id": "g-1"}
    return User(**{**fields, **overrides})


def _image(**overrides: Any) -> Image:
    fields: dict[str, Any] = {
        "id": "i-1",
        "user_id": "u-1",
        "type": ImageType.GENERATED,
        "title": "Fox",
        "prompt": "a red fox",
        "storage_key": "images/u-1/1-fox.png",
        "storage_url": "http://example.com/images/u-1/1-fox.png",
    }
    return Image(**{**fields, **overrides})


def _field(error: pytest.ExceptionInfo[ValidationError]) -> str:
    return error.value.errors[0].field


# ---- email ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("ada@example.com", "ada@example.com"),
        ("  Ada.Lovelace+tag@Example.CO.uk ", "ada.lovelace+tag@example.co.uk"),
        ("x" * 64 + "@example.com", "x" * 64 + "@example.com"),
    ],
)
def test_valid_emails_are_normalized(raw: str, normalized: str) -> None:
    assert validate_email(raw) == normalized


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "ada",
        "ada@",
        "@example.com",
        "ada@example",
        "ada@@example.com",
        "a da@example.com",
        "ada@exa mple.com",
        "ada@-example.com",
        "ada@example..com",
        "ada\x00@example.com",
        "ada\n@example.com",
        "x" * 65 + "@example.com",
        "a@" + "b" * 250 + ".com",
        None,
        42,
    ],
)
def test_invalid_emails_are_refused(raw: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        validate_email(raw)
    assert _field(caught) == "email"


def test_delete_character_in_email_is_refused() -> None:
    with pytest.raises(ValidationError):
        validate_email("ada\x7f@example.com")


# ---- user -------------------------------------------------------------------------------------


def test_user_json_is_the_contract_shape() -> None:
    user = _user(first_name=" Ada ", last_name="Lovelace", roles=[UserRole.ADMIN], coins=7, language="es")
    body = user.to_json()
    assert body == {
        "id": "u-1",
        "email": "ada@example.com",
        "firstName": "Ada",
        "lastName": "Lovelace",
        "fullName": "Ada Lovelace",
        "roles": ["ADMIN", "USER"],
        "language": "es",
        "coins": 7,
        "createdAt": user.created_at,
        "updatedAt": user.created_at,
    }
    assert ISO_Z.match(body["createdAt"])
    assert "google_id" not in body and "googleId" not in body


def test_full_name_skips_empty_parts_and_user_role_is_always_there() -> None:
    assert _user(first_name="Ada").full_name == "Ada"
    assert _user(last_name="Lovelace").full_name == "Lovelace"
    assert _user().full_name == ""
    assert _user(roles=[]).roles == [UserRole.USER]
    assert _user(roles=["ADMIN", "ADMIN"]).roles == [UserRole.ADMIN, UserRole.USER]
    assert _user(roles=["ADMIN"]).is_admin() and not _user().is_admin()


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"first_name": "a" * 101}, "firstName"),
        ({"last_name": "bad\x00name"}, "lastName"),
        ({"first_name": "bell\x07"}, "firstName"),
        ({"first_name": "del\x7f"}, "firstName"),
        ({"first_name": 5}, "firstName"),
        ({"language": "fr"}, "language"),
        ({"google_id": ""}, "googleId"),
        ({"google_id": "g" * 256}, "googleId"),
        ({"coins": True}, "coins"),
        ({"coins": 1.5}, "coins"),
        ({"email": "nope"}, "email"),
    ],
)
def test_user_fields_are_validated(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        _user(**overrides)
    assert _field(caught) == field


def test_user_record_round_trip() -> None:
    user = _user(first_name="Ada", roles=[UserRole.ADMIN], coins=3)
    assert User.from_record(user.to_record()) == user


@given(st.integers(min_value=0, max_value=10**12))
def test_any_non_negative_int_is_a_valid_balance(value: int) -> None:
    assert validate_coins(value) == value


@given(st.one_of(st.integers(max_value=-1), st.booleans(), st.floats(), st.text(), st.none()))
def test_anything_else_is_not_a_balance(value: object) -> None:
    with pytest.raises(ValidationError):
        validate_coins(value)


# ---- image ------------------------------------------------------------------------------------


def test_image_json_is_the_contract_shape() -> None:
    image = _image(metadata={"width": 1024, "height": 768, "format": "png", "sizeBytes": 2048}, coins_used=50)
    assert image.to_json() == {
        "id": "i-1",
        "userId": "u-1",
        "type": "GENERATED",
        "status": "PENDING",
        "title": "Fox",
        "description": None,
        "prompt": "a red fox",
        "storageKey": "images/u-1/1-fox.png",
        "storageUrl": "http://example.com/images/u-1/1-fox.png",
        "thumbnailKey": None,
        "thumbnailUrl": None,
        "metadata": {"width": 1024, "height": 768, "format": "png", "sizeBytes": 2048},
        "coinsUsed": 50,
        "failureReason": None,
        "createdAt": image.created_at,
        "updatedAt": image.created_at,
        "generation": None,
        "sourceImageId": None,
    }
    assert image.dimensions() == {"width": 1024, "height": 768}
    assert image.display_url() == image.storage_url
    assert Image.from_record(image.to_record()) == image


def test_image_generation_options_round_trip() -> None:
    generation = Generation(
        "bedrock",
        "amazon.nova-canvas-v1:0",
        seed=42,
        style="photographic",
        negative_prompt="fog",
        quality="premium",
    )
    image = _image(generation=generation, source_image_id="i-0")
    assert image.to_json()["generation"] == {
        "provider": "bedrock",
        "model": "amazon.nova-canvas-v1:0",
        "style": "photographic",
        "seed": 42,
        "negativePrompt": "fog",
        "quality": "premium",
        "strength": None,
    }
    assert image.to_json()["sourceImageId"] == "i-0"
    assert Image.from_record(image.to_record()) == image
    assert Generation.from_record(None) is None


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"title": "  "}, "title"),
        ({"title": "t" * 201}, "title"),
        ({"title": "a\x1bb"}, "title"),
        ({"description": "d" * 2001}, "description"),
        ({"prompt": None}, "prompt"),
        ({"prompt": "p" * 1001}, "prompt"),
        ({"metadata": ["a"]}, "metadata"),
        ({"metadata": "{}"}, "metadata"),
        ({"metadata": {1: "a"}}, "metadata"),
        ({"metadata": {f"k{i}": i for i in range(51)}}, "metadata"),
        ({"coins_used": -5}, "coinsUsed"),
        ({"coins_used": False}, "coinsUsed"),
        ({"storage_key": ""}, "storageKey"),
    ],
)
def test_image_fields_are_validated(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        _image(**overrides)
    assert _field(caught) == field


def test_uploaded_images_need_no_prompt_and_blank_descriptions_become_none() -> None:
    image = _image(type=ImageType.UPLOADED, prompt=None, description="   ")
    assert image.prompt is None and image.description is None and image.is_uploaded()
    assert validate_metadata({}) == {}


def test_transitions_never_go_back() -> None:
    assert TRANSITIONS[ImageStatus.COMPLETED] == frozenset()
    assert TRANSITIONS[ImageStatus.FAILED] == frozenset()
    assert all(ImageStatus.PENDING not in targets for targets in TRANSITIONS.values())
    image = _image()
    processing = image.moved_to(ImageStatus.PROCESSING)
    done = processing.moved_to(ImageStatus.COMPLETED, thumbnail_key="t.webp")
    assert (processing.status, done.status, done.thumbnail_key) == (
        ImageStatus.PROCESSING,
        ImageStatus.COMPLETED,
        "t.webp",
    )
    assert image.status is ImageStatus.PENDING  # moved_to returns a copy
    assert done.is_final() and done.is_ready()
    for target in ImageStatus:
        with pytest.raises(InvalidTransition):
            done.moved_to(target)
    with pytest.raises(InvalidTransition):
        processing.moved_to(ImageStatus.PENDING)
    assert image.moved_to(ImageStatus.FAILED, failure_reason="x").is_failed()


# ---- ledger entry and stats -------------------------------------------------------------------


def test_ledger_entry_json_is_the_contract_shape() -> None:
    entry = LedgerEntry(
        id="e-1",
        user_id="u-1",
        amount=-50,
        balance_after=50,
        reason=LedgerReason.IMAGE_GENERATION,
        seq=2,
        image_id="i-1",
    )
    assert entry.to_json() == {
        "id": "e-1",
        "userId": "u-1",
        "amount": -50,
        "balanceAfter": 50,
        "reason": "image_generation",
        "imageId": "i-1",
        "note": None,
        "createdAt": entry.created_at,
        "purchaseId": None,
    }
    assert LedgerEntry.from_record(entry.to_record()) == entry


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"amount": 0}, "amount"),
        ({"amount": True}, "amount"),
        ({"amount": 1.5}, "amount"),
        ({"amount": -5, "reason": LedgerReason.ADMIN_DEBIT, "balance_after": -1}, "balanceAfter"),
        ({"amount": -5, "reason": LedgerReason.IMAGE_GENERATION, "balance_after": -1}, "balanceAfter"),
        ({"balance_after": True}, "balanceAfter"),
        ({"note": "n" * 501}, "reason"),
    ],
)
def test_ledger_entry_fields_are_validated(overrides: dict[str, Any], field: str) -> None:
    fields: dict[str, Any] = {
        "id": "e-1",
        "user_id": "u-1",
        "amount": 5,
        "balance_after": 5,
        "reason": LedgerReason.ADMIN_GRANT,
        "seq": 1,
    }
    with pytest.raises(ValidationError) as caught:
        LedgerEntry(**{**fields, **overrides})
    assert _field(caught) == field


def test_reasons_and_stats_shape() -> None:
    assert {r.value for r in LedgerReason} >= {
        "signup_bonus",
        "image_generation",
        "image_upload",
        "refund",
        "admin_grant",
        "admin_debit",
    }
    assert UserStats(3, 2, 1, 100).to_json() == {
        "totalImages": 3,
        "generatedImages": 2,
        "uploadedImages": 1,
        "totalCoinsUsed": 100,
    }


def test_timestamps_sort_in_time_order() -> None:
    first = utc_now()
    assert ISO_Z.match(first)
    assert utc_now() >= first


# ---- a negative balance: only through a purchase_reversal ------------------------------------------


def test_only_a_purchase_reversal_takes_a_balance_below_zero() -> None:
    reversal = LedgerEntry(
        id="e-2",
        user_id="u-1",
        amount=-500,
        balance_after=-120,
        reason=LedgerReason.PURCHASE_REVERSAL,
        seq=7,
        purchase_id="p-1",
    )
    assert reversal.to_json()["purchaseId"] == "p-1"
    assert LedgerEntry.from_record(reversal.to_record()) == reversal
    # A credit may leave it below zero (it was lower before); a debit never goes there.
    grant = LedgerEntry(
        id="e-3", user_id="u-1", amount=20, balance_after=-100, reason=LedgerReason.ADMIN_GRANT, seq=8
    )
    assert grant.balance_after == -100
    user = User(id="u-1", email="a@example.com", google_id="g-1", coins=-100)
    assert user.to_json()["coins"] == -100
