"""The course's models, one file each (chapters 02 to 05)."""
from genlib.models.vae import VAE, conv_vae, dense_vae  # chapter 02
