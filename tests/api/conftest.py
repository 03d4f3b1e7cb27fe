"""The application as Lambda runs it: real handlers, API Gateway v2 events, AWS on the emulator.

``api.call("GET", "/images")`` routes through template.yaml to the function that serves the route,
builds the event API Gateway would send, invokes the handler in-process and parses the response.
``pipeline.drain()`` plays Lambda's SQS event source mappings (generation, thumbnails from the
bucket's own S3 notifications, ledger, dead letters) until every queue is empty.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlencode

import boto3
import pytest

from devstack.template import load_template

ROOT = Path(__file__).resolve().parents[2]
SIGNING_KEY = "tests-session-signing-key-0123456789abcdef"
ADMIN_EMAIL = "boss@example.com"
_modules: dict[str, ModuleType] = {}


def _routes() -> list[tuple[str, re.Pattern[str], str, str]]:
    template = load_template(ROOT / "template.yaml")
    found = []
    for resource in template["Resources"].values():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        directory = Path(resource["Properties"]["CodeUri"]).name
        for event in resource["Properties"].get("Events", {}).values():
            if event["Type"] == "HttpApi":
                path = event["Properties"]["Path"]
                pattern = re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path) + "$")
                found.append((event["Properties"]["Method"].upper(), pattern, path, directory))
    return found


ROUTES = _routes()


def handler(directory: str) -> Callable[[dict[str, Any], Any], Any]:
    """``functions/<directory>/app.py``'s handler; every function's module is ``app``, so load by path."""
    if directory not in _modules:
        spec = importlib.util.spec_from_file_location(
            f"fn_{directory}", ROOT / "functions" / directory / "app.py"
        )
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _modules[directory] = module
    return _modules[directory].lambda_handler  # type: ignore[no-any-return]


@dataclass
class LambdaContext:
    function_name: str = "test-function"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:test-function"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    raw: str
    cookies: list[str] = field(default_factory=list)  # the response's Set-Cookie values

    @property
    def json(self) -> Any:
        return json.loads(self.raw) if self.raw else None

    @property
    def code(self) -> str | None:
        body = self.json
        return body.get("code") if isinstance(body, dict) else None

    def problem(self, status: int, code: str) -> dict[str, Any]:
        assert (self.status, self.code) == (status, code), f"{self.status} {self.raw[:400]}"
        assert self.headers["Content-Type"].startswith("application/problem+json")
        body: dict[str, Any] = self.json
        assert {"type", "title", "status", "detail", "code"} <= set(body)
        assert body["status"] == status
        return body


class Api:
    """Calls as one browser would make them: cookies the responses set are kept (by name, with their
    path; ``Max-Age=0`` removes one) and sent back on later calls under their path, unless ``cookies``
    says exactly what to send (``[]``: none)."""

    def __init__(self) -> None:
        self.jar: dict[str, tuple[str, str]] = {}  # name -> (value, path)

    def _cookies_for(self, path: str) -> list[str]:
        return [
            f"{name}={value}"
            for name, (value, scope) in self.jar.items()
            if path == scope or path.startswith(scope.rstrip("/") + "/")
        ]

    def _keep(self, set_cookies: list[str]) -> None:
        for line in set_cookies:
            pair, *attributes = [part.strip() for part in line.split(";")]
            name, _, value = pair.partition("=")
            options = {k.lower(): v for k, _, v in (a.partition("=") for a in attributes)}
            if options.get("max-age") == "0":
                self.jar.pop(name, None)
            else:
                self.jar[name] = (value, options.get("path") or "/")

    def call(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        body: Any = None,
        raw_body: str | None = None,
        headers: dict[str, str] | None = None,
        query: dict[str, str] | None = None,
        function: str | None = None,
        cookies: list[str] | None = None,
    ) -> Reply:
        route = next(((m, p, t, d) for m, p, t, d in ROUTES if m == method and p.match(path)), None)
        if route is None:
            raise AssertionError(f"no route for {method} {path} in template.yaml")
        _, pattern, template_path, directory = route
        params = pattern.match(path).groupdict()  # type: ignore[union-attr]
        hdrs = {
            "accept": "application/json",
            "host": "api.example.com",
            "user-agent": "pytest",
            **{k.lower(): v for k, v in (headers or {}).items()},
        }
        if token is not None:
            hdrs["authorization"] = f"Bearer {token}"
        text = raw_body if raw_body is not None else (json.dumps(body) if body is not None else None)
        if text is not None:
            hdrs.setdefault("content-type", "application/json")
        event: dict[str, Any] = {
            "version": "2.0",
            "routeKey": f"{method} {template_path}",
            "rawPath": path,
            "rawQueryString": urlencode(query or {}),
            "headers": hdrs,
            "queryStringParameters": dict(query) if query else None,
            "pathParameters": params or None,
            "requestContext": {
                "accountId": "123456789012",
                "apiId": "test",
                "domainName": "api.example.com",
                "domainPrefix": "api",
                "requestId": str(uuid.uuid4()),
                "routeKey": f"{method} {template_path}",
                "stage": "$default",
                "time": "26/Nov/2026:05:40:00 +0000",
                "timeEpoch": int(time.time() * 1000),
                "http": {
                    "method": method,
                    "path": path,
                    "protocol": "HTTP/1.1",
                    "sourceIp": "127.0.0.1",
                    "userAgent": "pytest",
                },
            },
            "body": text,
            "isBase64Encoded": False,
        }
        sent = self._cookies_for(path) if cookies is None else cookies
        if sent:
            event["cookies"] = sent  # payload 2.0: the Cookie header's pairs, not a header
        result = handler(directory)(event, LambdaContext(function_name=directory))
        raw = result.get("body") or ""
        if result.get("isBase64Encoded"):
            raw = base64.b64decode(raw).decode()
        set_cookies = [str(cookie) for cookie in result.get("cookies") or []]
        self._keep(set_cookies)
        return Reply(result["statusCode"], result.get("headers") or {}, raw, set_cookies)


@dataclass
class Queues:
    generation: str
    generation_dlq: str
    thumbnails: str
    thumbnails_dlq: str
    ledger: str


class Pipeline:
    """Lambda's event source mappings, driven by hand: receive, invoke, delete what succeeded."""

    def __init__(self, queues: Queues) -> None:
        self.queues = queues
        self.sqs = boto3.client("sqs")
        self.consumers = [
            (queues.generation, "generator"),
            (queues.thumbnails, "thumbnailer"),
            (queues.ledger, "coin_ledger"),
            (queues.generation_dlq, "coin_ledger"),
            (queues.thumbnails_dlq, "coin_ledger"),
        ]
        self.invocations: list[tuple[str, int, int]] = []

    def deliver(self, queue_url: str, directory: str) -> int:
        got = self.sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=0,
            AttributeNames=["All"],
            VisibilityTimeout=0,
        )
        messages = [m for m in got.get("Messages", []) if "s3:TestEvent" not in m["Body"]]
        for m in got.get("Messages", []):
            if "s3:TestEvent" in m["Body"]:
                self.sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
        if not messages:
            return 0
        arn = f"arn:aws:sqs:us-east-1:123456789012:{queue_url.rsplit('/', 1)[-1]}"
        event = {
            "Records": [
                {
                    "messageId": m["MessageId"],
                    "receiptHandle": m["ReceiptHandle"],
                    "body": m["Body"],
                    "attributes": m.get("Attributes", {}),
                    "messageAttributes": {},
                    "md5OfBody": m["MD5OfBody"],
                    "eventSource": "aws:sqs",
                    "eventSourceARN": arn,
                    "awsRegion": "us-east-1",
                }
                for m in messages
            ]
        }
        result = handler(directory)(event, LambdaContext(function_name=directory))
        failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
        for m in messages:
            if m["MessageId"] not in failed:
                self.sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
        self.invocations.append((directory, len(messages), len(failed)))
        return len(messages)

    def drain(self, rounds: int = 30) -> None:
        for _ in range(rounds):
            if not sum(self.deliver(url, d) for url, d in self.consumers):
                return
        raise AssertionError("queues did not drain")


