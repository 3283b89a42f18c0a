"""tools/benchmark.py (hrnet_mm.benchmark): the quick run completes and reports every field;
outputs agree; ``--only`` merges a section's results into an existing JSON.

No timing assertions: the machine running the tests is shared and noisy.
"""
import copy
import json
import os.path as osp
import re
import shutil
import subprocess
import sys
import types

import pytest
import torch

from hrnet_mm.benchmark import (agreement, cli, compare, e2e, e2e_accuracy, machines, report,
                                samples)
from hrnet_mm.benchmark.sections import Context
from hrnet_mm.benchmark.sections import SECTIONS, Section, load_sections

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))

TOOL = osp.join(REPO_ROOT, 'tools', 'benchmark.py')


def _load_tool():
    return types.SimpleNamespace(heatmap_targets=samples.heatmap_targets,
                                 _argmax2d=agreement.argmax2d)


def test_heatmap_targets_and_argmax_agree():
    tool = _load_tool()
    kpts = torch.tensor([[[40.0, 100.0, 2.0]] * 17])  # (x, y, visibility) in 192x256 pixels
    kpts[0, 3] = torch.tensor([-50.0, 10.0, 2.0])       # outside the crop: weight 0
    heatmaps, weight = tool.heatmap_targets(kpts)
    assert heatmaps.shape == (1, 17, 64, 48)
    assert weight[0, 3] == 0 and weight[0, 0] == 1
    assert tool._argmax2d(heatmaps)[0, 0].tolist() == [10.0, 25.0]


