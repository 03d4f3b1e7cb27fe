"""Creates the template's tables, buckets, queues, secrets and parameters in the emulator.

Resources are created in dependency order (a queue's dead-letter queue first, a bucket after the queues it
notifies), each from its own CloudFormation properties.
"""

from __future__ import annotations

import json
import secrets
import string
import threading
from collections.abc import Callable
from typing import Any

import boto3
from botocore.config import Config

from devstack.stack.naming import LocalResources
from devstack.stack.sam import Application
from devstack.template import REGION, Resolver, TemplateError, create_table, references

FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}

PROVISIONED_TYPES = (
    "AWS::DynamoDB::Table",
    "AWS::S3::Bucket",
    "AWS::SQS::Queue",
    "AWS::SecretsManager::Secret",
    "AWS::SSM::Parameter",
)

# Internal queues standing in for S3 -> Lambda: an asynchronous invocation is tried three times in all.
S3_DIRECT_MAX_ATTEMPTS = 3


_session_lock = threading.Lock()
_sessions: list[boto3.session.Session] = []


def client(service: str, endpoint_url: str, *, pool: int = 10) -> Any:
    """A client of the emulator. One shared session: each new session would parse the service models again
    (a tenth of a second per client). Clients are thread-safe; session creation is not, hence the lock."""
    with _session_lock:
        if not _sessions:
            _sessions.append(boto3.session.Session())
        return _sessions[0].client(
            service,  # type: ignore[call-overload]
            endpoint_url=endpoint_url,
            region_name=REGION,
            aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=FAKE_CREDENTIALS["AWS_SESSION_TOKEN"],
            config=Config(
                retries={"max_attempts": 2, "mode": "standard"},
                max_pool_connections=pool,
                read_timeout=70,
                connect_timeout=5,
            ),
        )


def creation_order(app: Application) -> list[str]:
    template = app.template
    wanted = [
        logical_id
        for logical_id, resource in template.resources.items()
        if resource.get("Type") in PROVISIONED_TYPES and template.is_active(logical_id)
    ]
    order: list[str] = []
    state: dict[str, str] = {}

    def visit(logical_id: str, chain: tuple[str, ...]) -> None:
        if state.get(logical_id) == "done":
            return
        if state.get(logical_id) == "visiting":
            raise TemplateError(f"{logical_id}: circular dependency {' -> '.join((*chain, logical_id))}")
        state[logical_id] = "visiting"
        resource = template.resources[logical_id]
        depends = resource.get("DependsOn") or []
        targets = set(references(resource.get("Properties") or {})) | set(
            depends if isinstance(depends, list) else [depends]
        )
        for target in sorted(targets):
            if target in wanted:
                visit(target, (*chain, logical_id))
        state[logical_id] = "done"
        order.append(logical_id)

    for logical_id in wanted:
        visit(logical_id, ())
    return order


def provision(app: Application, resources: LocalResources) -> None:
    endpoint = resources.endpoint_url
    creators: dict[str, Callable[[str, dict[str, Any]], None]] = {
        "AWS::DynamoDB::Table": lambda lid, props: create_table(
            client("dynamodb", endpoint), resources.name(lid), props
        ),
        "AWS::S3::Bucket": lambda lid, props: _bucket(app, resources, lid, props),
        "AWS::SQS::Queue": lambda lid, props: _queue(endpoint, resources.name(lid), props),
        "AWS::SecretsManager::Secret": lambda lid, props: _secret(resources, lid, props),
        "AWS::SSM::Parameter": lambda lid, props: _parameter(resources, lid, props),
    }
    sqs = client("sqs", endpoint)
    for note in app.s3_notifications:
        sqs.create_queue(
            QueueName=note.queue_name,
            Attributes={"VisibilityTimeout": str(int(app.functions[note.function].timeout_seconds) + 5)},
        )
    for logical_id in creation_order(app):
        resource = app.template.resources[logical_id]
        props = Resolver(app.template, resources, where=logical_id).resolve(resource.get("Properties") or {})
        try:
            creators[str(resource["Type"])](logical_id, props)
        except TemplateError:
            raise
        except Exception as exc:
            raise TemplateError(f"{logical_id}: could not be created in the emulator: {exc}") from exc


def _queue(endpoint: str, name: str, props: dict[str, Any]) -> None:
    attributes: dict[str, str] = {}
    for key in (
        "VisibilityTimeout",
        "MessageRetentionPeriod",
        "DelaySeconds",
        "MaximumMessageSize",
        "ReceiveMessageWaitTimeSeconds",
        "FifoQueue",
        "ContentBasedDeduplication",
    ):
        if key in props:
            value = props[key]
            attributes[key] = str(value).lower() if isinstance(value, bool) else str(value)
    redrive = props.get("RedrivePolicy")
    if redrive:
        if isinstance(redrive, str):
            redrive = json.loads(redrive)
        attributes["RedrivePolicy"] = json.dumps(
            {
                "deadLetterTargetArn": redrive["deadLetterTargetArn"],
                "maxReceiveCount": int(redrive["maxReceiveCount"]),
            }
        )
    client("sqs", endpoint).create_queue(QueueName=name, Attributes=attributes)


