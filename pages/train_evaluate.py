"""Step 3 · Train & Evaluate: train on a button press, watch every class learn, read the
confusion matrix and report, and see the images behind each number."""

import contextlib
from collections import Counter

import pandas as pd
import streamlit as st

from lib import charts
from lib.augment import settings as augment
from lib.errors import ExplorerError, ModelFileError, StoreError, TransferError, one_line
from lib.i18n import N_, _
from lib.runs import whole
from lib.runs.config import MAX_NAME, RunConfig, auto_name, baseline_of, can_be_backbone
from lib.runs.store import RunStore, StoredRun, record_of
from lib.runs.train_or_load import Outcome
from lib.runs.uploaded import INPUT_SCALES, evaluate_upload, load_user_model
from lib.train import accelerators
from lib.train.models import MODEL_KINDS, OPTIMIZERS
from lib.train.settings import TrainSettings
from lib.train.transfer import BACKBONES, MODES, BackboneRef
from lib.ui import cache, export_view, present, run_views, state
from lib.ui.run_notes import shown_note
from lib.ui.table_labels import STATUS, column_labels
from lib.ui.text import md

st.title(_("3 · Train & Evaluate"))
ds = cache.current_dataset()
spec = cache.current_spec()
root = cache.store_root()
store = RunStore(root)
stored_runs, broken_runs = store.list_runs()

# Presenting: the Train button and its progress, then the evaluation (the step's main figure);
# the settings fold away below them.
box = present.page_boxes(
    ["settings", "actions", "upload", "evaluation"], ["actions", "evaluation", "settings", "upload"]
)

# The weights choices: English texts kept as codes, shown through _(); None: a local file's path.
WEIGHT_CHOICES = {
    N_("imagenet"): "imagenet",
    N_("none (random, NOT pretrained)"): "none",
    N_("local file…"): None,
}

# --- Settings ------------------------------------------------------------------------------
with box["settings"], st.expander(_("Training settings")) if present.presenting() else st.container(border=True):
    c = st.columns([2, 1, 1])  # the model's name is long: room for it on a projector
    lenders = [r for r in stored_runs if can_be_backbone(r)]
    said = Counter(r.display_name for r in lenders)  # two runs named alike: the id's start tells them apart
    backbone_runs = {
        str(BackboneRef.of_run(r.run_id)): _("backbone from run {run} ({model} on {dataset})").format(
            run=r.display_name if said[r.display_name] == 1 else f"{r.display_name} · {r.run_id[:6]}",
            model=r.model,
            dataset=r.dataset.label,
        )
        for r in lenders
    }
    # kind titles and backbone labels are N_ texts, translated here; a run's label is already shown text
    choices = {
        **{name: _(kind.title) for name, kind in MODEL_KINDS.items()},
        **{name: _(label) for name, label in BACKBONES.items()},
        **backbone_runs,
    }
    kind = c[0].selectbox(_("Model"), list(choices), index=1, format_func=choices.get, key="train_model")
    epochs = c[1].number_input(_("Epochs"), 1, 200, 3, key="train_epochs")
    batch_size = c[2].selectbox(_("Batch size"), [16, 32, 64, 128], index=1, key="train_batch")
    c = st.columns(4)
    optimizer = c[0].selectbox(_("Optimizer"), OPTIMIZERS, key="train_optimizer")
    lr = c[1].select_slider(
        _("Learning rate"),
        [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1.0],
        value=1e-3,
        key="train_lr",
        help=_("Too large a rate makes the loss jump or stall; a NaN loss stops the run, labelled failed."),
    )
    val_split = c[2].slider(
        _("Validation split"),
        0.1,
        0.5,
        0.2,
        0.05,
        key="train_val_split",
        help=_("Taken from the training split (stratified); the test split stays held out."),
    )
    seed = c[3].number_input(_("Seed"), 0, 10_000, 0, key="train_seed")
    aug_config = st.session_state.get(state.AUGMENT)
    has_aug = bool(aug_config) and not augment.is_identity(aug_config)
    use_aug = st.checkbox(
        _("Augmentation (the settings of step 2)"),
        value=False,
        key="train_augment",
        disabled=not has_aug,
        help=_("Uses the settings of the Augmentation page.")
        if has_aug
        else _("Choose settings on the Augmentation page first."),
    )
    if not has_aug:  # a greyed-out box says why, not only in its tooltip
        st.caption(
            _(
                "Augmentation cannot be switched on yet: there are no augmentation settings. "
                "Choose them on the Augmentation page (step 2), then come back."
            )
            if not aug_config
            else _(
                "Augmentation cannot be switched on: the Augmentation page's settings change no image. "
                "Choose a preset or move a control there first."
            )
        )
    mixed = st.checkbox(
        _("Mixed precision"),
        value=False,
        key="train_mixed_precision",
        help=_(
            "Layers compute in 16-bit floats ({gpu} on a GPU, {cpu} on a CPU; here: {here}) and keep float32 "
            "weights; the softmax stays float32. The numbers change, so it is a separate run."
        ).format(
            gpu=accelerators.MIXED_POLICIES["gpu"], cpu=accelerators.MIXED_POLICIES["cpu"], here=cache.mixed_policy()
        ),
    )
