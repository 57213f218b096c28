"""Calendar days as spreadsheets really hold them (interview dates, not vague periods).

Accepted, always read year-month-day unless the order is beyond doubt:

- ISO `2016-04-05` (a time after it is ignored), `20160405`;
- Korean office forms `2016.4.5`, `2016. 4. 5.`, `2016/04/05`, `2016 4 5`, `2016년 4월 5일`;
- month names `5 April 2016`, `April 5, 2016`, `05-Apr-2016`;
- day-first or month-first numbers (`05/04/2016`) only when one side is above 12, so the order
  is certain; `05/04/2016` itself is refused as ambiguous rather than guessed;
- an Excel serial day number (`42465`), which a CSV keeps when a date cell was formatted as a
  number; only in the range 1990-2100, so no other number is taken for a date.

Anything else raises InvalidInput naming the text and the forms accepted.
"""

from __future__ import annotations

import calendar
import re
from datetime import date, timedelta

from .errors import InvalidInput
from .messages import N_, Message

_MONTHS = {name: i for i in range(1, 13)
           for name in (calendar.month_name[i].lower(), calendar.month_abbr[i].lower())}
_MONTHS["sept"] = 9
_EXCEL_EPOCH = date(1899, 12, 30)  # Excel's day 0 (it counts the non-existent 1900-02-29)
_EXCEL_MIN, _EXCEL_MAX = 32874, 73415  # 1990-01-01 .. 2100-12-31

_YMD = re.compile(r"(\d{4})\s*[-./년\s]\s*(\d{1,2})\s*[-./월\s]\s*(\d{1,2})\s*[.일]?")
_COMPACT = re.compile(r"(\d{4})(\d{2})(\d{2})")
_NUMERIC_DMY = re.compile(r"(\d{1,2})\s*[-./]\s*(\d{1,2})\s*[-./]\s*(\d{4})")
_D_MON_Y = re.compile(r"(\d{1,2})(?:st|nd|rd|th)?[\s\-./]*([a-z]+)\.?[\s\-./,]*(\d{4})")
_MON_D_Y = re.compile(r"([a-z]+)\.?\s*(\d{1,2})(?:st|nd|rd|th)?,?\s*(\d{4})")

ACCEPTED = ("YYYY-MM-DD, 2016.4.5, 2016/04/05, 2016년 4월 5일, 5 April 2016, April 5, 2016 "
            "or 05-Apr-2016")


def _make(text: str, y: int, m: int, d: int) -> date:
    try:
        return date(y, m, d)
    except ValueError:
        raise InvalidInput(Message(N_("date %(text)r is not a real day"), text=text)) from None


def parse_day(text: str) -> date:
    """One calendar day from the forms in the module docstring."""
    s = " ".join(str(text).split()).lower()
    s = re.sub(r"[t ]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?(z|[+-]\d{2}:?\d{2})?$", "", s).strip()
    if m := _YMD.fullmatch(s):
        return _make(text, int(m[1]), int(m[2]), int(m[3]))
    if m := _COMPACT.fullmatch(s):
        return _make(text, int(m[1]), int(m[2]), int(m[3]))
    if m := _NUMERIC_DMY.fullmatch(s):
        a, b, y = int(m[1]), int(m[2]), int(m[3])
        if a > 12 >= b:
            return _make(text, y, b, a)
        if b > 12 >= a:
            return _make(text, y, a, b)
        if a == b:
            return _make(text, y, a, b)
        raise InvalidInput(Message(N_("date %(text)r is ambiguous (day/month or month/day?); "
                                      "write it as YYYY-MM-DD"), text=text))
    for rx, order in ((_D_MON_Y, "dmy"), (_MON_D_Y, "mdy")):
        if (m := rx.fullmatch(s)) is not None:
            d, mon = (m[1], m[2]) if order == "dmy" else (m[2], m[1])
            if mon in _MONTHS:
                return _make(text, int(m[3]), _MONTHS[mon], int(d))
    if s.isdigit() and _EXCEL_MIN <= int(s) <= _EXCEL_MAX:
        return _EXCEL_EPOCH + timedelta(days=int(s))
    raise InvalidInput(Message(N_("date %(text)r is not a date; use %(accepted)s"), text=text,
                               accepted=ACCEPTED))


__all__ = ["parse_day", "ACCEPTED"]
