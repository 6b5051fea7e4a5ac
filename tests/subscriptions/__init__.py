"""Realtime subscriptions over real websockets: delivery, replay, auth, broker restarts."""
