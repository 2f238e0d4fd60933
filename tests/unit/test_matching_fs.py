"""The Fellegi–Sunter match model, pure parts: comparison levels, EM, term frequencies, monotonicity,
explanations and storage (no database)."""

from __future__ import annotations

import json
import math
import random
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from listings.matching import fellegi_sunter as fs
from listings.matching.features import Features, build_match_record, generic_words, pair_features, with_shared
from listings.matching.scoring import confidence, decide, explain, logit, reason_for

# One representative Features value per level of each comparison (checked against the level functions).
LEVEL_VALUES: dict[str, list[dict[str, Any]]] = {
    "name": [
        {"name_jw": 1.0, "name_token": 1.0, "name_partial": 1.0},
        {"name_jw": 0.95, "name_token": 0.8, "name_partial": 0.8},
        {"name_jw": 0.85, "name_token": 0.95, "name_partial": 0.8},
        {"name_jw": 0.85, "name_token": 0.7, "name_partial": 0.95},
        {"name_jw": 0.85, "name_token": 0.7, "name_partial": 0.7},
        {"name_jw": 0.5, "name_token": 0.3, "name_partial": 0.3},
    ],
    "address": [
        {"address_sim": 1.0, "house_number_eq": True},
        {"address_sim": 0.9, "house_number_eq": True},
        {"address_sim": 0.9, "house_number_eq": None},
        {"address_sim": 0.5, "house_number_eq": True},
        {"address_sim": 0.5, "house_number_eq": None},
        {"address_sim": 0.5, "house_number_eq": False},
    ],
    "unit": [{"unit_eq": True}, {"unit_eq": False}],
    "postal": [{"same_postal": True}, {"same_postal": False}],
    "city": [{"same_city": True}, {"same_city": False}],
    "phone": [{"phone_eq": True}, {"phone_eq": False}],
    "website": [{"website_eq": True}, {"website_eq": False}],
    "distance": [{"distance_m": d} for d in (10.0, 50.0, 300.0, 1000.0, 5000.0)],
    "category": [{"category_compat": 1.0}, {"category_compat": 0.0}],
    "image": [{"image_sim": 1.0}, {"image_sim": 0.9}, {"image_sim": 0.5}],
}

# Known parameters to recover: better levels clearly more likely among matches, monotone weights.
TRUE_M = {
    "name": (0.6, 0.2, 0.08, 0.05, 0.04, 0.03),
    "address": (0.55, 0.2, 0.1, 0.07, 0.05, 0.03),
    "unit": (0.95, 0.05),
    "postal": (0.9, 0.1),
    "city": (0.95, 0.05),
    "phone": (0.8, 0.2),
    "website": (0.75, 0.25),
    "distance": (0.4, 0.3, 0.2, 0.07, 0.03),
    "category": (0.9, 0.1),
    "image": (0.6, 0.2, 0.2),
}
TRUE_U = {
    "name": (0.02, 0.03, 0.05, 0.1, 0.2, 0.6),
    "address": (0.05, 0.05, 0.1, 0.1, 0.3, 0.4),
    "unit": (0.3, 0.7),
    "postal": (0.4, 0.6),
    "city": (0.7, 0.3),
    "phone": (0.03, 0.97),
    "website": (0.05, 0.95),
    "distance": (0.1, 0.15, 0.4, 0.2, 0.15),
    "category": (0.5, 0.5),
    "image": (0.05, 0.1, 0.85),
}
UNKNOWN_SHARE = {"unit": 0.9, "phone": 0.3, "website": 0.4, "image": 0.6, "distance": 0.5, "category": 0.2}


def features_at(levels: dict[str, int | None]) -> Features:
    values: dict[str, Any] = {}
    for name, level in levels.items():
        if level is not None:
            values.update(LEVEL_VALUES[name][level])
    return Features(**values)


def simulate(n: int, prior: float, seed: int) -> list[Features]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        match = rng.random() < prior
        levels: dict[str, int | None] = {}
        for name in fs.FIELDS:
            if rng.random() < UNKNOWN_SHARE.get(name, 0.0):
                levels[name] = None
                continue
            probs = TRUE_M[name] if match else TRUE_U[name]
            levels[name] = rng.choices(range(len(probs)), weights=probs)[0]
        out.append(features_at(levels))
    return out


