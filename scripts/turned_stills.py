"""Faces turned by any angle: the labelled stills of ../shared/eval turned, anonymized, turned back.

Each still is turned by each angle (Pillow, the frame grown to hold it), anonymized as a photo
by vidanon with the given arguments, and turned back; a labelled face counts as hidden when
less than half its detail is left (``evaluate.detail_kept``, on grey levels). Prints the faces
hidden at each angle, e.g.::

    python scripts/turned_stills.py                     # the default
    python scripts/turned_stills.py --turned-faces      # the turned passes too
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from evaluate import SHARED, detail_kept  # noqa: E402

from vidanon.evaluation import load_stills  # noqa: E402

ANGLES = (0, 30, 45, 60, 90, 135, 180, 270)


def hidden_at(angle: int, stills, extra: list[str], work: Path) -> int:
    hidden = 0
    for still in stills:
        image = Image.open(still.path).convert("RGB")
        turned = image.rotate(angle, expand=True, resample=Image.Resampling.BICUBIC)
        src, out = work / f"in_{angle}_{Path(still.path).stem}.png", work / f"out_{angle}_{Path(still.path).stem}.png"
        turned.save(src)
        subprocess.run([sys.executable, "-m", "vidanon", str(src), str(out), "-y", "-qq", *extra], check=True, cwd=ROOT)
        w, h = image.size
        back_in = turned.rotate(-angle, expand=True, resample=Image.Resampling.BICUBIC)
        back_out = Image.open(out).convert("RGB").rotate(-angle, expand=True, resample=Image.Resampling.BICUBIC)
        left, top = (back_in.width - w) // 2, (back_in.height - h) // 2
        a = np.asarray(back_in, np.float64)[top : top + h, left : left + w].mean(axis=2)
        b = np.asarray(back_out, np.float64)[top : top + h, left : left + w].mean(axis=2)
        for x1, y1, x2, y2 in np.asarray(still.boxes, int):
            hidden += detail_kept(a[y1:y2, x1:x2], b[y1:y2, x1:x2]) < 0.5
    return hidden


def main() -> None:
    if not SHARED.is_dir():
        raise SystemExit(f"{SHARED} not found: the stills are in ../shared/eval beside the project")
    stills = [s for xml in ("training.xml", "testing.xml") for s in load_stills(SHARED / "stills" / xml)]
    faces = sum(len(s.boxes) for s in stills)
    with tempfile.TemporaryDirectory(prefix="vidanon-turned-") as work:
        for angle in ANGLES:
            print(f"{angle:4d} degrees: {hidden_at(angle, stills, sys.argv[1:], Path(work))}/{faces} faces hidden",
                  flush=True)


if __name__ == "__main__":
    main()
