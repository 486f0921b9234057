"""Masking of borrowers' e-mail addresses and phone numbers in free text (log lines, notification
bodies): one place, so logs, log shippers and messages never carry them."""

from __future__ import annotations

import re

__all__ = ["EMAIL_MASK", "PHONE_MASK", "redact"]

EMAIL_MASK = "[email]"
PHONE_MASK = "[phone]"

_EMAIL = re.compile(r"[\w.%+-]+@[\w-]+(?:\.[\w-]+)*")

# A phone number starts where no word character, number punctuation or path/URL character is
# directly before it, and ends where no digit follows (directly or after a separator) -- so a
# part of a longer number (a UUID group, a timestamp, an amount) is never taken for one.
_BEFORE = r"(?<![\w+.,:/-])"
_AFTER = r"(?![\w]|[.,:/-]?\d)"
_PHONE = re.compile(
    _BEFORE
    + r"(?:"
    # E.164 and other international forms: +<country> then 6-14 more digits, at most two spaces,
    # dashes or parentheses between two digits: +14155552671, +44 20 7946 0958, +1 (415) 555-2671.
    + r"(?P<international>\+[1-9](?:[ ()-]{0,2}\d){6,14})"
    # North American: (415) 555-2671, 415-555-2671, 415.555.2671, 4155552671, 1-415-555-2671.
    + r"|(?P<nanp>(?:1[ .-])?(?:\(\d{3}\) ?|\d{3}[ .-]?)\d{3}[ .-]?\d{4})"
    # Other national forms: groups of digits separated by single spaces or dashes (020 7946 0958,
    # 06 12 34 56 78, 98765-43210); 9-15 digits in all, checked in _phone(). ISO dates are not.
    + r"|(?P<national>(?!(?:19|20)\d\d-[01]\d-[0-3]\d)\(?\d{2,8}\)?(?:[ -]\(?\d{1,8}\)?)+)"
    + r")"
    + _AFTER
)
# A national candidate may not be followed by a space and a digit either: a longer run of numbers
# (a table of counts) is left whole rather than masked in part.
_NATIONAL_AFTER = re.compile(r" \d")


def _phone(match: re.Match[str]) -> str:
    national = match.group("national")
    if national is None:
        return PHONE_MASK
    digits = sum(char.isdigit() for char in national)
    followed_by_digit = _NATIONAL_AFTER.match(match.string, match.end()) is not None
    if 9 <= digits <= 15 and not followed_by_digit:
        return PHONE_MASK
    return national


def redact(text: str) -> str:
    """``text`` with e-mail addresses replaced by ``[email]`` and phone numbers by ``[phone]``.

    Phone numbers are E.164 and international forms (``+14155552671``, ``+44 20 7946 0958``),
    North American ones (``(415) 555-2671``, ``415-555-2671``, ``415.555.2671``, ``4155552671``)
    and other national forms of 9-15 digits grouped by spaces or dashes (``020 7946 0958``).
    Left alone: ISO dates and timestamps, times, UUIDs, loan and borrower ids (``L000123``),
    amounts (``1,234.56``, ``12345.67``), percentages, versions, durations, counts and PSI values.
    """
    if not text:
        return text
    text = _EMAIL.sub(EMAIL_MASK, text)
    return _PHONE.sub(_phone, text)
