"""The one reader of ``template.yaml`` (CloudFormation and SAM): YAML with short tags, parameters, conditions
and intrinsic functions, and the DynamoDB table created from the template's table resource.

The resolver knows nothing about emulated resources: it asks a ``ResourceRefs`` object for the local
equivalent of ``!Ref X`` / ``!GetAtt X.Attr``, so the same code serves the stack and the one-shot invoker.
``create_table`` creates the table (what the design calls DatabaseInit): the local stack's provisioning
and the tests (``ensure_table``) build their table with it, so the template is the single source of
truth for keys and indexes. On AWS the table is created by CloudFormation, never by this module.
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import boto3
import yaml
from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
STACK_NAME = "imagegen-local"

REPO_ROOT = Path(__file__).resolve().parents[1]

PSEUDO_PARAMETERS: dict[str, Any] = {
    "AWS::Region": REGION,
    "AWS::AccountId": ACCOUNT_ID,
    "AWS::StackName": STACK_NAME,
    "AWS::StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT_ID}:stack/{STACK_NAME}/"
    "00000000-0000-0000-0000-000000000000",
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::NotificationARNs": [],
}


class TemplateError(Exception):
    """The template uses something the local stack cannot honour; the message names the resource."""


class _NoValue:
    """``AWS::NoValue``: the enclosing key or list item disappears."""

    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE = _NoValue()


# --- YAML with CloudFormation short tags --------------------------------------------------------------


class _CfnLoader(yaml.SafeLoader):
    pass


def _tag_constructor(function: str) -> Callable[[yaml.SafeLoader, yaml.Node], dict[str, Any]]:
    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
        value: Any
        if isinstance(node, yaml.ScalarNode):
            value = loader.construct_scalar(node)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        elif isinstance(node, yaml.MappingNode):
            value = loader.construct_mapping(node, deep=True)
        else:  # pragma: no cover - yaml has no other node kinds
            raise TemplateError(f"unsupported YAML node for !{function}")
        if function == "GetAtt" and isinstance(value, str):
            # The short form "Resource.Attribute" is split on the first dot only: attributes may contain dots.
            resource, _, attribute = value.partition(".")
            value = [resource, attribute]
        key = function if function in ("Ref", "Condition") else f"Fn::{function}"
        return {key: value}

    return construct


for _name in (
    "Ref",
    "Condition",
    "GetAtt",
    "Sub",
    "If",
    "Equals",
    "Not",
    "And",
    "Or",
    "Select",
    "Join",
    "Split",
    "FindInMap",
    "Base64",
    "ImportValue",
    "GetAZs",
    "Cidr",
    "Transform",
    "ToJsonString",
    "Length",
):
    _CfnLoader.add_constructor(f"!{_name}", _tag_constructor(_name))


def load_template(path: Path) -> dict[str, Any]:
    try:
        with path.open(encoding="utf-8") as stream:
            data = yaml.load(stream, Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass
    except FileNotFoundError as exc:
        raise TemplateError(f"template not found: {path}") from exc
    except yaml.YAMLError as exc:
        raise TemplateError(f"{path}: invalid YAML: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("Resources"), dict):
        raise TemplateError(f"{path}: not a CloudFormation template (no Resources section)")
    return data


# --- walking intrinsic functions --------------------------------------------------------------------

_SUB_VARIABLE = re.compile(r"\$\{([^}!][^}]*)\}")


def intrinsic(value: Any) -> tuple[str, Any] | None:
    """``("Fn::Sub", args)`` when ``value`` is a one-key intrinsic mapping, else None."""
    if isinstance(value, dict) and len(value) == 1:
        key = next(iter(value))
        if key in ("Ref", "Condition") or key.startswith("Fn::"):
            return key, value[key]
    return None


def references(value: Any) -> Iterator[str]:
    """Every logical id or parameter name that ``value`` refers to (Ref, GetAtt, Sub variables)."""
    found = intrinsic(value)
    if found is not None:
        name, args = found
        if name == "Ref" and isinstance(args, str):
            yield args
            return
        if name == "Fn::GetAtt":
            if isinstance(args, list) and args and isinstance(args[0], str):
                yield args[0]
            elif isinstance(args, str):
                yield args.partition(".")[0]
            return
        if name == "Fn::Sub":
            text, variables = (
                (args, {}) if isinstance(args, str) else (args[0], args[1] if len(args) > 1 else {})
            )
            if isinstance(text, str):
                for match in _SUB_VARIABLE.finditer(text):
                    target = match.group(1).split(".")[0]
                    if target not in variables:
                        yield target
            if isinstance(variables, dict):
                for item in variables.values():
                    yield from references(item)
            return
        yield from references(args)
        return
    if isinstance(value, dict):
        for item in value.values():
            yield from references(item)
    elif isinstance(value, list):
        for item in value:
            yield from references(item)


# --- resolution -------------------------------------------------------------------------------------


class ResourceRefs(Protocol):
    """Local equivalents of resources, by logical id."""

    def ref(self, logical_id: str) -> Any: ...
    def get_att(self, logical_id: str, attribute: str) -> Any: ...


@dataclass
class Template:
    """A loaded template with its parameter values and conditions decided."""

    path: Path
    body: dict[str, Any]
    parameters: dict[str, Any] = field(default_factory=dict)
    _conditions: dict[str, bool] = field(default_factory=dict)

    @property
    def root(self) -> Path:
        return self.path.parent

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        resources: dict[str, dict[str, Any]] = self.body["Resources"]
        return resources

    @property
    def globals(self) -> dict[str, Any]:
        found = self.body.get("Globals") or {}
        return found if isinstance(found, dict) else {}

    def condition(self, name: str, *, where: str = "Conditions") -> bool:
        if name in self._conditions:
            return self._conditions[name]
        definitions = self.body.get("Conditions") or {}
        if name not in definitions:
            raise TemplateError(f"{where}: unknown condition {name!r}")
        self._conditions[name] = False  # a self-referencing condition ends here instead of recursing forever
        value = Resolver(self, _NoResources(), where=f"Conditions.{name}").resolve(definitions[name])
        if not isinstance(value, bool):
            raise TemplateError(f"Conditions.{name}: does not evaluate to a boolean")
        self._conditions[name] = value
        return value

    def is_active(self, logical_id: str) -> bool:
        """False for a resource whose Condition is false: CloudFormation does not create it."""
        name = self.resources[logical_id].get("Condition")
        return True if name is None else self.condition(str(name), where=logical_id)


class _NoResources:
    def ref(self, logical_id: str) -> Any:
        raise TemplateError(f"conditions may not refer to resource {logical_id!r}")

    def get_att(self, logical_id: str, attribute: str) -> Any:
        raise TemplateError(f"conditions may not refer to resource {logical_id!r}")


def open_template(path: Path, environ: Mapping[str, str] | None = None) -> Template:
    """Load ``path`` and decide its parameters.

    A parameter takes, in order: the environment variable of its own name, the environment variable of any
    function setting it feeds (``GENERATION_COST: !Ref GenerationCost`` lets ``GENERATION_COST=10`` win),
    its Default. The caller's environment is the interface of the local stack: see the API contract.
    """
    environ = os.environ if environ is None else environ
    body = load_template(path)
    template = Template(path=path.resolve(), body=body)
    fed = _env_vars_fed_by_parameters(body)
    for name, declared in (body.get("Parameters") or {}).items():
        spec = declared or {}
        raw: Any = None
        for candidate in (name, *fed.get(name, ())):
            if candidate in environ:
                raw = environ[candidate]
                break
        if raw is None:
            if "Default" not in spec:
                raise TemplateError(f"Parameters.{name}: no Default; set {name} in the environment")
            raw = spec["Default"]
        template.parameters[name] = _parameter_value(name, spec, raw)
    return template


def _parameter_value(name: str, spec: Mapping[str, Any], raw: Any) -> Any:
    kind = str(spec.get("Type", "String"))
    if kind == "CommaDelimitedList" or kind.startswith("List<"):
        if isinstance(raw, list):
            return [str(item) for item in raw]
        return [part.strip() for part in str(raw).split(",")] if str(raw) else []
    if kind == "Number":
        text = str(raw).strip()
        try:
            float(text)
        except ValueError as exc:
            raise TemplateError(f"Parameters.{name}: {text!r} is not a number") from exc
        return text
    allowed = spec.get("AllowedValues")
    value = "" if raw is None else str(raw)
    if isinstance(value, str) and allowed and value not in [str(item) for item in allowed]:
        raise TemplateError(f"Parameters.{name}: {value!r} is not one of {allowed}")
    return value


def _env_vars_fed_by_parameters(body: Mapping[str, Any]) -> dict[str, list[str]]:
    """Parameter name -> environment variable names whose template value is exactly ``!Ref Parameter``."""
    parameters = set((body.get("Parameters") or {}).keys())
    blocks: list[Any] = [((body.get("Globals") or {}).get("Function") or {}).get("Environment")]
    for resource in (body.get("Resources") or {}).values():
        if isinstance(resource, dict) and resource.get("Type") in (
            "AWS::Serverless::Function",
            "AWS::Lambda::Function",
        ):
            blocks.append((resource.get("Properties") or {}).get("Environment"))
    fed: dict[str, list[str]] = {}
    for block in blocks:
        variables = (block or {}).get("Variables") if isinstance(block, dict) else None
        for env_name, value in (variables or {}).items():
            found = intrinsic(value)
            if (
                found
                and found[0] == "Ref"
                and found[1] in parameters
                and env_name not in fed.get(found[1], [])
            ):
                fed.setdefault(found[1], []).append(env_name)
    return fed


class Resolver:
    """Evaluates intrinsic functions in one part of a template; ``where`` names it in error messages."""

    def __init__(self, template: Template, resources: ResourceRefs, *, where: str) -> None:
        self.template = template
        self.resources = resources
        self.where = where

    def fail(self, message: str) -> TemplateError:
        return TemplateError(f"{self.where}: {message}")

    def _resource(self, lookup: Callable[[], Any]) -> Any:
        """A resource lookup whose error also names the part of the template that referred to it."""
        try:
            return lookup()
        except TemplateError as exc:
            if str(exc).startswith(self.where):
                raise
            raise TemplateError(f"{self.where}: {exc}") from exc

    def resolve(self, value: Any) -> Any:
        found = intrinsic(value)
        if found is not None:
            return self._function(*found)
        if isinstance(value, dict):
            resolved_map = {key: self.resolve(item) for key, item in value.items()}
            return {key: item for key, item in resolved_map.items() if item is not NO_VALUE}
        if isinstance(value, list):
            return [item for item in (self.resolve(item) for item in value) if item is not NO_VALUE]
        return value

    def _function(self, name: str, args: Any) -> Any:
        handler = getattr(self, "_fn_" + name.replace("Fn::", "").lower(), None)
        if handler is None:
            raise self.fail(f"{name} is not supported by the local stack")
        return handler(args)

    def _fn_ref(self, name: Any) -> Any:
        if not isinstance(name, str):
            raise self.fail(f"Ref needs a name, got {name!r}")
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in PSEUDO_PARAMETERS:
            return PSEUDO_PARAMETERS[name]
        if name in self.template.parameters:
            return self.template.parameters[name]
        return self._resource(lambda: self.resources.ref(name))

    def _fn_getatt(self, args: Any) -> Any:
        if isinstance(args, str):
            args = list(args.partition(".")[::2])
        if not isinstance(args, list) or len(args) != 2:
            raise self.fail(f"Fn::GetAtt needs [Resource, Attribute], got {args!r}")
        attribute = self.resolve(args[1])
        return self._resource(lambda: self.resources.get_att(str(args[0]), str(attribute)))

    def _fn_sub(self, args: Any) -> str:
        if isinstance(args, str):
            text, variables = args, {}
        elif isinstance(args, list) and len(args) == 2 and isinstance(args[1], dict):
            text, variables = args[0], {key: self.resolve(item) for key, item in args[1].items()}
        else:
            raise self.fail(f"Fn::Sub needs a string or [string, {{vars}}], got {args!r}")
        if not isinstance(text, str):
            raise self.fail("Fn::Sub template must be a string")

        def substitute(match: re.Match[str]) -> str:
            expression = match.group(1).strip()
            if expression in variables:
                value = variables[expression]
            elif "." in expression and expression.split(".")[0] not in PSEUDO_PARAMETERS:
                resource, _, attribute = expression.partition(".")
                value = self._resource(lambda: self.resources.get_att(resource, attribute))
            else:
                value = self._fn_ref(expression)
            if isinstance(value, list):
                return ",".join(str(item) for item in value)
            return str(value)

        # "${!Literal}" stays as "${Literal}" in CloudFormation.
        return _SUB_VARIABLE.sub(substitute, text).replace("${!", "${")

    def _fn_if(self, args: Any) -> Any:
        if not isinstance(args, list) or len(args) != 3:
            raise self.fail("Fn::If needs [Condition, ValueIfTrue, ValueIfFalse]")
        chosen = args[1] if self.template.condition(str(args[0]), where=self.where) else args[2]
        return self.resolve(chosen)

    def _fn_equals(self, args: Any) -> bool:
        if not isinstance(args, list) or len(args) != 2:
            raise self.fail("Fn::Equals needs two values")
        left, right = (self.resolve(item) for item in args)
        return str(left) == str(right) if not isinstance(left, list | dict) else bool(left == right)

    def _fn_not(self, args: Any) -> bool:
        values = args if isinstance(args, list) else [args]
        if len(values) != 1:
            raise self.fail("Fn::Not needs one condition")
        return not self._boolean(values[0])

    def _fn_and(self, args: Any) -> bool:
        return all(self._boolean(item) for item in self._list(args, "Fn::And"))

    def _fn_or(self, args: Any) -> bool:
        return any(self._boolean(item) for item in self._list(args, "Fn::Or"))

    def _fn_condition(self, name: Any) -> bool:
        return self.template.condition(str(name), where=self.where)

    def _boolean(self, value: Any) -> bool:
        resolved = self.resolve(value)
        if isinstance(resolved, bool):
            return resolved
        if isinstance(resolved, str) and resolved.lower() in ("true", "false"):
            return resolved.lower() == "true"
        raise self.fail(f"expected a condition, got {resolved!r}")

    def _list(self, args: Any, name: str) -> list[Any]:
        if not isinstance(args, list):
            raise self.fail(f"{name} needs a list")
        return args

    def _fn_select(self, args: Any) -> Any:
        if not isinstance(args, list) or len(args) != 2:
            raise self.fail("Fn::Select needs [index, list]")
        index, items = self.resolve(args[0]), self.resolve(args[1])
        if not isinstance(items, list):
            raise self.fail(f"Fn::Select needs a list, got {items!r}")
        try:
            return items[int(index)]
        except (ValueError, IndexError) as exc:
            raise self.fail(f"Fn::Select index {index!r} out of range") from exc

    def _fn_join(self, args: Any) -> str:
        if not isinstance(args, list) or len(args) != 2:
            raise self.fail("Fn::Join needs [delimiter, list]")
        delimiter, items = self.resolve(args[0]), self.resolve(args[1])
        if not isinstance(items, list):
            raise self.fail(f"Fn::Join needs a list, got {items!r}")
        return str(delimiter).join(str(item) for item in items)

    def _fn_split(self, args: Any) -> list[str]:
        if not isinstance(args, list) or len(args) != 2:
            raise self.fail("Fn::Split needs [delimiter, string]")
        delimiter, text = self.resolve(args[0]), self.resolve(args[1])
        return str(text).split(str(delimiter))

    def _fn_findinmap(self, args: Any) -> Any:
        if not isinstance(args, list) or len(args) not in (3, 4):
            raise self.fail("Fn::FindInMap needs [MapName, TopKey, SecondKey]")
        map_name, top, second = (self.resolve(item) for item in args[:3])
        mappings = self.template.body.get("Mappings") or {}
        try:
            return self.resolve(mappings[map_name][top][second])
        except (KeyError, TypeError) as exc:
            if len(args) == 4 and isinstance(args[3], dict) and "DefaultValue" in args[3]:
                return self.resolve(args[3]["DefaultValue"])
            raise self.fail(f"Fn::FindInMap: no {map_name}.{top}.{second}") from exc

    def _fn_base64(self, args: Any) -> str:
        return base64.b64encode(str(self.resolve(args)).encode()).decode()

    def _fn_getazs(self, args: Any) -> list[str]:
        return [f"{REGION}{zone}" for zone in "abc"]

    def _fn_importvalue(self, args: Any) -> Any:
        raise self.fail(
            f"Fn::ImportValue {self.resolve(args)!r}: exports of other stacks do not exist locally"
        )


# --- the DynamoDB table -----------------------------------------------------------------------------

# The properties of an AWS::DynamoDB::Table that shape the table created locally; the others (TableName,
# Tags, SSE, point-in-time recovery, ...) do not change how it behaves.
TABLE_PROPERTIES = (
    "AttributeDefinitions",
    "KeySchema",
    "BillingMode",
    "ProvisionedThroughput",
    "GlobalSecondaryIndexes",
    "LocalSecondaryIndexes",
    "StreamSpecification",
    "TimeToLiveSpecification",
)
_DEFAULT_THROUGHPUT = {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}


def table_logical_id(body: Mapping[str, Any], logical_id: str | None = None) -> str:
    """The logical id of the template's DynamoDB table: ``logical_id`` if it is one, else the only one."""
    resources = body.get("Resources") or {}
    tables = sorted(
        str(name)
        for name, resource in resources.items()
        if isinstance(resource, dict) and resource.get("Type") == "AWS::DynamoDB::Table"
    )
    if logical_id is not None:
        if logical_id not in tables:
            raise TemplateError(f"the template has no DynamoDB table {logical_id!r}")
        return logical_id
    if len(tables) != 1:
        raise TemplateError(f"expected one DynamoDB table in the template, found {tables}")
    return tables[0]


