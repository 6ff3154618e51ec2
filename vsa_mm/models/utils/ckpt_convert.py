"""Pure functions that map official checkpoints onto vsa_mm's layouts.

They are shared by the command-line converters in ``tools/model_converters``
and by the backbones' load-time conversion (``convert_weights=True``). Each
returns new dicts and never modifies its input. A key they do not know
raises ``ValueError``: nothing is silently dropped except buffers that the
model derives itself (relative position indices, attention masks).
"""
import re
from collections import OrderedDict
from typing import Dict, Mapping, Tuple

from torch import Tensor

StateDict = Dict[str, Tensor]

#: Keys under which training scripts store the weights, in priority order.
WRAPPER_KEYS = ('state_dict', 'model', 'state_dict_ema')

_DERIVED_BUFFERS = ('relative_position_index', 'attn_mask')


def unwrap_state_dict(checkpoint: Mapping,
                      prefer_ema: bool = True) -> StateDict:
    """Return the weights stored in a checkpoint.

    Args:
        checkpoint (Mapping): A bare state dict or one wrapped under
            ``state_dict``, ``model`` or ``state_dict_ema`` (timm, Swin,
            MMEngine). A ``module.`` prefix (DDP) is removed.
        prefer_ema (bool): Take ``state_dict_ema`` when several wrappers are
            present: the official runs report, and their detection configs
            load, the EMA weights. Defaults to True.

    Returns:
        dict[str, Tensor]: The weights.

    Raises:
        TypeError: If the checkpoint is not a mapping of tensors.
    """
    if not isinstance(checkpoint, Mapping):
        raise TypeError(f'checkpoint must be a mapping, got '
                        f'{type(checkpoint).__name__}')
    order = WRAPPER_KEYS[::-1] if prefer_ema else WRAPPER_KEYS
    state = next(
        (checkpoint[key]
         for key in order if isinstance(checkpoint.get(key), Mapping)),
        checkpoint)
    not_tensors = [k for k, v in state.items() if not isinstance(v, Tensor)]
    if not_tensors:
        raise TypeError('checkpoint holds no state dict under '
                        f'{WRAPPER_KEYS} and has non-tensor entries '
                        f'{not_tensors[:5]}')
    return OrderedDict(
        (key[len('module.'):] if key.startswith('module.') else key, value)
        for key, value in state.items())


def swin_merge_to_unfold(tensor: Tensor) -> Tensor:
    """Reorder a patch-merging weight from Swin's to mmcv's channel order.

    Swin concatenates the 2x2 neighbours as blocks ``[x(0,0), x(1,0),
    x(0,1), x(1,1)]`` (row, column) of C channels each; mmcv's
    ``PatchMerging`` unfolds to channel-major order ``c * 4 + row * 2 +
    column``. Works on the reduction weight (out, 4C) and on the norm's
    weight and bias (4C,).
    """
    if tensor.shape[-1] % 4:
        raise ValueError(f'patch-merging tensor of shape {tuple(tensor.shape)}'
                         ' does not have 4C input channels')
    channels = tensor.shape[-1] // 4
    blocks = tensor.reshape(*tensor.shape[:-1], 4, channels)
    # unfold position p = row * 2 + column takes Swin block [0, 2, 1, 3][p]
    blocks = blocks[..., [0, 2, 1, 3], :]
    return blocks.transpose(-1, -2).reshape(tensor.shape)


_SWIN_BLOCK_RULES = (
    (r'^pos\.', 'cpe.proj.'),
    (r'^mlp\.fc1\.', 'ffn.layers.0.0.'),
    (r'^mlp\.fc2\.', 'ffn.layers.1.'),
    (r'^(norm1|norm2)\.', r'\1.'),
    (r'^attn\.(qkv|proj)\.', r'attn.\1.'),
    (r'^attn\.relative_position_bias_table$',
     'attn.relative_position_bias_table'),
)


def _convert_swin_block(rest: str, value: Tensor, prefix: str,
                        out: StateDict) -> bool:
    """Convert one key inside ``layers.i.blocks.j.``; False if unknown."""
    if rest.split('.')[-1] in _DERIVED_BUFFERS:
        return True
    match = re.match(r'^attn\.transform\.2\.(weight|bias)$', rest)
    if match:
        # One 1x1 conv with 4 channels per head: x, y offsets, x, y scales.
        name = match.group(1)
        per_head = value.reshape(-1, 4, *value.shape[1:])
        out[f'{prefix}attn.sampling_offsets.proj.{name}'] = per_head[:, :2] \
            .reshape(-1, *value.shape[1:2]).clone()
        out[f'{prefix}attn.sampling_scales.proj.{name}'] = per_head[:, 2:] \
            .reshape(-1, *value.shape[1:2]).clone()
        return True
    for pattern, replacement in _SWIN_BLOCK_RULES:
        if re.match(pattern, rest):
            out[prefix + re.sub(pattern, replacement, rest)] = value
            return True
    return False


