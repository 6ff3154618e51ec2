"""Small models and states shared by tests."""
import torch

from vsa_mm.models.layers import WindowRegressionHead

#: A Swin + VSA arch small enough for a CPU.
SWIN_SMALL = dict(embed_dims=32, depths=[1, 1, 1, 1], num_heads=[1, 2, 4, 8])


def move_windows(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Give every VSA regression head non-zero weights (windows move and
    stretch, as in a trained model), in place; returns ``model``."""
    generator = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, WindowRegressionHead):
            with torch.no_grad():
                module.proj.weight.normal_(0, 0.05, generator=generator)
                module.proj.bias.normal_(0, 0.1, generator=generator)
    return model