def test_interleaved_rounds_rotate_the_order():
    """Every round times every variant once, starting one further each round, so no variant
    always runs after the same neighbour (whose spinning threads would slow it)."""
    from hrnet_mm.benchmark import timing
    calls = []
    fns = {k: (lambda k=k: calls.append(k)) for k in 'abc'}
    res = timing.time_interleaved(fns, rounds=3, label='test')
    timed = calls[3:]  # after one warm-up call each
    assert [timed[i:i + 3] for i in range(0, len(timed), 3)][:3] == [
        list('abc'), list('bca'), list('cab')]
    assert all(len(r['times_s']) == len(timed) // 3 and 'median_s' in r for r in res.values())


def test_only_sample_fitted_pose_models():
    from hrnet_mm.benchmark.fitting import fit_pose_model
    with pytest.raises(ValueError, match='pose_w48.*pose_lite18'):
        fit_pose_model('pose_w48', 1, 0, '/nonexistent', quick=True)


@pytest.mark.slow
def test_quick_run(tmp_path):
    proc = subprocess.run([sys.executable, TOOL, '--quick', '--out', str(tmp_path)],
                          capture_output=True, text=True, cwd=REPO_ROOT, timeout=1500)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert '[benchmark' in proc.stdout  # progress is shown
    with open(tmp_path / 'benchmark.json') as f:
        res = json.load(f)
    for key in ('date', 'machine', 'versions', 'load', 'gemm_peak_gflops', 'models', 'targets',
                'pose_accuracy', 'scaling'):
        assert key in res, key
    assert res['mode'] == 'quick'
    assert res['machine']['cpu'] and res['machine']['logical_cores'] >= 1
    assert res['versions']['torch'] == torch.__version__
    assert set(res['models']) == {'pose_lite18', 'pose_w32', 'seg_w18', 'det_w32'}
    for name, r in res['models'].items():
        # same architecture, same weights
        assert r['params']['theirs'] == r['params']['ours'] > 0, name
        assert r['flops']['mmengine']['theirs'] > 0 and r['flops']['mmengine']['ours'] > 0
        macs = r['flops']['conv_linear_macs']
        if name == 'pose_lite18':  # the doubled fusion term is computed once
            assert 0 < macs['ours'] < macs['theirs']
        else:
            assert macs['ours'] == macs['theirs'] > 0
        fwd = r['forward']
        for v in ('theirs', 'ours', 'ours_fast', 'ours_fast_bf16'):
            assert fwd[v]['median_s'] > 0 and fwd[v]['speedup'] > 0, (name, v)
        assert fwd['ours']['max_abs_diff'] <= 1e-5, name
        assert fwd['ours_fast']['max_abs_diff'] <= 1e-4, name
        rel = fwd['ours_fast_bf16']['max_abs_diff'] / fwd['ours_fast_bf16']['max_abs_output']
        assert rel < 0.1, name
    seg = res['models']['seg_w18']
    assert seg['forward']['ours_fast']['labels_equal'] > 0.999
    assert 0.9 < seg['fitted_model']['labels_equal_bf16'] <= 1
    assert seg['fitted_model']['labels_equal_fp32'] > 0.999
    det = res['models']['det_w32']['detector']['variants']
    assert det['ours']['detections'] == det['theirs']['detections']
    assert det['ours']['max_abs_diff_scores'] <= 1e-4
    for v in ('ours', 'ours_fast', 'ours_fast_bf16'):
        assert det[v]['median_s'] > 0 and 'agreement' in det[v], v
    w32 = res['models']['pose_w32']
    for v in ('theirs', 'theirs_cp', 'ours', 'ours_cl', 'ours_memsave'):
        assert w32['train'][v]['median_s'] > 0, v
        assert w32['memory']['train'][v]['extra_mib'] > 0, v
    # checkpointing must actually save memory
    assert w32['memory']['train']['ours_memsave']['ratio'] < 0.8
    assert 'error' in res['models']['pose_lite18']['train']['theirs_cp']  # mmpose's with_cp bug
    assert res['pose_accuracy']['ours_fast']['within_1px'] == 1.0
    assert any('extra_mib' in v.get('theirs', {}) for v in res['scaling'].values()
               if isinstance(v, dict))
    assert {t['target'] for t in res['targets']} >= {
        'Lite-HRNet-18 fp32 forward vs mmpose', 'HRNet-W32 fp32 forward vs mmpose'}
    _check_peers(res)
    _check_e2e(res)
    md = (tmp_path / 'benchmark.md').read_text()
    assert '| pose HRNet-W32 256x192 |' in md and 'Targets' in md
    assert '## Peers' in md and '## End to end' in md
    assert (tmp_path / 'benchmark_scaling.png').stat().st_size > 1000


def _check_peers(res):
    """Every peer and every hrnet_mm backend x dtype ran on each quick peers model; fp32
    outputs agree with mm eager; the summary names the best of each side."""
    from hrnet_mm.benchmark.peers import our_variants
    from hrnet_mm.benchmark.peers_report import FP32_TOL, PEERS
    peers = res['peers']
    assert set(peers['models']) == {'pose_lite18', 'pose_w32', 'seg_w18'}
    expected = set(PEERS) | set(our_variants(False))
    for name, m in peers['models'].items():
        assert m['batches'], name
        for b, r in m['batches'].items():
            rows = r['variants']
            assert set(rows) == expected, (name, b)
            for k, row in rows.items():
                assert 'error' not in row, (name, b, k, row.get('error'))
                assert row['median_s'] > 0 and row['img_per_s'] > 0, (name, b, k)
                if k.endswith('_fp32'):
                    tol = FP32_TOL * max(1.0, row['max_abs_output'])
                    assert row['max_abs_diff'] <= tol, (name, b, k, row['max_abs_diff'])
            s = r['summary']
            assert s['best_peer'] in PEERS and s['best_ours'] in expected - set(PEERS), \
                (name, b, s)
            assert s['ratio_best'] > 0
        if m['task'] == 'seg':
            assert all(0 <= row['labels_equal'] <= 1 for row in rows.values())
    w32 = peers['models']['pose_w32']['batches']
    acc = w32[max(w32, key=int)]['variants']['openvino_int8']['accuracy']
    assert acc['keypoints'] > 0 and 0 <= acc['within_1px'] <= 1
    assert any(t['target'].startswith('pose HRNet-W32 256x192 batch 1: hrnet_mm best fp32')
               for t in res['targets'])


def _check_e2e(res):
    """The whole-test-loop section timed stock and fast fp32 / bf16 and logged each metric;
    the jittered-box AP check ran every variant (2 boxes a person in the quick run)."""
    pose = res['e2e']['tasks']['pose']['variants']
    for v in ('stock', 'fast_fp32', 'fast_bf16'):
        assert pose[v]['loop_median_s'] > 0 and pose[v]['model_median_s'] > 0, v
        assert pose[v]['metric'] is not None, v
    jittered = res['e2e']['tasks']['pose']['jittered']
    assert jittered['instances'] == 2 * jittered['people'] > 0
    for v in ('stock', 'fast_fp32', 'fast_bf16'):
        assert 0 <= jittered['variants'][v]['metric'] <= 1, v


def test_jittered_coco_lists_every_person_once_per_box(tmp_path):
    """The jittered set: each image ``jitters`` times under new ids, each annotated person
    once per copy (copy 0 with its own box, the others shifted / rescaled within the image),
    the same keypoints; seeded, so two writes are equal."""
    src = osp.join(REPO_ROOT, '..', 'shared', 'data', 'coco_sample', 'test_coco.json')
    if not osp.isfile(src):
        pytest.skip('the COCO sample (../shared/data/coco_sample) is absent')
    with open(src) as f:
        coco = json.load(f)
    people = [a for a in coco['annotations'] if a['num_keypoints'] > 0]
    info = e2e_accuracy.jittered_coco(src, str(tmp_path / 'j.json'), jitters=3)
    e2e_accuracy.jittered_coco(src, str(tmp_path / 'k.json'), jitters=3)
    assert (tmp_path / 'j.json').read_text() == (tmp_path / 'k.json').read_text()
    out = json.loads((tmp_path / 'j.json').read_text())
    n = len(people)  # 12 of the sample's 14 person boxes have keypoints
    assert info['people'] == n > 0 and info['instances'] == 3 * n
    assert len(out['images']) == 3 * len(coco['images'])
    assert len({im['id'] for im in out['images']}) == len(out['images'])
    assert len({a['id'] for a in out['annotations']}) == len(out['annotations'])
    size = {im['id']: (im['width'], im['height']) for im in out['images']}
    for k in range(3):
        copy_k = out['annotations'][k * n:(k + 1) * n]
        for a, orig in zip(copy_k, people):
            assert a['keypoints'] == orig['keypoints'] and a['image_id'] in size
            x, y, w, h = a['bbox']
            assert (a['bbox'] == orig['bbox']) == (k == 0)
            assert x >= 0 and y >= 0 and w > 0 and h > 0
            assert x + w <= size[a['image_id']][0] and y + h <= size[a['image_id']][1]
    with pytest.raises(ValueError, match='jitters must be >= 1'):
        e2e_accuracy.jittered_coco(src, str(tmp_path / 'x.json'), jitters=0)


def test_only_merges_sections_into_the_existing_json(tmp_path, monkeypatch):
    """``--only pose,extra --models pose_w32`` replaces W32's measured fields (its memory,
    another section's, stays), adds the extra section's results, targets and markdown, and
    leaves every other result as it was. The measurement itself is stubbed: no timing."""
    shutil.copy(osp.join(REPO_ROOT, 'docs', 'benchmark.json'), tmp_path / 'benchmark.json')
    with open(tmp_path / 'benchmark.json') as f:
        before = json.load(f)
    w32 = before['models']['pose_w32']
    remeasured = copy.deepcopy({k: v for k, v in w32.items() if k != 'memory'})
    remeasured['forward']['ours']['img_per_s'] = 1234.5
    calls = []

    def fake_bench_model(name, args):
        calls.append(name)
        return copy.deepcopy(remeasured)

    def extra(ctx):
        ctx.results['extra'] = dict(models=list(ctx.names))

    monkeypatch.setattr(compare, 'bench_model', fake_bench_model)
    monkeypatch.setattr(compare, 'wait_for_idle_cpu', lambda **kw: 0.0)
    monkeypatch.setitem(SECTIONS, 'extra', Section(
        'extra', extra, 'a stub section',
        render=lambda r: ['', '## Extra', '', f'extra models: {r["extra"]["models"]}']
        if 'extra' in r else [],
        targets=lambda r: [dict(target='extra target', goal='g', measured='m', met=True)]
        if 'extra' in r else []))
    argv = ['--only', 'pose,extra', '--models', 'pose_w32', '--out', str(tmp_path),
            '--threads', str(torch.get_num_threads())]
    res = cli.main(argv)

    assert calls == ['pose_w32']
    with open(tmp_path / 'benchmark.json') as f:
        after = json.load(f)
    assert after == json.loads(json.dumps(res))
    assert after['models']['pose_w32']['forward']['ours']['img_per_s'] == 1234.5
    assert after['models']['pose_w32']['memory'] == w32['memory']
    assert list(after['models']['pose_w32']) == list(w32)  # same fields, same order
    for key in ('date', 'machine', 'load', 'gemm_peak_gflops', 'wall_s', 'pose_accuracy',
                'scaling', 'command'):
        assert after[key] == before[key], key
    assert {n: r for n, r in after['models'].items() if n != 'pose_w32'} == \
        {n: r for n, r in before['models'].items() if n != 'pose_w32'}
    assert after['extra'] == dict(models=['pose_w32'])
    update = after['updates'][-1]
    assert update['sections'] == ['pose', 'extra'] and update['models'] == ['pose_w32']
    assert update['command'] == 'tools/benchmark.py ' + ' '.join(argv)
    strip = [{k: v for k, v in t.items() if k != 'machine'} for t in after['targets']]
    assert all(t in strip for t in before['targets'] if 'machine' not in t)
    here = report.machine_text(update['machine'])
    assert [t['machine'] for t in after['targets'] if t['target'] == 'extra target'] == [here]
    md = (tmp_path / 'benchmark.md').read_text()
    assert "extra models: ['pose_w32']" in md and '| extra target | g | m | yes |' in md
    assert '| pose HRNet-W32 256x192 |' in md and '--only SECTION' in md
    assert 'Re-measured' not in md  # the run log stays in the JSON
    # the update records its machine: what it measured sits in that machine's section
    assert update['machine'] == report.machine_info(torch.get_num_threads())
    section = md.split(f'## {here}\n')[1].split('\n## ')[0]
    assert '| 1234.50 (' in section and "extra models: ['pose_w32']" in section

    # a quick run does not merge into a full one; an unknown section names the allowed ones
    with pytest.raises(SystemExit, match='cannot merge'):
        cli.main(['--quick', '--only', 'extra', '--out', str(tmp_path),
                  '--threads', str(torch.get_num_threads())])
    with pytest.raises(SystemExit):
        cli.parse_args(['--only', 'pose,nope'])


MACHINE_A = dict(cpu='CPU-A', logical_cores=2, torch_threads=2, avx512_bf16=True, amx=False,
                 memory_gib=8.0, python='3.11.7')
MACHINE_B = dict(MACHINE_A, cpu='CPU-B', logical_cores=4, amx=True)


def _tag(m) -> str:
    return f'[on {m["cpu"]}]' if m else '[on none]'


def _tag_labels(res: dict, machine_of_model, machine_of_peers, machine_of_e2e,
                machine_of_scaling) -> dict:
    """``res`` with every row label ending in the tag of the machine the test says measured
    it: models (all their parts), peers models, e2e tasks, scaling points."""
    res = copy.deepcopy(res)
    for name, r in res['models'].items():
        if machine_of_model(name) != 'split':  # parts on two machines: checked apart
            r['label'] += ' ' + _tag(machine_of_model(name))
    for name, m in res.get('peers', {}).get('models', {}).items():
        m['label'] += ' ' + _tag(machine_of_peers(name))
    for t in res.get('e2e', {}).get('tasks', {}).values():
        t['label'] += ' ' + _tag(machine_of_e2e)
    if 'scaling' in res:
        res['scaling'] = {(k + ' ' + _tag(machine_of_scaling) if isinstance(v, dict) and
                           'shape' in v else k): v for k, v in res['scaling'].items()}
    return res


def _check_one_machine_per_table(md: str, machines) -> set:
    """Every table of the page sits under a machine's heading and its rows carry that
    machine's tag only; returns the tags seen."""
    titles = {report.machine_text(m) if m else 'Machine not recorded': _tag(m)
              for m in machines}
    section, seen, table = None, set(), []
    for line in md.splitlines() + ['']:
        if line.startswith('## '):
            section = titles.get(line[3:], 'not a machine: ' + line)
        if line.startswith('|'):
            table.append(line)
            continue
        if table:
            tags = set(re.findall(r'\[on [^\]]+\]', '\n'.join(table)))
            assert tags <= {section}, (section, tags, table[:3])
            seen |= tags
            table = []
    return seen


def _real_json() -> dict:
    with open(osp.join(REPO_ROOT, 'docs', 'benchmark.json')) as f:
        return json.load(f)


def test_no_table_mixes_machines_synthetic(tmp_path):
    """A results dict measured on two machines (and a merge that recorded none): each machine
    gets its own section, every table's rows come from one machine, nothing is lost; a model
    whose memory was probed elsewhere shows it in the other machine's memory table only."""
    res = _real_json()
    res['machine'] = MACHINE_A
    base = dict(wall_s=60, load_before=0.1, load_after=0.1, versions=res['versions'])
    res['updates'] = [
        dict(base, sections=['pose', 'memory'], models=['pose_lite18'], machine=MACHINE_B,
             date='2026-12-01T10:00:00+00:00', command='tools/benchmark.py --only pose,memory'),
        dict(base, sections=['memory'], models=['seg_w18'], machine=MACHINE_B,
             date='2026-12-01T11:00:00+00:00', command='tools/benchmark.py --only memory'),
        dict(base, sections=['e2e'], models=[], machine=MACHINE_B,
             date='2026-12-01T12:00:00+00:00', command='tools/benchmark.py --only e2e'),
        dict(base, sections=['scaling'], models=['pose_w32'],
             date='2026-12-01T13:00:00+00:00', command='tools/benchmark.py --only scaling')]
    peers_machine = dict(pose_w32=MACHINE_A, pose_lite18=MACHINE_B, pose_lite30=None)
    for name, m in res['peers']['models'].items():
        m.pop('measured', None)
        if peers_machine.get(name, MACHINE_A):
            m['measured'] = dict(date='2026-12-02T00:00:00+00:00',
                                 machine=peers_machine.get(name, MACHINE_A))
    # pose_lite30's peers: no record and no merge of peers -> the fresh run's machine
    peers_of = dict(peers_machine, pose_lite30=MACHINE_A)
    model_of = dict(pose_lite18=MACHINE_B, seg_w18='split')
    tagged = _tag_labels(res, lambda n: model_of.get(n, MACHINE_A),
                         lambda n: peers_of.get(n, MACHINE_A), MACHINE_B, None)
    path = tmp_path / 'benchmark.md'
    report.write_markdown(tagged, str(path), list(load_sections().values()))
    md = path.read_text()
    seen = _check_one_machine_per_table(md, [MACHINE_A, MACHINE_B, None])
    assert seen == {_tag(MACHINE_A), _tag(MACHINE_B), _tag(None)}
    headings = [line[3:] for line in md.splitlines() if line.startswith('## ')]
    assert headings == [report.machine_text(MACHINE_A), report.machine_text(MACHINE_B),
                        'Machine not recorded', 'Notes']
    assert 'Re-measured' not in md  # the run log stays in the JSON
    # seg_w18: forward on A, memory on B (the training table has no seg rows)
    a, b = md.split('## ' + report.machine_text(MACHINE_B))
    b = b.split('## Machine not recorded')[0]
    seg = res['models']['seg_w18']['label']
    theirs = res['models']['seg_w18']['memory']['inference']['theirs']['extra_mib']
    mem = f'| {seg} | {theirs:.0f} ('
    assert f'| {seg} | 1x3x1024x2048 |' in a and mem in b and mem not in a
    # scaling's memory came from another machine than its times: left out, not mixed
    names = list(load_sections())  # every section stores its results under its name
    view = {v.title: v for v in machines.split_by_machine(res, names)}
    scaling = view['Machine not recorded'].results['scaling']
    assert all('extra_mib' not in t for p in scaling.values() for t in p.values()
               if isinstance(t, dict))
    # targets: each row evaluated on one machine, and says which
    targets = report.targets_per_machine(res, list(load_sections().values()))
    by = {t['target']: t['machine'] for t in targets}
    assert by['Lite-HRNet-18 fp32 forward vs mmpose'] == report.machine_text(MACHINE_B)
    assert by['HRNet-W32 fp32 forward vs mmpose'] == report.machine_text(MACHINE_A)
    e2e_rows = {m for t, m in by.items() if t.startswith('e2e ')}
    assert e2e_rows == {report.machine_text(MACHINE_B)}
    # results no section owns cannot be placed on a machine: refused, not dropped
    with pytest.raises(ValueError, match="'stray' belongs to no section"):
        machines.split_by_machine(dict(res, stray={}), names)


def test_no_table_mixes_machines_in_the_stored_results(tmp_path):
    """docs/benchmark.json as stored: peers models where they recorded it, merges from
    before the record in "machine not recorded", the rest on the full run's machine."""
    res = _real_json()
    assert not {s for u in res.get('updates', []) for s in u['sections']} & {
        'accuracy', 'memory', 'scaling'}  # else tag them below

    def last_update(section, model=None):
        for u in reversed(res.get('updates', [])):
            if section in u['sections'] and (model is None or model in u['models']):
                return u.get('machine')
        return res['machine']

    def peers_of(name):
        m = res['peers']['models'][name]
        return m['measured']['machine'] if 'measured' in m else last_update('peers', name)

    machines_seen = [res['machine']] + [peers_of(n) for n in res['peers']['models']] + [
        last_update('e2e')]
    models_of = {n: last_update(r.get('task', 'pose'), n) for n, r in res['models'].items()}
    machines_seen += list(models_of.values())
    tagged = _tag_labels(res, models_of.get, peers_of, last_update('e2e'), res['machine'])
    path = tmp_path / 'benchmark.md'
    report.write_markdown(tagged, str(path), list(load_sections().values()))
    seen = _check_one_machine_per_table(path.read_text(), machines_seen)
    assert seen == {_tag(m) for m in machines_seen}


def test_default_output_is_work_dirs_and_docs_is_explicit():
    """Benchmarking one's own machine never overwrites the tracked docs/."""
    from hrnet_mm.benchmark import run
    assert run.out_dir_of(cli.parse_args([])) == osp.join(REPO_ROOT, 'work_dirs', 'benchmark')
    assert run.out_dir_of(cli.parse_args(['--quick'])).endswith('benchmark_quick')
    assert run.out_dir_of(cli.parse_args(['--docs'])) == osp.join(REPO_ROOT, 'docs')
    for argv in (['--docs', '--out', 'x'], ['--docs', '--quick']):
        with pytest.raises(SystemExit):
            cli.parse_args(argv)


def test_render_rerenders_the_stored_json(tmp_path):
    """``--render``: the page from the JSON, nothing measured; the JSON's targets name their
    machine; the committed docs/benchmark.md is this rendering of docs/benchmark.json."""
    shutil.copy(osp.join(REPO_ROOT, 'docs', 'benchmark.json'), tmp_path / 'benchmark.json')
    res = cli.main(['--render', '--out', str(tmp_path)])
    assert all(t['machine'] for t in res['targets'])
    with open(osp.join(REPO_ROOT, 'docs', 'benchmark.md')) as f:
        assert (tmp_path / 'benchmark.md').read_text() == f.read()


def test_openvino_profile_sums_nodes_and_rates_the_convolutions(tmp_path):
    """The per-layer profile of a small graph: every conv lands in its shape class with its
    multiply-adds from the ONNX graph (here 2 x (8*8*16*16*9) per image for the two 3x3
    convs, batch 2), and the shares add up to the profiled time."""
    pytest.importorskip('openvino')
    pytest.importorskip('onnx')
    from hrnet_mm.benchmark import profile
    from hrnet_mm.export import _export
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 16, 3, 2, 1), torch.nn.ReLU(),
                              torch.nn.Conv2d(16, 16, 3, 1, 1), torch.nn.ReLU(),
                              torch.nn.Conv2d(16, 16, 3, 1, 1), torch.nn.Conv2d(16, 4, 1)).eval()
    x = torch.randn(2, 3, 16, 16)
    path = str(tmp_path / 'net.onnx')
    with torch.no_grad():
        _export(net, x, path, 17, 'input', ['out0'], {})
    import openvino as ov
    shapes = profile.conv_shapes(ov.Core().read_model(path))
    assert sorted(profile.conv_class(c) for c in shapes.values()) == [
        'conv 1x1 16->4 out 8x8', 'conv 3x3 16->16 out 8x8', 'conv 3x3 16->16 out 8x8',
        'conv 3x3 s2 3->16 out 8x8']
    assert sum(c['macs'] for c in shapes.values()) == 2 * 64 * (16 * 27 + 2 * 16 * 144 + 4 * 16)
    p = profile.openvino_profile(path, x.numpy(), {'INFERENCE_NUM_THREADS': 1}, rounds=2,
                                 warmup=1)
    assert p['median_ms'] > 0 and p['profiled_ms'] > 0
    assert abs(sum(r['share'] for r in p['by_kernel']) - 1) < 1e-6
    classes = {r['conv_class']: r for r in p['convs']}
    assert set(classes) <= {profile.conv_class(c) for c in shapes.values()}
    assert any(r['node_type'] == 'Convolution' for r in p['by_kernel'])
    assert 'GFLOP/s' in profile.profile_text(p)


