"""Notifications: targets (webhook URLs, email addresses) and the delivery log, for admins."""
