"""Shared core of the portal: database helpers, time, security, errors, logging, outbox."""
