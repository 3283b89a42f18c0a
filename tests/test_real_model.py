"""The real trained model: PP-TinyPose's released deploy graphs imported as mmpose checkpoints.

* the import: heatmaps equal the IR's own OpenVINO fp32 run (both sizes) and the ncnn file's
  graph run by a small independent interpreter (tests/ncnn_reference.py); the checkpoint loads
  strictly through the safe loader into hrnet_mm's and mmpose's own LiteHRNet;
* bad input (another model's graph, a truncated .bin, a graph of another size) gives one clear
  error naming the file and writes nothing;
* real accuracy through tools/test.py on the COCO sample (annotated and detected boxes, flip
  test on and off): a floor, and the AP of the IR itself through the same pipeline, equal to
  the printed digits;
* fast mode on the real model: fp32 equal to stock, bf16 and int8 within the stated margins.
"""
import os
import os.path as osp
import shutil

import pytest
import torch

from helpers import load_tool

pytest.importorskip('mmpose.models')
ov = pytest.importorskip('openvino')

from hrnet_mm.apis.real_model import (SHARED_DATA, coco_sample_test_options,  # noqa: E402
                                      pp_tinypose_config, pp_tinypose_graph)
from hrnet_mm.checkpoint import CheckpointError, read_checkpoint, split_state_dict  # noqa: E402
from hrnet_mm.checkpoint_deploy import (convert_deploy_graph, pp_tinypose_model,  # noqa: E402
                                        read_deploy_graph)

PP_DIR = osp.join(SHARED_DATA, 'pp_tinypose')
NCNN = osp.join(PP_DIR, 'ncnn_256x192', 'tinypose_256x192.param')
PICODET = osp.join(SHARED_DATA, 'picodet_pedestrian', 'picodet_s_320_lcnet_pedestrian.xml')
SIZES = {'256x192': (256, 192), '128x96': (128, 96)}
# COCO keypoint AP of the 256x192 model on the 4-image sample (14 people), as measured with the
# sample's annotated boxes / its detected boxes, flip test on; the tests assert these floors.
AP_FLOOR = {'gt': 0.80, 'det': 0.70}

pytestmark = pytest.mark.skipif(not osp.isdir(PP_DIR), reason=f'real weights not at {PP_DIR}')


@pytest.fixture(scope='module')
def checkpoints(tmp_path_factory):
    """Both sizes converted once, through the command line."""
    out = tmp_path_factory.mktemp('pp_tinypose')
    tool = load_tool('convert_checkpoint')
    paths = {}
    for size in SIZES:
        paths[size] = str(out / f'pp_tinypose_{size}.pth')
        assert tool.main([pp_tinypose_graph(size), paths[size], '--config',
                          pp_tinypose_config(size)]) == 0
    return paths


def _mmpose_model(size, checkpoint):
    from hrnet_mm.apis import load_config, register_toolbox
    from hrnet_mm.utils import allow_mm_checkpoint_globals
    allow_mm_checkpoint_globals()
    cfg = load_config(pp_tinypose_config(size))
    register_toolbox(cfg)  # before mmpose.apis: it puts the torchvision stand-in in place
    from mmpose.apis import init_model
    return init_model(cfg, checkpoint, device='cpu')


