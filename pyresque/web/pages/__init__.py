"""The dashboard's pages, one module each, every page with its JSON twin under ``/api``.

Each module has ``ROUTES`` (Starlette routes) and loads its data from
:mod:`pyresque.web.data`; ``common.py`` has the shared pieces (paging, the page or
JSON answer, reading entry references); ``live.py`` the Server-Sent Events stream and
its polling twin.
"""