transfer_args: dict = {}
if BackboneRef.parse(kind) is not None:
    with box["settings"], st.container(border=True):
        # The modes' names are long: a row of their own, so a projector does not wrap them word by word.
        mode = st.radio(
            _("Transfer"), list(MODES), format_func=lambda code: _(MODES[code]), key="train_transfer", horizontal=True
        )
        c = st.columns(2)
        unfreeze = c[0].number_input(
            _("Unfreeze last N layers"),
            0,
            50,
            4,
            key="train_unfreeze",
            disabled=mode != "fine_tune",
            help=_(
                "Counted among the backbone's layers with weights, BatchNormalization excluded "
                "(those always stay frozen)."
            ),
        )
        weights = "imagenet"
        if kind in BACKBONES:
            # The options are English texts kept as stable codes (tests and sessions pick them), shown translated.
            w = c[1].selectbox(_("Weights"), list(WEIGHT_CHOICES), format_func=_, key="train_weights")
            weights = WEIGHT_CHOICES[w] or c[1].text_input(
                _("Weights file (.weights.h5 without the top)"),
                key="train_weights_file",
                help=_("Read when you press Train, not before."),
            )
        st.caption(
            _(
                "Inside the model: a grayscale image to 3 channels, resize to the backbone's input size, then its own "
                "`preprocess_input`. Every BatchNormalization layer of the backbone is frozen (`trainable=False`) "
                "in every mode, so its moving statistics are not overwritten by small batches of our data: in "
                "Keras 3, calling the backbone with `training=False` alone does not do that during `fit`."
            )
        )
    transfer_args = {"transfer": mode, "unfreeze": int(unfreeze) if mode == "fine_tune" else 0, "weights": weights}
settings = TrainSettings(
    kind,
    int(epochs),
    int(batch_size),
    optimizer,
    float(lr),
    float(val_split),
    int(seed),
    aug_config if use_aug and has_aug else None,
    **transfer_args,
    mixed_precision=bool(mixed),
)
try:
    settings.check()
except ExplorerError as exc:
    box["actions"].error(_("These settings cannot train: {reason}").format(reason=md(one_line(exc))))
    st.stop()

try:
    backbone = settings.backbone
    # A local weights file is read only when Train is pressed, never on a rerun: the summary
    # shows the same architecture with random weights.
    summary_weights = settings.weights if settings.weights in ("imagenet", "none", "") else "none"
    transfer_key = (settings.transfer, settings.unfreeze, summary_weights, root) if backbone else ()
    table, backbone_table, (n_train, n_frozen) = cache.model_summary(
        kind,
        ds.image_shape,
        ds.num_classes,
        transfer_key,
        cache.run_stamp(root, backbone.name) if backbone and backbone.is_run else 0.0,
    )
except TransferError as exc:  # our own message, its reason already bounded: shown whole
    box["actions"].error(md(one_line(exc, 500)))
    st.stop()
if backbone_table is not None and settings.transfer == "fine_tune":
    n_layers = int((backbone_table["type"] != "BatchNormalization").sum())
    if settings.unfreeze > n_layers:
        box["settings"].warning(
            _(
                "This backbone has only {n} layers with weights (BatchNormalization not counted): "
                "all {n} train, not the {asked} asked for."
            ).format(n=n_layers, asked=settings.unfreeze)
        )
