"""The top-down demo: person detectors, image / folder / video in and out, real poses.

On the real sample images (``../shared/data/coco_sample``, ``../shared/data/mpii``) with the
real PicoDet person detector (OpenVINO IR) and the real PP-TinyPose weights (converted from
its deploy graph into a temporary checkpoint): every annotated person with at least 8 visible
keypoints gets a skeleton whose visible keypoints lie in the person's box enlarged by 10%.
The command line's own behaviour (video and folder round trips, clear errors, nothing
half-written) runs on a randomly initialised Lite-HRNet-18, which needs no real weights.
"""
import json
import os
import os.path as osp
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch
from helpers import load_tool

from hrnet_mm.apis.media import InputError, open_media

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DATA = osp.join(osp.dirname(REPO_ROOT), 'shared', 'data')
COCO = osp.join(DATA, 'coco_sample')
MPII = osp.join(DATA, 'mpii')
PICODET = osp.join(DATA, 'picodet_pedestrian', 'picodet_s_320_lcnet_pedestrian.xml')
TINYPOSE_IR = osp.join(DATA, 'pp_tinypose', 'openvino_256x192', 'model.xml')
TINYPOSE_CFG = osp.join(REPO_ROOT, 'configs', 'pose', 'td-hm_pp-tinypose-256x192_coco.py')
# Random weights for the command line's tests: any top-down config does.
RANDOM_CFG = osp.join(REPO_ROOT, 'configs', 'pose',
                      'td-hm_litehrnet-18_8xb64-210e_coco-256x192.py')
DEMO = osp.join(REPO_ROOT, 'tools', 'demo.py')
KPT_THR = 0.3  # the visualiser's: keypoints scoring below it are not drawn
MIN_VISIBLE = 8


def _need(*paths):
    for p in paths:
        if not osp.exists(p):
            pytest.skip(f'real data not found at {p} (see ../shared/data/README.md)')


def _seed():
    torch.manual_seed(0)
    np.random.seed(0)


@pytest.fixture(scope='module')
def detector():
    from hrnet_mm.apis.detectors import OpenVINOPersonDetector
    _need(PICODET)
    return OpenVINOPersonDetector(PICODET, threads=1)


@pytest.fixture(scope='module')
def random_ckpt(tmp_path_factory):
    """A Lite-HRNet-18 COCO checkpoint with seeded random weights."""
    from hrnet_mm.apis.topdown import init_pose_model
    _seed()
    model = init_pose_model(RANDOM_CFG, None)
    path = str(tmp_path_factory.mktemp('random') / 'litehrnet18.pth')
    torch.save({'state_dict': model.state_dict()}, path)
    return path


@pytest.fixture(scope='module')
def tinypose_ckpt(tmp_path_factory):
    """The real PP-TinyPose 256x192 weights as an mmpose checkpoint."""
    _need(TINYPOSE_IR)
    try:
        from hrnet_mm.checkpoint_deploy import convert_deploy_graph
    except ImportError as e:
        pytest.skip(f'the PP-TinyPose importer is not available ({e})')
    path = str(tmp_path_factory.mktemp('tinypose') / 'pp_tinypose_256x192.pth')
    convert_deploy_graph(TINYPOSE_IR, path)
    return path


@pytest.fixture(scope='module')
def tinypose_pipeline(tinypose_ckpt, detector):
    from hrnet_mm.apis.topdown import TopdownPipeline, init_pose_model
    torch.set_num_threads(1)
    return TopdownPipeline(init_pose_model(TINYPOSE_CFG, tinypose_ckpt), detector)


def _iou(a, b):
    """IoU of xyxy boxes a (N, 4) and b (4,)."""
    lt = np.maximum(a[:, :2], b[:2])
    rb = np.minimum(a[:, 2:4], b[2:4])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=1)
    area = lambda x: (x[..., 2] - x[..., 0]) * (x[..., 3] - x[..., 1])  # noqa: E731
    return inter / (area(a) + area(b) - inter)


