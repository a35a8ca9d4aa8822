"""Running experiments: the run spec and runner, evaluation, compute costs, the study,
the demo, the recipe's tuning on dev seeds, and the machine a run was measured on."""
