"""What a classified review file says beyond counts: reasons, groups, periods and rows to be careful with.

Pure functions over the batch job's result frame; no gradio, no model calls. Rooms:

- :mod:`.taxonomy`: the curated aspects and their words, evaluation and default-review lists
- :mod:`.reasons`: taxonomy aspects plus reasons discovered in the file (log-odds, informative prior)
- :mod:`.columns` and :mod:`.dates`: which column is a group, a date, a star rating; date parsing
- :mod:`.flags`: default reviews, templates, filler, rating–text mismatches
- :mod:`.report`: :func:`build_insights` and :class:`Insights` (JSON, XLSX sheets)
"""

from .dates import parse_dates
from .flags import FLAG_ORDER, find_flags
from .reasons import Reason
from .report import AUTO, FLAG_COLUMN, Insights, build_insights

__all__ = ["AUTO", "FLAG_COLUMN", "FLAG_ORDER", "Insights", "Reason", "build_insights", "find_flags", "parse_dates"]
