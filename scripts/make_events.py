"""Write the sample events under events/ (realistic shapes, as API Gateway, SQS, S3, EventBridge and
Cloudflare R2 deliver them). Tests load these files and fill in ids and tokens."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent / "events"
TOKEN = "Bearer REPLACE_WITH_SESSION_TOKEN"  # noqa: S105 - a placeholder the tests replace
USER = "0b5f6f7e-5d1a-4c5e-9a59-2f1f3c8d9e10"
IMAGE = "7d9f1c2a-3b4e-4f60-8a71-92b3c4d5e6f7"
KEY = f"images/{USER}/1764135256000-sunset-over-mountains.png"


def http(
    method: str,
    path: str,
    route: str,
    *,
    body: Any = None,
    query: str = "",
    auth: bool = True,
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    hdrs = {
        "accept": "application/json",
        "content-type": "application/json",
        "host": "127.0.0.1:3000",
        "user-agent": "curl/8.5.0",
        "x-forwarded-for": "127.0.0.1",
        **(headers or {}),
    }
    if auth:
        hdrs["authorization"] = TOKEN
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": f"{method} {route}",
        "rawPath": path,
        "rawQueryString": query,
        "headers": hdrs,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": "127.0.0.1:3000",
            "domainPrefix": "127",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "curl/8.5.0",
            },
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
            "routeKey": f"{method} {route}",
            "stage": "$default",
            "time": "26/Nov/2026:05:40:00 +0000",
            "timeEpoch": 1795671600000,
        },
        "isBase64Encoded": False,
    }
    if query:
        pairs = [p.split("=", 1) for p in query.split("&")]
        event["queryStringParameters"] = {k: v for k, v in pairs}
    if params:
        event["pathParameters"] = params
    if body is not None:
        event["body"] = json.dumps(body)
    return event


def sqs(bodies: list[Any], queue: str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": f"059f36b4-87a3-44ab-83d2-66197576846{i}",
                "receiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a...",
                "body": json.dumps(b),
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": "1795671600000",
                    "SenderId": "AIDAIENQZJOLO23YVJ4VO",
                    "ApproximateFirstReceiveTimestamp": "1795671600001",
                },
                "messageAttributes": {},
                "md5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
                "eventSource": "aws:sqs",
                "eventSourceARN": f"arn:aws:sqs:us-east-1:123456789012:{queue}",
                "awsRegion": "us-east-1",
            }
            for i, b in enumerate(bodies)
        ]
    }


def s3_put(key: str, size: int) -> dict[str, Any]:
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": "us-east-1",
                "eventTime": "2026-11-26T05:40:00.000Z",
                "eventName": "ObjectCreated:Post",
                "userIdentity": {"principalId": "AWS:AIDAEXAMPLE"},
                "requestParameters": {"sourceIPAddress": "127.0.0.1"},
                "responseElements": {
                    "x-amz-request-id": "C3D13FE58DE4C810",
                    "x-amz-id-2": "FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD",
                },
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "thumbnails",
                    "bucket": {
                        "name": "imagegen-dev-123456789012-us-east-1",
                        "ownerIdentity": {"principalId": "A3NL1KOZZKExample"},
                        "arn": "arn:aws:s3:::imagegen-dev-123456789012-us-east-1",
                    },
                    "object": {
                        "key": key.replace(" ", "+"),
                        "size": size,
                        "eTag": "0123456789abcdef0123456789abcdef",
                        "sequencer": "0A1B2C3D4E5F678901",
                    },
                },
            }
        ]
    }


def websocket(
    route: str, kind: str, *, query: dict[str, str] | None = None, body: str | None = None
) -> dict[str, Any]:
    """An API Gateway WebSocket event (Lambda proxy integration) for ``route``."""
    event: dict[str, Any] = {
        "requestContext": {
            "routeKey": route,
            "eventType": kind,
            "messageDirection": "IN",
            "stage": "dev",
            "connectedAt": 1764135256000,
            "requestTimeEpoch": 1764135256000,
            "requestId": "Lx2dGH4LIAMFpVw=",
            "extendedRequestId": "Lx2dGH4LIAMFpVw=",
            "domainName": "abcdef1234.execute-api.us-east-1.amazonaws.com",
            "connectionId": "Lx2dGc2iIAMCJIQ=",
            "apiId": "abcdef1234",
            "identity": {"sourceIp": "203.0.113.7", "userAgent": "Mozilla/5.0"},
        },
        "isBase64Encoded": False,
    }
    if query is not None:
        event["queryStringParameters"] = query
        event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()}
        event["headers"] = {
            "Host": "abcdef1234.execute-api.us-east-1.amazonaws.com",
            "Sec-WebSocket-Version": "13",
        }
    if body is not None:
        event["body"] = body
    return event


EVENTS: dict[str, Any] = {
    "auth/health.json": http("GET", "/health", "/health", auth=False),
    "auth/login.json": http("GET", "/auth/google/login", "/auth/google/login", auth=False),
    "auth/callback.json": http(
        "GET",
        "/auth/google/callback",
        "/auth/google/callback",
        auth=False,
        query="code=4%2F0AX4XfWh&state=REPLACE_WITH_STATE",
    ),
    "auth/logout.json": http("POST", "/auth/logout", "/auth/logout"),
    "users/get-me.json": http("GET", "/me", "/me"),
    "users/patch-me.json": http("PATCH", "/me", "/me", body={"firstName": "Ada", "language": "es"}),
    "users/stats.json": http("GET", "/me/stats", "/me/stats"),
    "users/ledger.json": http("GET", "/me/ledger", "/me/ledger", query="limit=20"),
    "users/delete-me.json": http("DELETE", "/me", "/me"),
    "images/generate.json": http(
        "POST",
        "/images/generate",
        "/images/generate",
        body={"prompt": "sunset over mountains", "title": "Sunset", "width": 1024, "height": 768},
        headers={"idempotency-key": "9b2b1c1e-sample"},
    ),
    "images/uploads.json": http(
        "POST",
        "/images/uploads",
        "/images/uploads",
        body={
            "filename": "Holiday Photo.JPG",
            "contentType": "image/jpeg",
            "size": 245760,
            "title": "Holiday",
        },
    ),
    "images/list.json": http("GET", "/images", "/images", query="limit=20&type=GENERATED"),
    "images/get.json": http("GET", f"/images/{IMAGE}", "/images/{id}", params={"id": IMAGE}),
    "images/patch.json": http(
        "PATCH",
        f"/images/{IMAGE}",
        "/images/{id}",
        params={"id": IMAGE},
        body={"title": "New title", "description": None},
    ),
    "images/delete.json": http("DELETE", f"/images/{IMAGE}", "/images/{id}", params={"id": IMAGE}),
    "images/download.json": http(
        "GET", f"/images/{IMAGE}/download", "/images/{id}/download", params={"id": IMAGE}
    ),
    "images/generation-options.json": http("GET", "/generation/options", "/generation/options", auth=False),
    "images/generate-with-options.json": http(
        "POST",
        "/images/generate",
        "/images/generate",
        body={
            "prompt": "sunset over mountains",
            "width": 1024,
            "height": 576,
            "negativePrompt": "people",
            "style": "watercolor",
            "seed": 4242,
            "quality": "premium",
        },
        headers={"idempotency-key": "5c1d2e3f-sample"},
    ),
    "images/variations.json": http(
        "POST",
        f"/images/{IMAGE}/variations",
        "/images/{id}/variations",
        params={"id": IMAGE},
        body={"prompt": "the same mountains at night", "strength": 0.4, "seed": 7},
        headers={"idempotency-key": "0a1b2c3d-sample"},
    ),
    "admin/list-users.json": http("GET", "/admin/users", "/admin/users", query="limit=50"),
    "admin/get-user.json": http("GET", f"/admin/users/{USER}", "/admin/users/{id}", params={"id": USER}),
    "admin/list-images.json": http("GET", "/admin/images", "/admin/images", query="status=FAILED"),
    "admin/coins.json": http(
        "POST",
        f"/admin/users/{USER}/coins",
        "/admin/users/{id}/coins",
        params={"id": USER},
        body={"amount": 250, "reason": "Support credit"},
    ),
    "admin/add-role.json": http(
        "PUT",
        f"/admin/users/{USER}/roles/ADMIN",
        "/admin/users/{id}/roles/{role}",
        params={"id": USER, "role": "ADMIN"},
    ),
    "generator/sqs-generate.json": sqs(
        [
            {
                "kind": "generate_image",
                "image_id": IMAGE,
                "user_id": USER,
                "prompt": "sunset over mountains",
                "width": 1024,
                "height": 768,
            }
        ],
        "GenerationQueue",
    ),
    "thumbnailer/s3-put.json": s3_put(KEY, 1048576),
    "thumbnailer/sqs-s3-put.json": sqs([s3_put(KEY, 1048576)], "ThumbnailQueue"),
    "thumbnailer/sqs-s3-test-event.json": sqs(
        [
            {
                "Service": "Amazon S3",
                "Event": "s3:TestEvent",
                "Time": "2026-11-26T05:40:00.000Z",
                "Bucket": "imagegen-dev-123456789012-us-east-1",
                "RequestId": "5582815E1AEA5ADF",
                "HostId": "8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE",
            }
        ],
        "ThumbnailQueue",
    ),
    "thumbnailer/eventbridge-object-created.json": {
        "version": "0",
        "id": "17793124-05d4-b198-2fde-7ededc63b103",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": "123456789012",
        "time": "2026-11-26T05:40:00Z",
        "region": "us-east-1",
        "resources": ["arn:aws:s3:::imagegen-dev-123456789012-us-east-1"],
        "detail": {
            "version": "0",
            "bucket": {"name": "imagegen-dev-123456789012-us-east-1"},
            "object": {
                "key": KEY,
                "size": 1048576,
                "etag": "0123456789abcdef0123456789abcdef",
                "sequencer": "0A1B2C3D4E5F678901",
            },
            "request-id": "N4N7GDK58NMKJ12R",
            "requester": "123456789012",
            "reason": "PutObject",
        },
    },
    "thumbnailer/r2-put.json": sqs(
        [
            {
                "account": "3f4b7e3dcab231cbfdaa90a6a28bd548",
                "bucket": "imagegen",
                "object": {"key": KEY, "size": 1048576, "eTag": "0123456789abcdef0123456789abcdef"},
                "action": "PutObject",
                "eventTime": "2026-11-26T05:40:00.000Z",
            }
        ],
        "ThumbnailQueue",
    ),
    "coin_ledger/sqs-refund.json": sqs(
        [
            {
                "kind": "ledger_command",
                "command": "refund_image",
                "key": f"refund:{IMAGE}",
                "image_id": IMAGE,
                "reason": "provider_rejected",
            }
        ],
        "LedgerQueue",
    ),
    "coin_ledger/sqs-grant.json": sqs(
        [
            {
                "kind": "ledger_command",
                "command": "grant",
                "key": "grant:welcome-back",
                "user_id": USER,
                "amount": 100,
                "reason": "admin_grant",
                "note": "Welcome back",
            }
        ],
        "LedgerQueue",
    ),
    "coin_ledger/sqs-generation-dead-letter.json": sqs(
        [
            {
                "kind": "generate_image",
                "image_id": IMAGE,
                "user_id": USER,
                "prompt": "sunset over mountains",
                "width": 1024,
                "height": 768,
            }
        ],
        "GenerationDLQ",
    ),
    "live/connect.json": websocket("$connect", "CONNECT", query={"token": "REPLACE_WITH_SESSION_TOKEN"}),
    "live/ping.json": websocket("$default", "MESSAGE", body=json.dumps({"action": "ping"})),
    "live/disconnect.json": websocket("$disconnect", "DISCONNECT"),
    "notifier/stream-image-completed.json": {
        "Records": [
            {
                "eventID": "c81e728d9d4c2f636f067f89cc14862c",
                "eventName": "MODIFY",
                "eventVersion": "1.1",
                "eventSource": "aws:dynamodb",
                "awsRegion": "us-east-1",
                "dynamodb": {
                    "ApproximateCreationDateTime": 1764135260,
                    "Keys": {"pk": {"S": f"IMAGE#{IMAGE}"}, "sk": {"S": "IMAGE"}},
                    "NewImage": {
                        "pk": {"S": f"IMAGE#{IMAGE}"},
                        "sk": {"S": "IMAGE"},
                        "entity": {"S": "IMAGE"},
                        "id": {"S": IMAGE},
                        "user_id": {"S": USER},
                        "type": {"S": "GENERATED"},
                        "status": {"S": "COMPLETED"},
                        "title": {"S": "sunset over mountains"},
                        "prompt": {"S": "sunset over mountains"},
                        "storage_key": {"S": KEY},
                        "thumbnail_key": {"S": f"thumbnails/{IMAGE}/1-256.webp"},
                        "coins_used": {"N": "50"},
                        "created_at": {"S": "2026-11-26T05:40:56.000Z"},
                        "updated_at": {"S": "2026-11-26T05:41:00.000Z"},
                    },
                    "SequenceNumber": "111100000000000000000001",
                    "SizeBytes": 512,
                    "StreamViewType": "NEW_AND_OLD_IMAGES",
                },
                "eventSourceARN": (
                    "arn:aws:dynamodb:us-east-1:123456789012:table/imagegen-dev-Table/stream/2026-11-26T00:00:00.000"
                ),
            }
        ]
    },
    "sweeper/scheduled.json": {
        "version": "0",
        "id": "cdc73f9d-aea9-11e3-9d5a-835b769c0d9c",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "2026-11-26T05:40:00Z",
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/imagegen-SweeperEvery10Minutes"],
        "detail": {},
    },
}
EXPORT = "4c1e2b3a-5d6f-4a7b-8c9d-0e1f2a3b4c5d"
EVENTS |= {
    "exports/create.json": http("POST", "/exports", "/exports", body={"imageIds": [IMAGE]}),
    "exports/get.json": http("GET", f"/exports/{EXPORT}", "/exports/{id}", params={"id": EXPORT}),
    "exports/list.json": http("GET", "/exports", "/exports", query="limit=20"),
    "exporter/sqs-export.json": sqs(
        [{"kind": "export_zip", "export_id": EXPORT, "user_id": USER}], "ExportQueue"
    ),
    "coin_ledger/sqs-export-dead-letter.json": sqs(
        [{"kind": "export_zip", "export_id": EXPORT, "user_id": USER}], "ExportDLQ"
    ),
}

COLLECTION = "4c2e8a1f-6b3d-4e5f-9a0b-1c2d3e4f5a6b"
SHARE_TOKEN = "Jx3v0c2mQ0S4n8yZt1wKp6rR5uV7aB9dE2fG4hI6kL8"  # noqa: S105 - a sample, not a secret
EVENTS.update(
    {
        "images/batch.json": http(
            "POST",
            "/images/batch",
            "/images/batch",
            body={"action": "addToCollection", "imageIds": [IMAGE], "collectionId": COLLECTION},
        ),
        "images/create-collection.json": http(
            "POST", "/collections", "/collections", body={"title": "Mountains", "description": "Summer 2026"}
        ),
        "images/list-collections.json": http("GET", "/collections", "/collections", query="limit=20"),
        "images/collection-images.json": http(
            "GET", f"/collections/{COLLECTION}/images", "/collections/{id}/images", params={"id": COLLECTION}
        ),
        "images/share-collection.json": http(
            "POST", f"/collections/{COLLECTION}/share", "/collections/{id}/share", params={"id": COLLECTION}
        ),
        "images/shared.json": http(
            "GET", f"/shared/{SHARE_TOKEN}", "/shared/{token}", auth=False, params={"token": SHARE_TOKEN}
        ),
    }
)

PURCHASE = "01a24500-0000-7000-8000-000000000001"
SESSION = "cs_test_a1B2c3D4e5F6g7H8i9J0"
# The coin shop (docs/payments.md). A Stripe event is signed at delivery: tests sign the body they send
# and put the result in place of the placeholder Stripe-Signature.
STRIPE_EVENT = {
    "id": "evt_1QxYzAbCdEfGhIjK",
    "object": "event",
    "api_version": "2025-01-27.acacia",
    "created": 1795671600,
    "livemode": False,
    "pending_webhooks": 1,
    "type": "checkout.session.completed",
    "data": {
        "object": {
            "id": SESSION,
            "object": "checkout.session",
            "mode": "payment",
            "amount_total": 499,
            "currency": "usd",
            "client_reference_id": PURCHASE,
            "metadata": {"purchaseId": PURCHASE, "userId": USER},
            "payment_intent": "pi_3QxYzAbCdEfGhIjK",
            "payment_status": "paid",
            "status": "complete",
        }
    },
}
EVENTS.update(
    {
        "shop/packs.json": http("GET", "/shop/packs", "/shop/packs", auth=False),
        "shop/checkout.json": http(
            "POST",
            "/shop/checkout",
            "/shop/checkout",
            body={"packId": "small"},
            headers={"idempotency-key": "buy-small-1"},
        ),
        "shop/list-purchases.json": http("GET", "/me/purchases", "/me/purchases", query="limit=20"),
        "shop/get-purchase.json": http(
            "GET", f"/me/purchases/{PURCHASE}", "/me/purchases/{id}", params={"id": PURCHASE}
        ),
        "admin/list-purchases.json": http("GET", "/admin/purchases", "/admin/purchases", query="status=PAID"),
        "stripe_webhook/checkout-session-completed.json": http(
            "POST",
            "/webhooks/stripe",
            "/webhooks/stripe",
            body=STRIPE_EVENT,
            auth=False,
            headers={"stripe-signature": "t=REPLACE,v1=REPLACE_WITH_SIGNATURE", "user-agent": "Stripe/1.0"},
        ),
    }
)


def main() -> None:
    for name, event in EVENTS.items():
        path = ROOT / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(event, indent=2) + "\n")
    print(f"wrote {len(EVENTS)} events under {ROOT}")


if __name__ == "__main__":
    main()
