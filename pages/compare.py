"""Step 4 · Compare runs: which model gets which classes right, side by side.

Its own page (not a section of Train & Evaluate) because it reads many runs at once and
never trains, except for the explicit "Run the study" button."""

import streamlit as st

from lib import charts
from lib.errors import StoreError, one_line
from lib.evaluate import metrics
from lib.i18n import N_, _
from lib.runs.compare import difference, f1_deltas, runs_table, validation_curves
from lib.runs.config import RunRecord, can_be_backbone
from lib.runs.store import RunStore
from lib.runs.study import (
    DIFFERENCES,
    LADDER,
    TUTORIAL_ACCURACY,
    below_baseline,
    beside_tutorial,
    check_backbone,
    default_backbone,
    ladder,
    run_study,
    study_display,
    study_table,
    tutorial_ladder,
)
from lib.train.transfer import BACKBONES, BackboneRef
from lib.ui import cache, pooled, present, state
from lib.ui.compare_views import runs_table_ui
from lib.ui.table_labels import STATUS, header
from lib.ui.text import md

ON_OFF = {"on": N_("on"), "off": N_("off")}

st.title(_("4 · Compare runs"))
ds = cache.current_dataset()
spec = cache.current_spec()
root = cache.store_root()
store = RunStore(root)

# --- The study ---------------------------------------------------------------------------
LADDER_CHOICES = {"ours": N_("ours"), "follow the tutorial (as written)": N_("follow the tutorial (as written)")}
with st.expander(_("Run the study: own CNN vs feature extraction vs fine-tuning vs fine-tuning + augmentation")):
    follow = (
        st.radio(
            _("Ladder"),
            list(LADDER_CHOICES),
            horizontal=True,
            key="study_ladder",
            format_func=lambda code: _(LADDER_CHOICES[code]),
            help=_("The three-animals tutorial's four steps exactly as it wrote them (VGG16), beside ours."),
        )
        != "ours"
    )
    if follow:
        reported = ", ".join(f"{_(name)} {acc:.2f}" for name, acc in TUTORIAL_ACCURACY.items())
        st.markdown(
            _(
                "**The tutorial as written:** its own CNN (Conv 128/256/128/64 + Dense 128/64/32); VGG16 with "
                "nothing frozen on raw pixels (its 'feature extraction'); only `block5_conv3` trainable; the same + "
                "rotation 30, shifts 0.2, zoom 0.2, horizontal flip. Flatten + Dense 128/64/32 head, 50 epochs, "
                "batch 128. It reported test accuracy {reported}."
            ).format(reported=reported)
            + "\n\n"
            + _("**What our default ladder does differently, and why:**")
            + "\n"
            + "\n".join(f"- {_(d)}" for d in DIFFERENCES)
        )
    configs = store.list_runs()[0]
    lendable = [r for r in configs if can_be_backbone(r)]
    # Runs of this data set first (the newest is the default), then keras.applications, then other data sets.
    same = [r for r in lendable if r.dataset.fingerprint == ds.fingerprint]
    other = [r for r in lendable if r.dataset.fingerprint != ds.fingerprint]

    # Short labels: the box shows its whole value at 1024 px (an auto name already starts with the model).
    def run_label(r: RunRecord, text: str) -> str:
        model = "" if r.display_name.startswith(r.model) else f" ({r.model})"
        return text.format(name=f"{r.display_name}{model}", data=r.dataset.label)

    choices = {
        **{str(BackboneRef.of_run(r.run_id)): run_label(r, _("run {name}")) for r in same},
        **{code: _(text) for code, text in BACKBONES.items()},
        **{str(BackboneRef.of_run(r.run_id)): run_label(r, _("run {name} · ANOTHER data set: {data}")) for r in other},
    }
    default = default_backbone(configs, ds)
    backbone = st.selectbox(  # a row of its own: in a quarter of the page its value was cut
        _("Backbone"),
        list(choices),
        format_func=choices.get,
        key="study_backbone",
        index=list(choices).index(default),
        disabled=follow,
        help=_("The tutorial's ladder always uses VGG16.") if follow else None,
    )
    if follow:
        backbone = "vgg16"
    from_run = BackboneRef.parse(backbone).is_run
    c = st.columns(3)
    weights = c[0].selectbox(
        _("Weights"),
        ["imagenet", "none"],
        key="study_weights",
        format_func=lambda code: _("none (random weights)") if code == "none" else code,
        disabled=from_run,
        help=_("'none' = random weights: the backbone is NOT pretrained."),
    )
    epochs = c[1].number_input(_("Epochs each"), 1, 100, 5, key="study_epochs")
    seed = c[2].number_input(_("Seed"), 0, 10_000, 0, key="study_seed")
    if from_run:  # why Weights is greyed out (lib.train.transfer: a run's layers come with their weights)
        st.caption(
            _(
                "Weights: a backbone from a stored run keeps the weights it learned in that run; ImageNet or "
                "random weights are for VGG16 and MobileNetV2."
            )
        )
    if follow:
        steps = tutorial_ladder(weights, int(epochs), int(seed))
    else:
        steps = ladder(backbone, weights, int(epochs), int(seed))
    split = steps[0][1].validation_split
    check = check_backbone(backbone, ds, store, seed=int(seed), validation_split=split)
    if check.warning:
        st.warning(md(check.warning), icon=":material/warning:")
    st.caption(
        _(
            "Same split and seed for all four (validation {split} of the training split, seed {seed}, "
            "{epochs} epochs each, the {n_test} test images); fine-tuning unfreezes the backbone's last 4 "
            "weighted layers, all of them when it has fewer (BatchNormalization stays frozen); augmentation is the "
            "'mild' preset. Runs already in the store are loaded, not trained again."
        ).format(split=f"{split:.0%}", seed=int(seed), epochs=int(epochs), n_test=len(ds.y_test))
    )
    pooled.leave_previous(state.STUDY_JOB)
    if st.button(_("Run the study"), type="primary", key="study_button"):
        bar = st.progress(0.0, text=_("Starting the study…"))
        status_line, step_bar = st.empty(), st.empty()
        # Each step trains in the server's training pool, as the Train button's trainings do.
        results = run_study(
            ds,
            steps,
            spec.label,
            store,
            on_step=lambda i, n, name: bar.progress(
                i / n, text=_("step {i}/{n}: {name}").format(i=i + 1, n=n, name=_(name))
            ),
            train_step=lambda name, settings: pooled.train_in_pool(
                ds, settings, spec.label, root, status_line=status_line, bar=step_bar, source=spec.source
            ),
        )
        status_line.empty()
        step_bar.empty()
        bar.progress(1.0, text=_("Study done"))
        for name, outcome in results:
            if isinstance(outcome, str):
                st.error(_("{step}: {reason}").format(step=md(_(name)), reason=md(outcome)))
            elif outcome.result is not None and outcome.result.interrupt is not None:
                raise outcome.result.interrupt
        st.session_state["study_runs"] = {name: o.run_id for name, o in results if not isinstance(o, str) and o.run_id}
        st.session_state["study_followed_tutorial"] = follow
        st.session_state["study_check"] = check
        st.session_state["study_fingerprint"] = ds.fingerprint

