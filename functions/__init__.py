"""The doors: one Blueprint per area, each a set of thin functions (parse, call, render)."""
