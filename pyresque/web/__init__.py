"""pyresque's web dashboard: an ASGI app (Starlette + Jinja2) for any Resque Redis.

Start at :func:`create_app` (in :mod:`pyresque.web.app`): it builds the app that
``pyresque web`` serves and that an existing ASGI app can mount::

    from fastapi import FastAPI
    import pyresque.web

    api = FastAPI()
    api.mount("/jobs", pyresque.web.create_app(redis="redis://localhost:6379/0"))

Layout: ``app.py`` (the factory and routes), ``multi.py`` (several instances in one),
``security.py`` (headers, CSP nonce, Basic auth, cross-site POST refusal, read-only),
``render.py`` (Jinja2, filters),
``actions.py`` (the one door every change goes through), ``pages/`` (one module per
page, each with its JSON twin under ``/api``), ``data/`` (the Redis reads and writes,
over the async client), ``templates/`` and ``static/`` (CSS and JS, shipped in the
package). Needs the ``web`` extra (``pip install pyresque[web]``); ``import pyresque``
never imports this package.
"""

from __future__ import annotations

from pyresque.web.app import aclose, create_app
from pyresque.web.config import WebConfig
from pyresque.web.multi import create_multi_app

__all__ = ["WebConfig", "aclose", "create_app", "create_multi_app"]
