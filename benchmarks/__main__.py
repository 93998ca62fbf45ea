"""`python -m benchmarks`: run the whole suite and write docs/benchmarks.md."""

from benchmarks.runner import main

raise SystemExit(main())