def _coco_people():
    """{image file: [person box xyxy with >= 8 visible keypoints, ...]} of the COCO sample."""
    with open(osp.join(COCO, 'test_coco.json')) as f:
        coco = json.load(f)
    files = {im['id']: im['file_name'] for im in coco['images']}
    people = {name: [] for name in files.values()}
    for ann in coco['annotations']:
        visible = (np.array(ann['keypoints']).reshape(-1, 3)[:, 2] > 0).sum()
        if visible >= MIN_VISIBLE and not ann.get('iscrowd'):
            x, y, w, h = ann['bbox']
            people[files[ann['image_id']]].append([x, y, x + w, y + h])
    return people


def _mpii_people():
    """{image file: [box of the visible joints, ...]} of the MPII sample (MPII gives joints,
    a centre and a head-sized scale, no person box)."""
    with open(osp.join(MPII, 'test_mpii.json')) as f:
        anns = json.load(f)
    people = {}
    for ann in anns:
        joints = np.array(ann['joints'])[np.array(ann['joints_vis']) > 0]
        people.setdefault(ann['image'], [])
        if len(joints) >= MIN_VISIBLE:
            people[ann['image']].append([*joints.min(0), *joints.max(0)])
    return people


# --------------------------------------------------------------------------- detectors

def test_picodet_finds_the_person_of_785(detector):
    """The IR detector alone: COCO 000000000785's one skier, near the annotated box."""
    image = cv2.imread(osp.join(COCO, '000000000785.jpg'))
    boxes = detector(image)
    assert boxes.shape[1] == 5 and boxes.dtype == np.float32
    assert np.all(np.diff(boxes[:, 4]) <= 0), 'best first'
    assert np.all(boxes[:, 4] >= detector.score_thr)
    assert _iou(boxes[:1], np.array([281, 45, 500, 392]))[0] > 0.85, boxes[0]
    rgb = detector(image[:, :, ::-1].copy(), channel_order='rgb')
    np.testing.assert_allclose(rgb, boxes, atol=1e-3)


def test_detector_file_of_the_wrong_kind(tmp_path):
    from hrnet_mm.apis.detectors import build_person_detector
    _need(TINYPOSE_IR)
    with pytest.raises(InputError, match=r'openvino_256x192/model\.xml is not a person '
                       r'detector.*outputs'):
        build_person_detector(TINYPOSE_IR)
    with pytest.raises(FileNotFoundError, match='missing.xml'):
        build_person_detector(str(tmp_path / 'missing.xml'))
    junk = tmp_path / 'junk.xml'
    junk.write_text('not a model')
    with pytest.raises(InputError, match='junk.xml: OpenVINO cannot read it'):
        build_person_detector(str(junk))
    with pytest.raises(InputError, match='unknown kind'):
        build_person_detector(TINYPOSE_IR.replace('model.xml', 'infer_cfg.yml'))


# --------------------------------------------------------------------------- real poses

def _check_skeletons(pipeline, folder, people):
    """Every annotated person: a predicted skeleton (matched by box IoU) whose visible
    keypoints (score >= the visualiser's threshold, inside the image) lie in the person's box
    enlarged by 10% of its width and height on each side. (Scaling the box by 1.1 instead
    fails by 0.1 px on COCO 000000196141's umpire, whose occluded ankle is predicted just
    below the annotated box.) Keypoints beyond the image border, such as the ankles of an
    MPII person cut off at the knees, cannot be seen and are not checked."""
    checked = 0
    for file_name, boxes in sorted(people.items()):
        if not boxes:
            continue
        image = cv2.imread(osp.join(folder, file_name))
        h, w = image.shape[:2]
        result = pipeline.predict(image)
        assert 'pred_instances' in result, f'{file_name}: nobody found'
        pred = result.pred_instances
        for box in np.asarray(boxes, dtype=np.float32):
            iou = _iou(pred.bboxes, box)
            best = int(iou.argmax())
            assert iou[best] > 0.5, f'{file_name}: no detected person for the box {box}'
            size = box[2:] - box[:2]
            lo, hi = box[:2] - 0.1 * size, box[2:] + 0.1 * size
            points = pred.keypoints[best]
            visible = (pred.keypoint_scores[best] >= KPT_THR) & (points >= 0).all(1) & (
                points < [w, h]).all(1)
            points = points[visible]
            assert len(points) >= MIN_VISIBLE, f'{file_name} {box}: {len(points)} keypoints'
            outside = points[((points < lo) | (points > hi)).any(1)]
            assert len(outside) == 0, f'{file_name} {box}: keypoints {outside} outside'
            checked += 1
    return checked


