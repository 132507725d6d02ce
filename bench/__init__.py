"""`make bench`: figures, not pass/fail (see bench/__main__.py)."""
