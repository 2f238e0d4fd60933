"""POI categories: the shipped vocabulary, the mapper (`Vocabulary.map`), compatibility and the stats."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from listings.transform.categories import (
    METHODS,
    CategoryMatch,
    CategoryStats,
    Vocabulary,
    VocabularyError,
    category_key,
    load_vocabulary,
)
from listings_dev.devdata import CATEGORIES, category_of, generate_listings


@pytest.fixture(scope="module")
def vocab() -> Vocabulary:
    return load_vocabulary()


# ------------------------------------------------------------------------------------ the vocabulary
def test_shipped_vocabulary_shape(vocab: Vocabulary) -> None:
    assert load_vocabulary() is vocab  # the default is cached
    assert vocab.families == [
        "lodging", "food_drink", "attraction", "activity", "retail", "entertainment", "services",
    ]  # fmt: skip
    leaves = [c for c in vocab.ids if vocab.parent(c) is not None]
    assert 40 <= len(leaves) <= 60
    assert all(vocab.is_leaf(c) for c in leaves)
    assert not any(vocab.is_leaf(f) for f in vocab.families)
    assert "hotel" in vocab.children("lodging") and vocab.family("hotel") == "lodging"
    assert vocab.family("lodging") == "lodging"
    for cat in vocab:
        assert cat.labels["en"] and cat.labels["fr"]


def test_labels(vocab: Vocabulary) -> None:
    assert vocab.label("hotel") == "Hotel"
    assert vocab.label("hotel", "fr") == "Hôtel"
    assert vocab.label("sugar_shack", "fr-CA") == "Cabane à sucre"
    assert vocab.label("bed_and_breakfast", "fr_CA") == "Gîte"
    assert vocab.label("museum", "de") == "Museum"  # unknown language: English
    with pytest.raises(KeyError):
        vocab.label("no_such_category")


def test_every_id_label_synonym_and_source_key_maps_to_its_own_category(vocab: Vocabulary) -> None:
    # The vocabulary is self-consistent: nothing it lists is shadowed by another entry or a partial match.
    wrong: list[str] = []
    for cat in vocab:
        for text in (cat.id, *cat.labels.values()):
            m = vocab.map(text)
            if (m.category, m.method) != (cat.id, "exact"):
                wrong.append(f"{text!r} -> {m}")
        for text in cat.synonyms:
            m = vocab.map(text)
            if m.category != cat.id or m.method not in ("exact", "synonym"):
                wrong.append(f"{text!r} -> {m}")
        for table, keys in cat.sources.items():
            for key in keys:
                probe = key[:-1] + "9999" if key.endswith("*") else key  # a prefix: a code below it
                m = vocab.map(probe, source_type=table)
                if (m.category, m.method) != (cat.id, "source_synonym"):
                    wrong.append(f"{table}:{key!r} -> {m}")
    assert not wrong, "\n".join(wrong)


def test_category_key_folds_case_accents_punctuation_and_plurals() -> None:
    assert category_key("  HÔTELS ") == category_key("hotel") == "hotel"
    assert category_key("Gîte (B&B)") == "gite b b"
    assert category_key("Galeries d'art") == category_key("galerie d'art") == "galery d art"
    assert category_key("Galleries") == category_key("gallery")
    assert category_key("Châteaux") == category_key("château")
    assert category_key("Bus") == "bus" and category_key("Spas") == "spa"
    assert category_key(None) == "" and category_key("—!") == ""


# ------------------------------------------------------------------------------------------- devdata
def test_devdata_categories_map(vocab: Vocabulary) -> None:
    rows = generate_listings(5000, seed=3)
    stats = CategoryStats()
    disagree: dict[tuple[str, str | None, str | None], int] = {}
    for row in rows:
        match = stats.add(vocab.map(row["Category"]))
        expected = category_of(row["Category"])
        if match.category != expected:
            key = (row["Category"], expected, match.category)
            disagree[key] = disagree.get(key, 0) + 1

    assert stats.total == 5000
    assert stats.mapped_ratio >= 0.98, f"unmapped: {stats.top_unmapped(None)}"
    # Beyond "mapped": the category is the one the generator meant (devdata's keys are vocabulary ids).
    assert sum(disagree.values()) <= 0.02 * len(rows), f"disagreements: {disagree}"
    assert stats.methods["partial"] > 0 and stats.methods["synonym"] > 0 and stats.methods["exact"] > 0


@pytest.mark.parametrize(
    ("label", "key"),
    [(label, key) for key, (fr, en) in CATEGORIES.items() for label in dict.fromkeys((*fr, *en))],
)
def test_each_devdata_label(vocab: Vocabulary, label: str, key: str) -> None:
    for variant in (label, label.upper(), label.lower()):
        assert vocab.map(variant).category == key, variant


# ----------------------------------------------------------------------------------- source tables
@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("100-1000-0000", "restaurant"),
        ("100-1000-0002", "restaurant"),  # Fine Dining, through the 100-1000-* prefix
        ("100-1100-0010", "cafe"),
        ("200-2000-0011", "bar"),
        ("200-2000-0012", "nightclub"),
        ("200-2100-0019", "cinema"),
        ("200-2300-0021", "casino"),
        ("300-3000-0023", "attraction"),
        ("300-3000-0024", "gallery"),
        ("300-3000-0065", "winery"),
        ("300-3000-0350", "brewery"),
        ("300-3100-0000", "museum"),
        ("300-3100-0029", "museum"),
        ("300-3200-0030", "religious_site"),
        ("350-3500-0235", "natural_site"),
        ("400-4100-0035", "transport"),
        ("500-5000-0000", "lodging"),
        ("500-5000-0053", "hotel"),
        ("500-5000-0054", "motel"),
        ("500-5100-0055", "hostel"),
        ("500-5100-0056", "campground"),
        ("500-5100-0057", "bed_and_breakfast"),
        ("500-5100-0058", "bed_and_breakfast"),
        ("550-5510-0202", "park"),
        ("550-5510-0205", "beach"),
        ("550-5510-0242", "viewpoint"),
        ("550-5520-0207", "amusement_park"),
        ("550-5520-0208", "zoo_aquarium"),
        ("550-5520-0212", "ski_resort"),
        ("550-5520-0999", "activity"),  # unknown level-3 id: its level-1 family
        ("600-6100-0062", "mall"),
        ("600-6300-0244", "bakery"),
        ("600-6800-0089", "retail"),
        ("700-7460-0115", "visitor_information"),
        ("800-8400-0176", "event_venue"),
        ("800-8600-0193", "golf"),
        ("800-8600-0180", "sports_venue"),
        # names, as the HERE connector maps them (`_categories.0` is the name)
        ("Hotel or Motel", "lodging"),
        ("Bar or Pub", "bar"),
        ("Coffee Shop", "cafe"),
        ("Coffee/Tea", "cafe"),
        ("Park-Recreation Area", "park"),
        ("Sights & Museums", "attraction"),
        ("Theatre, Music and Culture", "entertainment"),
        ("Leisure & Outdoor", "activity"),
        ("Tourist Attraction", "attraction"),
        ("Ski Lift", "ski_resort"),
        ("Tour Operator", "tour_operator"),
    ],
)
def test_here_categories(vocab: Vocabulary, raw: str, expected: str) -> None:
    match = vocab.map(raw, source_type="here")
    assert match.category == expected, match
    assert match.raw == raw


def test_here_source_lookup_comes_first(vocab: Vocabulary) -> None:
    assert vocab.map("500-5000-0053", source_type="here").method == "source_synonym"
    assert vocab.map("999-9999-9999", source_type="here").method == "unmapped"
    # Outside a HERE source, a HERE id still maps when it means one thing in every table.
    assert vocab.map("500-5000-0053", source_type="csv") == CategoryMatch(
        "hotel", "500-5000-0053", "source_synonym", ["hotel"]
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Hotel", "hotel"),
        ("BedAndBreakfast", "bed_and_breakfast"),
        ("LodgingBusiness", "lodging"),
        ("Campground", "campground"),
        ("Restaurant", "restaurant"),
        ("FastFoodRestaurant", "restaurant"),
        ("CafeOrCoffeeShop", "cafe"),
        ("BarOrPub", "bar"),
        ("Brewery", "brewery"),
        ("Winery", "winery"),
        ("Museum", "museum"),
        ("ArtGallery", "gallery"),
        ("TouristAttraction", "attraction"),
        ("Park", "park"),
        ("SkiResort", "ski_resort"),
        ("GolfCourse", "golf"),
        ("DaySpa", "spa"),
        ("TravelAgency", "tour_operator"),
        ("Store", "shop"),
        ("PerformingArtsTheater", "theatre"),
        ("EventVenue", "event_venue"),
        ("TouristInformationCenter", "visitor_information"),
        ("LandmarksOrHistoricalBuildings", "historic_site"),
    ],
)
def test_schema_org_types(vocab: Vocabulary, raw: str, expected: str) -> None:
    assert vocab.map(raw, source_type="website").category == expected


def test_schema_org_generic_types_stay_unmapped(vocab: Vocabulary) -> None:
    # LocalBusiness says nothing about the kind of place: it must show up in the unmapped report.
    assert vocab.map("LocalBusiness", source_type="website") == CategoryMatch(
        None, "LocalBusiness", "unmapped"
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("tourism=hotel", "hotel"),
        ("tourism=guest_house", "bed_and_breakfast"),
        ("tourism=camp_site", "campground"),
        ("tourism=museum", "museum"),
        ("tourism=viewpoint", "viewpoint"),
        ("tourism=information", "visitor_information"),
        ("amenity=cafe", "cafe"),
        ("amenity=restaurant", "restaurant"),
        ("amenity=pub", "bar"),
        ("amenity=place_of_worship", "religious_site"),
        ("leisure=park", "park"),
        ("leisure=golf_course", "golf"),
        ("natural=beach", "beach"),
        ("natural=peak", "natural_site"),  # natural=* prefix
        ("historic=castle", "historic_site"),  # historic=* prefix
        ("shop=bakery", "bakery"),  # exact beats the shop=* prefix
        ("shop=cheese", "specialty_food"),
        ("shop=gift", "shop"),
        ("SHOP = Gift", "shop"),
        ("craft=brewery", "brewery"),
        ("craft=pottery", "craft_artisan"),
    ],
)
def test_osm_tags(vocab: Vocabulary, raw: str, expected: str) -> None:
    match = vocab.map(raw, source_type="esri")
    assert (match.category, match.method) == (expected, "source_synonym")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Hotel", "hotel"),
        ("Bed & Breakfast", "bed_and_breakfast"),
        ("Motel", "motel"),
        ("Campground", "campground"),
        ("apartment", "vacation_rental"),
        ("Villa", "vacation_rental"),
        ("resort", "resort"),
        ("Hostel", "hostel"),
        ("Guided tour", "tour_operator"),
        ("Outdoor activity", "outdoor_activity"),
        ("Spa & wellness", "spa"),
        ("Skiing", "ski_resort"),
        ("Attraction", "attraction"),
    ],
)
def test_affiliate_api_values(vocab: Vocabulary, raw: str, expected: str) -> None:
    assert vocab.map(raw, source_type="api").category == expected


def test_source_type_names_and_tables(vocab: Vocabulary) -> None:
    assert vocab.source_tables("here") == ("here",)
    assert vocab.source_tables("website") == ("schema_org",)
    assert vocab.source_tables("schema_org") == ("schema_org",)  # a table name stands for itself
    assert vocab.source_tables("csv") == () and vocab.source_tables(None) == ()
    assert vocab.map("Hôtel", source_type="no-such-source").category == "hotel"


# ---------------------------------------------------------------------------------- DMO synonyms
def test_dmo_synonyms_override_everything(vocab: Vocabulary) -> None:
    table = {"Gîte": "vacation_rental", "500-5000-0053": "resort", "Économusée": "museum"}
    # In France a gîte is a holiday cottage: a French DMO says so in its own table.
    assert vocab.map("GÎTES", extra_synonyms=table) == CategoryMatch(
        "vacation_rental", "GÎTES", "dmo_synonym", ["vacation_rental"]
    )
    assert vocab.map("500-5000-0053", source_type="here", extra_synonyms=table).category == "resort"
    assert vocab.map("economusee", extra_synonyms=table).category == "museum"
    # Not in the table: the normal order applies.
    assert vocab.map("Hôtel", extra_synonyms=table).method == "exact"
    assert vocab.map(["Attraits", "Gîte"], extra_synonyms=table).category == "vacation_rental"


def test_dmo_synonyms_to_unknown_categories_are_ignored_and_reported(vocab: Vocabulary) -> None:
    table = {"Gîte": "cottage", "Cabane": "sugar_shack", "!!!": "hotel", "Cabanes": "hotel"}
    assert vocab.map("Gîte", extra_synonyms=table).category == "bed_and_breakfast"
    assert vocab.map("Cabane", extra_synonyms=table).category == "sugar_shack"
    errors = vocab.check_synonyms(table)
    assert len(errors) == 3, errors
    assert "'Gîte' maps to unknown category 'cottage'" in errors[0]
    assert "'!!!'" in errors[1]
    assert "'Cabanes'" in errors[2] and "'sugar_shack'" in errors[2]
    assert vocab.check_synonyms({"Chalet": "vacation_rental"}) == []


# ---------------------------------------------------------------------------------- partial / text
@pytest.mark.parametrize(
    ("raw", "expected", "candidates"),
    [
        ("Restaurant gastronomique et bar à vins", "restaurant", ["restaurant", "bar"]),
        ("Hébergement - Hôtel", "hotel", ["hotel", "lodging"]),  # the leaf beats its family
        ("Attraits / Musée", "museum", ["museum", "attraction"]),
        ("Musée et centre d'interprétation", "museum", ["museum"]),
        ("Station de ski alpin familiale", "ski_resort", ["ski_resort"]),
        ("Érablière et cabane à sucre traditionnelle", "sugar_shack", ["sugar_shack"]),
        ("Boutique hotel with rooftop restaurant", "hotel", ["hotel", "restaurant"]),  # longest at a position
        ("Parc d'attractions et glissades d'eau", "amusement_park", ["amusement_park"]),
        ("Camping municipal**", "campground", ["campground"]),  # France
        ("Ristorante Pizzeria", "restaurant", ["restaurant"]),  # Italy
        ("Hotel & Restaurant zum Hirschen", "hotel", ["hotel", "restaurant"]),  # Germany
        ("Cosy bed and breakfast in the Cotswolds", "bed_and_breakfast", ["bed_and_breakfast"]),  # UK
        ("Hébergement touristique — divers", "lodging", ["lodging"]),  # only a family is named
    ],
)
def test_partial_matches(vocab: Vocabulary, raw: str, expected: str, candidates: list[str]) -> None:
    match = vocab.map(raw)
    assert match == CategoryMatch(expected, raw, "partial", candidates)


def test_partial_needs_whole_words(vocab: Vocabulary) -> None:
    assert vocab.map("Barbershop").method == "unmapped"  # neither "bar" nor "shop"
    assert vocab.map("Sparkling water").method == "unmapped"  # not "spa"
    assert vocab.map("Supermarché").method == "unmapped"  # not "marché"


def test_case_accents_punctuation_insensitive(vocab: Vocabulary) -> None:
    for raw in (
        "CABANE À SUCRE",
        "cabane a sucre",
        "Cabane-à-sucre",
        "  cabane  à  sucre!! ",
        "Cabanes à sucre",
    ):
        assert vocab.map(raw).category == "sugar_shack", raw
    assert vocab.map("Café-Bistro").category == "cafe"
    assert vocab.map("Microbrasseries").category == "brewery"
    assert vocab.map("Parc national").category == "park"
    assert vocab.map("Centre de ski").category == "ski_resort"
    assert vocab.map("Vignoble").category == "winery"
    assert vocab.map("Auberge").category == "hotel"
    assert vocab.map("Auberge de jeunesse").category == "hostel"
    assert vocab.map("Bar laitier").category == "cafe"  # a Québec dairy bar is not a bar


# --------------------------------------------------------------------------------------------- lists
def test_lists_pick_the_first_mapped_leaf(vocab: Vocabulary) -> None:
    assert vocab.map(["Restaurant", "Bar"]) == CategoryMatch(
        "restaurant", "Restaurant", "exact", ["restaurant", "bar"]
    )
    # A family first and a leaf after: the leaf, the family kept in candidates.
    assert vocab.map(["Attraits", "Musée"]) == CategoryMatch(
        "museum", "Musée", "exact", ["museum", "attraction"]
    )
    # Unmapped and empty values are skipped; duplicates are seen once.
    assert vocab.map(["", None, "Zorglub", "  Hôtel ", "Hôtel"]) == CategoryMatch(  # type: ignore[list-item]
        "hotel", "Hôtel", "exact", ["hotel"]
    )
    # Only families: the first.
    assert vocab.map(("Hébergement", "Attraits")).category == "lodging"
    assert vocab.map(["Zorglub"]).raw == "Zorglub"


def test_unmapped_list_keeps_every_raw_value(vocab: Vocabulary) -> None:
    assert vocab.map(["Zorglub", "", "Blorp"]) == CategoryMatch(None, "Zorglub | Blorp", "unmapped")


# ---------------------------------------------------------------------------------- unmapped / empty
def test_unmapped_keeps_raw(vocab: Vocabulary) -> None:
    assert vocab.map("  Sehenswürdigkeit ") == CategoryMatch(None, "Sehenswürdigkeit", "unmapped")
    assert vocab.map("Hair & Beauty", source_type="here").method == "unmapped"
    assert vocab.map(42).raw == "42"  # type: ignore[arg-type]  # spreadsheets give numbers


@pytest.mark.parametrize("raw", [None, "", "   ", [], [None, "", " "], ()])
def test_empty(vocab: Vocabulary, raw: object) -> None:
    assert vocab.map(raw) == CategoryMatch(None, None, "empty")  # type: ignore[arg-type]


def test_punctuation_only_is_unmapped_not_empty(vocab: Vocabulary) -> None:
    # There was text; a report should show it.
    assert vocab.map("—") == CategoryMatch(None, "—", "unmapped")


# ------------------------------------------------------------------------------------------- stats
def test_stats(vocab: Vocabulary) -> None:
    stats = CategoryStats()
    raws = ["Hôtel", "Hôtel", "Zorglub", "zorglub", "Zorglub", None, "Restaurant gastronomique", "x" * 500]
    stats.update(vocab.map(r) for r in raws)
    assert stats.total == 8
    assert stats.methods == {"exact": 2, "unmapped": 4, "empty": 1, "partial": 1}
    assert stats.categories == {"hotel": 2, "restaurant": 1}
    assert stats.mapped == 3 and stats.mapped_ratio == pytest.approx(3 / 7)
    assert stats.top_unmapped(2) == [("Zorglub", 2), ("x" * 199 + "…", 1)]
    report = stats.as_dict()
    assert json.loads(json.dumps(report)) == report
    assert report["by_method"] == {"exact": 2, "partial": 1, "unmapped": 4, "empty": 1}
    assert report["unmapped_distinct"] == 3
    assert report["unmapped"][0] == {"raw": "Zorglub", "count": 2}

    other = CategoryStats()
    other.add(vocab.map("Zorglub"))
    stats.merge(other)
    assert stats.total == 9 and stats.unmapped["Zorglub"] == 3
    assert CategoryStats().mapped_ratio == 1.0


# -------------------------------------------------------------------------------------- compatibility
@pytest.mark.parametrize(
    ("a", "b", "score"),
    [
        ("hotel", "hotel", 1.0),
        ("hotel", "motel", 0.6),  # same family
        ("lodging", "hotel", 0.6),  # a family and its member
        ("hotel", "restaurant", 0.3),  # lodging + food_drink: a hotel restaurant
        ("bar", "theatre", 0.3),  # food_drink + entertainment
        ("beach", "water_activity", 0.3),  # attraction + activity
        ("park", "outdoor_activity", 0.6),  # a category pair overrides its families' 0.3
        ("gallery", "craft_artisan", 0.6),  # a category pair
        ("bar", "nightclub", 0.6),
        ("hotel", "museum", 0.0),
        ("golf", "cinema", 0.0),
        ("hotel", None, 0.5),
        (None, None, 0.5),
        ("hotel", "not_a_category", 0.5),
    ],
)
def test_compatible(vocab: Vocabulary, a: str | None, b: str | None, score: float) -> None:
    assert vocab.compatible(a, b) == score
    assert vocab.compatible(b, a) == score


# ------------------------------------------------------------------------------------ YAML validation
GOOD = """
source_types: {here: [here]}
co_located: [[lodging, food]]
categories:
  - {id: lodging, label: {en: Lodging, fr: Hébergement}}
  - {id: hotel, parent: lodging, label: {en: Hotel, fr: Hôtel}, synonyms: [auberge],
     sources: {here: ["500-5000-0053", "500-*"]}}
  - {id: food, label: {en: Food, fr: Restauration}}
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "categories.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_load_from_path(tmp_path: Path) -> None:
    vocab = load_vocabulary(_write(tmp_path, GOOD))
    assert vocab.ids == ["lodging", "hotel", "food"]
    assert vocab.map("Auberges").category == "hotel"
    assert vocab.map("500-1234-0000", source_type="here").category == "hotel"
    assert vocab.compatible("hotel", "food") == 0.3


