"""Pure matching: pair features, the logistic confidence model, decisions, fitting and labelled data."""

from __future__ import annotations

import csv
import io
import math
import random
from dataclasses import replace
from functools import cache
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from listings.matching.features import (
    Features,
    MatchRecord,
    build_match_record,
    default_compat,
    haversine_m,
    image_similarity,
    pair_features,
)
from listings.matching.scoring import (
    DEFAULT_MODEL,
    TERMS,
    Model,
    confidence,
    decide,
    design_row,
    explain,
    fit,
    logit,
)
from listings_dev.labelled import (
    CSV_FIELDS,
    KINDS,
    LabelledPair,
    LabelledSet,
    generate,
    labelled_pairs,
    match_record,
    trigram_similarity,
)

# --------------------------------------------------------------------------------------------------------
# Hand-written records (already normalised, as the caller fills MatchRecord)
# --------------------------------------------------------------------------------------------------------

PARC = build_match_record(
    name="Café du Parc",
    address1="4521, rue Saint-Denis",
    city="Montréal",
    postal="H2J 2L4",
    country="CA",
    lat=45.5262,
    lng=-73.5853,
    phone="514-555-0123",
    website="https://www.cafeduparc.example/fr/",
    category="cafe",
    image_hashes=["c3d2a1b0f0e1d2c3"],
)


def moved(lat: float | None, lng: float | None, metres: float) -> tuple[float, float]:
    assert lat is not None and lng is not None
    return lat + metres / 111_320.0, lng


def test_build_match_record_normalises_like_the_pipeline() -> None:
    assert PARC.name_key == "cafe parc"  # articles and linking words dropped
    assert PARC.address_key == "4521 saint denis"  # street type dropped: "rue X" = "X Street"
    assert PARC.house_number == "4521" and PARC.postal_key == "H2J2L4" and PARC.city_key == "montreal"
    assert PARC.phone == "+15145550123" and PARC.website_host == "cafeduparc.example"
    english = build_match_record(name="Cafe du Parc", address1="4521 St-Denis Street", phone="+15145550123")
    assert english.address_key == PARC.address_key and english.phone == PARC.phone
    # A lone coordinate, an out-of-range one or text is no pin; odd text never raises.
    assert build_match_record(name="x", lat=45.5, lng=None).lat is None
    assert build_match_record(name="x", lat="95", lng="10").lat is None
    assert build_match_record(name="x", lat="abc", lng="10").lat is None
    odd = build_match_record(name=None, address1="", phone="n/a", website="not a url", postal="???")
    assert odd.name_key == "" and odd.phone is None and odd.website_host is None and odd.postal_key is None


def test_same_place_typed_by_another_dmo_french() -> None:
    # "CAFÉ DU PARC & BISTRO", "4521 St-Denis", phone in another format: all normalise to the same keys.
    lat, lng = moved(PARC.lat, PARC.lng, 40)
    other = build_match_record(
        name="CAFÉ DU PARC & BISTRO",
        address1="4521 St-Denis",
        city="Montreal",
        postal="h2j2l4",
        country="CA",
        lat=lat,
        lng=lng,
        phone="(514) 555-0123",
        website="cafeduparc.example",
        category="cafe",
        image_hashes=["c3d2a1b0f0e1d2c7", "0123456789abcdef"],  # the same photo re-encoded: 1 bit off
    )
    f = pair_features(PARC, other)
    assert f.name_token == 1.0  # token_set: the added word does not count against
    assert f.name_jw is not None and f.name_jw > 0.9
    assert f.name_partial == 1.0
    assert f.address_sim == 1.0 and f.house_number_eq is True
    assert f.distance_m == pytest.approx(40, abs=0.5)
    assert f.same_postal is True and f.same_city is True
    assert f.phone_eq is True and f.website_eq is True
    assert f.category_compat == 1.0
    assert f.image_sim == pytest.approx(63 / 64)
    assert confidence(f) > 0.99
    assert decide([(1, confidence(f))]).action == "auto_merge"


