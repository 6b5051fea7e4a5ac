"""The webhook door: Starlette routes for lead sources and Dialpad events."""
