"""Every default lives once: the settings dataclasses hold them, the config schema mirrors the
dataclasses without defaults of its own, and config.yaml sets only what differs from them."""

import dataclasses
import types
import typing

import pytest
import yaml
from conftest import REPO

from pvsflow.attention.methods import METHODS
from pvsflow.cohort.synthetic_spec import SyntheticCohortSpec
from pvsflow.io.settings import (
    RECIPES,
    DensitySettings,
    DetectionSettings,
    EvaluationSettings,
    InferenceSettings,
    JobSettings,
    LabelMapSettings,
    LongitudinalSettings,
    MnistEvaluationSettings,
    MnistGridSettings,
    QcSettings,
    ScanOutputSettings,
    SplitSettings,
    TemplateSettings,
    TrainingCheckSettings,
    TrainingSettings,
    fine_tuning_conflicts,
    from_mapping,
)
from pvsflow.nets.models import ARCHITECTURES
from pvsflow.nets.objectives import OBJECTIVES
from pvsflow.nets.training import NORMALIZATIONS, OPTIMIZERS, SCHEDULES
from pvsflow.nets.training_check import ACTIONS
from pvsflow.regions.registry import BASE_REGION, RegionSpec

SCHEMA = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
CONFIG = yaml.safe_load((REPO / "config.yaml").read_text())
REGION = SCHEMA["$defs"]["region"]["properties"]
# (where the block is in the schema, its dataclass, the dataclass fields that are not config keys)
# Config keys resolved before a dataclass sees them: crop_size_mm becomes crop_shape.
RESOLVED_KEYS = {"crop_size_mm"}
MIRRORED = [
    (SCHEMA["$defs"]["training"], TrainingSettings, ()),
    (SCHEMA["properties"]["split"], SplitSettings, ()),
    (SCHEMA["properties"]["cohort"]["properties"]["label_maps"], LabelMapSettings, ()),
    (SCHEMA["properties"]["inference"], InferenceSettings, ()),
    (SCHEMA["properties"]["jobs"], JobSettings, ()),
    (SCHEMA["properties"]["evaluation"], EvaluationSettings, ()),
    (SCHEMA["properties"]["qc"], QcSettings, ()),
    (SCHEMA["properties"]["scan_outputs"], ScanOutputSettings, ()),
    (SCHEMA["properties"]["template"], TemplateSettings, ()),
    (SCHEMA["properties"]["density"], DensitySettings, ()),
    (SCHEMA["properties"]["longitudinal"], LongitudinalSettings, ()),
    (SCHEMA["properties"]["training_check"], TrainingCheckSettings, ()),
    (REGION["detection"], DetectionSettings, ()),
    (REGION["preprocessing"], RegionSpec, ("name",)),
    (SCHEMA["properties"]["mnist"]["properties"]["evaluation"], MnistEvaluationSettings, ()),
    (SCHEMA["properties"]["mnist"]["properties"]["grids"], MnistGridSettings, ()),
]
JSON_TYPES = {int: "integer", float: "number", bool: "boolean", str: "string", tuple: "array"}


def schema_type(prop: dict) -> str:
    if "$ref" in prop:
        return schema_type(SCHEMA["$defs"][prop["$ref"].rsplit("/", 1)[1]])
    return prop["type"]


def json_type(hint) -> str | list[str]:
    """A field's JSON type; an optional field (``X | None``) is ``[X's type, "null"]``."""
    options = typing.get_args(hint) if isinstance(hint, types.UnionType) else ()
    if type(None) in options:
        (inner,) = (option for option in options if option is not type(None))
        return [json_type(inner), "null"]
    return JSON_TYPES[typing.get_origin(hint) or hint]


def as_list(kind: str | list[str]) -> list[str]:
    return kind if isinstance(kind, list) else [kind]


def field_types(cls) -> dict[str, str | list[str]]:
    return {name: json_type(hint) for name, hint in typing.get_type_hints(cls).items()}


@pytest.mark.parametrize("block, cls, not_keys", MIRRORED, ids=[cls.__name__ for _, cls, _ in MIRRORED])
def test_the_schema_mirrors_each_settings_dataclass(block, cls, not_keys):
    properties = {name: prop for name, prop in block["properties"].items() if name not in RESOLVED_KEYS}
    kinds = {name: kind for name, kind in field_types(cls).items() if name not in not_keys}
    assert set(properties) == set(kinds), f"{cls.__name__}: schema and dataclass name different keys"
    for name, prop in properties.items():
        assert "default" not in prop, f"{cls.__name__}.{name}: the default belongs to the dataclass only"
        expected, found = as_list(kinds[name]), as_list(schema_type(prop))
        if "number" in expected:  # YAML 3 is a valid 3.0
            found = ["number" if kind == "integer" else kind for kind in found]
        assert found == expected, f"{cls.__name__}.{name}: {schema_type(prop)} vs {kinds[name]}"


def test_the_synthetic_block_offers_spec_fields_without_defaults():
    block = SCHEMA["properties"]["cohort"]["properties"]["synthetic"]["properties"]
    assert set(block) <= {f.name for f in dataclasses.fields(SyntheticCohortSpec)}
    assert not any("default" in prop for prop in block.values())


