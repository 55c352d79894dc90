"""How the help desk is set up: canned replies per tier, and each tier's Slack channel,
business hours and SLA targets."""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select

from portal.audit import AuditAction, record_change
from portal.auth.models import User
from portal.core.db import transaction, utcnow
from portal.extensions import db
from portal.helpdesk.business_hours import CalendarError
from portal.helpdesk.errors import CannedReplyNotFound, HelpdeskError, NotAllowed
from portal.helpdesk.models import CannedReply, TierSettings


def canned_replies_for(user: User) -> list[CannedReply]:
    """Canned replies of the user's tier and those for every tier (admins see them all)."""
    query = select(CannedReply).order_by(
        CannedReply.tier.is_(None), CannedReply.tier, CannedReply.title
    )
    if not user.is_admin:
        query = query.where(
            or_(CannedReply.tier.is_(None), CannedReply.tier == (user.support_tier or 0))
        )
    return list(db.session.scalars(query))


def canned_reply_for(user: User, reply_id: int) -> CannedReply | None:
    """One of the canned replies `user` sees (what the reply form may insert)."""
    return next((r for r in canned_replies_for(user) if r.id == reply_id), None)


def editable_canned_reply(user: User, reply_id: int) -> CannedReply:
    """A canned reply to edit: missing is 404, someone else's tier 403."""
    reply = db.session.get(CannedReply, reply_id)
    if reply is None:
        raise CannedReplyNotFound()
    if not can_edit_canned(user, reply, reply.tier):
        raise NotAllowed("You can only edit canned replies of your own tier.")
    return reply


def can_edit_canned(user: User, reply: CannedReply | None, tier: int | None) -> bool:
    """Admins edit every canned reply; staff those of their own tier."""
    if user.is_admin:
        return True
    if not user.is_staff or user.support_tier is None:
        return False
    tiers = {tier} | ({reply.tier} if reply is not None else set())
    return tiers == {user.support_tier}


def save_canned_reply(
    actor: User, reply_id: int | None, *, tier: int | None, title: str, body: str
) -> CannedReply:
    with transaction():
        reply = db.session.get(CannedReply, reply_id) if reply_id is not None else None
        if reply_id is not None and reply is None:
            raise CannedReplyNotFound()
        if not can_edit_canned(actor, reply, tier):
            raise NotAllowed("You can only edit canned replies of your own tier.")
        now = utcnow()
        if reply is None:
            reply = CannedReply(created_by_id=actor.id, created_at=now)
            db.session.add(reply)
        reply.tier = tier
        reply.title = title.strip()
        reply.body = body.strip()
        reply.updated_at = now
        db.session.flush()
        return reply


def delete_canned_reply(actor: User, reply_id: int) -> None:
    with transaction():
        reply = db.session.get(CannedReply, reply_id)
        if reply is None:
            raise CannedReplyNotFound()
        if not can_edit_canned(actor, reply, reply.tier):
            raise NotAllowed("You can only delete canned replies of your own tier.")
        db.session.delete(reply)


def save_tier_settings(actor: User, tier: int, **fields: Any) -> TierSettings:
    """Save a tier's settings (admins). Open tickets of the tier keep their due times until
    their clock next moves."""
    if not actor.is_admin:
        raise NotAllowed("Only admins can change tier settings.")
    with transaction():
        settings = db.session.get(TierSettings, tier)
        if settings is None:
            settings = TierSettings.defaults(tier)
            db.session.add(settings)
        before = {name: getattr(settings, name) for name in fields}
        for name, value in fields.items():
            setattr(settings, name, value)
        record_change(
            AuditAction.TIER_SETTINGS_CHANGED, target=f"tier:{tier}", before=before, after=fields
        )
        settings.updated_at = utcnow()
        settings.updated_by_id = actor.id
        try:
            settings.business_calendar().next_opening(settings.updated_at)
        except CalendarError as exc:
            raise HelpdeskError(
                "The tier must be open at some time: give it opening hours."
            ) from exc
        return settings