def table_properties(body: Mapping[str, Any], logical_id: str | None = None) -> dict[str, Any]:
    """The Properties of the template's DynamoDB table as written (the one named ``logical_id`` if given)."""
    resource = body["Resources"][table_logical_id(body, logical_id)]
    return dict(resource.get("Properties") or {})


def create_table_request(properties: Mapping[str, Any], table_name: str) -> dict[str, Any]:
    """The CreateTable request for resolved table Properties."""
    billing = str(properties.get("BillingMode", "PROVISIONED"))
    request: dict[str, Any] = {
        "TableName": table_name,
        "AttributeDefinitions": properties["AttributeDefinitions"],
        "KeySchema": properties["KeySchema"],
        "BillingMode": billing,
    }
    if billing == "PROVISIONED":
        request["ProvisionedThroughput"] = _ints(
            properties.get("ProvisionedThroughput") or _DEFAULT_THROUGHPUT
        )
    for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        indexes = []
        for declared in properties.get(key) or []:
            index = {
                k: v
                for k, v in declared.items()
                if k in ("IndexName", "KeySchema", "Projection", "ProvisionedThroughput")
            }
            if key == "GlobalSecondaryIndexes" and billing == "PROVISIONED":
                index["ProvisionedThroughput"] = _ints(
                    index.get("ProvisionedThroughput") or _DEFAULT_THROUGHPUT
                )
            indexes.append(index)
        if indexes:
            request[key] = indexes
    stream = properties.get("StreamSpecification")
    if stream:
        request["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream["StreamViewType"]}
    return request


def _ints(mapping: Mapping[str, Any]) -> dict[str, int]:
    return {key: int(value) for key, value in mapping.items()}


def create_table(dynamodb: DynamoDBClient, table_name: str, properties: Mapping[str, Any]) -> None:
    """Create ``table_name`` as resolved table Properties say, and its TTL. A table that exists is kept."""
    try:
        dynamodb.create_table(**create_table_request(properties, table_name))
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ResourceInUseException":
            raise
    dynamodb.get_waiter("table_exists").wait(
        TableName=table_name, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
    )
    ttl = properties.get("TimeToLiveSpecification") or {}
    if str(ttl.get("Enabled", False)).lower() == "true" and ttl.get("AttributeName"):
        current = dynamodb.describe_time_to_live(TableName=table_name).get("TimeToLiveDescription", {})
        if current.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
            dynamodb.update_time_to_live(
                TableName=table_name,
                TimeToLiveSpecification={"AttributeName": str(ttl["AttributeName"]), "Enabled": True},
            )


class _TableOnly:
    """Outside the local stack there are no other resources for the table's properties to refer to."""

    def ref(self, logical_id: str) -> Any:
        raise TemplateError(f"the table's properties may not refer to resource {logical_id!r}")

    def get_att(self, logical_id: str, attribute: str) -> Any:
        raise TemplateError(f"the table's properties may not refer to resource {logical_id!r}")


@cache
def _cached_client(region: str, dynamodb_endpoint: str, endpoint: str) -> DynamoDBClient:
    return boto3.client("dynamodb", region_name=region)


def _client() -> DynamoDBClient:
    # Tests create a table per test: building a client each time would cost more than the table. A client
    # reads its endpoint and region once, so a changed environment gets a new one.
    return _cached_client(
        os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or REGION,
        os.environ.get("AWS_ENDPOINT_URL_DYNAMODB", ""),
        os.environ.get("AWS_ENDPOINT_URL", ""),
    )


def ensure_table(
    template_path: str | os.PathLike[str] = "template.yaml", table_name: str | None = None
) -> str:
    """Create the table (and its TTL) as the template defines it, unless it exists. Returns its name.

    The client comes from the environment (``AWS_ENDPOINT_URL_DYNAMODB``/``AWS_ENDPOINT_URL``, region,
    credentials); the name defaults to ``TABLE_NAME``. Parameters take their defaults."""
    path = Path(template_path)
    if not path.is_absolute() and not path.exists():
        path = REPO_ROOT / path  # run from anywhere inside the repository
    template = open_template(path, environ={})
    logical_id = table_logical_id(template.body)
    declared = template.resources[logical_id].get("Properties") or {}
    properties = Resolver(template, _TableOnly(), where=logical_id).resolve(
        {key: value for key, value in declared.items() if key in TABLE_PROPERTIES}
    )
    name = table_name or os.environ.get("TABLE_NAME") or "imagegen"
    create_table(_client(), name, properties)
    return name


def delete_table(table_name: str) -> None:
    """Drop a table (tests clean up after themselves); a missing table is fine."""
    try:
        _client().delete_table(TableName=table_name)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
            raise
