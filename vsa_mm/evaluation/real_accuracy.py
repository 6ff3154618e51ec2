"""ImageNet-ReaL accuracy as an MMEngine metric.

ImageNet-ReaL (Beyer et al., "Are we done with ImageNet?", 2020,
arXiv 2006.07159; labels in github.com/google-research/reassessed-imagenet)
re-annotates the 50,000 ImageNet validation images with sets of plausible
classes. The VSA paper (arXiv 2204.08446) reports it as ``acc@RealTop-1``,
computed by the official ViTAE-VSA evaluation script
(github.com/ViTAE-Transformer/ViTAE-VSA).
"""
import json
import numbers
import os
import os.path as osp
from collections.abc import Mapping
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmengine.dist import (broadcast_object_list, collect_results,
                           get_world_size, is_main_process)
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger

from ..registry import METRICS

PathLike = Union[str, os.PathLike]


def check_topk(topk: Union[int, Sequence[int]]) -> Tuple[int, ...]:
    """Validate ``topk`` and return it as a tuple.

    Args:
        topk (int | Sequence[int]): One ``k`` or several distinct ones, each
            a positive int.

    Returns:
        tuple[int, ...]: The values of ``topk`` in the given order.

    Examples:
        >>> check_topk(5)
        (5,)
        >>> check_topk([1, 5])
        (1, 5)
    """
    values = (topk, ) if isinstance(topk, numbers.Integral) else topk
    if isinstance(topk, (bool, str)) or not isinstance(values, Sequence):
        raise TypeError(
            f'topk must be an int or a sequence of ints, got {topk!r}')
    if len(values) == 0:
        raise ValueError(f'topk must not be empty, got {topk!r}')
    for k in values:
        if isinstance(k, bool) or not isinstance(k, numbers.Integral):
            raise TypeError(f'topk values must be ints, got {k!r} in '
                            f'topk={topk!r}')
        if k < 1:
            raise ValueError(f'topk values must be >= 1, got {k!r} in '
                             f'topk={topk!r}')
    if len(set(values)) != len(values):
        raise ValueError(f'topk values must be distinct, got {topk!r}')
    return tuple(int(k) for k in values)


def load_real_labels(real_json: PathLike) -> List[List[int]]:
    """Read and validate a ReaL label file.

    Args:
        real_json (str | os.PathLike): A JSON file holding a list with one
            entry per image; an entry is a (possibly empty) list of class
            indices, as the ``real.json`` of the reassessed-imagenet
            repository.

    Returns:
        list[list[int]]: The entries, in file order.

    Raises:
        TypeError: ``real_json`` is not a path.
        FileNotFoundError: The file does not exist.
        ValueError: The file is not JSON, or not a non-empty list of lists
            of non-negative ints.
    """
    if not isinstance(real_json, (str, os.PathLike)):
        raise TypeError(f'real_json must be a path (str), got {real_json!r}')
    path = os.fspath(real_json)
    if not osp.isfile(path):
        raise FileNotFoundError(f'ReaL label file {path!r} does not exist; '
                                'see the reassessed-imagenet repository')
    with open(path, encoding='utf-8') as f:
        try:
            entries = json.load(f)
        except json.JSONDecodeError as error:
            raise ValueError(
                f'ReaL label file {path!r} is not valid JSON: {error}'
            ) from None
    if not isinstance(entries, list) or not entries:
        raise ValueError(
            f'ReaL label file {path!r} must hold a non-empty list of label '
            f'lists, got {_short(entries)}')
    for index, entry in enumerate(entries):
        if not isinstance(entry, list):
            raise ValueError(
                f'entry {index} of ReaL label file {path!r} must be a list '
                f'of class indices, got {_short(entry)}')
        for label in entry:
            if (isinstance(label, bool) or not isinstance(label, int)
                    or label < 0):
                raise ValueError(
                    f'entry {index} of ReaL label file {path!r} holds '
                    f'{label!r}; class indices must be ints >= 0')
    return entries


