"""The few REST2 calls serviceflow-rt makes, over python-rt's client, with one error type.

python-rt (``rt.rest2.Rt``) builds the HTTP session (token, TLS, timeout) and makes the calls it has
(tickets, users, queues, attachments, comments). Three things it lacks are made here on its session:
the transaction search (TransactionSQL, with the fields a history needs: ``Field``, ``OldValue``,
``NewValue``), a transaction's attachment list without contents, and updates that return RT's own
messages (REST2 answers 200 with a list of messages even when it refused a change, and python-rt's
``edit_ticket`` reduces that list to ``True``).

Every failure becomes an :class:`RtError`: ``status`` is the HTTP status RT answered (``None`` when it
did not answer at all) and ``unreachable`` says RT could not be reached, which callers treat as "try
again later" rather than as a fact about one ticket.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import httpx2
import rt.exceptions
import rt.rest2

from serviceflow.plugin import ServiceflowError
from serviceflow_rt.config import RtConfig

#: The transaction fields a history needs (the bare collection lists only ids).
TRANSACTION_FIELDS = "Type,Creator,Created,Field,OldValue,NewValue,Data,ObjectId,ObjectType"
CREATOR_FIELDS = "Name,EmailAddress,RealName"
#: ``Parent`` is left out on purpose: asking a transaction's attachments for it makes RT 5.0.3 answer
#: 500 ("Can't call method can on an undefined value", REST2/Resource.pm line 171).
ATTACHMENT_FIELDS = "ContentType,Filename,ContentLength,Headers,Subject"
TICKET_FIELDS = "Subject,Queue,Requestor,Owner,Due"
#: Ids per search: TicketSQL and JSON queries stay short, a page holds them all.
CHUNK = 50


class RtError(ServiceflowError):
    """Request Tracker could not be asked, refused the request or answered something unusable."""

    def __init__(self, message: str, *, url: str = "", status: int | None = None, unreachable: bool = False):
        super().__init__(message)
        self.url = url
        self.status = status
        self.unreachable = unreachable


class RtClient:
    """REST2 calls for one RT (``config.rest_url``, ``config.token``)."""

    def __init__(self, config: RtConfig) -> None:
        self.config = config
        self.rt = rt.rest2.Rt(url=config.rest_url, token=config.token, http_timeout=config.timeout)  # type: ignore[arg-type]

    def close(self) -> None:
        self.rt.session.close()

    # -- reading -------------------------------------------------------------------------------

    def transactions(
        self, query: str, *, per_page: int, fields: str = TRANSACTION_FIELDS
    ) -> list[dict[str, Any]]:
        """The first page of transactions matching TransactionSQL ``query``, in id order."""
        page = self._get_json(
            "transactions",
            {
                "query": query,
                "orderby": "id",
                "order": "ASC",
                "per_page": per_page,
                "page": 1,
                "fields": fields,
                "fields[Creator]": CREATOR_FIELDS,
            },
        )
        items = page.get("items") if isinstance(page, Mapping) else None
        if not isinstance(items, list):
            raise RtError("RT answered a transaction search without an item list", url=self.config.rest_url)
        return [item for item in items if isinstance(item, dict)]

    def last_transaction_id(self) -> int:
        """The id of RT's newest transaction (0 when there is none)."""
        page = self._get_json(
            "transactions", {"query": "id > 0", "orderby": "id", "order": "DESC", "per_page": 1}
        )
        items = page.get("items") if isinstance(page, Mapping) else None
        newest = items[0] if isinstance(items, list) and items and isinstance(items[0], Mapping) else {}
        return _int(newest.get("id")) or 0

    def ticket(self, ticket_id: int) -> dict[str, Any]:
        return _mapping(
            self._call(f"ticket/{ticket_id}", self.rt.get_ticket, ticket_id), f"ticket/{ticket_id}"
        )

    def user(self, name: str) -> dict[str, Any]:
        return _mapping(self._call(f"user/{name}", self.rt.get_user, name), f"user/{name}")

    def queue(self, queue: int | str) -> dict[str, Any]:
        return _mapping(self._call(f"queue/{queue}", self.rt.get_queue, queue), f"queue/{queue}")

    def custom_field(self, custom_field_id: int | str) -> dict[str, Any]:
        return _mapping(
            self._get_json(f"customfield/{custom_field_id}", {}), f"customfield/{custom_field_id}"
        )

    def tickets(self, ticket_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        """Several tickets in one search (subject, queue name, requestors, owner, due), by id."""
        found: dict[int, dict[str, Any]] = {}
        for chunk in _chunks(sorted(set(ticket_ids))):
            items = self._collection(
                "tickets",
                {
                    "query": " OR ".join(f"id = {ticket}" for ticket in chunk),
                    "fields": TICKET_FIELDS,
                    "fields[Queue]": "Name",
                },
            )
            for item in items:
                identifier = _int(item.get("id"))
                if identifier is not None:
                    found[identifier] = item
        return found

    def attachments_of(self, transaction_ids: Sequence[int]) -> list[dict[str, Any]]:
        """The message parts of several transactions, without their contents, in id order."""
        parts: list[dict[str, Any]] = []
        for chunk in _chunks(sorted(set(transaction_ids))):
            query = [{"field": "TransactionId", "operator": "IN", "value": list(chunk)}]
            parts.extend(self._search("attachments", query, ATTACHMENT_FIELDS + ",TransactionId"))
        return parts

    def attachment_texts(self, attachment_ids: Sequence[int]) -> dict[int, str]:
        """The contents of several text parts, by attachment id (RT sends them decoded)."""
        texts: dict[int, str] = {}
        for chunk in _chunks(sorted(set(attachment_ids))):
            query = [{"field": "id", "operator": "IN", "value": list(chunk)}]
            for item in self._search("attachments", query, "Content"):
                identifier = _int(item.get("id"))
                content = item.get("Content")
                if identifier is not None:
                    texts[identifier] = content if isinstance(content, str) else ""
        return texts

    def attachment_content(self, attachment_id: int | str) -> bytes:
        """One part's content (RT sends it base64-encoded)."""
        attachment = self._call(f"attachment/{attachment_id}", self.rt.get_attachment, attachment_id)
        content = attachment.get("Content") if isinstance(attachment, Mapping) else None
        if not content:
            return b""
        try:
            return base64.b64decode(str(content), validate=False)
        except (binascii.Error, ValueError) as error:
            raise RtError(f"attachment {attachment_id}: content is not base64 ({error})") from None

    def find_ticket_attachments(self, ticket_id: int, content_like: str) -> list[dict[str, Any]]:
        """The ticket's message parts whose content contains ``content_like`` (with their transaction)."""
        query = [{"field": "Content", "operator": "LIKE", "value": content_like}]
        try:
            found = self.rt.get_attachments(
                ticket_id, query_filter=query, query_format=["TransactionId", "Subject"]
            )
        except rt.exceptions.NotFoundError:
            return []  # python-rt's "no results" for users who may not count the whole collection
        except Exception as error:
            raise self._error(f"ticket/{ticket_id}/attachments", error) from None
        return [dict(item) for item in found]

    def transaction(self, transaction_id: int | str) -> dict[str, Any]:
        return _mapping(self._get_json(f"transaction/{transaction_id}", {}), f"transaction/{transaction_id}")

    # -- writing -------------------------------------------------------------------------------

    def comment(self, ticket_id: int, text: str) -> None:
        """A private comment on the ticket (staff see it; requestors are not mailed)."""
        self._call(f"ticket/{ticket_id}/comment", self.rt.comment, ticket_id, content=text)

    def update_ticket(self, ticket_id: int, changes: Mapping[str, Any]) -> list[str]:
        """``PUT /ticket/N``: RT's messages, one per field; a refusal is a message, not an error."""
        url = self._url(f"ticket/{ticket_id}")
        try:
            response = self.rt.session.put(
                url, json=dict(changes), headers={"Content-Type": "application/json"}
            )
        except httpx2.TransportError as error:
            raise RtError(f"RT at {url} did not answer: {error}", url=url, unreachable=True) from None
        answer = self._decode(response, url)
        return [str(message) for message in answer] if isinstance(answer, list) else []

    def create_ticket(self, queue: str, subject: str, text: str, **fields: Any) -> int:
        """A new ticket (used by tests and by whoever wants to file one from serviceflow)."""
        return int(
            self._call("ticket", self.rt.create_ticket, queue, subject=subject, content=text, **fields)
        )

    def correspond(self, ticket_id: int, text: str) -> None:
        self._call(f"ticket/{ticket_id}/correspond", self.rt.reply, ticket_id, content=text)

    # -- plumbing ------------------------------------------------------------------------------

    def _url(self, path: str) -> str:
        return self.config.rest_url + path

    def _collection(self, path: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        page = self._get_json(path, {"per_page": 100, **params})
        items = page.get("items") if isinstance(page, Mapping) else None
        if not isinstance(items, list):
            raise RtError(f"RT answered {path} without an item list", url=self._url(path))
        return [item for item in items if isinstance(item, dict)]

    def _search(self, path: str, query: list[dict[str, Any]], fields: str) -> list[dict[str, Any]]:
        """Every item of a JSON-query search, paged by id."""
        items: list[dict[str, Any]] = []
        last = 0
        while True:
            url = self._url(path)
            # RT joins two limits on one field with OR unless told otherwise: "id IN (...)" and
            # "id > last" must both hold, or the search returns every attachment RT has.
            body = [*query, {"field": "id", "operator": ">", "value": last, "entry_aggregator": "AND"}]
            params: dict[str, str | int] = {
                "fields": fields,
                "orderby": "id",
                "order": "ASC",
                "per_page": 100,
                "page": 1,
            }
            try:
                response = self.rt.session.post(url, params=params, json=body)
            except httpx2.TransportError as error:
                raise RtError(f"RT at {url} did not answer: {error}", url=url, unreachable=True) from None
            page = self._decode(response, url)
            batch = page.get("items") if isinstance(page, Mapping) else None
            if not isinstance(batch, list):
                raise RtError(f"RT answered {path} without an item list", url=url)
            identifiers = [_int(item.get("id")) for item in batch if isinstance(item, dict)]
            items.extend(item for item in batch if isinstance(item, dict))
            if len(batch) < 100 or not identifiers or max(i or 0 for i in identifiers) <= last:
                return items
            last = max(i or 0 for i in identifiers)

    def _get_json(self, path: str, params: Mapping[str, Any]) -> Any:
        url = self._url(path)
        try:
            response = self.rt.session.get(url, params=dict(params))
        except httpx2.TransportError as error:
            raise RtError(f"RT at {url} did not answer: {error}", url=url, unreachable=True) from None
        return self._decode(response, url)

    @staticmethod
    def _decode(response: httpx2.Response, url: str) -> Any:
        if response.status_code not in (200, 201):
            raise RtError(
                f"RT answered {response.status_code} to {response.request.method} {url}: "
                f"{_snippet(response.text)}",
                url=url,
                status=response.status_code,
            )
        try:
            return response.json()
        except ValueError:
            raise RtError(
                f"RT answered {url} with something that is not JSON: {_snippet(response.text)}",
                url=url,
                status=response.status_code,
            ) from None

    def _call(self, path: str, method: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except Exception as error:
            raise self._error(path, error) from None

    def _error(self, path: str, error: Exception) -> RtError:
        url = self._url(path)
        if isinstance(error, rt.exceptions.ConnectionError | httpx2.TransportError):
            return RtError(f"RT at {url} did not answer: {error}", url=url, unreachable=True)
        if isinstance(error, rt.exceptions.UnexpectedResponseError):
            return RtError(
                f"RT answered {error.status_code} to {url}: {_snippet(error.response_message or '')}",
                url=url,
                status=error.status_code,
            )
        statuses = {
            rt.exceptions.NotFoundError: 404,
            rt.exceptions.AuthorizationError: 401,
            rt.exceptions.BadRequestError: 400,
        }
        status = next((code for kind, code in statuses.items() if isinstance(error, kind)), None)
        return RtError(f"RT refused {url}: {type(error).__name__}: {error}", url=url, status=status)


def iter_pages(
    client: RtClient, query: str, *, after: int, per_page: int, limit: int
) -> Iterator[dict[str, Any]]:
    """Transactions with ``id > after`` matching ``query``, in id order, at most ``limit``.

    Pages by id (``id > last``), not by page number, so that transactions written meanwhile cannot
    shift a page and make one be read twice or not at all.
    """
    last = after
    read = 0
    while read < limit:
        requested = min(per_page, limit - read)
        batch = client.transactions(f"({query}) AND id > {last}", per_page=requested)
        if not batch:
            return
        for item in batch:
            identifier = _int(item.get("id"))
            if identifier is None or identifier <= last:
                continue
            last = identifier
            read += 1
            yield item
        if len(batch) < requested:
            return


def _chunks(values: Sequence[int]) -> Iterator[Sequence[int]]:
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]


def _int(value: Any) -> int | None:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


def _mapping(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise RtError(f"RT answered {what} with {type(value).__name__}, not an object")
    return value


def _snippet(text: str, size: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= size else text[:size] + "..."


def sql_string(value: str) -> str:
    """A TicketSQL / TransactionSQL string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def sql_any(field: str, values: Sequence[str]) -> str:
    return "(" + " OR ".join(f"{field} = {sql_string(value)}" for value in values) + ")"