def test_same_place_english_with_missing_fields() -> None:
    a = build_match_record(
        name="The Wild Ferry Fish & Chips",
        address1="170 rue Hart",
        city="Trois-Rivières",
        postal="G8Z 1K2",
        lat=46.393152,
        lng=-72.586520,
        phone="819 555-0141",
        website="www.wild-ferry-fish-chips.example",
        category="restaurant",
    )
    # Another DMO: "The" dropped, English street form, no coordinates, website, category or photos.
    b = build_match_record(
        name="Wild Ferry Fish and Chips",
        address1="170 Hart Street",
        city="Trois-Rivieres",
        postal="G8Z1K2",
        phone="+1 819 555 0141",
    )
    f = pair_features(a, b)
    assert f.distance_m is None and f.website_eq is None and f.category_compat is None
    assert f.image_sim is None
    assert f.name_token == 1.0 and f.address_sim == 1.0
    assert confidence(f) > 0.95


def test_chain_branches_are_not_the_same_place() -> None:
    # Same chain name and website host; another address 2.4 km away, another phone.
    branch_a = build_match_record(
        name="Café Nordet",
        address1="1200, avenue du Mont-Royal Est",
        city="Montréal",
        postal="H2J 1Y1",
        lat=45.5246,
        lng=-73.5810,
        phone="514-555-0111",
        website="https://www.cafe-nordet.example/fr/succursales/montreal",
        category="cafe",
    )
    lat, lng = moved(45.5246, -73.5810, 2400)
    branch_b = build_match_record(
        name="Café Nordet",
        address1="5400 boulevard Saint-Laurent",
        city="Montréal",
        postal="H2T 1S1",
        lat=lat,
        lng=lng,
        phone="514-555-0178",
        website="https://www.cafe-nordet.example/fr/succursales/montreal",
        category="cafe",
    )
    f = pair_features(branch_a, branch_b)
    assert f.name_token == 1.0 and f.website_eq is True
    assert f.house_number_eq is False and f.phone_eq is False and f.same_postal is False
    assert f.distance_m is not None and f.distance_m > 2000
    assert confidence(f) < 0.05


def test_neighbours_in_the_same_building_are_not_merged() -> None:
    port = replace(
        PARC,
        name="Café du Port",
        name_key="cafe port",
        lat=45.52625,
        lng=-73.58525,
        phone="+15145550188",
        website_host="cafeduport.example",
        image_hashes=("8f1e2d3c4b5a6978",),
    )
    f = pair_features(PARC, port)
    assert f.name_jw is not None and 0.8 < f.name_jw < 1.0
    assert f.address_sim == 1.0 and f.house_number_eq is True and f.same_postal is True
    assert f.distance_m is not None and f.distance_m < 10
    assert f.phone_eq is False and f.website_eq is False
    assert confidence(f) < 0.5
    assert decide([(1, confidence(f))]).action == "new"


def test_neighbour_with_unknown_contacts_is_not_auto_merged() -> None:
    # No phone, website or photo on either side: the name is all that tells them apart.
    bare = replace(PARC, phone=None, website_host=None, image_hashes=())
    port = replace(bare, name="Café du Port", name_key="cafe port")
    assert decide([(1, confidence(pair_features(bare, port)))]).action != "auto_merge"


def test_a_duplicate_between_two_close_candidates_goes_to_review() -> None:
    # The same café listed twice in the catalogue (an unresolved duplicate): both candidates fit.
    twin = replace(PARC, website_host=None, image_hashes=())
    incoming = replace(PARC, name="Cafe du Parc", image_hashes=())
    scores = [(1, confidence(pair_features(incoming, PARC))), (2, confidence(pair_features(incoming, twin)))]
    d = decide(scores)
    assert (d.action, d.review_type) == ("review", "multiple_close_matches")


