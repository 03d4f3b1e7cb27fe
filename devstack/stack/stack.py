"""The whole application on loopback: emulator, resources, function workers, event pumps, gateway.

Everything is derived from the template, so a route, queue or function added there works locally
without touching this package.
"""

from __future__ import annotations

import functools
import json
import os
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devstack.stack.apidocs import token_response
from devstack.stack.apigw import HttpRequest, HttpResponse, json_response, problem
from devstack.stack.console import Console
from devstack.stack.emulator import Emulator, new_emulator
from devstack.stack.gateway import (
    PROBE_HEADER,
    Gateway,
    GatewayServer,
    StaticSite,
    bind,
    info_response,
)
from devstack.stack.google import GoogleStandIn
from devstack.stack.naming import LocalResources
from devstack.stack.openai import OpenAIStandIn
from devstack.stack.provision import FAKE_CREDENTIALS, provision
from devstack.stack.pump import QueuePump, Scheduler
from devstack.stack.runtime import (
    MAX_WORKERS_PER_FUNCTION,
    FunctionPool,
    InvocationResult,
    base_environment,
)
from devstack.stack.sam import (
    Application,
    FunctionSpec,
    build_application,
    template_environment,
)
from devstack.stack.streams import StreamPump
from devstack.stack.stripe import StripeStandIn, http_deliverer, local_stripe_secrets
from devstack.stack.websocket import MANAGEMENT_PREFIX, WebSocketGateway
from devstack.template import REGION, STACK_NAME, open_template


@dataclass
class StackOptions:
    template: Path = Path("template.yaml")
    host: str = "127.0.0.1"
    port: int = 3000
    frontend_dist: Path | None = None
    openapi: Path | None = None  # served at /openapi.json
    state_dir: Path | None = None
    function_logs: bool = False
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    gateway: bool = True
    event_sources: bool = True


def local_settings(emulator_url: str, gateway_url: str) -> dict[str, str]:
    """Settings that point the application at local stand-ins; the caller's environment still wins."""
    return {
        "S3_ENDPOINT_URL": emulator_url,
        "API_BASE_URL": gateway_url,
        "FRONTEND_URL": gateway_url,
        "GOOGLE_AUTH_URL": f"{gateway_url}/_local/google/authorize",
        "GOOGLE_TOKEN_URL": f"{gateway_url}/_local/google/token",
        "GOOGLE_JWKS_URL": f"{gateway_url}/_local/google/certs",
        "STRIPE_API_BASE": f"{gateway_url}/_local/stripe",
        "WEBSOCKET_MANAGEMENT_URL": f"{gateway_url}{MANAGEMENT_PREFIX}",
        "OPENAI_BASE_URL": f"{gateway_url}/_local/openai/v1",
    }


def function_environment(
    spec: FunctionSpec,
    template_env: Mapping[str, str],
    from_resources: frozenset[str],
    local: Mapping[str, str],
    caller: Mapping[str, str],
    emulator_url: str,
) -> dict[str, str]:
    """Template values, then local stand-ins, then the caller's environment for every setting the template
    or the stack sets (except those naming a resource), then what the Lambda runtime itself sets."""
    env = base_environment()
    env.update(template_env)
    env.update(local)
    for name in set(template_env) | set(local):
        if name in caller and name not in from_resources:
            env[name] = caller[name]
    env.update(FAKE_CREDENTIALS)
    env.update(
        {
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ENDPOINT_URL": emulator_url,
            "AWS_LAMBDA_FUNCTION_NAME": spec.name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": f"local/[$LATEST]{spec.logical_id}",
            "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001",
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}",
            "AWS_SAM_LOCAL": "true",
            "LAMBDA_TASK_ROOT": str(spec.code_dir),
            "_HANDLER": spec.handler,
            "PYTHONPATH": os.pathsep.join(str(path) for path in (spec.code_dir, *spec.layer_dirs)),
        }
    )
    return env


