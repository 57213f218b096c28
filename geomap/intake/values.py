"""Cell values as people write them: vocabulary labels in either language, synonyms, radii.

Accepted vocabulary values are derived from the vocabularies themselves, so the interface and
intake cannot drift apart: each code (`forced_labour`), its English label (`Forced labour`) and
that label's translation in every compiled catalogue shipped with the web interface (`강제노동`),
plus the short documented synonym table below (docs/periods.md lists it too). Case, spacing,
underscores, hyphens, middle dots and other punctuation are ignored.

Radii: a number with an optional unit (metres when none), number words one..ten, and the
qualifiers people add ("about 2 km", "반경 2킬로미터", "500m 정도"); see `parse_radius`.
"""

from __future__ import annotations

import gettext
import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from rapidfuzz import fuzz, process

from ..errors import InvalidInput
from ..messages import N_, Message
from ..model import (
    PRECISION_LABELS,
    RELATIONSHIP_LABELS,
    TIER_LABELS,
    VIOLATION_LABELS,
    Precision,
    Relationship,
    Tier,
    Violation,
)

TRANSLATIONS_DIR = Path(__file__).resolve().parents[1] / "web" / "translations"

# Documented synonyms (docs/periods.md): what a file says -> the vocabulary code.
SYNONYMS: dict[str, dict[str, str]] = {
    "violations": {
        "beatings": "torture", "beating": "torture", "beaten": "torture",
        "ill-treatment": "torture", "ill treatment": "torture", "abuse": "torture",
        "폭행": "torture", "구타": "torture", "고문": "torture", "가혹행위": "torture",
        "forced labor": "forced_labour", "slave labour": "forced_labour",
        "slave labor": "forced_labour", "강제노역": "forced_labour", "노역": "forced_labour",
        "arbitrary arrest": "arbitrary_detention", "detention": "arbitrary_detention",
        "불법구금": "arbitrary_detention", "구금": "arbitrary_detention",
        "starvation": "starvation", "famine": "starvation", "기아": "starvation",
        "굶주림": "starvation",
        "rape": "sexual_violence", "sexual abuse": "sexual_violence", "강간": "sexual_violence",
        "성추행": "sexual_violence",
        "disappearance": "enforced_disappearance", "실종": "enforced_disappearance",
        "death in detention": "death_in_custody", "옥사": "death_in_custody",
        "infanticide": "forced_abortion", "강제낙태": "forced_abortion",
        "영아살해": "forced_abortion",
        "처형": "execution", "공개처형": "public_execution",
    },
    "relationship": {
        "cellmate told me": "heard_from_victim", "told by a cellmate": "heard_from_victim",
        "victim told me": "heard_from_victim", "heard from victim": "heard_from_victim",
        "감방 동료에게 들음": "heard_from_victim", "피해자에게 들음": "heard_from_victim",
        "was detained": "detained", "former prisoner": "detained", "prisoner": "detained",
        "inmate": "detained", "수감": "detained", "수감됨": "detained", "구금됨": "detained",
        "eyewitness": "saw_directly", "witnessed": "saw_directly", "목격": "saw_directly",
        "직접 봄": "saw_directly",
        "rumour": "hearsay", "rumor": "hearsay", "heard from others": "hearsay",
        "소문": "hearsay", "전문": "hearsay",
    },
    "tier": {"staff": "internal", "restricted": "internal", "confidential": "internal",
             "partners": "partner", "open": "public"},
    "precision": {},
}

_VOCABS = {
    "violations": (Violation, VIOLATION_LABELS),
    "relationship": (Relationship, RELATIONSHIP_LABELS),
    "precision": (Precision, PRECISION_LABELS),
    "tier": (Tier, TIER_LABELS),
}
_HANGUL = re.compile(r"[\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]")


def norm(text: str) -> str:
    """The matching key of a value: NFKC, case-folded, without spaces, punctuation or middle
    dots ("고문·가혹행위" == "고문 가혹행위", "Forced-Labour" == "forced labour")."""
    s = unicodedata.normalize("NFKC", str(text)).casefold()
    s = s.replace("\u318d", " ")  # ㆍ (Hangul araea, used as a middle dot) is a letter to \w
    return re.sub(r"[\W_]+", "", s)


class _PoCatalogue:
    """A catalogue read from its .po source when it has not been compiled (a fresh checkout)."""

    def __init__(self, path: Path):
        from babel.messages.pofile import read_po

        with path.open("rb") as fh:
            cat = read_po(fh)
        self.messages = {m.id: m.string for m in cat if m.id and isinstance(m.string, str)}

    def gettext(self, msgid: str) -> str:
        return self.messages.get(msgid) or msgid


def _catalogues() -> list[tuple[str, gettext.GNUTranslations | _PoCatalogue]]:
    """Every language the web interface ships, from its compiled catalogue (or its source)."""
    out: list = []
    for d in sorted(p for p in TRANSLATIONS_DIR.glob("*/LC_MESSAGES") if p.is_dir()):
        lang = d.parent.name
        if (mo := d / "messages.mo").is_file():
            with mo.open("rb") as fh:
                out.append((lang, gettext.GNUTranslations(fh)))
        elif (po := d / "messages.po").is_file():
            out.append((lang, _PoCatalogue(po)))
    return out


