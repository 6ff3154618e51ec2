"""What differs between the torch releases vsa_mm supports (2.1 to 2.14).

Every difference is a feature check here, never a version comparison: the
rest of the package asks these names and knows no torch release. Each check
says in one line what depends on it; :class:`TorchFeature` holds the first
release that has a feature only for the message that asks for a newer
torch.

Where a feature's presence is not an attribute, a tiny probe at import
observes it (:data:`WEIGHTS_ONLY_BY_DEFAULT`, :data:`NAMED_SAFE_GLOBALS`);
bugs of older torches are observed the same way
(:data:`GELU_BACKWARD_NEEDS_CONTIGUOUS_GRAD`) and worked around where they
bite.

What needs a newer torch than the one installed raises
:class:`UnsupportedTorchError` (a ``RuntimeError``) naming that release when
it is asked for, and the layer's ``'auto'`` backend never picks it.
"""
import importlib
import importlib.util
import inspect
import io
import pickle
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional

import torch
import torch.utils.flop_counter  # noqa: F401  (FLOP_FORMULAS)


class UnsupportedTorchError(RuntimeError):
    """A feature that the installed torch does not have."""


@dataclass(frozen=True)
class TorchFeature:
    """A torch feature vsa_mm uses where present.

    Args:
        available (bool): Whether the installed torch has it.
        since (str): The first torch release that has it (for messages).
        what (str): The API, as a user would look it up.
    """
    available: bool
    since: str
    what: str

    def missing(self) -> Optional[str]:
        """Why the installed torch cannot do what needs the feature.

        Returns:
            str | None: A sentence naming the release that has it; None
            where it is available.
        """
        if self.available:
            return None
        return (f'it needs torch >= {self.since} ({self.what}), this is '
                f'torch {torch.__version__}')

    def require(self, purpose: str) -> None:
        """Raise unless the feature is available.

        Args:
            purpose (str): What needs it, e.g. ``'compiling a VSA layer'``.

        Raises:
            UnsupportedTorchError: Naming the release that has it.
        """
        reason = self.missing()
        if reason is not None:
            raise UnsupportedTorchError(f'{purpose}: {reason}')


#: ``torch.library.custom_op`` with ``register_fake`` and
#: ``register_autograd``: vsa_mm's operators are custom operators that
#: ``torch.compile`` and ``torch.export`` trace by name; without it they are
#: ``torch.autograd.Function`` objects with the same numerics, and the
#: Triton backend and compiling the layer are unavailable.
CUSTOM_OPS = TorchFeature(
    hasattr(torch.library, 'custom_op')
    and hasattr(torch.library, 'register_fake'), '2.4',
    'torch.library.custom_op')

#: ``torch.compile`` of VSA layers and backbones: custom operators, and a
#: dynamo and AOTAutograd that train a whole VSA backbone compiled with
#: dynamic shapes. torch 2.4 compiles the layer but not such a backbone
#: (its graph loses the inputs' gradients: "One of the differentiated
#: Tensors appears to not have been used"); the release that trains it,
#: 2.6, is the one with ``torch.compiler.set_stance``.
COMPILE = TorchFeature(
    CUSTOM_OPS.available and hasattr(torch.compiler, 'set_stance'), '2.6',
    'dynamo and AOTAutograd that train compiled VSA backbones')

#: ``torch.utils.flop_counter.register_flop_formula``: FLOP formulas of the
#: fused operator for ``FlopCounterMode`` (:func:`register_flop_formula`).
FLOP_FORMULAS = TorchFeature(
    hasattr(torch.utils.flop_counter, 'register_flop_formula'), '2.4',
    'torch.utils.flop_counter.register_flop_formula')

#: ``torch.compiler.is_exporting`` and size-oblivious export
#: (``torch.fx.experimental._config.backed_size_oblivious``): the dynamo
#: ONNX exporter, whose graphs hold for every image size.
DYNAMO_EXPORT = TorchFeature(
    hasattr(torch.compiler, 'is_exporting')
    and importlib.util.find_spec('torch.fx.experimental._config') is not None
    and hasattr(
        importlib.import_module('torch.fx.experimental._config'),
        'backed_size_oblivious'), '2.7',
    'torch.compiler.is_exporting and size-oblivious export')


class _LoadProbe:
    """A harmless global that no ``weights_only`` allowlist holds."""


class _NamedProbe:
    """What the probe of :data:`NAMED_SAFE_GLOBALS` loads under
    ``_LoadProbe``'s name."""