@pytest.mark.parametrize(
    ("text", "messages"),
    [
        (
            GOOD + "  - {id: hotel, label: {en: Hotel 2, fr: Hôtel 2}}\n",
            ["category 'hotel': duplicate id"],
        ),
        (
            GOOD + "  - {id: bar, parent: drinks, label: {en: Bar, fr: Bar}}\n",
            ["category 'bar': unknown parent 'drinks'"],
        ),
        (
            GOOD + "  - {id: inn, parent: lodging, label: {en: Inn, fr: Gîte}, synonyms: [Auberges]}\n",
            ["category 'inn': synonym 'Auberges' is also 'auberge' of category 'hotel'"],
        ),
        (
            GOOD + "  - {id: motel, parent: lodging, label: {en: HOTEL, fr: Motel}}\n",
            ["category 'motel': label 'HOTEL' is also 'hotel' of category 'hotel'"],
        ),
        (
            GOOD + "  - {id: suite, parent: hotel, label: {en: Suite, fr: Suite}}\n",
            ["category 'suite': parent 'hotel' is itself a child (two levels only)"],
        ),
        (
            GOOD + "  - {id: spa, label: {en: Spa, fr: Spa}, synonyms: [yes, 2024]}\n",
            ["category 'spa': synonyms: True is not text (quote it in the YAML)", "2024 is not text"],
        ),
        (
            GOOD + "  - {id: spa, label: {en: Spa}}\n",
            ["category 'spa': label missing for fr"],
        ),
        (
            GOOD + "  - {id: Spa Bar, label: {en: Spa, fr: Spa}}\n",
            ["category 'Spa Bar': id must be lowercase letters, digits and _"],
        ),
        (
            GOOD + "  - {id: spa, label: {en: Spa, fr: Spa}, synonyms: ['spa*']}\n",
            ["category 'spa': synonym 'spa*': '*' is only for `sources` tables"],
        ),
        (
            GOOD + "  - {id: spa, label: {en: Spa, fr: Spa}, sources: {osm: [leisure=sauna]}}\n",
            ["category 'spa': sources table 'osm' is not used by any source type"],
        ),
        (
            GOOD + "  - {id: spa, label: {en: Spa, fr: Spa}, sources: {here: ['500-5000-0053']}}\n",
            ["category 'spa': sources.here '500-5000-0053' is also '500-5000-0053' of category 'hotel'"],
        ),
        (
            GOOD + "  - {id: spa, label: {en: Spa, fr: Spa}, colour: blue}\n",
            ["category 'spa': unknown key(s) colour"],
        ),
        (
            GOOD.replace("[[lodging, food]]", "[[lodging, drinks], [lodging, food, 3]]"),
            [
                "co_located ['drinks', 'lodging']: unknown category 'drinks'",
                "score 3.0 is not between 0 and 1",
            ],
        ),
        ("categories: []\n", ["`categories` must be a non-empty list"]),
        ("- just a list\n", ["the file must be a mapping with a `categories` list"]),
        ("categories: [\n", ["not valid YAML"]),
    ],
)
def test_validation_errors_name_the_entry(tmp_path: Path, text: str, messages: list[str]) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(VocabularyError) as info:
        load_vocabulary(path)
    for message in messages:
        assert message in str(info.value), str(info.value)
    assert str(path) in str(info.value)
    assert isinstance(info.value, ValueError)


