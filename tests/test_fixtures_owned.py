"""Tests and the package read nothing outside the repository (issue 12, item 6): the test
fixtures live in tests/data, the runtime reference data in data/."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# built from pieces so this file does not match itself
OUTSIDE = re.compile("|".join([re.escape("../" + "shared"), re.escape("shared" + "/data"),
                               r'/\s*"' + "shared" + r'"', r'"' + "shared" + r'"\s*/']))


def test_no_test_or_package_file_reads_the_shared_folder():
    hits = []
    for folder in ("tests", "geomap"):
        for path in (ROOT / folder).rglob("*.py"):
            for n, line in enumerate(path.read_text("utf-8").splitlines(), 1):
                if OUTSIDE.search(line):
                    hits.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not hits, "reads outside the repository:\n" + "\n".join(hits)


def test_the_raw_boundary_fixture_is_in_the_repository_with_its_attribution():
    raw = ROOT / "tests" / "data" / "prk_admin1_natural_earth_raw.geojson"
    assert raw.is_file()
    attribution = (ROOT / "tests" / "data" / "ATTRIBUTION.md").read_text("utf-8")
    assert raw.name in attribution and "Natural Earth" in attribution
