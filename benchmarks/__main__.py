"""`python -m benchmarks [production | cpu] [options]`.

`production` (the default): the production-like scenarios (`benchmarks.production`).
`cpu`: the loopback CPU suite (`benchmarks.runner`). Both write their own section of
docs/benchmarks.md; `--help` on either lists its options.
"""

import sys

from benchmarks import production, runner

argv = sys.argv[1:]
if argv[:1] == ["cpu"]:
    raise SystemExit(runner.main(argv[1:]))
raise SystemExit(production.main(argv[1:] if argv[:1] == ["production"] else argv))
