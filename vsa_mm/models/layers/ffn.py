"""mmcv's feed-forward network, traceable by every supported dynamo."""
from mmcv.cnn.bricks.transformer import FFN as MMCVFFN


class FFN(MMCVFFN):
    """mmcv's ``FFN`` without the wrapper that renames its arguments.

    mmcv wraps ``FFN.forward`` in ``deprecated_api_warning`` (which maps the
    old ``residual=`` to ``identity=``); the wrapper calls
    ``inspect.getfullargspec`` on every call, which dynamo of older torch
    releases cannot trace, so a compiled backbone would break its graph in
    every block. The forward computation, the parameters and the state dict
    are mmcv's.
    """

    forward = MMCVFFN.forward.__wrapped__
