"""The event model and the event type -> status mapping (no application needed)."""

from __future__ import annotations

import json

import pytest
from venta_core.domain import SubscriptionStatus

from revenuecat_samples import event_body, transfer_body
from venta_revenuecat import RevenueCatWebhook, status_for

S = SubscriptionStatus


def parse(body: bytes):
    return RevenueCatWebhook.model_validate_json(body).event


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("INITIAL_PURCHASE", S.ACTIVE),
        ("RENEWAL", S.ACTIVE),
        ("UNCANCELLATION", S.ACTIVE),
        ("PRODUCT_CHANGE", S.ACTIVE),
        ("SUBSCRIPTION_EXTENDED", S.ACTIVE),
        ("TEMPORARY_ENTITLEMENT_GRANT", S.ACTIVE),
        ("REFUND_REVERSED", S.ACTIVE),
        ("NON_RENEWING_PURCHASE", S.ACTIVE),
        ("CANCELLATION", S.CANCELLED),
        ("SUBSCRIPTION_PAUSED", S.CANCELLED),
        ("BILLING_ISSUE", S.BILLING_ISSUE),
        ("EXPIRATION", S.EXPIRED),
        ("TEST", None),
        ("SUBSCRIBER_ALIAS", None),
        ("INVOICE_ISSUANCE", None),
        ("VIRTUAL_CURRENCY_TRANSACTION", None),
        ("SOMETHING_NEW", None),
    ],
)
def test_status_for_each_event_type(kind, expected):
    assert status_for(parse(event_body(kind))) is expected


def test_a_consumable_purchase_grants_nothing():
    event = parse(event_body("NON_RENEWING_PURCHASE", entitlement_ids=None, entitlement_id=None))

    assert status_for(event) is None


def test_a_cancellation_that_ends_at_once_is_an_expiry():
    event = parse(event_body("CANCELLATION", at_ms=2_000, expires_ms=1_500))

    assert status_for(event) is S.EXPIRED


def test_attribute_values_are_objects_or_strings():
    event = parse(
        event_body(
            subscriber_attributes={
                "clerkUserId": {"value": "user_a", "updated_at_ms": 1},
                "legacy": "user_b",
                "$email": {"value": None},
            }
        )
    )

    assert event.attribute("clerkUserId") == "user_a"
    assert event.attribute("legacy") == "user_b"
    assert event.attribute("$email") is None
    assert event.attribute("missing") is None


def test_candidate_ids_skip_anonymous_ones_and_repeats():
    anonymous = "$RCAnonymousID:abc"
    event = parse(
        event_body(
            user=anonymous,
            original_app_user_id="user_orig",
            aliases=[anonymous, "user_alias", "user_orig"],
            subscriber_attributes={"clerkUserId": {"value": "user_attr", "updated_at_ms": 1}},
        )
    )

    assert event.user_ids("clerkUserId") == ["user_attr", "user_orig", "user_alias"]
    assert event.user_ids(None) == ["user_orig", "user_alias"]


def test_a_transfer_body_parses_without_user_fields():
    event = parse(transfer_body(["a"], ["b"]))

    assert (event.type, event.transferred_from, event.transferred_to) == ("TRANSFER", ["a"], ["b"])
    assert event.user_ids(None) == []


def test_unknown_fields_are_kept():
    body = json.loads(event_body())
    body["event"]["brand_new_field"] = {"x": 1}

    extra = parse(json.dumps(body).encode()).model_extra or {}

    assert extra["brand_new_field"] == {"x": 1}
