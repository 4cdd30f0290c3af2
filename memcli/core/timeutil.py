"""Timestamps: everything is stored as ISO-8601 UTC text ``YYYY-MM-DDTHH:MM:SSZ`` so that string
order is time order. Free-text dates ("last month", "8 May, 2023") go through dateparser, imported
only when needed."""

from __future__ import annotations

import re
from datetime import datetime, timezone

from memcli.core.errors import MemcliError

FMT = "%Y-%m-%dT%H:%M:%SZ"


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


def iso(dt: datetime) -> str:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc).strftime(FMT)


def now_iso() -> str:
    return iso(utcnow())


def from_epoch(value: float | int | str | None) -> str | None:
    if value is None or value == "":
        return None
    try:
        return iso(datetime.fromtimestamp(float(value), tz=timezone.utc))
    except (ValueError, OverflowError, OSError):
        return None


def _fromiso(text: str) -> datetime | None:
    t = text.strip()
    if t.endswith("Z"):
        t = t[:-1] + "+00:00"
    try:
        return datetime.fromisoformat(t)
    except ValueError:
        return None


def normalize(value, *, default: str | None = None) -> str | None:
    """Any timestamp we meet in an import (ISO string, epoch number, datetime) → canonical text."""
    if value is None or value == "":
        return default
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, (int, float)):
        return from_epoch(value) or default
    if isinstance(value, str):
        dt = _fromiso(value)
        if dt is not None:
            return iso(dt)
        try:
            return from_epoch(float(value)) or default
        except ValueError:
            pass
        dt = parse_free(value)
        return iso(dt) if dt else default
    return default


def parse_free(text: str, now: datetime | None = None) -> datetime | None:
    """Parse a free-text date relative to ``now`` (dateparser), or None."""
    import dateparser

    settings = {"RETURN_AS_TIMEZONE_AWARE": True, "TIMEZONE": "UTC", "TO_TIMEZONE": "UTC",
                "PREFER_DATES_FROM": "past"}
    if now is not None:
        settings["RELATIVE_BASE"] = now.replace(tzinfo=None)
    return dateparser.parse(text, settings=settings)


_BARE_NUMBER = re.compile(r"[+-]?\d+(?:[.,]\d+)?")
_CLOCK = re.compile(r"(?<![\d:])(\d{1,2}):(\d{2})(?::(\d{2}))?(?![\d:])")
_AMPM = re.compile(r"(?<!\d)(\d{1,2})\s*([ap]\.?m\.?)\b", re.I)


def inexact_date(text: str) -> str | None:
    """Why free text is not an exact date, or None. dateparser reads what it can and drops the
    rest: "-5" becomes the 5th of some month, "yesterday at 25:00" becomes yesterday."""
    t = text.strip()
    if _BARE_NUMBER.fullmatch(t) and not re.fullmatch(r"\d{4}", t):
        return "a bare number is not a date"
    for m in _CLOCK.finditer(t):
        if int(m.group(1)) > 23 or int(m.group(2)) > 59 or int(m.group(3) or 0) > 59:
            return f"{m.group(0)} is not a time of day"
    for m in _AMPM.finditer(t):
        if not 1 <= int(m.group(1)) <= 12:
            return f"{m.group(0)} is not a time of day"
    return None


def parse_user_date(text: str, now: datetime | None = None, *, what: str = "date") -> datetime:
    """A date given on the command line: ISO-8601 or plain English read exactly (anything that
    would be read only in part is refused); a clear error otherwise."""
    dt = _fromiso(text)
    if dt is None:
        why = inexact_date(text)
        if why:
            raise MemcliError(f"cannot understand {what} {text!r} ({why}); use e.g. 2024-05-01, "
                              "'yesterday 14:30' or 'last month'")
        dt = parse_free(text, now)
    if dt is None:
        raise MemcliError(f"cannot understand {what} {text!r}; use e.g. 2024-05-01 or 'last month'")
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc)