# The study's own result: its four rows together, not mixed with older runs.
study_runs = st.session_state.get("study_runs", {})
if study_runs and st.session_state.get("study_fingerprint") == ds.fingerprint:
    rows = []
    for name, run_id in study_runs.items():
        try:
            rows.append((name, cache.stored_run(root, run_id)))
        except StoreError as exc:
            st.caption(_("Skipped: {reason}").format(reason=md(one_line(exc))))
    st.subheader(_("The study's result"))
    study = study_table(rows)
    shown, shared = study_display(study)  # no run-id column, shared settings in one caption: no scrolling
    pct = dict.fromkeys(("accuracy", "balanced accuracy", "macro F1", "majority baseline"), "{:.1%}")
    shown = shown.assign(step=[_(step) for step in shown["step"]])
    present.dataframe(
        shown, fmt={**pct, "training s": "{:.1f}", "validation split": "{:.0%}"}, hide_index=True, width="stretch"
    )
    if shared:
        every = " · ".join(
            f"{header(k)} {v:.0%}" if k == "validation split" else f"{header(k)} {v}" for k, v in shared.items()
        )
        st.caption(_("Every step: {settings}").format(settings=every))
    for step in below_baseline(study):
        st.warning(
            _(
                "{step}: test accuracy below the majority baseline. Always predicting the largest class "
                "would score better: this step learned nothing useful (too few epochs, a learning rate that is "
                "too large, or a frozen backbone with random weights)."
            ).format(step=md(_(step)))
        )
    done = st.session_state.get("study_check")
    if done is not None and done.warning:
        st.warning(md(done.warning), icon=":material/warning:")
    if done is not None and done.note:
        st.info(md(done.note))
    if st.session_state.get("study_followed_tutorial"):
        beside = beside_tutorial(dict(rows))
        beside = beside.assign(step=[_(step) for step in beside["step"]])
        st.markdown(_("**Beside the tutorial** (its animal photos vs your data: the same method, other images)"))
        present.dataframe(beside, fmt={"tutorial's test accuracy": "{:.2f}", "yours": "{:.3f}"}, hide_index=True)

