"""Registers and spills of the fused VSA kernels, compiled without a GPU.

Compiles both Triton kernels of ``backend='triton'`` ahead of time for the
chosen NVIDIA architectures (``triton.compile`` with a ``GPUTarget``), runs
the ``ptxas`` that ships with Triton with ``-v`` on the result and prints a
table: registers per thread and bytes spilled to local memory, per kernel,
storage dtype, head width and architecture, at the warps the backend
launches with. Spills show where a kernel needs more registers than a thread
has; the ``tests`` check that the forward kernel has none.

Usage::

    .venv/bin/python tools/analysis_tools/triton_kernel_resources.py
    .venv/bin/python tools/analysis_tools/triton_kernel_resources.py \
        --archs 90 --dtypes bf16 --head-dims 32 64

Must run without ``TRITON_INTERPRET=1`` (the interpreter compiles nothing).
"""
import argparse
import itertools
import os
import re
import subprocess
import sys
import tempfile
from typing import Dict, List, NamedTuple

from vsa_mm.compat import triton_ahead_of_time

#: Pointer types of the kernels' tensor arguments by storage dtype; every
#: other pointer is float32.
_STORAGE_POINTERS = ('qkv_ptr', 'out_ptr', 'grad_out_ptr')
_FLOAT_SCALARS = ('ax', 'ay', 'bx', 'by', 'scale')
_TRITON_TYPES = {'fp32': '*fp32', 'fp16': '*fp16', 'bf16': '*bf16'}


class Resources(NamedTuple):
    registers: int
    spilled_bytes: int


def _signature(kernel, dtype: str, constants: Dict[str, object]) -> dict:
    types = {}
    for name in kernel.arg_names:
        if name in constants:
            types[name] = 'constexpr'
        elif name in _STORAGE_POINTERS:
            types[name] = _TRITON_TYPES[dtype]
        elif name.endswith('_ptr'):
            types[name] = '*fp32'
        elif name in _FLOAT_SCALARS:
            types[name] = 'fp32'
        else:
            types[name] = 'i32'
    return types


def compile_kernel(name: str, arch: int, dtype: str, num_heads: int,
                   head_dims: int) -> Resources:
    """Compile one kernel as the backend would launch it; read ptxas -v."""
    import triton
    from triton.backends.compiler import GPUTarget

    from vsa_mm.models.layers.backends import triton_fused, triton_kernels
    kernel = getattr(triton_kernels, f'vsa_{name}_kernel')
    constants = dict(
        NUM_HEADS=num_heads,
        HEAD_DIM=head_dims,
        WS=7,
        BLOCK_N=triton_fused.MAX_WINDOW_TOKENS,
        BLOCK_D=max(16, 1 << (head_dims - 1).bit_length()),
        DOT_PRECISION='tf32x3')
    source = triton.compiler.ASTSource(
        fn=kernel,
        signature=_signature(kernel, dtype, constants),
        constexprs=constants)
    target = GPUTarget('cuda', arch, 32)
    options = triton.compiler.make_backend(target).parse_options(
        dict(num_warps=triton_fused.NUM_WARPS[name]))
    compiled = triton.compile(source, target=target, options=options.__dict__)
    ptxas = os.path.join(
        os.path.dirname(triton.__file__), 'backends', 'nvidia', 'bin', 'ptxas')
    with tempfile.TemporaryDirectory() as tmp:
        ptx = os.path.join(tmp, 'kernel.ptx')
        with open(ptx, 'w') as file:
            file.write(compiled.asm['ptx'])
        report = subprocess.run([
            ptxas, f'-arch=sm_{arch}a' if arch >= 90 else f'-arch=sm_{arch}',
            '-v', ptx, '-o',
            os.path.join(tmp, 'kernel.cubin')
        ],
                                capture_output=True,
                                text=True,
                                check=True).stderr
    registers = int(re.search(r'Used (\d+) registers', report).group(1))
    spilled = int(re.search(r'(\d+) bytes spill stores', report).group(1))
    return Resources(registers, spilled)


def main(argv: List[str] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--archs', type=int, nargs='+', default=[90, 80])
    parser.add_argument(
        '--dtypes',
        nargs='+',
        choices=sorted(_TRITON_TYPES),
        default=['fp32', 'bf16'])
    parser.add_argument('--head-dims', type=int, nargs='+', default=[32, 64])
    args = parser.parse_args(argv)
    if os.environ.get('TRITON_INTERPRET', '0') not in ('', '0'):
        print(
            'triton_kernel_resources.py: unset TRITON_INTERPRET; the '
            'interpreter compiles nothing',
            file=sys.stderr)
        return 2
    missing = triton_ahead_of_time().missing()
    if missing is not None:
        print(f'triton_kernel_resources.py: {missing}', file=sys.stderr)
        return 2
    from vsa_mm.models.layers.backends.triton_fused import NUM_WARPS
    lines = [
        '| arch | kernel | dtype | head dims | warps | registers | '
        'spilled bytes |', '|---|---|---|---:|---:|---:|---:|'
    ]
    for arch, name, dtype, head_dims in itertools.product(
            args.archs, ('forward', 'backward'), args.dtypes, args.head_dims):
        found = compile_kernel(name, arch, dtype, 4, head_dims)
        lines.append(f'| sm_{arch} | {name} | {dtype} | {head_dims} | '
                     f'{NUM_WARPS[name]} | {found.registers} | '
                     f'{found.spilled_bytes} |')
    print('\n'.join(lines))  # noqa: T201  the tool's output is its table
    return 0


if __name__ == '__main__':
    sys.exit(main())
