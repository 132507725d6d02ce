"""Pure rules and models: no Azure, no I/O, no clock reads."""
