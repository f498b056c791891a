"""aug_preview_ms: redraw of a 4x4 augmentation preview (4 images x 4 draws, 'strong' preset),
side by side with plain ImageDataGenerator.flow() drawing the same 16 images."""

from __future__ import annotations

import numpy as np

from bench.common import ROOT, median_seconds, report
from lib.augment import settings as augment
from lib.augment.preview import augment_draws, to_display
from lib.data.sources import DatasetSpec, load_dataset


def run() -> None:
    for name in ("digits", "shapes"):
        ds = load_dataset(DatasetSpec(name))
        gen = augment.make_generator(augment.preset("strong"))
        imgs = ds.x_train[:4]

        def ours(gen=gen, imgs=imgs) -> None:
            draws, params = augment_draws(gen, imgs, 4, seed=1)
            to_display(draws, stretch=False)

        def plain(gen=gen, imgs=imgs) -> None:
            it = gen.flow(np.repeat(imgs, 4, axis=0).astype(np.float32), batch_size=16, shuffle=False, seed=1)
            next(it)

        t_ours, t_plain = median_seconds(ours, repeat=15), median_seconds(plain, repeat=15)
        report(f"aug_preview_ms[{name}]", t_ours * 1000, "ms", "goal <= 300 ms")
        report(f"aug_preview_vs_flow[{name}]", t_ours / t_plain, "x plain flow()", "for reference")


def run_page() -> None:
    """The whole Augmentation page rerun after a control change, as AppTest runs it."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=120).run()
    at.selectbox(key="source_choice").select("shapes").run()
    at.switch_page("pages/augmentation.py").run()
    angle = iter(range(5, 1000, 5))

    def rerun() -> None:
        at.number_input(key="aug_rotation_range").set_value(next(angle)).run()

    report(
        "aug_page_rerun_ms[shapes]", median_seconds(rerun, repeat=7) * 1000, "ms", "AppTest, whole page, for reference"
    )
