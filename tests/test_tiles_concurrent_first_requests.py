"""Regression: the first tile requests of a fresh server process, arriving together on several
threads, failed with "ImportError: cannot import name 'Reader' from 'rio_tiler.io'" (each
thread imported rio_tiler inside the request; one saw the module half-initialised) and some
tiles answered 500. Run in a fresh interpreter, so nothing has imported rio_tiler before."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date

from .conftest import solid_geotiff

SCRIPT = r"""
import json, sys, threading
from geomap.config import load_settings
from geomap.policy import Principal, Role
from geomap.store import Store
from geomap import tiles
settings = load_settings(sys.argv[1])
store = Store.for_instance(settings)
viewer = Principal(None, "t", Role.ADMIN)
barrier = threading.Barrier(12)
out = []
def one(i):
    barrier.wait()
    try:
        t = tiles.scene_tile(store, settings, viewer, sys.argv[2], *((13, 6983, 3109), (12, 3491, 1554))[i % 2])
        out.append(("ok", len(t.body) if hasattr(t, "body") else 1))
    except Exception as e:  # the failure this pins
        out.append(("error", repr(e)))
threads = [threading.Thread(target=one, args=(i,)) for i in range(12)]
for t in threads: t.start()
for t in threads: t.join()
print(json.dumps(out))
"""


def test_first_tiles_on_many_threads_do_not_fail_importing_the_reader(tmp_path, settings, store):
    from geomap.imagery import ingest
    from geomap.store.scenes import SceneStore

    scene = ingest(solid_geotiff(tmp_path / "s.tif", (126.86, 39.69, 126.93, 39.74), 0),
                   settings.instance_path / "imagery", date(2014, 6, 1), actor="t")
    SceneStore(store).add(scene, actor="t")
    run = subprocess.run([sys.executable, "-c", SCRIPT, str(settings.instance_path), scene.id],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    results = json.loads(run.stdout.strip().splitlines()[-1])
    assert len(results) == 12
    assert [r for r in results if r[0] != "ok"] == [], results