def _short(value: Any, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + '...'


def _load_filenames(filenames: Union[PathLike, Sequence[str]],
                    num_entries: int) -> Dict[str, int]:
    """Map each base name of ``filenames`` to its position."""
    source = 'filenames'
    if isinstance(filenames, (str, os.PathLike)):
        source = os.fspath(filenames)
        if not osp.isfile(source):
            raise FileNotFoundError(
                f'ReaL file name list {source!r} does not exist')
        with open(source, encoding='utf-8') as f:
            filenames = [line.strip() for line in f if line.strip()]
    elif not isinstance(filenames, Sequence):
        raise TypeError('filenames must be a path or a sequence of file '
                        f'names, got {_short(filenames)}')
    index: Dict[str, int] = {}
    for position, name in enumerate(filenames):
        if not isinstance(name, str) or not name:
            raise TypeError(f'{source}[{position}] must be a file name, got '
                            f'{name!r}')
        base = osp.basename(name)
        if base in index:
            raise ValueError(f'{source} lists {base!r} twice (positions '
                             f'{index[base]} and {position})')
        index[base] = position
    if len(index) != num_entries:
        raise ValueError(f'{source} has {len(index)} names but the ReaL '
                         f'label file has {num_entries} entries')
    return index


@METRICS.register_module()
class ReaLAccuracy(BaseMetric):
    """Top-k accuracy against the ImageNet-ReaL label sets.

    An image counts as correct at ``k`` when any of its ``k`` highest-scoring
    classes is in its ReaL label set; images whose set is empty are left
    out. Accuracies are percentages of the images counted.

    **Which entry of real.json belongs to which image.** Predictions are
    matched to entries by the image's base file name (``img_path`` with its
    folders removed), never by the order in which the loader delivered them,
    so shuffling, distributed sharding and sampler padding cannot misalign
    them.

    - By default (``filenames=None``) entry ``i`` belongs to the ``i``-th of
      the *sorted* distinct base names of the evaluated set. This is the
      official convention: ``real.json`` follows the sorted ImageNet
      validation file names ``ILSVRC2012_val_00000001.JPEG``, ... (with or
      without class sub-folders), and it applies unchanged to any other set,
      such as a small demo set. Because positions are only meaningful for
      the whole set, the number of distinct images evaluated must equal the
      number of entries.
    - ``filenames`` gives the mapping explicitly: entry ``i`` belongs to the
      file whose base name is ``filenames[i]``. Every evaluated image must
      have an entry, and every entry must be evaluated.

    Base names must be unique within the evaluated set. Samples that arrive
    more than once with the same ``img_path`` (padding added by distributed
    samplers) are counted once.

    Each data sample needs ``img_path`` (set by ``LoadImageFromFile`` and
    packed by mmpretrain's ``PackInputs``) and ``pred_score`` of shape
    (num_classes, ). A ``k`` larger than the number of classes counts all
    classes as predicted.

    The reported keys are ``real/top{k}`` for every ``k`` of ``topk`` and
    ``real/num_images``, the number of images counted (``real`` is the
    default prefix).

    Args:
        real_json (str | os.PathLike): ReaL label file: a JSON list with one
            (possibly empty) list of class indices per image.
        topk (int | Sequence[int]): The ``k`` values. Defaults to (1, 5).
        filenames (str | os.PathLike | Sequence[str], optional): The file
            name of each entry, in ``real_json`` order, as a sequence or as
            a text file with one name per line; folders are ignored.
            Defaults to None: the sorted-name rule above.
        collect_device (str): Device used to gather results across ranks,
            ``'cpu'`` or ``'gpu'``. Defaults to ``'cpu'``.
        prefix (str, optional): Prefix of the reported keys. Defaults to
            None, meaning ``'real'``.
        collect_dir (str, optional): Folder for gathering on the CPU.
            Defaults to None (a temporary folder).

    Examples:
        >>> import json, os.path as osp, tempfile, torch
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     real_json = osp.join(tmp, 'real.json')
        ...     with open(real_json, 'w') as f:
        ...         json.dump([[0], [1, 2], []], f)
        ...     metric = ReaLAccuracy(real_json, topk=(1, 2))
        >>> # a.JPEG -> [0], b.JPEG -> [1, 2], c.JPEG -> [] (left out)
        >>> metric.process(None, [
        ...     dict(img_path='val/b.JPEG', pred_score=torch.tensor(
        ...         [.5, .2, .3])),
        ...     dict(img_path='val/c.JPEG', pred_score=torch.tensor(
        ...         [.1, .2, .7])),
        ...     dict(img_path='val/a.JPEG', pred_score=torch.tensor(
        ...         [.6, .3, .1]))])
        >>> metric.evaluate(size=3)
        {'real/top1': 50.0, 'real/top2': 100.0, 'real/num_images': 2}
    """

    default_prefix: Optional[str] = 'real'

    def __init__(self,
                 real_json: PathLike,
                 topk: Union[int, Sequence[int]] = (1, 5),
                 filenames: Optional[Union[PathLike, Sequence[str]]] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None,
                 collect_dir: Optional[str] = None) -> None:
        super().__init__(
            collect_device=collect_device,
            prefix=prefix,
            collect_dir=collect_dir)
        self.topk = check_topk(topk)
        self.real_json = os.fspath(real_json) if isinstance(
            real_json, os.PathLike) else real_json
        self.real_labels = load_real_labels(real_json)
        self.name_to_entry: Optional[Dict[str, int]] = None
        if filenames is not None:
            self.name_to_entry = _load_filenames(filenames,
                                                 len(self.real_labels))

    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        """Keep each sample's image path and its ``max(topk)`` best classes.

        Args:
            data_batch (Any): The loader's batch (unused).
            data_samples (Sequence[dict]): The model's outputs as dicts (or
                data elements) with ``img_path`` (str) and ``pred_score``
                (Tensor of shape (num_classes, )).
        """
        maxk = max(self.topk)
        for sample in data_samples:
            if hasattr(sample, 'to_dict'):
                sample = sample.to_dict()
            if not isinstance(sample, Mapping):
                raise TypeError('ReaLAccuracy expects data samples as dicts, '
                                f'got {type(sample).__name__}')
            path = sample.get('img_path')
            if not isinstance(path, str) or not path:
                raise ValueError(
                    'ReaLAccuracy matches images by file name and needs '
                    "'img_path' in every data sample; got "
                    f'{path!r} (keys: {sorted(sample)})')
            if sample.get('pred_score') is None:
                raise ValueError(
                    f"data sample of {path!r} has no 'pred_score' "
                    f'(keys: {sorted(sample)})')
            score = torch.as_tensor(sample['pred_score']).detach().cpu()
            if score.dim() != 1 or score.numel() == 0:
                raise ValueError(
                    f'pred_score of {path!r} must have shape (num_classes, '
                    f'), got {tuple(score.shape)}')
            best = score.float().topk(min(maxk, score.numel())).indices
            self.results.append(
                dict(
                    img_path=path,
                    best=best.tolist(),
                    num_classes=score.numel()))

    def compute_metrics(
            self,
            results: List[dict],
            size: Optional[int] = None) -> Dict[str, Union[float, int]]:
        """ReaL accuracies of the gathered results.

        Args:
            results (list[dict]): What :meth:`process` kept, from all ranks,
                in any order, possibly with repeated samples.
            size (int, optional): Number of images in the dataset; checked
                against the distinct images when given.

        Returns:
            dict: ``top{k}`` (float, percent) for each ``k``, and
            ``num_images`` (int), the images counted.
        """
        unique: Dict[str, dict] = {}
        for result in results:
            unique.setdefault(result['img_path'], result)
        if size is not None and len(unique) != size:
            raise ValueError(
                f'ReaLAccuracy received {len(unique)} distinct images but '
                f'the dataset has {size}; every image must be evaluated once '
                'and image paths must be unique')
        by_name: Dict[str, dict] = {}
        for path, result in unique.items():
            name = osp.basename(path)
            if name in by_name:
                raise ValueError(
                    f'{by_name[name]["img_path"]!r} and {path!r} share the '
                    f'file name {name!r}; ReaL entries are matched by file '
                    'name, which must be unique')
            by_name[name] = result
        entry_of = self._entries(sorted(by_name))

        correct = {k: 0 for k in self.topk}
        counted = 0
        num_classes = None
        for name, result in by_name.items():
            if num_classes is None:
                num_classes = result['num_classes']
            elif result['num_classes'] != num_classes:
                raise ValueError(
                    f'pred_score of {result["img_path"]!r} has '
                    f'{result["num_classes"]} classes, others have '
                    f'{num_classes}')
            labels = self.real_labels[entry_of[name]]
            if not labels:
                continue
            if max(labels) >= num_classes:
                raise ValueError(
                    f'ReaL labels {labels} of {name!r} (entry '
                    f'{entry_of[name]} of {self.real_json!r}) exceed the '
                    f"model's {num_classes} classes")
            counted += 1
            for k in self.topk:
                if any(c in labels for c in result['best'][:k]):
                    correct[k] += 1
        if counted == 0:
            raise ValueError(
                f'none of the {len(by_name)} evaluated images has a '
                f'non-empty ReaL label list in {self.real_json!r}')
        if num_classes < max(self.topk):
            MMLogger.get_current_instance().warning(
                f'ReaLAccuracy: topk={self.topk} exceeds the {num_classes} '
                f'classes; top-{max(self.topk)} counts every class')
        metrics: Dict[str, Union[float, int]] = {
            f'top{k}': 100.0 * correct[k] / counted
            for k in self.topk
        }
        metrics['num_images'] = counted
        return metrics

    def _entries(self, names: List[str]) -> Dict[str, int]:
        """The real.json entry of each of the sorted base ``names``."""
        num_entries = len(self.real_labels)
        if self.name_to_entry is None:
            if len(names) != num_entries:
                raise ValueError(
                    f'{len(names)} images were evaluated but the ReaL label '
                    f'file {self.real_json!r} has {num_entries} entries; '
                    'entries follow the sorted file names of the whole '
                    'evaluated set, so the two counts must be equal')
            return {name: index for index, name in enumerate(names)}
        unknown = [n for n in names if n not in self.name_to_entry]
        if unknown:
            raise ValueError(
                f'file name {unknown[0]!r} has no ReaL entry in filenames '
                f'({len(unknown)} evaluated images have none)')
        if len(names) != num_entries:
            missing = sorted(set(self.name_to_entry) - set(names))
            raise ValueError(
                f'{len(names)} images were evaluated but the ReaL label '
                f'file {self.real_json!r} has {num_entries} entries; not '
                f'evaluated: {missing[:5]}')
        return {name: self.name_to_entry[name] for name in names}

    def evaluate(self, size: int) -> dict:
        """Gather the results of all ranks and compute the metrics.

        Unlike :meth:`BaseMetric.evaluate`, which interleaves the ranks'
        results and cuts them to ``size`` (with uneven shards that can keep
        padding repeats and drop real samples), every rank's list is
        gathered whole and repeats are removed by image path, so the outcome
        does not depend on how the samples were split or ordered.

        Args:
            size (int): Number of images in the dataset.

        Returns:
            dict: The metrics with the prefix, on every rank.
        """
        world_size = get_world_size()
        if self.collect_device == 'cpu':
            parts = collect_results([list(self.results)],
                                    world_size,
                                    'cpu',
                                    tmpdir=self.collect_dir)
        else:
            parts = collect_results([list(self.results)], world_size,
                                    self.collect_device)
        outcome: List[Any] = [None]
        if is_main_process():
            try:
                metrics = self.compute_metrics(
                    [result for part in parts for result in part], size)
                if self.prefix:
                    metrics = {
                        f'{self.prefix}/{key}': value
                        for key, value in metrics.items()
                    }
                outcome = [metrics]
            except (TypeError, ValueError) as error:
                outcome = [error]
        # Every rank raises the main rank's error instead of waiting.
        broadcast_object_list(outcome)
        self.results.clear()
        if isinstance(outcome[0], Exception):
            raise outcome[0]
        return outcome[0]
