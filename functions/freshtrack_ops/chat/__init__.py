"""Chat notifications: every message of the notification topic forwarded to a Slack-compatible webhook."""
