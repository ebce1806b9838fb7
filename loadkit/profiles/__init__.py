"""Production traffic profiles: import them from access logs, a CSV rate series or Prometheus (docs/profiles.md).

Importing this package is cheap (standard library only); numpy and matplotlib load when a
summary or chart is made.
"""

from .command import ImportReport, add_import_arguments, default_output, import_profile, run_import
from .exclude import STATIC_EXTENSIONS, Exclusion
from .logs import LOG_FORMATS, parse_json_fields, profile_from_logs, sniff
from .mix import OTHER, BlockMix
from .profile import (
    DEFAULT_MAX_ENDPOINTS,
    FORMAT_VERSION,
    READABLE_FORMATS,
    Endpoint,
    Malformed,
    PeakWindow,
    Profile,
    ProfileFiles,
    ProfileSummary,
    SourceInfo,
    StatusShare,
)
from .sources import RatePoint, parse_time_arg, profile_from_points, profile_from_prometheus, profile_from_rate_csv
from .store import load_profile, save_profile
from .summary import render_chart, summarize, summary_json
from .templates import endpoint_of_request, split_endpoint, template_path
from .timestamps import parse_timestamp
from .window import Window, WindowPart, peak_window, select_window, standard_windows, window_parts

__all__ = [
    "DEFAULT_MAX_ENDPOINTS", "FORMAT_VERSION", "LOG_FORMATS", "OTHER", "READABLE_FORMATS", "STATIC_EXTENSIONS",
    "BlockMix", "Endpoint", "Exclusion", "ImportReport", "Malformed", "PeakWindow", "Profile", "ProfileFiles",
    "ProfileSummary", "RatePoint", "SourceInfo", "StatusShare", "Window", "WindowPart", "add_import_arguments",
    "default_output", "endpoint_of_request", "import_profile", "load_profile", "parse_json_fields",
    "parse_time_arg", "parse_timestamp", "peak_window", "profile_from_logs", "profile_from_points",
    "profile_from_prometheus", "profile_from_rate_csv", "render_chart", "run_import", "save_profile",
    "select_window", "sniff", "split_endpoint", "standard_windows", "summarize", "summary_json",
    "template_path", "window_parts",
]
