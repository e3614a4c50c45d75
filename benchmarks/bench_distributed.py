"""Batch prediction throughput: the one-process path next to Ray with 1 and 2 workers.

A benchmark, not a test. It writes ``--images`` generated JPEG files (default 2,000,
``--size`` pixels square, so every image is decoded and resized to 224x224), saves a
ResNet50 (random weights: ``weights=None``; the numbers do not depend on the values)
to a weights file, and classifies every image, writing a JSON Lines results file:

- ``one process``: ``kzoo.distributed.predict(..., ray=None)``: decode threads
  prefetching ahead of the model, torch with its default thread count;
- ``Ray, N workers``: the same call with ``ray=`` (a local Ray instance with every CPU
  of this machine, or ``--ray ADDRESS``) and ``workers=N`` model actors, each loading
  ResNet50 by name with the weights file once.

Each run is timed from the call to the closed results file, model loading included;
Ray's own start (``ray.init``) is timed apart. The **overhead per image** is measured
in the same invocation by running every path again with a model that does almost
nothing (224x224x3 -> global average pooling -> Dense(1000) softmax): its time per
image is what the machinery costs (listing, decoding and preprocessing, moving arrays
to the model, scheduling, writing the results), without the model's compute. The
model alone (``model.predict`` on preprocessed arrays, default threads and one thread)
and decoding alone are printed too, as floors.

Usage::

    python benchmarks/bench_distributed.py                   # 2,000 images, Ray 1 and 2
    python benchmarks/bench_distributed.py --images 200 --workers 1,2,4
    python benchmarks/bench_distributed.py --ray ray://HEAD:10001 --workers 8
"""
import argparse
import json
import os
import shutil
import sys
import tempfile
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)


def make_images(folder, count, size, seed=0):
    """``count`` JPEG files: smooth gradients plus noise, so they compress like photos."""
    from PIL import Image
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 1, size, dtype='float32')
    paths = []
    for i in range(count):
        a, b, c = rng.uniform(0, 255, 3)
        base = a * ramp[None, :, None] + b * ramp[:, None, None] + np.array([0, c / 2, c / 3])
        pixels = np.clip(base / 2 + rng.normal(0, 12, (size, size, 3)), 0, 255).astype('uint8')
        path = os.path.join(folder, '%05d.jpg' % i)
        Image.fromarray(pixels).save(path, quality=90)
        paths.append(path)
    return paths


def model_floor(model, batch_size, threads=None, batches=3):
    """Seconds per image of ``model.predict`` alone on preprocessed random arrays."""
    from kzoo.distributed.pipeline import model_threads
    x = np.random.default_rng(1).uniform(-120, 130, (batch_size, 224, 224, 3)).astype('float32')
    with model_threads(threads):
        model.predict(x[:2], batch_size=2)  # warm-up: first-call kernel preparation
        start = time.perf_counter()
        for _ in range(batches):
            model.predict(x, batch_size=batch_size)
    return (time.perf_counter() - start) / (batches * batch_size)


def decode_floor(paths, plan):
    from kzoo.distributed.pipeline import decode_group
    start = time.perf_counter()
    decode_group(paths, plan)
    return (time.perf_counter() - start) / len(paths)


def trivial_model(path):
    """A model that costs next to nothing per image, saved to ``path``."""
    from kzoo.layers import Dense, GlobalAveragePooling2D, Input
    from kzoo.models import Model
    x = Input(shape=(224, 224, 3))
    Model(x, Dense(1000, activation='softmax')(GlobalAveragePooling2D()(x))).save(path)
    return path


