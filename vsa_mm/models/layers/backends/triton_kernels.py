"""Triton kernels of the fused VSA backend (imported on first use only).

One program computes one head of one window of one image: it reads the
window's queries and the keys and values at the four bilinear neighbours of
each of its ``ws * ws`` sample positions straight from the q/k/v projection
(channels-last ``(B, H, W, 3 * D)``, q|k|v, head-major inside each), builds
the positions itself from the regressed offsets and scales, attends, and
writes its output tokens at their place in the ``(B, H, W, D)`` map. Window
padding, partition, reverse and the final crop never materialise: pixels
outside the ``H x W`` map read as zeros and queries there are not stored.

Positions are in pixel units of the padded map: for window ``(i, j)``,
token ``(r, c)`` of the default window and head offsets ``(ox, oy)`` and
scales ``(sx, sy)``,

``x = ax * (j * ws + h + (c - h) * (1 + sx)) + bx * ox`` with
``h = (ws - 1) / 2``, and the same along y; ``ax = 1`` (``0`` for a padded
map one pixel wide, where ``grid_sample`` collapses every coordinate onto the
only pixel) and ``bx = (Wp - 1) / (2 * nw)``, the regressed offset's unit
(``1 / nw`` of ``grid_sample``'s normalised span). At zero offsets and scales
the positions are exactly the pixel centres.

Sums and products are accumulated in float32 whatever the storage dtype;
matrix products take float16/bfloat16 operands for such storage and float32
operands otherwise (``DOT_PRECISION``: ``'tf32x3'``, three TF32 products
with float32 accuracy, or ``'tf32'`` when PyTorch allows TF32 matrix
products). The corner loops are not unrolled: unrolled, they keep more
values live than the registers hold (spills, per ``ptxas -v`` for sm_90).
"""
import triton
import triton.language as tl


