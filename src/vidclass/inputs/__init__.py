"""inputs: see ../shared/ARCHITECTURE.md (Layout)."""
