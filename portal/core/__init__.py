"""Shared core of the portal: database unit of work, enums, roles, errors, forms, input checks,
security, tokens, templating and the API's shared parts. It imports no feature."""