def test_other_countries() -> None:
    london_a = build_match_record(
        name="The Red Lion",
        address1="48 Parliament Street",
        city="London",
        postal="SW1A 2NH",
        country="GB",
        lat=51.5019,
        lng=-0.1263,
        phone="020 7930 5826",
    )
    london_b = build_match_record(
        name="Red Lion Pub",
        address1="48 Parliament St",
        city="London",
        postal="SW1A2NH",
        country="GB",
        lat=51.50195,
        lng=-0.12635,
        phone="+44 20 7930 5826",
        website="redlion.example",
    )
    assert london_a.phone == london_b.phone == "+442079305826"
    assert confidence(pair_features(london_a, london_b)) > 0.9
    napoli = build_match_record(
        name="L'Antica Pizzeria da Michele",
        address1="Via Cesare Sersale 1",
        city="Napoli",
        postal="80139",
        country="IT",
        lat=40.8497,
        lng=14.2633,
    )
    other = build_match_record(
        name="Pizzeria da Michele",
        address1="Via Cesare Sersale, 1",
        city="Naples",
        postal="80139",
        country="IT",
        lat=40.8499,
        lng=14.2633,
    )
    f = pair_features(napoli, other)
    assert f.house_number_eq is True and f.same_city is False  # "Napoli" / "Naples": no gazetteer here
    assert f.distance_m is not None and f.distance_m < 30
    assert confidence(f) > 0.8
    # Same name, another city 300 km away: a different place.
    paris = build_match_record(
        name="Café de Flore",
        address1="172 Boulevard Saint-Germain",
        city="Paris",
        postal="75006",
        country="FR",
        lat=48.8541,
        lng=2.3326,
    )
    lyon = build_match_record(
        name="Café de Flore",
        address1="5 Rue de la République",
        city="Lyon",
        postal="69001",
        country="FR",
        lat=45.7640,
        lng=4.8357,
    )
    assert confidence(pair_features(paris, lyon)) < 0.01


def test_missing_data_is_unknown_not_a_mismatch() -> None:
    bare = build_match_record(name="Gîte du Lac")
    f = pair_features(bare, PARC)
    for name in (
        "address_sim",
        "house_number_eq",
        "distance_m",
        "same_postal",
        "same_city",
        "phone_eq",
        "website_eq",
        "category_compat",
        "image_sim",
    ):
        assert getattr(f, name) is None, name
    fields = {k for k, _ in explain(f)}
    assert fields == {"name", "bias"}  # unknown fields contribute nothing
    # Empty strings are unknown too, never "equal".
    blank = replace(bare, phone="", website_host="  ", postal_key="", house_number="")
    g = pair_features(blank, blank)
    assert g.phone_eq is None and g.website_eq is None and g.same_postal is None and g.house_number_eq is None


def test_unknown_phone_sits_between_match_and_mismatch() -> None:
    base = pair_features(PARC, replace(PARC, name="Café du Parc Bistro", name_key="cafe parc bistro"))
    known_eq = confidence(replace(base, phone_eq=True))
    unknown = confidence(replace(base, phone_eq=None))
    differs = confidence(replace(base, phone_eq=False))
    assert known_eq >= unknown >= differs
    assert known_eq > differs


def test_partial_coordinates_and_non_finite_values_are_unknown() -> None:
    a = replace(PARC, lat=float("nan"))
    assert pair_features(a, PARC).distance_m is None
    b = replace(PARC, lng=None)
    assert pair_features(PARC, b).distance_m is None
    c = replace(PARC, lat=float("inf"))
    assert pair_features(c, PARC).distance_m is None


def test_haversine_known_distances() -> None:
    # Montréal (Place d'Armes) to Québec (Château Frontenac): about 233 km.
    assert haversine_m(45.5048, -73.5573, 46.8119, -71.2052) == pytest.approx(233_000, rel=0.01)
    assert haversine_m(45.5, -73.5, 45.5, -73.5) == 0.0
    # One degree of latitude: 111.2 km.
    assert haversine_m(45.0, -73.0, 46.0, -73.0) == pytest.approx(111_195, rel=0.001)


def test_image_similarity() -> None:
    assert image_similarity(["ffffffffffffffff"], ["ffffffffffffffff"]) == 1.0
    assert image_similarity(["0000000000000000"], ["ffffffffffffffff"]) == 0.0
    assert image_similarity(["0000000000000001"], ["0000000000000000"]) == pytest.approx(63 / 64)
    # The best pair wins.
    assert image_similarity(["ffffffffffffffff", "0000000000000000"], ["0000000000000003"]) == pytest.approx(
        62 / 64
    )
    assert image_similarity([], ["0000000000000000"]) is None
    # Hashes of another width or garbage are ignored, not fatal.
    assert image_similarity(["xyz", "abc"], ["0000000000000000"]) is None
    assert image_similarity(["0x000000000000000F", "nothex!!nothex!!"], ["000000000000000f"]) == 1.0


