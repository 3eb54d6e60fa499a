"""Template space: a standard template for every scan, the affine that takes each scan there,
PVS coordinates in it and cohort PVS density maps."""
