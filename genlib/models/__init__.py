"""The course's models, one file each (chapters 02 to 05, and 09's diffusion model)."""
from genlib.models.vae import VAE, conv_vae, dense_vae  # noqa: F401  (chapter 02)
from genlib.models.gan import GAN, dcgan, mlp_gan  # noqa: F401  (chapter 03)
from genlib.models.char_gru import CharGRU  # noqa: F401  (chapter 04)
from genlib.models.mini_gpt import MiniGPT, compile_for_training  # noqa: F401  (chapter 05)
from genlib.models.diffusion import DDPM, mlp_ddpm, unet_ddpm  # noqa: F401  (chapter 09)
