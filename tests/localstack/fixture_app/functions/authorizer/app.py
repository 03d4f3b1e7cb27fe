"""HTTP API Lambda authorizer (payload 2.0, simple responses): "Bearer deny..." is refused, "Bearer explode"
fails, any other token is allowed with the token as the user."""

from __future__ import annotations

from typing import Any


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    token = str(event["headers"].get("authorization", "")).removeprefix("Bearer ").strip()
    if token == "explode":
        raise RuntimeError("authorizer failure")
    if token.startswith("deny"):
        return {"isAuthorized": False}
    return {
        "isAuthorized": True,
        "context": {
            "user": token,
            "identitySource": event["identitySource"],
            "routeArn": event["routeArn"],
            "type": event["type"],
            "version": event["version"],
        },
    }
