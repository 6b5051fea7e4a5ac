"""CallTrax tests: real PostgreSQL, real HTTP and websockets."""
