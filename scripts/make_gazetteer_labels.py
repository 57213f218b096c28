"""Write tests/data/gazetteer_labels.csv: place-name variants with their expected match, built
from the shipped data (GeoNames extract, public sites, provinces).

Variants: the GeoNames spelling (McCune-Reischauer with breves), the same without diacritics
or apostrophes, Hangul, a Revised-Romanization respelling, a one-letter typo; for sites: camp
references ("Camp 15", "15호 관리소", "Kwalliso No. 15", "Kyohwaso No. 12", "제12호 교화소"),
Hangul aliases and "<place> camp"; provinces in English and Korean. Names whose key collides
with another place are left out (they are ambiguous by nature and need context, not a
gazetteer). Deterministic: re-running gives the same file.
"""

from __future__ import annotations

import csv
import re
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from geomap.gazetteer import read_places  # noqa: E402
from geomap.romanize import ascii_fold, skeleton  # noqa: E402
from geomap.sites import camp_number, read_facilities  # noqa: E402

OUT = ROOT / "tests" / "data" / "gazetteer_labels.csv"


def rr_respelling(mr: str) -> str:
    """A rough McCune-Reischauer -> Revised Romanization respelling (ŏ->eo, ŭ->eu, k->g...)."""
    s = mr.replace("ŏ", "eo").replace("Ŏ", "Eo").replace("ŭ", "eu").replace("Ŭ", "Eu")
    s = re.sub(r"(?i)ch[’']", "ch", s)
    s = re.sub(r"(?<![’'])\bK", "G", s)
    s = re.sub(r"(?<=[aeiouŏŭ])k(?=[aeiouŏŭ])", "g", s)
    s = re.sub(r"(?<=[aeiou])ch(?=[aeiou])", "j", s)
    s = re.sub(r"[’']", "", s)
    return s


def typo(name: str) -> str | None:
    a = ascii_fold(name)
    letters = [i for i, c in enumerate(a) if c.isalpha()]
    if len(letters) < 7:
        return None
    i = letters[len(letters) // 2]
    return a[:i] + a[i + 1:]


def main() -> None:
    places = read_places()
    sites = read_facilities(ROOT / "data" / "sites" / "facilities_public.csv")
    keys = Counter(skeleton(p.name) for p in places)
    rows: list[tuple[str, str, str, str]] = []
    for p in places:
        if keys[skeleton(p.name)] > 1:
            continue
        variants = {"geonames": p.name, "ascii": ascii_fold(p.name).title(),
                    "revised": rr_respelling(p.name)}
        if p.hangul:
            variants["hangul"] = p.hangul[0]
        if t := typo(p.name):
            variants["typo"] = t
        for how, v in variants.items():
            rows.append((v, "populated_place", str(p.geonameid), how))
    for s in sites:
        n = camp_number(s)
        if n is None:
            continue
        if s.facility_type == "kwalliso":
            forms = [f"Camp {n}", f"{n}호 관리소", f"Kwalliso No. {n}", f"kwan-li-so no {n}",
                     f"political prison camp no. {n}", f"제{n}호 관리소"]
        elif s.facility_type == "kyohwaso":
            forms = [f"Kyohwaso No. {n}", f"제{n}호 교화소", f"kyo-hwa-so {n}", f"{n}호 교화소"]
        else:
            forms = []
        if s.name_ko:
            forms.append(s.name_ko)
        m = re.search(r"No\. \d+ ([^(]+?)(?: \(|$)", s.name)
        if m and s.facility_type == "kwalliso":
            forms.append(f"{ascii_fold(m[1]).title()} camp")
        for f in forms:
            rows.append((f, "site", s.key, "camp reference"))
    rows += [("Yodŏk", "site", "kwan-li-so-no-15-yodok-camp-15", "issue example"),
             ("Yodok", "site", "kwan-li-so-no-15-yodok-camp-15", "issue example"),
             ("Yoduk", "site", "kwan-li-so-no-15-yodok-camp-15", "issue example"),
             ("Yodeok", "site", "kwan-li-so-no-15-yodok-camp-15", "issue example"),
             ("요덕", "site", "kwan-li-so-no-15-yodok-camp-15", "issue example"),
             ("Yodok camp", "site", "kwan-li-so-no-15-yodok-camp-15", "issue example")]
    for code, en, ko in [("KP.HG", "Hamgyŏng-bukto", "함경북도"), ("KP.HN", "Hamgyong-namdo", "함경남도"),
                         ("KP.YG", "Ryanggang-do", "량강도"), ("KP.CH", "Chagang", "자강도"),
                         ("KP.PB", "Pyongan-bukto", "평안북도"), ("KP.PN", "P'yŏngan-namdo", "평안남도"),
                         ("KP.WB", "Hwanghae-bukto", "황해북도"), ("KP.WN", "Hwanghae-namdo", "황해남도"),
                         ("KP.KW", "Kangwon-do", "강원도")]:
        rows += [(en, "province", code, "province"), (ko, "province", code, "province")]
    rows = list(dict.fromkeys(rows))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with OUT.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["query", "expected_kind", "expected_ref", "variant"])
        w.writerows(rows)
    print(f"{len(rows)} labelled variants -> {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
