"""Step 4 · Compare runs: which model gets which classes right, side by side.

Its own page (not a section of Train & Evaluate) because it reads many runs at once and
never trains, except for the explicit "Run the study" button."""

import streamlit as st

from lib import charts
from lib.errors import StoreError, one_line
from lib.evaluate import metrics
from lib.runs.compare import difference, f1_deltas, runs_table, validation_curves
from lib.runs.config import can_be_backbone
from lib.runs.store import RunStore
from lib.runs.study import DIFFERENCES, LADDER, TUTORIAL_ACCURACY, beside_tutorial, ladder, run_study, tutorial_ladder
from lib.train.transfer import BACKBONES, BackboneRef
from lib.ui import cache
from lib.ui.text import md

st.title("4 · Compare runs")
ds = cache.current_dataset()
spec = cache.current_spec()
root = cache.store_root()
store = RunStore(root)

# --- The study ---------------------------------------------------------------------------
with st.expander("Run the study: own CNN vs feature extraction vs fine-tuning vs fine-tuning + augmentation"):
    follow = (
        st.radio(
            "Ladder",
            ["ours", "follow the tutorial (as written)"],
            horizontal=True,
            key="study_ladder",
            help="The three-animals tutorial's four steps exactly as it wrote them (VGG16), beside ours.",
        )
        != "ours"
    )
    if follow:
        st.markdown(
            "**The tutorial as written:** its own CNN (Conv 128/256/128/64 + Dense 128/64/32); VGG16 with "
            "nothing frozen on raw pixels (its 'feature extraction'); only `block5_conv3` trainable; the same + "
            "rotation 30, shifts 0.2, zoom 0.2, horizontal flip. Flatten + Dense 128/64/32 head, 50 epochs, "
            "batch 128. It reported test accuracy "
            + ", ".join(f"{name} {acc:.2f}" for name, acc in TUTORIAL_ACCURACY.items())
            + ".\n\n**What our default ladder does differently, and why:**\n"
            + "\n".join(f"- {d}" for d in DIFFERENCES)
        )
    configs, _ = store.list_runs()
    own_runs = {
        str(BackboneRef.of_run(r.run_id)): f"backbone from run {r.run_id} ({r.model} on {r.dataset.label})"
        for r in configs
        if can_be_backbone(r)
    }
    choices = {**BACKBONES, **own_runs}
    c = st.columns(4)
    backbone = c[0].selectbox(
        "Backbone",
        list(choices),
        format_func=choices.get,
        key="study_backbone",
        index=len(BACKBONES) if own_runs else 1,
    )
    weights = c[1].selectbox(
        "Weights",
        ["imagenet", "none"],
        key="study_weights",
        disabled=BackboneRef.parse(backbone).is_run,
        help="'none' = random weights: the backbone is NOT pretrained.",
    )
    epochs = c[2].number_input("Epochs each", 1, 100, 5, key="study_epochs")
    seed = c[3].number_input("Seed", 0, 10_000, 0, key="study_seed")
    st.caption(
        "Same split and seed for all four; fine-tuning unfreezes the backbone's last 4 weighted layers; "
        "augmentation is the 'mild' preset. Runs already in the store are loaded, not trained again."
    )
    if st.button("Run the study", type="primary", key="study_button"):
        bar = st.progress(0.0, text="Starting the study…")
        steps = (
            tutorial_ladder(weights, int(epochs), int(seed))
            if follow
            else ladder(backbone, weights, int(epochs), int(seed))
        )
        results = run_study(
            ds,
            steps,
            spec.label,
            store,
            on_step=lambda i, n, name: bar.progress(i / n, text=f"step {i + 1}/{n}: {name}"),
        )
        bar.progress(1.0, text="Study done")
        for name, outcome in results:
            if isinstance(outcome, str):
                st.error(f"{md(name)}: {md(outcome)}")
            elif outcome.result is not None and outcome.result.interrupt is not None:
                raise outcome.result.interrupt
        st.session_state["study_runs"] = {name: o.run_id for name, o in results if not isinstance(o, str) and o.run_id}
        st.session_state["study_followed_tutorial"] = follow
    if st.session_state.get("study_followed_tutorial") and st.session_state.get("study_runs"):
        beside = beside_tutorial(
            {name: cache.stored_run(root, rid) for name, rid in st.session_state["study_runs"].items()}
        )
        st.markdown("**Beside the tutorial** (its animals photos vs your data: the same method, other images)")
        st.dataframe(beside.style.format({"tutorial's test accuracy": "{:.2f}", "yours": "{:.3f}"}), hide_index=True)

# --- Stored runs of this dataset ---------------------------------------------------------------
configs, broken = store.list_runs()
for line in broken:
    st.caption(f"Ignored a damaged run folder: {md(line)}")
mine = [r.run_id for r in configs if r.dataset.fingerprint == ds.fingerprint]
if not mine:
    st.info("No stored runs for this dataset yet: train on step 3, or run the study above.")
    st.stop()
runs = []
for run_id in mine:
    try:
        runs.append(cache.stored_run(root, run_id))
    except StoreError as exc:
        st.caption(f"Skipped: {md(one_line(exc))}")
table = runs_table(runs)
study = st.session_state.get("study_runs", {})
steps = [next((n for n, rid in study.items() if rid == r), "") for r in table["run"]]
if any(steps):  # only after a study: an empty column would push the key columns off a projector
    table.insert(1, "study step", steps)
st.subheader(f"{len(runs)} stored run(s) on {md(ds.name)}")
numbers = {
    col: "{:.1%}"
    for col in table.columns
    if col in ("accuracy", "balanced accuracy", "macro F1", "majority baseline") or col.startswith("F1 ")
}
st.dataframe(table.style.format({**numbers, "seconds": "{:.1f}"}), hide_index=True, width="stretch")
st.caption("Test-set figures. Stopped or failed runs are listed with their status: they are not finished models.")

# --- Two runs side by side ---------------------------------------------------------------------------
if len(runs) < 2:
    st.info("Store a second run to compare two side by side.")
    st.stop()
by_id = {r.run_id: r for r in runs}
label = {
    r.run_id: f"{r.record.display_name} · {row['mode']} · id {r.run_id}"
    for r, (_, row) in zip(runs, table.iterrows(), strict=False)
}
c1, c2 = st.columns(2)
a_id = c1.selectbox("Run A", mine, index=1 if len(mine) > 1 else 0, format_func=label.get, key="compare_a")
b_id = c2.selectbox("Run B", mine, index=0, format_func=label.get, key="compare_b")
run_a, run_b = by_id[a_id], by_id[b_id]
names = list(ds.class_names)
for col, run, title in ((c1, run_a, "A"), (c2, run_b, "B")):
    col.altair_chart(
        charts.confusion_heatmap(
            metrics.confusion_table(run.test_confusion, names, "true"), "true", f"{title}: normalized by true class"
        )
    )
c1, c2 = st.columns(2)
c1.altair_chart(charts.difference_heatmap(difference(run_a, run_b, "true"), names))
c2.altair_chart(charts.f1_delta_chart(f1_deltas(run_a, run_b)), width="stretch")
curves = validation_curves([run_a, run_b])
if not curves.empty:
    st.altair_chart(charts.runs_curves_chart(curves), width="stretch")
st.caption("Ladder steps: " + " → ".join(LADDER))
