"""The 26 hostile inputs of security.md, each through every entry point that reads its
kind of file.

One test per item, named ``test_<number>_<title>``, parametrized by the item's variants
and the entry points (``load_model``, ``load_weights``, ``model_from_json`` /
``model_from_yaml``, ``from_onnx``, ``kzoo convert``, ``kzoo info``,
``get_file(extract=True)``, the dataset loaders). Each run happens in a child process
and is checked by :mod:`tests.security.harness`: a kzoo error naming what was refused,
no code run (sentinel), nothing opened outside the named paths (inotify), nothing
written outside them (snapshots), no crash, memory within a small multiple of the
input's size. The inputs are built by :mod:`tests.security.hostile`.
"""
import json
import os
import re

import numpy as np
import pytest

from tests.security import child, entry_points, harness, hostile
from tests.security.harness import params


def test_every_item_has_a_test():
    names = {n for n in globals() if n.startswith('test_')}
    for number, spec in hostile.ITEMS.items():
        assert 'test_%02d_%s' % (number, spec.key) in names, spec


@pytest.mark.parametrize('variant,entry', params(1))
def test_01_yaml_python_tag(variant, entry, refuse):
    refuse(1, variant, entry)


@pytest.mark.parametrize('variant,entry', params(2))
def test_02_yaml_alias_bomb(variant, entry, refuse):
    refuse(2, variant, entry)


@pytest.mark.parametrize('variant,entry', params(3))
def test_03_h5_lambda_bytecode(variant, entry, refuse):
    refuse(3, variant, entry)


def test_03_h5_lambda_bytecode_function_given_by_layer_name(tmp_path):
    """The way out that needs no trust in the file: the caller supplies the function
    under the layer's name, and the file's code never runs."""
    from kzoo.models import load_model
    box = hostile.Box(tmp_path)
    case = hostile.build(3, 'function', box)
    model = load_model(case.paths['model'], custom_objects={'evil': lambda x: x * 2})
    out = model.predict(np.ones((1, 3), 'float32'))
    assert out.shape == (1, 2)
    assert not os.path.exists(box.sentinel)


@pytest.mark.parametrize('variant,entry', params(4))
def test_04_keras_lambda_bytecode(variant, entry, refuse):
    refuse(4, variant, entry)


@pytest.mark.parametrize('variant,entry', params(5))
def test_05_lambda_output_shape(variant, entry, refuse):
    refuse(5, variant, entry)


@pytest.mark.parametrize('variant,entry', params(6))
def test_06_module_os_system(variant, entry, refuse):
    refuse(6, variant, entry)


@pytest.mark.parametrize('variant,entry', params(7))
def test_07_registered_name_popen(variant, entry, refuse):
    refuse(7, variant, entry)


def test_07_keras_registered_names_are_still_read(tmp_path):
    """What Keras itself writes as registered_name (a class name, ``package>Name``)
    is not refused."""
    from kzoo.models import model_from_json
    config = hostile.small_config()
    config['config']['layers'][-1]['registered_name'] = 'Dense'
    config['config']['layers'][-1]['config']['kernel_initializer']['registered_name'] = \
        'Custom>GlorotUniform'
    assert type(model_from_json(json.dumps(config)).layers[-1]).__name__ == 'Dense'


@pytest.mark.parametrize('variant,entry', params(8))
def test_08_loader_function(variant, entry, refuse):
    refuse(8, variant, entry)


@pytest.mark.parametrize('variant,entry', params(9))
def test_09_hdf5_external_link(variant, entry, refuse):
    refuse(9, variant, entry)


@pytest.mark.parametrize('variant,entry', params(10))
def test_10_hdf5_softlink_cycle(variant, entry, refuse):
    refuse(10, variant, entry)


@pytest.mark.parametrize('variant,entry', params(11))
def test_11_hdf5_virtual_dataset(variant, entry, refuse):
    refuse(11, variant, entry)


@pytest.mark.parametrize('variant,entry', params(12))
def test_12_hdf5_fill_bomb(variant, entry, refuse):
    refuse(12, variant, entry)


# ---- 13: a few hundred corrupted copies, read in batches by child processes ------------------

CORRUPTIONS = int(os.environ.get('KZOO_CORRUPTIONS', '100'))  # per source and entry point


@pytest.mark.parametrize('source,entry', [
    pytest.param(source, name, id='%s-%s' % (source, name))
    for source in hostile.CORRUPTION_SOURCES
    for name in entry_points.entries_for(hostile.kind_of(13, source)[0])])
