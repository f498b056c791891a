"""All logic of the explorer, in layers that data flows through one way:

    data -> augment -> train -> runs -> evaluate -> charts -> ui -> pages

Only `lib.ui` imports Streamlit; everything else runs headless (CLI, tests, benchmarks).
`errors` and `tf_import` serve every layer.
"""
