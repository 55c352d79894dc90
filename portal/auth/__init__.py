"""Accounts, roles and sign-in: passwords, email verification, resets, GitHub, API tokens."""