def test_level_values_fall_in_their_levels() -> None:
    for k, comparison in enumerate(fs.COMPARISONS):
        for level, values in enumerate(LEVEL_VALUES[comparison.field]):
            vector = fs.comparison_vector(Features(**values))
            assert vector[k] == level, (comparison.field, level, vector)
    assert fs.comparison_vector(Features()) == (-1,) * len(fs.COMPARISONS)


def test_em_recovers_known_m_u_and_prior() -> None:
    pairs = simulate(30_000, 0.3, seed=1)
    model = fs.estimate(pairs, anchor=None)
    assert model.meta["converged"]
    assert model.prior == pytest.approx(0.3, abs=0.02)
    for name in fs.FIELDS:
        assert model.params[name].m == pytest.approx(TRUE_M[name], abs=0.03), name
        assert model.params[name].u == pytest.approx(TRUE_U[name], abs=0.03), name


def test_em_anchored_on_identity_fields_recovers_them_and_shrinks_the_others() -> None:
    # The default E-step reads only name, phone, website and image, so that EM's two classes are "same
    # business" / "other" rather than "same building" / "elsewhere". Those fields are recovered; the others
    # are estimated from the identity fields' posterior alone, which blends the classes a little: their
    # weights keep their sign and order but shrink towards 0 (less evidence, never more).
    model = fs.estimate(simulate(30_000, 0.3, seed=2))
    assert model.prior == pytest.approx(0.3, abs=0.02)
    for name in fs.FIELDS:
        tol = 0.02 if name in fs.IDENTITY_FIELDS else 0.08
        assert model.params[name].m == pytest.approx(TRUE_M[name], abs=tol), name
        assert model.params[name].u == pytest.approx(TRUE_U[name], abs=tol), name
        true_w = [math.log2(m / u) for m, u in zip(TRUE_M[name], TRUE_U[name], strict=True)]
        for got, want in zip(model.weights[name], true_w, strict=True):
            if name in fs.IDENTITY_FIELDS:
                assert got == pytest.approx(want, abs=0.25), name
            else:
                assert got * want >= 0 and abs(got) <= abs(want) + 0.1, (name, got, want)


def test_em_is_deterministic_whatever_the_order_of_pairs() -> None:
    pairs = simulate(3000, 0.2, seed=3)
    shuffled = list(pairs)
    random.Random(9).shuffle(shuffled)
    a, b = fs.estimate(pairs), fs.estimate(shuffled)
    assert a.to_params() == b.to_params()


def test_too_few_pairs_keep_the_start_parameters() -> None:
    start = fs.DEFAULT_FS_MODEL
    model = fs.estimate(simulate(150, 0.5, seed=4), start=start)
    assert "kept_start" in model.meta
    assert model.prior == start.prior
    for name in fs.FIELDS:
        assert model.params[name] == start.params[name]


def test_a_thin_extreme_run_gives_no_wild_model() -> None:
    # 210 identical pairs that agree on everything: EM may not put any level at probability 0 or 1.
    same = features_at({name: 0 for name in fs.FIELDS})
    model = fs.estimate([same] * 210)
    bound = math.log2((1 - fs.EPS) / fs.EPS)
    for name in fs.FIELDS:
        p = model.params[name]
        assert all(fs.EPS <= v <= 1 - fs.EPS for v in (*p.m, *p.u))
        assert all(abs(w) <= bound + 1e-9 for w in p.weights())
    # The worse levels, never seen, stay near the start model (its prior counts as 20 pairs).
    assert model.params["name"].m[5] > 0.001


def test_monotone_pools_violators_and_bounds() -> None:
    p = fs.monotone([0.5, 0.1, 0.3, 0.1], [0.1, 0.3, 0.1, 0.5])  # level 2 would outweigh level 1
    w = p.weights()
    assert all(w[i] >= w[i + 1] for i in range(len(w) - 1))
    assert w[1] == pytest.approx(w[2])  # pooled: one ratio, sum(m) / sum(u)
    assert w[1] == pytest.approx(math.log2(0.4 / 0.4))
    # Clamped, then pooled into one block with ratio 1: both levels weigh 0.
    assert fs.monotone([0.0, 1.0], [1.0, 0.0]).weights() == pytest.approx((0.0, 0.0))


probs = st.lists(st.floats(min_value=0.0, max_value=1.0), min_size=2, max_size=6)


