"""``vidclass serve``: an HTTP service and a web page for a trained model.

``create_app(model_dir, settings)`` builds the FastAPI application (needs the
``vidclass[serve]`` extra); ``serve`` runs it with uvicorn.
"""

from vidclass.serve.app import create_app, serve
from vidclass.serve.settings import API_KEY_ENV, ServeSettings

__all__ = ["API_KEY_ENV", "ServeSettings", "create_app", "serve"]
