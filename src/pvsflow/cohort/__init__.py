"""The cohort: its tables checked row by row, the whole cohort checked before planning, the synthetic demo cohort."""
