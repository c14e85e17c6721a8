"""The course's models, one file each (chapters 02 to 05)."""
