"""AppTest: the Augmentation page reacts to its controls."""

from __future__ import annotations

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from lib.augment import settings as augment
from lib.ui import augment_preview_view, state
from tests.helpers import app_on_page, save_npz, tiny_arrays


@pytest.fixture
def aug() -> AppTest:
    return app_on_page("pages/augmentation.py")


def images(at):
    return [c for img in at.get("image") for c in img.captions]


def test_opens_on_the_tutorial_preset_and_shows_it(aug):
    assert aug.title[0].value == "2 · Augmentation"
    assert aug.selectbox(key="aug_preset").value == augment.DEFAULT_PRESET
    assert any(c.startswith("rot ") for c in images(aug))  # the draws visibly differ from the originals
    # digits are characters: the tutorial's horizontal flip is flagged for this data set
    assert any("horizontal_flip on digits" in w.value and "mirrored 2 is not a 2" in w.value for w in aug.warning)
    assert "Which images" in [c.label for c in aug.selectbox]
    assert "How many" in [n.label for n in aug.number_input]


def test_changing_a_control_changes_code_images_and_says_custom(aug):
    aug.selectbox(key="aug_preset").select("none").run()
    assert all(c == "no change" for c in images(aug) if not c.startswith("original"))
    assert not [w for w in aug.warning if "flip" in w.value]
    aug.number_input(key="aug_rotation_range").set_value(30).run()
    assert not aug.exception
    assert aug.selectbox(key="aug_preset").value == augment.CUSTOM
    assert "rotation_range=30" in aug.code[0].value
    assert "RandomRotation(factor=0.08333" in aug.code[1].value
    assert any(c.startswith("rot ") for c in images(aug))
    assert aug.session_state[state.AUGMENT]["rotation_range"] == 30
    aug.number_input(key="aug_rotation_range").set_value(10).run()  # back to exactly a preset's values
    aug.number_input(key="aug_width_shift_range").set_value(0.05).run()
    aug.number_input(key="aug_height_shift_range").set_value(0.05).run()
    aug.number_input(key="aug_zoom_range").set_value(0.1).run()
    assert aug.selectbox(key="aug_preset").value == "mild"


def test_invalid_setting_gets_a_message_and_keeps_last_valid(aug):
    aug.number_input(key="aug_zoom_range").set_value(-0.2).run()
    assert any("zoom_range cannot be negative" in e.value for e in aug.error)
    assert aug.session_state[state.AUGMENT]["zoom_range"] == 0.0
    aug.checkbox(key="aug_brightness_range_on").check().run()
    aug.number_input(key="aug_brightness_range_low").set_value(1.5).run()
    assert any("brightness min 1.5 is greater than max 1.2" in e.value for e in aug.error)


def test_samplewise_preset_teaches_the_trap(aug):
    aug.selectbox(key="aug_preset").select("tutorial: rotate 10, shift 0.1, flip, samplewise").run()
    assert not aug.exception
    assert any("standardize" in w.value for w in aug.warning)
    assert "datagen.standardize(img)" in aug.code[0].value
    assert len(aug.get("arrow_vega_lite_chart") or aug.get("vega_lite_chart")) == 1


def test_new_draw_changes_seed(aug):
    before = images(aug)
    aug.number_input(key="aug_rotation_range").set_value(40).run()
    first = images(aug)
    aug.button(key="aug_new_draw").click().run()
    assert aug.session_state[state.AUGMENT_SEED] == 1
    assert images(aug) != first and before != first


def test_settings_survive_leaving_the_page(aug):
    aug.number_input(key="aug_width_shift_range").set_value(0.15).run()
    aug.switch_page("pages/dataset.py").run()
    aug.switch_page("pages/augmentation.py").run()
    assert aug.number_input(key="aug_width_shift_range").value == pytest.approx(0.15)
    assert "width_shift_range=0.15" in aug.code[0].value


def test_a_class_named_like_a_mode_is_still_that_class(tmp_path):
    # Options are codes: a class called "random" shows only its own images, and the modes stay.
    names = ["random", "one per class", "cat"]
    path = save_npz(tmp_path / "modes.npz", **tiny_arrays(n_train=30, n_test=15, k=3), class_names=np.array(names))
    at = app_on_page("pages/augmentation.py")
    at.selectbox(key="aug_pick").select(9).run()  # digit 9, a class the next data set does not have
    assert all(c.endswith("· 9") for c in images(at) if c.startswith("original"))
    at.selectbox(key="source_choice").select("npz").run()
    at.text_input(key="npz_path").input(str(path)).run()
    at.button(key="load_npz").click().run()
    assert not at.exception, at.exception
    pick = at.selectbox(key="aug_pick")
    assert pick.options == ["one per class", "random", "class: random", "class: one per class", "class: cat"]
    for code, name in enumerate(names):
        at.selectbox(key="aug_pick").select(code).run()
        originals = [c for c in images(at) if c.startswith("original")]
        assert originals and all(c == f"original · {name}" for c in originals), originals
    at.selectbox(key="aug_pick").select(augment_preview_view.RANDOM).run()
    assert len({c for c in images(at) if c.startswith("original")}) > 1  # random draws mix classes