def test_profile_command_line(monkeypatch, capsys):
    """``python -m hrnet_mm.benchmark.profile``: the toolbox's graph and ours (a small input,
    one round; the GEMM peak stubbed), and int8 without --ours refused."""
    pytest.importorskip('openvino')
    from hrnet_mm.benchmark import profile, timing
    monkeypatch.setattr(timing, 'gemm_peak', lambda quick, threads=None: dict(
        float32=1.0, bfloat16=2.0))
    for extra in ([], ['--ours']):
        res = profile.main(['pose_lite18', '--hw', '64', '64', '--rounds', '1',
                            '--threads', '1'] + extra)
        assert res['convs'] and res['median_ms'] > 0
    out = capsys.readouterr().out
    assert "the toolbox's ONNX" in out and "hrnet_mm's graph" in out and 'at 64x64' in out
    with pytest.raises(SystemExit):
        profile.main(['pose_lite18', '--dtype', 'int8'])


# --------------------------------------------------------------------------- e2e det, detector

def _loop(loop, model, metric=None, error=None) -> dict:
    """One e2e variant's results as run_task stores them (two rounds)."""
    if error:
        return dict(error=error)
    return dict(loop_s=[loop * 1.1, loop], model_s=[model, model], loop_median_s=loop,
                model_median_s=model, metric=metric, metrics={'coco/bbox_mAP': metric})


