"""Deterministic DC2-like sample catalog for the tutorials, and helpers to query it."""

from __future__ import annotations

import argparse
import hashlib
import math
import os
import sqlite3
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

BANDS: tuple[str, ...] = ("u", "g", "r", "i", "z", "y")
"""The six LSST bands, bluest first."""

REPO_ROOT = Path(__file__).resolve().parents[1]
SCHEMA_PATH = REPO_ROOT / "docs" / "schemas" / "dp0_sample.yaml"
DEFAULT_DB_PATH = REPO_ROOT / "docs" / "_cache" / "sample" / "dp0_sample.sqlite"
DB_ENV_VAR = "DP0_SAMPLE_DB"
"""Environment variable that overrides where the sample database lives."""

AB_NJY_ZEROPOINT = 31.4  # m_AB = 31.4 - 2.5 log10(flux / nJy)
NMGY_ZEROPOINT = 22.5  # m_AB = 22.5 - 2.5 log10(flux / nmgy)
NJY_PER_NMGY = 3631.0

# Stellar locus: colours as a function of g-r, interpolated (a smooth toy model, not a fit).
_LOCUS_GR = np.array([-0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.2, 1.4, 1.5])
_LOCUS = {
    "ug": np.array([0.70, 0.85, 1.15, 1.60, 2.05, 2.35, 2.50, 2.60, 2.65]),
    "ri": np.array([-0.10, 0.05, 0.13, 0.22, 0.30, 0.40, 0.60, 1.10, 1.60]),
    "iz": np.array([-0.08, 0.00, 0.05, 0.10, 0.15, 0.20, 0.30, 0.55, 0.80]),
    "zy": np.array([-0.05, 0.00, 0.02, 0.05, 0.08, 0.10, 0.15, 0.25, 0.35]),
}


@dataclass(frozen=True)
class SampleConfig:
    """Parameters of the simulated sky patch. All values are example choices."""

    seed: int = 20210714
    ra_center: float = 55.0  # deg
    dec_center: float = -30.0  # deg
    half_width: float = 0.15  # deg, half the side of the square patch
    tract: int = 4850  # example tract number
    patches_per_side: int = 4
    pixel_scale: float = 0.2  # arcsec per pixel
    psf_fwhm: float = 0.75  # arcsec
    depth5: dict[str, float] = field(
        default_factory=lambda: {
            "u": 24.6,
            "g": 25.8,
            "r": 25.6,
            "i": 25.2,
            "z": 24.5,
            "y": 23.6,
        }
    )  # median 5-sigma point-source depth (AB mag) per band
    depth_ripple: float = 0.25  # mag, amplitude of the depth pattern across the patch
    star_density: float = 7000.0  # per deg^2, 16 < r < 26.5
    galaxy_density_r24: float = 31600.0  # per deg^2 brighter than r = 24
    galaxy_count_slope: float = 0.31  # d log10 N / dm
    galaxy_faint_limit: float = 26.8  # r mag
    supernovae: int = 20
    variable_star_fraction: float = 0.05
    flagged_fraction: float = 0.02
    spurious_fraction: float = 0.01


@dataclass
class Sample:
    """A generated sample: the two tables as data frames, columns in schema order."""

    object: pd.DataFrame
    truth_match: pd.DataFrame


# --------------------------------------------------------------------------- schema


def load_schema(path: Path = SCHEMA_PATH) -> dict[str, Any]:
    """Read the sample's felis schema (YAML) as plain data."""
    with path.open(encoding="utf-8") as stream:
        data: dict[str, Any] = yaml.safe_load(stream)
    return data


def schema_columns(table: str, path: Path = SCHEMA_PATH) -> list[dict[str, Any]]:
    """Return the column definitions of one table of the sample schema, in order."""
    for entry in load_schema(path)["tables"]:
        if entry["name"] == table:
            return list(entry["columns"])
    raise KeyError(f"table {table!r} is not in {path.name}")


def describe_table(table: str) -> pd.DataFrame:
    """Return a table's columns (name, type, unit, UCD, description) from the schema."""
    rows = []
    for column in schema_columns(table):
        datatype = column["datatype"]
        if "length" in column:
            datatype = f"{datatype}({column['length']})"
        rows.append(
            {
                "name": column["name"],
                "type": datatype,
                "unit": column.get("ivoa:unit", column.get("fits:tunit", "")),
                "ucd": column.get("ivoa:ucd", ""),
                "description": column.get("description", ""),
            }
        )
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- simulation