def test_the_schema_enums_are_the_codes_choices():
    training = SCHEMA["$defs"]["training"]["properties"]
    assert training["recipe"]["enum"] == list(RECIPES)
    assert training["optimizer"]["enum"] == list(OPTIMIZERS)
    assert training["schedule"]["enum"] == list(SCHEDULES)
    assert training["normalization"]["enum"] == list(NORMALIZATIONS)
    assert training["objective"]["enum"] == list(OBJECTIVES)
    assert SCHEMA["$defs"]["method"]["enum"] == list(METHODS)
    assert list(SCHEMA["properties"]["mnist"]["properties"]["architectures"]["properties"]) == list(ARCHITECTURES)
    assert SCHEMA["properties"]["training_check"]["properties"]["action"]["enum"] == list(ACTIONS)


def recipe_defaults(block: dict | None) -> TrainingSettings:
    """What a training block's keys override: its recipe's values, the recipe itself the default's."""
    recipe = TrainingSettings.from_config({"recipe": (block or {}).get("recipe", TrainingSettings.recipe)})
    return dataclasses.replace(recipe, recipe=TrainingSettings.recipe)


def config_blocks(config: dict) -> list[tuple[str, dict, object]]:
    """(where, the block, the defaults it overrides) for every settings block of a config."""
    training = TrainingSettings.from_config(config.get("training"))
    mnist_training = TrainingSettings.from_config(config["mnist"].get("training"))
    blocks = [
        ("training", config.get("training", {}), recipe_defaults(config.get("training"))),
        ("split", config.get("split", {}), SplitSettings()),
        ("inference", config.get("inference", {}), InferenceSettings()),
        ("jobs", config.get("jobs", {}), JobSettings()),
        ("evaluation", config.get("evaluation", {}), EvaluationSettings()),
        ("qc", config.get("qc", {}), QcSettings()),
        ("scan_outputs", config.get("scan_outputs", {}), ScanOutputSettings()),
        ("template", config.get("template", {}), TemplateSettings()),
        ("density", config.get("density", {}), DensitySettings()),
        ("longitudinal", config.get("longitudinal", {}), LongitudinalSettings()),
        ("training_check", config.get("training_check", {}), TrainingCheckSettings()),
        ("mnist.training", config["mnist"].get("training", {}), recipe_defaults(config["mnist"].get("training"))),
        ("mnist.evaluation", config["mnist"].get("evaluation", {}), MnistEvaluationSettings()),
        ("mnist.grids", config["mnist"].get("grids", {}), MnistGridSettings()),
        ("cohort.synthetic", config["cohort"].get("synthetic", {}), SyntheticCohortSpec()),
    ]
    for name, region in config["regions"].items():
        spec = RegionSpec.from_config(name, region["preprocessing"])
        blocks += [
            (f"regions.{name}.training", region.get("training", {}), training),
            (f"regions.{name}.detection", region.get("detection", {}), DetectionSettings()),
            (f"regions.{name}.preprocessing", region["preprocessing"], dataclasses.replace(spec, crop_shape=None)),
        ]
    for objective, overrides in config["mnist"]["objectives"].items():
        blocks.append((f"mnist.objectives.{objective}", overrides or {}, mnist_training))
    for architecture, overrides in config["mnist"].get("architectures", {}).items():
        blocks.append((f"mnist.architectures.{architecture}", overrides, mnist_training))
    return blocks


def test_config_yaml_sets_only_what_differs_from_the_defaults():
    for where, block, defaults in config_blocks(CONFIG):
        for key, value in block.items():
            default = getattr(defaults, key)
            assert tuple(value) != default if isinstance(value, list) else value != default, (
                f"config.yaml {where}.{key}: {value!r} restates the default; leave it out"
            )
    for key, prop in SCHEMA["properties"]["mnist"]["properties"].items():
        if "default" in prop and prop["default"] not in ({}, None):
            assert CONFIG["mnist"].get(key) != prop["default"], f"config.yaml mnist.{key} restates the default"


def test_unknown_settings_are_an_error_naming_the_key():
    with pytest.raises(ValueError, match="max_epoch"):
        from_mapping(TrainingSettings, {"max_epoch": 3})
    assert TrainingSettings.from_config({"threads": 0}, job_threads=2).threads == 2


def test_a_fine_tuned_region_may_not_set_count_scale():
    regions = {
        BASE_REGION: {"training": {"count_scale": 10}},
        "hippocampi": {"training": {"count_scale": 10}},
        "basal_ganglia": {"training": {"max_epochs": 3}},
    }
    (message,) = fine_tuning_conflicts(regions, BASE_REGION)
    assert message.startswith("regions.hippocampi.training.count_scale:")
    assert fine_tuning_conflicts({BASE_REGION: {"training": {"count_scale": 10}}}, BASE_REGION) == []


def test_every_region_default_label_set_exists():
    for name in CONFIG["regions"]:
        assert RegionSpec.from_config(name, CONFIG["regions"][name]["preprocessing"]).labels