def _det_task(bf16=0.377, int8_error='RuntimeError: no det graph') -> dict:
    return dict(config='configs/det/faster-rcnn_hrnetv2p-w18-1x_coco.py',
                label='det Faster R-CNN HRNetV2p-W18 320x192, COCO sample (4 images, fitted)',
                metric='coco/bbox_mAP', rounds=2,
                fit=dict(iters=120, first_loss=6.5, final_loss=0.41, recipe=dict(
                    epochs=60, scale=[320, 192])),
                variants=dict(stock=_loop(4.0, 3.0, 0.3812), fast_fp32=_loop(3.5, 2.5, 0.3812),
                              fast_bf16=_loop(3.0, 2.0, bf16),
                              fast_int8=_loop(0, 0, error=int8_error)))


def test_e2e_det_targets_fp32_equal_reduced_within_one_ap():
    """The fitted detector's rows: fast fp32 equal to the printed digits, every reduced
    variant within 1.0 box AP (a variant that failed on the det graph: its error, not met);
    no speed target for the detector, but its loop and model part in the table."""
    res = dict(e2e=dict(threads=2, tasks=dict(det=_det_task())))
    rows = {r['target']: r for r in e2e.e2e_targets(res)}
    assert list(rows) == ['e2e det: fast fp32 box AP equal to stock',
                          'e2e det: fast_bf16 box AP vs stock (fitted model)',
                          'e2e det: fast_int8 box AP vs stock (fitted model)']
    assert rows['e2e det: fast fp32 box AP equal to stock']['met']
    bf16 = rows['e2e det: fast_bf16 box AP vs stock (fitted model)']
    assert bf16['met'] and bf16['measured'] == '37.70 vs 38.12' and bf16['goal'] == \
        f'within {e2e.TOLERANCE_DET} box AP'
    int8 = rows['e2e det: fast_int8 box AP vs stock (fitted model)']
    assert not int8['met'] and 'no det graph' in int8['measured']
    far = dict(e2e=dict(threads=2, tasks=dict(det=_det_task(bf16=0.3690))))
    assert not {r['target']: r for r in e2e.e2e_targets(far)}[
        'e2e det: fast_bf16 box AP vs stock (fitted model)']['met']  # 1.22 AP off
    md = '\n'.join(e2e.e2e_markdown(res))
    label = res['e2e']['tasks']['det']['label']
    assert f'| {label} | fast_bf16 | 3.00 | 1.33x | 2.00 | 1.50x |' in md
    assert f'| {label} | fast_int8 | error: RuntimeError: no det graph |' in md
    assert f'{label}: fitted to the sample (120 iterations, loss 6.500 -> 0.410)' in md
    assert 'random weights' not in md.lower()