@given(st.data())
@settings(max_examples=200, deadline=None)
def test_monotone_property(data: st.DataObject) -> None:
    m = data.draw(probs)
    u = data.draw(st.lists(st.floats(min_value=0.0, max_value=1.0), min_size=len(m), max_size=len(m)))
    w = fs.monotone(m, u).weights()
    assert all(w[i] >= w[i + 1] - 1e-12 for i in range(len(w) - 1))
    bound = math.log2((1 - fs.EPS) / fs.EPS)
    assert all(abs(x) <= bound + 1e-9 for x in w)


def test_em_output_is_monotone_even_when_the_data_is_not() -> None:
    # Matches that mostly have a mid-range name and rarely an exact one would make "exact" weigh less.
    rng = random.Random(5)
    pairs = []
    for _ in range(2000):
        match = rng.random() < 0.3
        name = rng.choice([2, 2, 2, 0]) if match else rng.choice([0, 5, 5, 5, 5, 5])
        phone = 0 if match else 1
        pairs.append(features_at({"name": name, "phone": phone, "postal": 0}))
    model = fs.estimate(pairs)
    for name in fs.FIELDS:
        w = model.weights[name]
        assert all(w[i] >= w[i + 1] for i in range(len(w) - 1)), (name, w)


# --------------------------------------------------------------------------------------------------------
# Term frequencies
# --------------------------------------------------------------------------------------------------------


def tf_model() -> fs.FSModel:
    return replace(
        fs.DEFAULT_FS_MODEL,
        u_random_exact={"name": 0.001, "phone": 0.0005, "website": 0.001},
        tf={"name": {"starbucks": 0.02}, "phone": {"+18005550100": 0.004}, "website": {}},
    )


def test_tf_lowers_the_weight_of_a_common_exact_name_not_below_the_next_level() -> None:
    model = tf_model()
    rare = Features(name_jw=1.0, name_token=1.0, name_partial=1.0, name_value="chez marcel", same_postal=True)
    common = replace(rare, name_value="starbucks")
    w = model.weights["name"]
    assert model.contributions(rare)["name"] == pytest.approx(w[0])
    assert model.contributions(common)["name"] < w[0]
    assert model.contributions(common)["name"] == pytest.approx(max(w[0] - math.log2(20), w[1]))
    assert model.contributions(common)["name"] >= w[1]  # exact never below near-identical
    assert confidence(common, model) < confidence(rare, model)
    assert sum(v for _, v in explain(common, model)) == pytest.approx(model.match_weight(common))


def test_tf_lowers_a_shared_call_centre_phone() -> None:
    model = tf_model()
    own = Features(phone_eq=True, phone_value="+15145550123", name_jw=0.5, name_token=0.4, name_partial=0.4)
    centre = replace(own, phone_value="+18005550100")
    assert model.contributions(centre)["phone"] == pytest.approx(
        model.weights["phone"][0] - math.log2(0.004 / 0.0005)
    )
    assert model.match_weight(centre) < model.match_weight(own)


def test_a_value_several_candidates_share_weighs_less_without_any_table() -> None:
    """No term-frequency table (the default model): the candidates themselves say how common the agreeing
    name and website are; agreeing on what four listings share points at one of the four (-2 bits)."""
    model = fs.DEFAULT_FS_MODEL
    own = Features(name_jw=1.0, name_token=1.0, name_partial=1.0, name_value="escale boreale",
                   website_eq=True, website_value="escaleboreale.example")  # fmt: skip
    chain = with_shared(own, (4, 0, 4))
    assert (chain.name_shared_by, chain.phone_shared_by, chain.website_shared_by) == (4, None, 4)
    w = model.weights
    assert model.contributions(chain)["name"] == pytest.approx(max(w["name"][0] - 2.0, w["name"][1]))
    assert model.contributions(chain)["website"] == pytest.approx(w["website"][0] - 2.0)
    assert model.contributions(own)["website"] == pytest.approx(w["website"][0])
    # a count of one, or a count for a value the pair does not agree on, changes nothing
    assert with_shared(own, (1, 0, 1)) is own
    assert (
        with_shared(replace(own, website_value=None, website_eq=False), (1, 0, 5)).website_shared_by is None
    )


def test_pair_features_carry_the_shared_values() -> None:
    a = build_match_record(
        name="Starbucks", phone="+1 800 555 0100", website="https://www.starbucks.example/"
    )
    b = build_match_record(name="STARBUCKS", phone="1-800-555-0100", website="starbucks.example/ca")
    f = pair_features(a, b)
    assert (f.name_value, f.phone_value, f.website_value) == (
        "starbucks",
        "+18005550100",
        "starbucks.example",
    )
    g = pair_features(a, build_match_record(name="Starbucks Reserve", phone="+1 800 555 0199"))
    assert g.name_value is None and g.phone_value is None and g.website_value is None


