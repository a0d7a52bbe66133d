"""Matting metrics (SAD, MSE, MAD, Grad, Conn), instance matting quality and trimaps."""

from mamcli.metrics.imq import ImqCounts, instance_counts, match_instances
from mamcli.metrics.matting import METRICS, REPORT_SCALE, matting_errors, to_report_units
from mamcli.metrics.trimap import generate_trimap, unknown_region

__all__ = [
    "METRICS",
    "REPORT_SCALE",
    "ImqCounts",
    "generate_trimap",
    "instance_counts",
    "match_instances",
    "matting_errors",
    "to_report_units",
    "unknown_region",
]