@dataclass
class Env:
    api: Api
    pipeline: Pipeline
    queues: Queues
    bucket: str
    table: str
    endpoint: str

    @property
    def ctx(self) -> Any:
        from imagegen.bootstrap import get_adapters

        return get_adapters()

    def user(self, coins: int = 100, *, admin: bool = False, email: str | None = None) -> tuple[Any, str]:
        """A user with ``coins`` (as a signup bonus entry) and a session token for them."""
        from imagegen.models import User, UserRole, new_id

        user_id = new_id()
        user = User(
            id=user_id,
            email=email or f"u-{user_id[:8]}@example.com",
            google_id=f"g-{user_id}",
            first_name="Ada",
            last_name="Lovelace",
            roles=[UserRole.USER, UserRole.ADMIN] if admin else [UserRole.USER],
        )
        created = self.ctx.repos.users.create(user, signup_bonus=coins)
        token, _, _ = self.ctx.sessions.issue(created)
        return created, token

    def objects(self, prefix: str = "") -> list[str]:
        s3 = boto3.client("s3")
        keys: list[str] = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            keys += [o["Key"] for o in page.get("Contents", [])]
        return keys


@pytest.fixture
def app(table: str, aws_env: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    from imagegen.bootstrap import reset_adapters

    suffix = uuid.uuid4().hex[:12]
    sqs = boto3.client("sqs")

    def queue(name: str, dlq: str | None = None) -> str:
        attributes = {"VisibilityTimeout": "0"}
        if dlq:
            arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"][
                "QueueArn"
            ]
            attributes["RedrivePolicy"] = json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": "3"})
        return str(sqs.create_queue(QueueName=f"{name}-{suffix}", Attributes=attributes)["QueueUrl"])

    gen_dlq, thumb_dlq = queue("gen-dlq"), queue("thumb-dlq")
    queues = Queues(queue("gen", gen_dlq), gen_dlq, queue("thumb", thumb_dlq), thumb_dlq, queue("ledger"))
    bucket = f"images-{suffix}"
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=bucket)
    thumb_arn = sqs.get_queue_attributes(QueueUrl=queues.thumbnails, AttributeNames=["QueueArn"])[
        "Attributes"
    ]
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "QueueArn": thumb_arn["QueueArn"],
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "images/"}]}},
                }
            ]
        },
    )
    env = {
        "BUCKET_NAME": bucket,
        "S3_ENDPOINT_URL": aws_env,
        "GENERATION_QUEUE_URL": queues.generation,
        "LEDGER_QUEUE_URL": queues.ledger,
        "SESSION_SIGNING_KEY": SIGNING_KEY,
        "GOOGLE_CLIENT_ID": "test-client",
        "GOOGLE_CLIENT_SECRET": "test-secret",
        "GOOGLE_TOKEN_URL": "https://google.test/token",
        "GOOGLE_JWKS_URL": "https://google.test/certs",
        "GOOGLE_AUTH_URL": "https://google.test/auth",
        "ADMIN_EMAILS": ADMIN_EMAIL,
        "FRONTEND_URL": "https://app.example.com",
        "API_BASE_URL": "https://api.example.com",
        "POWERTOOLS_METRICS_NAMESPACE": "ImageGenTests",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
    for name in (
        "PUBLIC_BASE_URL",
        "SESSION_SECRET_NAME",
        "GOOGLE_CLIENT_SECRET_NAME",
        "BUCKET_PREFIX",
        "THUMBNAIL_PREFIX",
        "GENERATION_COST",
        "UPLOAD_COST",
        "SIGNUP_BONUS_COINS",
        "RATE_LIMIT_GENERATE_PER_MINUTE",
        "MAX_UPLOAD_BYTES",
        "IMAGE_PROVIDER",
    ):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    reset_adapters()
    yield Env(Api(), Pipeline(queues), queues, bucket, table, aws_env)
    reset_adapters()


@pytest.fixture
def configure(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Change settings mid-test: ``configure(GENERATION_COST="30")``."""
    from imagegen.bootstrap import reset_adapters

    def apply(**values: str) -> None:
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        reset_adapters()

    return apply