def _encode_s3_event_keys_as_aws_does() -> None:
    """moto encodes the object key of S3 event notifications with quote_plus, slashes included
    (``images%2Fu1%2Fa.png``); S3 leaves the slashes (``images/u1/a.png``). Same decoding, but code that
    splits a key before decoding it would only break locally, so the emulator of this process is aligned."""
    from moto.s3 import notifications

    setattr(notifications, "quote_plus", functools.partial(urllib.parse.quote_plus, safe="/"))  # noqa: B010


class LocalStack:
    def __init__(self, options: StackOptions) -> None:
        self.options = options
        self.console = Console(function_logs=options.function_logs)
        self.stopping = threading.Event()
        self.emulator: Emulator | None = None
        self.server: GatewayServer | None = None
        self.app: Application | None = None
        self.resources: LocalResources | None = None
        self.pools: dict[str, FunctionPool] = {}
        self.pumps: list[QueuePump] = []
        self.stream_pumps: list[StreamPump] = []
        self.websocket: WebSocketGateway | None = None
        self._unlisten: list[Callable[[], None]] = []
        self.scheduler: Scheduler | None = None
        self.google = GoogleStandIn()
        self.stripe: StripeStandIn | None = None
        self.openai = OpenAIStandIn()
        self.url = ""
        self._server_thread: threading.Thread | None = None

    # --- lifecycle ---

    def start(self) -> None:
        started = time.monotonic()
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        self._write_state()
        assert self.app is not None
        for warning in self.app.warnings:
            self.console.line(f"warning: {warning}")
        if self.options.gateway:
            self._wait_until_answering()
            self.console.line(
                f"{len(self.app.functions)} functions, {len(self.app.routes)} routes, "
                f"{len(self.pumps)} event sources; emulator on {self.emulator_url} "
                f"({time.monotonic() - started:.1f}s)"
            )
            self.console.line(f"Local stack ready on {self.url}")

    def _start(self) -> None:
        options = self.options
        self.emulator = new_emulator(host="127.0.0.1", port=0)
        self.emulator.start()
        _encode_s3_event_keys_as_aws_does()
        emulator_url = self.emulator_url
        if options.gateway:
            self.server = bind(options.host, options.port, self.console)
            self.url = f"http://{options.host}:{self.server.server_port}"
        else:
            self.url = f"http://127.0.0.1:{options.port}"
        local = local_settings(emulator_url, self.url)
        # Local stand-ins act as the caller's defaults, so template parameters they feed take them too.
        effective = {**local, **options.environ}
        template = open_template(options.template, effective)
        self.resources = LocalResources(template, endpoint_url=emulator_url, gateway_url=self.url)
        self.app = build_application(template, self.resources)
        provision(self.app, self.resources)
        self._start_stripe(effective)
        openai_secrets: set[str] = set()
        for logical_id, spec in self.app.functions.items():
            template_env, from_resources = template_environment(template, self.resources, spec)
            env = function_environment(
                spec, template_env, from_resources, local, options.environ, emulator_url
            )
            size = MAX_WORKERS_PER_FUNCTION
            if spec.reserved_concurrency is not None:
                size = max(1, min(size, spec.reserved_concurrency))
            self.pools[logical_id] = FunctionPool(spec, env, self.console.function_log, size)
            openai_secrets.add(env.get("OPENAI_API_KEY_SECRET_NAME", ""))
        self._give_openai_key(openai_secrets - {""})
        if options.event_sources:
            self._start_event_sources()
        if self.server is not None:
            dist = options.frontend_dist
            self.server.gateway = Gateway(
                app=self.app,
                invoke=self.invoke,
                console=self.console,
                google=self.google,
                static=StaticSite(dist) if dist is not None and dist.is_dir() else None,
                local_routes=self._local_route,
                openapi=options.openapi,
            )
            self.server.gateway.base_url = self.url
            if self.app.websockets:
                self.websocket = WebSocketGateway(
                    self.app.websockets[0], invoke=self.invoke, console=self.console
                )
                self.server.gateway.websocket = self.websocket
            self._server_thread = threading.Thread(
                target=self.server.serve_forever, name="gateway", daemon=True
            )
            self._server_thread.start()

    def _start_stripe(self, environ: Mapping[str, str]) -> None:
        """The Stripe stand-in, with the secrets the functions read from the emulator (when the template
        declares them), delivering to the stack's own /webhooks/stripe through the gateway."""
        assert self.resources is not None
        keys = local_stripe_secrets(self.resources)
        if keys is None:
            return
        api_key, webhook_secret = keys
        raw = environ.get("STRIPE_STANDIN_DUPLICATES", "").strip()
        duplicates = int(raw) if raw.isdigit() else 1
        self.stripe = StripeStandIn(
            api_key=api_key,
            webhook_secret=webhook_secret,
            deliver=http_deliverer(f"{self.url}/webhooks/stripe"),
            duplicates=duplicates,
        )
        self.stripe.start()

    def _give_openai_key(self, secret_names: set[str]) -> None:
        """The OpenAI stand-in's key, in the secret the functions read it from (as an operator would put
        the real key in it after deploying)."""
        if not secret_names:
            return
        import boto3

        client = boto3.session.Session().client(
            "secretsmanager",
            endpoint_url=self.emulator_url,
            region_name=REGION,
            aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )
        for name in sorted(secret_names):
            client.put_secret_value(SecretId=name, SecretString=self.openai.api_key)

    def _start_event_sources(self) -> None:
        assert self.app is not None and self.resources is not None
        labels = {logical_id: spec.short_name for logical_id, spec in self.app.functions.items()}
        for subscription in self.app.subscriptions:
            queue_label = subscription.queue
            if subscription.s3_direct:
                queue_label = next(
                    note.bucket for note in self.app.s3_notifications if note.queue_name == subscription.queue
                )
            pump = QueuePump(
                subscription,
                endpoint_url=self.emulator_url,
                invoke=self.invoke,
                console=self.console,
                function_label=labels[subscription.function],
                queue_label=queue_label,
                stopping=self.stopping,
            )
            pump.start()
            self.pumps.append(pump)
        from devstack import moto_fixes

        for stream in self.app.streams:
            stream_pump = StreamPump(
                stream,
                invoke=self.invoke,
                console=self.console,
                function_label=labels[stream.function],
                stopping=self.stopping,
            )
            stream_pump.start()
            self.stream_pumps.append(stream_pump)
            self._unlisten.append(moto_fixes.listen(self.resources.name(stream.table), stream_pump.offer))
        self.scheduler = Scheduler(
            self.app.schedules,
            invoke=self.invoke,
            console=self.console,
            labels=labels,
            stopping=self.stopping,
        )
        self.scheduler.start()

    def _wait_until_answering(self) -> None:
        deadline = time.monotonic() + 10
        while True:
            try:
                probe = urllib.request.Request(f"{self.url}/_local/info", headers={PROBE_HEADER: "1"})  # noqa: S310
                with urllib.request.urlopen(probe, timeout=2) as reply:  # noqa: S310 - loopback
                    if reply.status == 200:
                        return
            except OSError:
                if time.monotonic() > deadline:
                    raise
            time.sleep(0.05)

    def stop(self) -> dict[str, float]:
        """Stop everything, in order; the seconds each part took (the caller reports them)."""
        took: dict[str, float] = {}
        mark = time.monotonic()

        def lap(part: str) -> None:
            nonlocal mark
            now = time.monotonic()
            took[part] = now - mark
            mark = now

        self.stopping.set()
        if self.stripe is not None:
            self.stripe.stop()
        for unlisten in self._unlisten:
            unlisten()
        if self.websocket is not None:
            self.websocket.close_all()
        if self.server is not None:
            if self._server_thread is not None:
                self.server.shutdown()
            self.server.server_close()
        lap("gateway")
        # Workers first: an event delivery waiting on a long invocation then ends at once.
        closers = [threading.Thread(target=pool.close) for pool in self.pools.values()]
        for closer in closers:
            closer.start()
        for closer in closers:
            closer.join(timeout=3)
        lap("workers")
        deadline = time.monotonic() + 3
        for pump in self.pumps:
            pump.join(timeout=max(0.0, deadline - time.monotonic()))
        for stream_pump in self.stream_pumps:
            stream_pump.join(timeout=max(0.0, deadline - time.monotonic()))
        if self.scheduler is not None:
            self.scheduler.join(timeout=max(0.0, deadline - time.monotonic()))
        lap("event sources")
        if self.emulator is not None:
            try:
                self.emulator.stop()
            except Exception as exc:
                self.console.line(f"emulator did not stop cleanly: {exc}")
        lap("emulator")
        self._remove_state()
        return took

    # --- invocation ---

    def invoke(
        self, function: str, event: Any, *, timeout: float | None = None, wait: float | None = None
    ) -> InvocationResult:
        return self.pools[function].invoke(event, timeout=timeout, wait=wait)

    @property
    def emulator_url(self) -> str:
        assert self.emulator is not None
        return self.emulator.endpoint_url

    # --- /_local routes ---

    def _local_route(self, request: HttpRequest) -> HttpResponse | None:
        assert self.app is not None
        if request.raw_path == "/_local/info" and request.method == "GET":
            return info_response(self.info())
        if request.raw_path == "/_local/token":
            return token_response(request, self.url, self.google.base_path)
        if self.stripe is not None and request.raw_path.startswith(self.stripe.base_path + "/"):
            return self.stripe.handle(request, self.url)
        if request.raw_path.startswith(f"{MANAGEMENT_PREFIX}/") and self.websocket is not None:
            return self.websocket.manage(request)
        if request.raw_path.startswith(self.openai.base_path + "/"):
            return self.openai.handle(request)
        if request.raw_path.startswith("/_local/schedule/") and request.method == "POST":
            target = request.raw_path.removeprefix("/_local/schedule/")
            schedules = [schedule for schedule in self.app.schedules if schedule.function == target]
            if not schedules or self.scheduler is None:
                return problem(404, "Not Found", "not_found", f"{target} has no Schedule event")
            outcome = self.scheduler.fire(schedules[0])
            if outcome.ok:
                return json_response(200, {"function": target, "result": outcome.result})
            return json_response(500, {"function": target, "error": outcome.error})
        return None

    def info(self) -> dict[str, Any]:
        assert self.app is not None and self.resources is not None
        resources: dict[str, Any] = {}
        for logical_id, resource in self.app.template.resources.items():
            kind = str(resource.get("Type"))
            if kind in (
                "AWS::DynamoDB::Table",
                "AWS::S3::Bucket",
                "AWS::SecretsManager::Secret",
                "AWS::SSM::Parameter",
            ) and self.app.template.is_active(logical_id):
                resources[logical_id] = {
                    "type": kind,
                    "name": self.resources.name(logical_id),
                    "ref": self.resources.ref(logical_id),
                }
            elif kind == "AWS::SQS::Queue" and self.app.template.is_active(logical_id):
                resources[logical_id] = {
                    "type": kind,
                    "name": self.resources.name(logical_id),
                    "url": self.resources.queue_url(logical_id),
                    "arn": self.resources.get_att(logical_id, "Arn"),
                }
        return {
            "stack": STACK_NAME,
            "url": self.url,
            "emulatorUrl": self.emulator_url,
            "region": REGION,
            "resources": resources,
            "functions": {
                logical_id: {"name": spec.name, "dir": str(spec.code_dir), "timeout": spec.timeout_seconds}
                for logical_id, spec in self.app.functions.items()
            },
            "routes": [
                {"routeKey": route.route_key, "function": route.function, "authorizer": route.authorizer}
                for route in self.app.routes
            ],
            "schedules": [
                {
                    "function": schedule.function,
                    "expression": schedule.expression,
                    "enabled": schedule.enabled,
                }
                for schedule in self.app.schedules
            ],
        }

    # --- state file ---

    def _state_file(self) -> Path | None:
        return None if self.options.state_dir is None else self.options.state_dir / "localstack.json"

    def _write_state(self) -> None:
        path = self._state_file()
        if path is None or not self.options.gateway:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            json.dumps({"url": self.url, "emulatorUrl": self.emulator_url, "pid": os.getpid()}) + "\n"
        )

    def _remove_state(self) -> None:
        path = self._state_file()
        if path is not None and self.options.gateway:
            path.unlink(missing_ok=True)