@triton.jit
def _positions(tokens, window_row, window_col, ox, oy, sx, sy, ax, ay, bx, by,
               WS: tl.constexpr):
    """Sample positions (pixels) and token offsets from the window centre."""
    half = (WS - 1) * 0.5
    rel_x = (tokens % WS).to(tl.float32) - half
    rel_y = (tokens // WS).to(tl.float32) - half
    centre_x = (window_col * WS).to(tl.float32) + half
    centre_y = (window_row * WS).to(tl.float32) + half
    px = ax * (centre_x + rel_x * (1.0 + sx)) + bx * ox
    py = ay * (centre_y + rel_y * (1.0 + sy)) + by * oy
    return px, py, rel_x, rel_y


@triton.jit
def _floor_split(p, size):
    """Integer corner and fraction of positions ``p`` on an axis of
    ``size`` pixels, clamped first to just outside it (no int overflow; the
    corners of a clamped position are all outside)."""
    p = tl.minimum(tl.maximum(p, -2.0), size + 1.0)
    p0 = tl.floor(p)
    return p0.to(tl.int32), p - p0


@triton.jit
def _corner(x0, y0, fx, fy, token_ok, height, width, DX, DY):
    """Pixel number, bilinear weight, the weight's two factors and validity
    of corner (x0 + DX, y0 + DY)."""
    xx = x0 + DX
    yy = y0 + DY
    ok = token_ok & (xx >= 0) & (xx < width) & (yy >= 0) & (yy < height)
    weight_x = (1 - DX) + (2 * DX - 1) * fx
    weight_y = (1 - DY) + (2 * DY - 1) * fy
    return yy * width + xx, weight_x * weight_y, weight_x, weight_y, ok


@triton.jit
def _window_setup(pid, num_windows, windows_w, NUM_HEADS: tl.constexpr,
                  WS: tl.constexpr, BLOCK_N: tl.constexpr, height, width):
    head = pid % NUM_HEADS
    window = (pid // NUM_HEADS) % num_windows
    batch = pid // (NUM_HEADS * num_windows)
    window_row = window // windows_w
    window_col = window % windows_w
    tokens = tl.arange(0, BLOCK_N)
    token_ok = tokens < WS * WS
    query_y = window_row * WS + tokens // WS
    query_x = window_col * WS + tokens % WS
    query_ok = token_ok & (query_y < height) & (query_x < width)
    query_pixel = query_y * width + query_x
    return (head, batch, window_row, window_col, tokens, token_ok, query_ok,
            query_pixel)


@triton.jit
def _sample_corners(offsets_ptr, scales_ptr, pid, tokens, window_row,
                    window_col, height, width, ax, ay, bx, by,
                    WS: tl.constexpr):
    """Top-left corners, fractions and token offsets of this program's
    samples, from its head's regressed offsets and scales."""
    ox = tl.load(offsets_ptr + 2 * pid)
    oy = tl.load(offsets_ptr + 2 * pid + 1)
    sx = tl.load(scales_ptr + 2 * pid)
    sy = tl.load(scales_ptr + 2 * pid + 1)
    px, py, rel_x, rel_y = _positions(tokens, window_row, window_col, ox, oy,
                                      sx, sy, ax, ay, bx, by, WS)
    x0, fx = _floor_split(px, width)
    y0, fy = _floor_split(py, height)
    return x0, y0, fx, fy, rel_x, rel_y


@triton.jit
def _logits(q, keys, table_ptr, tokens, token_ok, head,
            NUM_HEADS: tl.constexpr, WS: tl.constexpr,
            DOT_PRECISION: tl.constexpr):
    """``q k^T`` plus the relative position bias, float32, with the bias
    table offsets and the mask of valid (query, key) pairs."""
    logits = tl.dot(q, tl.trans(keys), input_precision=DOT_PRECISION)
    pair_ok = token_ok[:, None] & token_ok[None, :]
    bias_offsets = _bias_index(tokens, WS) * NUM_HEADS + head
    bias = tl.load(table_ptr + bias_offsets, mask=pair_ok, other=0.)
    return logits + bias.to(tl.float32), bias_offsets, pair_ok


@triton.jit
def _bias_index(tokens, WS: tl.constexpr):
    """Row of Swin's relative position table for every (query, key)."""
    row = tokens // WS
    col = tokens % WS
    return ((row[:, None] - row[None, :] + WS - 1) * (2 * WS - 1) +
            col[:, None] - col[None, :] + WS - 1)


@triton.jit
def _sample_keys_values(kv_rows, x0, y0, fx, fy, token_ok, col_ok, height,
                        width, CH: tl.constexpr, BLOCK_N: tl.constexpr,
                        BLOCK_D: tl.constexpr):
    """Bilinearly sampled keys and values, (BLOCK_N, BLOCK_D) float32 each.

    ``kv_rows`` points at the key columns of this image's and head's pixel 0;
    values are ``CH`` further.
    """
    keys = tl.zeros([BLOCK_N, BLOCK_D], dtype=tl.float32)
    values = tl.zeros([BLOCK_N, BLOCK_D], dtype=tl.float32)
    for corner in range(4):
        pixel, weight, _, _, ok = _corner(x0, y0, fx, fy, token_ok, height,
                                          width, corner % 2, corner // 2)
        ptrs = kv_rows + pixel.to(tl.int64)[:, None] * (3 * CH)
        mask = ok[:, None] & col_ok[None, :]
        keys += weight[:, None] * tl.load(
            ptrs, mask=mask, other=0.).to(tl.float32)
        values += weight[:, None] * tl.load(
            ptrs + CH, mask=mask, other=0.).to(tl.float32)
    return keys, values


@triton.jit
def vsa_forward_kernel(qkv_ptr, offsets_ptr, scales_ptr, table_ptr, out_ptr,
                       lse_ptr, height, width, windows_w, num_windows, ax, ay,
                       bx, by, scale, NUM_HEADS: tl.constexpr,
                       HEAD_DIM: tl.constexpr, WS: tl.constexpr,
                       BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr,
                       DOT_PRECISION: tl.constexpr):
    """Forward: ``out`` (B, H, W, D) and the log-sum-exp (B, nW, h, N)."""
    CH: tl.constexpr = NUM_HEADS * HEAD_DIM
    pid = tl.program_id(0)
    (head, batch, window_row, window_col, tokens, token_ok, query_ok,
     query_pixel) = _window_setup(pid, num_windows, windows_w, NUM_HEADS, WS,
                                  BLOCK_N, height, width)
    cols = tl.arange(0, BLOCK_D)
    col_ok = cols < HEAD_DIM
    image = batch.to(tl.int64) * height * width
    head_cols = head * HEAD_DIM + cols

    query_mask = query_ok[:, None] & col_ok[None, :]
    q_ptrs = (
        qkv_ptr + (image + query_pixel)[:, None] * (3 * CH) +
        head_cols[None, :])
    q = tl.load(q_ptrs, mask=query_mask, other=0.).to(tl.float32) * scale

    x0, y0, fx, fy, _, _ = _sample_corners(offsets_ptr, scales_ptr, pid,
                                           tokens, window_row, window_col,
                                           height, width, ax, ay, bx, by, WS)
    kv_rows = qkv_ptr + image * (3 * CH) + CH + head_cols[None, :]
    keys, values = _sample_keys_values(kv_rows, x0, y0, fx, fy, token_ok,
                                       col_ok, height, width, CH, BLOCK_N,
                                       BLOCK_D)

    dot_type = qkv_ptr.dtype.element_ty
    scores, _, _ = _logits(
        q.to(dot_type), keys.to(dot_type), table_ptr, tokens, token_ok, head,
        NUM_HEADS, WS, DOT_PRECISION)
    scores = tl.where(token_ok[None, :], scores, float('-inf'))
    row_max = tl.max(scores, axis=1)
    probs = tl.exp(scores - row_max[:, None])
    row_sum = tl.sum(probs, axis=1)
    out = tl.dot(
        probs.to(dot_type), values.to(dot_type),
        input_precision=DOT_PRECISION) / row_sum[:, None]

    out_ptrs = (
        out_ptr + (image + query_pixel)[:, None] * CH + head_cols[None, :])
    tl.store(out_ptrs, out.to(out_ptr.dtype.element_ty), mask=query_mask)
    tl.store(
        lse_ptr + pid * (WS * WS) + tokens,
        row_max + tl.log(row_sum),
        mask=token_ok)


@triton.jit
def vsa_backward_kernel(qkv_ptr, offsets_ptr, scales_ptr, table_ptr, out_ptr,
                        grad_out_ptr, lse_ptr, grad_qkv_ptr, grad_offsets_ptr,
                        grad_scales_ptr, grad_table_ptr, height, width,
                        windows_w, num_windows, ax, ay, bx, by, scale,
                        NUM_HEADS: tl.constexpr, HEAD_DIM: tl.constexpr,
                        WS: tl.constexpr, BLOCK_N: tl.constexpr,
                        BLOCK_D: tl.constexpr, DOT_PRECISION: tl.constexpr):
    """Backward: recomputes the samples and attention of one window's head.

    ``grad_qkv`` (B, H, W, 3 * D) and ``grad_table`` are float32 and zero on
    entry: the query gradient is stored, the key, value and table gradients
    are added atomically (samples of different windows share pixels).
    """
    CH: tl.constexpr = NUM_HEADS * HEAD_DIM
    pid = tl.program_id(0)
    (head, batch, window_row, window_col, tokens, token_ok, query_ok,
     query_pixel) = _window_setup(pid, num_windows, windows_w, NUM_HEADS, WS,
                                  BLOCK_N, height, width)
    cols = tl.arange(0, BLOCK_D)
    col_ok = cols < HEAD_DIM
    image = batch.to(tl.int64) * height * width
    head_cols = head * HEAD_DIM + cols

    query_mask = query_ok[:, None] & col_ok[None, :]
    query_rows = (image + query_pixel)[:, None]
    q = tl.load(
        qkv_ptr + query_rows * (3 * CH) + head_cols[None, :],
        mask=query_mask,
        other=0.).to(tl.float32) * scale
    out_offsets = query_rows * CH + head_cols[None, :]
    grad_out = tl.load(
        grad_out_ptr + out_offsets, mask=query_mask, other=0.).to(tl.float32)
    out = tl.load(
        out_ptr + out_offsets, mask=query_mask, other=0.).to(tl.float32)
    delta = tl.sum(grad_out * out, axis=1)
    lse = tl.load(lse_ptr + pid * (WS * WS) + tokens, mask=token_ok, other=0.)

    x0, y0, fx, fy, rel_x, rel_y = _sample_corners(offsets_ptr, scales_ptr,
                                                   pid, tokens, window_row,
                                                   window_col, height, width,
                                                   ax, ay, bx, by, WS)
    kv_rows = qkv_ptr + image * (3 * CH) + CH + head_cols[None, :]
    keys, values = _sample_keys_values(kv_rows, x0, y0, fx, fy, token_ok,
                                       col_ok, height, width, CH, BLOCK_N,
                                       BLOCK_D)

    dot_type = qkv_ptr.dtype.element_ty
    scores, bias_offsets, pair_ok = _logits(
        q.to(dot_type), keys.to(dot_type), table_ptr, tokens, token_ok, head,
        NUM_HEADS, WS, DOT_PRECISION)
    probs = tl.exp(scores - lse[:, None])
    probs = tl.where(query_ok[:, None] & token_ok[None, :], probs, 0.)

    grad_values = tl.dot(
        tl.trans(probs.to(dot_type)),
        grad_out.to(dot_type),
        input_precision=DOT_PRECISION)
    grad_probs = tl.dot(
        grad_out.to(dot_type),
        tl.trans(values.to(dot_type)),
        input_precision=DOT_PRECISION)
    grad_scores = probs * (grad_probs - delta[:, None])
    grad_q = tl.dot(
        grad_scores.to(dot_type),
        keys.to(dot_type),
        input_precision=DOT_PRECISION) * scale
    tl.store(
        grad_qkv_ptr + query_rows * (3 * CH) + head_cols[None, :],
        grad_q,
        mask=query_mask)
    grad_keys = tl.dot(
        tl.trans(grad_scores.to(dot_type)),
        q.to(dot_type),
        input_precision=DOT_PRECISION)
    tl.atomic_add(
        grad_table_ptr + bias_offsets,
        grad_scores,
        mask=pair_ok,
        sem='relaxed')

    # Scatter the sample gradients to the four corners and collect the
    # gradient of each sample position.
    grad_kv_rows = grad_qkv_ptr + image * (3 * CH) + CH + head_cols[None, :]
    grad_px = tl.zeros([BLOCK_N], dtype=tl.float32)
    grad_py = tl.zeros([BLOCK_N], dtype=tl.float32)
    for corner in range(4):
        pixel, weight, weight_x, weight_y, ok = _corner(
            x0, y0, fx, fy, token_ok, height, width, corner % 2, corner // 2)
        row_offsets = pixel.to(tl.int64)[:, None] * (3 * CH)
        mask = ok[:, None] & col_ok[None, :]
        corner_keys = tl.load(
            kv_rows + row_offsets, mask=mask, other=0.).to(tl.float32)
        corner_values = tl.load(
            kv_rows + row_offsets + CH, mask=mask, other=0.).to(tl.float32)
        grad_weight = tl.sum(
            grad_keys * corner_keys + grad_values * corner_values, axis=1)
        grad_px += grad_weight * weight_y * (2 * (corner % 2) - 1)
        grad_py += grad_weight * weight_x * (2 * (corner // 2) - 1)
        tl.atomic_add(
            grad_kv_rows + row_offsets,
            weight[:, None] * grad_keys,
            mask=mask,
            sem='relaxed')
        tl.atomic_add(
            grad_kv_rows + row_offsets + CH,
            weight[:, None] * grad_values,
            mask=mask,
            sem='relaxed')

    grad_px = tl.where(token_ok, grad_px, 0.)
    grad_py = tl.where(token_ok, grad_py, 0.)
    tl.store(grad_offsets_ptr + 2 * pid, bx * tl.sum(grad_px, axis=0))
    tl.store(grad_offsets_ptr + 2 * pid + 1, by * tl.sum(grad_py, axis=0))
    tl.store(grad_scales_ptr + 2 * pid, ax * tl.sum(grad_px * rel_x, axis=0))
    tl.store(grad_scales_ptr + 2 * pid + 1,
             ay * tl.sum(grad_py * rel_y, axis=0))
