"""The web app and REST API of `chronicon serve`: `create_app(library)` returns a FastAPI application."""

from __future__ import annotations

from chronicon.web.app import create_app

__all__ = ["create_app"]