def _power_law_mags(rng: np.random.Generator, n: int, slope: float, lo: float, hi: float) -> Any:
    """Draw magnitudes with dN/dm proportional to 10**(slope * m) between lo and hi."""
    a, b = 10 ** (slope * lo), 10 ** (slope * hi)
    return np.log10(a + rng.random(n) * (b - a)) / slope


def _uniform_positions(rng: np.random.Generator, n: int, config: SampleConfig) -> tuple[Any, Any]:
    """Draw positions uniformly on the sphere within the square patch."""
    half_ra = config.half_width / math.cos(math.radians(config.dec_center))
    ra = config.ra_center + rng.uniform(-half_ra, half_ra, n)
    s_lo = math.sin(math.radians(config.dec_center - config.half_width))
    s_hi = math.sin(math.radians(config.dec_center + config.half_width))
    dec = np.degrees(np.arcsin(rng.uniform(s_lo, s_hi, n)))
    return ra, dec


def patch_area_deg2(config: SampleConfig) -> float:
    """Solid angle of the sample patch in square degrees."""
    half_ra = math.radians(config.half_width / math.cos(math.radians(config.dec_center)))
    s_lo = math.sin(math.radians(config.dec_center - config.half_width))
    s_hi = math.sin(math.radians(config.dec_center + config.half_width))
    return 2 * half_ra * (s_hi - s_lo) * (180 / math.pi) ** 2


def depth_map(band: str, ra: Any, dec: Any, config: SampleConfig | None = None) -> Any:
    """Local 5-sigma point-source depth (AB mag) of a band at the given positions."""
    config = config or SampleConfig()
    phase = BANDS.index(band) * 0.9
    scale = 2 * math.pi / (config.half_width * 1.4)
    x = (np.asarray(ra) - config.ra_center) * math.cos(math.radians(config.dec_center))
    y = np.asarray(dec) - config.dec_center
    ripple = np.cos(scale * x + phase) * np.cos(scale * y - 0.5 * phase)
    gradient = 0.4 * (x + 0.5 * y) / config.half_width
    return config.depth5[band] + config.depth_ripple * (0.7 * ripple + 0.3 * gradient)


def _stars(rng: np.random.Generator, config: SampleConfig) -> pd.DataFrame:
    n = int(rng.poisson(config.star_density * patch_area_deg2(config)))
    ra, dec = _uniform_positions(rng, n, config)
    mag_r = _power_law_mags(rng, n, 0.12, 16.0, 26.5)
    kind = rng.random(n)
    gr = np.where(
        kind < 0.55,
        rng.normal(0.35, 0.10, n),
        np.where(kind < 0.80, rng.uniform(0.5, 1.2, n), rng.normal(1.40, 0.06, n)),
    )
    gr = np.clip(gr, -0.1, 1.5)
    colours = {k: np.interp(gr, _LOCUS_GR, v) + rng.normal(0, 0.04, n) for k, v in _LOCUS.items()}
    mags = _mags_from_colours(mag_r, gr + rng.normal(0, 0.03, n), colours)
    variable = rng.random(n) < config.variable_star_fraction
    frame = pd.DataFrame(
        {
            "kind": "star",
            "ra": ra,
            "dec": dec,
            "redshift": 0.0,
            "is_variable": variable.astype(int),
            "is_pointsource": 1,
            "truth_type": 2,
            "size": 0.0,
            "host": -1,
        }
    )
    for band in BANDS:
        frame[f"true_mag_{band}"] = mags[band]
    return frame


def _mags_from_colours(mag_r: Any, gr: Any, colours: dict[str, Any]) -> dict[str, Any]:
    g = mag_r + gr
    u = g + colours["ug"]
    i = mag_r - colours["ri"]
    z = i - colours["iz"]
    y = z - colours["zy"]
    return {"u": u, "g": g, "r": mag_r, "i": i, "z": z, "y": y}


