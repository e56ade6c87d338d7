"""Alerts on the worker's side: logged and counted as their NOTIFYs arrive, and delivered to
the webhook of the `alert_webhook_url` setting (Slack-compatible JSON).

Which alert goes out, and which is a repeat within `alert_repeat_after`, is decided in SQL
(claim_alert_deliveries); a delivery never blocks anything else: it has its own task, its own
timeout, and a failure is only recorded for a later try.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
from collections.abc import Mapping
from typing import Any

from syncsched import db, queries
from syncsched.errors import ConnectError
from syncsched.invoker import Invoker
from syncsched.metrics import WorkerMetrics

log = logging.getLogger("syncsched.alerts")

DELIVERY_TIMEOUT = 10.0
DELIVERY_EVERY = 30.0  # a look at the waiting alerts at least this often (NOTIFY wakes it sooner)
_DB_ERRORS = (db.Error, ConnectError, OSError)
_ENV_PREFIX = "env:"
KIND = re.compile(r"[a-z_]{1,40}")  # an alert kind's shape (alert_kinds)


def webhook_url(setting: str, environ: Mapping[str, str] | None = None) -> str | None:
    """The URL of the setting: itself, or for `env:NAME` the value of NAME (a webhook URL is a secret)."""
    if not setting.startswith(_ENV_PREFIX):
        return setting or None
    env = os.environ if environ is None else environ
    return env.get(setting.removeprefix(_ENV_PREFIX)) or None


def webhook_body(alert: Mapping[str, Any]) -> dict[str, Any]:
    """A Slack incoming-webhook message: `text`, and the details as attachment fields."""
    subject = alert["alert_key"].split(":", 1)[1]
    detail = alert.get("detail") or {}
    summary = ", ".join(f"{key} {value}" for key, value in detail.items() if value is not None)
    fields = [
        {"title": "kind", "value": alert["kind"], "short": True},
        {"title": "about", "value": subject, "short": True},
        {"title": "at", "value": str(alert["at"]), "short": True},
        {"title": "alert_id", "value": str(alert["alert_id"]), "short": True},
    ]
    fields += [{"title": key, "value": json.dumps(value), "short": True} for key, value in detail.items()]
    return {
        "text": f"syncsched {alert['kind']}: {subject}" + (f" ({summary})" if summary else ""),
        # the severity of each kind is the database's (syncsched.alert_kinds): danger or warning
        "attachments": [{"color": alert.get("severity") or "warning", "fields": fields}],
    }


class Alerts:
    def __init__(self, pool: db.Pool, invoker: Invoker, metrics: WorkerMetrics) -> None:
        self.pool = pool
        self.invoker = invoker
        self.metrics = metrics
        self._wake = asyncio.Event()

    def notified(self, payload: str) -> None:
        """A NOTIFY on syncsched_alerts: log it, count it, look for a delivery."""
        # (any role may NOTIFY this channel: what is not an alert's object is passed over)
        try:
            alert = json.loads(payload)
        except ValueError:
            return
        if not isinstance(alert, dict):
            return
        kind = alert.get("kind")
        kind = kind if isinstance(kind, str) and KIND.fullmatch(kind) else "unknown"  # (a metric label)
        self.metrics.alerts.labels(kind).inc()
        log.log(
            logging.WARNING if alert.get("severity") == "danger" else logging.INFO,
            "alert %s: %s (alert_id %s)",
            kind,
            alert.get("key"),
            alert.get("alert_id"),
        )
        self._wake.set()

    async def delivery_loop(self) -> None:
        """Deliver what waits now (alerts raised while no worker listened), then on each alert."""
        while True:
            self._wake.clear()
            try:
                rows = await db.async_fetch_all(self.pool, queries.CLAIM_ALERT_DELIVERIES, (20,))
                await asyncio.gather(*(self._deliver(row) for row in rows))
            except _DB_ERRORS as exc:
                log.debug("alert deliveries not claimed: %s", db.one_line(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=DELIVERY_EVERY)

    async def _deliver(self, alert: db.Row) -> None:
        url = webhook_url(alert["webhook_url"])
        error: str | None
        if url is None:
            ok, error = False, f"{alert['webhook_url']} names no environment variable of this worker"
        else:
            probe = await self.invoker.post_json(url, webhook_body(alert), DELIVERY_TIMEOUT)
            ok, error = probe.ok, probe.error
        self.metrics.alert_deliveries.labels("sent" if ok else "failed").inc()
        if not ok:
            log.warning("alert %s not delivered to the webhook: %s", alert["alert_id"], error)
        try:
            await db.async_fetch_all(self.pool, queries.RECORD_ALERT_DELIVERY, (alert["alert_id"], ok, error))
        except _DB_ERRORS as exc:
            log.warning("alert delivery not recorded: %s", db.one_line(exc))