summary_title = _("Model summary: {trainable} trainable · {frozen} non-trainable parameters")
with box["settings"], st.expander(summary_title.format(trainable=f"{n_train:,}", frozen=f"{n_frozen:,}")):
    st.dataframe(table, hide_index=True, width="stretch", column_config=column_labels(table))
    if backbone_table is not None:
        st.markdown(
            _("**Backbone layers with weights:** {trainable} of {total} trainable").format(
                trainable=int(backbone_table["trainable"].sum()), total=len(backbone_table)
            )
        )
        st.dataframe(
            backbone_table, hide_index=True, width="stretch", height=250, column_config=column_labels(backbone_table)
        )
    st.caption(_("Integer labels with sparse categorical cross-entropy."))

config = RunConfig.for_training(ds, settings, spec.label)
stored = store.find_complete(config)
run_name = box["actions"].text_input(
    _("Run name (optional)"),
    key="train_run_name",
    max_chars=MAX_NAME,
    placeholder=auto_name(config),
    help=_("A name people can say, used in legends, tables and selectors. Empty: the name shown greyed out."),
)
with contextlib.suppress(ExplorerError):  # a wrong EXPLORER_TRAIN_WORKERS is reported on Train
    cache.training_pool()  # the first visit starts the workers: they import TensorFlow while settings are chosen
b1, b2, b3 = box["actions"].columns([2, 1, 4])  # "Load from store" whole at 1024 px
train_clicked = b1.button(_("Load from store") if stored else _("Train"), type="primary", key="train_button")
note_slot = b3.empty()  # the note beside the button; the progress takes its place while training
note_slot.caption(
    _("The same settings on the same data were trained before: loading them takes a moment.")
    if stored
    else _("Training runs only when you press the button.")
)

# --- Training ------------------------------------------------------------------------------
# A Stop click (or any widget) stops the script run that was training; Streamlit may start this
# run before that one's clean-up ran, so the handle it left in the session is detached here too.
previous = st.session_state.pop(state.TRAINING_JOB, None)
if previous is not None:
    previous.detach()
    if previous.progress().watchers == 0:  # nobody watches it any more: it stops within one batch
        with st.spinner(_("Stopping the training within one batch; it is kept, labelled stopped…")):
            ended = previous.wait(120)
        with contextlib.suppress(ExplorerError):
            if ended and (run_id := previous.outcome().run_id) is not None:
                st.session_state[state.CURRENT_RUN] = run_id
                st.session_state.pop(state.UNSAVED_RUN, None)
                stored_runs, broken_runs = store.list_runs()
