"""Skipping what the installed torch cannot do (see ``vsa_mm/compat.py``)."""
import pytest

from vsa_mm.compat import TorchFeature


def requires(*features: TorchFeature) -> pytest.MarkDecorator:
    """Skip, with the release it needs, where a feature is missing.

    Args:
        *features (TorchFeature): What the test needs, e.g.
            :data:`vsa_mm.compat.CUSTOM_OPS`.

    Returns:
        pytest.MarkDecorator: A ``skipif`` mark.
    """
    missing = [f.missing() for f in features if not f.available]
    return pytest.mark.skipif(bool(missing), reason='; '.join(missing))
