"""The tiered help desk: tickets, SLA clocks, escalation, and two-way Slack."""
