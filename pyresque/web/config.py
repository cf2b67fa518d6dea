"""The dashboard's settings (:class:`WebConfig`) and the limits it keeps to."""

from __future__ import annotations

import dataclasses

__all__ = ["PAGE_SIZE", "SEARCH_CAP", "SHOW_LIMIT", "STALE_AFTER", "WebConfig"]

#: Rows per page of every paged list.
PAGE_SIZE = 25
#: Entries one search request may examine before it answers with partial results.
SEARCH_CAP = 20_000
#: Characters of a Redis value shown in a list (the rest is cut, with a note).
SHOW_LIMIT = 2_000
#: A worker whose heartbeat is older than this (seconds) is flagged stale and may be
#: pruned (Ruby Resque's prune interval: 5 heartbeats of 60 s).
STALE_AFTER = 300


@dataclasses.dataclass(frozen=True, slots=True)
class WebConfig:
    """What one dashboard shows and allows.

    Attributes:
        namespace: the Resque key namespace (``resque``).
        read_only: refuse every change (POST answers 403) and hide the buttons.
        auth: ``(user, password)`` for HTTP Basic auth, or ``None`` (no auth).
        title: shown in the header and the page titles.
        description: where the Redis is (without password), shown in the footer.
        instances: the labels of every instance of a multi-instance dashboard
            (:func:`~pyresque.web.multi.create_multi_app`), empty for one.
        instance: this one's position among them (its path is ``/<instance>``; -1 for
            the pages that add up every shard, at the root).
        all_label: the header's link to those pages (``"all shards"``), if any.
    """

    namespace: str = "resque"
    read_only: bool = False
    auth: tuple[str, str] | None = None
    title: str = "pyresque"
    description: str = ""
    instances: tuple[str, ...] = ()
    instance: int = 0
    all_label: str = ""

    def __repr__(self) -> str:  # never show the password
        auth = None if self.auth is None else (self.auth[0], "***")
        return f"WebConfig(namespace={self.namespace!r}, read_only={self.read_only}, auth={auth!r})"
