"""RevenueCat webhook bodies as RevenueCat sends them (shapes from its webhook reference), with
the ids, users and times a test chooses."""

from __future__ import annotations

import copy
import json
import time
import uuid
from typing import Any

from venta_revenuecat import RevenueCatSettings

AUTH = "Bearer rc-webhook-6f0c2d1e8a8b4f579d0e"
DAY_MS = 86_400_000

_INITIAL_PURCHASE: dict[str, Any] = {
    "api_version": "1.0",
    "event": {
        "aliases": ["$RCAnonymousID:8069238d6049ce87cc529853916d624c"],
        "app_id": "app1a2b3c4d5e",
        "app_user_id": "user_2alice0000000000000000000",
        "commission_percentage": 0.3,
        "country_code": "US",
        "currency": "USD",
        "entitlement_id": None,
        "entitlement_ids": ["pro"],
        "environment": "PRODUCTION",
        "event_timestamp_ms": 1591121855319,
        "expiration_at_ms": 1591726653000,
        "id": "CD489E0E-5D52-4A3A-8F1D-A2A5A1F1C2E1",
        "is_family_share": False,
        "metadata": None,
        "offer_code": None,
        "original_app_user_id": "$RCAnonymousID:8069238d6049ce87cc529853916d624c",
        "original_transaction_id": "1530648507000",
        "period_type": "NORMAL",
        "presented_offering_id": "default",
        "price": 4.99,
        "price_in_purchased_currency": 4.99,
        "product_id": "venta_pro_monthly",
        "purchased_at_ms": 1591121853000,
        "renewal_number": 1,
        "store": "APP_STORE",
        "subscriber_attributes": {
            "$email": {"updated_at_ms": 1591121850000, "value": "alice@example.org"},
            "$displayName": {"updated_at_ms": 1591121850000, "value": "Alice"},
        },
        "takehome_percentage": 0.7,
        "tax_percentage": 0.0,
        "transaction_id": "170000869511114",
        "type": "INITIAL_PURCHASE",
    },
}

_EXTRA_FIELDS: dict[str, dict[str, Any]] = {
    "RENEWAL": {"is_trial_conversion": False, "renewal_number": 2},
    "CANCELLATION": {"cancel_reason": "UNSUBSCRIBE"},
    "UNCANCELLATION": {},
    "EXPIRATION": {"expiration_reason": "UNSUBSCRIBE"},
    "BILLING_ISSUE": {"grace_period_expiration_at_ms": None},
    "PRODUCT_CHANGE": {"new_product_id": "venta_pro_yearly"},
    "SUBSCRIPTION_PAUSED": {"auto_resume_at_ms": None},
}


def event_body(
    kind: str = "INITIAL_PURCHASE",
    *,
    user: str = "user_2alice0000000000000000000",
    event_id: str | None = None,
    at_ms: int | None = None,
    expires_ms: int | None = None,
    **fields: Any,
) -> bytes:
    """A webhook body for ``kind``; ``fields`` override event fields (``None`` included)."""
    body = copy.deepcopy(_INITIAL_PURCHASE)
    event = body["event"]
    now = at_ms if at_ms is not None else int(time.time() * 1000)
    event.update(_EXTRA_FIELDS.get(kind, {}))
    event.update(
        {
            "type": kind,
            "id": event_id or str(uuid.uuid4()).upper(),
            "app_user_id": user,
            "event_timestamp_ms": now,
            "purchased_at_ms": now - 1000,
            "expiration_at_ms": expires_ms if expires_ms is not None else now + 30 * DAY_MS,
        }
    )
    event.update(fields)
    return json.dumps(body).encode()


def transfer_body(
    from_ids: list[str], to_ids: list[str], *, at_ms: int | None = None, event_id: str | None = None
) -> bytes:
    return json.dumps(
        {
            "api_version": "1.0",
            "event": {
                "app_id": "app1a2b3c4d5e",
                "environment": "PRODUCTION",
                "event_timestamp_ms": at_ms or int(time.time() * 1000),
                "id": event_id or str(uuid.uuid4()).upper(),
                "store": "APP_STORE",
                "transferred_from": from_ids,
                "transferred_to": to_ids,
                "type": "TRANSFER",
            },
        }
    ).encode()


def sample_test_event() -> bytes:
    """What RevenueCat's "Send test event" button posts."""
    return json.dumps(
        {
            "api_version": "1.0",
            "event": {
                "aliases": ["$RCAnonymousID:test"],
                "app_id": "app1a2b3c4d5e",
                "app_user_id": "$RCAnonymousID:test",
                "environment": "SANDBOX",
                "event_timestamp_ms": int(time.time() * 1000),
                "id": str(uuid.uuid4()).upper(),
                "original_app_user_id": "$RCAnonymousID:test",
                "product_id": "test_product",
                "store": "APP_STORE",
                "subscriber_attributes": {},
                "type": "TEST",
            },
        }
    ).encode()


def make_rc_settings(**overrides: Any) -> RevenueCatSettings:
    return RevenueCatSettings(_env_file=None, **{"webhook_auth": AUTH, **overrides})
