# Loaded by the `flask` command in a checkout: a checkout is a development install.
PORTAL_ENV=development
