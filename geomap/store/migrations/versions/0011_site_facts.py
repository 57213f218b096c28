"""Site facts of the structured public list: authority, precision extent, operating years,
status, confidence, public note, staff research note, and citations (issue 11).

Sites imported from the raw list (facilities_public.csv) take the keys the structured list
(facilities.csv) gives the same facilities, so links and decisions stay on them; their facts
arrive with the next `geomap sites import-public` (or `geomap init`).

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

# raw list key (a slug of its name) -> structured list key; frozen here as of this revision
LEGACY_KEYS = {
    "kwan-li-so-no-14-kaechon-camp-14": "kwalliso-14-kaechon",
    "kwan-li-so-no-15-yodok-camp-15": "kwalliso-15-yodok",
    "kwan-li-so-no-16-hwasong-camp-16": "kwalliso-16-hwasong",
    "kwan-li-so-no-25-chongjin-camp-25": "kwalliso-25-chongjin",
    "ch-oma-bong-restricted-area": "choma-bong-restricted-area",
    "kyo-hwa-so-no-12-jongo-ri-chongori": "kyohwaso-12-jongo-ri",
    "kyo-hwa-so-no-4-kangdong": "kyohwaso-4-kangdong",
    "pokchong-ni-kyo-hwa-so": "kyohwaso-pokchong-ni",
    "kyo-hwa-so-no-1-kaechon": "kyohwaso-1-kaechon",
    "kwan-li-so-no-18-pukchang-camp-18": "kwalliso-18-pukchang",
    "kwan-li-so-no-22-hoeryong-camp-22": "kwalliso-22-hoeryong",
    "kyo-hwa-so-no-9-hamhung": "kyohwaso-9-hamhung",
    "kwan-li-so-no-11-kyongsong": "kwalliso-11-kyongsong",
    "kwan-li-so-no-12-onsong": "kwalliso-12-onsong",
    "kwan-li-so-no-13-chongsong-changpyong": "kwalliso-13-chongsong",
    "kyo-hwa-so-no-3-sinuiju": "kyohwaso-3-sinuiju",
    "kyo-hwa-so-no-8-yongdam-ryongdam": "kyohwaso-8-yongdam",
    "kyo-hwa-so-no-11-chungsan": "kyohwaso-11-chungsan",
    "kyo-hwa-so-no-77-tanch-on": "kyohwaso-77-tanchon",
    "north-hamgyong-provincial-mps-holding-centre-nongpo-jipkyulso-chongjin":
        "jipkyulso-chongjin-nongpo",
    "ryanggang-provincial-mps-holding-centre-hyesan": "jipkyulso-hyesan-mps",
    "ryanggang-provincial-mss-holding-centre-hyesan": "jipkyulso-hyesan-mss",
    "north-pyongan-provincial-mps-holding-centre-sinuiju": "jipkyulso-sinuiju-mps",
    "north-pyongan-provincial-mss-detention-centre-sinuiju": "kuryujang-sinuiju-mss",
    "onsong-county-mss-detention-centre": "kuryujang-onsong-mss",
    "onsong-county-mps-detention-centre": "kuryujang-onsong-mps",
    "hoeryong-city-mss-detention-centre": "kuryujang-hoeryong-mss",
    "hoeryong-city-mps-detention-centre": "kuryujang-hoeryong-mps",
    "musan-county-mss-detention-centre": "kuryujang-musan-mss",
    "musan-county-mps-detention-centre": "kuryujang-musan-mps",
}


def upgrade() -> None:
    with op.batch_alter_table("sites", recreate="never") as b:
        b.add_column(sa.Column("authority", sa.String(8)))
        b.add_column(sa.Column("name_ko_composed", sa.Boolean, nullable=False,
                               server_default="0"))
        b.add_column(sa.Column("extent_km2", sa.Float))
        b.add_column(sa.Column("opened", sa.Integer))
        b.add_column(sa.Column("opened_approx", sa.Boolean, nullable=False, server_default="0"))
        b.add_column(sa.Column("closed", sa.Integer))
        b.add_column(sa.Column("closed_approx", sa.Boolean, nullable=False, server_default="0"))
        b.add_column(sa.Column("status", sa.String(24)))
        b.add_column(sa.Column("confidence", sa.String(8)))
        b.add_column(sa.Column("note", sa.Text))
        b.add_column(sa.Column("research_note", sa.Text))
    op.create_table(
        "site_sources",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("site_id", sa.Integer, sa.ForeignKey("sites.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("publisher", sa.Text, nullable=False),
        sa.Column("title", sa.Text),
        sa.Column("url", sa.Text),
        sa.Column("date", sa.String(32)),
        sa.Column("supports", sa.Text, nullable=False, server_default=""),
        sa.Column("accessed_via", sa.Text),
        sa.Column("point_source", sa.Boolean, nullable=False, server_default="0"),
        sa.Column("detail", sa.Text),
    )
    op.create_index("ix_site_sources_site", "site_sources", ["site_id", "position"])
    conn = op.get_bind()
    sites = sa.table("sites", sa.column("id", sa.Integer), sa.column("key", sa.String))
    taken = {k for (k,) in conn.execute(sa.select(sites.c.key))}
    for old, new in LEGACY_KEYS.items():
        if old in taken and new not in taken:
            conn.execute(sites.update().where(sites.c.key == old).values(key=new))
            taken.add(new)


def downgrade() -> None:
    conn = op.get_bind()
    sites = sa.table("sites", sa.column("key", sa.String))
    for old, new in LEGACY_KEYS.items():
        conn.execute(sites.update().where(sites.c.key == new).values(key=old))
    op.drop_index("ix_site_sources_site", "site_sources")
    op.drop_table("site_sources")
    with op.batch_alter_table("sites") as b:
        for c in ("authority", "name_ko_composed", "extent_km2", "opened", "opened_approx",
                  "closed", "closed_approx", "status", "confidence", "note", "research_note"):
            b.drop_column(c)
