"""The seam between tweepy and the network: every X call goes to ``KOBLENZ_BOT_X_API_URL``.

tweepy 4.17's ``Client.request`` fixes its host (``host = "https://api.twitter.com"``, a local variable)
and sends through ``self.session.request(method, host + route, params=..., json=..., headers=...,
auth=OAuth1(...))`` — the only thing it asks of its ``session``. :class:`XSession` is put in that place
(``client.session = XSession(...)``): it rewrites the fixed host to the configured base *before* requests
prepares the request, so the OAuth 1.0a signature is computed over the URL that is really called (a rewrite
in a transport adapter would come after signing and the signature would name the wrong host), and it
gives every call a timeout (tweepy sets none; a hung connection would hold a worker thread for ever).

Nothing is subclassed: the tweepy client is used as it is, the requests session is held, not extended. The
media upload (which tweepy does not have for API v2) goes through the same session with the same OAuth 1.0a
signing (``requests_oauthlib.OAuth1``, as tweepy builds it).
"""

from __future__ import annotations

from typing import Any

import requests
from requests_oauthlib import OAuth1

# the hosts tweepy (and its older or newer versions) may put before a route
FIXED_HOSTS = ("https://api.twitter.com", "https://api.x.com")
USER_AGENT = "koblenz-bot (tweepy)"


class XSession:
    """What tweepy needs of a session (``request``), with the base URL rewritten and a timeout set."""

    def __init__(self, base_url: str, timeout: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._session = requests.Session()
        self._session.headers["User-Agent"] = USER_AGENT

    def url(self, url: str) -> str:
        """``url`` with tweepy's fixed host replaced by the configured base."""
        for host in FIXED_HOSTS:
            if url == host or url.startswith(host + "/"):
                return self.base_url + url[len(host) :]
        return url

    def request(self, method: str, url: str, **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", self.timeout)
        kwargs["allow_redirects"] = False  # a redirect would carry the signed call elsewhere
        return self._session.request(method, self.url(url), **kwargs)

    def close(self) -> None:
        self._session.close()


def oauth1(consumer_key: str, consumer_secret: str, access_token: str, access_token_secret: str) -> Any:
    """The OAuth 1.0a user-context signer, built as tweepy builds it (``OAuth1UserHandler.apply_auth``)."""
    return OAuth1(
        consumer_key,
        client_secret=consumer_secret,
        resource_owner_key=access_token,
        resource_owner_secret=access_token_secret,
        decoding=None,
    )
