"""The OpenAPI 3.1 document of the whole API, generated from the declared routes.

``python scripts/openapi.py`` writes ``docs/openapi.json``; a test fails when the committed copy
differs from what the code declares.
"""

from __future__ import annotations

import importlib
import re
from typing import Any

from imagegen.http.api import ROUTES, RouteSpec
from imagegen.schema import Schema

ROUTE_MODULES = (
    "public",
    "users",
    "images",
    "admin",
    "generation",
    "exports",
    "collections",
    "shop",
    "webhooks",
)

_ISO = {"type": "string", "format": "date-time"}
_NULLABLE_STR = {"type": ["string", "null"]}
COMPONENTS: dict[str, Schema] = {
    "User": {
        "type": "object",
        "required": [
            "id",
            "email",
            "firstName",
            "lastName",
            "fullName",
            "roles",
            "language",
            "coins",
            "createdAt",
            "updatedAt",
        ],
        "properties": {
            "id": {"type": "string"},
            "email": {"type": "string", "format": "email"},
            "firstName": {"type": "string"},
            "lastName": {"type": "string"},
            "fullName": {"type": "string"},
            "roles": {"type": "array", "items": {"type": "string", "enum": ["USER", "ADMIN"]}},
            "language": {"type": "string"},
            "coins": {"type": "integer", "description": "below 0 only after a purchase_reversal"},
            "createdAt": _ISO,
            "updatedAt": _ISO,
        },
    },
    "Image": {
        "type": "object",
        "required": [
            "id",
            "userId",
            "type",
            "status",
            "title",
            "storageKey",
            "storageUrl",
            "metadata",
            "coinsUsed",
            "createdAt",
            "updatedAt",
        ],
        "properties": {
            "id": {"type": "string"},
            "userId": {"type": "string"},
            "type": {"type": "string", "enum": ["GENERATED", "UPLOADED"]},
            "status": {"type": "string", "enum": ["PENDING", "PROCESSING", "COMPLETED", "FAILED"]},
            "title": {"type": "string"},
            "description": _NULLABLE_STR,
            "prompt": _NULLABLE_STR,
            "storageKey": {"type": "string"},
            "storageUrl": {"type": "string"},
            "thumbnailKey": _NULLABLE_STR,
            "thumbnailUrl": _NULLABLE_STR,
            "metadata": {
                "type": "object",
                "description": "width, height, format, sizeBytes, placeholder, previewUrl",
            },
            "coinsUsed": {"type": "integer", "minimum": 0},
            "failureReason": _NULLABLE_STR,
            "createdAt": _ISO,
            "updatedAt": _ISO,
            "generation": {
                "type": ["object", "null"],
                "description": "how it was generated; null for uploads. The seed actually used is always "
                "recorded (null only for a model that takes no seed); strength only for a variation",
                "properties": {
                    "provider": {"type": "string"},
                    "model": {"type": "string"},
                    "style": _NULLABLE_STR,
                    "seed": {"type": ["integer", "null"]},
                    "negativePrompt": _NULLABLE_STR,
                    "quality": {"type": "string", "enum": ["standard", "premium"]},
                    "strength": {"type": ["number", "null"]},
                },
            },
            "sourceImageId": {
                **_NULLABLE_STR,
                "description": "the image a variation was made from",
            },
        },
    },
    "LedgerEntry": {
        "type": "object",
        "required": ["id", "userId", "amount", "balanceAfter", "reason", "createdAt"],
        "properties": {
            "id": {"type": "string"},
            "userId": {"type": "string"},
            "amount": {"type": "integer"},
            "balanceAfter": {"type": "integer"},
            "reason": {"type": "string"},
            "imageId": _NULLABLE_STR,
            "note": _NULLABLE_STR,
            "createdAt": _ISO,
            "purchaseId": _NULLABLE_STR,
        },
    },
    "Stats": {
        "type": "object",
        "required": ["totalImages", "generatedImages", "uploadedImages", "totalCoinsUsed"],
        "properties": {
            k: {"type": "integer"}
            for k in ("totalImages", "generatedImages", "uploadedImages", "totalCoinsUsed")
        },
    },
    "Problem": {
        "type": "object",
        "required": ["type", "title", "status", "detail", "code"],
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "code": {"type": "string"},
            "errors": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
                },
            },
        },
    },
    "Upload": {
        "type": "object",
        "required": ["image", "upload"],
        "properties": {
            "image": {"$ref": "#/components/schemas/Image"},
            "upload": {
                "type": "object",
                "required": ["url", "fields", "expiresAt"],
                "properties": {"url": {"type": "string"}, "fields": {"type": "object"}, "expiresAt": _ISO},
            },
        },
    },
    "SignIn": {
        "type": "object",
        "required": ["token", "expiresAt", "user"],
        "properties": {
            "token": {"type": "string"},
            "expiresAt": _ISO,
            "user": {"$ref": "#/components/schemas/User"},
        },
    },
    "CoinChange": {
        "type": "object",
        "required": ["user", "entry"],
        "properties": {
            "user": {"$ref": "#/components/schemas/User"},
            "entry": {"$ref": "#/components/schemas/LedgerEntry"},
        },
    },
    "Health": {"type": "object", "required": ["status"], "properties": {"status": {"const": "ok"}}},
    "Export": {
        "type": "object",
        "required": [
            "id",
            "status",
            "imageCount",
            "missingCount",
            "sizeBytes",
            "downloadUrl",
            "expiresAt",
            "createdAt",
        ],
        "properties": {
            "id": {"type": "string"},
            "status": {"type": "string", "enum": ["PENDING", "PROCESSING", "COMPLETED", "FAILED"]},
            "imageCount": {
                "type": "integer",
                "minimum": 0,
                "description": "images in the ZIP (to go in, until built)",
            },
            "missingCount": {
                "type": "integer",
                "minimum": 0,
                "description": "requested ids left out: not the caller's, deleted, or not completed",
            },
            "sizeBytes": {"type": "integer", "minimum": 0, "description": "of the ZIP, once COMPLETED"},
            "downloadUrl": {
                "type": ["string", "null"],
                "description": "signed, valid SIGNED_URL_TTL seconds; only while COMPLETED and not expired",
            },
            "failureReason": _NULLABLE_STR,
            "expiresAt": _ISO,
            "createdAt": _ISO,
            "updatedAt": _ISO,
        },
    },
}
COMPONENTS.update(
    {
        "CoinPack": {
            "type": "object",
            "required": ["id", "coins", "priceCents", "currency", "label"],
            "properties": {
                "id": {"type": "string"},
                "coins": {"type": "integer", "minimum": 1},
                "priceCents": {"type": "integer", "minimum": 1},
                "currency": {"type": "string", "pattern": "^[a-z]{3}$"},
                "label": {"type": "string"},
            },
        },
        "PackList": {
            "type": "object",
            "required": ["items"],
            "properties": {"items": {"type": "array", "items": {"$ref": "#/components/schemas/CoinPack"}}},
        },
        "Purchase": {
            "type": "object",
            "required": [
                "id",
                "userId",
                "packId",
                "coins",
                "amountCents",
                "currency",
                "status",
                "failureReason",
                "checkoutSessionId",
                "createdAt",
                "updatedAt",
                "paidAt",
            ],
            "properties": {
                "id": {"type": "string"},
                "userId": {"type": "string"},
                "packId": {"type": "string"},
                "coins": {"type": "integer", "minimum": 1},
                "amountCents": {"type": "integer", "minimum": 1},
                "currency": {"type": "string"},
                "status": {"type": "string", "enum": ["PENDING", "PAID", "FAILED", "EXPIRED", "REVERSED"]},
                "failureReason": _NULLABLE_STR,
                "checkoutSessionId": _NULLABLE_STR,
                "createdAt": _ISO,
                "updatedAt": _ISO,
                "paidAt": {"type": ["string", "null"], "format": "date-time"},
            },
        },
        "CheckoutStarted": {
            "type": "object",
            "required": ["purchase", "checkoutUrl"],
            "properties": {
                "purchase": {"$ref": "#/components/schemas/Purchase"},
                "checkoutUrl": {"type": "string"},
            },
        },
        "WebhookReceived": {
            "type": "object",
            "required": ["received"],
            "properties": {"received": {"const": True}, "outcome": {"type": "string"}},
        },
    }
)


