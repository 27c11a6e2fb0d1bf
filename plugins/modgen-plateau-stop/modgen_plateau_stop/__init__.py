"""Stop a modgen run when a logged measure reaches a plateau (an example ``modgen_train_record`` plugin)."""

from modgen_plateau_stop.plugin import PlateauStop

__all__ = ["PlateauStop"]