@dataclass(frozen=True)
class Vocabulary:
    field: str
    index: dict[str, str]  # norm(value) -> code
    labels: dict[str, dict[str, str]]  # language -> code -> label shown in that language

    def match(self, value: str) -> str | None:
        return self.index.get(norm(value))

    def suggest(self, value: str) -> tuple[str, str] | None:
        """(code, label in the value's language) of the nearest accepted value, or None."""
        hangul = bool(_HANGUL.search(value))
        keys = [k for k in self.index if bool(_HANGUL.search(k)) == hangul] or list(self.index)
        near = process.extractOne(norm(value), keys, scorer=fuzz.WRatio, score_cutoff=60)
        if not near:
            return None
        code = self.index[near[0]]
        lang = "ko" if hangul and "ko" in self.labels else "en"
        return code, self.labels[lang][code]

    def unknown_message(self, value: str) -> Message:
        codes = sorted(set(self.index.values()))
        ko = self.labels.get("ko", {})
        # the accepted values by code (English) and by their Korean label (the Korean message)
        p = {"field": self.field, "value": value,
             "choices": {"en": ", ".join(codes), "ko": ", ".join(ko.get(c, c) for c in codes)}}
        if s := self.suggest(value):
            code, label = s
            label = {"en": label, "ko": ko.get(code, label)}
            # in the value's language: a Korean value is answered with the Korean label
            if _HANGUL.search(value):
                return Message(N_("%(field)s: %(value)r is not one of %(choices)s; did you mean "
                                  "%(label)r (%(code)s)?"), code=code, label=label, **p)
            return Message(N_("%(field)s: %(value)r is not one of %(choices)s; did you mean "
                              "%(code)r (%(label)s)?"), code=code, label=label, **p)
        return Message(N_("%(field)s: %(value)r is not one of %(choices)s"), **p)


@cache
def vocabulary(field: str) -> Vocabulary:
    enum, labels = _VOCABS[field]
    index: dict[str, str] = {}
    shown: dict[str, dict[str, str]] = {"en": {}}
    for e in enum:
        shown["en"][e.value] = labels[e]
        for name in (e.value, labels[e]):
            index[norm(name)] = e.value
    for lang, cat in _catalogues():
        shown[lang] = {}
        for e in enum:
            label = cat.gettext(labels[e])
            shown[lang][e.value] = label
            index.setdefault(norm(label), e.value)
    for syn, code in SYNONYMS[field].items():
        index.setdefault(norm(syn), enum(code).value)
    return Vocabulary(field, index, shown)


# -- radii -------------------------------------------------------------------------------------
_UNITS = {
    "m": 1.0, "metre": 1.0, "metres": 1.0, "meter": 1.0, "meters": 1.0, "mtrs": 1.0,
    "미터": 1.0, "메터": 1.0,
    "km": 1000.0, "kms": 1000.0, "kilometre": 1000.0, "kilometres": 1000.0,
    "kilometer": 1000.0, "kilometers": 1000.0, "킬로미터": 1000.0, "킬로": 1000.0,
    "키로": 1000.0, "키로미터": 1000.0,
}
_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
          "eight": 8, "nine": 9, "ten": 10, "a": 1, "an": 1, "half a": 0.5, "half": 0.5}
# words and particles around a distance that do not change it
_QUALIFIERS = re.compile(
    r"(?<![a-z])(?:about|approx\.?|approximately|around|roughly|some|circa|ca\.|c\.|within|"
    r"radius(?: of)?|up to|less than|under|ca)(?![a-z])|~|±|\+/-|약|대략|반경|쯤|정도|이내|"
    r"가량|안팎|내외|미만")
_NUMBER = r"\d+(?:[.,]\d+)*"
_RADIUS = re.compile(rf"(?P<num>{_NUMBER}|{'|'.join(sorted(_WORDS, key=len, reverse=True))})"
                     rf"\s*(?P<unit>[a-z]+|[가-힣]+)?")


def _number(s: str) -> float:
    if re.fullmatch(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?", s):  # 1,500 / 12,000.5: thousands
        return float(s.replace(",", ""))
    if s.count(",") == 1 and "." not in s:  # 1,5: a decimal comma
        return float(s.replace(",", "."))
    return float(s)


def parse_radius(text: str, default_unit_m: float = 1.0) -> float:
    """Metres in a radius as people write it ("about 2 km", "500m", "one kilometre",
    "반경 2킬로미터", "1,5 km"); a bare number is in `default_unit_m` (metres unless the
    column's header says km). Raises InvalidInput naming the text otherwise."""
    s = unicodedata.normalize("NFKC", str(text)).casefold().strip()
    s = re.sub(r"\s+", " ", _QUALIFIERS.sub(" ", s)).strip(" .")
    m = _RADIUS.fullmatch(s)
    unit = None
    if m:
        unit = m["unit"]
        if unit and unit not in _UNITS:
            m = None
    if not m:
        raise InvalidInput(Message(N_(
            "radius %(text)r is not a number of metres or kilometres (e.g. '500', '500 m', "
            "'about 2 km', 'one kilometre', '반경 2킬로미터')"), text=text), field="radius_m")
    num = m["num"]
    try:
        value = _WORDS[num] if num in _WORDS else _number(num)
    except ValueError:
        raise InvalidInput(Message(N_("radius %(text)r: %(num)r is not a number"), text=text,
                                   num=num), field="radius_m") from None
    return value * (_UNITS[unit] if unit else default_unit_m)
