"""The audit log: an append-only record of admin and programme-staff actions."""

from portal.audit.models import AuditAction
from portal.audit.service import purge_audit_before, record_audit, record_change

__all__ = ["AuditAction", "purge_audit_before", "record_audit", "record_change"]
