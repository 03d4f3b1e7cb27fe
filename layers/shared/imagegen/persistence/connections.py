"""ConnectionRepository on the single table: the open live-update sockets of each user.

Two items per connection, written together in one BatchWriteItem: ``USER#{uid}`` / ``CONN#{id}``
(the notifier's one Query for a user's sockets) and ``CONN#{id}`` / ``CONN`` (the owner, for
``$disconnect``, which knows only the connection id). Both carry the table's TTL attribute: a socket
whose ``$disconnect`` never arrives (API Gateway closes every connection after two hours) goes away
on its own, and readers skip expired ones before DynamoDB's TTL sweep removes them.
"""

from __future__ import annotations

from imagegen.models import utc_now
from imagegen.persistence.binding import TableModels
from imagegen.persistence.dynamo import translated
from imagegen.persistence.keys import CONNECTION_PREFIX, CONNECTION_REF, connection_pk, connection_sk, user_pk


class DynamoConnectionRepository:
    def __init__(self, table: TableModels) -> None:
        self._table = table

    def add(self, user_id: str, connection_id: str, *, expires_at: int) -> None:
        model = self._table.live_connection
        now = utc_now()
        fields = {
            "connection_id": connection_id,
            "user_id": user_id,
            "connected_at": now,
            "expires_at": expires_at,
        }
        with translated(), model.batch_write() as batch:
            batch.save(model(user_pk(user_id), connection_sk(connection_id), **fields))
            batch.save(model(connection_pk(connection_id), CONNECTION_REF, **fields))

    def owner(self, connection_id: str, *, now: int) -> str | None:
        model = self._table.live_connection
        with translated():
            try:
                item = model.get(connection_pk(connection_id), CONNECTION_REF, consistent_read=True)
            except model.DoesNotExist:
                return None
        return item.user_id if int(item.expires_at) > now else None

    def find_by_user(self, user_id: str, *, now: int) -> list[str]:
        model = self._table.live_connection
        with translated():
            found = model.query(
                user_pk(user_id),
                model.sk.startswith(CONNECTION_PREFIX),
                filter_condition=model.expires_at > now,
            )
            return [item.connection_id for item in found]

    def remove(self, user_id: str, connection_id: str) -> None:
        model = self._table.live_connection
        with translated(), model.batch_write() as batch:
            batch.delete(model(user_pk(user_id), connection_sk(connection_id)))
            batch.delete(model(connection_pk(connection_id), CONNECTION_REF))
