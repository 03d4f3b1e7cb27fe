"""The live-update WebSocket API's routes: ``$connect`` (the session token in ``?token=``: a missing,
bad, expired or signed-out one refuses the handshake with 401), ``$disconnect``, and ``$default``
(a client's ``{"action": "ping"}`` is answered with a pong; anything else is ignored)."""

import json
from typing import Any

from imagegen.bootstrap import get_adapters, live_service
from imagegen.errors import Unauthorized
from imagegen.observability import logger, traced_handler


def _refused(status: int) -> dict[str, Any]:
    return {"statusCode": status, "body": json.dumps({"status": status})}


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = event.get("requestContext") or {}
    route, connection_id = request.get("routeKey"), str(request.get("connectionId") or "")
    live = live_service(get_adapters())
    if route == "$connect":
        token = (event.get("queryStringParameters") or {}).get("token")
        try:
            user_id = live.connect(connection_id, token)
        except Unauthorized:
            return _refused(401)
        logger.info("live connection opened", extra={"user_id": user_id, "connection_id": connection_id})
        return {"statusCode": 200}
    if route == "$disconnect":
        live.disconnect(connection_id)
        return {"statusCode": 200}
    try:
        message = json.loads(event.get("body") or "null")
    except ValueError:
        message = None
    if isinstance(message, dict) and message.get("action") == "ping":
        return {"statusCode": 200, "body": json.dumps({"type": "pong"})}
    return {"statusCode": 200}


lambda_handler = traced_handler(handler)