def test_category_compat_uses_the_given_callable() -> None:
    lodging = replace(PARC, category="hotel")
    motel = replace(PARC, category="motel")
    assert pair_features(lodging, motel).category_compat == 0.0
    assert pair_features(lodging, motel, compat=lambda a, b: 0.6).category_compat == 0.6
    assert pair_features(lodging, motel, compat=lambda a, b: 7.0).category_compat == 1.0  # clamped
    assert default_compat(None, "hotel") == 0.5 and default_compat("hotel", "hotel") == 1.0
    # 0.5 (unknown) is neutral in the model: same contribution as no category at all.
    f = pair_features(lodging, motel)
    assert logit(replace(f, category_compat=0.5)) == pytest.approx(logit(replace(f, category_compat=None)))


text = st.text(alphabet=st.characters(codec="utf-8"), max_size=40)
coordinate = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True))
records = st.builds(
    MatchRecord,
    name=text,
    name_key=text,
    address_key=st.one_of(st.none(), text),
    house_number=st.one_of(st.none(), text),
    city_key=st.one_of(st.none(), text),
    postal_key=st.one_of(st.none(), text),
    country=st.one_of(st.none(), text),
    lat=coordinate,
    lng=coordinate,
    phone=st.one_of(st.none(), text),
    website_host=st.one_of(st.none(), text),
    category=st.one_of(st.none(), text),
    image_hashes=st.lists(st.one_of(text, st.from_regex(r"[0-9a-f]{16}", fullmatch=True)), max_size=3).map(
        tuple
    ),
)


@settings(max_examples=200, deadline=None)
@given(records, records)
def test_pair_features_never_raise_and_stay_in_range(a: MatchRecord, b: MatchRecord) -> None:
    f = pair_features(a, b)
    for value in (f.name_jw, f.name_token, f.name_partial, f.address_sim, f.category_compat, f.image_sim):
        assert value is None or 0.0 <= value <= 1.0
    assert f.distance_m is None or (math.isfinite(f.distance_m) and f.distance_m >= 0)
    assert 0.0 <= confidence(f) <= 1.0
    # Symmetric (the default category compatibility is).
    g = pair_features(b, a)
    assert (g.name_token, g.phone_eq, g.same_postal, g.image_sim) == (
        f.name_token,
        f.phone_eq,
        f.same_postal,
        f.image_sim,
    )


# --------------------------------------------------------------------------------------------------------
# The model: monotone, explained, validated
# --------------------------------------------------------------------------------------------------------

unit = st.floats(min_value=0.0, max_value=1.0)
maybe_bool = st.one_of(st.none(), st.booleans())
features = st.builds(
    Features,
    name_jw=st.one_of(st.none(), unit),
    name_token=st.one_of(st.none(), unit),
    name_partial=st.one_of(st.none(), unit),
    address_sim=st.one_of(st.none(), unit),
    house_number_eq=maybe_bool,
    distance_m=st.one_of(st.none(), st.floats(min_value=0.0, max_value=1e7)),
    same_postal=maybe_bool,
    same_city=maybe_bool,
    phone_eq=maybe_bool,
    website_eq=maybe_bool,
    category_compat=st.one_of(st.none(), unit),
    image_sim=st.one_of(st.none(), unit),
)


def with_value(f: Features, name: str, value: object) -> Features:
    changes: dict[str, Any] = {name: value}
    return replace(f, **changes)


def test_default_model_respects_its_sign_constraints() -> None:
    for term, weight in zip(TERMS, DEFAULT_MODEL.weights, strict=True):
        assert weight * term.sign >= 0, term.name


@settings(max_examples=300, deadline=None)
@given(features, st.floats(min_value=0.0, max_value=1e6), st.floats(min_value=0.0, max_value=1e6))
def test_closer_never_lowers_confidence(f: Features, d1: float, d2: float) -> None:
    near, far = min(d1, d2), max(d1, d2)
    assert confidence(replace(f, distance_m=near)) >= confidence(replace(f, distance_m=far))


@settings(max_examples=300, deadline=None)
@given(features)
def test_agreement_never_lowers_confidence(f: Features) -> None:
    for name in ("phone_eq", "website_eq", "same_postal", "same_city", "house_number_eq"):
        yes, unknown, no = (confidence(with_value(f, name, v)) for v in (True, None, False))
        assert yes >= unknown >= no, name


