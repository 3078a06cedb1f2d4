"""The reviewed reference data of Koblenz: services, offices, Stadtteile (``data/*.yml``), the aspects a
question can be about, and the one Stadtteil detector. Pure data and matching; the only I/O beyond
loading is the link check (``catalog.links``: HTTP to the catalog's links, its result in the state dir).

Exception tree::

    CatalogError            a catalog record does not validate (file and field named)
"""

from __future__ import annotations

from core import KoblenzError


class CatalogError(KoblenzError):
    """A catalog record is invalid."""
