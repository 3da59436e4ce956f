"""``twcs``: customer-support conversations on Twitter ("Customer Support on Twitter", twcs.csv).

Each row is one tweet: a customer's to a brand's support account (``inbound`` True) or the brand's
answer (``inbound`` False), with the id of the tweet it answers (``in_response_to_tweet_id``). The
file is not in thread order: a reply often comes before the tweet it answers. So this importer reads
the whole file first, keeping the parsed tweets (not records), rebuilds each thread by following the
reply links up to a tweet whose parent is not in the file, and then emits each thread as one case:

- a ``case_opened`` at the thread's first tweet, naming the customer who wrote first;
- every tweet a ``contact`` on the ``social`` channel, ``inbound`` from the customer and
  ``outbound`` from the company, in time order (a reply sent in the same second as the tweet it
  answers stays after it).

Ids come from the data set, not from the file's layout, so that a finding names the tweet to look
up: the case is ``thread-{root tweet id}``, a tweet's record is ``tweet-{tweet id}``. See
docs/importers.md for what each column becomes and what is lost.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from serviceflow.contributions import ReaderSpec
from serviceflow.importers.csvlog import (
    FieldError,
    Row,
    TimeConverter,
    error_item,
    expand_csv_sources,
    parse_iso,
)
from serviceflow.importers.ticketlog import TicketLogImporter
from serviceflow.records.raw import RawItem

__all__ = ["TwitterSupportThreads", "reader"]

CHANNEL = "social"
#: The format Twitter's API wrote ``created_at`` in: ``Tue Oct 31 22:10:47 +0000 2017``.
TWITTER_TIME = "%a %b %d %H:%M:%S %z %Y"
_BOOLEANS = {"true": True, "false": False}


def parse_twitter_time(text: str) -> datetime:
    """``Tue Oct 31 22:10:47 +0000 2017``, or an ISO 8601 time (a re-exported file may have those)."""
    try:
        return datetime.strptime(text, TWITTER_TIME)
    except ValueError:
        pass
    try:
        return parse_iso(text)
    except ValueError:
        raise ValueError(f"not a tweet time like 'Tue Oct 31 22:10:47 +0000 2017': {text!r}") from None


def tweet_id(text: str, column: str) -> str:
    """A tweet id in its canonical form: the data set writes reply links as floats (``3.0``)."""
    try:
        number = float(text)
    except ValueError:
        raise FieldError(column, f"not a tweet id: {text!r}") from None
    if not number.is_integer() or number < 0:
        raise FieldError(column, f"not a tweet id: {text!r}")
    return str(int(number))


@dataclass(slots=True)
class _Tweet:
    """One parsed row, kept until the file ends and its thread is known."""

    tweet_id: str
    author: str
    inbound: bool
    at: str
    moment: datetime
    text: str | None
    parent: str | None
    responses: tuple[str, ...]
    row: Row
    depth: int = 0
    children: list[_Tweet] = field(default_factory=list)


class TwitterSupportThreads(TicketLogImporter):
    """Kaggle's "Customer Support on Twitter" tweets (``twcs.csv``), one case per reply thread."""

    name = "twcs"
    system = "twcs"
    summary = "Customer Support on Twitter (twcs.csv: tweet_id, author_id, inbound, created_at, text, ...)"
    default_source_tz = "UTC"
    columns = ("tweet_id", "author_id", "inbound", "created_at", "text", "in_response_to_tweet_id")

    def convert(self, rows: Iterator[Row | RawItem]) -> Iterator[RawItem]:
        times = TimeConverter(parse_twitter_time, self.zone)
        tweets: dict[str, _Tweet] = {}
        for row in rows:
            if isinstance(row, RawItem):
                yield row
                continue
            try:
                tweet = self._parse(row, times)
            except FieldError as error:
                yield row.error(error)
                continue
            first = tweets.get(tweet.tweet_id)
            if first is not None:
                yield row.error(
                    FieldError(
                        "tweet_id", f"tweet {tweet.tweet_id} was already read at line {first.row.line}"
                    )
                )
                continue
            tweets[tweet.tweet_id] = tweet
        roots, loops = _link(tweets)
        for tweet in loops:
            yield error_item(
                tweet.row.location("in_response_to_tweet_id"),
                f"the replies of tweet {tweet.tweet_id} loop back to it: it starts no thread and is skipped",
            )
        # Threads in the order their first tweet appears in the file.
        threads = sorted(
            (_descendants(root) for root in roots), key=lambda members: min(t.row.line for t in members)
        )
        for members in threads:
            yield from self._thread(members)

    def _parse(self, row: Row, times: TimeConverter) -> _Tweet:
        inbound_text = row.require("inbound")
        inbound = _BOOLEANS.get(inbound_text.lower())
        if inbound is None:
            raise FieldError("inbound", f"inbound is True or False, not {inbound_text!r}")
        try:
            at, moment = times.convert(row.require("created_at"))
        except ValueError as exc:
            raise FieldError("created_at", str(exc)) from None
        parent = row.get("in_response_to_tweet_id")
        responses = row.get("response_tweet_id") or ""
        return _Tweet(
            tweet_id=tweet_id(row.require("tweet_id"), "tweet_id"),
            author=row.require("author_id"),
            inbound=inbound,
            at=at,
            moment=moment,
            text=row.get("text"),
            parent=None if parent is None else tweet_id(parent, "in_response_to_tweet_id"),
            responses=tuple(
                tweet_id(part.strip(), "response_tweet_id") for part in responses.split(",") if part.strip()
            ),
            row=row,
        )

    def _thread(self, members: list[_Tweet]) -> Iterator[RawItem]:
        root = members[0]
        # Time order, as the engine will see them; a reply in the same second follows its parent.
        members.sort(key=lambda tweet: (tweet.moment, tweet.depth, tweet.row.line))
        case_id = f"thread-{root.tweet_id}"
        customers = _customers(members)
        first = members[0]
        opener = next((tweet for tweet in members if tweet.inbound), None)
        opened: dict[str, Any] = {
            "id": f"{case_id}-opened",
            "case_id": case_id,
            "type": "case_opened",
            "at": first.at,
            "actor": _actor(first),
            "source": {"system": self.system, "ref": root.tweet_id},
            "meta": {
                "root_tweet": root.tweet_id,
                "tweets": len(members),
                "starts_mid_conversation": root.parent is not None,
            },
        }
        if opener is not None:
            opened["customer_id"] = opener.author
        yield RawItem(root.row.location(), opened)
        for tweet in members:
            yield RawItem(tweet.row.location(), self._contact(tweet, case_id, customers.get(tweet.tweet_id)))

    def _contact(self, tweet: _Tweet, case_id: str, customer: str | None) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": f"tweet-{tweet.tweet_id}",
            "case_id": case_id,
            "type": "contact",
            "at": tweet.at,
            "actor": _actor(tweet),
            "channel": CHANNEL,
            "direction": "inbound" if tweet.inbound else "outbound",
            "source": {"system": self.system, "ref": tweet.tweet_id},
        }
        if tweet.text is not None:
            data["text"] = tweet.text
        if customer is not None:
            data["customer_id"] = customer
        known = {child.tweet_id for child in tweet.children}
        meta: dict[str, Any] = {}
        if tweet.parent is not None:
            meta["in_response_to"] = tweet.parent
            if tweet.depth == 0:
                meta["in_response_to_not_in_file"] = True
        outside = [response for response in tweet.responses if response not in known]
        if outside:
            meta["responses_not_in_file"] = outside
        if meta:
            data["meta"] = meta
        return data


