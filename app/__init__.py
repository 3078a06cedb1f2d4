"""The composition root: the aiohttp application factory (``app.web``), the command line (``app.cli``) and
the OpenAPI description of the assembled API. It wires every package; nothing imports it."""
