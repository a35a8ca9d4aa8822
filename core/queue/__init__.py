"""The job queue the app launches work through: jobs, their progress, and the experiment
form that becomes one command per seed."""