@settings(max_examples=300, deadline=None)
@given(features, unit, unit)
def test_more_similar_never_lowers_confidence(f: Features, s1: float, s2: float) -> None:
    lo, hi = min(s1, s2), max(s1, s2)
    for name in ("name_jw", "name_token", "name_partial", "address_sim", "image_sim", "category_compat"):
        assert confidence(with_value(f, name, hi)) >= confidence(with_value(f, name, lo)), name


@settings(max_examples=100, deadline=None)
@given(features)
def test_explain_adds_up_to_the_logit(f: Features) -> None:
    parts = explain(f)
    assert parts[-1][0] == "bias"
    assert sum(v for _, v in parts) == pytest.approx(logit(f), abs=1e-9)
    magnitudes = [abs(v) for k, v in parts[:-1]]
    assert magnitudes == sorted(magnitudes, reverse=True)


def test_model_rejects_weights_that_do_not_fit_the_terms() -> None:
    with pytest.raises(ValueError):
        Model(weights=(1.0, 2.0), bias=0.0)
    with pytest.raises(ValueError):
        Model(weights=DEFAULT_MODEL.weights, bias=0.0, terms=("a",) * len(TERMS))


# --------------------------------------------------------------------------------------------------------
# decide()
# --------------------------------------------------------------------------------------------------------


def test_decide_without_candidates_is_new() -> None:
    d = decide([])
    assert (d.action, d.candidate_id, d.review_type) == ("new", None, None)


def test_decide_auto_merges_a_clear_best() -> None:
    d = decide([(7, 0.95), (3, 0.2)])
    assert (d.action, d.candidate_id, d.review_type) == ("auto_merge", 7, None)
    assert d.confidence == 0.95
    assert "7" in d.reason


def test_decide_margin_rules() -> None:
    # Second candidate within the margin and above the review threshold: a human picks.
    d = decide([(1, 0.95), (2, 0.90)])
    assert (d.action, d.review_type, d.candidate_id) == ("review", "multiple_close_matches", 1)
    assert d.alternatives == ((2, 0.90),)
    # Exactly at the margin still counts as close.
    assert decide([(1, 0.9), (2, 0.8)], margin=0.1).review_type == "multiple_close_matches"
    # Just outside the margin: auto-merge.
    assert decide([(1, 0.95), (2, 0.84)]).action == "auto_merge"
    # Three close high candidates: all alternatives listed.
    d = decide([(1, 0.91), (2, 0.93), (3, 0.88), (4, 0.1)])
    assert d.candidate_id == 2 and {c for c, _ in d.alternatives} == {1, 3}
    # A wider margin turns a clear best into a close call.
    assert decide([(1, 0.95), (2, 0.8)], margin=0.2).review_type == "multiple_close_matches"


def test_decide_thresholds() -> None:
    assert decide([(1, 0.81)]).action == "auto_merge"
    d = decide([(1, 0.8)])  # auto-merge needs strictly more than the threshold
    assert (d.action, d.review_type) == ("review", "low_confidence_match")
    assert decide([(1, 0.5)]).review_type == "low_confidence_match"
    assert decide([(1, 0.49)]).action == "new"
    # Close but both low-ish: still a choice between two.
    assert decide([(1, 0.6), (2, 0.55)]).review_type == "multiple_close_matches"
    # Within the margin but below the review threshold: not a rival.
    assert decide([(1, 0.6), (2, 0.45)]).review_type == "low_confidence_match"
    # A weak candidate inside a wide margin still blocks an auto-merge.
    d = decide([(1, 0.9), (2, 0.45)], margin=0.5)
    assert (d.action, d.review_type) == ("review", "low_confidence_match")
    assert decide([(1, 0.7)], auto_threshold=0.6, review_threshold=0.3).action == "auto_merge"


def test_decide_is_robust_to_bad_scores_and_order() -> None:
    assert decide([(1, float("nan"))]).action == "new"
    assert decide([(1, 1.7)]).confidence == 1.0
    # Ties resolve deterministically (lowest id first), whatever the input order.
    assert decide([(9, 0.9), (4, 0.9)]).candidate_id == 4
    assert decide([(4, 0.9), (9, 0.9)]).candidate_id == 4
    with pytest.raises(ValueError):
        decide([(1, 0.9)], auto_threshold=0.4, review_threshold=0.5)
    with pytest.raises(ValueError):
        decide([(1, 0.9)], margin=-0.1)


