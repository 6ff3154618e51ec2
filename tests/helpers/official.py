"""The official VSA models, independently of vsa_mm's modules.

State dicts in the official layouts (names and shapes as the public code
defines them) and op-by-op re-implementations of the official forward
passes, written directly on those state dicts:

- the authors' Swin + VSA (ViTAE-Transformer/QFormer,
  ``models/swin/swin_transformer_vsa.py``, ``rpe='v1'``): window centres
  from average-pooled ``linspace`` grids, one 4-channel-per-head regression
  convolution, per-head ``grid_sample`` of keys and values, Swin's relative
  position index and patch-merging concatenation order;
- ViTAE-VSA's ViTAEv2 + VSA (ViTAE-Transformer/ViTAE-VSA,
  ``Image-Classification/vitaev2_vsa``).

Only the preset tables (``ViTAEv2.arch_defaults``) come from vsa_mm, to
size the synthetic checkpoints.
"""
from collections import OrderedDict

import torch
import torch.nn.functional as F

from vsa_mm.models import ViTAEv2

#: A small Swin + VSA: two stages, window 3.
ARCH = dict(embed_dims=16, depths=[2, 1], num_heads=[2, 4])
WINDOW = 3
CLASSES = 5


def official_swin_state_dict(vsa: bool, seed: int = 0) -> OrderedDict:
    """Keys and shapes of the public code.

    Swin + VSA: QFormer ``models/swin/swin_transformer_vsa.py`` (``pos``,
    ``attn.transform.2``); plain Swin: Microsoft's ``swin_transformer.py``
    (``attn_mask`` buffers in shifted blocks).
    """
    generator = torch.Generator().manual_seed(seed)

    def rand(*shape):
        return torch.randn(*shape, generator=generator)

    state = OrderedDict()
    dims = ARCH['embed_dims']
    state['patch_embed.proj.weight'] = rand(dims, 3, 4, 4)
    state['patch_embed.proj.bias'] = rand(dims)
    state['patch_embed.norm.weight'] = rand(dims)
    state['patch_embed.norm.bias'] = rand(dims)
    kernel = WINDOW // 2 * 2 + 1
    for stage, (depth, heads) in enumerate(
            zip(ARCH['depths'], ARCH['num_heads'], strict=True)):
        for block in range(depth):
            prefix = f'layers.{stage}.blocks.{block}.'
            state[prefix + 'norm1.weight'] = rand(dims)
            state[prefix + 'norm1.bias'] = rand(dims)
            if vsa:
                state[prefix + 'pos.weight'] = rand(dims, 1, kernel, kernel)
                state[prefix + 'pos.bias'] = rand(dims)
                state[prefix + 'attn.transform.2.weight'] = rand(
                    4 * heads, dims, 1, 1)
                state[prefix + 'attn.transform.2.bias'] = rand(4 * heads)
            elif block % 2:
                state[prefix + 'attn_mask'] = torch.zeros(4, 9, 9)
            state[prefix + 'attn.relative_position_bias_table'] = rand(
                (2 * WINDOW - 1)**2, heads)
            state[prefix + 'attn.relative_position_index'] = torch.zeros(
                WINDOW**2, WINDOW**2, dtype=torch.long)
            state[prefix + 'attn.qkv.weight'] = rand(3 * dims, dims)
            state[prefix + 'attn.qkv.bias'] = rand(3 * dims)
            state[prefix + 'attn.proj.weight'] = rand(dims, dims)
            state[prefix + 'attn.proj.bias'] = rand(dims)
            state[prefix + 'norm2.weight'] = rand(dims)
            state[prefix + 'norm2.bias'] = rand(dims)
            state[prefix + 'mlp.fc1.weight'] = rand(4 * dims, dims)
            state[prefix + 'mlp.fc1.bias'] = rand(4 * dims)
            state[prefix + 'mlp.fc2.weight'] = rand(dims, 4 * dims)
            state[prefix + 'mlp.fc2.bias'] = rand(dims)
        if stage < len(ARCH['depths']) - 1:
            prefix = f'layers.{stage}.downsample.'
            state[prefix + 'reduction.weight'] = rand(2 * dims, 4 * dims)
            state[prefix + 'norm.weight'] = rand(4 * dims)
            state[prefix + 'norm.bias'] = rand(4 * dims)
            dims *= 2
    state['norm.weight'] = rand(dims)
    state['norm.bias'] = rand(dims)
    state['head.weight'] = rand(CLASSES, dims)
    state['head.bias'] = rand(CLASSES)
    return state


