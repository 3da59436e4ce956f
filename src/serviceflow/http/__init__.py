"""The HTTP adapter of live mode (extra ``serviceflow[serve]``): ``create_app(service)``.

FastAPI on uvicorn: the OpenAPI 3.1 document is generated from the routes, problem documents are
RFC 9457, and the app is an ordinary ASGI app a help desk can mount in its own.
"""

from serviceflow.http.app import create_app

__all__ = ["create_app"]
