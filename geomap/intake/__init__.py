"""Testimony intake: read CSV / XLSX / GeoJSON / KML / KMZ, validate every row with reasons a
person understands, store the good rows and quarantine the rest, exactly once."""
