"""A tiny application with background jobs: what the example tests exercise."""

from __future__ import annotations

from typing import Any

from pyresque import Resque

# Nothing connects at import time: the tests point this app at fakeredis.
app = Resque("redis://localhost:6379/0", namespace="shop")

#: What the jobs did (a real app would send mail or write to a database).
OUTBOX: list[dict[str, Any]] = []


@app.job(name="Shop::SendReceipt")
class SendReceipt:
    """Mails the receipt of an order."""

    def perform(self, order_id: int, email: str, options: dict[str, Any]) -> None:
        OUTBOX.append({"order": order_id, "to": email, "lang": options.get("lang", "en")})


@app.job(name="Shop::ChargeCard")
class ChargeCard:
    """Charges the card, then asks for the receipt (a job enqueuing a job)."""

    def perform(self, order_id: int, email: str, cents: int) -> None:
        if cents <= 0:
            raise ValueError(f"cannot charge {cents} cents")
        app.enqueue("mail", SendReceipt, order_id, email, {"lang": "fr"})


def place_order(order_id: int, email: str, cents: int) -> None:
    """The code under test: charging happens in the background."""
    app.enqueue("payments", ChargeCard, order_id, email, cents)
