"""The HTTP API (FastAPI): `create_app` in `app.py`."""
