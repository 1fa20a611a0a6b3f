"""What a notification looks like in the chat: the SNS subject and message as one Slack ``text``.

* Credentials out: every presigned URL loses its query (``freshtrack_ops.redact``). That includes the daily
  report's link, which the e-mail carries: a chat channel is read by everyone in it (guests and installed apps
  too), keeps its history, and a link in it may be fetched by the chat service for a preview; a bearer URL does
  not belong there. What is left names the object (``.../reports/<host>/daily/<date>.html?<redacted>``);
  ``opsctl`` or the console opens it (docs/configuration.md "Chat notifications").
* Escaped: Slack reads ``<...>`` in ``text`` as a link or a mention (``<!channel>`` notifies everyone) and asks
  for ``&``, ``<`` and ``>`` as ``&amp;``, ``&lt;``, ``&gt;`` ("Formatting text for app surfaces", Slack API
  docs). A log sample quoted in a message can say anything; escaped, it is shown, never acted on.
* Short: Slack truncates ``text`` at 40,000 characters and Mattermost refuses posts over 16,383; a message is
  cut to ``MAX_TEXT_CHARS`` (well under both) saying how much was left out.
* CloudWatch alarm messages (JSON; the topic gets the DLQ, RPO and DR alarms) read as one line per fact.
"""

from __future__ import annotations

import json
from typing import Any

from freshtrack_ops.redact import redact

#: well under Slack's 40,000 and Mattermost's 16,383 (its default maximum post size)
MAX_TEXT_CHARS = 3500
_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})


def escape(text: str) -> str:
    """``text`` safe in a Slack ``text`` field: no link, mention or channel-wide notification comes from it."""
    return text.translate(_ESCAPES)


def alarm_text(message: str) -> str | None:
    """A CloudWatch alarm's SNS message as lines; None when ``message`` is not one."""
    try:
        alarm: Any = json.loads(message)
    except ValueError:
        return None
    if not isinstance(alarm, dict) or "AlarmName" not in alarm or "NewStateValue" not in alarm:
        return None
    lines = [f"{alarm['NewStateValue']}: {alarm['AlarmName']}"]
    lines += [str(alarm[key]) for key in ("AlarmDescription", "NewStateReason") if alarm.get(key)]
    return "\n".join(lines)


def chat_text(subject: str | None, message: str, *, limit: int = MAX_TEXT_CHARS) -> str:
    """The chat ``text`` of one notification: ``*subject*`` then the message, redacted, escaped, at most ``limit``
    characters."""
    body = alarm_text(message) or message
    title = escape(redact(subject.strip())) if subject and subject.strip() else ""
    text = f"*{title}*\n{escape(redact(body))}" if title else escape(redact(body))
    if len(text) <= limit:
        return text
    # cut at a whole character of the escaped text; an entity cut in half would show as "&am"
    note = "\n… ({} more characters; the full message went to the notification topic's e-mail)"
    kept = text[: limit - len(note.format(len(text)))]
    entity = kept.rfind("&", len(kept) - 4)
    if entity != -1 and ";" not in kept[entity:]:
        kept = kept[:entity]
    return kept + note.format(len(text) - len(kept))


def payload(subject: str | None, message: str) -> bytes:
    """The request body: ``{"text": ...}`` (what every Slack-compatible incoming webhook takes)."""
    return json.dumps({"text": chat_text(subject, message)}, ensure_ascii=False).encode("utf-8")
