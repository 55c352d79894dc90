"""Public pages: the home page, the health check and the documentation site."""