if train_clicked:
    if not any(r.dataset.fingerprint == ds.fingerprint for r in stored_runs):
        # The last script run's "No run for this dataset yet" would stay under the progress bars until
        # this run reaches the evaluation: an empty element takes its place now.
        box["evaluation"].empty()
    stop_slot = b2.empty()
    stop_slot.button(
        _("Stop"),
        key="stop_training",
        help=_(
            "Leaves this training: a waiting one leaves the queue; a running one stops within one batch "
            "and is kept, labelled stopped, unless other sessions are watching the same training."
        ),
    )
    # Beside the button, where the click happened: visible without scrolling.
    with note_slot.container():
        status_line = st.empty()
        epoch_bar = st.progress(0.0, text=_("Starting…"))
        batch_bar = st.progress(0.0)
    live = box["actions"].empty()

    def draw_epoch(rows: list[dict], epoch: int, total: int) -> None:
        row = rows[-1]
        epoch_bar.progress(
            epoch / total,
            text=_("epoch {epoch}/{total} · val accuracy {accuracy}").format(
                epoch=epoch, total=total, accuracy=f"{row['val_accuracy']:.1%}"
            ),
        )
        history = pd.DataFrame(rows)
        with live.container():
            l1, l2 = st.columns(2)
            l1.altair_chart(present.room(charts.curves_chart(history, "loss")), width="stretch")
            recall = {ds.class_names[i]: row[f"val_recall_{i}"] for i in range(ds.num_classes)}
            present.dataframe(
                pd.DataFrame(
                    {
                        "val recall": recall,
                        "val precision": {ds.class_names[i]: row[f"val_precision_{i}"] for i in range(ds.num_classes)},
                    }
                ),
                l2,
                fmt="{:.2f}",
                width="stretch",
            )

    if stored:  # identical settings on identical data: nothing to train
        outcome = Outcome(stored, True, None)
    else:
        try:  # each training runs in a worker process; the same run already training is joined, not repeated
            pool = cache.training_pool()
            handle = pool.submit(ds, settings, spec.label, root, run_name, spec.source)
            st.session_state[state.TRAINING_JOB] = handle  # the next run finds it if this one is stopped
        except ExplorerError as exc:
            box["actions"].error(_("Cannot train: {reason}").format(reason=md(one_line(exc))))
            st.stop()
        drawn = 0
        try:
            while not handle.wait(0.2):
                progress = handle.progress()
                # Drawn every time: each draw is also where Streamlit delivers a Stop click or a closed tab.
                status_line.caption(progress.describe(pool.workers))
                if progress.batch is not None:
                    epoch, batch, steps = progress.batch
                    if not drawn and not progress.rows:  # training, no epoch finished yet: not "Starting…"
                        epoch_bar.progress(0.0, text=_("0/{total} epochs done").format(total=progress.epochs))
                    batch_bar.progress(
                        batch / steps,
                        text=_("epoch {epoch}: batch {batch}/{steps}").format(
                            epoch=epoch + 1, batch=batch, steps=steps
                        ),
                    )
                while drawn < len(progress.rows):
                    drawn += 1
                    draw_epoch(progress.rows[:drawn], drawn, progress.epochs)
        except BaseException:  # Streamlit stops this run (Stop, another widget, a closed tab): leave the training
            handle.detach()
            raise
        st.session_state.pop(state.TRAINING_JOB, None)
        handle.detach()
        try:
            outcome = handle.outcome()
        except ExplorerError as exc:  # settings the data cannot support (e.g. an empty validation split)
            box["actions"].error(_("Cannot train: {reason}").format(reason=md(one_line(exc))))
            st.stop()
    status_line.empty()
    stop_slot.empty()  # training has ended: no Stop button left on the page
    epoch_bar.empty()
    batch_bar.empty()
    live.empty()
    if outcome.run_id:
        st.session_state[state.CURRENT_RUN] = outcome.run_id
        st.session_state.pop(state.UNSAVED_RUN, None)
    elif outcome.result is not None:  # the store failed: keep the results on screen anyway
        r = outcome.result
        st.session_state[state.UNSAVED_RUN] = StoredRun(
            "unsaved",
            None,
            record_of(config, r, ds.class_names, baseline_of(ds), run_name),
            r.history,
            r.val_confusions,
            r.y_test,
            r.test_prob,
            ds.class_names,
        )
        box["actions"].error(
            _("The run could not be stored ({reason}); results are shown but not saved.").format(
                reason=md(outcome.store_error)
            )
        )
    if outcome.loaded:
        st.toast(_("Loaded from the store: identical settings on identical data."))

# --- A model trained elsewhere ------------------------------------------------------------------
with box["upload"], st.expander(_("Evaluate a model you already have (.keras or .h5)")):
    upload = st.file_uploader(_("Model file"), type=["keras", "h5"], key="model_upload")
    scale = st.radio(
        _("It expects pixels in"),
        list(INPUT_SCALES),
        horizontal=True,
        key="model_upload_scale",
        help=_(
            "Test images are scaled this way before predicting. Anything else done to fit the model "
            "(a resize, a sigmoid unit read as two classes, softmax on logits) is listed in the run's notes."
        ),
    )
    if upload is not None and st.button(_("Evaluate it on this dataset"), key="model_upload_button"):
        data = upload.getvalue()
        try:
            user_model = load_user_model(data, upload.name)
            run_id, notes, problem = evaluate_upload(user_model, data, upload.name, ds, spec.label, store, scale)
        except ModelFileError as exc:
            st.error(md(one_line(exc)))
        else:
            if problem:
                st.error(_("Evaluated, but the run could not be stored: {reason}").format(reason=md(problem)))
            else:
                st.session_state[state.CURRENT_RUN] = run_id
                st.session_state.pop(state.UNSAVED_RUN, None)
                stored_runs, broken_runs = store.list_runs()
                st.success(
                    _("Stored as run {run_id}: {notes}").format(
                        run_id=run_id, notes=md("; ".join(map(shown_note, notes)))
                    )
                )