def convert_swin(
        state_dict: Mapping[str, Tensor]) -> Tuple[StateDict, StateDict]:
    """Official Swin or Swin + VSA weights to :class:`SwinTransformerVSA`.

    Accepts both the authors' Swin + VSA layout (QFormer,
    ``models/swin/swin_transformer_vsa.py``: ``pos`` conv position encoding,
    one ``attn.transform.2`` regression conv per block) and Microsoft's Swin
    layout (no position encoding or regression: those keys stay new).

    Args:
        state_dict (Mapping[str, Tensor]): Unwrapped official weights.

    Returns:
        tuple[dict, dict]: The backbone's state dict, and the classifier
        head's (``{'fc.weight', 'fc.bias'}`` for mmpretrain's
        ``LinearClsHead``; empty if the checkpoint has no head).

    Raises:
        ValueError: On keys that belong to neither layout (for example an
            absolute position embedding, which the backbone does not have).
    """
    num_stages = 1 + max(
        (int(m.group(1))
         for m in (re.match(r'^layers\.(\d+)\.', k) for k in state_dict) if m),
        default=-1)
    if num_stages == 0:
        raise ValueError('not a Swin checkpoint: no "layers.<i>." keys; '
                         f'first keys {list(state_dict)[:5]}')
    backbone: StateDict = OrderedDict()
    head: StateDict = OrderedDict()
    unknown = []
    for key, value in state_dict.items():
        block = re.match(r'^layers\.(\d+)\.blocks\.(\d+)\.(.+)$', key)
        merge = re.match(
            r'^layers\.(\d+)\.downsample\.(reduction|norm)\.'
            r'(weight|bias)$', key)
        if block:
            stage, index, rest = block.groups()
            if not _convert_swin_block(
                    rest, value, f'stages.{stage}.blocks.{index}.', backbone):
                unknown.append(key)
        elif merge:
            stage, module, name = merge.groups()
            backbone[f'stages.{stage}.downsample.{module}.{name}'] = \
                swin_merge_to_unfold(value)
        elif key.startswith('patch_embed.proj.'):
            backbone['patch_embed.projection.' +
                     key[len('patch_embed.proj.'):]] = value
        elif key.startswith('patch_embed.norm.'):
            backbone[key] = value
        elif re.match(r'^norm\.(weight|bias)$', key):
            backbone[f'norm{num_stages - 1}.' + key[len('norm.'):]] = value
        elif re.match(r'^head\.(weight|bias)$', key):
            head['fc.' + key[len('head.'):]] = value
        else:
            unknown.append(key)
    if unknown:
        raise ValueError(
            f'keys not in the Swin / Swin + VSA layouts: '
            f'{unknown[:10]}' +
            (f' and {len(unknown) - 10} more' if len(unknown) > 10 else ''))
    return backbone, head


def as_classifier_state_dict(backbone: Mapping[str, Tensor],
                             head: Mapping[str, Tensor]) -> StateDict:
    """Prefix converted weights as an mmpretrain ``ImageClassifier``'s.

    Such a checkpoint works as ``load_from`` for a classifier config and,
    with ``prefix='backbone.'``, as a ``Pretrained`` backbone init.
    """
    state: StateDict = OrderedDict()
    state.update((f'backbone.{k}', v) for k, v in backbone.items())
    state.update((f'head.{k}', v) for k, v in head.items())
    return state


def infer_swin_arch(backbone: Mapping[str, Tensor]) -> Tuple[dict, int]:
    """Read a converted Swin state dict's arch and window size.

    Args:
        backbone (Mapping[str, Tensor]): Output of :func:`convert_swin`.

    Returns:
        tuple[dict, int]: ``dict(embed_dims, depths, num_heads)`` for
        :class:`SwinTransformerVSA`'s ``arch``, and the window size.
    """
    depths: Dict[int, int] = {}
    heads: Dict[int, int] = {}
    for key, value in backbone.items():
        match = re.match(
            r'^stages\.(\d+)\.blocks\.(\d+)\.attn\.'
            r'relative_position_bias_table$', key)
        if match:
            stage, block = int(match.group(1)), int(match.group(2))
            depths[stage] = max(depths.get(stage, 0), block + 1)
            heads[stage] = value.shape[1]
            table_rows = value.shape[0]
    if not depths:
        raise ValueError('no relative position bias tables: not a Swin '
                         'state dict')
    window_size = (round(table_rows**0.5) + 1) // 2
    arch = dict(
        embed_dims=backbone['patch_embed.projection.weight'].shape[0],
        depths=[depths[i] for i in sorted(depths)],
        num_heads=[heads[i] for i in sorted(heads)])
    return arch, window_size


def _conv1x1_to_linear(value: Tensor) -> Tensor:
    """A (out, in, 1, 1) convolution weight as a (out, in) Linear weight."""
    return value.reshape(value.shape[0], -1) if value.dim() == 4 else value


