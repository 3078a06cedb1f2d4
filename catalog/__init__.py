"""The reviewed reference data of Koblenz: services, offices, Stadtteile (``data/*.yml``), the aspects a
question can be about, and the one Stadtteil detector. Pure data and matching; no I/O beyond loading.

Exception tree::

    CatalogError            a catalog record does not validate (file and field named)
"""

from __future__ import annotations

from core import KoblenzError


class CatalogError(KoblenzError):
    """A catalog record is invalid."""
