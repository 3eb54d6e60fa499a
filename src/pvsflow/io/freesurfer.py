"""FreeSurfer look-up table IDs used by the default region definitions and the synthetic cohort.

Values follow ``FreeSurferColorLUT.txt``: aseg labels, and the brainstem substructures
(``brainstemSsLabels``) whose Midbrain is the paper's midbrain region.
"""

from __future__ import annotations

LEFT_CEREBRAL_WHITE_MATTER = 2
LEFT_CEREBRAL_CORTEX = 3
LEFT_LATERAL_VENTRICLE = 4
LEFT_INF_LAT_VENT = 5
LEFT_THALAMUS = 10
LEFT_CAUDATE = 11
LEFT_PUTAMEN = 12
LEFT_PALLIDUM = 13
THIRD_VENTRICLE = 14
BRAIN_STEM = 16
LEFT_HIPPOCAMPUS = 17
CSF = 24
RIGHT_CEREBRAL_WHITE_MATTER = 41
RIGHT_CEREBRAL_CORTEX = 42
RIGHT_LATERAL_VENTRICLE = 43
RIGHT_INF_LAT_VENT = 44
RIGHT_THALAMUS = 49
RIGHT_CAUDATE = 50
RIGHT_PUTAMEN = 51
RIGHT_PALLIDUM = 52
RIGHT_HIPPOCAMPUS = 53
MIDBRAIN = 173
PONS = 174
MEDULLA = 175

# Names of the structures a PVS location is reported in (``FreeSurferColorLUT.txt``).
STRUCTURE_NAMES: dict[int, str] = {
    LEFT_CEREBRAL_WHITE_MATTER: "Left-Cerebral-White-Matter",
    LEFT_CEREBRAL_CORTEX: "Left-Cerebral-Cortex",
    LEFT_LATERAL_VENTRICLE: "Left-Lateral-Ventricle",
    LEFT_INF_LAT_VENT: "Left-Inf-Lat-Vent",
    LEFT_THALAMUS: "Left-Thalamus",
    LEFT_CAUDATE: "Left-Caudate",
    LEFT_PUTAMEN: "Left-Putamen",
    LEFT_PALLIDUM: "Left-Pallidum",
    THIRD_VENTRICLE: "3rd-Ventricle",
    BRAIN_STEM: "Brain-Stem",
    LEFT_HIPPOCAMPUS: "Left-Hippocampus",
    CSF: "CSF",
    RIGHT_CEREBRAL_WHITE_MATTER: "Right-Cerebral-White-Matter",
    RIGHT_CEREBRAL_CORTEX: "Right-Cerebral-Cortex",
    RIGHT_LATERAL_VENTRICLE: "Right-Lateral-Ventricle",
    RIGHT_INF_LAT_VENT: "Right-Inf-Lat-Vent",
    RIGHT_THALAMUS: "Right-Thalamus",
    RIGHT_CAUDATE: "Right-Caudate",
    RIGHT_PUTAMEN: "Right-Putamen",
    RIGHT_PALLIDUM: "Right-Pallidum",
    RIGHT_HIPPOCAMPUS: "Right-Hippocampus",
    MIDBRAIN: "Midbrain",
    PONS: "Pons",
    MEDULLA: "Medulla",
}


def hemisphere_of(label: int) -> str | None:
    """``left`` or ``right`` for a lateralised structure, None otherwise (or unknown)."""
    name = STRUCTURE_NAMES.get(label, "")
    return "left" if name.startswith("Left-") else "right" if name.startswith("Right-") else None
