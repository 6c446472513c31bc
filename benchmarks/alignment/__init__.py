"""An alignment benchmark with a known true reward: a list-transformation task, its reward and
an SFT reference policy trained on noisy demonstrations (see `task.py`, `sft.py`, `measure.py`)."""
