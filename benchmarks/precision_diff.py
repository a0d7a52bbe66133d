"""How far each precision's alphas are from fp32 on real photos: the bundled samples.

python benchmarks/precision_diff.py [--samples samples] [--model vit_b] [--size 1024]

Runs every image of the samples folder with its own box prompts (sidecars, boxes.json)
through MattingAnything at fp32 with segment-anything's attention and the plain M2M (the
reference arithmetic), then with the default fast settings at fp32, bf16, fp16 and int8, and
prints |alpha - reference alpha| in 8-bit levels. Weights are random (no pretrained weights
can be downloaded here), with M2M's spectral norms converged as in a trained checkpoint:
the alphas mean nothing, but the differences show the arithmetic each setting changes.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
from common import build_models

VARIANTS = ("fp32", "bf16", "fp16", "int8")


def sample_prompts(folder: Path) -> list[tuple[Path, list]]:
    """(image path, instances) for every sample image, prompts found as `mam matte` finds them."""
    from mamcli.imaging.read import load_rgb
    from mamcli.matte.inputs import find_images
    from mamcli.prompts.sources import PromptSources

    sources = PromptSources(boxes_file=folder / "boxes.json")
    found = []
    for item in find_images([folder]):
        rgb = load_rgb(item.path).rgb
        prompts = sources.prompts_for(item, (rgb.shape[1], rgb.shape[0]))
        if prompts is not None:
            found.append((item.path, prompts.instances))
    return found


def alphas_8bit(model, samples: list[tuple[Path, list]]) -> list[np.ndarray]:
    from mamcli.imaging.read import load_rgb
    from mamcli.imaging.write import alpha_to_uint

    out = []
    for path, instances in samples:
        encoded = model.encode([model.sam.prepare(load_rgb(path).rgb)])[0]
        out += [alpha_to_uint(m.alpha).astype(np.int16) for m in model.matte(encoded, instances)]
    return out


def main(argv: list[str] | None = None) -> None:
    from mamcli.model.api import REFERENCE_OPTIONS, InferenceOptions

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=Path, default=Path("samples"))
    parser.add_argument("--model", choices=("vit_b", "tiny"), default="vit_b")
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", message=".*SAM found no mask.*")

    models = build_models(args.model, args.size, args.device)
    samples = sample_prompts(args.samples)
    count = sum(len(instances) for _, instances in samples)
    print(f"{len(samples)} sample images, {count} instances, {args.model} at {args.size} px")
    reference = alphas_8bit(models.matting("fp32", REFERENCE_OPTIONS), samples)
    print(f"{'setting':<22}{'max':>6}{'mean':>8}{'> 1 level':>11}")
    for precision in VARIANTS:
        alphas = alphas_8bit(models.matting(precision, InferenceOptions()), samples)
        pairs = zip(alphas, reference, strict=True)
        levels = np.concatenate([np.abs(a - r).ravel() for a, r in pairs])
        print(
            f"{'fast, ' + precision:<22}{levels.max():>6}{levels.mean():>8.3f}"
            f"{(levels > 1).mean():>10.4%}"
        )
    print("levels: |alpha - alpha of fp32 with the reference attention and plain M2M| x 255")


if __name__ == "__main__":
    sys.exit(main())
