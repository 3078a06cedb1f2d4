"""The feeds as outbound channels: RSS 2.0 and Atom of published posts and alerts (``feed``), and the CAP
1.2 Atom index of the active alerts with each alert message's CAP file (``cap``).

Both are pull channels: readers fetch them, they are rendered from the database on every request
(``broadcasts.published`` reads, ``broadcasts.feeds`` renders), so a post or alert is on them as soon as
it is published and gone when it ends; the outbox never sends to them. Always on (no settings needed);
``KOBLENZ_BOT_PUBLIC_URL`` sets the base of their links (otherwise the request's origin).

Routes (handed to the root through ``connectors.registry.routes``; the URLs are public contracts)::

    GET /feeds/rss.xml, /feeds/atom.xml         published posts and alerts, newest first
    GET /feeds/cap.atom                         Atom index of the active alerts, each embedding its CAP
    GET /alerts/{identifier}.cap.xml            one alert message as stored CAP XML
    GET /cap/{identifier}.xml                   the same (the URL the CAP feed links to)

Errors: ``routes.FeedNotFound`` (404, ``core.KoblenzError``) for an unknown or non-public alert.
"""
