"""Korean place names across scripts and romanisation systems.

`hangul_to_rr` spells Hangul syllables in (simplified) Revised Romanization, letter by letter,
without the sound-change rules: enough to compare with romanised names once both sides go
through `skeleton`, which folds McCune-Reischauer and Revised Romanization spellings (ŏ/eo,
ŭ/eu, k/g, t/d, p/b, ch/j, r/l, apostrophes, breves, hyphens, spaces) into one key.
"""

from __future__ import annotations

import re
import unicodedata

_INITIALS = ["g", "kk", "n", "d", "tt", "r", "m", "b", "pp", "s", "ss", "", "j", "jj", "ch",
             "k", "t", "p", "h"]
_MEDIALS = ["a", "ae", "ya", "yae", "eo", "e", "yeo", "ye", "o", "wa", "wae", "oe", "yo", "u",
            "wo", "we", "wi", "yu", "eu", "ui", "i"]
_FINALS = ["", "k", "k", "k", "n", "n", "n", "t", "l", "k", "m", "l", "l", "l", "p", "l", "m",
           "p", "p", "t", "t", "ng", "t", "t", "k", "t", "p", "t"]
_HANGUL = re.compile(r"[\uac00-\ud7a3]")

# administrative suffixes, Hangul (longest first) and romanised (as a last word)
HANGUL_SUFFIXES = ("특별시", "직할시", "노동자구", "구역", "시", "군", "구", "리", "동", "읍", "도", "면")
ROMAN_SUFFIXES = {
    "ri", "ni", "li", "dong", "tong", "gun", "kun", "si", "shi", "do", "to", "up", "eup", "ku",
    "gu", "kuyok", "guyeok", "nodongjagu", "rodongjagu", "lodongjagu", "county", "city",
    "province", "district", "town", "village", "tukpyolsi", "teukbyeolsi", "chikhalsi",
    "jikhalsi", "myon", "myeon", "il",
}


def is_hangul(text: str) -> bool:
    return bool(_HANGUL.search(text))


def hangul_to_rr(text: str) -> str:
    out = []
    for ch in text:
        code = ord(ch) - 0xAC00
        if 0 <= code < 11172:
            out.append(_INITIALS[code // 588] + _MEDIALS[(code % 588) // 28] + _FINALS[code % 28])
        else:
            out.append(ch)
    return "".join(out)


def strip_hangul_suffix(word: str) -> str:
    for suffix in HANGUL_SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 2:
            return word[: -len(suffix)]
    return word


def ascii_fold(text: str) -> str:
    """Lowercase ASCII without breves, accents or apostrophes (ŏ -> o, ’ -> '')."""
    s = unicodedata.normalize("NFKD", text)
    s = "".join(c for c in s if not unicodedata.combining(c))
    return re.sub(r"['’‘`ʼ]", "", s.lower())


def strip_roman_suffix(text: str) -> str:
    """Drop a trailing administrative word: 'Sariwŏn-si' -> 'sariwon', 'Hoeryong city'."""
    words = [w for w in re.split(r"[\s\-]+", text) if w]
    while len(words) > 1 and words[-1] in ROMAN_SUFFIXES:
        words.pop()
    return " ".join(words)


def skeleton(text: str) -> str:
    """One key for every spelling of a name (see module doc)."""
    if is_hangul(text):
        text = " ".join(strip_hangul_suffix(w) for w in text.split())
        text = hangul_to_rr(text)
    s = strip_roman_suffix(ascii_fold(text))
    s = re.sub(r"[^a-z0-9]", "", s)
    s = s.replace("ng", "\0")                      # keep 'ng' whole while g -> k
    s = s.replace("eo", "o").replace("eu", "u").replace("sh", "s")
    s = s.translate(str.maketrans({"g": "k", "d": "t", "b": "p", "r": "l"}))
    s = s.replace("j", "ch")
    s = re.sub(r"(ch)+", "ch", s)
    s = re.sub(r"([a-z])\1+", r"\1", s)            # kk, tt, pp, ss, ll -> one letter
    return s.replace("\0", "ng")