def timed_run(model, paths, weights, out, batch_size, **kwargs):
    from kzoo.distributed import predict, write_results
    start = time.perf_counter()
    results = predict(model, paths, weights=weights, batch_size=batch_size, **kwargs)
    count = write_results(results, out)
    seconds = time.perf_counter() - start
    assert count == len(paths)
    return seconds


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--images', type=int, default=2000)
    parser.add_argument('--size', type=int, default=256, help='generated image side (pixels)')
    parser.add_argument('--batch-size', type=int, default=32)
    parser.add_argument('--workers', default='1,2', help='Ray worker counts to run')
    parser.add_argument('--ray', default='local', help="Ray address ('local': a new local "
                        'instance with every CPU here)')
    parser.add_argument('--skip-local', action='store_true', help='only the Ray runs')
    parser.add_argument('--json', help='also write the results as JSON here')
    args = parser.parse_args(argv)
    from kzoo.distributed.pipeline import resolve
    from kzoo.registry import get_application

    work = tempfile.mkdtemp(prefix='kzoo-bench-distributed-')
    rows, facts = [], {'images': args.images, 'cpus': os.cpu_count()}
    try:
        t = time.perf_counter()
        os.makedirs(os.path.join(work, 'images'))
        paths = make_images(os.path.join(work, 'images'), args.images, args.size)
        print('%d images of %dx%d written in %.1f s' % (len(paths), args.size, args.size,
                                                        time.perf_counter() - t))
        weights = os.path.join(work, 'resnet50.h5')
        model = get_application('ResNet50').builder(weights=None)
        model.save_weights(weights)
        import torch
        facts['torch_threads'] = torch.get_num_threads()
        facts['model_s_per_image'] = model_floor(model, args.batch_size)
        facts['model_s_per_image_1_thread'] = model_floor(model, args.batch_size, threads=1)
        plan = resolve('ResNet50', weights=weights, batch_size=args.batch_size,
                       need_model=False)[1]
        facts['decode_s_per_image'] = decode_floor(paths[:64], plan)
        del model
        print('floors per image: model %.1f ms (%d threads), %.1f ms (1 thread); decode and '
              'preprocess %.1f ms (1 thread)' % (
                  1e3 * facts['model_s_per_image'], facts['torch_threads'],
                  1e3 * facts['model_s_per_image_1_thread'],
                  1e3 * facts['decode_s_per_image']))

        trivial = trivial_model(os.path.join(work, 'trivial.h5'))
        runs = [] if args.skip_local else [('one process', {})]

        def run_both(name, **kwargs):
            out = os.path.join(work, 'out.jsonl')
            seconds = timed_run('ResNet50', paths, weights, out, args.batch_size, **kwargs)
            print('%-20s %8.1f s %8.2f images/s' % (name, seconds, len(paths) / seconds),
                  flush=True)
            machinery = timed_run(trivial, paths, None, out, args.batch_size, **kwargs)
            print('%-20s %8.1f s with the do-nothing model: %.1f ms/image overhead'
                  % ('', machinery, 1e3 * machinery / len(paths)), flush=True)
            rows.append({'run': name, 'seconds': seconds, 'images_per_s': len(paths) / seconds,
                         'ms_per_image': 1e3 * seconds / len(paths),
                         'overhead_seconds': machinery,
                         'overhead_ms_per_image': 1e3 * machinery / len(paths)})

        for name, kwargs in runs:
            run_both(name, **kwargs)
        import ray
        t = time.perf_counter()
        if args.ray == 'local':
            ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
        else:
            ray.init(address=args.ray, log_to_driver=False)
        facts['ray_init_s'] = time.perf_counter() - t
        facts['ray_cpus'] = ray.cluster_resources().get('CPU')
        for workers in [int(w) for w in args.workers.split(',')]:
            run_both('Ray, %d worker%s' % (workers, 's' if workers > 1 else ''), ray=True,
                     workers=workers)
        ray.shutdown()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print('\n%d images, %d CPUs, batch %d; ray.init %.1f s (not in the runs)'
          % (len(paths), facts['cpus'], args.batch_size, facts.get('ray_init_s', 0)))
    print('| run | wall s | images/s | ms/image | overhead ms/image (do-nothing model) |')
    print('| --- | ---: | ---: | ---: | ---: |')
    for r in rows:
        print('| %s | %.1f | %.2f | %.1f | %.1f |' % (
            r['run'], r['seconds'], r['images_per_s'], r['ms_per_image'],
            r['overhead_ms_per_image']))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump({'facts': facts, 'runs': rows}, f, indent=2)


if __name__ == '__main__':
    main()
