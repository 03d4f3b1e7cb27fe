"""The CDN adapter against moto's CloudFront: one invalidation per batch, its caller reference kept."""

from __future__ import annotations

import boto3
import pytest
from imagegen import aws
from imagegen.live_adapters import ApiGatewayPusher, CloudFrontInvalidator
from moto import mock_aws


@pytest.fixture
def cloudfront(monkeypatch: pytest.MonkeyPatch) -> str:
    for name, value in (
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
    ):
        monkeypatch.setenv(name, value)
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    aws.reset_clients()
    return ""


def test_an_invalidation_carries_the_paths_and_the_reference(cloudfront: str) -> None:
    with mock_aws():
        client = boto3.client("cloudfront")
        distribution = client.create_distribution(
            DistributionConfig={
                "CallerReference": "imagegen-test",
                "Comment": "",
                "Enabled": True,
                "Origins": {
                    "Quantity": 1,
                    "Items": [
                        {
                            "Id": "r",
                            "DomainName": "bucket.s3.amazonaws.com",
                            "S3OriginConfig": {"OriginAccessIdentity": ""},
                        }
                    ],
                },
                "DefaultCacheBehavior": {"TargetOriginId": "r", "ViewerProtocolPolicy": "redirect-to-https"},
            }
        )["Distribution"]["Id"]
        CloudFrontInvalidator(distribution).invalidate(
            ["/thumbnails/a/v1-256.webp", "/thumbnails/a/v1-1024.webp"], reference="imagegen-abc"
        )
        [summary] = client.list_invalidations(DistributionId=distribution)["InvalidationList"]["Items"]
        found = client.get_invalidation(DistributionId=distribution, Id=summary["Id"])["Invalidation"]
        batch = found["InvalidationBatch"]
        assert batch["Paths"]["Items"] == ["/thumbnails/a/v1-256.webp", "/thumbnails/a/v1-1024.webp"]
        assert batch["CallerReference"] == "imagegen-abc"
    aws.reset_clients()


def test_the_pusher_needs_its_endpoint() -> None:
    with pytest.raises(ValueError, match="WEBSOCKET_MANAGEMENT_URL"):
        ApiGatewayPusher("")
