"""Use cases, one module per area; each takes the container (or its ports) and a clock."""
