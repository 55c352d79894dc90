"""Tests of the tutorials' sample catalog: its columns follow the schema, its data are plausible."""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tutorials"))

import dp0_sample  # noqa: E402

TABLES = ("object", "truth_match")
# SQLite storage classes that each felis datatype may produce (NULL where nullable).
STORAGE = {
    "boolean": {"integer"},
    "short": {"integer"},
    "int": {"integer"},
    "long": {"integer"},
    "float": {"real"},
    "double": {"real"},
    "char": {"text"},
    "string": {"text"},
}


@pytest.fixture(scope="module")
def sample_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A freshly generated sample database (not the build's cached one)."""
    return dp0_sample.ensure_sample_db(tmp_path_factory.mktemp("sample") / "s.sqlite", force=True)


@pytest.fixture(scope="module")
def conn(sample_db: Path) -> Iterator[sqlite3.Connection]:
    connection = dp0_sample.connect(sample_db)
    yield connection
    connection.close()


@pytest.fixture(scope="module")
def objects(conn: sqlite3.Connection) -> pd.DataFrame:
    return pd.read_sql_query("SELECT * FROM object", conn)


@pytest.fixture(scope="module")
def truth(conn: sqlite3.Connection) -> pd.DataFrame:
    return pd.read_sql_query("SELECT * FROM truth_match", conn)


@pytest.mark.parametrize("table", TABLES)
def test_generated_columns_are_the_schema_columns(conn: sqlite3.Connection, table: str) -> None:
    schema = dp0_sample.schema_columns(table)
    in_db = [row[1] for row in conn.execute(f'PRAGMA table_info("{table}")')]
    assert in_db == [c["name"] for c in schema]


@pytest.mark.parametrize("table", TABLES)
def test_generated_values_have_the_schema_types(conn: sqlite3.Connection, table: str) -> None:
    for column in dp0_sample.schema_columns(table):
        name = column["name"]
        kinds = {
            row[0]
            for row in conn.execute(
                f'SELECT DISTINCT typeof("{name}") FROM "{table}"'  # noqa: S608
            )
        }
        nullable = column.get("nullable", True)
        allowed = STORAGE[column["datatype"]] | ({"null"} if nullable else set())
        assert kinds <= allowed, f"{table}.{name}: {kinds} not in {allowed}"
        if "length" in column:
            (longest,) = conn.execute(
                f'SELECT MAX(LENGTH("{name}")) FROM "{table}"'  # noqa: S608
            ).fetchone()
            assert longest <= column["length"], f"{table}.{name}"
        if column["datatype"] == "boolean":
            values = {r[0] for r in conn.execute(f'SELECT DISTINCT "{name}" FROM "{table}"')}  # noqa: S608
            assert values <= {0, 1}


def test_in_memory_tables_have_the_schema_columns() -> None:
    sample = dp0_sample.simulate()
    for table in TABLES:
        frame: pd.DataFrame = getattr(sample, table)
        assert list(frame.columns) == [c["name"] for c in dp0_sample.schema_columns(table)]


def test_generation_is_deterministic() -> None:
    first, second = dp0_sample.simulate(), dp0_sample.simulate()
    pd.testing.assert_frame_equal(first.object, second.object)
    pd.testing.assert_frame_equal(first.truth_match, second.truth_match)


def test_size_and_sky_patch(objects: pd.DataFrame, truth: pd.DataFrame) -> None:
    assert 2_000 <= len(objects) <= 50_000
    assert len(objects) < len(truth) <= 50_000
    config = dp0_sample.SampleConfig()
    assert objects["dec"].between(config.dec_center - 0.16, config.dec_center + 0.16).all()
    assert objects["objectId"].is_unique
    assert truth["id"].is_unique
    assert set(objects["patch"]) == {f"{x},{y}" for x in range(4) for y in range(4)}


def test_stars_galaxies_and_supernovae(truth: pd.DataFrame) -> None:
    counts = truth["truth_type"].value_counts()
    assert counts[1] > 10 * counts[2] > 0  # galaxies outnumber stars at faint magnitudes
    assert counts[3] == dp0_sample.SampleConfig().supernovae
    stars = truth[truth["truth_type"] == 2]
    assert (stars["redshift"] == 0).all()
    assert (stars["is_pointsource"] == 1).all()
    supernovae = truth[truth["truth_type"] == 3]
    galaxy_numbers = {int(i.split("_")[1]) for i in truth.loc[truth["truth_type"] == 1, "id"]}
    assert set(supernovae["host_galaxy"]) <= galaxy_numbers
    assert (truth.loc[truth["truth_type"] != 3, "host_galaxy"] == -1).all()


def test_true_fluxes_and_magnitudes_agree(truth: pd.DataFrame) -> None:
    mag_from_flux = 31.4 - 2.5 * np.log10(truth["flux_r"].astype(float))
    assert np.allclose(mag_from_flux, truth["mag_r"], atol=1e-4)


def test_plausible_colours(objects: pd.DataFrame, truth: pd.DataFrame) -> None:
    stars = truth[truth["truth_type"] == 2]
    g = 31.4 - 2.5 * np.log10(stars["flux_g"].astype(float))
    r = 31.4 - 2.5 * np.log10(stars["flux_r"].astype(float))
    assert (g - r).between(-0.4, 1.8).all()
    bright = objects[objects["mag_r_cModel"] < 23]
    assert (bright["mag_g_cModel"] - bright["mag_r_cModel"]).median() == pytest.approx(0.6, abs=0.4)


def test_errors_grow_towards_the_depth_limit(objects: pd.DataFrame) -> None:
    bins = pd.cut(objects["mag_r"], [18, 21, 23, 24, 25, 25.5, 26])
    medians = objects.groupby(bins, observed=True)["magerr_r"].median().to_numpy()
    assert np.all(np.diff(medians) > 0)
    assert medians[0] < 0.02
    depth = dp0_sample.SampleConfig().depth5["r"]
    near_depth = objects[objects["mag_r"].between(depth - 0.15, depth + 0.15)]
    assert near_depth["magerr_r"].median() == pytest.approx(0.217, abs=0.05)


def test_matched_truth_agrees_with_measurements_within_errors(
    objects: pd.DataFrame, truth: pd.DataFrame
) -> None:
    pairs = truth[(truth["is_good_match"] == 1) & (truth["is_variable"] == 0)].merge(
        objects, left_on="match_objectId", right_on="objectId", suffixes=("_true", "")
    )
    isolated = pairs[(pairs["blendedness"] == 0) & (pairs["truth_type"] < 3)]
    residual = isolated["mag_r_cModel"] - isolated["mag_r_true"]
    pull = residual / isolated["magerr_r_cModel"]
    robust_sigma = 1.4826 * np.median(np.abs(pull - np.median(pull)))
    assert 0.8 < robust_sigma < 1.25
    assert abs(residual[isolated["mag_r_true"] < 24].median()) < 0.01
    assert (pairs["match_sep"] < 1.0).all()


def test_extendedness_separates_bright_stars_from_galaxies(
    objects: pd.DataFrame, truth: pd.DataFrame
) -> None:
    pairs = truth[(truth["is_good_match"] == 1) & (truth["mag_r"] < 22)].merge(
        objects, left_on="match_objectId", right_on="objectId"
    )
    stars = pairs[pairs["truth_type"] == 2]
    galaxies = pairs[pairs["truth_type"] == 1]
    assert (stars["extendedness"] == 0).mean() > 0.95
    assert (galaxies["extendedness"] == 1).mean() > 0.95


def test_unmatched_rows_on_both_sides(objects: pd.DataFrame, truth: pd.DataFrame) -> None:
    unmatched = truth[truth["match_objectId"] == -1]
    assert len(unmatched) > 0.1 * len(truth)
    assert (unmatched["match_sep"] == -1).all()
    assert not unmatched["is_good_match"].any()
    matched_ids = set(truth.loc[truth["match_objectId"] >= 0, "match_objectId"])
    assert matched_ids <= set(objects["objectId"])
    spurious = set(objects["objectId"]) - matched_ids
    assert 0 < len(spurious) < 0.05 * len(objects)
    # Completeness falls towards faint magnitudes: nearly all bright sources are found.
    bright = truth[truth["mag_r"] < 23]
    assert (bright["match_objectId"] >= 0).mean() > 0.98
    faint = truth[truth["mag_r"] > 26.3]
    assert (faint["match_objectId"] >= 0).mean() < 0.3


def test_each_object_has_at_most_one_nearest_neighbour(truth: pd.DataFrame) -> None:
    nearest = truth[truth["is_nearest_neighbor"] == 1]
    assert nearest["match_objectId"].is_unique
    matched = truth.loc[truth["match_objectId"] >= 0, "match_objectId"]
    assert set(nearest["match_objectId"]) == set(matched)


def test_sql_sky_functions_match_adql_semantics(conn: sqlite3.Connection) -> None:
    (sep,) = conn.execute("SELECT ang_sep(10.0, 0.0, 10.0, 1.0)").fetchone()
    assert sep == pytest.approx(1.0)
    (inside, outside) = conn.execute(
        "SELECT cone_contains(55.0, -30.0, 55.0, -30.01, 0.02), "
        "cone_contains(55.05, -30.0, 55.0, -30.0, 0.04)"
    ).fetchone()
    assert (inside, outside) == (1, 0)  # 0.05 deg of RA at dec -30 is 0.0433 deg on the sky


def test_database_is_read_only_through_connect(conn: sqlite3.Connection) -> None:
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        conn.execute("DELETE FROM object")
