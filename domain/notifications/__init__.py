"""Notifications: the inbox, the type registry, preferences, grouping and delivery decisions."""
