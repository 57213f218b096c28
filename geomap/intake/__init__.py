"""Testimony intake: read CSV / XLSX / GeoJSON / KML / KMZ, validate every row with reasons a
person understands, store the good rows and quarantine the rest, exactly once."""

# rows a transaction of a testimony import (geomap.intake.run): fewer commits, each an fsync
# and a rewrite of every index page the batch touched (content keys and witness references
# land on random pages). Memory holds a chunk of a batch at a time, not the batch.
BATCH_ROWS = 20_000
