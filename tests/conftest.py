import os

os.environ.setdefault("GENLIB_PROFILE", "smoke")
