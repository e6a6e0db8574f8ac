"""``python -m benchmarks``: see :mod:`benchmarks.cli`."""

import sys

from benchmarks.threads import preset_from_argv

# Before NumPy is imported: without threadpoolctl, --threads works only through the
# BLAS's environment variables, read when the library loads.
preset_from_argv(sys.argv[1:])

from benchmarks.cli import main  # noqa: E402

sys.exit(main())
