"""The live-update adapters on AWS: API Gateway's management API (push to a socket) and CloudFront
(invalidate deleted renditions). The local stack serves the same management API at ``/_local/ws``."""

from __future__ import annotations

from typing import Any

from imagegen import aws

# A push is short; a socket that does not take it quickly is not worth holding the stream for.
_PUSH_CONFIG: dict[str, Any] = {
    "connect_timeout": 2,
    "read_timeout": 5,
    "retries": {"max_attempts": 2, "mode": "standard"},
}


class ApiGatewayPusher:
    """``PostToConnection`` on the WebSocket API's management endpoint (``WEBSOCKET_MANAGEMENT_URL``)."""

    def __init__(self, endpoint_url: str) -> None:
        if not endpoint_url:
            raise ValueError("WEBSOCKET_MANAGEMENT_URL is not set")
        self.endpoint_url = endpoint_url

    def push(self, connection_id: str, data: bytes) -> bool:
        client = aws.client("apigatewaymanagementapi", endpoint_url=self.endpoint_url, **_PUSH_CONFIG)
        try:
            client.post_to_connection(ConnectionId=connection_id, Data=data)
        except client.exceptions.GoneException:
            return False
        return True


class CloudFrontInvalidator:
    def __init__(self, distribution_id: str) -> None:
        self.distribution_id = distribution_id

    def invalidate(self, paths: list[str], *, reference: str) -> None:
        aws.client("cloudfront").create_invalidation(
            DistributionId=self.distribution_id,
            InvalidationBatch={
                "Paths": {"Quantity": len(paths), "Items": paths},
                "CallerReference": reference,
            },
        )