def _galaxies(rng: np.random.Generator, config: SampleConfig) -> pd.DataFrame:
    area = patch_area_deg2(config)
    slope = config.galaxy_count_slope
    expected = (
        config.galaxy_density_r24
        * area
        * (10 ** (slope * (config.galaxy_faint_limit - 24)) - 10 ** (slope * (18 - 24)))
    )
    n = int(rng.poisson(expected))
    ra, dec = _uniform_positions(rng, n, config)
    mag_r = _power_law_mags(rng, n, slope, 18.0, config.galaxy_faint_limit)
    z_median = 0.1 + 0.1 * (mag_r - 18.0)
    redshift = np.clip(z_median * np.exp(rng.normal(0, 0.35, n)), 0.02, 3.0)
    red = rng.random(n) < np.interp(mag_r, [18, 26], [0.45, 0.15])
    zc = redshift

    def ramp(x: Any, lo: float, hi: float) -> Any:
        return np.clip(x - lo, 0, hi - lo)

    colours = {
        "ug": np.where(red, 1.8 + 2.0 * ramp(zc, 0, 0.3), 0.6 + 0.3 * ramp(zc, 0, 1.0)),
        "ri": np.where(red, 0.40 + 1.3 * ramp(zc, 0.3, 0.9), 0.2 + 0.4 * ramp(zc, 0, 1.2)),
        "iz": np.where(red, 0.20 + 0.8 * ramp(zc, 0.6, 1.1), 0.1 + 0.2 * ramp(zc, 0, 1.5)),
        "zy": np.where(red, 0.10 + 0.3 * ramp(zc, 0.8, 1.4), 0.05 + 0.1 * ramp(zc, 0, 1.5)),
    }
    gr = np.where(red, 0.75 + 2.2 * ramp(zc, 0, 0.45), 0.3 + 0.5 * ramp(zc, 0, 0.8))
    colours = {k: v + rng.normal(0, 0.08, n) for k, v in colours.items()}
    mags = _mags_from_colours(mag_r, gr + rng.normal(0, 0.08, n), colours)
    size = 10 ** rng.normal(math.log10(0.9) - 0.05 * (mag_r - 20.0), 0.18)  # half-light, arcsec
    frame = pd.DataFrame(
        {
            "kind": "gal",
            "ra": ra,
            "dec": dec,
            "redshift": redshift,
            "is_variable": 0,
            "is_pointsource": 0,
            "truth_type": 1,
            "size": size,
            "host": -1,
        }
    )
    for band in BANDS:
        frame[f"true_mag_{band}"] = mags[band]
    return frame


def _supernovae(rng: np.random.Generator, galaxies: pd.DataFrame, n: int) -> pd.DataFrame:
    hosts = rng.choice(np.flatnonzero(galaxies["true_mag_r"] < 24.0), size=n, replace=False)
    host_rows = galaxies.iloc[hosts]
    offset = host_rows["size"].to_numpy() * rng.normal(0, 1, (2, n)) / 3600.0
    ra = host_rows["ra"].to_numpy() + offset[0] / np.cos(np.radians(host_rows["dec"].to_numpy()))
    dec = host_rows["dec"].to_numpy() + offset[1]
    mag_r = rng.uniform(21.0, 25.0, n)
    colours = {
        "ug": rng.normal(0.3, 0.2, n),
        "ri": rng.normal(0.0, 0.1, n),
        "iz": rng.normal(0.0, 0.1, n),
        "zy": rng.normal(0.0, 0.1, n),
    }
    mags = _mags_from_colours(mag_r, rng.normal(0.0, 0.1, n), colours)
    frame = pd.DataFrame(
        {
            "kind": "sn",
            "ra": ra,
            "dec": dec,
            "redshift": host_rows["redshift"].to_numpy(),
            "is_variable": 1,
            "is_pointsource": 1,
            "truth_type": 3,
            "size": 0.0,
            "host": hosts,
        }
    )
    for band in BANDS:
        frame[f"true_mag_{band}"] = mags[band]
    return frame