def test_decide_reason_names_the_evidence() -> None:
    lat, lng = moved(PARC.lat, PARC.lng, 30)
    f = pair_features(PARC, replace(PARC, lat=lat, lng=lng, image_hashes=()))
    d = decide([(5, confidence(f))], features={5: f})
    assert d.action == "auto_merge"
    assert "same phone" in d.reason and "name 1.00" in d.reason
    chain = replace(f, house_number_eq=False, distance_m=3000.0, phone_eq=False, same_postal=False)
    d = decide([(5, confidence(chain))], features={5: chain})
    assert d.action == "new" and "against" in d.reason and "phone differs" in d.reason


# --------------------------------------------------------------------------------------------------------
# fit()
# --------------------------------------------------------------------------------------------------------


def _random_features(rng: random.Random) -> Features:
    def maybe(value: object, p_none: float = 0.2) -> object:
        return None if rng.random() < p_none else value

    return Features(
        name_jw=rng.random(),
        name_token=rng.random(),
        name_partial=rng.random(),
        address_sim=maybe(rng.random()),  # type: ignore[arg-type]
        house_number_eq=maybe(rng.random() < 0.5),  # type: ignore[arg-type]
        distance_m=maybe(10 ** rng.uniform(0, 4.5)),  # type: ignore[arg-type]
        same_postal=maybe(rng.random() < 0.5),  # type: ignore[arg-type]
        same_city=maybe(rng.random() < 0.5),  # type: ignore[arg-type]
        phone_eq=maybe(rng.random() < 0.5),  # type: ignore[arg-type]
        website_eq=maybe(rng.random() < 0.5),  # type: ignore[arg-type]
        category_compat=maybe(rng.choice((0.0, 0.3, 0.6, 1.0))),  # type: ignore[arg-type]
        image_sim=maybe(rng.uniform(0.4, 1.0), 0.5),  # type: ignore[arg-type]
    )


def test_fit_recovers_a_known_model() -> None:
    rng = random.Random(7)
    truth = {
        "name_token": 2.0,
        "name_token>0.8": 1.5,
        "address_sim": 1.0,
        "house_number_eq": 1.0,
        "house_number_differs": -1.5,
        "distance_known": 0.5,
        "distance<100m": 1.0,
        "log10_distance": -0.5,
        "phone_eq": 2.0,
        "phone_differs": -1.0,
        "website_differs": -0.8,
        "category_differs": -1.0,
        "image_sim>0.8": 1.2,
    }
    true_model = Model(weights=tuple(truth.get(t.name, 0.0) for t in TERMS), bias=-2.0)
    feats = [_random_features(rng) for _ in range(30_000)]
    pairs = [(f, rng.random() < confidence(f, true_model)) for f in feats]
    fitted = fit(pairs, l2=0.01)
    for name, weight in truth.items():
        assert fitted.named()[name] == pytest.approx(weight, abs=0.35), name
    for t, w in zip(TERMS, fitted.weights, strict=True):
        assert w * t.sign >= 0, t.name
    # Same probabilities on fresh pairs.
    fresh = [_random_features(rng) for _ in range(2_000)]
    gap = sum(abs(confidence(f, fitted) - confidence(f, true_model)) for f in fresh) / len(fresh)
    assert gap < 0.02


def test_fit_keeps_sign_constraints_against_contrary_data() -> None:
    # Data in which a phone match makes a match LESS likely: the constraint holds the weight at 0.
    rng = random.Random(3)
    pairs = []
    for _ in range(3_000):
        f = _random_features(rng)
        pairs.append((f, f.phone_eq is False))
    fitted = fit(pairs)
    assert fitted.named()["phone_eq"] == 0.0
    assert fitted.named()["phone_differs"] == 0.0


def test_fit_needs_data() -> None:
    with pytest.raises(ValueError):
        fit([])


def test_design_row_is_all_zero_when_everything_is_unknown() -> None:
    assert design_row(Features()) == [0.0] * len(TERMS)
    assert confidence(Features()) == pytest.approx(1 / (1 + math.exp(-DEFAULT_MODEL.bias)))


