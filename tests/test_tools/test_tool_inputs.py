"""Tools and configs: bad inputs fail with one line naming the bad value."""
import pytest
from helpers.tools import DEMO_CONFIGS, assert_one_line_error, run_tool

MMDET = str(DEMO_CONFIGS['mmdet'])


@pytest.mark.parametrize('layer,expected', [
    ('backbone.stages.1.blocks.7.attn', 'has no layer'),
    ('backbone.stages.1.blocks.1.attnn', 'has no layer'),
    ('backbone.stages.1.blocks.1.ffn', 'not a VSAWindowAttention'),
])
def test_visualize_windows_layer(tmp_path, layer, expected):
    out = tmp_path / 'w.png'
    line = assert_one_line_error(
        run_tool('visualize_windows.py', '--config', MMDET, '--checkpoint',
                 'unused.pth', '--image', 'unused.jpg', '--layer', layer,
                 '--out', str(out)), repr(layer), expected)
    assert 'backbone.stages.1.blocks.1.attn' in line  # a close match
    assert not out.exists()


def test_visualize_windows_checkpoint_needs_its_config(tmp_path):
    result = run_tool('visualize_windows.py', '--checkpoint', 'w.pth', '--out',
                      str(tmp_path / 'w.png'))
    assert result.returncode == 2
    assert_one_line_error(result, '--checkpoint', 'need --config')


def test_visualize_windows_without_config_still_draws(tmp_path):
    out = tmp_path / 'w.png'
    result = run_tool('visualize_windows.py', '--size', '56', '--out',
                      str(out))
    assert result.returncode == 0, result.stderr
    assert out.stat().st_size > 0


@pytest.mark.parametrize('tool', ['train.py', 'test.py'])
def test_missing_config(tmp_path, tool):
    config = str(tmp_path / 'no_such_config.py')
    args = [config] + (['w.pth'] if tool == 'test.py' else [])
    assert_one_line_error(run_tool(tool, *args), config, 'not exist')


@pytest.mark.parametrize('tool', ['train.py', 'test.py'])
def test_config_with_a_syntax_error(tmp_path, tool):
    config = tmp_path / 'broken.py'
    config.write_text('model = dict(type=\n')
    args = [str(config)] + (['w.pth'] if tool == 'test.py' else [])
    assert_one_line_error(run_tool(tool, *args), 'broken.py')


def test_config_with_a_misspelt_vsa_mm_type(tmp_path):
    config = tmp_path / 'misspelt.py'
    config.write_text(
        f'_base_ = [{str(DEMO_CONFIGS["mmpretrain"])!r}]\n'
        "model = dict(backbone=dict(type='vsa_mm.SwinTransformerVAS'))\n")
    assert_one_line_error(
        run_tool('train.py', str(config), '--work-dir',
                 str(tmp_path / 'work')), 'vsa_mm.SwinTransformerVAS',
        'vsa_mm::model', 'SwinTransformerVSA')


def test_test_with_a_missing_checkpoint(tmp_path):
    checkpoint = str(tmp_path / 'absent.pth')
    assert_one_line_error(
        run_tool('test.py', str(DEMO_CONFIGS['mmpretrain']), checkpoint),
        checkpoint, 'does not exist')


def test_unknown_option_is_one_line():
    result = run_tool('train.py', MMDET, '--no-such-flag')
    assert result.returncode == 2
    assert_one_line_error(result, '--no-such-flag')


def test_registry_misses_name_the_registry_and_close_matches():
    from mmengine.registry import HOOKS, MODELS

    import vsa_mm  # noqa: F401  registers the vsa_mm scope
    from vsa_mm.registry import MODELS as VSA_MODELS
    with pytest.raises(KeyError) as info:
        MODELS.build(dict(type='vsa_mm.ViTAEv3', arch='s-vsa'))
    assert 'vsa_mm::model' in str(info.value)
    assert 'ViTAEv2' in str(info.value)
    with pytest.raises(KeyError, match='vsa_mm::hook.*ExactResumeHook'):
        HOOKS.build(dict(type='vsa_mm.ExactResumeHok'))
    assert 'SwinTransformerVSA' in VSA_MODELS
    assert 'SwinTransformerVAS' not in VSA_MODELS  # no exception
    assert MODELS.build(
        dict(type='vsa_mm.VSAWindowAttention', embed_dims=8,
             num_heads=2)) is not None