def test_tf_table_keeps_values_more_common_than_chance() -> None:
    values = ["subway"] * 30 + ["starbucks"] * 10 + [f"place {i}" for i in range(960)] + [None, ""]
    table, total = fs.tf_table(values, above=0.005)
    assert total == 1000
    assert table == {"subway": 0.03, "starbucks": 0.01}


# --------------------------------------------------------------------------------------------------------
# Explanations, storage, decisions
# --------------------------------------------------------------------------------------------------------

unit = st.one_of(st.none(), st.floats(min_value=0.0, max_value=1.0))
flag = st.one_of(st.none(), st.booleans())
features = st.builds(
    Features,
    name_jw=unit,
    name_token=unit,
    name_partial=unit,
    address_sim=unit,
    house_number_eq=flag,
    distance_m=st.one_of(st.none(), st.floats(min_value=0.0, max_value=50_000.0)),
    same_postal=flag,
    same_city=flag,
    phone_eq=flag,
    website_eq=flag,
    category_compat=unit,
    image_sim=unit,
    name_value=st.sampled_from([None, "starbucks", "chez marcel"]),
    phone_value=st.sampled_from([None, "+18005550100"]),
    name_shared_by=st.sampled_from([None, 2, 40]),
)
ONE_MODEL = tf_model()  # one model for every example: its cache of level sums is read, not only filled


@given(features)
@settings(max_examples=300, deadline=None)
def test_explain_adds_up_to_the_match_weight(f: Features) -> None:
    model = ONE_MODEL
    parts = explain(f, model)
    assert parts[-1] == ("prior", pytest.approx(model.prior_weight))
    assert sum(v for _, v in parts) == pytest.approx(model.match_weight(f), abs=1e-9)
    assert logit(f, model) == pytest.approx(model.match_weight(f) * math.log(2))
    assert 0.0 <= confidence(f, model) <= 1.0
    assert "prior" not in reason_for(f, model)


def test_unknown_fields_are_neutral() -> None:
    model = fs.DEFAULT_FS_MODEL
    assert model.match_weight(Features()) == pytest.approx(model.prior_weight)
    assert explain(Features(), model) == [("prior", model.prior_weight)]
    f = features_at({"name": 0, "address": 0})
    assert model.match_weight(replace(f, phone_eq=None)) == pytest.approx(model.match_weight(f))


def test_params_round_trip_through_json() -> None:
    model = fs.estimate(simulate(1000, 0.3, seed=6), tf={"name": {"subway": 0.01}})
    back = fs.FSModel.from_params(json.loads(json.dumps(model.to_params())))
    assert back.weights == model.weights and back.prior == model.prior and back.tf == model.tf
    doc = model.to_params()
    doc["comparisons"]["name"]["levels"] = ["exact", "other"]
    with pytest.raises(ValueError, match="refit"):
        fs.FSModel.from_params(doc)
    with pytest.raises(ValueError):
        fs.FSModel.from_params({"kind": "logistic"})


# The documented defaults, on pairs a person would judge at once.
CAFE = build_match_record(
    name="Café du Parc", address1="4521, rue Saint-Denis", city="Montréal", postal="H2J 2L4",
    phone="514-555-0123", website="https://www.cafeduparc.example/", category="cafe",
)  # fmt: skip


def test_default_model_on_plain_cases() -> None:
    model = fs.DEFAULT_FS_MODEL
    same = build_match_record(name="CAFÉ DU PARC", address1="4521 St-Denis", city="Montreal",
                              postal="h2j2l4", phone="(514) 555-0123")  # fmt: skip
    assert decide([(1, confidence(pair_features(CAFE, same), model))]).action == "auto_merge"
    neighbour = build_match_record(name="Librairie Olivieri", address1="4521 rue Saint-Denis", city="Montréal",
                                   postal="H2J 2L4", phone="514-555-0999", category="bookshop")  # fmt: skip
    assert decide([(1, confidence(pair_features(CAFE, neighbour), model))]).action == "new"
    # The case: the same name, but the house numbers differ: never auto-merged.
    other_number = build_match_record(name="Café du Parc", address1="4590, rue Saint-Denis", city="Montréal",
                                      postal="H2J 2L4")  # fmt: skip
    f = pair_features(CAFE, other_number)
    assert f.house_number_eq is False
    assert decide([(1, confidence(f, model))]).action != "auto_merge"
    assert "house number differs" in reason_for(f, model)
    # Swapped word order with the same address is the same place (token set).
    a = build_match_record(name="Hotel Bel-Air", address1="701 Stone Canyon Rd", city="Los Angeles",
                           postal="90077", country="US")  # fmt: skip
    b = build_match_record(name="Bel-Air Hotel", address1="701 Stone Canyon Road", city="Los Angeles",
                           postal="90077", country="US")  # fmt: skip
    assert confidence(pair_features(a, b), model) > 0.8


