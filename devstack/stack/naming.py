"""Local equivalents of the template's resources: physical names, ARNs, URLs (what !Ref and !GetAtt give).

Names are deterministic (``imagegen-local-<LogicalId>`` unless the template names the resource), so
references resolve before anything exists; only a few values (a secret's ARN) are learnt at creation.
"""

from __future__ import annotations

from typing import Any

from devstack.template import ACCOUNT_ID, REGION, STACK_NAME, Resolver, Template, TemplateError

FUNCTION_TYPES = ("AWS::Serverless::Function", "AWS::Lambda::Function")
LAYER_TYPES = ("AWS::Serverless::LayerVersion", "AWS::Lambda::LayerVersion")
HTTP_API_TYPES = ("AWS::Serverless::HttpApi",)
IMPLICIT_HTTP_API = "ServerlessHttpApi"


class LocalResources:
    """``cfn.ResourceRefs`` for the emulator at ``endpoint_url`` and the gateway at ``gateway_url``."""

    def __init__(self, template: Template, *, endpoint_url: str, gateway_url: str) -> None:
        self.template = template
        self.endpoint_url = endpoint_url.rstrip("/")
        self.gateway_url = gateway_url.rstrip("/")
        self.learnt: dict[tuple[str, str], Any] = {}
        self._names: dict[str, str] = {}
        self._naming: set[str] = set()

    # --- cfn.ResourceRefs ---

    def ref(self, logical_id: str) -> Any:
        kind = self.kind(logical_id)
        if (logical_id, "Ref") in self.learnt:
            return self.learnt[(logical_id, "Ref")]
        if kind == "AWS::SQS::Queue":
            return self.queue_url(logical_id)
        if kind in ("AWS::SecretsManager::Secret", "AWS::SNS::Topic") or kind in LAYER_TYPES:
            return self.get_att(logical_id, "Arn")
        if kind in HTTP_API_TYPES:
            return self.api_id(logical_id)
        if kind == "AWS::ApiGatewayV2::Stage":
            return "$default"
        return self.name(logical_id)

    def get_att(self, logical_id: str, attribute: str) -> Any:
        kind = self.kind(logical_id)
        if (logical_id, attribute) in self.learnt:
            return self.learnt[(logical_id, attribute)]
        name = self.name(logical_id)
        simple: dict[str, dict[str, Any]] = {
            "AWS::DynamoDB::Table": {
                "Arn": f"arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/{name}",
                "StreamArn": f"arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/{name}/stream/1970-01-01",
            },
            "AWS::S3::Bucket": {
                "Arn": f"arn:aws:s3:::{name}",
                "DomainName": f"{name}.s3.amazonaws.com",
                "RegionalDomainName": f"{name}.s3.{REGION}.amazonaws.com",
                "DualStackDomainName": f"{name}.s3.dualstack.{REGION}.amazonaws.com",
                "WebsiteURL": f"{self.endpoint_url}/{name}",
            },
            "AWS::SQS::Queue": {
                "Arn": f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{name}",
                "QueueName": name,
                "QueueUrl": self.queue_url(logical_id),
            },
            "AWS::SNS::Topic": {"Arn": f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:{name}", "TopicName": name},
            "AWS::SSM::Parameter": {"Type": "String"},
            "AWS::IAM::Role": {
                "Arn": f"arn:aws:iam::{ACCOUNT_ID}:role/{name}",
                "RoleId": f"AROA{name.upper()[:16]}",
            },
            "AWS::Logs::LogGroup": {"Arn": f"arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:{name}:*"},
            "AWS::Serverless::HttpApi": {"ApiEndpoint": self.gateway_url, "ApiId": self.api_id(logical_id)},
        }
        for function_type in FUNCTION_TYPES:
            simple[function_type] = {"Arn": function_arn(name)}
        for layer_type in LAYER_TYPES:
            simple[layer_type] = {"Arn": f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:layer:{name}:1"}
        if kind in simple and attribute in simple[kind]:
            return simple[kind][attribute]
        if attribute == "Arn":
            service = kind.split("::")[1].lower() if kind.count("::") == 2 else "local"
            return f"arn:aws:{service}:{REGION}:{ACCOUNT_ID}:{logical_id}/{name}"
        raise TemplateError(f"{logical_id} ({kind}): attribute {attribute!r} is not available locally")

    # --- names ---

    def kind(self, logical_id: str) -> str:
        resources = self.template.resources
        if logical_id in resources:
            if not self.template.is_active(logical_id):
                raise TemplateError(
                    f"{logical_id}: referenced, but its Condition is false so it does not exist"
                )
            return str(resources[logical_id].get("Type", ""))
        # Resources SAM generates from a function or from implicit APIs.
        if logical_id == IMPLICIT_HTTP_API:
            return "AWS::Serverless::HttpApi"
        if logical_id.endswith("ApiGatewayDefaultStage"):
            return "AWS::ApiGatewayV2::Stage"
        if logical_id.endswith("Role") and self._is_function(logical_id[: -len("Role")]):
            return "AWS::IAM::Role"
        raise TemplateError(f"unknown resource {logical_id!r}")

    def _is_function(self, logical_id: str) -> bool:
        resource = self.template.resources.get(logical_id)
        return isinstance(resource, dict) and resource.get("Type") in FUNCTION_TYPES

    def name(self, logical_id: str) -> str:
        if logical_id in self._names:
            return self._names[logical_id]
        if logical_id in self._naming:
            raise TemplateError(f"{logical_id}: its name refers to itself")
        self._naming.add(logical_id)
        try:
            kind = self.kind(logical_id)
            name = self._explicit_name(logical_id, kind) or self._default_name(logical_id, kind)
        finally:
            self._naming.discard(logical_id)
        self._names[logical_id] = name
        return name

    def _explicit_name(self, logical_id: str, kind: str) -> str | None:
        name_property = {
            "AWS::DynamoDB::Table": "TableName",
            "AWS::S3::Bucket": "BucketName",
            "AWS::SQS::Queue": "QueueName",
            "AWS::SNS::Topic": "TopicName",
            "AWS::SecretsManager::Secret": "Name",
            "AWS::SSM::Parameter": "Name",
            "AWS::IAM::Role": "RoleName",
            "AWS::Logs::LogGroup": "LogGroupName",
            "AWS::Serverless::Function": "FunctionName",
            "AWS::Lambda::Function": "FunctionName",
            "AWS::Serverless::LayerVersion": "LayerName",
            "AWS::Lambda::LayerVersion": "LayerName",
        }.get(kind)
        properties = (self.template.resources.get(logical_id) or {}).get("Properties") or {}
        if name_property is None or name_property not in properties:
            return None
        value = Resolver(self.template, self, where=f"{logical_id}.{name_property}").resolve(
            properties[name_property]
        )
        return None if value is None or not str(value) else str(value)

    def _default_name(self, logical_id: str, kind: str) -> str:
        name = f"{STACK_NAME}-{logical_id}"
        if kind == "AWS::S3::Bucket":
            return name.lower()[:63]
        if kind == "AWS::SQS::Queue":
            properties = (self.template.resources.get(logical_id) or {}).get("Properties") or {}
            fifo = Resolver(self.template, self, where=logical_id).resolve(properties.get("FifoQueue", False))
            return f"{name[:75]}.fifo" if str(fifo).lower() == "true" else name[:80]
        return name

    def queue_url(self, logical_id: str) -> str:
        return f"{self.endpoint_url}/{ACCOUNT_ID}/{self.name(logical_id)}"

    def api_id(self, logical_id: str) -> str:
        # API Gateway ids are 10 lower-case alphanumerics; a stable one keeps routeArn values readable.
        return ("local" + "".join(ch for ch in logical_id.lower() if ch.isalnum()))[:10]


def function_arn(name: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{name}"
