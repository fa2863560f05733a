"""The plugin as a CI gate and as users meet it through pytest: options, fixtures, baselines, reports, exit codes, secrets, xdist."""
