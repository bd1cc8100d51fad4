"""Who caused a history entry: `source` and `actor`, on every order and return history entry
and on every event of the feed.

- `api`: a client's call (submit, cancel, change, refresh; a return, its cancel and decision);
  actor: the client id.
- `webhook`: a provider's webhook; actor: the provider.
- `poll`: the gateway reading the provider on its own (status and return pollers); actor: the
  provider.
- `submitter`: the gateway's submission worker (`submitted`, `rejected` by the provider);
  actor: `submitter`.

- `release`: a hold that ran out, released by the gateway's background round (and a release
  that failed, leaving the order held); actor: `submitter`. A client's hold or release is
  `api`.

- `console`: an operator's cancel, release or refresh in the console at `/console`; actor:
  the operator's id.

The
submitter's actor does not name the process (host, pid): history goes to tenants, to whom a
replica's name means nothing and tells too much; each replica's own log shows the
submissions it ran.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum


class Source(StrEnum):
    API = "api"
    WEBHOOK = "webhook"
    POLL = "poll"
    SUBMITTER = "submitter"
    RELEASE = "release"
    """A hold that ran out, released by the gateway's background round."""
    CONSOLE = "console"
    """An operator acted from the console."""


SUBMITTER_ACTOR = "submitter"
"""The actor of every entry the submission worker writes."""

CANCEL_CLAIM_S = 600.0
"""How long after a client asked a provider to cancel an order a cancellation reported by a
webhook or a poll is the client's doing (see `credit_cancel`)."""


@dataclass(frozen=True, slots=True)
class Cause:
    source: str
    actor: str
    detail: str | None


def credit_cancel(
    news: Cause,
    *,
    requested_source: str | None,
    requested_by: str | None,
    requested_at: float | None,
    now: float,
) -> Cause:
    """Who cancelled an order that `news` (a webhook, a poll) reports cancelled.

    A cancel (a client's, or an operator's in the console) is sent to the provider, which may
    announce the cancellation by webhook before its answer to our call arrives. That news must
    not take the credit: while the request is recent (`CANCEL_CLAIM_S`; a refused request is
    withdrawn), the cancellation is recorded as the requester's, with the request's own source,
    naming the news that reported it first.
    """
    if (
        news.source in (Source.API, Source.CONSOLE)
        or requested_by is None
        or requested_at is None
        or now - requested_at > CANCEL_CLAIM_S
    ):
        return news
    source = requested_source or Source.API
    who = "an operator" if source == Source.CONSOLE else "the client"
    first = f"{news.source} {news.actor}" + (f": {news.detail}" if news.detail else "")
    return Cause(source, requested_by, f"cancelled by {who} (reported first by {first})")


def changed_detail(changed: Sequence[str]) -> str:
    """The history detail of a change to an order's fields: their names, never their values
    (an address is personal data)."""
    return "changed by the client: " + (", ".join(changed) or "nothing")
