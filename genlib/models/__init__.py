"""The course's models, one file each (chapters 02 to 05)."""
from genlib.models.gan import GAN, dcgan, mlp_gan