def test_validation_reports_every_problem_at_once(tmp_path: Path) -> None:
    text = GOOD + (
        "  - {id: hotel, label: {en: X, fr: X}}\n"
        "  - {id: bar, parent: drinks, label: {en: Bar, fr: Bar}}\n"
        "  - {id: spa, label: {en: Spa, fr: Spa}, synonyms: [no]}\n"
    )
    with pytest.raises(VocabularyError) as info:
        load_vocabulary(_write(tmp_path, text))
    assert len(info.value.errors) == 3, info.value.errors


# ---------------------------------------------------------------------------------------- properties
_texts = st.text(alphabet=st.characters(codec="utf-8"), max_size=80) | st.sampled_from(
    ["Hôtel", "Gîte (B&B)", "tourism=hotel", "500-5000-0053", "shop=*", "*", "=", "-", "ß", "İ", "\u0301"]
)
_raws = st.none() | _texts | st.lists(st.none() | _texts, max_size=5)
_sources = st.none() | st.sampled_from(["here", "esri", "website", "api", "csv", "osm", "", "nope"])
_dmo = st.none() | st.dictionaries(_texts, st.sampled_from(["hotel", "park", "nope", ""]), max_size=3)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=_raws, source_type=_sources, dmo=_dmo)
def test_map_never_raises(
    vocab: Vocabulary, raw: object, source_type: str | None, dmo: dict[str, str] | None
) -> None:
    match = vocab.map(raw, source_type=source_type, extra_synonyms=dmo)  # type: ignore[arg-type]
    assert match.method in METHODS
    if match.category is None:
        assert match.candidates == []
        assert (match.raw is None) == (match.method == "empty")
    else:
        assert match.category in vocab
        assert match.candidates[0] == match.category
        assert all(c in vocab for c in match.candidates)
        assert match.raw
    CategoryStats().add(match)


@settings(max_examples=200, deadline=None)
@given(raw=_texts, noise=st.sampled_from(["", " ", "!", "  ...", "\t"]))
def test_map_ignores_case_and_surrounding_noise(vocab: Vocabulary, raw: str, noise: str) -> None:
    plain = vocab.map(raw)
    noisy = vocab.map(noise + raw.upper() + noise)
    if plain.method != "empty" and raw.upper().lower() == raw.lower():  # case round-trips (not "ß", "İ")
        assert noisy.category == plain.category
