"""Every st.session_state key the pages share, defined once.

Pages never call each other; they meet only through these keys.
"""

DATASET_SPEC = "dataset_spec"  # DatasetSpec of the dataset in use
UPLOADED_NPZ = "uploaded_npz"  # {upload_digest: bytes} of the uploaded .npz in use
DATASET_FAILURES = "dataset_failures"  # {DatasetSpec: one-line reason}: not retried on every rerun
LAST_LOAD_FAILURE = "last_load_failure"  # the DatasetSpec whose load failed last, until one loads
IMBALANCE = "imbalance"  # (class_index, keep_fraction) applied to the training split, or None
IMBALANCE_WIDGETS = ("imbalance_class", "imbalance_keep")  # the Dataset page's controls, seeded from IMBALANCE
AUGMENT = "augment_config"  # full ImageDataGenerator settings (lib.augment), shared with training
AUGMENT_SEED = "augment_seed"  # preview draw seed ("new draw" changes it)
CURRENT_RUN = "current_run"  # run id shown on Train & Evaluate
RUN_CHOICE = "run_choice"  # the "Run to show" widget's key: one key, never rebuilt from a value
TRAINING_JOB = "training_job"  # the JobHandle of the training this session's script run is showing
STUDY_JOB = "study_job"  # the JobHandle of the study step this session's script run is following
UNSAVED_RUN = "unsaved_run"  # a StoredRun kept in memory when the store could not be written
INSPECT_RUN = "inspect_run"  # run id shown on Look inside (also the Run selectbox key)
TSNE_DONE = "tsne_done"  # {run_id: True} once t-SNE was asked for (its result is cached by run id)
REPORTS = "html_reports"  # {(run_id, language): HTML text} built on request on Look inside
PRESENT = "present"  # the "Present (projector)" switch (also ?present=1 in the URL)
IMAGES_SET = "images_set"  # the saved set of your own pictures chosen in the sidebar (also its selectbox key)
IMAGES_INGESTED = "images_ingested"  # {upload digest: DatasetSpec}: the same upload is not read twice
CLASS_BY_CLASS = "class_by_class"  # {class name: [Picture]} gathered with the camera or files, not saved yet
