"""Tests of the felis schema files: validation, the DP0.1 tables, and the sample's columns."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from felis.datamodel import Schema
from pydantic import ValidationError

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_DIR = ROOT / "docs" / "schemas"
SCHEMAS = sorted(SCHEMA_DIR.glob("*.yaml"))
BANDS = "ugrizy"
FELIS = Path(sys.executable).parent / "felis"
CHECKS = {"check_description": True, "check_tap_principal": True}

# DP0.1 column names recorded in the project's reference notes (section 5).
DP01_OBJECT_COLUMNS = {
    "objectId",
    "parentObjectId",
    "ra",
    "dec",
    "tract",
    "patch",
    "extendedness",
    "blendedness",
    "good",
    "clean",
    "x",
    "y",
} | {
    name.format(b=b)
    for b in BANDS
    for name in (
        "mag_{b}",
        "magerr_{b}",
        "mag_{b}_cModel",
        "magerr_{b}_cModel",
        "snr_{b}_cModel",
        "psFlux_{b}",
        "psFluxErr_{b}",
    )
}
DP01_TRUTH_COLUMNS = {
    "id",
    "host_galaxy",
    "ra",
    "dec",
    "redshift",
    "is_variable",
    "is_pointsource",
    "mag_r",
    "truth_type",
    "match_objectId",
    "match_sep",
    "is_good_match",
    "is_nearest_neighbor",
    "tract",
    "patch",
} | {f"flux_{b}" for b in BANDS}


def load(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as stream:
        data: dict[str, Any] = yaml.safe_load(stream)
    return data


def columns(schema: dict[str, Any], table: str) -> dict[str, dict[str, Any]]:
    (entry,) = [t for t in schema["tables"] if t["name"] == table]
    return {c["name"]: c for c in entry["columns"]}


def test_the_schema_files_are_there() -> None:
    assert [p.name for p in SCHEMAS] == ["dp01_dc2_catalogs.yaml", "dp0_sample.yaml"]


@pytest.mark.parametrize("path", SCHEMAS, ids=lambda p: p.name)
def test_felis_cli_validates_the_schema(path: Path) -> None:
    result = subprocess.run(
        [
            str(FELIS),
            "validate",
            "--check-description",
            "--check-tap-principal",
            "--check-redundant-datatypes",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Successfully validated" in result.stderr + result.stdout


@pytest.mark.parametrize("path", SCHEMAS, ids=lambda p: p.name)
def test_schema_model_validates_with_descriptions(path: Path) -> None:
    schema: Schema = Schema.model_validate(load(path), context=CHECKS)
    assert schema.tables
    for table in schema.tables:
        assert table.columns, table.name
        for column in table.columns:
            assert column.description, f"{table.name}.{column.name}"


def test_validation_rejects_a_unit_astropy_does_not_know() -> None:
    data = load(SCHEMA_DIR / "dp0_sample.yaml")
    data["tables"][0]["columns"][2]["ivoa:unit"] = "furlongs per fortnight"
    with pytest.raises(ValidationError, match="unit"):
        Schema.model_validate(data)


def test_dp01_has_the_five_tables_of_the_planning_documents() -> None:
    schema = load(SCHEMA_DIR / "dp01_dc2_catalogs.yaml")
    assert schema["name"] == "dp01_dc2_catalogs"
    assert [t["name"] for t in schema["tables"]] == [
        "position",
        "reference",
        "forced_photometry",
        "object",
        "truth_match",
    ]


def test_dp01_object_and_truth_match_have_the_reference_columns() -> None:
    schema = load(SCHEMA_DIR / "dp01_dc2_catalogs.yaml")
    assert set(columns(schema, "object")) == DP01_OBJECT_COLUMNS
    assert set(columns(schema, "truth_match")) == DP01_TRUTH_COLUMNS


@pytest.mark.parametrize("table", ["object", "truth_match"])
def test_sample_columns_are_dp01_columns_with_the_same_types_and_units(table: str) -> None:
    dp01 = columns(load(SCHEMA_DIR / "dp01_dc2_catalogs.yaml"), table)
    sample = columns(load(SCHEMA_DIR / "dp0_sample.yaml"), table)
    assert list(sample) == list(dp01)
    for name, column in sample.items():
        for key in ("datatype", "length", "ivoa:unit", "ivoa:ucd", "nullable"):
            assert column.get(key) == dp01[name].get(key), f"{table}.{name}: {key}"
