"""``python scripts/with_decoders.py N ARGS...``: vidanon's command with N decode threads
(:func:`vidanon.runner.decode_workers`) instead of its rule, to measure the rule on a machine
with many cores (scripts/gpu_check.sh)."""

import sys

import vidanon.runner as runner
from vidanon.__main__ import main

if __name__ == "__main__":
    count = int(sys.argv.pop(1))
    runner.decode_workers = lambda: count
    sys.exit(main())