@pytest.mark.parametrize('size', sorted(SIZES))
def test_heatmaps_equal_the_ir(size, checkpoints):
    """The converted checkpoint in the shipped config gives the IR's own heatmaps (OpenVINO
    fp32) within 1e-5, on the config's input size, batch 2."""
    from hrnet_mm.fast.deploy_graph import DeployGraphModule
    model = _mmpose_model(size, checkpoints[size])
    torch.manual_seed(0)
    x = torch.rand(2, 3, *SIZES[size]) * 4 - 2  # the preprocessor's range (ImageNet z-scores)
    with torch.no_grad():
        ours = model(x, None, mode='tensor')
    ir = DeployGraphModule(pp_tinypose_graph(size), threads=1)(x)
    assert ours.shape == ir.shape == (2, 17, SIZES[size][0] // 4, SIZES[size][1] // 4)
    assert (ours - ir).abs().max().item() < 1e-5
    assert ir.abs().max().item() > 0.1  # real heatmaps, not zeros


def test_ncnn_import_equals_its_graph():
    """The ncnn file (an earlier training run) against its own graph run by an independent
    interpreter of the .param file (no IR, no hrnet_mm network)."""
    from ncnn_reference import run_ncnn
    model = pp_tinypose_model().eval()
    model.load_state_dict(convert_deploy_graph(NCNN))
    torch.manual_seed(1)
    x = torch.rand(3, 256, 192) * 4 - 2
    with torch.no_grad():
        ref = run_ncnn(NCNN, x)['save_infer_model/scale_0.tmp_1']
        ours = model.head.final_layer(model.backbone(x[None])[0])[0]
    assert ours.shape == ref.shape == (17, 64, 48)
    assert (ours - ref).abs().max().item() < 1e-5
    # not the IR's weights: the two releases differ
    ir = read_deploy_graph(pp_tinypose_graph('256x192'))
    assert not torch.equal(read_deploy_graph(NCNN).convs[0].weight, ir.convs[0].weight)


def test_checkpoint_loads_strictly_into_mmpose_litehrnet(checkpoints):
    """Safe loader (weights_only), strict load into mmpose's own LiteHRNet with the same
    ``extra`` (naive modules, widths 40/80/160/320): same features as ours."""
    from mmpose.models.backbones import LiteHRNet as MMPoseLiteHRNet

    from hrnet_mm.models import LiteHRNet
    from hrnet_mm.models.lite_arch import lite_arch_to_extra, resolve_lite_arch
    sd = read_checkpoint(checkpoints['256x192'])  # torch.load(weights_only=True)
    backbone = split_state_dict(sd, 'backbone.')
    theirs = MMPoseLiteHRNet(extra=lite_arch_to_extra(resolve_lite_arch('wider_naive18', None)))
    theirs.eval()  # mmpose's train() returns None: no chaining
    theirs.load_state_dict(backbone, strict=True)
    ours = LiteHRNet('wider_naive18', out_streams='first').eval()
    ours.load_state_dict(backbone, strict=True)
    x = torch.rand(1, 3, 128, 96)
    with torch.no_grad():
        assert (theirs(x)[0] - ours(x)[0]).abs().max().item() < 1e-6


def _copy_graph(src_xml, dst_dir, truncate_bin_to=None):
    os.makedirs(dst_dir, exist_ok=True)
    xml = osp.join(dst_dir, 'model.xml')
    shutil.copyfile(src_xml, xml)
    data = open(src_xml[:-4] + '.bin', 'rb').read()
    with open(osp.join(dst_dir, 'model.bin'), 'wb') as f:
        f.write(data if truncate_bin_to is None else data[:truncate_bin_to])
    return xml


@pytest.mark.parametrize('case', ['other_model', 'truncated_bin', 'wrong_size', 'ncnn_bin',
                                  'missing'])
def test_bad_input_one_clear_error_nothing_written(case, tmp_path, capsys):
    tool = load_tool('convert_checkpoint')
    dst = tmp_path / 'out' / 'ckpt.pth'
    args, expect = None, None
    if case == 'other_model':
        args, expect = [PICODET, str(dst)], ['picodet_s_320_lcnet_pedestrian.xml',
                                             'another model']
    elif case == 'truncated_bin':
        xml = _copy_graph(pp_tinypose_graph('256x192'), str(tmp_path / 'g'), 1_000_000)
        args, expect = [xml, str(dst)], [osp.join(str(tmp_path / 'g'), 'model.bin'),
                                         'truncated']
    elif case == 'wrong_size':
        args = [pp_tinypose_graph('128x96'), str(dst), '--config', pp_tinypose_config('256x192')]
        expect = ['openvino_128x96', '96x128', '192x256']
    elif case == 'ncnn_bin':  # the IR's .bin beside the ncnn .param
        args = [NCNN, str(dst), '--weights', pp_tinypose_graph('256x192')[:-4] + '.bin']
        expect = ['model.bin', 'tinypose_256x192']
    else:
        args, expect = [str(tmp_path / 'nothing.xml'), str(dst)], ['nothing.xml', 'not found']
    assert tool.main(args) == 1
    err = capsys.readouterr().err
    assert err.startswith('error: ') and err.count('\n') == 1, err
    for word in expect:
        assert word in err, err
    out = tmp_path / 'out'
    assert not out.exists() or not any(out.iterdir())  # not even a temporary file left


def test_error_api_names_the_file():
    with pytest.raises(CheckpointError, match='another model'):
        convert_deploy_graph(PICODET)


def test_config_is_mmpose_litehrnet_config_with_the_real_backbone(tmp_path):
    """The PP-TinyPose config is mmpose's Lite-HRNet-18 COCO config except the backbone
    (wider naive, official fusion) and DARK decoding; the 128x96 one only changes sizes."""
    from mmengine.config import Config

    from hrnet_mm.apis import load_config
    ours = load_config(pp_tinypose_config('256x192')).to_dict()
    zoo_file = tmp_path / 'zoo.py'  # the same package-path route as ours (same _scope_ keys)
    zoo_file.write_text("_base_ = 'mmpose::body_2d_keypoint/topdown_heatmap/coco/"
                        "td-hm_litehrnet-18_8xb64-210e_coco-256x192.py'\n")
    zoo = Config.fromfile(str(zoo_file)).to_dict()
    assert ours['model']['backbone'] == dict(type='hrnet_mm.LiteHRNet', arch='wider_naive18',
                                             out_streams='first')
    zoo_codec = {k: v for k, v in zoo['codec'].items() if k != '_scope_'}
    assert ours['model']['head']['decoder'] == dict(zoo_codec, unbiased=True)
    strip = ('codec', 'custom_imports', 'model')
    assert {k: v for k, v in ours.items() if k not in strip} == \
        {k: v for k, v in zoo.items() if k not in strip}
    small = load_config(pp_tinypose_config('128x96'))
    assert small.codec['input_size'] == (96, 128) and small.codec['heatmap_size'] == (24, 32)
    assert small.test_dataloader.dataset.pipeline[2]['input_size'] == (96, 128)


# --- real accuracy through tools/test.py ------------------------------------------------

def _test_ap(tmp_path, tag, args, boxes, flip):
    tool = load_tool('test')
    opts = [f'{k}={"None" if v is None else v}'
            for k, v in coco_sample_test_options(boxes=boxes, flip_test=flip).items()]
    metrics = tool.main(args + ['--work-dir', str(tmp_path / tag), '--cfg-options'] + opts)
    return metrics['coco/AP']


@pytest.mark.slow
@pytest.mark.parametrize('boxes,flip', [('gt', True), ('gt', False), ('det', True),
                                        ('det', False)])
def test_sample_ap_equals_the_irs(boxes, flip, checkpoints, tmp_path):
    """COCO keypoint AP of the converted checkpoint on the sample, and of the IR itself in its
    place (``--deploy-graph``: same pipeline, the network swapped): equal to the printed
    digits; above the measured floor with flip test."""
    config = pp_tinypose_config('256x192')
    ours = _test_ap(tmp_path, 'ours', [config, checkpoints['256x192']], boxes, flip)
    ir = _test_ap(tmp_path, 'ir', [config, '--deploy-graph', pp_tinypose_graph('256x192')],
                  boxes, flip)
    assert f'{ours:.4f}' == f'{ir:.4f}'
    if flip:
        assert ours >= AP_FLOOR[boxes]


# --- zoo checkpoints for online users: tools/test.py CONFIG URL ---------------------------

def test_unreachable_checkpoint_url_fails_at_once_naming_it(tmp_path, monkeypatch):
    """A URL that cannot be fetched stops tools/test.py before the Runner is built, with the
    URL and the cache path in the message (loopback port 9: refused at once, no traffic out)."""
    import time
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch'))
    url = 'http://127.0.0.1:9/mmpose/litehrnet18_coco_256x192.pth'
    tool = load_tool('test')
    start = time.perf_counter()
    with pytest.raises(SystemExit) as e:
        tool.main([pp_tinypose_config('256x192'), url, '--work-dir', str(tmp_path / 'w')])
    assert time.perf_counter() - start < 20
    message = str(e.value)
    assert url in message and 'cannot download' in message
    assert osp.join(str(tmp_path / 'torch'), 'hub', 'checkpoints') in message
    assert not (tmp_path / 'torch' / 'hub' / 'checkpoints' /
                'litehrnet18_coco_256x192.pth').exists()


def test_checkpoint_url_already_cached_and_local_paths(tmp_path, monkeypatch):
    from hrnet_mm.apis.checkpoints import hub_checkpoint_path, resolve_checkpoint
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch'))
    url = 'https://download.openmmlab.com/mmpose/x/litehrnet18_coco_256x192-6bace359.pth'
    cached = hub_checkpoint_path(url)
    os.makedirs(osp.dirname(cached))
    open(cached, 'wb').close()
    assert resolve_checkpoint(url) == cached  # no network touched
    local = tmp_path / 'ckpt.pth'
    local.write_bytes(b'x')
    assert resolve_checkpoint(str(local)) == str(local)
    with pytest.raises(FileNotFoundError, match='nothing.pth'):
        resolve_checkpoint(str(tmp_path / 'nothing.pth'))


# --- fast mode judged on the real model ---------------------------------------------------

@pytest.mark.slow
def test_fast_mode_ap_on_the_real_model(checkpoints, tmp_path):
    """``tools/test.py --fast`` on PP-TinyPose, the sample's annotated boxes, flip test: fp32
    gives stock's AP to the printed digits; bf16 (OpenVINO) is not below it by more than 0.5
    AP (measured: 0.8295 vs 0.8156, the sample's 12 people move AP in steps larger than that);
    int8 warns that the official fusion's doubled stream 0 defeats per-tensor int8 (measured
    AP 0.664: unusable, docs/real_model.md)."""
    config, ckpt = pp_tinypose_config('256x192'), checkpoints['256x192']
    stock = _test_ap(tmp_path, 'stock', [config, ckpt], 'gt', True)
    fp32 = _test_ap(tmp_path, 'fp32', [config, ckpt, '--fast'], 'gt', True)
    assert f'{fp32:.4f}' == f'{stock:.4f}'
    bf16 = _test_ap(tmp_path, 'bf16', [config, ckpt, '--fast', '--dtype', 'bf16',
                                       '--backend', 'openvino'], 'gt', True)
    assert bf16 >= stock - 0.005
    with pytest.warns(UserWarning, match='official fusion'):
        _test_ap(tmp_path, 'int8', [config, ckpt, '--fast', '--dtype', 'int8'], 'gt', True)