_VITAE_CELL_RULES = (
    (r'^PRM\.convs\.(\d+)\.0\.', r'prm.convs.\1.', False),
    (r'^pos\.', 'cpe.proj.', False),
    (r'^(norm1|norm2)\.', r'\1.', False),
    (r'^attn\.(qkv|proj)\.', r'attn.\1.', True),
    (r'^attn\.(sampling_offsets|sampling_scales)\.2\.', r'attn.\1.proj.',
     True),
    (r'^attn\.relative_position_bias_table$',
     'attn.relative_position_bias_table', False),
    (r'^PCM\.(\d+)\.', r'pcm.\1.', False),
    (r'^mlp\.fc1\.', 'ffn.layers.0.0.', False),
    (r'^mlp\.fc2\.', 'ffn.layers.1.', False),
)


def convert_vitaev2_vsa(
        state_dict: Mapping[str, Tensor]) -> Tuple[StateDict, StateDict]:
    """Official ViTAE-VSA classification weights to :class:`ViTAEv2`.

    The source layout is ViTAE-VSA's
    ``Image-Classification/vitaev2_vsa``: ``layers.<i>.RC`` (reduction cell:
    ``PRM.convs.<j>.0``, ``pos``, ``norm1``, ``attn``, ``PCM``, ``norm2``,
    ``mlp``) and ``layers.<i>.NC.<j>`` (normal cells), VSA projections as
    1x1 convolutions, and a ``head``.

    Args:
        state_dict (Mapping[str, Tensor]): Unwrapped official weights.

    Returns:
        tuple[dict, dict]: The backbone's state dict, and the classifier
        head's (``fc.weight``, ``fc.bias``; empty without a head).

    Raises:
        ValueError: On keys outside that layout.
    """
    backbone: StateDict = OrderedDict()
    head: StateDict = OrderedDict()
    unknown = []
    for key, value in state_dict.items():
        cell = re.match(r'^layers\.(\d+)\.(RC|NC\.(\d+))\.(.+)$', key)
        if cell is None:
            if re.match(r'^head\.(weight|bias)$', key):
                head['fc.' + key[len('head.'):]] = value
            else:
                unknown.append(key)
            continue
        stage, _, normal, rest = cell.groups()
        prefix = (f'stages.{stage}.normals.{normal}.'
                  if normal is not None else f'stages.{stage}.reduction.')
        if rest.split('.')[-1] in _DERIVED_BUFFERS:
            continue
        for pattern, replacement, is_conv1x1 in _VITAE_CELL_RULES:
            if re.match(pattern, rest):
                backbone[prefix + re.sub(pattern, replacement, rest)] = (
                    _conv1x1_to_linear(value) if is_conv1x1 else value)
                break
        else:
            unknown.append(key)
    if unknown:
        raise ValueError(
            'keys not in the ViTAE-VSA layout: '
            f'{unknown[:10]}' +
            (f' and {len(unknown) - 10} more' if len(unknown) > 10 else ''))
    return backbone, head


def read_vitaev2_arch(backbone: Mapping[str, Tensor]) -> dict:
    """Read a :class:`ViTAEv2` state dict's architecture off its shapes.

    Only VSA models carry their head counts in their weights (the relative
    position bias tables); for others ``num_heads`` and ``reduction_heads``
    are None.

    Args:
        backbone (Mapping[str, Tensor]): A ViTAEv2 state dict (for example
            the output of :func:`convert_vitaev2_vsa`).

    Returns:
        dict: ``embed_dims``, ``prm_dims``, ``depths``, ``num_heads``,
        ``reduction_heads`` (lists, one value per stage), ``wide_pcm`` and
        ``cpe``.

    Raises:
        ValueError: If the state dict has no ViTAEv2 stages.
    """
    stages = sorted({
        int(match.group(1))
        for match in (re.match(r'^stages\.(\d+)\.reduction\.', key)
                      for key in backbone) if match
    })
    if not stages or stages != list(range(len(stages))):
        raise ValueError('not a ViTAEv2 state dict: no stages.<i>.reduction '
                         f'keys among {list(backbone)[:5]}')

    def heads(prefix: str):
        table = backbone.get(prefix + 'attn.relative_position_bias_table')
        return None if table is None else table.shape[1]

    arch: dict = {
        key: []
        for key in ('embed_dims', 'prm_dims', 'depths', 'num_heads',
                    'reduction_heads')
    }
    wide = []
    for stage in stages:
        reduction = f'stages.{stage}.reduction.'
        embed_dims = backbone[reduction + 'norm2.weight'].shape[0]
        prm_dims = backbone[reduction + 'prm.convs.0.weight'].shape[0]
        arch['embed_dims'].append(embed_dims)
        arch['prm_dims'].append(prm_dims)
        arch['depths'].append(
            len({
                key.split('.')[3]
                for key in backbone
                if key.startswith(f'stages.{stage}.normals.')
            }))
        arch['reduction_heads'].append(heads(reduction))
        arch['num_heads'].append(heads(f'stages.{stage}.normals.0.'))
        hidden = backbone[reduction + 'pcm.0.weight'].shape[0]
        wide.append(hidden == 2 * embed_dims and hidden != prm_dims)
    for key in ('num_heads', 'reduction_heads'):
        if None in arch[key]:
            arch[key] = None
    arch['wide_pcm'] = all(wide)
    arch['cpe'] = 'stages.0.reduction.cpe.proj.weight' in backbone
    return arch