def _e2e_results(machine, threads: int) -> dict:
    """Stored results whose e2e section (pose, seg, det) was last run on ``machine``."""
    tasks = {k: dict(label=k, fit=None, variants={}) for k in ('pose', 'seg', 'det')}
    return dict(models={}, e2e=dict(source='real', threads=threads, tasks=tasks), updates=[
        dict(sections=['e2e'], models=[], machine=machine, date='2026-12-01T00:00:00+00:00',
             command='tools/benchmark.py --only e2e')])


def test_e2e_tasks_merge_into_the_stored_section(tmp_path, monkeypatch):
    """``--e2e-tasks det`` runs the detector only: its results replace the stored det's, the
    stored pose and seg stay (in table order) when the section was measured on this machine
    class with the same threads, and are dropped when not (one section, one machine)."""
    import hrnet_mm.apis
    threads = torch.get_num_threads()
    ran = []

    def fake_run_task(task, config, options, checkpoint, rounds, work_dir, quick):
        ran.append((task, options, checkpoint))
        return dict(stock=_loop(1.0, 0.5, 0.4))

    fit = dict(iters=120, first_loss=6.5, final_loss=0.4, recipe=dict(scale=[320, 192]))
    monkeypatch.setattr(e2e, 'run_task', fake_run_task)
    monkeypatch.setattr(e2e, 'det_weights', lambda config, cache: dict(
        checkpoint='fitted.pth', fit=fit, options={'recipe.option': 1}))
    monkeypatch.setattr(hrnet_mm.apis, 'write_tiny_datasets',
                        lambda work_dir: dict(coco=str(tmp_path), source='real'))
    args = cli.parse_args(['--only', 'e2e', '--e2e-tasks', 'det', '--threads', str(threads)])
    here = report.machine_info(threads)
    for machine, kept in ((here, ['pose', 'seg']), (MACHINE_B, []), (None, [])):
        stored = _e2e_results(machine, threads)
        ctx = Context(args=args, results=stored, names=[], out_dir=str(tmp_path))
        e2e.e2e_section(ctx)
        out = ctx.results['e2e']
        assert list(out['tasks']) == kept + ['det'], machine
        assert all(out['tasks'][k] == dict(label=k, fit=None, variants={}) for k in kept)
        det = out['tasks']['det']
        assert det['fit'] == fit and det['variants']['stock']['metric'] == 0.4
        assert det['label'] == 'det Faster R-CNN HRNetV2p-W18 320x192, COCO sample (4 images, ' \
            'fitted)'
    assert ran == [('det', {'recipe.option': 1}, 'fitted.pth')] * 3  # the recipe's options
    # a task's own record of its machine counts before the section's last run
    stored = _e2e_results(None, threads)
    stored['e2e']['tasks']['pose']['measured'] = dict(machine=here, date='2026-12-02')
    assert list(e2e.kept_tasks(stored, ['det'], here, threads)) == ['pose']
    assert ctx.results['e2e']['tasks']['det']['measured']['machine'] == here
    # other threads than the stored section's: not kept either
    stored = _e2e_results(here, threads + 1)
    assert e2e.kept_tasks(stored, ['det'], here, threads) == {}
    assert list(e2e.kept_tasks(stored, ['det'], here, threads + 1)) == ['pose', 'seg']


