"""Which queues a worker watches: names, ``*``, globs and ``!excluded`` (Ruby >= 2.2)."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["QueueSelector"]

_GLOB_CHARS = frozenset("*?[")


class QueueSelector:
    """Patterns in priority order, as configured (``QUEUE=high,low``, ``*``, ``mail_*``,
    ``!low``).

    A plain name is itself; a pattern with ``*``, ``?`` or ``[`` expands to the known
    queues it matches, alphabetically, where it stands; ``!pattern`` removes matches
    from the whole list. With no pattern the list is fixed and needs no lookup.
    """

    def __init__(self, patterns: Sequence[str]) -> None:
        cleaned = [p.strip() for p in patterns if p.strip()]
        if not cleaned:
            raise ValueError("a worker needs at least one queue (QUEUE=name, or '*')")
        self.patterns = cleaned
        self.excluded = [p[1:] for p in cleaned if p.startswith("!")]
        self.included = [p for p in cleaned if not p.startswith("!")]
        if not self.included:
            self.included = ["*"]
        self.dynamic = bool(self.excluded) or any(_GLOB_CHARS & set(p) for p in self.included)

    def resolve(self, known: Sequence[str] = (), *, order: Callable[[str], Any] | None = None) -> list[str]:
        """The concrete queues to poll, in priority order, given the known queue names.
        ``order``: the sort key of a pattern's matches (alphabetical by default; a
        worker over shards groups them by shard, see ``docs/sharded-workers.md``)."""
        known_sorted = sorted(known, key=order) if order is not None else sorted(known)
        out: list[str] = []
        seen: set[str] = set()
        for pattern in self.included:
            names = (
                [q for q in known_sorted if fnmatch.fnmatchcase(q, pattern)]
                if _GLOB_CHARS & set(pattern)
                else [pattern]
            )
            for name in names:
                if name not in seen and not any(fnmatch.fnmatchcase(name, ex) for ex in self.excluded):
                    seen.add(name)
                    out.append(name)
        return out

    def __str__(self) -> str:
        return ",".join(self.patterns)
