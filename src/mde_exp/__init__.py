"""mde_exp: reproduce and explore "Mathematical Engineering of Deep Learning" with Lightning and Hydra."""

__version__ = "0.1.0"
