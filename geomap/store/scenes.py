"""Persistence of imagery scenes (SQL stays here)."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from sqlalchemy import select

from .schema import audit_log, scenes

if TYPE_CHECKING:
    from .protocol import StoreLike


class SceneStore:
    def __init__(self, store: StoreLike):
        self.store = store

    def by_sha(self, sha: str):
        with self.store.read() as conn:
            return conn.execute(select(scenes.c.id).where(scenes.c.sha256 == sha)).scalar()

    def add(self, scene, actor: str) -> None:
        from ..imagery import scene_row

        details = {"sha256": scene.sha256, "name": scene.original_name,
                   "acquired": scene.acquired.isoformat()}
        if scene.working_sha256:  # the working copy's hash, kept where verify can check it
            details.update(working_copy=scene.working_copy,
                           working_sha256=scene.working_sha256)
        with self.store.audited(actor, "imagery.add", f"scene:{scene.id}", details) as conn:
            conn.execute(scenes.insert().values(**scene_row(scene, actor)))

    def working_hashes(self) -> dict[str, str]:
        """scene id -> SHA-256 of its working copy, from the imagery.add audit entries (the
        scenes table has no column for it; scenes added before it was recorded are absent)."""
        import json

        out = {}
        with self.store.read() as conn:
            rows = conn.execute(select(audit_log.c.target, audit_log.c.details)
                                .where(audit_log.c.action == "imagery.add")
                                .order_by(audit_log.c.id))
            for r in rows:
                try:
                    sha = json.loads(r.details).get("working_sha256")
                except (ValueError, AttributeError):
                    continue
                if sha and (r.target or "").startswith("scene:"):
                    out[r.target.removeprefix("scene:")] = sha
        return out

    def tile_info(self, scene_id: str) -> dict | None:
        """What serving a tile needs (no footprint parsing): tier, hash, bands, display range."""
        import json

        with self.store.read() as conn:
            r = conn.execute(select(scenes.c.tier, scenes.c.sha256, scenes.c.bands,
                                    scenes.c.rescale).where(scenes.c.id == scene_id)).first()
        if r is None:
            return None
        return {"tier": r.tier, "sha256": r.sha256, "bands": r.bands,
                "rescale": json.loads(r.rescale) if r.rescale else None}

    def get(self, scene_id: str, viewer):
        from ..imagery import scene_from_row

        with self.store.read() as conn:
            r = conn.execute(select(scenes).where(
                scenes.c.id == scene_id, scenes.c.tier.in_([str(t) for t in viewer.tiers]))).first()
        return scene_from_row(r) if r else None

    def list(self, viewer, bbox=None, since: date | None = None, until: date | None = None):
        """Scenes `viewer` may see, oldest first; with `bbox`, those whose footprint meets it."""
        import shapely
        from shapely.geometry import box

        from ..imagery import scene_from_row

        q = select(scenes).where(scenes.c.tier.in_([str(t) for t in viewer.tiers])) \
            .order_by(scenes.c.acquired, scenes.c.id)
        if since:
            q = q.where(scenes.c.acquired >= since)
        if until:
            q = q.where(scenes.c.acquired <= until)
        if bbox is not None:
            minx, miny, maxx, maxy = bbox
            q = q.where(scenes.c.minx <= maxx, scenes.c.maxx >= minx, scenes.c.miny <= maxy,
                        scenes.c.maxy >= miny)
        with self.store.read() as conn:
            out = [scene_from_row(r) for r in conn.execute(q)]
        if bbox is not None:
            b = box(*bbox)
            out = [s for s in out if shapely.intersects(s.footprint, b)]
        return out