def test_every_coco_person_gets_a_skeleton(tinypose_pipeline):
    assert _check_skeletons(tinypose_pipeline, COCO, _coco_people()) == 12


def test_every_mpii_person_gets_a_skeleton(tinypose_pipeline):
    _need(MPII)
    assert _check_skeletons(tinypose_pipeline, MPII, _mpii_people()) == 5


# --------------------------------------------------------------------------- the tool

def _frames(path):
    capture = cv2.VideoCapture(str(path))
    n = 0
    while capture.read()[0]:
        n += 1
    capture.release()
    return n


def _make_video(path, n=10, size=(320, 240)):
    names = sorted(f for f in os.listdir(COCO) if f.endswith('.jpg'))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'mp4v'), 5, size)
    for i in range(n):
        writer.write(cv2.resize(cv2.imread(osp.join(COCO, names[i % len(names)])), size))
    writer.release()
    return str(path)


def test_video_round_trip_keeps_the_frame_count(random_ckpt, tmp_path):
    """A 10-frame .mp4 through tools/demo.py (a subprocess, as a user runs it) with the IR
    detector: a 10-frame .mp4 of the same size comes out, and the timing line is printed."""
    _need(COCO, PICODET)
    video = _make_video(tmp_path / 'clip.mp4')
    out = tmp_path / 'out' / 'clip_pose.mp4'
    env = dict(os.environ, OMP_NUM_THREADS='1')
    proc = subprocess.run(
        [sys.executable, DEMO, RANDOM_CFG, random_ckpt, video, '--det', PICODET, '--out',
         str(out), '--threads', '1'], capture_output=True, text=True, env=env, cwd=tmp_path,
        timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert _frames(out) == 10
    capture = cv2.VideoCapture(str(out))
    assert (capture.get(cv2.CAP_PROP_FRAME_WIDTH), capture.get(cv2.CAP_PROP_FRAME_HEIGHT)) == (
        320, 240)
    capture.release()
    assert '10 frames' in proc.stdout and 'frames/s' in proc.stdout, proc.stdout
    for stage in ('detection', 'pose', 'drawing'):
        assert stage in proc.stdout
    assert os.listdir(out.parent) == ['clip_pose.mp4'], 'no temporary file left behind'


def test_folder_in_folder_out(random_ckpt, tmp_path, monkeypatch):
    """A folder of images -> a folder with the same file names, every image drawn; --fast
    runs the pose model's optimised copy."""
    from hrnet_mm.apis import topdown
    _need(COCO)
    optimised, original = [], topdown.optimize_mm_model

    def spy(model, dtype, backend=None):
        optimised.append((dtype, backend))
        return original(model, dtype, backend)

    monkeypatch.setattr(topdown, 'optimize_mm_model', spy)
    src = tmp_path / 'in'
    src.mkdir()
    for name in ('000000000785.jpg', '000000040083.jpg'):
        img = cv2.imread(osp.join(COCO, name))
        cv2.imwrite(str(src / name), cv2.resize(img, (img.shape[1] // 2, img.shape[0] // 2)))
    (src / 'notes.txt').write_text('not an image')
    demo = load_tool('demo')
    torch.set_num_threads(1)
    report = demo.main([RANDOM_CFG, random_ckpt, str(src), '--out', str(tmp_path / 'out'),
                        '--bbox', '0', '0', '100', '100', '--no-progress', '--fast'])
    assert optimised == [('fp32', 'eager')]
    assert sorted(os.listdir(tmp_path / 'out')) == ['000000000785.jpg', '000000040083.jpg']
    assert report.frames == 2 and report.people == 2 and report.kind == 'folder'
    assert set(report.stage_seconds) == {'pose', 'drawing', 'reading/writing'}
    drawn = cv2.imread(str(tmp_path / 'out' / '000000000785.jpg'))
    assert drawn.shape == cv2.imread(str(src / '000000000785.jpg')).shape


@pytest.mark.parametrize('case', ['missing input', 'unreadable image', 'unreadable video',
                                  'wrong detector', 'missing detector', 'empty folder',
                                  'mmdet config without weights'])
def test_clear_error_and_nothing_written(random_ckpt, tmp_path, case):
    demo = load_tool('demo')
    image = osp.join(COCO, '000000000785.jpg')
    det = []
    out = tmp_path / 'out' / 'result.jpg'
    if case == 'missing input':
        inp, expected = str(tmp_path / 'nothing.jpg'), 'input not found: .*nothing.jpg'
    elif case == 'unreadable image':
        (tmp_path / 'broken.jpg').write_bytes(b'\xff\xd8 not a jpeg')
        inp, expected = str(tmp_path / 'broken.jpg'), 'cannot read image .*broken.jpg'
    elif case == 'unreadable video':
        (tmp_path / 'broken.mp4').write_bytes(b'\x00' * 100)
        inp, expected = str(tmp_path / 'broken.mp4'), 'cannot read video .*broken.mp4'
        out = tmp_path / 'out' / 'result.mp4'
    elif case == 'wrong detector':
        _need(TINYPOSE_IR, COCO)
        inp, det = image, ['--det', TINYPOSE_IR]
        expected = 'model.xml is not a person detector of the expected kind'
    elif case == 'missing detector':
        _need(COCO)
        inp, det = image, ['--det', str(tmp_path / 'nodet.xml')]
        expected = 'person detector file not found: .*nodet.xml'
    elif case == 'mmdet config without weights':
        inp = image
        det = ['--det', osp.join(REPO_ROOT, 'configs', 'det',
                                 'faster-rcnn_litehrnet-18-2x_coco.py')]
        expected = 'is an mmdet config: give its weights with --det-checkpoint'
    else:
        (tmp_path / 'empty').mkdir()
        inp, expected = str(tmp_path / 'empty'), 'no images .* in folder'
        out = tmp_path / 'out' / 'folder'
    with pytest.raises(SystemExit, match=expected):
        demo.main([RANDOM_CFG, random_ckpt, inp, '--out', str(out), *det])
    assert not (tmp_path / 'out').exists() or os.listdir(tmp_path / 'out') == []


def test_failure_mid_video_leaves_nothing(random_ckpt, tmp_path, monkeypatch):
    """An error after some frames are written: no output and no temporary file."""
    from hrnet_mm.apis import topdown
    video = _make_video(tmp_path / 'clip.mp4', n=3, size=(160, 120)) if osp.isdir(COCO) else None
    if video is None:
        pytest.skip('COCO sample absent')
    calls = []

    def failing_draw(self, image, result):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError('drawing failed')
        return image

    monkeypatch.setattr(topdown.TopdownPipeline, 'draw', failing_draw)
    out = tmp_path / 'out' / 'clip_pose.mp4'
    with pytest.raises(RuntimeError, match='drawing failed'):
        topdown.run_topdown_demo(RANDOM_CFG, random_ckpt, video, str(out), progress=False)
    assert os.listdir(out.parent) == []


def test_open_media_kinds(tmp_path):
    image = np.zeros((8, 12, 3), np.uint8)
    cv2.imwrite(str(tmp_path / 'a.png'), image)
    source = open_media(str(tmp_path / 'a.png'))
    assert source.kind == 'image' and len(source) == 1
    with pytest.raises(InputError, match='unknown kind'):
        (tmp_path / 'a.gif').write_bytes(b'GIF89a')
        open_media(str(tmp_path / 'a.gif'))


def test_mmdet_person_detector(monkeypatch):
    """An mmdet config (random weights, so the real call finds nobody): the detector keeps
    the person boxes above the cut, best first (checked on planted predictions)."""
    import mmdet.apis
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData

    from hrnet_mm.apis.detectors import MMDetPersonDetector, build_person_detector
    _need(COCO)
    _seed()
    torch.set_num_threads(1)
    cfg = osp.join(REPO_ROOT, 'configs', 'det', 'faster-rcnn_litehrnet-18-2x_coco.py')
    small = {'test_dataloader.dataset.pipeline.1.scale': (320, 224)}  # not 1333x800: faster
    detect = MMDetPersonDetector(cfg, None, score_thr=0.5, cfg_options=small)
    assert detect.label == 0  # COCO's 'person'
    image = cv2.resize(cv2.imread(osp.join(COCO, '000000000785.jpg')), (320, 212))
    assert detect(image).shape[1:] == (5,)

    planted = DetDataSample()
    planted.pred_instances = InstanceData(
        bboxes=torch.tensor([[0., 0, 9, 9], [1, 1, 8, 8], [2, 2, 7, 7], [3, 3, 6, 6]]),
        scores=torch.tensor([0.6, 0.9, 0.4, 0.95]), labels=torch.tensor([0, 0, 0, 2]))
    monkeypatch.setattr(mmdet.apis, 'inference_detector', lambda model, img: planted)
    np.testing.assert_allclose(detect(image), [[1, 1, 8, 8, 0.9], [0, 0, 9, 9, 0.6]])
    with pytest.raises(InputError, match='not an mmdet config'):
        build_person_detector(RANDOM_CFG)


def test_mmpose_inferencer_with_the_ir_detector(random_ckpt, detector):
    """use_person_detector: MMPoseInferencer estimates one pose per detected person."""
    from mmpose.apis import MMPoseInferencer

    from hrnet_mm.apis import load_config, register_toolbox
    from hrnet_mm.apis.detectors import use_person_detector
    _need(COCO)
    register_toolbox(load_config(RANDOM_CFG))
    torch.set_num_threads(1)
    inferencer = MMPoseInferencer(pose2d=RANDOM_CFG, pose2d_weights=random_ckpt,
                                  det_model='whole_image', device='cpu')
    use_person_detector(inferencer, detector)
    image = osp.join(COCO, '000000196141.jpg')
    result = next(inferencer(image, nms_thr=0.6))
    found = detector(cv2.imread(image))
    assert len(result['predictions'][0]) == len(found) == 4
    np.testing.assert_allclose([p['bbox'][0] for p in result['predictions'][0]], found[:, :4],
                               atol=1e-3)


def test_quickstart_real_model_part(tmp_path):
    """tools/quickstart.py --no-training: PP-TinyPose converted, the 4 COCO and 5 MPII sample
    images drawn with the detector's people, the COCO sample's AP printed (0.816 measured)."""
    _need(COCO, MPII, PICODET, TINYPOSE_IR)
    env = dict(os.environ, OMP_NUM_THREADS='1')
    proc = subprocess.run(
        [sys.executable, osp.join(REPO_ROOT, 'tools', 'quickstart.py'), '--no-training',
         '--work-dir', str(tmp_path / 'qs')], capture_output=True, text=True, env=env,
        cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(tmp_path / 'qs' / 'quickstart.json') as f:
        real = json.load(f)['real_model']
    assert real['metrics']['coco/AP'] > 0.8, real['metrics']
    assert sorted(os.listdir(real['pictures']['coco_sample'])) == sorted(_coco_people())
    assert len(os.listdir(real['pictures']['mpii'])) == 5
    assert real['demo']['coco_sample']['people'] >= 12
    assert 'COCO keypoint AP 0.8' in proc.stdout and real['pictures']['mpii'] in proc.stdout
    assert osp.isfile(tmp_path / 'work_dirs' / 'pp_tinypose' / 'pp_tinypose_256x192.pth')