def _neighbour_pairs(ra: Any, dec: Any, radius_arcsec: float) -> list[tuple[int, int, float]]:
    """Pairs (i, j, separation in arcsec) closer than radius, found on a grid."""
    cell = radius_arcsec / 3600.0
    cos_dec = np.cos(np.radians(dec))
    x = ra * cos_dec
    keys = np.floor(np.column_stack([x / cell, dec / cell])).astype(np.int64)
    grid: dict[tuple[int, int], list[int]] = defaultdict(list)
    for idx, (kx, ky) in enumerate(keys):
        grid[(int(kx), int(ky))].append(idx)
    pairs = []
    for (kx, ky), members in grid.items():
        for dx in (-1, 0, 1):
            for dy in (-1, 0, 1):
                others = grid.get((kx + dx, ky + dy))
                if not others:
                    continue
                for i in members:
                    for j in others:
                        if j <= i:
                            continue
                        sep = angular_separation(ra[i], dec[i], ra[j], dec[j]) * 3600.0
                        if sep < radius_arcsec:
                            pairs.append((i, j, float(sep)))
    pairs.sort()
    return pairs


def angular_separation(ra1: Any, dec1: Any, ra2: Any, dec2: Any) -> Any:
    """Great-circle separation in degrees (haversine), for scalars or arrays in degrees."""
    ra1, dec1, ra2, dec2 = (np.radians(v) for v in (ra1, dec1, ra2, dec2))
    hav = (
        np.sin((dec2 - dec1) / 2) ** 2 + np.cos(dec1) * np.cos(dec2) * np.sin((ra2 - ra1) / 2) ** 2
    )
    return np.degrees(2 * np.arcsin(np.sqrt(np.clip(hav, 0, 1))))