def _bucket(app: Application, resources: LocalResources, logical_id: str, props: dict[str, Any]) -> None:
    s3 = client("s3", resources.endpoint_url)
    name = resources.name(logical_id)
    s3.create_bucket(Bucket=name)
    # Locally, object URLs (storageUrl, thumbnailUrl) are readable without a signature, as the API contract
    # wants; the template's own bucket policies are not applied (moto would enforce a SecureTransport deny).
    s3.put_bucket_policy(
        Bucket=name,
        Policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "LocalStackPublicRead",
                        "Effect": "Allow",
                        "Principal": "*",
                        "Action": "s3:GetObject",
                        "Resource": f"arn:aws:s3:::{name}/*",
                    }
                ],
            }
        ),
    )
    cors = (props.get("CorsConfiguration") or {}).get("CorsRules")
    if cors:
        rules = []
        for rule in cors:
            converted: dict[str, Any] = {
                "AllowedMethods": rule["AllowedMethods"],
                "AllowedOrigins": rule["AllowedOrigins"],
            }
            for source, target in (
                ("AllowedHeaders", "AllowedHeaders"),
                ("ExposedHeaders", "ExposeHeaders"),
                ("Id", "ID"),
            ):
                if source in rule:
                    converted[target] = rule[source]
            if "MaxAge" in rule:
                converted["MaxAgeSeconds"] = int(rule["MaxAge"])
            rules.append(converted)
        s3.put_bucket_cors(Bucket=name, CORSConfiguration={"CORSRules": rules})
    queue_configs: list[dict[str, Any]] = []
    notification = props.get("NotificationConfiguration") or {}
    for config in notification.get("QueueConfigurations") or []:
        rules = ((config.get("Filter") or {}).get("S3Key") or {}).get("Rules") or []
        queue_configs.append(_queue_notification(config["Queue"], [config["Event"]], rules))
    for note in app.s3_notifications:
        if note.bucket == logical_id:
            arn = f"arn:aws:sqs:{REGION}:123456789012:{note.queue_name}"
            rules = [{"Name": rule_name, "Value": value} for rule_name, value in note.filter_rules]
            queue_configs.append(_queue_notification(arn, list(note.events), rules))
    for unsupported in ("LambdaConfigurations", "TopicConfigurations", "EventBridgeConfiguration"):
        if notification.get(unsupported):
            app.warnings.append(
                f"{logical_id}: NotificationConfiguration.{unsupported} is not delivered locally"
            )
    if queue_configs:
        s3.put_bucket_notification_configuration(
            Bucket=name, NotificationConfiguration={"QueueConfigurations": queue_configs}
        )


def _queue_notification(queue_arn: str, events: list[str], rules: list[dict[str, Any]]) -> dict[str, Any]:
    config: dict[str, Any] = {"QueueArn": queue_arn, "Events": events}
    if rules:
        config["Filter"] = {
            "Key": {
                "FilterRules": [
                    {"Name": str(rule["Name"]).lower(), "Value": str(rule["Value"])} for rule in rules
                ]
            }
        }
    return config


def _secret(resources: LocalResources, logical_id: str, props: dict[str, Any]) -> None:
    value = props.get("SecretString")
    if value is None:
        value = _generated_secret(props.get("GenerateSecretString") or {})
    elif not isinstance(value, str):
        value = json.dumps(value)
    created = client("secretsmanager", resources.endpoint_url).create_secret(
        Name=resources.name(logical_id), SecretString=value
    )
    resources.learnt[(logical_id, "Ref")] = created["ARN"]
    resources.learnt[(logical_id, "Id")] = created["ARN"]


def _generated_secret(spec: dict[str, Any]) -> str:
    alphabet = string.ascii_letters + string.digits
    if str(spec.get("ExcludePunctuation", False)).lower() != "true":
        alphabet += "!#$%&()*+,-.:;<=>?[]^_{|}~"
    excluded = str(spec.get("ExcludeCharacters", ""))
    alphabet = "".join(ch for ch in alphabet if ch not in excluded)
    length = int(spec.get("PasswordLength", 32))
    generated = "".join(secrets.choice(alphabet) for _ in range(length))
    template, key = spec.get("SecretStringTemplate"), spec.get("GenerateStringKey")
    if template and key:
        document = json.loads(template)
        document[key] = generated
        return json.dumps(document)
    return generated


def _parameter(resources: LocalResources, logical_id: str, props: dict[str, Any]) -> None:
    value = props.get("Value")
    kind = str(props.get("Type", "String"))
    client("ssm", resources.endpoint_url).put_parameter(
        Name=resources.name(logical_id),
        Value=str(value),
        Type=kind if kind != "SecureString" else "String",
        Overwrite=True,
    )
    resources.learnt[(logical_id, "Value")] = value
    resources.learnt[(logical_id, "Type")] = kind
