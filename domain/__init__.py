"""CallTrax's vocabulary and rules: pure, no I/O, importing nothing of ours."""
