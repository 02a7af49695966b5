"""The dashboard's sign-in: a cookie holding the personal API key, and who may set it.

The cookie's value is the key itself, so every page view authenticates it anew
with :meth:`Directory.authenticate`: a revoked or expired key, or a removed
membership, takes effect on the next click, and the server keeps no session
state. The cookie is ``HttpOnly`` (scripts cannot read it), ``SameSite=Lax``
(other sites' forms and scripts never carry it), a browser-session cookie (no
expiry), and ``Secure`` with the ``__Host-`` name prefix when the request came
over HTTPS. docs/dashboard.md explains these choices and the CSRF defence:
sign-in and sign-out are POSTs accepted only from this site's own pages
(:func:`from_this_site`).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import Request, Response

from creditmeter.directory import PersonalKey, ServiceToken
from creditmeter.errors import Forbidden, Unauthenticated

COOKIE = "creditmeter_session"
#: The name over HTTPS: browsers accept it only with Secure, Path=/ and no Domain.
SECURE_COOKIE = "__Host-creditmeter_session"


def is_https(request: Request) -> bool:
    """Whether the browser reached us over HTTPS (directly, or through a trusted proxy)."""
    return request.url.scheme == "https"


def cookie_name(request: Request) -> str:
    return SECURE_COOKIE if is_https(request) else COOKIE


def remember(response: Response, request: Request, secret: str) -> None:
    """Keep the key in the browser until sign-out or the end of its browser session."""
    response.set_cookie(
        cookie_name(request),
        secret,
        path="/",
        secure=is_https(request),
        httponly=True,
        samesite="lax",
    )


def forget(response: Response, request: Request) -> None:
    response.delete_cookie(
        cookie_name(request), path="/", secure=is_https(request), httponly=True, samesite="lax"
    )


def has_session(request: Request) -> bool:
    return bool(request.cookies.get(cookie_name(request)))


def signed_in_key(request: Request) -> PersonalKey:
    """The personal key of the request's cookie; Unauthenticated when it is missing or dead."""
    secret = request.cookies.get(cookie_name(request))
    if not secret:
        raise Unauthenticated("Sign in with your personal API key to see usage.")
    return personal_key(request, secret)


def personal_key(request: Request, secret: str) -> PersonalKey:
    """The live personal key whose secret this is; Unauthenticated or Forbidden otherwise."""
    credential = request.app.state.directory.authenticate(secret)
    if isinstance(credential, ServiceToken):
        raise Forbidden(
            "That is a service token (it starts with 'cmt_'). The dashboard needs a "
            "personal API key, which starts with 'cmk_'."
        )
    return credential


def from_this_site(request: Request) -> bool:
    """Whether a POST came from one of this site's own pages (the CSRF check).

    Browsers send ``Origin`` with every POST a form or script makes (``Referer``
    is the fallback); both must name this host. A request with neither did not
    come from a browser page and is refused too: only the dashboard's forms post here.
    """
    source = request.headers.get("origin") or request.headers.get("referer")
    if not source:
        return False
    parts = urlsplit(source)
    host = request.headers.get("host", "")
    return parts.scheme in ("http", "https") and bool(host) and parts.netloc.lower() == host.lower()


#: The dashboard's pages: where a sign-in may lead back to.
DASHBOARD_PAGES = ("/dashboard", "/dashboard/alerts", "/dashboard/webhooks")


def safe_next(target: str | None, default: str) -> str:
    """``target`` when it is a dashboard page of this site, else ``default`` (no open redirect)."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or parts.path not in DASHBOARD_PAGES or "\\" in target:
        return default
    return f"{parts.path}?{parts.query}" if parts.query else parts.path