def _tract_patch_xy(ra: Any, dec: Any, config: SampleConfig) -> tuple[Any, Any, Any]:
    """Patch label and pixel coordinates from a gnomonic projection at the patch centre."""
    ra0, dec0 = math.radians(config.ra_center), math.radians(config.dec_center)
    ra_r, dec_r = np.radians(ra), np.radians(dec)
    cos_c = math.sin(dec0) * np.sin(dec_r) + math.cos(dec0) * np.cos(dec_r) * np.cos(ra_r - ra0)
    xi = np.cos(dec_r) * np.sin(ra_r - ra0) / cos_c
    eta = (
        math.cos(dec0) * np.sin(dec_r) - math.sin(dec0) * np.cos(dec_r) * np.cos(ra_r - ra0)
    ) / cos_c
    scale = 3600.0 / config.pixel_scale  # pixels per degree
    half = config.half_width * scale
    x = np.degrees(xi) * scale + half
    y = np.degrees(eta) * scale + half
    n = config.patches_per_side
    size = 2 * half / n
    px = np.clip((x // size).astype(int), 0, n - 1)
    py = np.clip((y // size).astype(int), 0, n - 1)
    patch = np.array([f"{a},{b}" for a, b in zip(px, py, strict=True)])
    return patch, x, y


def _mag(flux_nmgy: Any) -> Any:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(flux_nmgy > 0, NMGY_ZEROPOINT - 2.5 * np.log10(flux_nmgy), np.nan)


def _magerr(flux: Any, err: Any) -> Any:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(flux > 0, 2.5 / math.log(10) * err / flux, np.nan)


def simulate(config: SampleConfig | None = None) -> Sample:
    """Simulate the sample: true sources, then what a pipeline would measure of them."""
    config = config or SampleConfig()
    rng = np.random.default_rng(config.seed)
    stars = _stars(rng, config)
    galaxies = _galaxies(rng, config)
    supernovae = _supernovae(rng, galaxies, config.supernovae)
    truth = pd.concat([stars, galaxies, supernovae], ignore_index=True)
    # Number the entries within each kind, and turn SN host indices into host numbers.
    truth["number"] = truth.groupby("kind").cumcount() + 1
    gal_numbers = truth.loc[truth["kind"] == "gal", "number"].to_numpy()
    is_sn = truth["kind"] == "sn"
    truth.loc[is_sn, "host"] = gal_numbers[truth.loc[is_sn, "host"].to_numpy()]
    n = len(truth)
    ra, dec = truth["ra"].to_numpy(), truth["dec"].to_numpy()
    size = truth["size"].to_numpy()
    true_flux = {
        b: 10 ** ((NMGY_ZEROPOINT - truth[f"true_mag_{b}"].to_numpy()) / 2.5) for b in BANDS
    }

    # Blends: pairs closer than 0.6 arcsec are one object; 0.6-2 arcsec are deblended.
    pairs = _neighbour_pairs(ra, dec, 2.0)
    absorbed_into = np.full(n, -1)
    neighbour_share = np.zeros(n)
    neighbour = np.full(n, -1)
    overlap_of = np.zeros(n)
    deblend_parent = np.full(n, -1)
    brightness = true_flux["r"] + true_flux["i"]

    def owner_of(k: int) -> int:
        while absorbed_into[k] >= 0:
            k = int(absorbed_into[k])
        return k

    for i, j, sep in pairs:
        if sep < 0.6:
            first, second = owner_of(i), owner_of(j)
            if first != second:
                keep, merge = (first, second)
                if brightness[second] > brightness[first]:
                    keep, merge = second, first
                absorbed_into[merge] = keep
    owners = np.array([owner_of(k) for k in range(n)])
    absorbed_into = np.where(owners != np.arange(n), owners, -1)
    parent_counter = 0
    for i, j, sep in pairs:
        if sep < 0.6 or absorbed_into[i] >= 0 or absorbed_into[j] >= 0:
            continue
        if deblend_parent[i] >= 0 or deblend_parent[j] >= 0:
            continue
        parent_counter += 1
        deblend_parent[i] = deblend_parent[j] = parent_counter
        overlap = math.exp(-((sep / 1.5) ** 2))
        total = brightness[i] + brightness[j]
        neighbour_share[i] = overlap * brightness[j] / total
        neighbour_share[j] = overlap * brightness[i] / total
        neighbour[i], neighbour[j] = j, i
        overlap_of[i] = overlap_of[j] = overlap

    # Light of absorbed sources goes into the object they blend with.
    measured_true = {b: true_flux[b].copy() for b in BANDS}
    for merged in np.flatnonzero(absorbed_into >= 0):
        for b in BANDS:
            measured_true[b][absorbed_into[merged]] += true_flux[b][merged]
    varying = truth["is_variable"].to_numpy() == 1
    for b in BANDS:
        measured_true[b][varying] *= 1 + rng.normal(0, 0.1, varying.sum())

    psf_fraction = 1.0 / (1.0 + (size / config.psf_fwhm) ** 2)
    cmodel_noise = np.sqrt(1.0 + (size / 0.45) ** 2)
    measured: dict[str, Any] = {}
    for b in BANDS:
        sky = 10 ** ((NMGY_ZEROPOINT - depth_map(b, ra, dec, config)) / 2.5) / 5.0
        # A tenth of the overlapping light of a deblended neighbour leaks into the flux.
        contamination = np.where(
            neighbour >= 0, 0.1 * overlap_of * measured_true[b][np.maximum(neighbour, 0)], 0.0
        )
        ps_err = np.sqrt(sky**2 + (0.005 * measured_true[b]) ** 2)
        cm_err = np.sqrt((sky * cmodel_noise) ** 2 + (0.007 * measured_true[b]) ** 2)
        # PSF and cModel fluxes come from the same pixels: their noise is correlated.
        shared, own = rng.normal(0, 1, n), rng.normal(0, 1, n)
        measured[f"psFlux_{b}"] = measured_true[b] * psf_fraction + contamination + shared * ps_err
        measured[f"psFluxErr_{b}"] = ps_err
        measured[f"cModelFlux_{b}"] = (
            measured_true[b] + contamination + (0.95 * shared + 0.31 * own) * cm_err
        )
        measured[f"cModelFluxErr_{b}"] = cm_err

    detection_snr = np.hypot(
        measured["psFlux_r"] / measured["psFluxErr_r"],
        measured["psFlux_i"] / measured["psFluxErr_i"],
    )
    detected = (detection_snr > 5.0) & (absorbed_into < 0)

    # Measured positions: the centroid error grows as the signal-to-noise ratio falls.
    pos_err = np.maximum(
        config.psf_fwhm / 2.355 / np.maximum(detection_snr, 1.0) * cmodel_noise, 0.005
    )
    obj_ra = ra + rng.normal(0, 1, n) * pos_err / 3600.0 / np.cos(np.radians(dec))
    obj_dec = dec + rng.normal(0, 1, n) * pos_err / 3600.0
    for merged in np.flatnonzero(absorbed_into >= 0):
        host = absorbed_into[merged]
        w = true_flux["r"][merged] / (true_flux["r"][host] + true_flux["r"][merged])
        obj_ra[host] += w * (ra[merged] - ra[host])
        obj_dec[host] += w * (dec[merged] - dec[host])

    det = np.flatnonzero(detected)
    objects = pd.DataFrame({"source": det, "ra": obj_ra[det], "dec": obj_dec[det]})
    for key, values in measured.items():
        objects[key] = values[det]
    objects["parent"] = deblend_parent[det]
    objects["blendedness"] = neighbour_share[det]
    objects["spurious"] = False
    objects["near_star"] = False

    spurious = _spurious(rng, config, truth, objects, len(objects))
    objects = pd.concat([objects, spurious], ignore_index=True)
    objects = objects.sort_values(["dec", "ra"], ignore_index=True)
    objects["objectId"] = np.arange(1, len(objects) + 1, dtype=np.int64)

    # Truth matching: each detected source matches the object it produced; a source
    # blended into a brighter neighbour matches that neighbour's object.
    source_to_object = dict(zip(objects["source"], objects["objectId"], strict=True))
    match_id = np.full(n, -1, dtype=np.int64)
    for idx in range(n):
        owner = absorbed_into[idx] if absorbed_into[idx] >= 0 else idx
        if detected[owner]:
            match_id[idx] = source_to_object[owner]
    obj_pos = objects.set_index("objectId")[["ra", "dec", "cModelFlux_r"]]
    matched = match_id >= 0
    match_sep = np.full(n, -1.0)
    match_sep[matched] = (
        angular_separation(
            ra[matched],
            dec[matched],
            obj_pos.loc[match_id[matched], "ra"].to_numpy(),
            obj_pos.loc[match_id[matched], "dec"].to_numpy(),
        )
        * 3600.0
    )
    object_mag_r = np.full(n, np.nan)
    object_mag_r[matched] = _mag(obj_pos.loc[match_id[matched], "cModelFlux_r"].to_numpy())
    is_good = matched & (match_sep < 1.0) & (np.abs(object_mag_r - truth["true_mag_r"]) < 1.0)
    nearest = np.zeros(n, dtype=bool)
    best: dict[int, tuple[float, int]] = {}
    for candidate in np.flatnonzero(matched):
        current = best.get(int(match_id[candidate]))
        if current is None or match_sep[candidate] < current[0]:
            best[int(match_id[candidate])] = (float(match_sep[candidate]), int(candidate))
    for _, closest in best.values():
        nearest[closest] = True

    return Sample(
        object=_object_table(rng, config, objects),
        truth_match=_truth_table(config, truth, match_id, match_sep, is_good, nearest),
    )


def _spurious(
    rng: np.random.Generator,
    config: SampleConfig,
    truth: pd.DataFrame,
    objects: pd.DataFrame,
    n_objects: int,
) -> pd.DataFrame:
    """Detections with no true source: noise peaks and fragments around bright stars."""
    n = int(config.spurious_fraction * n_objects)
    bright = truth.index[(truth["kind"] == "star") & (truth["true_mag_r"] < 18.5)].to_numpy()
    near_star = rng.random(n) < 0.5 if len(bright) else np.zeros(n, dtype=bool)
    ra, dec = _uniform_positions(rng, n, config)
    if near_star.any():
        count = int(near_star.sum())
        hosts = rng.choice(bright, size=count)
        radius = rng.uniform(4.0, 12.0, count) / 3600.0
        angle = rng.uniform(0, 2 * math.pi, count)
        host_dec = truth.loc[hosts, "dec"].to_numpy()
        ra[near_star] = truth.loc[hosts, "ra"].to_numpy() + radius * np.cos(angle) / np.cos(
            np.radians(host_dec)
        )
        dec[near_star] = host_dec + radius * np.sin(angle)
    frame = pd.DataFrame({"source": -1, "ra": ra, "dec": dec})
    peak_snr = rng.uniform(5.0, 7.0, n)
    for b in BANDS:
        sky = 10 ** ((NMGY_ZEROPOINT - depth_map(b, ra, dec, config)) / 2.5) / 5.0
        signal = np.where(np.isin(b, ["r", "i"]) | near_star, peak_snr * sky / math.sqrt(2), 0.0)
        frame[f"psFlux_{b}"] = signal + rng.normal(0, 1, n) * sky
        frame[f"psFluxErr_{b}"] = sky
        frame[f"cModelFlux_{b}"] = signal * rng.uniform(0.9, 1.6, n) + rng.normal(0, 1, n) * sky
        frame[f"cModelFluxErr_{b}"] = sky * 1.3
    frame["parent"] = -1
    frame["blendedness"] = 0.0
    frame["spurious"] = True
    frame["near_star"] = near_star
    return frame


def _object_table(rng: np.random.Generator, config: SampleConfig, objects: pd.DataFrame) -> Any:
    n = len(objects)
    ra, dec = objects["ra"].to_numpy(), objects["dec"].to_numpy()
    patch, x, y = _tract_patch_xy(ra, dec, config)
    parent = objects["parent"].to_numpy()
    parent_id = np.where(parent > 0, 10_000_000 + parent, 0).astype(np.int64)
    flagged = rng.random(n) < config.flagged_fraction
    if "near_star" in objects:
        flagged |= objects["near_star"].to_numpy(dtype=bool) & (rng.random(n) < 0.7)
    ratio = objects["psFlux_r"].to_numpy() / objects["cModelFlux_r"].to_numpy()
    extended = np.where((objects["cModelFlux_r"].to_numpy() > 0) & (ratio < 0.985), 1.0, 0.0)
    columns: dict[str, Any] = {
        "objectId": objects["objectId"].to_numpy(),
        "parentObjectId": parent_id,
        "ra": ra,
        "dec": dec,
        "tract": np.full(n, config.tract, dtype=np.int64),
        "patch": patch,
        "extendedness": extended,
        "blendedness": objects["blendedness"].to_numpy(),
        "good": ~flagged,
        "clean": ~flagged & (parent_id == 0),
    }
    for b in BANDS:
        flux, err = objects[f"psFlux_{b}"].to_numpy(), objects[f"psFluxErr_{b}"].to_numpy()
        columns[f"mag_{b}"] = _mag(flux)
        columns[f"magerr_{b}"] = _magerr(flux, err)
    for b in BANDS:
        flux = objects[f"cModelFlux_{b}"].to_numpy()
        err = objects[f"cModelFluxErr_{b}"].to_numpy()
        columns[f"mag_{b}_cModel"] = _mag(flux)
        columns[f"magerr_{b}_cModel"] = _magerr(flux, err)
        columns[f"snr_{b}_cModel"] = flux / err
    for b in BANDS:
        columns[f"psFlux_{b}"] = objects[f"psFlux_{b}"].to_numpy()
        columns[f"psFluxErr_{b}"] = objects[f"psFluxErr_{b}"].to_numpy()
    columns["x"] = x
    columns["y"] = y
    return pd.DataFrame(columns)


def _truth_table(
    config: SampleConfig,
    truth: pd.DataFrame,
    match_id: Any,
    match_sep: Any,
    is_good: Any,
    nearest: Any,
) -> Any:
    ra, dec = truth["ra"].to_numpy(), truth["dec"].to_numpy()
    patch, _, _ = _tract_patch_xy(ra, dec, config)
    ids = [f"{k}_{num:07d}" for k, num in zip(truth["kind"], truth["number"], strict=True)]
    columns: dict[str, Any] = {
        "id": ids,
        "host_galaxy": truth["host"].to_numpy(dtype=np.int64),
        "ra": ra,
        "dec": dec,
        "redshift": truth["redshift"].to_numpy(dtype=np.float32),
        "is_variable": truth["is_variable"].to_numpy(dtype=np.int64),
        "is_pointsource": truth["is_pointsource"].to_numpy(dtype=np.int64),
    }
    for b in BANDS:
        flux = 10 ** ((AB_NJY_ZEROPOINT - truth[f"true_mag_{b}"].to_numpy()) / 2.5)
        columns[f"flux_{b}"] = flux.astype(np.float32)
    columns.update(
        {
            "mag_r": truth["true_mag_r"].to_numpy(dtype=np.float32),
            "truth_type": truth["truth_type"].to_numpy(dtype=np.int64),
            "match_objectId": match_id,
            "match_sep": match_sep,
            "is_good_match": np.asarray(is_good, dtype=bool),
            "is_nearest_neighbor": np.asarray(nearest, dtype=bool),
            "tract": np.full(len(truth), config.tract, dtype=np.int64),
            "patch": patch,
        }
    )
    return pd.DataFrame(columns)


# --------------------------------------------------------------------------- database


def generator_key() -> str:
    """Hash of everything the sample depends on: this module's source and the schema."""
    digest = hashlib.sha256()
    digest.update(Path(__file__).read_bytes())
    digest.update(SCHEMA_PATH.read_bytes())
    return digest.hexdigest()


def db_path(path: str | os.PathLike[str] | None = None) -> Path:
    """Where the sample database lives: the argument, $DP0_SAMPLE_DB, or the default."""
    if path is not None:
        return Path(path)
    if os.environ.get(DB_ENV_VAR):
        return Path(os.environ[DB_ENV_VAR])
    return DEFAULT_DB_PATH


def write_sqlite(sample: Sample, path: Path) -> None:
    """Create the tables from the felis schema and fill them (atomically replaces path)."""
    from felis.datamodel import Schema
    from felis.metadata import MetaDataBuilder
    from sqlalchemy import create_engine

    schema: Schema = Schema.model_validate(load_schema())
    metadata = MetaDataBuilder(schema, apply_schema_to_metadata=False).build()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        engine = create_engine(f"sqlite:///{tmp}")
        metadata.create_all(engine)
        engine.dispose()
        with sqlite3.connect(tmp) as conn:
            for name in ("object", "truth_match"):
                frame: pd.DataFrame = getattr(sample, name)
                names = [c["name"] for c in schema_columns(name)]
                placeholders = ", ".join("?" for _ in names)
                quoted = ", ".join(f'"{c}"' for c in names)
                values = frame[names].astype(object)
                rows = values.where(frame[names].notna(), None).itertuples(index=False, name=None)
                conn.executemany(
                    f'INSERT INTO "{name}" ({quoted}) VALUES ({placeholders})',  # noqa: S608
                    rows,
                )
            conn.execute("CREATE INDEX object_radec ON object (dec, ra)")
            conn.execute("CREATE INDEX truth_match_object ON truth_match (match_objectId)")
        conn.close()
        tmp.chmod(0o644)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def ensure_sample_db(path: str | os.PathLike[str] | None = None, *, force: bool = False) -> Path:
    """Generate the sample database unless an up-to-date one exists; return its path."""
    target = db_path(path)
    stamp = target.with_name(target.name + ".key")
    key = generator_key()
    if not force and target.exists() and stamp.exists() and stamp.read_text() == key:
        return target
    write_sqlite(simulate(), target)
    stamp.write_text(key)
    return target


# --------------------------------------------------------------------------- queries


def _cone_contains(ra: float, dec: float, ra0: float, dec0: float, radius: float) -> int:
    return int(angular_separation(ra, dec, ra0, dec0) <= radius)


def _ang_sep(ra1: float, dec1: float, ra2: float, dec2: float) -> float:
    return float(angular_separation(ra1, dec1, ra2, dec2))


def connect(path: str | os.PathLike[str] | None = None) -> sqlite3.Connection:
    """Open the sample database read-only, with two SQL functions for sky queries.

    ``ang_sep(ra1, dec1, ra2, dec2)`` is the angular separation in degrees (ADQL's
    ``DISTANCE``); ``cone_contains(ra, dec, ra0, dec0, radius)`` is 1 inside the circle
    (ADQL's ``CONTAINS(POINT(...), CIRCLE(...))``). All angles in degrees.
    """
    target = ensure_sample_db(path)
    conn = sqlite3.connect(f"{target.as_uri()}?mode=ro", uri=True)
    conn.create_function("ang_sep", 4, _ang_sep, deterministic=True)
    conn.create_function("cone_contains", 5, _cone_contains, deterministic=True)
    return conn


def query(sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> pd.DataFrame:
    """Run one SQL query on the sample database and return the result as a data frame."""
    conn = connect()
    try:
        return pd.read_sql_query(sql, conn, params=params)
    finally:
        conn.close()


def main(argv: list[str] | None = None) -> int:
    """Command line: generate the sample database."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output", type=Path, default=None, help="database file to write")
    parser.add_argument("--force", action="store_true", help="regenerate even if up to date")
    args = parser.parse_args(argv)
    target = ensure_sample_db(args.output, force=args.force)
    with sqlite3.connect(target) as conn:
        for table in ("object", "truth_match"):
            (count,) = conn.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()  # noqa: S608
            print(f"{table}: {count} rows")
    conn.close()
    print(f"sample database: {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