# --- Stored runs of this dataset ---------------------------------------------------------------
configs, broken = store.list_runs()
for line in broken:
    st.caption(_("Ignored a damaged run folder: {reason}").format(reason=md(line)))
mine = [r.run_id for r in configs if r.dataset.fingerprint == ds.fingerprint]
if not mine:
    st.info(_("No stored runs for this dataset yet: train on step 3, or run the study above."))
    st.stop()
runs = []
for run_id in mine:
    try:
        runs.append(cache.stored_run(root, run_id))
    except StoreError as exc:
        st.caption(_("Skipped: {reason}").format(reason=md(one_line(exc))))
table = runs_table(runs)
steps = [next((n for n, rid in study_runs.items() if rid == r), "") for r in table["run"]]
if any(steps):  # only after a study: an empty column would push the key columns off a projector
    table.insert(1, "study step", steps)
st.subheader(_("{n} stored run(s) on {name}").format(n=len(runs), name=md(ds.name)))
numbers = {
    col: "{:.1%}"
    for col in table.columns
    if col in ("accuracy", "balanced accuracy", "macro F1", "majority baseline") or col.startswith("F1 ")
}
shown_table = table.assign(
    status=[_(STATUS.get(v, v)) for v in table["status"]],
    augmentation=[_(ON_OFF.get(v, v)) for v in table["augmentation"]],
    **({"study step": [_(v) if v else v for v in table["study step"]]} if "study step" in table else {}),
)
runs_table_ui(shown_table, {**numbers, "seconds": "{:.1f}"})  # readable at 1024 px, Present on or off
st.caption(_("Test-set figures. Stopped or failed runs are listed with their status: they are not finished models."))

# --- Two runs side by side ---------------------------------------------------------------------------
if len(runs) < 2:
    st.info(_("Store a second run to compare two side by side."))
    st.stop()
by_id = {r.run_id: r for r in runs}
# The boxes hold half a page: the run's name (its id and kind are in the table above; with them, the
# box was cut at 1024 px).
label = {r.run_id: r.record.display_name for r in runs}
if len(set(label.values())) < len(label):  # two runs named alike: the start of the id tells them apart
    label = {run_id: f"{text} · {run_id[:6]}" for run_id, text in label.items()}
c1, c2 = st.columns(2)
a_id = c1.selectbox(_("Run A"), mine, index=1 if len(mine) > 1 else 0, format_func=label.get, key="compare_a")
b_id = c2.selectbox(_("Run B"), mine, index=0, format_func=label.get, key="compare_b")
run_a, run_b = by_id[a_id], by_id[b_id]
names = list(ds.class_names)
# One matrix under the other, each at full width: side by side at 1024 px, their numbers overlapped
# (the projector test checks the printed numbers as drawn).
for col, run, title in ((st.container(), run_a, "A"), (st.container(), run_b, "B")):
    table = metrics.confusion_table(run.test_confusion, names, "true")
    cache.altair_chart(
        col, charts.confusion_heatmap, table, "true", _("{run}: normalized by true class").format(run=title)
    )
cache.altair_chart(st, charts.difference_heatmap, difference(run_a, run_b, "true"), names)
st.caption(
    _(
        "Blue: B puts a larger share of that true class in the cell than A, red: a smaller one. On the "
        "diagonal blue is better (more right); off the diagonal blue is worse (more mistakes)."
    )
)
cache.altair_chart(st, charts.f1_delta_chart, f1_deltas(run_a, run_b), width="stretch")
curves = validation_curves([run_a, run_b])
if not curves.empty:
    key = (cache.run_key(run_a), cache.run_key(run_b))
    cache.altair_chart(st, charts.runs_curves_chart, curves, cache_key=key, width="stretch")
st.caption(_("Ladder steps: {steps}").format(steps=" → ".join(_(step) for step in LADDER)))
