"""Pure domain rules, tested without I/O."""