# --------------------------------------------------------------------------------------------------------
# Labelled data, and the default model on a held-out labelled set
# --------------------------------------------------------------------------------------------------------


@cache
def held_out() -> tuple[LabelledSet, list[LabelledPair], dict[str, list[str]]]:
    # DEFAULT_MODEL was fitted on seed 1; this set has never been seen by it.
    ls = generate(6_000, 2_000, seed=101)
    pairs, found = labelled_pairs(ls)
    return ls, pairs, found


def test_generate_is_deterministic_and_well_formed() -> None:
    a = generate(400, 200, seed=5)
    b = generate(400, 200, seed=5)
    assert a == b
    assert generate(400, 200, seed=6).incoming != a.incoming
    assert len(a.canonical) == 400 and len(a.incoming) == 200
    canonical_ids = {r["source_id"] for r in a.canonical}
    assert len(canonical_ids) == 400
    assert set(a.truth) == {r["source_id"] for r in a.incoming}
    assert sum(1 for t in a.truth.values() if t is not None) == 100
    assert all(t in canonical_ids for t in a.truth.values() if t is not None)
    assert set(a.kinds.values()) <= set(KINDS)
    for row in (*a.canonical, *a.incoming):
        assert set(row) == set(CSV_FIELDS)
        assert all(isinstance(v, str) for v in row.values())
        assert row["name"]
    # Rows go through csv as they are.
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(CSV_FIELDS))
    writer.writeheader()
    writer.writerows(a.incoming)
    assert len(list(csv.DictReader(io.StringIO(buf.getvalue())))) == 200


def test_generate_edge_cases() -> None:
    empty = generate(0, 0, seed=1)
    assert empty.canonical == [] and empty.incoming == [] and empty.truth == {}
    only_new = generate(50, 20, seed=1, dup_rate=0.0)
    assert all(t is None for t in only_new.truth.values())
    with pytest.raises(ValueError):
        generate(10, 10, seed=1, dup_rate=1.5)


def test_labelled_set_has_hard_negatives() -> None:
    ls, pairs, _ = held_out()
    kinds = set(ls.kinds.values())
    assert {"new_chain_branch", "new_neighbour", "duplicate_neighbour"} <= kinds
    by_id = {r["source_id"]: r for r in (*ls.canonical, *ls.incoming)}
    # A new chain branch shares its name with a canonical branch, never its address.
    branches = [i for i, k in ls.kinds.items() if k == "new_chain_branch"]
    canonical_names = {r["name"] for r in ls.canonical}
    assert sum(1 for i in branches if by_id[i]["name"] in canonical_names) > len(branches) / 2
    # Most new neighbours are candidates of the listing next to them, with a similar-looking record.
    neighbour_pairs = [p for p in pairs if ls.kinds[p.incoming_id] == "new_neighbour"]
    assert sum(1 for p in neighbour_pairs if p.features.house_number_eq) > 0.4 * sum(
        1 for k in ls.kinds.values() if k == "new_neighbour"
    )