def _link(tweets: dict[str, _Tweet]) -> tuple[list[_Tweet], list[_Tweet]]:
    """The thread roots in file order, and the tweets whose reply chain is a loop (hostile input).

    A root is a tweet that answers nothing, or answers a tweet that is not in the file.
    """
    state: dict[str, int] = {}  # 1: on the chain being walked, 2: settled
    looping: set[str] = set()
    for start in tweets.values():
        chain: list[_Tweet] = []
        tweet: _Tweet | None = start
        while tweet is not None and tweet.tweet_id not in state:
            state[tweet.tweet_id] = 1
            chain.append(tweet)
            tweet = tweets.get(tweet.parent) if tweet.parent is not None else None
        if tweet is not None and state[tweet.tweet_id] == 1:
            looping.update(member.tweet_id for member in chain[chain.index(tweet) :])
        for member in chain:
            state[member.tweet_id] = 2
    roots: list[_Tweet] = []
    for tweet in tweets.values():
        if tweet.tweet_id in looping:
            continue
        parent = tweets.get(tweet.parent) if tweet.parent is not None else None
        if parent is None or parent.tweet_id in looping:
            roots.append(tweet)
        else:
            parent.children.append(tweet)
    return roots, [tweets[tweet_id] for tweet_id in tweets if tweet_id in looping]


def _descendants(root: _Tweet) -> list[_Tweet]:
    """The thread under ``root`` (itself included), each tweet's depth set."""
    members: list[_Tweet] = []
    stack = [(root, 0)]
    while stack:
        tweet, depth = stack.pop()
        tweet.depth = depth
        members.append(tweet)
        stack.extend((child, depth + 1) for child in tweet.children)
    return members


def _customers(members: list[_Tweet]) -> dict[str, str]:
    """Each tweet's customer: a customer's own id, or for a company tweet the customer it answers."""
    by_id = {tweet.tweet_id: tweet for tweet in members}
    customers: dict[str, str] = {}
    for tweet in sorted(members, key=lambda member: member.depth):
        if tweet.inbound:
            customers[tweet.tweet_id] = tweet.author
        elif tweet.parent in by_id and tweet.parent in customers:
            customers[tweet.tweet_id] = customers[tweet.parent]
    return customers


def _actor(tweet: _Tweet) -> dict[str, str]:
    return {"role": "customer" if tweet.inbound else "agent", "id": tweet.author}


def reader() -> ReaderSpec:
    """The ``twcs`` input format, for the built-in plugin (or a test's) to register."""
    importer = TwitterSupportThreads()
    return ReaderSpec(
        importer.name,
        importer,
        f"{importer.summary} (CSV, optionally .gz; one case per reply thread; see docs/importers.md)",
        expand=lambda paths: expand_csv_sources(paths, importer.accepts),
    )