def _saved(obj: object) -> io.BytesIO:
    """``obj`` as ``torch.save`` writes it, ready to load."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    buffer.seek(0)
    return buffer


def _load_refuses_unknown_globals() -> bool:
    """Whether ``torch.load`` without ``weights_only`` refuses a global
    off its allowlist: loading a harmless one tells, with torch's
    environment switches counted."""
    try:
        with warnings.catch_warnings():
            # torch 2.4 and 2.5 warn that their default will change.
            warnings.simplefilter('ignore', FutureWarning)
            torch.load(_saved(_LoadProbe))
    except pickle.UnpicklingError:
        return True
    return False


def _safe_globals_take_names() -> bool:
    """Whether ``torch.serialization.safe_globals`` maps a pickled name to
    another object: loading a harmless global under another name tells."""
    serialization = torch.serialization
    if not hasattr(serialization, 'safe_globals'):
        return False
    name = f'{_LoadProbe.__module__}.{_LoadProbe.__qualname__}'
    try:
        with serialization.safe_globals([(_NamedProbe, name)]):
            loaded = torch.load(_saved(_LoadProbe), weights_only=True)
    except (pickle.UnpicklingError, TypeError, AttributeError):
        return False
    return loaded is _NamedProbe


#: ``torch.load`` refuses what is off its allowlist unless told otherwise
#: (``weights_only=True`` by default): MMEngine's loader of local files is
#: then safe as it is; without it, ``import vsa_mm`` replaces that loader
#: with a safe one (:mod:`vsa_mm.checkpoint.safe_load`).
WEIGHTS_ONLY_BY_DEFAULT = TorchFeature(_load_refuses_unknown_globals(), '2.6',
                                       "torch.load's weights_only default")

#: ``torch.serialization.add_safe_globals`` takes ``(object, name)`` pairs:
#: vsa_mm loads with torch's ``weights_only`` unpickler and an allowlist
#: that maps MMEngine's names to safe loaders; without it, with its own
#: allowlist unpickler (:mod:`vsa_mm.checkpoint.allowlist_unpickler`).
NAMED_SAFE_GLOBALS = TorchFeature(
    _safe_globals_take_names(), '2.6',
    'torch.serialization.add_safe_globals with (object, name) pairs')


def _exact_gelu_backward_follows_strides() -> bool:
    """Whether the exact GELU's backward gives the same for a gradient
    laid out unlike its input as for a contiguous one (a 2x2x2 example)."""
    x = torch.linspace(-2, 2, 8).view(1, 2, 2, 2)
    grad = torch.linspace(1, 2, 8).view(1, 2, 2, 2)
    results = []
    for layout in (grad.contiguous(memory_format=torch.channels_last), grad):
        leaf = x.clone().requires_grad_()
        torch.nn.functional.gelu(leaf).backward(layout)
        results.append(leaf.grad)
    return torch.equal(*results)


#: The exact GELU's backward needs a gradient laid out like its input:
#: torch 2.1 gets it wrong on the CPU otherwise (off by 1 to 1e22 against
#: the same gradient made contiguous). ViTAEv2's pyramid reduction meets
#: it (contiguous convolution outputs, a channels-last gradient from the
#: tokens) and makes that gradient contiguous.
GELU_BACKWARD_NEEDS_CONTIGUOUS_GRAD = not _exact_gelu_backward_follows_strides(
)


def is_compiling() -> bool:
    """Whether dynamo (``torch.compile``, strict ``torch.export``) traces
    this call: ``torch.compiler.is_compiling`` where it exists, else its
    older name ``torch._dynamo.is_compiling``."""
    if hasattr(torch.compiler, 'is_compiling'):
        return torch.compiler.is_compiling()
    return torch._dynamo.is_compiling()


def is_exporting() -> bool:
    """Whether ``torch.export`` traces this call (False where torch has no
    ``torch.compiler.is_exporting``: those releases lack the dynamo ONNX
    exporter vsa_mm uses, see :data:`DYNAMO_EXPORT`)."""
    return DYNAMO_EXPORT.available and torch.compiler.is_exporting()


def autocast_dtype(device_type: str) -> Optional[torch.dtype]:
    """The dtype autocast computes in on ``device_type``, None when off.

    ``torch.is_autocast_enabled(device_type)`` and
    ``torch.get_autocast_dtype`` where they exist; older releases have one
    function per device (CUDA and CPU).
    """
    if hasattr(torch, 'get_autocast_dtype'):
        if not torch.is_autocast_enabled(device_type):
            return None
        return torch.get_autocast_dtype(device_type)
    if device_type == 'cpu':
        enabled, dtype = (torch.is_autocast_cpu_enabled(),
                          torch.get_autocast_cpu_dtype())
    elif device_type == 'cuda':
        enabled, dtype = (torch.is_autocast_enabled(),
                          torch.get_autocast_gpu_dtype())
    else:
        return None
    return dtype if enabled else None


def torch_weights_only_globals() -> Dict[str, Any]:
    """The globals torch's ``weights_only`` unpickler allows by default, by
    pickled name, for :mod:`vsa_mm.checkpoint.allowlist_unpickler`, which
    stands in for it where :data:`NAMED_SAFE_GLOBALS` is missing. Those
    releases list them in ``torch._weights_only_unpickler``."""
    from torch import _weights_only_unpickler
    return dict(_weights_only_unpickler._get_allowed_globals())


def compiling_unsupported() -> bool:
    """Whether dynamo traces the caller on a torch that cannot compile VSA
    layers (:data:`COMPILE`).

    Callers raise :func:`compile_unsupported` in their own frame: dynamo
    runs a function it cannot trace eagerly, where it does not compile,
    so an exception raised inside a helper would never be seen.
    """
    return is_compiling() and not COMPILE.available


def compile_unsupported(what: str) -> UnsupportedTorchError:
    """The error for compiling ``what`` where :data:`COMPILE` is missing."""
    return UnsupportedTorchError(f'compiling {what}: {COMPILE.missing()}')


class FunctionOperator:
    """An operator as a ``torch.autograd.Function``, where torch has no
    ``torch.library.custom_op`` (:data:`CUSTOM_OPS`).

    It computes what the custom operator computes, with the same
    ``setup_context`` and ``backward``. Tracers see a Python function
    instead of a named operator, so compiling it raises
    :class:`UnsupportedTorchError`; ``torch.jit.trace`` and the TorchScript
    ONNX exporter record it as ``prim::PythonOp`` (give the Function a
    ``symbolic`` to export it).

    Args:
        name (str): The operator's qualified name, e.g.
            ``'vsa_mm::bilinear_gather'``.
        forward (callable): Its implementation.
        setup_context (callable, optional): As for ``register_autograd``.
        backward (callable, optional): As for ``register_autograd``; None
            for an operator without gradient.
    """

    def __init__(self, name: str, forward: Callable,
                 setup_context: Optional[Callable],
                 backward: Optional[Callable]) -> None:
        self.name = name
        self.forward = forward
        self.function = None
        class_name = ''.join(part.title()
                             for part in name.split('::')[-1].split('_'))
        #: How ``torch.jit.trace`` records a call (MMEngine's FLOP
        #: counter keys its handles so).
        self.traced_name = f'prim::PythonOp.{class_name}'
        if backward is not None:
            self.function = type(
                class_name, (torch.autograd.Function, ), {
                    'forward': staticmethod(forward),
                    'setup_context': staticmethod(setup_context),
                    'backward': staticmethod(backward),
                })

    def __call__(self, *args: Any) -> Any:
        if compiling_unsupported():
            raise compile_unsupported(self.name)
        if self.function is None:
            return self.forward(*args)
        return self.function.apply(*args)


def operator(name: str,
             fake: Optional[Callable] = None,
             setup_context: Optional[Callable] = None,
             backward: Optional[Callable] = None) -> Callable:
    """Make a function vsa_mm's operator ``name``.

    A ``torch.library`` custom operator (``mutates_args=()``) with ``fake``
    as its fake implementation and ``backward`` registered with
    ``setup_context``, where torch has them (:data:`CUSTOM_OPS`); else a
    :class:`FunctionOperator` with the same numerics and autograd.

    Args:
        name (str): Qualified name, ``'vsa_mm::...'``.
        fake (callable, optional): The fake (meta) implementation.
        setup_context (callable, optional): Saves what backward needs.
        backward (callable, optional): The gradients of the inputs.

    Returns:
        callable: A decorator that turns the implementation into the
        operator.
    """

    def decorate(forward: Callable) -> Callable:
        if not CUSTOM_OPS.available:
            return FunctionOperator(name, forward, setup_context, backward)
        op = torch.library.custom_op(name, mutates_args=())(forward)
        if fake is not None:
            op.register_fake(fake)
        if backward is not None:
            op.register_autograd(backward, setup_context=setup_context)
        return op

    return decorate


def register_flop_formula(op: Any, formula: Callable) -> None:
    """Give ``FlopCounterMode`` the FLOP formula of the operator ``op``.

    Through ``torch.utils.flop_counter.register_flop_formula``; where that
    keys the formula by overload (torch 2.4) while ``FlopCounterMode``
    looks formulas up by operator, it is also filed by operator, as later
    releases file it.

    Args:
        op (OpOverloadPacket): E.g. ``torch.ops.vsa_mm.fused_...``.
        formula (callable): Takes the input shapes and ``out_shape``.
    """
    from torch.utils import flop_counter
    flop_counter.register_flop_formula(op)(formula)
    if op not in flop_counter.flop_registry:
        flop_counter.flop_registry[op] = flop_counter.shape_wrapper(formula)


def triton_ahead_of_time() -> TorchFeature:
    """Compiling Triton kernels for a GPU without one:
    ``triton.compiler.ASTSource`` that takes ``constexprs`` (the Triton of
    torch 2.7 on), which ``tools/analysis_tools/triton_kernel_resources.py``
    needs. Imports Triton, so only what uses it asks."""
    import triton.compiler
    source = getattr(triton.compiler, 'ASTSource', None)
    return TorchFeature(
        source is not None
        and 'constexprs' in inspect.signature(source.__init__).parameters,
        '2.7', 'the Triton 3.3 ASTSource(constexprs=)')


def torchscript_onnx_export(*args: Any, **kwargs: Any) -> Any:
    """``torch.onnx.export`` with PyTorch's TorchScript exporter (the one
    mmdeploy drives): ``dynamo=False`` where ``export`` takes it (its
    default is the dynamo exporter from torch 2.9), the only exporter of
    older releases.

    Args:
        *args: As for ``torch.onnx.export``.
        **kwargs: As for ``torch.onnx.export``, without ``dynamo``.
    """
    if 'dynamo' in inspect.signature(torch.onnx.export).parameters:
        kwargs['dynamo'] = False
    return torch.onnx.export(*args, **kwargs)
