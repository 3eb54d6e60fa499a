"""The run: its plan (scans, split, jobs) for the workflow, and what each job's script shares."""
