"""``python -m vidanon`` and the ``vidanon`` command: Ctrl-C is handled before anything heavy
is imported (see :mod:`vidanon.interrupt`)."""

import sys

from .interrupt import Interrupted, cause, install, raise_pending


def main() -> int:
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
