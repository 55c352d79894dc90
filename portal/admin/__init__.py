"""Administration: staff accounts and tiers, the development mailbox, the delivery outbox."""
