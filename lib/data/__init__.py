"""Data: the Dataset value, its sources (one registry table), image folders, label
normalization, typed-path confinement, statistics and the loading code shown to users."""