# --- Which run to show ------------------------------------------------------------------------
with box["evaluation"]:
    if train_clicked:  # a run was just added
        stored_runs, broken_runs = store.list_runs()
    mine = [r for r in stored_runs if r.dataset.fingerprint == ds.fingerprint]
    for line in broken_runs:
        st.caption(_("Ignored a damaged run folder: {reason}").format(reason=md(line)))
    current: StoredRun | None = st.session_state.get(state.UNSAVED_RUN)
    if current is None or current.record.dataset.fingerprint != ds.fingerprint:
        ids = [r.run_id for r in mine]
        if not ids:
            st.info(_("No run for this dataset yet: choose settings and press Train."))
            st.stop()
        # One stable widget key: a key built from the current run reset the user's first pick. The
        # widget follows CURRENT_RUN (a run just trained, stopped or uploaded), and a pick updates it.
        wanted = st.session_state.get(state.CURRENT_RUN)
        if wanted in ids and st.session_state.get(state.RUN_CHOICE) != wanted:
            st.session_state[state.RUN_CHOICE] = wanted
        elif st.session_state.get(state.RUN_CHOICE) not in ids:
            st.session_state[state.RUN_CHOICE] = ids[0]
        # What fits the box at 1024 px: name, epochs, status (the date and id cut it; the id is in "Run
        # details"). Two runs named alike get the start of their id.
        labels = {
            r.run_id: (
                _("{name} · evaluated here · {status}")
                if r.config.is_uploaded
                else _("{name} · {done}/{total} epochs · {status}")
            ).format(
                name=r.display_name,
                done=r.epochs_done,
                total=r.settings.epochs,
                status=_(STATUS[r.status]) if r.status in STATUS else r.status,
            )
            for r in mine
        }
        if len(set(labels.values())) < len(labels):
            labels = {run_id: f"{text} · {run_id[:6]}" for run_id, text in labels.items()}

        def _picked() -> None:
            st.session_state[state.CURRENT_RUN] = st.session_state[state.RUN_CHOICE]

        chosen = st.selectbox(_("Run to show"), ids, format_func=labels.get, key=state.RUN_CHOICE, on_change=_picked)
        st.session_state[state.CURRENT_RUN] = chosen
        try:
            current = cache.stored_run(root, chosen)
        except StoreError as exc:
            st.error(md(one_line(exc)))
            st.stop()

    run_views.run_header_ui(current)
    saved = current.path is not None

    def _model():
        return cache.run_model(root, current.run_id)

    def _generator():
        cfg, _extra = augment.training_config(current.settings.augment)
        # Deterministic part only: order, not augmentation, is what the trap is about.
        deterministic = {k: v for k, v in cfg.items() if k in augment.NORMALIZATION}
        return cache.fitted_generator(ds.fingerprint, augment.to_json(deterministic), ds.x_train)

    # A stable key: a button inside a tab (a trap's "Run it on this model") keeps that tab open.
    tabs = st.tabs(
        [_("Test evaluation"), _("Training curves"), _("Per class over epochs"), _("Evaluation traps"), _("Show code")],
        key="train_tabs",
    )
    with tabs[0]:
        run_views.test_evaluation_ui(
            current,
            ds,
            whole.reader(current, ds) if saved else None,
            whole.download_sentence(current, ds) if saved else "",
        )
    with tabs[1]:
        run_views.curves_ui(current)
    with tabs[2]:
        run_views.per_class_ui(current)
    with tabs[3]:
        if saved:
            run_views.traps_ui(current, ds, _model, _generator)
        else:
            st.info(_("The traps need the stored model; this run could not be stored."))
    with tabs[4]:
        run_views.code_ui(current)
    if saved:
        export_view.export_ui(current, ds)
