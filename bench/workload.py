"""The transfer-learning tutorial's workload: plain fit vs cached backbone features.

A tutorial-sized data set is generated into a temporary folder (3 classes of 224x224x3
photos-like images with real structure: class 0 round blobs, class 1 rectangles, class 2
stripes, each in random colours, sizes and places over a noisy textured background) and
loaded like any image folder. Backbone: MobileNetV2 (alpha 0.35) with RANDOM weights
(weights='none'): ImageNet weights cannot be downloaded offline, and VGG16 is too slow for
a 2-core laptop CPU. Timings do not depend on the weights; accuracies with random weights
are low, the delta between the two paths is what counts.

    fe_cached_speedup    feature extraction, 5 epochs: plain frozen-backbone fit / cached path
    fe_cached_acc_delta  |test accuracy plain - cached|, same seed
    ft_cached_speedup    fine-tuning the last block (block_16 + Conv_1), 5 epochs: plain / cached
    frozen_pass_speedup[constants]  the fine-tuning run's frozen part over every image, first call:
                         Keras predict() / the one graph of constants the cached path runs

    fe_cached_speedup[50 epochs, first run]  the tutorial's epochs a step, features computed inside the time

BENCH_WORKLOAD_PER_CLASS (default 300) and BENCH_WORKLOAD_SIZE (default 224) make it smaller,
BENCH_WORKLOAD_LONG_EPOCHS (default 50; 0 skips) sets the long comparison's epochs.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from bench.common import report
from lib.data.folders import load_image_folder
from lib.train.settings import TrainSettings
from lib.train.training import train

EPOCHS = 5
CLASSES = ("blobs", "rectangles", "stripes")
# MobileNetV2's last block: block_16 expand, depthwise, project and Conv_1. "Unfreeze last N" counts layers
# with weights other than BatchNormalization (those stay frozen), so that is 4 (it was 8 when BN counted).
LAST_BLOCK = 4


def _image(cls: int, size: int, rng: np.random.Generator) -> Image.Image:
    base = rng.integers(60, 200, 3)
    noise = rng.normal(0, 18, (size, size, 3))
    grad = np.linspace(-30, 30, size)[None, :, None] * rng.choice([-1, 1])
    img = Image.fromarray(np.clip(base + noise + grad, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for _ in range(rng.integers(1, 4)):
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        s = int(rng.integers(size // 6, size // 2))
        x0, y0 = (int(v) for v in rng.integers(0, size - s, 2))
        if cls == 0:
            draw.ellipse([x0, y0, x0 + s, y0 + s], fill=colour)
        elif cls == 1:
            draw.rectangle([x0, y0, x0 + s, y0 + int(s * rng.uniform(0.4, 1.0))], fill=colour)
        else:
            width = int(rng.integers(3, 10))
            for k in range(0, s, 2 * width):
                draw.rectangle([x0 + k, y0, x0 + k + width, y0 + s], fill=colour)
    return img


def make_workload(root: Path, per_class: int, size: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    for c, name in enumerate(CLASSES):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            _image(c, size, rng).save(root / name / f"{i:04d}.png", compress_level=1)


def _timed(ds, settings: TrainSettings, **kw) -> tuple[float, float, list[str]]:
    t0 = time.perf_counter()
    r = train(ds, settings, **kw)
    seconds = time.perf_counter() - t0
    return seconds, float((r.test_prob.argmax(1) == r.y_test).mean()), r.notes


def run() -> None:
    per_class = int(os.environ.get("BENCH_WORKLOAD_PER_CLASS", 300))
    size = int(os.environ.get("BENCH_WORKLOAD_SIZE", 224))
    with tempfile.TemporaryDirectory() as d:
        make_workload(Path(d), per_class, size)
        ds = load_image_folder(d)
    what = f"{len(ds.x_train) + len(ds.x_test)} images {size}x{size}x3, mobilenetv2 random weights, {EPOCHS} epochs"
    fe = TrainSettings(model="mobilenetv2", weights="none", epochs=EPOCHS, seed=0)
    ft = TrainSettings(
        model="mobilenetv2", weights="none", epochs=EPOCHS, seed=0, transfer="fine_tune", unfreeze=LAST_BLOCK
    )
    _timed(ds.with_changes(x_train=ds.x_train[:64], y_train=ds.y_train[:64]), fe)  # warm-up: TensorFlow start-up
    for name, settings, goal in (("fe", fe, "goal >= 10"), ("ft", ft, "goal >= 3")):
        t_plain, acc_plain, _ = _timed(ds, settings, cache_features=False)
        with tempfile.TemporaryDirectory() as cache:
            # Cold: the cached path pays for computing (and saving) the features inside its time.
            t_cold, acc_cached, notes = _timed(ds, settings, cache_dir=cache)
            # Warm: a later run on the same data and backbone (another learning rate, more epochs)
            # reads the features from the cache file.
            t_warm, _, _ = _timed(ds, replace(settings, learning_rate=5e-4), cache_dir=cache)
        cut = next((n.split("(")[1].split(")")[0] for n in notes if "computed once" in n), "not cached")
        # Where the first cached run's time goes: the one pass of the frozen part (its note says how
        # long), and the rest (model build, the cut, the top's epochs, the test prediction).
        once = next((float(re.search(r"in ([0-9.]+) s", n).group(1)) for n in notes if "computed once" in n), 0.0)
        report(
            f"{name}_cached_first_run_split",
            once / t_cold,
            f"of the first cached run in the one frozen pass ({once:.1f} s of {t_cold:.1f} s; the rest, "
            f"{t_cold - once:.1f} s, builds the model, cuts it, trains the top {EPOCHS} epochs and predicts the test "
            f"set; a plain epoch costs {t_plain / EPOCHS:.1f} s)",
            "for reference",
        )
        report(
            f"{name}_cached_speedup",
            t_plain / t_cold,
            f"x ({t_plain:.1f} s plain vs {t_cold:.1f} s cached incl. computing the features once, cut {cut}; {what})",
            goal,
        )
        report(
            f"{name}_cached_speedup[warm cache]",
            t_plain / t_warm,
            f"x ({t_plain:.1f} s plain vs {t_warm:.1f} s for a later run reading the cached features)",
            goal,
        )
        if name == "fe":
            report(
                "fe_cached_acc_delta",
                abs(acc_plain - acc_cached),
                f"(test accuracy {acc_plain:.3f} plain, {acc_cached:.3f} cached; random weights: chance level)",
                "goal <= 0.02",
            )
    frozen_pass(ds, ft)
    tutorial_epochs(ds, fe, what)
    run_backbone_delta()


def frozen_pass(ds, ft: TrainSettings) -> None:
    """The one pass of the frozen part, as the cached path runs it (lib.train.feature_cache.inference:
    its weights as constants, each BatchNormalization folded into its convolution) against Keras'
    predict(), each on a freshly built model and timed from its first call (trace included), in
    both orders (predict first, then ours; ours first, then predict) so neither gains from running
    second."""
    from lib.augment import settings as augment
    from lib.tf_import import import_keras
    from lib.train import feature_cache
    from lib.train.streaming import standardized_batches
    from lib.train.transfer import build_transfer_model

    gen = augment.make_generator(augment.training_config(ft.augment)[0])
    x = np.concatenate([ds.x_train, ds.x_test])

    def fresh():
        import_keras().backend.clear_session()
        model, _ = build_transfer_model(
            ft.backbone, ds.image_shape, ds.num_classes, mode=ft.transfer, unfreeze=ft.unfreeze, weights="none", seed=0
        )
        return feature_cache.split_model(model, ft).frozen

    def with_predict():
        frozen = fresh()
        t0 = time.perf_counter()
        out = frozen.predict(standardized_batches(gen, x, batch_size=feature_cache.PREDICT_BATCH), verbose=0)
        return time.perf_counter() - t0, out

    def as_constants():
        frozen = fresh()
        t0 = time.perf_counter()
        out = feature_cache.compute(feature_cache.inference(frozen), gen, x, tuple(frozen.output.shape[1:]))
        return time.perf_counter() - t0, out

    t_keras, keras_out = with_predict()
    t_ours, ours = as_constants()
    t_ours_first, _ = as_constants()
    t_keras_second, _ = with_predict()
    gap = float(np.abs(ours - keras_out).max() / max(float(np.abs(keras_out).max()), 1e-30))
    report(
        "frozen_pass_speedup[constants]",
        (t_keras + t_keras_second) / (t_ours + t_ours_first),
        f"x (predict() {t_keras:.1f} s then ours {t_ours:.1f} s; ours {t_ours_first:.1f} s then predict() "
        f"{t_keras_second:.1f} s; {len(x)} images, largest difference {gap:.1e} of the features' scale)",
        "for reference",
    )


def tutorial_epochs(ds, fe: TrainSettings, what: str) -> None:
    """The same comparison at the tutorial's own 50 epochs a step, first run (features computed
    inside the cached path's time): the one-off cost is spread over ten times more epochs.
    BENCH_WORKLOAD_LONG_EPOCHS changes the count; 0 skips it."""
    epochs = int(os.environ.get("BENCH_WORKLOAD_LONG_EPOCHS", 50))
    if epochs <= 0:
        return
    settings = replace(fe, epochs=epochs)
    t_plain, _, _ = _timed(ds, settings, cache_features=False)
    with tempfile.TemporaryDirectory() as cache:
        t_cold, _, _ = _timed(ds, settings, cache_dir=cache)
    report(
        f"fe_cached_speedup[{epochs} epochs, first run]",
        t_plain / t_cold,
        f"x ({t_plain:.1f} s plain vs {t_cold:.1f} s cached incl. computing the features; "
        f"{what.replace(f'{EPOCHS} epochs', f'{epochs} epochs')})",
        "goal >= 10 (at 5 epochs)",
    )


def run_backbone_delta() -> None:
    """The accuracy delta with a backbone that has real features offline: a stored digits CNN
    (2 epochs) as the frozen backbone for shapes, feature extraction, 5 epochs."""
    from lib.data.sources import DatasetSpec, load_dataset, load_digits
    from lib.runs.store import RunStore
    from lib.runs.train_or_load import train_or_load

    with tempfile.TemporaryDirectory() as root:
        store = RunStore(root)
        backbone = train_or_load(load_digits(), TrainSettings(model="cnn", epochs=2), "digits", store).run_id
        shapes = load_dataset(DatasetSpec("shapes"))
        settings = TrainSettings(model=f"run:{backbone}", epochs=EPOCHS)
        plain = train(shapes, settings, store=store, cache_features=False)
        cached = train(shapes, settings, store=store)
    acc = [float((r.test_prob.argmax(1) == r.y_test).mean()) for r in (plain, cached)]
    gap = float(abs(plain.test_prob - cached.test_prob).max())
    report(
        "fe_cached_acc_delta[run backbone]",
        abs(acc[0] - acc[1]),
        f"(shapes on a stored digits CNN: test accuracy {acc[0]:.3f} plain, {acc[1]:.3f} cached; "
        f"largest probability difference {gap:.1e})",
        "goal <= 0.02",
    )
