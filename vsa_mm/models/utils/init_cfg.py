"""Reading ``init_cfg`` values."""
from typing import List, Optional, Union

InitCfg = Union[dict, List[dict], None]


def pretrained_entry(init_cfg: InitCfg) -> Optional[dict]:
    """The first ``Pretrained`` entry of a module's ``init_cfg``, if any.

    Args:
        init_cfg (dict | list[dict], optional): A module's init_cfg.

    Returns:
        dict, optional: The entry, e.g. ``dict(type='Pretrained',
        checkpoint=..., prefix=...)``.

    Examples:
        >>> pretrained_entry(dict(type='Pretrained', checkpoint='a.pth'))
        {'type': 'Pretrained', 'checkpoint': 'a.pth'}
        >>> pretrained_entry([dict(type='Constant', val=1)]) is None
        True
    """
    cfgs = init_cfg if isinstance(init_cfg, list) else [init_cfg]
    for cfg in cfgs:
        if isinstance(cfg, dict) and cfg.get('type') == 'Pretrained':
            return cfg
    return None
