"""The request and response models of each area, one module per area (``jobs.py`` for
``functions/jobs.py``): imported on first use, not when the app is imported (see
``shared/http.py``: ``lazy_models`` and model references in ``endpoint``)."""
