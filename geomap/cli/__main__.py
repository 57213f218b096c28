"""`python -m geomap.cli` (tests and benchmarks run the command line this way)."""

from . import main

main()