#: A small ViTAEv2 + VSA (one normal cell per stage).
SMALL = dict(
    prm_dims=[16, 16, 32, 32],
    embed_dims=[16, 32, 64, 64],
    depths=[1, 1, 1, 1],
    num_heads=[1, 2, 4, 4],
    reduction_heads=[1, 1, 2, 2],
    groups=[1, 8, 16, 16],
    reduction_groups=[1, 4, 8, 8])


def official_vitaev2_vsa_state_dict(settings, window=7, classes=10, seed=0):
    """Keys and shapes of ViTAE-VSA's Image-Classification/vitaev2_vsa."""
    settings = {**ViTAEv2.arch_defaults, **settings}
    generator = torch.Generator().manual_seed(seed)
    state = OrderedDict()

    def add(key, *shape):
        state[key] = torch.randn(*shape, generator=generator) * 0.1

    def bn(prefix, channels):
        add(prefix + 'weight', channels)
        add(prefix + 'bias', channels)
        add(prefix + 'running_mean', channels)
        state[prefix + 'running_var'] = torch.rand(
            channels, generator=generator) + 0.5
        state[prefix + 'num_batches_tracked'] = torch.tensor(7)

    def vsa(prefix, in_dims, out_dims, heads):
        for head in ('sampling_offsets', 'sampling_scales'):
            add(f'{prefix}{head}.2.weight', 2 * heads, in_dims, 1, 1)
            add(f'{prefix}{head}.2.bias', 2 * heads)
        add(prefix + 'qkv.weight', 3 * out_dims, in_dims, 1, 1)
        add(prefix + 'qkv.bias', 3 * out_dims)
        add(prefix + 'proj.weight', out_dims, out_dims, 1, 1)
        add(prefix + 'proj.bias', out_dims)
        add(prefix + 'relative_position_bias_table', (2 * window - 1)**2,
            heads)
        state[prefix + 'relative_position_index'] = torch.zeros(
            window**2, window**2, dtype=torch.long)

    in_channels = 3
    for i, depth in enumerate(settings['depths']):
        embed, token = settings['prm_dims'][i], settings['embed_dims'][i]
        prm_dims = embed * len(settings['dilations'][i])
        kernel = settings['kernel_sizes'][i]
        groups = settings['reduction_groups'][i]
        hidden = 2 * token if settings['wide_pcm'] else embed
        rc = f'layers.{i}.RC.'
        for j, _ in enumerate(settings['dilations'][i]):
            add(f'{rc}PRM.convs.{j}.0.weight', embed, in_channels, kernel,
                kernel)
            add(f'{rc}PRM.convs.{j}.0.bias', embed)
        add(rc + 'pos.weight', prm_dims, 1, 7, 7)
        add(rc + 'pos.bias', prm_dims)
        add(rc + 'norm1.weight', prm_dims)
        add(rc + 'norm1.bias', prm_dims)
        vsa(rc + 'attn.', prm_dims, token, settings['reduction_heads'][i])
        add(rc + 'PCM.0.weight', hidden, in_channels // groups, 3, 3)
        add(rc + 'PCM.0.bias', hidden)
        bn(rc + 'PCM.1.', hidden)
        add(rc + 'PCM.3.weight', hidden, hidden // groups, 3, 3)
        add(rc + 'PCM.3.bias', hidden)
        bn(rc + 'PCM.4.', hidden)
        add(rc + 'PCM.6.weight', token, hidden // groups, 3, 3)
        add(rc + 'PCM.6.bias', token)
        add(rc + 'norm2.weight', token)
        add(rc + 'norm2.bias', token)
        add(rc + 'mlp.fc1.weight', token, token)
        add(rc + 'mlp.fc1.bias', token)
        add(rc + 'mlp.fc2.weight', token, token)
        add(rc + 'mlp.fc2.bias', token)
        groups = settings['groups'][i]
        for j in range(depth):
            nc = f'layers.{i}.NC.{j}.'
            add(nc + 'norm1.weight', token)
            add(nc + 'norm1.bias', token)
            add(nc + 'pos.weight', token, 1, 7, 7)
            add(nc + 'pos.bias', token)
            vsa(nc + 'attn.', token, token, settings['num_heads'][i])
            add(nc + 'PCM.0.weight', 4 * token, token // groups, 3, 3)
            add(nc + 'PCM.0.bias', 4 * token)
            bn(nc + 'PCM.1.', 4 * token)
            add(nc + 'PCM.3.weight', token, 4 * token // groups, 3, 3)
            add(nc + 'PCM.3.bias', token)
            bn(nc + 'PCM.4.', token)
            add(nc + 'PCM.6.weight', token, token // groups, 3, 3)
            add(nc + 'PCM.6.bias', token)
            add(nc + 'norm2.weight', token)
            add(nc + 'norm2.bias', token)
            add(nc + 'mlp.fc1.weight', 4 * token, token)
            add(nc + 'mlp.fc1.bias', 4 * token)
            add(nc + 'mlp.fc2.weight', token, 4 * token)
            add(nc + 'mlp.fc2.bias', token)
        in_channels = token
    add('head.weight', classes, in_channels)
    add('head.bias', classes)
    return state


def swin_relative_index(ws):
    coords = torch.stack(
        torch.meshgrid(torch.arange(ws), torch.arange(ws), indexing='ij'))
    coords = coords.flatten(1)
    relative = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0)
    relative[:, :, 0] += ws - 1
    relative[:, :, 1] += ws - 1
    relative[:, :, 0] *= 2 * ws - 1
    return relative.sum(-1)


def official_vsa(x, state, prefix, heads, ws):
    """QFormer's VSAAttention on a (b, C, h, w) map."""
    b, channels, h, w = x.shape
    dim = channels // heads
    pad_d, pad_r = (ws - h % ws) % ws, (ws - w % ws) % ws
    eh, ew = h + pad_d, w + pad_r
    nh, nw = eh // ws, ew // ws
    ref = torch.stack(
        torch.meshgrid(
            torch.linspace(-1, 1, ew, dtype=x.dtype),
            torch.linspace(-1, 1, eh, dtype=x.dtype),
            indexing='ij'), 0).permute(0, 2, 1)[None]
    centres = F.avg_pool2d(ref, ws)[0]  # (2, nh, nw)
    base_h = torch.arange(ws, dtype=x.dtype) * 2 / (eh - 1)
    base_h = base_h - base_h.mean()
    base_w = torch.arange(ws, dtype=x.dtype) * 2 / (ew - 1)
    base_w = base_w - base_w.mean()

    padded = F.pad(x, (0, pad_r, 0, pad_d))
    transform = F.conv2d(
        F.leaky_relu(F.avg_pool2d(padded,
                                  ws)), state[prefix + 'transform.2.weight'],
        state[prefix + 'transform.2.bias']).reshape(b * heads, 4, nh, nw)
    off_x = transform[:, 0] / nw
    off_y = transform[:, 1] / nh
    scale_x, scale_y = transform[:, 2] + 1, transform[:, 3] + 1
    # (b*heads, nh, p, nw, q)
    grid_x = (
        centres[0][None, :, None, :, None] +
        scale_x[:, :, None, :, None] * base_w[None, None, None, None, :] +
        off_x[:, :, None, :, None]).expand(-1, -1, ws, -1, -1)
    grid_y = (
        centres[1][None, :, None, :, None] +
        scale_y[:, :, None, :, None] * base_h[None, None, :, None, None] +
        off_y[:, :, None, :, None]).expand(-1, -1, -1, -1, ws)
    grid = torch.stack([grid_x, grid_y], -1).reshape(b * heads, eh, ew, 2)

    qkv = F.conv2d(x, state[prefix + 'qkv.weight'][:, :, None, None],
                   state[prefix + 'qkv.bias'])
    qkv = F.pad(qkv, (0, pad_r, 0, pad_d)).reshape(b, 3, heads, dim, eh, ew)
    q, k, v = (qkv[:, i].reshape(b * heads, dim, eh, ew) for i in range(3))
    k = F.grid_sample(k, grid, padding_mode='zeros', align_corners=True)
    v = F.grid_sample(v, grid, padding_mode='zeros', align_corners=True)

    def windows(t):  # (b*heads, d, eh, ew) -> (b*nW, heads, ws*ws, d)
        t = t.reshape(b, heads, dim, nh, ws, nw, ws)
        return t.permute(0, 3, 5, 1, 4, 6, 2).reshape(-1, heads, ws * ws, dim)

    attn = (windows(q) * dim**-0.5) @ windows(k).transpose(-2, -1)
    table = state[prefix + 'relative_position_bias_table']
    bias = table[swin_relative_index(ws).view(-1)].view(ws * ws, ws * ws, -1)
    attn = (attn + bias.permute(2, 0, 1)[None]).softmax(-1)
    out = (attn @ windows(v)).reshape(b, nh, nw, heads, ws, ws, dim)
    out = out.permute(0, 3, 6, 1, 4, 2, 5).reshape(b, channels, eh, ew)
    out = out[:, :, :h, :w].flatten(2).transpose(1, 2)
    return F.linear(out, state[prefix + 'proj.weight'],
                    state[prefix + 'proj.bias'])


def official_swin_vsa_logits(state, images):

    def ln(t, name):
        return F.layer_norm(t, t.shape[-1:], state[name + '.weight'],
                            state[name + '.bias'])

    x = F.conv2d(
        images,
        state['patch_embed.proj.weight'],
        state['patch_embed.proj.bias'],
        stride=4)
    b, channels, h, w = x.shape
    x = ln(x.flatten(2).transpose(1, 2), 'patch_embed.norm')
    for i, (depth, heads) in enumerate(
            zip(ARCH['depths'], ARCH['num_heads'], strict=True)):
        for j in range(depth):
            p = f'layers.{i}.blocks.{j}.'
            as_map = x.transpose(1, 2).reshape(b, channels, h, w)
            x = x + F.conv2d(
                as_map,
                state[p + 'pos.weight'],
                state[p + 'pos.bias'],
                padding=WINDOW // 2,
                groups=channels).flatten(2).transpose(1, 2)
            attn_in = ln(x,
                         p + 'norm1').transpose(1,
                                                2).reshape(b, channels, h, w)
            x = x + official_vsa(attn_in, state, p + 'attn.', heads, WINDOW)
            hidden = F.gelu(
                F.linear(
                    ln(x, p + 'norm2'), state[p + 'mlp.fc1.weight'],
                    state[p + 'mlp.fc1.bias']))
            x = x + F.linear(hidden, state[p + 'mlp.fc2.weight'],
                             state[p + 'mlp.fc2.bias'])
        if i < len(ARCH['depths']) - 1:
            p = f'layers.{i}.downsample.'
            grid = x.view(b, h, w, channels)
            x = torch.cat([
                grid[:, 0::2, 0::2], grid[:, 1::2, 0::2], grid[:, 0::2, 1::2],
                grid[:, 1::2, 1::2]
            ], -1).view(b, -1, 4 * channels)
            x = F.linear(ln(x, p + 'norm'), state[p + 'reduction.weight'])
            h, w, channels = h // 2, w // 2, 2 * channels
    x = ln(x, 'norm').mean(1)
    return F.linear(x, state['head.weight'], state['head.bias'])


def official_vsa_classification(x, state, prefix, heads, ws, out_dim, scale):
    """ViTAE-VSA's classification VSAWindowAttention on a (b, C, h, w) map
    whose sides are multiples of ``ws`` (the official code's setting)."""
    b, _, h, w = x.shape
    dim = out_dim // heads
    nh, nw = h // ws, w // ws
    ref = torch.stack(
        torch.meshgrid(
            torch.linspace(-1, 1, w, dtype=x.dtype),
            torch.linspace(-1, 1, h, dtype=x.dtype),
            indexing='ij'), 0).permute(0, 2, 1)[None]
    centres = F.avg_pool2d(ref, ws)[0]
    base_h = torch.arange(ws, dtype=x.dtype) * 2 / (h - 1)
    base_h = base_h - base_h.mean()
    base_w = torch.arange(ws, dtype=x.dtype) * 2 / (w - 1)
    base_w = base_w - base_w.mean()

    def regress(name):
        pooled = F.leaky_relu(F.avg_pool2d(x, ws))
        return F.conv2d(pooled, state[f'{prefix}{name}.2.weight'],
                        state[f'{prefix}{name}.2.bias']).reshape(
                            b * heads, 2, nh, nw)

    offsets, scales = regress('sampling_offsets'), regress('sampling_scales')
    grid_x = (centres[0][None, :, None, :, None] +
              base_w[None, None, None, None, :] *
              (1 + scales[:, 0, :, None, :, None]) +
              offsets[:, 0, :, None, :, None] / nw).expand(-1, -1, ws, -1, -1)
    grid_y = (centres[1][None, :, None, :, None] +
              base_h[None, None, :, None, None] *
              (1 + scales[:, 1, :, None, :, None]) +
              offsets[:, 1, :, None, :, None] / nh).expand(-1, -1, -1, -1, ws)
    grid = torch.stack([grid_x, grid_y], -1).reshape(b * heads, h, w, 2)

    qkv = F.conv2d(x, state[prefix + 'qkv.weight'], state[prefix + 'qkv.bias'])
    qkv = qkv.reshape(b, 3, heads, dim, h, w)
    q, k, v = (qkv[:, i].reshape(b * heads, dim, h, w) for i in range(3))
    k = F.grid_sample(k, grid, padding_mode='zeros', align_corners=True)
    v = F.grid_sample(v, grid, padding_mode='zeros', align_corners=True)

    def windows(t):
        t = t.reshape(b, heads, dim, nh, ws, nw, ws)
        return t.permute(0, 3, 5, 1, 4, 6, 2).reshape(-1, heads, ws * ws, dim)

    attn = windows(q) @ windows(k).transpose(-2, -1) * scale
    table = state[prefix + 'relative_position_bias_table']
    bias = table[swin_relative_index(ws).view(-1)].view(ws * ws, ws * ws, -1)
    attn = (attn + bias.permute(2, 0, 1)[None]).softmax(-1)
    out = (attn @ windows(v)).reshape(b, nh, nw, heads, ws, ws, dim)
    out = out.permute(0, 3, 6, 1, 4, 2, 5).reshape(b, out_dim, h, w)
    return F.conv2d(out, state[prefix + 'proj.weight'],
                    state[prefix + 'proj.bias'])


def official_pcm(x, state, prefix, strides, groups):
    for index, stride in zip((0, 3, 6), strides, strict=True):
        x = F.conv2d(
            x,
            state[f'{prefix}{index}.weight'],
            state[f'{prefix}{index}.bias'],
            stride=stride,
            padding=1,
            groups=groups)
        if index < 6:
            bn = f'{prefix}{index + 1}.'
            x = F.silu(
                F.batch_norm(x, state[bn + 'running_mean'],
                             state[bn + 'running_var'], state[bn + 'weight'],
                             state[bn + 'bias']))
    return x


def official_vitaev2_vsa_logits(state, images, settings, ws=7):
    from vsa_mm.models import ViTAEv2
    settings = {**ViTAEv2.arch_defaults, **settings}

    def ln(t, name, eps):
        return F.layer_norm(t, t.shape[-1:], state[name + '.weight'],
                            state[name + '.bias'], eps)

    def mlp(t, name):
        hidden = F.gelu(
            F.linear(t, state[name + '.fc1.weight'],
                     state[name + '.fc1.bias']))
        return F.linear(hidden, state[name + '.fc2.weight'],
                        state[name + '.fc2.bias'])

    def tokens(t):
        return t.flatten(2).transpose(1, 2)

    def as_map(t, h, w):
        return t.transpose(1, 2).reshape(t.shape[0], -1, h, w)

    x = images
    for i, depth in enumerate(settings['depths']):
        rc = f'layers.{i}.RC.'
        stride, kernel = settings['strides'][i], settings['kernel_sizes'][i]
        prm = torch.cat([
            F.gelu(
                F.conv2d(
                    x,
                    state[f'{rc}PRM.convs.{j}.0.weight'],
                    state[f'{rc}PRM.convs.{j}.0.bias'],
                    stride=stride,
                    padding=-(-((kernel - 1) * d + 1 - stride) // 2),
                    dilation=d))
            for j, d in enumerate(settings['dilations'][i])
        ], 1)
        prm_dims, h, w = prm.shape[1:]
        t = tokens(prm)
        t = t + tokens(
            F.conv2d(
                prm,
                state[rc + 'pos.weight'],
                state[rc + 'pos.bias'],
                padding=3,
                groups=prm_dims))
        heads = settings['reduction_heads'][i]
        token_dims = settings['embed_dims'][i]
        attn = official_vsa_classification(
            as_map(ln(t, rc + 'norm1', 1e-5), h, w), state, rc + 'attn.',
            heads, ws, token_dims, (prm_dims // heads)**-0.5)
        conv = official_pcm(x, state, rc + 'PCM.',
                            (2, 2, 1) if stride == 4 else (2, 1, 1),
                            settings['reduction_groups'][i])
        t = tokens(attn) + tokens(conv)
        t = t + mlp(ln(t, rc + 'norm2', 1e-5), rc + 'mlp')
        for j in range(depth):
            nc = f'layers.{i}.NC.{j}.'
            y = t + tokens(
                F.conv2d(
                    as_map(t, h, w),
                    state[nc + 'pos.weight'],
                    state[nc + 'pos.bias'],
                    padding=3,
                    groups=token_dims))
            heads = settings['num_heads'][i]
            attn = official_vsa_classification(
                as_map(ln(y, nc + 'norm1', 1e-6), h, w), state, nc + 'attn.',
                heads, ws, token_dims, (token_dims // heads)**-0.5)
            conv = official_pcm(
                as_map(t, h, w), state, nc + 'PCM.', (1, 1, 1),
                settings['groups'][i])
            t = t + tokens(attn) + tokens(conv)
            t = t + mlp(ln(t, nc + 'norm2', 1e-6), nc + 'mlp')
        x = as_map(t, h, w)
    return F.linear(t.mean(1), state['head.weight'], state['head.bias'])


def assert_converted_at_load_time(build, official: dict, convert,
                                  tmp_path) -> None:
    """``build(convert_weights=True, init_cfg=Pretrained)`` of a file holding
    ``official`` ends up with exactly ``convert(official)``'s backbone."""
    path = tmp_path / 'official.pth'
    torch.save({'model': official}, path)
    model = build(
        convert_weights=True,
        init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    model.init_weights()
    expected, _ = convert(official)
    for key, value in expected.items():
        torch.testing.assert_close(model.state_dict()[key], value, msg=key)
