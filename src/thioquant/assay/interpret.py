"""Compatibility module: the clinical layer now lives in :mod:`thioquant.clinical`.

This module is a thin re-export of :mod:`thioquant.clinical`'s public names, kept for this
release so that code importing ``thioquant.assay.interpret`` (the pipeline, reports, other
branches' work in progress) keeps working. New code imports from :mod:`thioquant.clinical`.
``NOT_INTERPRETED_FLAGS`` is defined once, in :mod:`thioquant.clinical.tables`.
"""

from thioquant.clinical import *  # noqa: F403 - the re-export is the point of this module
from thioquant.clinical import __all__  # noqa: F401