def test_agreeing_location_fields_count_once() -> None:
    # Two neighbours in one building agree on address, postal code, city and pin: one fact, not four.
    model = fs.DEFAULT_FS_MODEL
    summed = replace(model, corroboration="sum")
    f = features_at({"address": 0, "postal": 0, "city": 0, "distance": 0, "name": 5})
    parts = model.contributions(f)
    agreeing = [parts[name] for name in fs.LOCATION_FIELDS if parts.get(name, 0.0) > 0]
    assert agreeing == [max(summed.contributions(f).get(name, 0.0) for name in fs.LOCATION_FIELDS)]
    assert model.match_weight(f) < summed.match_weight(f)
    assert sum(v for _, v in explain(f, model)) == pytest.approx(model.match_weight(f))
    # Every disagreement still counts.
    g = features_at({"address": 5, "postal": 1, "city": 1, "distance": 4})
    assert model.match_weight(g) == pytest.approx(summed.match_weight(g))
    assert fs.FSModel.from_params(summed.to_params()).corroboration == "sum"


def test_names_that_each_add_their_own_word_are_two_places_of_one_family() -> None:
    def rec(name: str, address: str, phone: str = "") -> Any:
        return build_match_record(name=name, address1=address, city="Montréal", postal="H2X 1Y4", phone=phone)

    model = fs.DEFAULT_FS_MODEL
    # one building, one switchboard, "Hôtel Silver" / "Hôtel Seoul": not one hotel
    f = pair_features(rec("Hôtel Silver", "7742 rue Saint-Denis", "438 555 0155"),
                      rec("Hôtel Seoul", "7742 rue Saint-Denis", "438 555 0155"))  # fmt: skip
    assert f.name_conflict is True
    decision = decide([(1, confidence(f, model))], features={1: f}, model=model)
    assert decision.action == "review"
    assert "names, house numbers or units differ" in decision.reason
    # variants are no conflict: a typo, a prefix, an abbreviation, the city in one name
    for a, b in [("Restaurant Martin", "Restaurant Martn"), ("Arts Deli", "Arts Delicatessen"),
                 ("Café St-Laurent Bistro", "Café Saint-Laurent Bistro"), ("Hôtel Aurore", "Hôtel Aurore - Montréal"),
                 ("Hôtel Aurore Centre", "Hôtel Aurore Montréal")]:  # fmt: skip
        assert pair_features(rec(a, "1 rue X"), rec(b, "1 rue X")).name_conflict is False, (a, b)


def test_a_batchs_common_words_are_no_conflict_and_a_direction_one_source_leaves_out_is_no_other_address() -> (
    None
):
    def rec(name: str, address: str = "6411 Fannin St", postal: str = "77030") -> Any:
        return build_match_record(
            name=name, address1=address, city="Houston", state="TX", postal=postal, country="US"
        )

    batch = [rec(f"{n} Medical Center") for n in ("Ben Taub", "Lakeside", "Heights")]
    batch += [rec(f"{n} Texas Hospital") for n in ("Quentin", "Mease", "Clements")]
    generic = generic_words(batch)
    assert {"medical", "center", "texas", "hospital"} <= generic and "taub" not in generic
    a, b = rec("Memorial Hermann Hospital"), rec("Memorial Hermann Texas Medical Center")
    assert pair_features(a, b).name_conflict is True  # alone, "hospital" and "medical center" are words
    assert pair_features(a, b, generic=generic).name_conflict is False
    # "1501 Coulter Rd" / "1501 South Coulter Street": one address; "100 Main St E" / "W": two
    same = pair_features(rec("X", "1501 Coulter Rd"), rec("X", "1501 South Coulter Street"))
    assert same.address_sim == 1.0 and same.house_number_eq is True
    assert (pair_features(rec("X", "100 Main St E"), rec("X", "100 Main St W")).address_sim or 0) < 0.85
