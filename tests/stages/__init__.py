"""Pipeline stages: the stored column, the stage sweep and the board moves subscribers see."""
