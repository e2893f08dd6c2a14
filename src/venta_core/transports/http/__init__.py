"""The HTTP gateway: ``create_http_app(venta)`` returns a FastAPI application."""

from venta_core.transports.http.app_factory import create_http_app, plugin_routers

__all__ = ["create_http_app", "plugin_routers"]