def test_duplicates_carry_realistic_noise() -> None:
    ls = generate(3_000, 1_000, seed=9)
    canon = {r["source_id"]: r for r in ls.canonical}
    dups = [(r, canon[t]) for r in ls.incoming if (t := ls.truth[r["source_id"]]) is not None]
    changed = {
        field: sum(1 for inc, c in dups if inc[field] != c[field]) / len(dups)
        for field in ("name", "address1", "phone", "website", "zip", "category")
    }
    # Every field is sometimes re-typed, but most duplicates are still recognisable.
    for field, share in changed.items():
        assert 0.05 < share < 0.9, (field, share)
    assert any(inc["phone"] == "" and c["phone"] for inc, c in dups)
    # About 10% lose their pin; the others are moved, mostly by under 150 m, sometimes by ~300 m.
    pinned = [(inc, c) for inc, c in dups if c["lat"]]
    lost = sum(1 for inc, _ in pinned if not inc["lat"]) / len(pinned)
    assert 0.05 < lost < 0.15
    shifts = sorted(
        haversine_m(float(inc["lat"]), float(inc["lng"]), float(c["lat"]), float(c["lng"]))
        for inc, c in pinned
        if inc["lat"]
    )
    assert 5 < shifts[len(shifts) // 2] < 150
    assert 150 < shifts[int(len(shifts) * 0.95)] < 600


def test_trigram_similarity_matches_pg_trgm() -> None:
    # The PostgreSQL documentation's example: similarity('word', 'two words') = 0.36363637.
    assert trigram_similarity("word", "two words") == pytest.approx(0.36363637, abs=1e-6)
    assert trigram_similarity("Café", "CAFÉ") == 1.0
    assert trigram_similarity("", "x") == 0.0


def test_match_record_from_a_labelled_row() -> None:
    row = {
        "source_id": "X",
        "name": "Hôtel Le Germain",
        "category": "Hôtel",
        "address1": "2050, rue Mansfield",
        "address2": "",
        "city": "Montréal",
        "state": "QC",
        "zip": "h3a 1y9",
        "country": "CA",
        "lat": "45.5017",
        "lng": "",
        "phone": "(514) 555-0134 poste 12",
        "email": "",
        "website": "https://www.germain.example/fr/",
        "images": "",
        "image_phashes": "00ff00ff00ff00ff",
    }
    rec = match_record(row)
    assert rec.name_key == "hotel germain" and rec.address_key == "2050 mansfield"
    assert rec.house_number == "2050" and rec.postal_key == "H3A1Y9"
    assert rec.lat is None and rec.lng is None  # one coordinate alone is no location
    assert rec.phone == "+15145550134" and rec.website_host == "germain.example"
    assert rec.category == "hotel" and rec.image_hashes == ("00ff00ff00ff00ff",)


@pytest.mark.filterwarnings("ignore")
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(CSV_FIELDS), text))
def test_match_record_never_raises(row: dict[str, str]) -> None:
    rec = match_record(row)
    assert isinstance(rec, MatchRecord)


def test_default_model_is_calibrated_on_held_out_data() -> None:
    _, pairs, _ = held_out()
    scored = [(confidence(p.features), p.is_match) for p in pairs]
    # Calibration in the large: as many matches predicted as there are.
    predicted = sum(p for p, _ in scored)
    actual = sum(1 for _, y in scored if y)
    assert predicted == pytest.approx(actual, rel=0.03)
    # Reliability: the observed match rate is close to the mean score in each band. Pairs in the middle
    # are rare (most are clearly the same place or clearly not), so the middle is one band.
    for low, high, tolerance in ((0.0, 0.1, 0.01), (0.1, 0.9, 0.15), (0.9, 1.01, 0.01)):
        band = [(p, y) for p, y in scored if low <= p < high]
        assert len(band) >= 15, (low, high)
        mean_p = sum(p for p, _ in band) / len(band)
        rate = sum(1 for _, y in band if y) / len(band)
        assert abs(mean_p - rate) <= tolerance, (low, high, mean_p, rate)
    ece = sum(
        abs(sum(p for p, _ in b) - sum(1 for _, y in b if y))
        for k in range(10)
        if (b := [(p, y) for p, y in scored if k / 10 <= p < (k + 1) / 10 or (k == 9 and p == 1.0)])
    ) / len(scored)
    assert ece < 0.01


def test_default_model_meets_the_quality_targets_on_held_out_data() -> None:
    ls, pairs, found = held_out()
    by_incoming: dict[str, list[tuple[int, float]]] = {}
    index = {r["source_id"]: k for k, r in enumerate(ls.canonical)}
    for p in pairs:
        by_incoming.setdefault(p.incoming_id, []).append((index[p.canonical_id], confidence(p.features)))
    auto_ok = auto_wrong = reviews = recalled = 0
    for iid in found:
        d = decide(by_incoming.get(iid, []))
        target = ls.truth[iid]
        chosen = ls.canonical[d.candidate_id]["source_id"] if d.candidate_id is not None else None
        shown = {chosen, *(ls.canonical[c]["source_id"] for c, _ in d.alternatives)}
        if d.action == "auto_merge":
            auto_ok += chosen == target
            auto_wrong += chosen != target
            recalled += target is not None and chosen == target
        elif d.action == "review":
            reviews += 1
            recalled += target is not None and target in shown
    n_dups = sum(1 for t in ls.truth.values() if t is not None)
    assert auto_ok / (auto_ok + auto_wrong) >= 0.99
    assert recalled / n_dups >= 0.97
    assert reviews / len(ls.incoming) <= 0.10
