"""The local storage enforces presigned requests as S3 does; moto alone accepts them whatever they say.

:class:`PresignedGuard` is WSGI middleware in front of the emulator:

- a browser form POST to a bucket (``multipart/form-data``, no ``Authorization``): the policy's SigV4
  signature, its expiration and every condition (``bucket``, ``key``, each ``eq`` / ``starts-with`` field,
  ``content-length-range`` against the file's real size) are checked, and every form field must be covered
  by a condition. A size outside the range is ``400 EntityTooLarge`` / ``EntityTooSmall``, anything else
  ``403 AccessDenied``;
- a presigned URL (SigV4 in the query string, or the legacy SigV2 ``Expires``): expired is ``403
  AccessDenied`` "Request has expired"; the SigV4 signature is recomputed over the method, path, query and
  signed headers (so a PUT whose ``Content-Type`` or ``Content-Length`` is not the signed one is ``403
  AccessDenied``: the contract names that one code for a condition or signature that does not match, where
  S3 itself says ``SignatureDoesNotMatch``);
- everything else (the SDK's own calls, signed in the ``Authorization`` header, and plain GETs of objects)
  passes unchanged.

A refused request never reaches moto: nothing is stored. Secrets come from the emulator's fake credentials.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, unquote
from xml.sax.saxutils import escape

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

ALGORITHM = "AWS4-HMAC-SHA256"
AMZ_DATE = "%Y%m%dT%H%M%SZ"
# Form fields no policy condition has to cover (S3's documentation of POST policies).
UNCOVERED_FIELDS = frozenset({"policy", "x-amz-signature", "file", "signature", "awsaccesskeyid"})
MAX_FORM_BYTES = 64 * 1024 * 1024  # a form larger than this is refused before it is read


class Refusal(Exception):
    def __init__(self, status: int, code: str, message: str, **extra: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = _hmac(("AWS4" + secret).encode(), date)
    key = _hmac(key, region)
    key = _hmac(key, service)
    return _hmac(key, "aws4_request")


def _parse_amz_date(value: str) -> datetime:
    try:
        return datetime.strptime(value, AMZ_DATE).replace(tzinfo=UTC)
    except ValueError as exc:
        raise Refusal(403, "AccessDenied", f"X-Amz-Date is not a date: {value!r}") from exc


class PresignedGuard:
    """WSGI middleware: presigned POST policies and presigned URLs enforced; see the module."""

    def __init__(
        self,
        app: WsgiApp,
        credentials: Mapping[str, str],
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._app = app
        self._credentials = dict(credentials)
        self._now = now

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = str(environ.get("REQUEST_METHOD", "GET")).upper()
        query = str(environ.get("QUERY_STRING", ""))
        try:
            if method != "OPTIONS" and "Signature=" in query:
                self._check_query_signature(environ, method, query)
            elif method == "POST" and self._is_form_post(environ):
                self._check_form_post(environ)
        except Refusal as refusal:
            _drain(environ)
            return self._refuse(environ, start_response, refusal)
        return self._app(environ, start_response)

    # ---- presigned URLs ------------------------------------------------------------------------------
    def _check_query_signature(self, environ: dict[str, Any], method: str, query: str) -> None:
        pairs = [pair.partition("=") for pair in query.split("&") if pair]
        params = {unquote(k): unquote(v) for k, _, v in pairs}
        if "X-Amz-Signature" not in params:
            expires = params.get("Expires", "")  # SigV2: an epoch second
            if expires.isdigit() and int(expires) < self._now().timestamp():
                raise Refusal(403, "AccessDenied", "Request has expired", Expires=expires)
            return
        if params.get("X-Amz-Algorithm") != ALGORITHM:
            raise Refusal(
                400, "AuthorizationQueryParametersError", "X-Amz-Algorithm only supports AWS4-HMAC-SHA256"
            )
        signed_at = _parse_amz_date(params.get("X-Amz-Date", ""))
        try:
            lifetime = int(params.get("X-Amz-Expires", ""))
        except ValueError as exc:
            raise Refusal(400, "AuthorizationQueryParametersError", "X-Amz-Expires must be a number") from exc
        if not 1 <= lifetime <= 7 * 24 * 3600:
            raise Refusal(
                400, "AuthorizationQueryParametersError", "X-Amz-Expires must be between 1 and 604800 seconds"
            )
        now = self._now()
        if now > signed_at + timedelta(seconds=lifetime):
            raise Refusal(
                403,
                "AccessDenied",
                "Request has expired",
                X_Amz_Expires=str(lifetime),
                Expires=(signed_at + timedelta(seconds=lifetime)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                ServerTime=now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            )
        access_key, scope, secret = self._credential(params.get("X-Amz-Credential", ""))
        signed_headers = params.get("X-Amz-SignedHeaders", "").split(";")
        canonical = "\n".join(
            [
                method,
                quote(unquote(_raw_path(environ)), safe="/~"),
                _canonical_query(pairs),
                "".join(f"{name}:{_header(environ, name)}\n" for name in signed_headers),
                ";".join(signed_headers),
                params.get("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD"),
            ]
        )
        to_sign = "\n".join(
            [ALGORITHM, params["X-Amz-Date"], scope, hashlib.sha256(canonical.encode()).hexdigest()]
        )
        date, region, service, _ = scope.split("/")
        expected = hmac.new(signing_key(secret, date, region, service), to_sign.encode(), hashlib.sha256)
        if not hmac.compare_digest(expected.hexdigest(), params["X-Amz-Signature"]):
            raise Refusal(
                403,
                "AccessDenied",
                "The request signature we calculated does not match the signature you provided. "
                "Check your key and signing method.",
                AWSAccessKeyId=access_key,
                StringToSign=to_sign,
                CanonicalRequest=canonical,
            )

    def _credential(self, credential: str) -> tuple[str, str, str]:
        """(access key, scope, secret) of ``AKID/date/region/service/aws4_request``."""
        access_key, _, scope = credential.partition("/")
        if len(scope.split("/")) != 4 or not scope.endswith("/aws4_request"):
            raise Refusal(400, "AuthorizationQueryParametersError", f"Invalid credential: {credential!r}")
        secret = self._credentials.get(access_key)
        if secret is None:
            raise Refusal(
                403,
                "InvalidAccessKeyId",
                "The AWS Access Key Id you provided does not exist in our records.",
                AWSAccessKeyId=access_key,
            )
        return access_key, scope, secret

    # ---- browser form POSTs --------------------------------------------------------------------------
    @staticmethod
    def _is_form_post(environ: dict[str, Any]) -> bool:
        content_type = str(environ.get("CONTENT_TYPE", "")).lower()
        if not content_type.startswith("multipart/form-data") or environ.get("HTTP_AUTHORIZATION"):
            return False
        return len([part for part in _raw_path(environ).split("/") if part]) == 1  # POST /{bucket}

    def _check_form_post(self, environ: dict[str, Any]) -> None:
        from werkzeug.formparser import parse_form_data

        length = int(environ.get("CONTENT_LENGTH") or 0)
        if length > MAX_FORM_BYTES:
            raise Refusal(
                400,
                "MaxPostPreDataLengthExceeded",
                "Your POST request fields preceeding the upload file were too large.",
            )
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)  # moto reads the same bytes
        copy = {**environ, "wsgi.input": io.BytesIO(body)}
        _, form, files = parse_form_data(copy)
        fields: dict[str, str] = {}
        for name, value in form.items(multi=True):
            fields.setdefault(name.lower(), value)
        upload = files.get("file")
        if upload is None:
            raise Refusal(400, "InvalidArgument", "POST requires exactly one file upload per request.")
        size = len(upload.stream.read())
        if "key" in fields and "${filename}" in fields["key"]:
            fields["key"] = fields["key"].replace("${filename}", upload.filename or "")
        fields["bucket"] = unquote(_raw_path(environ).strip("/"))
        encoded = fields.get("policy")
        if not encoded:
            raise Refusal(403, "AccessDenied", "Anonymous access is forbidden for this operation")
        self._check_policy_signature(fields, encoded)
        try:
            policy = json.loads(base64.b64decode(encoded, validate=True))
        except ValueError as exc:
            raise Refusal(400, "InvalidPolicyDocument", "Invalid Policy: Invalid JSON.") from exc
        self._check_policy(policy, fields, size)

    def _check_policy_signature(self, fields: Mapping[str, str], encoded: str) -> None:
        if fields.get("x-amz-algorithm") != ALGORITHM:
            raise Refusal(400, "InvalidArgument", "Only AWS4-HMAC-SHA256 form POSTs are supported here.")
        _, scope, secret = self._credential(fields.get("x-amz-credential", ""))
        date, region, service, _ = scope.split("/")
        expected = hmac.new(signing_key(secret, date, region, service), encoded.encode(), hashlib.sha256)
        if not hmac.compare_digest(expected.hexdigest(), fields.get("x-amz-signature", "")):
            raise Refusal(
                403,
                "AccessDenied",
                "The request signature we calculated does not match the signature you provided. "
                "Check your key and signing method.",
            )

    def _check_policy(self, policy: Any, fields: Mapping[str, str], size: int) -> None:
        if not isinstance(policy, dict) or not isinstance(policy.get("conditions"), list):
            raise Refusal(400, "InvalidPolicyDocument", "Invalid Policy: Policy missing conditions.")
        try:
            expiration = datetime.fromisoformat(str(policy.get("expiration", "")).replace("Z", "+00:00"))
        except ValueError as exc:
            raise Refusal(
                400, "InvalidPolicyDocument", "Invalid Policy: Invalid 'expiration' value."
            ) from exc
        if expiration.tzinfo is None:
            expiration = expiration.replace(tzinfo=UTC)
        if self._now() > expiration:
            raise Refusal(403, "AccessDenied", "Invalid according to Policy: Policy expired.")
        covered = set(UNCOVERED_FIELDS)
        for condition in policy["conditions"]:
            if isinstance(condition, dict):
                for name, value in condition.items():
                    covered.add(name.lower())
                    _require(fields, "eq", name, str(value))
            elif isinstance(condition, list) and len(condition) == 3:
                operator = str(condition[0]).lower()
                if operator == "content-length-range":
                    low, high = int(condition[1]), int(condition[2])
                    if size > high:
                        raise Refusal(
                            400,
                            "EntityTooLarge",
                            "Your proposed upload exceeds the maximum allowed size",
                            ProposedSize=str(size),
                            MaxSizeAllowed=str(high),
                        )
                    if size < low:
                        raise Refusal(
                            400,
                            "EntityTooSmall",
                            "Your proposed upload is smaller than the minimum allowed size",
                            ProposedSize=str(size),
                            MinSizeAllowed=str(low),
                        )
                elif operator in ("eq", "starts-with") and str(condition[1]).startswith("$"):
                    name = str(condition[1])[1:]
                    covered.add(name.lower())
                    _require(fields, operator, name, str(condition[2]))
                else:
                    raise Refusal(
                        400, "InvalidPolicyDocument", f"Invalid Policy: Invalid condition {condition!r}."
                    )
            else:
                raise Refusal(
                    400, "InvalidPolicyDocument", f"Invalid Policy: Invalid condition {condition!r}."
                )
        extra = sorted(name for name in fields if name not in covered and not name.startswith("x-ignore-"))
        if extra:
            raise Refusal(
                403, "AccessDenied", f"Invalid according to Policy: Extra input fields: {', '.join(extra)}"
            )

    # ---- answers -------------------------------------------------------------------------------------
    def _refuse(
        self, environ: dict[str, Any], start_response: StartResponse, refusal: Refusal
    ) -> list[bytes]:
        request_id = uuid.uuid4().hex[:16].upper()
        extra = "".join(
            f"<{name.replace('_', '-')}>{escape(value)}</{name.replace('_', '-')}>"
            for name, value in refusal.extra.items()
        )
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{refusal.code}</Code><Message>{escape(refusal.message)}</Message>{extra}"
            f"<RequestId>{request_id}</RequestId><HostId>{request_id}</HostId></Error>"
        ).encode()
        headers = [
            ("Content-Type", "application/xml"),
            ("Content-Length", str(len(body))),
            ("x-amz-request-id", request_id),
            *self._cors_headers(environ),
        ]
        reasons = {400: "Bad Request", 403: "Forbidden"}
        start_response(f"{refusal.status} {reasons.get(refusal.status, 'Error')}", headers)
        return [body]

    def _cors_headers(self, environ: dict[str, Any]) -> list[tuple[str, str]]:
        """What the bucket's CORS rules answer this origin, as S3 adds to its errors: asked of moto with
        the preflight the browser would send, so a refusal is readable exactly where a success is."""
        origin = environ.get("HTTP_ORIGIN")
        if not origin:
            return []
        preflight = {
            key: value
            for key, value in environ.items()
            if key
            in ("SERVER_NAME", "SERVER_PORT", "SERVER_PROTOCOL", "HTTP_HOST", "SCRIPT_NAME", "PATH_INFO")
            or key.startswith("wsgi.")
        }
        preflight.update(
            REQUEST_METHOD="OPTIONS",
            QUERY_STRING="",
            HTTP_ORIGIN=origin,
            HTTP_ACCESS_CONTROL_REQUEST_METHOD=str(environ.get("REQUEST_METHOD", "GET")),
            CONTENT_LENGTH="0",
        )
        preflight["wsgi.input"] = io.BytesIO(b"")
        answered: list[tuple[str, str]] = []

        def keep(status: str, headers: list[tuple[str, str]], *exc_info: Any) -> Callable[[bytes], None]:
            if status.startswith("2"):
                answered.extend(
                    (name, value)
                    for name, value in headers
                    if name.lower()
                    in ("access-control-allow-origin", "access-control-expose-headers", "vary")
                )
            return lambda _data: None

        try:
            result = self._app(preflight, keep)
            for _ in result:
                pass
            close = getattr(result, "close", None)
            if close is not None:
                close()
        except Exception:  # no CORS headers: a correct, if unreadable, refusal
            return []
        return answered


def _require(fields: Mapping[str, str], operator: str, name: str, expected: str) -> None:
    actual = fields.get(name.lower())
    if operator == "eq":
        ok = actual == expected
    else:  # starts-with; "" allows anything, even an absent field
        ok = expected == "" or (actual is not None and actual.startswith(expected))
    if not ok:
        raise Refusal(
            403,
            "AccessDenied",
            f'Invalid according to Policy: Policy Condition failed: ["{operator}", "${name}", "{expected}"]',
        )


def _raw_path(environ: Mapping[str, Any]) -> str:
    """The path as the client sent it, still percent-encoded."""
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw:
        return re.sub(r"^[a-z]+://[^/]*", "", str(raw)).split("?", 1)[0] or "/"
    return quote(str(environ.get("PATH_INFO", "/")), safe="/~")


def _canonical_query(pairs: list[tuple[str, str, str]]) -> str:
    encoded = [
        (quote(unquote(key), safe="-_.~"), quote(unquote(value), safe="-_.~"))
        for key, _, value in pairs
        if unquote(key) != "X-Amz-Signature"
    ]
    return "&".join(f"{key}={value}" for key, value in sorted(encoded))


def _header(environ: Mapping[str, Any], name: str) -> str:
    if name == "content-type":
        value = environ.get("CONTENT_TYPE", "")
    elif name == "content-length":
        value = environ.get("CONTENT_LENGTH", "")
    elif name == "host":
        value = environ.get("HTTP_HOST", "")
    else:
        value = environ.get("HTTP_" + name.upper().replace("-", "_"), "")
    return " ".join(str(value).split())


def _drain(environ: dict[str, Any]) -> None:
    """Read what is left of the body, so a kept-alive connection stays in step."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return
    stream = environ.get("wsgi.input")
    if stream is None or length <= 0 or length > MAX_FORM_BYTES:
        return
    while length > 0:
        chunk = stream.read(min(length, 65536))
        if not chunk:
            break
        length -= len(chunk)
