"""Make the README's contact sheet from a `mam matte samples -o OUT` run.

python examples/contact_sheet.py OUT docs/contact_sheet.png
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2

from mamcli.imaging.compose import contact_sheet
from mamcli.imaging.read import read_alpha, read_rgb
from mamcli.imaging.write import write_image


def main(out: Path, target: Path, samples: Path = Path("samples")) -> None:
    rows = []
    for image in sorted(samples.glob("*.png")):
        alpha = read_alpha(out / "alpha" / image.name)
        cutout = cv2.imread(str(out / "cutout" / image.name), cv2.IMREAD_UNCHANGED)
        composite = read_rgb(out / "composite" / f"{image.stem}.jpg")
        cutout = cv2.cvtColor(cutout, cv2.COLOR_BGRA2RGBA)
        rows.append((read_rgb(image), alpha.astype("float32") / 255, cutout, composite))
    write_image(target, contact_sheet(rows, tile=(150, 200)))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