def test_e2e_tasks_option():
    assert e2e.e2e_task_names(None) == ['pose', 'seg', 'det']
    assert e2e.e2e_task_names('det, pose') == ['pose', 'det']
    assert cli.parse_args(['--only', 'e2e', '--e2e-tasks', 'det']).e2e_tasks == 'det'
    with pytest.raises(SystemExit):
        cli.parse_args(['--e2e-tasks', 'det,nope'])


def test_detections_agreement_at_iou_0_9():
    """Same label and IoU >= 0.9 match; low scores are not counted but may match."""
    from mmengine.structures import InstanceData

    def dets(boxes, scores, labels):
        return InstanceData(bboxes=torch.tensor(boxes, dtype=torch.float32),
                            scores=torch.tensor(scores), labels=torch.tensor(labels))

    ref = dets([[0, 0, 100, 100], [200, 200, 300, 300], [0, 0, 50, 50]], [0.9, 0.8, 0.1],
               [0, 1, 0])
    same = compare.detections_agreement(ref, ref)
    assert same == dict(ref_matched=1.0, other_matched=1.0, ref_count=2, other_count=2)
    # box 1 shifted to IoU ~0.82, box 2 relabelled; a low-score box still matches ref's 0.9
    other = dets([[0, 0, 100, 100], [210, 210, 310, 310], [200, 200, 300, 300]],
                 [0.2, 0.9, 0.95], [0, 1, 2])
    assert compare.detections_agreement(ref, other) == dict(
        ref_matched=0.5, other_matched=0.0, ref_count=2, other_count=2)
    none = dets(torch.zeros(0, 4).tolist(), [], [])
    assert compare.detections_agreement(ref, none)['ref_matched'] == 0.0
    assert compare.detections_agreement(none, ref)['ref_matched'] is None