def test_13_corrupted_copies(source, entry, tmp_path):
    """Seeded truncations and bit flips of a real file: each is read or refused with a
    kzoo error; no crash, nothing outside touched, memory bounded."""
    path = hostile.CORRUPTION_SOURCES[source]
    if not os.path.exists(path):
        pytest.skip('corpus file %s missing' % path)
    box = hostile.Box(tmp_path / 'box')
    case = hostile.build(13, source, box)
    # The commands start more machinery per file: fewer copies through them.
    count = CORRUPTIONS if not entry_points.ENTRIES[entry].cli else max(4, CORRUPTIONS // 10)
    results = run_corruptions(case, entry, box, count, seed=13)
    bad = [r for r in results if r['status'] not in ('returned', 'refused')]
    assert not bad, '\n\n'.join('copy %(index)d (%(how)s): %(status)s %(detail)s' % r
                                for r in bad[:5])
    assert any(r['status'] == 'refused' for r in results)
    assert not os.path.exists(box.sentinel)
    assert os.listdir(box.tmp) == []  # not even onnxruntime's session files (see harness)
    assert os.listdir(box.home) == []


def run_corruptions(case, entry, box, count, seed, batch=50):
    """Read ``count`` corrupted copies of ``case``'s file through ``entry``, ``batch``
    per child process; a child that dies is reported with the copy it was reading."""
    results, start = [], 0
    limit = harness.ALLOWANCE + harness.FACTOR * case.size
    while start < count:
        stop = min(count, start + batch)
        outcome = child.run_in_child(read_corrupted, case, entry, box, seed, start, stop,
                                     env=harness.child_env(box), cwd=box.inp, timeout=600)
        if outcome.status == 'returned':
            results.extend(outcome.value)
            if outcome.peak > limit:
                results.append({'index': start, 'how': 'copies %d-%d' % (start, stop),
                                'status': 'memory', 'detail': 'peak %.1f MiB > %.1f MiB' % (
                                    outcome.peak / 2 ** 20, limit / 2 ** 20)})
            start = stop
            continue
        done = _progress(box)
        results.extend(done)
        index = start + len(done)
        results.append({'index': index, 'how': 'see seed', 'status': outcome.status,
                        'detail': outcome.describe()[:3000]})
        start = index + 1
    return results


def _progress(box):
    path = os.path.join(box.out, 'progress.json')
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def read_corrupted(case, entry, box, seed, start, stop):
    """In a child: make copies ``start..stop`` of the case's file and read each
    (progress goes to ``out/progress.json`` so a crash names its copy)."""
    import shutil
    source = case.extra['source']
    with open(source, 'rb') as f:
        data = f.read()
    target = case.paths['model']
    progress = os.path.join(box.out, 'progress.json')
    if os.path.exists(progress):
        os.remove(progress)
    results = []
    for index in range(start, stop):
        rng = np.random.default_rng([seed, index])
        bad = hostile.corrupt(data, rng)
        with open(target, 'wb') as f:
            f.write(bad)
        how = 'truncated to %d bytes' % len(bad) if len(bad) < len(data) else 'bit flips'
        for name in os.listdir(box.out):
            if name != 'progress.json':
                p = os.path.join(box.out, name)
                shutil.rmtree(p) if os.path.isdir(p) else os.remove(p)
        try:
            value = entry_points.call(entry, case, {'box': box, 'url': None})
            if entry_points.ENTRIES[entry].cli and value not in (0, None):
                status, detail = 'refused', ''
            else:
                status, detail = 'returned', ''
        except Exception as e:  # noqa: BLE001  (classified below)
            from kzoo.errors import KzooError
            status = 'refused' if isinstance(e, KzooError) else 'failed'
            detail = '%s: %s' % (type(e).__name__, str(e)[:500])
        record = {'index': index, 'how': how, 'status': status, 'detail': detail}
        results.append(record)
        with open(progress, 'a') as f:
            f.write(json.dumps(record) + '\n')
    if os.path.exists(progress):
        os.remove(progress)
    return results


@pytest.mark.parametrize('variant,entry', params(14))
def test_14_keras_zip_bomb(variant, entry, refuse):
    refuse(14, variant, entry)


@pytest.mark.parametrize('variant,entry', params(15))
def test_15_keras_member_traversal(variant, entry, refuse):
    refuse(15, variant, entry)


@pytest.mark.parametrize('variant,entry', params(16))
def test_16_hostile_layer_names(variant, entry, refuse, accept):
    if variant in hostile.ACCEPTED_NAMES:
        accept(16, variant, entry)
    else:
        refuse(16, variant, entry)


def test_16_odd_but_valid_layer_names_round_trip(tmp_path):
    """'a/b' becomes nested HDF5 groups, as in Keras; a 2,000-character name is stored."""
    from kzoo.layers import Dense
    from kzoo.models import Sequential, load_model
    long_name = 'n' * 2000
    model = Sequential([Dense(2, input_dim=3, name='a/b'), Dense(1, name=long_name)])
    for name in ('m.h5', 'm.keras'):
        path = str(tmp_path / name)
        model.save(path)
        back = load_model(path)
        assert [l.name for l in back.layers] == ['a/b', long_name]
        for a, b in zip(back.get_weights(), model.get_weights()):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize('name', ['../../x', '.', '..', '', 'bad\0name'],
                         ids=['parent', 'dot', 'dotdot', 'empty', 'nul'])
@pytest.mark.parametrize('target', ['m.h5', 'm.keras', 'w.h5', 'm.weights.h5'])
def test_16_layer_names_on_write_stay_inside_the_file(tmp_path, name, target):
    """A model whose layer names came from a hostile config: writing it either stores
    the names inside the file (and reads them back) or refuses; nothing is written
    beside the destination."""
    from kzoo.errors import KzooError
    from kzoo.layers import Dense
    from kzoo.models import Sequential, load_model
    out = tmp_path / 'out'
    out.mkdir()
    model = Sequential([Dense(2, input_dim=3, name=name), Dense(1, name='ok')])
    path = str(out / target)
    try:
        if target.startswith('m.') and not target.endswith('weights.h5'):
            model.save(path)
            assert [l.name for l in load_model(path).layers][-1] == 'ok'
        else:
            model.save_weights(path)
            model.load_weights(path)
    except KzooError:
        assert os.listdir(str(out)) == []  # nothing half-written
    else:
        assert os.listdir(str(out)) == [target]
    assert sorted(os.listdir(str(tmp_path))) == ['out']


@pytest.mark.parametrize('variant,entry', params(17))
def test_17_onnx_external_traversal(variant, entry, refuse):
    refuse(17, variant, entry)


@pytest.mark.parametrize('variant,entry', params(18))
def test_18_onnx_external_symlink(variant, entry, refuse):
    refuse(18, variant, entry)


@pytest.mark.parametrize('variant,entry', params(19))
def test_19_onnx_huge_dims(variant, entry, refuse):
    refuse(19, variant, entry)


@pytest.mark.parametrize('variant,entry', params(20))
def test_20_tar_traversal(variant, entry, refuse):
    refuse(20, variant, entry)


@pytest.mark.parametrize('variant,entry', params(21))
def test_21_zip_traversal(variant, entry, refuse):
    refuse(21, variant, entry)


@pytest.mark.parametrize('variant,entry', params(22))
def test_22_cifar_pickle_payload(variant, entry, refuse):
    refuse(22, variant, entry)


@pytest.mark.parametrize('variant,entry', params(23))
def test_23_torch_checkpoint_payload(variant, entry, refuse):
    refuse(23, variant, entry)


@pytest.mark.parametrize('variant,entry', params(24))
def test_24_download_faults(variant, entry, refuse):
    refuse(24, variant, entry)


@pytest.mark.parametrize('variant,entry', params(25))
def test_25_cyclic_config(variant, entry, refuse):
    refuse(25, variant, entry)


@pytest.mark.parametrize('variant,entry', params(26))
def test_26_deep_json(variant, entry, refuse):
    refuse(26, variant, entry)


# ---- the installed program --------------------------------------------------------------------

REAL_PROGRAM_CASES = [(3, 'function', 'convert'), (9, 'model_weights', 'info'),
                      (17, 'dotdot', 'convert'), (23, 'state_dict', 'info')]


@pytest.mark.parametrize('number,variant,command', REAL_PROGRAM_CASES,
                         ids=['%02d-%s' % (n, c) for n, _, c in REAL_PROGRAM_CASES])
def test_the_installed_kzoo_program_refuses_too(tmp_path, number, variant, command):
    """The matrix runs ``kzoo.cli.main`` in a child; this runs the installed ``kzoo``
    executable on a few inputs, so the program users type is covered as such."""
    box = hostile.Box(tmp_path / 'box')
    case = hostile.build(number, variant, box)
    argv = entry_points.convert_argv(case, box) if command == 'convert' else \
        entry_points.info_argv(case, box)
    status, output = entry_points.real_cli(argv, env=harness.child_env(box))
    assert status == 1, output
    assert 'kzoo: error:' in output and 'Traceback' not in output, output
    assert case.match and re.search(case.match, output), output
    assert os.listdir(box.out) == [] and not os.path.exists(box.sentinel)
