"""Vague dates as testimonies really state them.

A Period keeps the witness's own words (`text`) and the widest honest reading of them as
`earliest`/`latest` dates; `None` means open-ended ("before 2010" has no earliest). Filters and
overlap tests use the bounds, never the text. Where a form is ambiguous the wider reading wins,
so a filter never drops a testimony that might match: "2003-05" reads as 2003-2005, which also
contains May 2003.

Ranges split only at a separator that stands as its own token: "-", "–", "—", "~", "to",
"until", "till", "through", "X부터 Y까지", "X에서 Y까지". A separator is never looked for inside
a word ("October" holds "to"), and every candidate split is tried until both sides parse, so the
"-" inside an ISO date does not stop "2004-05-17 - 2004-06-01" from reading as a range. A side
that is only a month ("October to December 2003", "2003년 10월~12월") takes the other side's year.

Named periods (docs/periods.md lists them; add one only with a published source for its years):

=================================  =========  ===========================================
Name                               Years      Note
=================================  =========  ===========================================
Arduous March / 고난의 행군        1994-1998  the famine years as the state named them
=================================  =========  ===========================================
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date

from .errors import PeriodParseError
from .messages import N_, Message

MIN_YEAR, MAX_YEAR = 1900, 2100
CIRCA_YEARS = 2  # "c. 1995" -> 1993..1997

_MONTHS = {
    name: i
    for i in range(1, 13)
    for name in (calendar.month_name[i].lower(), calendar.month_abbr[i].lower())
}
_MONTHS["sept"] = 9
# season -> (first month, last month); winter runs into the next year
_SEASONS = {
    "spring": (3, 5), "summer": (6, 8), "autumn": (9, 11), "fall": (9, 11), "winter": (12, 2),
    "봄": (3, 5), "여름": (6, 8), "가을": (9, 11), "겨울": (12, 2),
}
_PARTS = {"early": (0, 3), "mid": (3, 7), "late": (6, 9), "초": (0, 3), "중반": (3, 7), "말": (6, 9)}

_Y = r"(\d{4})"
# a range separator: symbols anywhere, English words only as whole tokens (never inside
# "October"), Korean particles glued to what precedes them ("10월부터")
_SEP = re.compile(r"(?<![a-z])(?:to|until|till|through|thru)(?![a-z])|[-–—~〜～]|부터|에서")
_KOREAN_MONTH = re.compile(r"(\d{1,2})\s*월")

# name (normalised: lower case, no spaces, no leading "the"/"during") -> (first year, last year)
NAMED_PERIODS: dict[str, tuple[int, int]] = {
    "arduousmarch": (1994, 1998),
    "thearduousmarch": (1994, 1998),
    "고난의행군": (1994, 1998),
}


@dataclass(frozen=True)
class Period:
    text: str
    earliest: date | None
    latest: date | None

    def overlaps(self, earliest: date | None, latest: date | None) -> bool:
        """True when this period and [earliest, latest] (None = open) can share a day."""
        if self.latest is not None and earliest is not None and self.latest < earliest:
            return False
        if self.earliest is not None and latest is not None and self.earliest > latest:
            return False
        return True

    def overlaps_period(self, other: Period) -> bool:
        return self.overlaps(other.earliest, other.latest)


def _year(s: str, text: str) -> int:
    y = int(s)
    if not MIN_YEAR <= y <= MAX_YEAR:
        raise PeriodParseError(Message(N_("period %(text)r: year %(year)s is outside "
                                          "%(min)s-%(max)s"), text=text, year=y,
                                       min=MIN_YEAR, max=MAX_YEAR))
    return y


def _no_such_day(text: str, month: int) -> PeriodParseError:
    if not 1 <= month <= 12:
        return PeriodParseError(Message(N_("period %(text)r: month %(month)s does not exist"),
                                        text=text, month=month))
    return PeriodParseError(Message(N_("period %(text)r: day is out of range for the month"),
                                    text=text))


def _month_end(y: int, m: int) -> date:
    return date(y, m, calendar.monthrange(y, m)[1])


def _span(y1: int, m1: int, y2: int, m2: int) -> tuple[date, date]:
    return date(y1, m1, 1), _month_end(y2, m2)


def _whole_years(y1: int, y2: int, text: str) -> tuple[date, date]:
    if y2 < y1:
        raise PeriodParseError(Message(N_("period %(text)r: ends (%(end)s) before it starts "
                                          "(%(start)s)"), text=text, end=y2, start=y1))
    return date(y1, 1, 1), date(y2, 12, 31)


def _single(s: str, text: str) -> tuple[date, date] | None:
    """Bounds of one point-like expression (a year, month, season, decade, date) or None."""
    s = s.strip().rstrip(".,").strip()
    if named := _named(s):
        return named
    if m := re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", s):  # ISO date
        try:
            d = date(int(m[1]), int(m[2]), int(m[3]))
        except ValueError:
            raise _no_such_day(text, int(m[2])) from None
        _year(m[1], text)
        return d, d
    if m := re.fullmatch(r"(\d{4})\s*년\s*(\d{1,2})\s*월\s*(\d{1,2})\s*일", s):
        try:
            d = date(_year(m[1], text), int(m[2]), int(m[3]))
        except ValueError:
            raise _no_such_day(text, int(m[2])) from None
        return d, d
    if m := re.fullmatch(_Y + r"(?:\s*년)?", s):
        y = _year(m[1], text)
        return date(y, 1, 1), date(y, 12, 31)
    if m := re.fullmatch(r"(\d{4})/(\d{1,2})", s):  # 2004/05 = May 2004
        y, mo = _year(m[1], text), int(m[2])
        if not 1 <= mo <= 12:
            raise PeriodParseError(Message(N_("period %(text)r: month %(month)s does not exist"),
                                           text=text, month=mo))
        return _span(y, mo, y, mo)
    if m := re.fullmatch(r"([a-z]+)\.?\s+(\d{4})", s):
        word, y = m[1], _year(m[2], text)
        if word in _MONTHS:
            mo = _MONTHS[word]
            return _span(y, mo, y, mo)
        if word in _SEASONS:
            a, b = _SEASONS[word]
            return _span(y, a, y + 1 if b < a else y, b)
        return None
    if m := re.fullmatch(r"(\d{4})\s*년\s*(\d{1,2})\s*월", s):
        y, mo = _year(m[1], text), int(m[2])
        if not 1 <= mo <= 12:
            raise PeriodParseError(Message(N_("period %(text)r: month %(month)s does not exist"),
                                           text=text, month=mo))
        return _span(y, mo, y, mo)
    if m := re.fullmatch(r"(\d{4})\s*년?\s*(봄|여름|가을|겨울)", s):
        y = _year(m[1], text)
        a, b = _SEASONS[m[2]]
        return _span(y, a, y + 1 if b < a else y, b)
    if m := re.fullmatch(r"(?:(early|mid|late)[\s-]*)?(\d{3})0'?s", s):
        return _decade(int(m[2]) * 10, m[1], text)
    if m := re.fullmatch(r"(\d{3})0\s*년대\s*(초|중반|말)?(?:반)?", s):
        return _decade(int(m[1]) * 10, m[2], text)
    return None


def _named(s: str) -> tuple[date, date] | None:
    key = re.sub(r"[\s'\"“”‘’「」『』]+", "", s.lower())
    key = re.sub(r"^(?:during|in)?(?:the)?|(?:시기|시절|기간|때|중)$", "", key) or key
    if key in NAMED_PERIODS or "the" + key in NAMED_PERIODS:
        y1, y2 = NAMED_PERIODS.get(key) or NAMED_PERIODS["the" + key]
        return date(y1, 1, 1), date(y2, 12, 31)
    return None


def _bare_month(s: str) -> int | None:
    """The month of a side that names only a month ("october", "oct.", "10월"), else None."""
    s = s.strip().rstrip(".,").strip()
    if s in _MONTHS:
        return _MONTHS[s]
    if (m := _KOREAN_MONTH.fullmatch(s)) and 1 <= int(m[1]) <= 12:
        return int(m[1])
    return None


def _range(s: str, text: str) -> tuple[date, date] | None:
    """Bounds of "A <sep> B": every separator that stands as a token is tried in turn."""
    for m in _SEP.finditer(s):
        left = s[:m.start()].strip()
        right = re.sub(r"\s*까지$", "", s[m.end():].strip()).strip()
        if not left or not right:
            continue
        a, b = _single(left, text), _single(right, text)
        if a and not b and (mo := _bare_month(right)):  # "2003년 10월~12월"
            y = a[1].year
            b = _span(y, mo, y, mo)
        elif b and not a and (mo := _bare_month(left)):  # "October to December 2003"
            y = b[0].year if mo <= b[0].month else b[0].year - 1
            a = _span(y, mo, y, mo)
        if a and b:
            if b[1] < a[0]:
                raise PeriodParseError(Message(N_("period %(text)r: ends before it starts"),
                                           text=text))
            return a[0], b[1]
    return None


def _decade(start: int, part: str | None, text: str) -> tuple[date, date]:
    _year(str(start), text)
    a, b = _PARTS[part] if part else (0, 9)
    return date(start + a, 1, 1), date(start + b, 12, 31)


def parse_period(text: str | None) -> Period | None:
    """Parse a period; empty text is no period, text in no known form raises PeriodParseError."""
    if text is None or not str(text).strip():
        return None
    original = str(text).strip()
    s = re.sub(r"\s+", " ", original.lower())

    if one := _single(s, original):
        return Period(original, *one)

    # c. 1995 / circa / around / approx. / ~1995 / 1995년경 / 1995년쯤
    if m := re.fullmatch(r"(?:c\.?|ca\.?|circa|around|about|approx\.?|approximately|~)\s*" + _Y, s) or \
            re.fullmatch(_Y + r"\s*년?\s*(?:경|쯤|무렵)", s):
        y = _year(m[1], original)
        return Period(original, date(y - CIRCA_YEARS, 1, 1), date(y + CIRCA_YEARS, 12, 31))

    # before 2010 / until 2010 / 2010년 이전 ; after 2012 / since 2012 / 2012년 이후
    if m := re.fullmatch(r"(?:before|prior to|until|till|up to)\s+(.+)", s) or \
            re.fullmatch(r"(.+?)\s*(?:이전|전)", s):
        if bounds := _single(m[1], original):
            before = s.startswith(("before", "prior")) or s.endswith(("이전", "전"))
            last = bounds[0] if before else bounds[1]
            if before:
                last = date.fromordinal(last.toordinal() - 1)
            return Period(original, None, last)
    if m := re.fullmatch(r"(?:after|since|from)\s+(.+)", s) or \
            re.fullmatch(r"(.+?)\s*(?:이후|부터)", s):
        if bounds := _single(m[1], original):
            after = s.startswith("after") or s.endswith("이후")
            first = date.fromordinal(bounds[1].toordinal() + 1) if after else bounds[0]
            return Period(original, first, None)

    # ranges: 1998-2001, 1998 to 2001, from 1998 until 2001, May 2004 - Jan 2005, 2003-05
    s2 = re.sub(r"^(?:from|between)\s+", "", s).replace(" and ", " to ")
    if m := re.fullmatch(r"(\d{4})\s*(?:-|–|/)\s*(\d{2})", s2):
        y1 = _year(m[1], original)
        y2 = (y1 // 100) * 100 + int(m[2])
        if y2 < y1:  # 1998-01 -> 1998-2001
            y2 += 100
        return Period(original, *_whole_years(y1, y2, original))
    if bounds := _range(s2, original):
        return Period(original, *bounds)

    raise PeriodParseError(Message(N_(
        "period %(text)r is not in a form geomap understands "
        "(e.g. '1997', '1998-2001', 'spring 2004', 'c. 1995', 'before 2010', 'after 2012', "
        "'May 2004', '1990s', '2004-05-17', '2004년 봄', 'October 2003 to June 2004', "
        "'Arduous March')"), text=original))