def test_detector_table_reports_agreement_and_the_fit():
    timed = dict(median_s=4.0, speedup=1.0, detections=12, agreement=dict(
        ref_matched=1.0, other_matched=0.8, ref_count=5, other_count=5))
    det = dict(variants=dict(theirs=timed, ours_fast_int8=dict(error='RuntimeError: x')),
               weights=dict(iters=120, first_loss=6.5, final_loss=0.4,
                            recipe=dict(epochs=60, scale=[320, 192])),
               image='000000197388.jpg', min_score=0.3, iou=0.9)
    models = dict(det_w32=dict(label='det Faster R-CNN HRNetV2p-W32', task='det',
                               input_shape=[1, 3, 800, 1344], detector=det))
    md = '\n'.join(report._accuracy_tables(dict(models=models)))
    assert '| theirs | 4.000 | 1.00x | 12 | 100.0% (5) / 80.0% (5) |' in md
    assert '| ours_fast_int8 | error: RuntimeError: x |' in md
    assert '120 iterations at 320x192, loss 6.500 -> 0.400' in md and 'Random' not in md


def test_det_fit_losses_from_the_runner_checkpoint():
    """Every iteration's loss is in the checkpoint's message hub (the logs average 10)."""
    import dataclasses

    from mmengine.logging import MessageHub

    from hrnet_mm.apis.det_sample import SampleRecipe
    from hrnet_mm.benchmark.e2e_weights import recipe_tag, training_losses
    hub = MessageHub.get_instance('test_det_fit_losses')
    for loss in (6.5, 3.0, 0.25):
        hub.update_scalar('train/loss', loss)
    ckpt = dict(meta=dict(iter=3), message_hub=hub.state_dict())
    assert training_losses(ckpt) == dict(iters=3, first_loss=6.5, final_loss=0.25)
    assert training_losses(dict(meta=dict(iter=0))) == {}
    base = SampleRecipe(epochs=60, lr=3e-4, decay_at=0.75)
    assert recipe_tag(base) == recipe_tag(dataclasses.replace(base))
    assert recipe_tag(dataclasses.replace(base, decay_at=0.5)) != recipe_tag(base)  # refits
