"""Copy the front-end files geomap serves from its own origin out of node_modules.

Run after `npm ci`. Only what the pages use is copied, so the static folder stays small and no
page ever needs a CDN. Fonts: Noto Sans KR (regular and bold) so Hangul renders the same on every
machine; only the woff2 files are kept (every browser that runs Leaflet 1.9 reads woff2).
Pretendard (OFL, TrueType) is the font of the server-rendered report figures (English and Korean
alike), so they look the same on a fresh machine with no system fonts.
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NODE = ROOT / "node_modules"
DEST = ROOT / "geomap" / "web" / "static" / "vendor"

COPIES = {
    "leaflet/dist/leaflet.js": "leaflet/leaflet.js",
    "leaflet/dist/leaflet.css": "leaflet/leaflet.css",
    "leaflet/dist/images": "leaflet/images",
    "leaflet/LICENSE": "leaflet/LICENSE",
    "leaflet.markercluster/dist/leaflet.markercluster.js": "markercluster/leaflet.markercluster.js",
    "leaflet.markercluster/dist/MarkerCluster.css": "markercluster/MarkerCluster.css",
    "leaflet.markercluster/dist/MarkerCluster.Default.css": "markercluster/MarkerCluster.Default.css",
    "leaflet.markercluster/MIT-LICENCE.txt": "markercluster/LICENSE",
    "@fontsource/noto-sans-kr/LICENSE": "fonts/noto-sans-kr/LICENSE",
    # drawing tools (site perimeters, later imagery annotations); its icons are data: URIs
    "@geoman-io/leaflet-geoman-free/dist/leaflet-geoman.min.js": "geoman/leaflet-geoman.min.js",
    "@geoman-io/leaflet-geoman-free/dist/leaflet-geoman.css": "geoman/leaflet-geoman.css",
    "@geoman-io/leaflet-geoman-free/LICENSE": "geoman/LICENSE",
    # report figures (geomap/figures.py): matplotlib needs TrueType outlines to embed the font
    # in a PDF (Type 42), so the "alternative" TTFs rather than the OTF/CFF ones
    "pretendard/dist/public/static/alternative/Pretendard-Regular.ttf":
        "fonts/pretendard/Pretendard-Regular.ttf",
    "pretendard/dist/public/static/alternative/Pretendard-Bold.ttf":
        "fonts/pretendard/Pretendard-Bold.ttf",
    "pretendard/dist/LICENSE.txt": "fonts/pretendard/LICENSE",
}
FONT_WEIGHTS = ("400", "700")


def copy_fonts() -> int:
    """Both weights in one minified stylesheet: one render-blocking request instead of two."""
    src_dir = NODE / "@fontsource" / "noto-sans-kr"
    out_dir = DEST / "fonts" / "noto-sans-kr"
    (out_dir / "files").mkdir(parents=True, exist_ok=True)
    count = 0
    combined = []
    for weight in FONT_WEIGHTS:
        css = (src_dir / f"{weight}.css").read_text(encoding="utf-8")
        # keep the woff2 source only
        css = re.sub(r",\s*url\(\./files/[^)]+\.woff\) format\('woff'\)", "", css)
        for name in re.findall(r"url\(\./files/([^)]+\.woff2)\)", css):
            shutil.copy2(src_dir / "files" / name, out_dir / "files" / name)
            count += 1
        combined.append(css)
    css = re.sub(r"/\*.*?\*/", "", "\n".join(combined), flags=re.S)
    css = re.sub(r"\s*([{};:,])\s*", r"\1", css)
    css = css.replace("font-family:'Noto Sans KR';font-style:normal;", "font-family:'Noto Sans KR';")
    (out_dir / "noto-sans-kr.css").write_text(css.strip() + "\n", encoding="utf-8")
    return count


def main() -> int:
    if not NODE.is_dir():
        print("node_modules/ is missing: run `npm ci` first", file=sys.stderr)
        return 1
    if DEST.exists():
        shutil.rmtree(DEST)
    for src, dst in COPIES.items():
        s, d = NODE / src, DEST / dst
        d.parent.mkdir(parents=True, exist_ok=True)
        if s.is_dir():
            shutil.copytree(s, d)
        else:
            shutil.copy2(s, d)
    fonts = copy_fonts()
    print(f"vendored {len(COPIES)} asset paths and {fonts} font files into {DEST.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
