"""The webhook message and URL, without a database."""

from __future__ import annotations

from datetime import UTC, datetime

from syncsched.alerts import webhook_body, webhook_url


def test_the_url_setting_may_name_an_environment_variable() -> None:
    env = {"SLACK_HOOK": "https://hooks.slack.com/services/T/B/secret"}
    assert webhook_url("https://example.com/hook", env) == "https://example.com/hook"
    assert webhook_url("env:SLACK_HOOK", env) == "https://hooks.slack.com/services/T/B/secret"
    assert webhook_url("env:MISSING", env) is None
    assert webhook_url("", env) is None


def test_the_body_is_a_slack_message_with_the_details_as_fields() -> None:
    alert = {
        "alert_id": 7,
        "kind": "stale",
        "severity": "danger",
        "alert_key": "stale:acme/ledger-export",
        "detail": {"since_seconds": 7260, "last_success_at": None},
        "at": datetime(2030, 1, 1, 12, 1, tzinfo=UTC),
    }
    body = webhook_body(alert)
    assert body["text"] == "syncsched stale: acme/ledger-export (since_seconds 7260)"
    (attachment,) = body["attachments"]
    assert attachment["color"] == "danger"
    fields = {f["title"]: f["value"] for f in attachment["fields"]}
    assert fields["kind"] == "stale" and fields["about"] == "acme/ledger-export" and fields["alert_id"] == "7"
    assert set(body) == {"text", "attachments"}  # what Slack's incoming webhooks take