def _page(item: str) -> Schema:
    return {
        "type": "object",
        "required": ["items", "nextCursor"],
        "properties": {
            "items": {"type": "array", "items": {"$ref": f"#/components/schemas/{item}"}},
            "nextCursor": {"type": ["string", "null"]},
        },
    }


def _response_schema(description: str) -> Schema | None:
    match = re.match(r"^(Page of )?(\w+)", description)
    if description.startswith("{image"):
        return {"$ref": "#/components/schemas/Upload"}
    if description.startswith("{user"):
        return {"$ref": "#/components/schemas/CoinChange"}
    if description.startswith("{purchase"):
        return {"$ref": "#/components/schemas/CheckoutStarted"}
    if description == "received":
        return {"$ref": "#/components/schemas/WebhookReceived"}
    if description == "ok":
        return {"$ref": "#/components/schemas/Health"}
    if match and match.group(2) in COMPONENTS:
        return _page(match.group(2)) if match.group(1) else {"$ref": f"#/components/schemas/{match.group(2)}"}
    return None


def _operation(spec: RouteSpec) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": f"{spec.method.lower()}{re.sub(r'[^A-Za-z0-9]+', '_', spec.path).rstrip('_')}",
        "summary": spec.summary,
        "tags": [spec.tag],
        "security": [{"session": []}] if spec.auth else [],
    }
    params: list[dict[str, Any]] = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": spec.path_params.get(name, {"type": "string", "minLength": 1}),
        }
        for name in re.findall(r"\{(\w+)\}", spec.path)
    ]
    params += [
        {"name": name, "in": "query", "required": False, "schema": schema}
        for name, schema in spec.query.items()
    ]
    params += [
        {
            "name": name,
            "in": "header",
            "required": False,
            "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
        }
        for name in spec.headers
    ]
    if spec.etag:
        params.append(
            {
                "name": "If-None-Match",
                "in": "header",
                "required": False,
                "description": "the ETag of a previous answer: 304 without a body while it is still current",
                "schema": {"type": "string"},
            }
        )
    if params:
        op["parameters"] = params
    if spec.body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": spec.body.SCHEMA}}}
    responses: dict[str, Any] = {}
    for status, description in spec.responses.items():
        entry: dict[str, Any] = {"description": description}
        schema = _response_schema(description)
        if schema is not None:
            entry["content"] = {"application/json": {"schema": schema}}
        if status in (302, 303):
            entry["headers"] = {"Location": {"schema": {"type": "string"}}}
        if status == 200 and spec.etag:
            entry["headers"] = {"ETag": {"schema": {"type": "string"}, "description": "a strong validator"}}
        responses[str(status)] = entry
    if spec.etag:
        responses["304"] = {
            "description": "not modified: the If-None-Match tag is still current",
            "headers": {"ETag": {"schema": {"type": "string"}}},
        }
    problem = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    codes = (
        set(spec.errors)
        | ({"unauthorized"} if spec.auth else set())
        | ({"forbidden"} if spec.admin else set())
        | ({"payload_too_large", "invalid_json", "validation_error"} if spec.body is not None else set())
    )
    from imagegen import errors as err_module

    by_code = {
        cls.code: cls.status
        for cls in vars(err_module).values()
        if isinstance(cls, type) and issubclass(cls, err_module.DomainError)
    }
    for code in sorted(codes):
        existing = responses.setdefault(str(by_code.get(code, 400)), {"description": "", "content": problem})
        existing["description"] = ", ".join(filter(None, [existing["description"], code]))
    return op | {"responses": responses}


