"""Users: the caller (`me`) and user management."""
