"""Small models and states shared by tests."""
#: A Swin + VSA arch small enough for a CPU.
SWIN_SMALL = dict(embed_dims=32, depths=[1, 1, 1, 1], num_heads=[1, 2, 4, 8])