def build_document() -> dict[str, Any]:
    for name in ROUTE_MODULES:
        importlib.import_module(f"imagegen.http.routes.{name}")
    paths: dict[str, dict[str, Any]] = {}
    for spec in sorted(ROUTES, key=lambda s: (s.path, s.method)):
        paths.setdefault(spec.path, {})[spec.method.lower()] = _operation(spec)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Image generator API",
            "version": "1.0.0",
            "description": "Sign in with Google, spend coins to generate or upload images, browse a gallery. "
            "Errors are RFC 9457 problem details with a stable `code`.",
        },
        "servers": [{"url": "http://127.0.0.1:3000", "description": "local stack"}],
        "paths": paths,
        "components": {
            "schemas": COMPONENTS,
            "securitySchemes": {"session": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
    }


# ---- collections and batch operations ------------------------------------------------------------
COMPONENTS.update(
    {
        "Collection": {
            "type": "object",
            "required": [
                "id",
                "userId",
                "title",
                "description",
                "imageCount",
                "coverThumbnailUrl",
                "shared",
                "shareUrl",
                "createdAt",
                "updatedAt",
            ],
            "properties": {
                "id": {"type": "string"},
                "userId": {"type": "string"},
                "title": {"type": "string", "minLength": 1, "maxLength": 200},
                "description": {"type": ["string", "null"]},
                "imageCount": {"type": "integer", "minimum": 0},
                "coverThumbnailUrl": {"type": ["string", "null"]},
                "shared": {"type": "boolean"},
                "shareUrl": {"type": ["string", "null"]},
                "createdAt": _ISO,
                "updatedAt": _ISO,
            },
        },
        "ShareLink": {
            "type": "object",
            "required": ["shareUrl"],
            "properties": {"shareUrl": {"type": "string"}},
        },
        "SharedCollection": {
            "type": "object",
            "required": ["collection", "items", "nextCursor"],
            "properties": {
                "collection": {
                    "type": "object",
                    "required": ["title", "description", "imageCount"],
                    "properties": {
                        "title": {"type": "string"},
                        "description": {"type": ["string", "null"]},
                        "imageCount": {"type": "integer", "minimum": 0},
                    },
                },
                "items": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["id", "title", "thumbnailUrl", "previewUrl", "width", "height"],
                        "properties": {
                            "id": {"type": "string"},
                            "title": {"type": "string"},
                            "thumbnailUrl": {"type": ["string", "null"]},
                            "previewUrl": {"type": ["string", "null"]},
                            "width": {"type": ["integer", "null"]},
                            "height": {"type": ["integer", "null"]},
                        },
                    },
                },
                "nextCursor": {"type": ["string", "null"]},
            },
        },
        "BatchResults": {
            "type": "object",
            "required": ["results"],
            "properties": {
                "results": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["imageId", "status"],
                        "properties": {
                            "imageId": {"type": "string"},
                            "status": {
                                "type": "string",
                                "enum": [
                                    "ok",
                                    "not_found",
                                    "already_present",
                                    "not_present",
                                    "limit_reached",
                                ],
                            },
                        },
                    },
                },
            },
        },
    }
)
