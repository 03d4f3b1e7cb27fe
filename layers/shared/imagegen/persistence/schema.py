"""Create the table from ``template.yaml``, for tests and the local stack.

The template is the single source of truth for keys and indexes: this reads the ``Table``
resource's properties and turns them into CreateTable and UpdateTimeToLive calls. Safe to run
twice. On AWS the table is created by CloudFormation, never by this module.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import yaml
from botocore.exceptions import ClientError

from imagegen.persistence.binding import environment_key
from imagegen.settings import get_settings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

_REPO_ROOT = Path(__file__).resolve().parents[4]
_CREATE_TABLE_KEYS = ("AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes", "LocalSecondaryIndexes")


@cache
def _cached_client(env_key: tuple[str, ...]) -> DynamoDBClient:
    return boto3.client("dynamodb", region_name=env_key[0])


def _client() -> DynamoDBClient:
    # Tests create a table per test: building a client each time would cost more than the table.
    return _cached_client(environment_key())


class _CloudFormationLoader(yaml.SafeLoader):
    """SafeLoader that reads CloudFormation short tags (!Ref, !GetAtt, !Sub, ...) as plain data."""


def _cfn_tag(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if tag_suffix == "Ref" else f"Fn::{tag_suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_CloudFormationLoader.add_multi_constructor("!", _cfn_tag)


def load_template(template_path: str | os.PathLike[str] = "template.yaml") -> dict[str, Any]:
    path = Path(template_path)
    if not path.is_absolute() and not path.exists():
        # Run from anywhere inside the repository: fall back to the repository root.
        path = _REPO_ROOT / path
    with path.open(encoding="utf-8") as handle:
        loaded = yaml.load(handle, Loader=_CloudFormationLoader)  # noqa: S506 - a SafeLoader subclass
    if not isinstance(loaded, dict):
        raise ValueError(f"{path} is not a CloudFormation template")
    return loaded


def table_properties(template: dict[str, Any], logical_id: str | None = None) -> dict[str, Any]:
    """The Properties of the template's DynamoDB table (the one named ``logical_id`` if given)."""
    resources = template.get("Resources") or {}
    tables = {
        name: resource
        for name, resource in resources.items()
        if isinstance(resource, dict) and resource.get("Type") == "AWS::DynamoDB::Table"
    }
    if logical_id is not None:
        if logical_id not in tables:
            raise ValueError(f"the template has no DynamoDB table {logical_id!r}")
        return dict(tables[logical_id].get("Properties") or {})
    if len(tables) != 1:
        raise ValueError(f"expected one DynamoDB table in the template, found {sorted(tables)}")
    return dict(next(iter(tables.values())).get("Properties") or {})


def create_table_request(properties: dict[str, Any], table_name: str) -> dict[str, Any]:
    request: dict[str, Any] = {"TableName": table_name}
    for key in _CREATE_TABLE_KEYS:
        if key in properties:
            request[key] = properties[key]
    billing = properties.get("BillingMode", "PROVISIONED")
    request["BillingMode"] = billing
    if billing == "PROVISIONED":
        request["ProvisionedThroughput"] = properties.get(
            "ProvisionedThroughput", {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
        )
    return request


def ensure_table(
    template_path: str | os.PathLike[str] = "template.yaml", table_name: str | None = None
) -> str:
    """Create the table (and its TTL) as the template defines it, unless it exists. Returns its name."""
    name = table_name or get_settings().table_name
    properties = table_properties(load_template(template_path))
    client = _client()
    try:
        client.create_table(**create_table_request(properties, name))
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ResourceInUseException":
            raise
    client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    ttl = properties.get("TimeToLiveSpecification") or {}
    if ttl.get("Enabled") and ttl.get("AttributeName"):
        current = client.describe_time_to_live(TableName=name).get("TimeToLiveDescription", {})
        if current.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
            client.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]},
            )
    return name


def delete_table(table_name: str) -> None:
    """Drop a table (tests clean up after themselves); a missing table is fine."""
    client = _client()
    try:
        client.delete_table(TableName=table_name)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
            raise
