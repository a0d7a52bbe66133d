"""What `mam eval` found: one ImageResult per GT file, gathered in an EvalReport."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from mamcli.eval.imq import ImqCounts
from mamcli.eval.manifest import Manifest
from mamcli.eval.metrics import METRICS, to_report_units


@dataclass
class ImageResult:
    """The evaluation of one GT file (or, for instances, one GT folder).

    errors: region ("whole", "trimap") -> metric -> raw value (see metrics.matting);
    instances: matching counts for IMQ; error: why this file could not be evaluated;
    warning: something the reader should know (e.g. an empty unknown region);
    notes: remarks from decoding the prediction (e.g. an RGBA's alpha channel used);
    thumbnails: encoded pictures for the HTML report, when asked for; max_error: the
    largest |pred - GT| in [0, 1] (the heat map's top colour).
    """

    path: str
    errors: dict[str, dict[str, float]] | None = None
    instances: ImqCounts | None = None
    gt_count: int = 0
    pred_count: int = 0
    error: str | None = None
    warning: str | None = None
    notes: list[str] = field(default_factory=list)
    thumbnails: dict[str, bytes] | None = None
    max_error: float | None = None


@dataclass
class EvalReport:
    """Everything `mam eval` found: per-file results, unmatched files and the settings.

    trimap_source is "given", "generated" or None (no trimap region); missing lists GT
    paths without a prediction, extra lists predictions without GT; hint says why no
    prediction matched, when the folders look swapped; manifest is the prediction root's.
    """

    gt_root: str
    pred_root: str
    instances: bool
    trimap_source: str | None
    images: list[ImageResult]
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    skip_missing: bool = False
    hint: str | None = None
    manifest: Manifest | None = None

    @property
    def regions(self) -> tuple[str, ...]:
        return ("whole", "trimap") if self.trimap_source else ("whole",)

    @property
    def evaluated(self) -> list[ImageResult]:
        """Results with numbers (no error, prediction present)."""
        missing = set(self.missing)
        return [r for r in self.images if r.error is None and r.path not in missing]

    @property
    def failed(self) -> list[ImageResult]:
        return [r for r in self.images if r.error is not None]

    @property
    def exit_code(self) -> int:
        """0 when every GT file was evaluated, 1 when some failed or are missing (missing
        instance folders left out on purpose with skip_missing do not count)."""
        counted_missing = self.missing and not (self.instances and self.skip_missing)
        return 1 if counted_missing or self.failed else 0

    def mean(self) -> dict[str, dict[str, float]]:
        """Mean over images per region, in report units; NaN values (MSE and MAD over an
        empty unknown region) are left out of their metric's mean."""
        means = {}
        for region in self.regions:
            rows = [to_report_units(r.errors[region]) for r in self.evaluated if r.errors]
            means[region] = {m: _nanmean([row[m] for row in rows]) for m in METRICS}
        return means

    def imq(self) -> dict[str, object]:
        """IMQ, RQ and MQ over the whole set (instances mode). Images without a prediction
        folder count their GT instances as misses unless skip_missing was set."""
        total = ImqCounts()
        for result in self.images:
            skipped = self.skip_missing and result.path in self.missing
            if result.instances is not None and not skipped:
                total = total + result.instances
        return total.scores()


def _nanmean(values: list[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return sum(finite) / len(finite) if finite else math.nan
