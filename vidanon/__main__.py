"""``python -m vidanon`` and the ``vidanon`` command: Ctrl-C is handled before anything heavy
is imported (see :mod:`vidanon.interrupt`)."""

import os
import sys

from .console import standard_streams
from .interrupt import Interrupted, cause, install, raise_pending

# NumPy's BLAS (OpenBLAS) starts a thread per core for a matrix product and keeps them
# spinning between products; the effects and the tracker make thousands of small ones a
# frame, in stages that already run side by side: on the marathon crowd (2 cores) the
# spinning took 3 CPU-seconds of 25 and saved no time. One thread, unless the user set it.
BLAS_THREADS = {"OPENBLAS_NUM_THREADS": "1"}


def main() -> int:
    standard_streams()  # before any file is opened: none takes a closed stream's number
    for name, value in BLAS_THREADS.items():
        os.environ.setdefault(name, value)  # before NumPy is imported
    install()
    try:
        from .cli import main as cli_main

        raise_pending()
    except (Interrupted, ImportError) as exc:
        if cause(exc) is None:
            raise
        print("vidanon: interrupted; no output was written", file=sys.stderr)
        return cause(exc).exit_code
    return cli_main()


if __name__ == "__main__":
    sys.exit(main())
