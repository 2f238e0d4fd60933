"""listings.transform.normalize: matching keys and display forms of every contact and location field."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from listings.fields import SOCIAL_FIELDS
from listings.transform.hashing import normalize_key
from listings.transform.normalize import (
    Phone,
    address_key,
    address_tokens,
    city_key,
    classify_social,
    fold,
    house_number,
    name_key,
    name_tokens,
    normalize_email,
    normalize_phone,
    normalize_postal,
    normalize_social,
    normalize_website,
    postal_key,
    safe_description,
    sort_social,
    split_contacts,
    split_unit,
    website_host,
)
from listings_dev.devdata import generate_listings

PROPERTY = settings(
    max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)

# ------------------------------------------------------------------------------------------------------
# Names
# ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("Café Olimpico", "cafe olimpico"),
        ("CAFÉ OLIMPICO INC.", "cafe olimpico"),
        ("L'Auberge du Vieux-Port", "l auberge du vieux port"),
        ("L’Auberge du Vieux-Port", "l auberge du vieux port"),
        ("Boulangerie St-Méthode Ltée", "boulangerie saint methode"),
        ("Boulangerie Saint-Méthode Limitée", "boulangerie saint methode"),
        ("Pâtisserie Ste-Foy enr.", "patisserie sainte foy"),
        ("St Hubert BBQ", "saint hubert bbq"),
        ("Dupont & Fils S.E.N.C.", "dupont and fils"),
        ("Dupont et Fils SENC", "dupont and fils"),
        ("Dupont and Fils, s.e.n.c.r.l.", "dupont and fils"),
        ("Tremblay et Cie", "tremblay"),
        ("Smith & Co.", "smith"),
        ("Joe's Diner", "joes diner"),
        ("Joes Diner", "joes diner"),
        ("Schwartz’s Deli", "schwartzs deli"),
        ("Bœuf & Compagnie", "boeuf and compagnie"),
        ("A&W", "a and w"),
        ("The Keg Steakhouse + Bar Ltd.", "the keg steakhouse bar"),
        ("Le Bistro SA", "le bistro"),
        ("Brasserie Müller GmbH", "brasserie muller"),
        ("Acme Holdings Pty Ltd", "acme holdings"),
        ("Acme, L.L.C.", "acme"),
        ("Wagamama PLC", "wagamama"),
        ("Les Entreprises Gagnon Inc", "les entreprises gagnon"),
        ("Hôtel & Suites Le Dauphin", "hotel and suites le dauphin"),
        ("  Crêperie   Chez\tSuzette ", "creperie chez suzette"),
        ("Straße Café", "strasse cafe"),
        ("ＣＡＦＥ ＤＵ ＰＯＲＴ", "cafe du port"),  # full-width (NFKC)
    ],
)
def test_name_key(name: str, key: str) -> None:
    assert name_key(name) == key


def test_name_key_keeps_a_suffix_that_is_the_whole_name_and_articles() -> None:
    assert name_key("Inc.") == "inc"
    assert name_key("Company") == "company"
    assert name_key("Pty Ltd") == "pty"  # "Ltd" goes, then "Pty" would be the whole name
    assert name_key("The Company") == "the"
    assert name_key("La Cage") == "la cage" and name_key("Cage") == "cage"
    assert name_key(None) == "" and name_key("") == "" and name_key(" - ") == ""


def test_name_key_agrees_with_record_hash_normalisation_on_plain_names() -> None:
    for name in ("Café Olimpico", "Musée d'archéologie de Montréal", "Gîte Le Phare Enchanté"):
        assert name_key(name) == normalize_key(name)


def test_name_tokens() -> None:
    assert name_tokens("Le Bistro de la Gare") == ["bistro", "gare"]
    assert name_tokens("The Old Mill & Co") == ["old", "mill"]
    assert name_tokens("La La") == ["la", "la"]
    assert name_tokens("A&W") == ["a", "w"]
    assert name_tokens(None) == []


def test_city_key() -> None:
    assert city_key("Montréal") == city_key("MONTREAL") == "montreal"
    assert city_key("St-Jérôme") == city_key("Saint-Jérôme") == "saint jerome"
    assert city_key("Ste-Anne-des-Monts") == "sainte anne des monts"
    assert city_key("Trois-Rivières") == "trois rivieres"
    assert city_key(None) == ""


def test_fold() -> None:
    assert fold("Œuvre Été") == "oeuvre ete"
    assert fold("L’Île") == "l'ile"
    assert fold(None) == ""


# ------------------------------------------------------------------------------------------------------
# Addresses
# ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "civic", "unit"),
    [
        ("1234, rue Saint-Denis, bureau 5", "1234, rue Saint-Denis", "bureau 5"),
        ("200-1234 rue Sherbrooke Ouest", "1234 rue Sherbrooke Ouest", "200"),
        ("#12-1234 rue Y", "1234 rue Y", "12"),
        ("A-55 rue Principale", "55 rue Principale", "A"),
        ("1 Place Ville Marie Suite 2000", "1 Place Ville Marie", "Suite 2000"),
        ("123 Main St. W., Suite 4", "123 Main St. W.", "Suite 4"),
        ("123 Main St Ste 200", "123 Main St", "Ste 200"),
        ("123 Main St #12", "123 Main St", "#12"),
        ("Unit 4, 88 King St", "88 King St", "Unit 4"),
        ("55 rue du Marché, app. 3", "55 rue du Marché", "app. 3"),
        ("55 rue du Marché App 3", "55 rue du Marché", "App 3"),
        ("400 boul. Jean-Lesage, Local A-12", "400 boul. Jean-Lesage", "Local A-12"),
        ("10 rue des Forges, porte B", "10 rue des Forges", "porte B"),
        ("10 rue des Forges (bureau 210)", "10 rue des Forges", "bureau 210"),
        ("2e étage, 1234 rue X", "1234 rue X", "2e étage"),
        ("1234 rue X, RC", "1234 rue X", "RC"),
        ("1234 rue X, rez-de-chaussée", "1234 rue X", "rez-de-chaussée"),
        ("1234 rue X, C.P. 148", "1234 rue X", "C.P. 148"),
        ("PO Box 12, 5 Bay Rd", "5 Bay Rd", "PO Box 12"),
        ("Flat 3, 12 High Street", "12 High Street", "Flat 3"),
        ("1234 rue Ste-Catherine Est", "1234 rue Ste-Catherine Est", None),  # Ste- is Sainte, not Suite
        ("1234-A rue Z", "1234-A rue Z", None),  # civic number with a letter
        ("4500 rue Notre-Dame", "4500 rue Notre-Dame", None),
        ("Suite 200", None, "Suite 200"),
        ("bureau 4", None, "bureau 4"),
        ("", None, None),
        (None, None, None),
    ],
)
def test_split_unit(address: str | None, civic: str | None, unit: str | None) -> None:
    assert split_unit(address) == (civic, unit)


def test_split_unit_quebec_form_is_canadian_only() -> None:
    assert split_unit("123-45 Main St", country="US") == ("123-45 Main St", None)  # a Queens house number
    assert split_unit("123-45 Main St", country="CA") == ("45 Main St", "123")
    assert split_unit("12 Rue de la Paix, Bât. B", country="FR") == ("12 Rue de la Paix", "Bât. B")


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("1234, rue St-Denis, bureau 5", "1234 rue saint denis"),
        ("1234 rue Saint-Denis", "1234 rue saint denis"),
        ("1234 RUE ST-DENIS", "1234 rue saint denis"),
        ("200-1234 boul. St-Laurent O.", "1234 boulevard saint laurent west"),
        ("1234 boulevard Saint-Laurent Ouest", "1234 boulevard saint laurent west"),
        ("1234 Bd St-Laurent W", "1234 boulevard saint laurent west"),
        ("1234, rue Sainte-Catherine Est", "1234 rue sainte catherine east"),
        ("1234 Ste-Catherine E.", "1234 sainte catherine east"),
        ("1234 Sainte-Catherine Street East", "1234 sainte catherine street east"),
        ("1234 Sainte-Catherine St. E.", "1234 sainte catherine street east"),
        ("123 Main St. W., Suite 4", "123 main street west"),
        ("123 Main Street West", "123 main street west"),
        ("123 Main St", "123 main street"),
        ("123 St Clair Ave E", "123 saint clair avenue east"),
        ("rue St-Denis", "rue saint denis"),
        ("123 N Main St", "123 north main street"),
        ("123 W 42nd St", "123 west 42 street"),
        ("45 1re Avenue", "45 1 avenue"),
        ("45 1ère Avenue", "45 1 avenue"),
        ("45 First Avenue", "45 1 avenue"),
        ("45 Première Avenue", "45 1 avenue"),
        ("8 2e Rue", "8 2 rue"),
        ("8 2nd Street", "8 2 street"),
        ("4000 ch. de la Côte-Ste-Catherine", "4000 chemin de la cote sainte catherine"),
        ("4000 Chem. Côte-Sainte-Catherine", "4000 chemin cote sainte catherine"),
        ("12 Rte 117 N", "12 route 117 north"),
        ("12 montée Ryan", "12 montee ryan"),
        ("12 Mtée Ryan", "12 montee ryan"),
        ("9 rue du Nord-Est", "9 rue du northeast"),
        ("9 Pl. d'Armes", "9 place d armes"),
        ("55 Dr Penfield Ave", "55 dr penfield avenue"),
        ("12 Ocean Dr", "12 ocean drive"),
        ("7 Maple Cres", "7 maple crescent"),
        ("7 Hwy 7 E", "7 highway 7 east"),
        ("1234-A rue Z", "1234a rue z"),
        ("1234A rue Z", "1234a rue z"),
        ("12 bis rue de la Paix", "12bis rue de la paix"),
        ("10 Downing St", "10 downing street"),
        ("Suite 200", ""),
        ("", ""),
        (None, ""),
    ],
)
def test_address_key(address: str | None, key: str) -> None:
    assert address_key(address) == key


def test_address_key_by_country() -> None:
    assert address_key("Hauptstr. 5a", country="DE") == "hauptstrasse 5a"
    assert address_key("Hauptstraße 5a", country="DE") == "hauptstrasse 5a"
    assert address_key("Main Str.", country="US") == "main street"


def test_address_tokens_match_across_languages() -> None:
    assert address_tokens("1234, rue Saint-Denis") == address_tokens("1234 Saint-Denis Street")
    assert address_tokens("1234 rue Sainte-Catherine Ouest") == ["1234", "sainte", "catherine", "west"]
    assert address_tokens("1234 Ste-Catherine St. W.") == ["1234", "sainte", "catherine", "west"]
    assert address_tokens("chemin de la Côte-des-Neiges") == ["cote", "neiges"]  # only the type goes
    assert address_tokens("4000 ch. de la Côte-Ste-Catherine") == address_tokens(
        "4000 Côte-Sainte-Catherine Road"
    )
    assert address_tokens("Suite 200") == []


@pytest.mark.parametrize(
    ("address", "country", "number"),
    [
        ("1234, rue Saint-Denis", "CA", "1234"),
        ("200-1234 rue X", "CA", "1234"),
        ("Suite 200, 1234 rue X", "CA", "1234"),
        ("1234-A rue X", "CA", "1234A"),
        ("1234 A rue X", "CA", "1234"),
        ("12 bis rue de la Paix", "FR", "12BIS"),
        ("2e Avenue", "CA", None),
        ("1re Avenue", "CA", None),
        ("rue Saint-Denis", "CA", None),
        ("Hauptstraße 5a", "DE", "5A"),
        ("Via Roma 12", "IT", "12"),
        ("rue du 8 mai 1945", "FR", None),
        ("Flat 3, 12 High Street", "GB", "12"),
        (None, "CA", None),
    ],
)
def test_house_number(address: str | None, country: str, number: str | None) -> None:
    assert house_number(address, country=country) == number


# ------------------------------------------------------------------------------------------------------
# Postal codes
# ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "country", "display"),
    [
        ("H2X 1Y4", "CA", "H2X 1Y4"),
        ("h2x1y4", "CA", "H2X 1Y4"),
        (" h2x-1y4 ", "CA", "H2X 1Y4"),
        ("Montréal (QC) H2X 1Y4", "CA", "H2X 1Y4"),
        ("G1R 4P5", "ca", "G1R 4P5"),
        ("D2X 1Y4", "CA", None),  # D never starts a Canadian code
        ("H2X 1O4", "CA", None),  # O is never a letter in a Canadian code
        ("H2X 1Y", "CA", None),
        ("H2X 1Y4 / H3B 2Y5", "CA", None),  # two codes: which one?
        ("12345", "US", "12345"),
        ("12345-6789", "US", "12345-6789"),
        ("123456789", "US", "12345-6789"),
        ("MA 02134", "US", "02134"),
        ("2134", "US", "02134"),  # a spreadsheet ate the leading zero
        ("2134.0", "US", "02134"),
        ("1234", "US", "01234"),
        ("123456", "US", None),
        ("75001", "FR", "75001"),
        ("F-75001", "FR", "75001"),
        ("75 001", "FR", "75001"),
        ("1000", "FR", "01000"),
        ("75008 Paris Cedex 08", "FR", "75008"),
        ("10115", "DE", "10115"),
        ("00100", "IT", "00100"),
        ("28013", "ES", "28013"),
        ("7501", "ES", "07501"),
        ("sw1a1aa", "GB", "SW1A 1AA"),
        ("SW1A 1AA", "GB", "SW1A 1AA"),
        ("EC1A 1BB", "UK", "EC1A 1BB"),
        ("M1 1AE", "GB", "M1 1AE"),
        ("SW1A 1CA", "GB", None),  # C never ends a British inward code
        ("1012ab", "NL", "1012 AB"),
        ("1012 AB", "NL", "1012 AB"),
        ("2000", "AU", "2000"),
        ("800", "AU", "0800"),
        ("100-0001", "JP", "100-0001"),
        ("  d02 x285 ", "IE", "D02 X285"),
        ("", "CA", None),
        (None, "CA", None),
        ("---", "JP", None),
    ],
)
def test_normalize_postal(value: str | None, country: str, display: str | None) -> None:
    assert normalize_postal(value, country=country) == display


def test_postal_key() -> None:
    assert postal_key("h2x 1y4") == postal_key("H2X1Y4") == "H2X1Y4"
    assert postal_key("12345-6789") == postal_key("12345") == "12345"
    assert postal_key("SW1A 1AA") == "SW1A1AA"
    assert postal_key("Montréal QC H2X 1Y4") == "MONTRÉALQCH2X1Y4"
    assert postal_key("Montréal QC H2X 1Y4", country="CA") == "H2X1Y4"
    assert postal_key("2134", country="US") == "02134"
    assert postal_key(None) == "" and postal_key("") == ""


# ------------------------------------------------------------------------------------------------------
# Phones
# ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "e164", "extension"),
    [
        ("514-555-0123", "+15145550123", None),
        ("(514) 555-0123", "+15145550123", None),
        ("+1 514 555 0123", "+15145550123", None),
        ("+1-514-555-0123", "+15145550123", None),
        ("1 514 555-0123", "+15145550123", None),
        ("5145550123", "+15145550123", None),
        ("514.555.0123", "+15145550123", None),
        ("1-800-555-0199", "+18005550199", None),
        ("514.555.0123 poste 22", "+15145550123", "22"),
        ("514 555-0123, poste 22", "+15145550123", "22"),
        ("514-555-0123 ext. 12", "+15145550123", "12"),
        ("514-555-0123 x12", "+15145550123", "12"),
        ("514-555-0123x12", "+15145550123", "12"),
        ("514-555-0123 #12", "+15145550123", "12"),
        ("tél. : 514 555 0123", "+15145550123", None),
        ("Téléphone: (418) 555-0101", "+14185550101", None),
        ("Sans frais : 1 888 555-0199", "+18885550199", None),
        ("514 555-0123 (bureau)", "+15145550123", None),
        ("5145550123.0", "+15145550123", None),
        ("5.145550123E9", "+15145550123", None),
        ("1-800-FLOWERS", "+18003569377", None),
        ("011 33 1 42 68 53 00", "+33142685300", None),
    ],
)
def test_normalize_phone_quebec(value: str, e164: str, extension: str | None) -> None:
    phone = normalize_phone(value, country="CA")
    assert phone is not None
    assert (phone.e164, phone.extension, phone.valid) == (e164, extension, True)
    assert phone.raw == value


def test_normalize_phone_formats_and_other_countries() -> None:
    assert normalize_phone("514-555-0123", country="CA") == Phone(
        "+15145550123", "(514) 555-0123", None, True, "514-555-0123"
    )
    fr = normalize_phone("01 42 68 53 00", country="FR")
    assert fr is not None and (fr.e164, fr.national) == ("+33142685300", "01 42 68 53 00")
    gb = normalize_phone("020 7946 0958", country="GB")
    assert gb is not None and gb.e164 == "+442079460958" and gb.valid
    assert normalize_phone("020 7946 0958", country="UK") == gb  # "UK" is read as GB
    us = normalize_phone("(212) 555-0100", country="US")
    assert us is not None and us.e164 == "+12125550100"
    # A +country number ignores the DMO's country.
    foreign = normalize_phone("+33 1 42 68 53 00", country="CA")
    assert foreign is not None and foreign.e164 == "+33142685300"


def test_normalize_phone_several_numbers() -> None:
    phone = normalize_phone("514-555-0101 / 514-555-0102", country="CA")
    assert phone is not None and phone.e164 == "+15145550101"
    assert [p.e164 for p in phone.others] == ["+15145550102"]
    phone = normalize_phone("(418) 555-0101 ou 418 555-0102; 1 888 555-0103", country="CA")
    assert phone is not None and phone.e164 == "+14185550101"
    assert [p.e164 for p in phone.others] == ["+14185550102", "+18885550103"]
    phone = normalize_phone("514-555-0101 / 02", country="CA")  # "02" is no number: not reported
    assert phone is not None and phone.others == ()


def test_a_slash_after_the_area_code_is_part_of_the_number() -> None:
    """A common US way of writing a phone: "310/246-1501" is one number, not "310" and "246-1501"."""
    phone = normalize_phone("310/555-0101", country="US")
    assert phone is not None and phone.e164 == "+13105550101" and phone.others == ()
    phone = normalize_phone("310/555-0101 / 310/555-0102", country="US")
    assert phone is not None and phone.e164 == "+13105550101"
    assert [p.e164 for p in phone.others] == ["+13105550102"]


def test_normalize_phone_invalid_keeps_raw() -> None:
    short = normalize_phone("555-0123", country="CA")  # 7 digits: a local number, no area code
    assert short == Phone(None, None, None, False, "555-0123")
    assert normalize_phone("12", country="CA") == Phone(None, None, None, False, "12")
    # Complete but unallocated (area code 555): E.164 given, flagged invalid.
    odd = normalize_phone("555-555-5555", country="CA")
    assert odd is not None and odd.e164 == "+15555555555" and not odd.valid
    nowhere = normalize_phone("514 555 0123", country="XX")  # no default region: "+" needed
    assert nowhere is not None and nowhere.e164 is None and not nowhere.valid
    assert normalize_phone("n/a", country="CA") is None
    assert normalize_phone("  ", country="CA") is None and normalize_phone(None, country="CA") is None


# ------------------------------------------------------------------------------------------------------
# Websites and e-mails
# ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "url"),
    [
        ("www.bistro.example", "https://www.bistro.example/"),
        ("bistro.example/menu", "https://bistro.example/menu"),
        ("http://www.Bistro.Example", "http://www.bistro.example/"),  # explicit http kept
        ("HTTPS://Bistro.Example/Menu", "https://bistro.example/Menu"),  # path case kept
        ("https://bistro.example:443/", "https://bistro.example/"),
        ("http://bistro.example:80/a", "http://bistro.example/a"),
        ("https://bistro.example:8443/a", "https://bistro.example:8443/a"),
        ("www.bistro.example:8080/a", "https://www.bistro.example:8080/a"),
        ("https://bistro.example/#reservations", "https://bistro.example/"),
        (
            "https://bistro.example/?utm_source=dmo&utm_medium=listing",
            "https://bistro.example/",
        ),
        (
            "https://bistro.example/menu?lang=fr&fbclid=IwAR0x&gclid=abc&page=2&_ga=1.2",
            "https://bistro.example/menu?lang=fr&page=2",
        ),
        ("https://bistro.example/?ref=producthunt&ref=AB123", "https://bistro.example/?ref=AB123"),
        ("https://bistro.example/?ref_src=twsrc%5Etfw", "https://bistro.example/"),
        ("https://bistro.example/?mc_cid=1&mc_eid=2&msclkid=3&yclid=4&igshid=5", "https://bistro.example/"),
        ("https://café.example/", "https://xn--caf-dma.example/"),
        ("https://bistro.example/carte des vins", "https://bistro.example/carte"),  # first of several
        ("https://bistro.example/crème", "https://bistro.example/cr%C3%A8me"),
        ("  <https://bistro.example/>  ", "https://bistro.example/"),
        ("(www.bistro.example).", "https://www.bistro.example/"),
        ("http//bistro.example", "http://bistro.example/"),
        ("https:/bistro.example", "https://bistro.example/"),
        ("//cdn.bistro.example/a", "https://cdn.bistro.example/a"),
        ("https://user:secret@bistro.example/", "https://bistro.example/"),
        ("www.a.example, www.b.example", "https://www.a.example/"),
        ("http://192.0.2.10/", "http://192.0.2.10/"),
        ("info@bistro.example", None),
        ("mailto:info@bistro.example", None),
        ("tel:+15145550123", None),
        ("javascript:alert(1)", None),
        ("n/a", None),
        ("N/A", None),
        ("-", None),
        ("aucun", None),
        ("localhost", None),
        ("bistro", None),
        ("https://[::1]/", None),
        ("", None),
        (None, None),
    ],
)
def test_normalize_website(value: str | None, url: str | None) -> None:
    assert normalize_website(value) == url


def test_website_host() -> None:
    assert website_host("https://www.bistro.example/fr/") == "bistro.example"
    assert website_host("bistro.example") == "bistro.example"
    assert website_host("http://WWW2.Bistro.example") == "bistro.example"
    assert website_host("https://shop.bistro.example") == "shop.bistro.example"
    assert website_host("n/a") is None and website_host(None) is None


@pytest.mark.parametrize(
    ("value", "email"),
    [
        ("info@bistro.example", "info@bistro.example"),
        ("Info@Bistro.Example", "Info@bistro.example"),  # local part keeps its case
        ("  mailto:Info@BISTRO.example?subject=Réservation ", "Info@bistro.example"),
        ("Réservations <resa@Hotel.Example>", "resa@hotel.example"),
        ("a@b.example; c@d.example", "a@b.example"),
        ("a@b.example / c@d.example", "a@b.example"),
        ("Courriel : info@bistro.example", "info@bistro.example"),
        ("info [at] bistro (dot) example", "info@bistro.example"),
        ("info@bistro.example.", "info@bistro.example"),
        ("jean.dupont+resa@bistro.example", "jean.dupont+resa@bistro.example"),
        ("jean@café.example", "jean@café.example"),
        ("not an email", None),
        ("info@bistro", None),
        ("info@@bistro.example", None),
        ("@bistro.example", None),
        (".info@bistro.example", None),
        ("in..fo@bistro.example", None),
        ("info@bistro..example", None),
        ("info@192.0.2.1", None),
        ("n/a", None),
        ("", None),
        (None, None),
    ],
)
def test_normalize_email(value: str | None, email: str | None) -> None:
    assert normalize_email(value) == email


# ------------------------------------------------------------------------------------------------------
# Social profiles
# ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("https://www.facebook.com/bistro", "facebook"),
        ("https://fr-ca.facebook.com/bistro/", "facebook"),
        ("m.facebook.com/bistro", "facebook"),
        ("https://fb.com/bistro", "facebook"),
        ("https://www.instagram.com/bistro/", "instagram"),
        ("https://youtu.be/abc", "youtube"),
        ("https://www.youtube.com/@bistro", "youtube"),
        ("https://www.tiktok.com/@bistro", "tiktok"),
        ("https://twitter.com/bistro", "twitter"),
        ("https://x.com/bistro", "twitter"),
        ("https://www.pinterest.ca/bistro", "pinterest"),
        ("https://www.pinterest.co.uk/bistro", "pinterest"),
        ("https://www.tripadvisor.ca/Restaurant_Review-g155032-d1-Reviews.html", "tripadvisor"),
        ("https://fr.tripadvisor.ca/Hotel_Review-g1-d2.html", "tripadvisor"),
        ("https://www.tripadvisor.com.au/Attraction_Review-g1-d2.html", "tripadvisor"),
        ("https://www.yelp.ca/biz/bistro-montreal", "yelp"),
        ("https://fr.yelp.ca/biz/bistro-montreal", "yelp"),
        ("https://www.bistro.example", None),
        ("https://box.com/x", None),  # ends with "x.com" but is not x.com
        ("https://notfacebook.com/x", None),
        ("n/a", None),
        (None, None),
    ],
)
def test_classify_social(url: str | None, kind: str | None) -> None:
    assert classify_social(url) == kind


def test_normalize_social() -> None:
    assert normalize_social("https://fr-ca.facebook.com/bistro/") == "https://www.facebook.com/bistro"
    assert normalize_social("facebook.com/bistro") == "https://www.facebook.com/bistro"
    assert normalize_social("http://m.facebook.com/bistro?ref=bookmarks") == "https://www.facebook.com/bistro"
    assert (
        normalize_social("https://www.facebook.com/profile.php?id=100012345&ref=br_rs")
        == "https://www.facebook.com/profile.php?id=100012345"
    )
    assert (
        normalize_social("https://instagram.com/bistro/?hl=fr&igshid=x") == "https://www.instagram.com/bistro"
    )
    assert normalize_social("https://mobile.twitter.com/bistro") == "https://x.com/bistro"
    assert (
        normalize_social("https://www.youtube.com/watch?v=abc&feature=share&si=x")
        == "https://www.youtube.com/watch?v=abc"
    )
    assert normalize_social("https://youtu.be/abc?si=x") == "https://youtu.be/abc"
    assert normalize_social("https://m.yelp.ca/biz/bistro") == "https://www.yelp.ca/biz/bistro"
    # Handles need the column's platform.
    assert normalize_social("@bistro") is None
    assert (
        normalize_social("@bistro.chez.emile", "instagram") == "https://www.instagram.com/bistro.chez.emile"
    )
    assert normalize_social("bistro_mtl", "twitter") == "https://x.com/bistro_mtl"
    assert normalize_social("@bistro", "tiktok") == "https://www.tiktok.com/@bistro"
    assert normalize_social("@bistro", "tripadvisor") is None  # no handles there
    assert normalize_social("n/a", "instagram") is None
    assert normalize_social("https://www.bistro.example/", "facebook") is None


def test_sort_social() -> None:
    assert sort_social(
        [
            "https://www.facebook.com/a/",
            None,
            "instagram.com/b",
            "https://www.facebook.com/c",  # a second Facebook page: the first wins
            "www.bistro.example",  # not a social profile
            "https://www.tripadvisor.fr/Restaurant_Review-g1-d2.html",
        ]
    ) == {
        "facebook": "https://www.facebook.com/a",
        "instagram": "https://www.instagram.com/b",
        "tripadvisor": "https://www.tripadvisor.fr/Restaurant_Review-g1-d2.html",
    }
    assert sort_social([]) == {}


def test_split_contacts() -> None:
    # A "website" that is a Facebook page goes to facebook.
    assert split_contacts("https://www.facebook.com/bistro", {"facebook": None, "instagram": "@bistro"}) == (
        None,
        {"facebook": "https://www.facebook.com/bistro", "instagram": "https://www.instagram.com/bistro"},
    )
    # The platform's own column wins over a page found elsewhere.
    assert split_contacts("facebook.com/other", {"facebook": "facebook.com/bistro"}) == (
        None,
        {"facebook": "https://www.facebook.com/bistro"},
    )
    # An Instagram URL typed in the Facebook column moves; contact_info's "_url" names are accepted.
    assert split_contacts(
        "www.bistro.example", {"facebook_url": "https://www.instagram.com/bistro", "instagram_url": ""}
    ) == ("https://www.bistro.example/", {"instagram": "https://www.instagram.com/bistro"})
    # A plain website in a social column becomes the website only when there is none.
    assert split_contacts(None, {"facebook": "https://bistro.example"}) == ("https://bistro.example/", {})
    assert split_contacts("https://a.example", {"facebook": "https://b.example"}) == (
        "https://a.example/",
        {},
    )
    assert split_contacts(None, {}) == (None, {})


# ------------------------------------------------------------------------------------------------------
# Descriptions
# ------------------------------------------------------------------------------------------------------


def test_safe_description() -> None:
    assert (
        safe_description("<p>Bonjour&nbsp;<b>monde</b></p><script>alert(1)</script><p>Second</p>")
        == "Bonjour monde\n\nSecond"
    )
    assert (
        safe_description("Plain text,\r\nsecond line\r\n\r\n\r\nthird") == "Plain text,\nsecond line\n\nthird"
    )
    assert safe_description("Zero\u200bwidth\ufeff, soft\u00adhyphen, bell\x07, \u202eoverride") == (
        "Zerowidth, softhyphen, bell, override"
    )
    assert safe_description("Cuisine &#8203;maison") == "Cuisine maison"  # entity of a zero-width space
    assert (
        safe_description("Chef \U0001f469\u200d\U0001f373 du jour")
        == "Chef \U0001f469\u200d\U0001f373 du jour"
    )
    assert safe_description("Prix < 20 $ & plus") == "Prix < 20 $ & plus"
    assert safe_description("  \u200b ") is None and safe_description(None) is None
    assert safe_description("<p></p>") is None


def test_safe_description_truncates_at_a_word() -> None:
    text = "Une auberge chaleureuse au cœur du village, avec vue sur le lac."
    out = safe_description(text, max_length=30)
    assert out == "Une auberge chaleureuse au…" and len(out) <= 30
    assert safe_description("x" * 50, max_length=10) == "x" * 9 + "…"  # one long word: cut inside it
    assert safe_description(text, max_length=len(text)) == text
    with pytest.raises(ValueError):
        safe_description(text, max_length=1)


# ------------------------------------------------------------------------------------------------------
# Devdata: the demo export normalises completely
# ------------------------------------------------------------------------------------------------------


def test_devdata_normalises() -> None:
    rows = generate_listings(2000, seed=1)
    for row in rows:
        if row["Phone"]:
            phone = normalize_phone(row["Phone"], country="CA")
            assert phone is not None and phone.valid and phone.e164, row["Phone"]
            assert phone.e164.startswith("+1") and len(phone.e164) == 12
        assert normalize_postal(row["Postal"], country="CA") is not None, row["Postal"]
        if row["Website"]:
            assert normalize_website(row["Website"]) is not None, row["Website"]
            assert website_host(row["Website"]) is not None
        if row["Email"]:
            assert normalize_email(row["Email"]) is not None, row["Email"]
        if row["Facebook"]:
            assert classify_social(row["Facebook"]) == "facebook", row["Facebook"]
        if row["Instagram"]:
            assert normalize_social(row["Instagram"], "instagram") is not None, row["Instagram"]
        website, socials = split_contacts(
            row["Website"], {"facebook": row["Facebook"], "instagram": row["Instagram"]}
        )
        assert (website is None) == (not row["Website"])
        assert set(socials) == {k for k in ("facebook", "instagram") if row[k.capitalize()]}
        assert address_key(row["Address1"]) and house_number(row["Address1"]), row["Address1"]
        assert name_key(row["Name"])
        if row["Address2"]:
            assert split_unit(row["Address2"])[0] is None, row["Address2"]  # always a unit alone
        description = safe_description(row["Description"])
        assert description is not None and len(description) <= 10_000


# ------------------------------------------------------------------------------------------------------
# Properties: no input raises; keys are stable
# ------------------------------------------------------------------------------------------------------

_ADDRESS_PARTS = st.sampled_from(
    [*"0123456789 -,.#/'&", "st", "ste", "St-", "rue ", "Suite ", "app. ", "bureau ", "E", "O", "Nord",
     "Est", "1er", "2e", "bis", "Inc", "Co", "et", "S.A.", "Ltée", "C.P.", "RC", "é", "ß", "ǅ", "½",
     "Côte", "Dr", "First", "Ouest", "W."]
)  # fmt: skip
ADDRESS_LIKE = st.lists(_ADDRESS_PARTS, max_size=12).map("".join)
TEXT = st.one_of(st.text(max_size=80), ADDRESS_LIKE)
COUNTRIES = st.sampled_from(["CA", "US", "FR", "GB", "DE", "NL", "AU", "JP", "XX", ""])
_URL_PARTS = st.sampled_from(
    [*"abc.-/:?=&#%@ _", "www.", "http://", "https://", ".example", ".com", "utm_source=x", "ref=", "é",
     ":443", "mailto:", "facebook.com/", "instagram.com", "youtu.be/", "@", "?id=1"]
)  # fmt: skip
URL_LIKE = st.one_of(st.text(max_size=40), st.lists(_URL_PARTS, max_size=10).map("".join))


@PROPERTY
@given(TEXT, COUNTRIES)
def test_address_functions_are_total_and_keys_stable(text: str, country: str) -> None:
    key = address_key(text, country=country)
    assert address_key(key, country=country) == key
    civic, _unit = split_unit(text, country=country)
    assert civic is None or civic.strip() == civic
    address_tokens(text, country=country)
    number = house_number(text, country=country)
    assert number is None or number[:1].isdigit()


@PROPERTY
@given(TEXT)
def test_name_keys_are_stable(text: str) -> None:
    key = name_key(text)
    assert name_key(key) == key
    assert city_key(city_key(text)) == city_key(text)
    assert set(name_tokens(text)) <= set(key.split())


@PROPERTY
@given(TEXT, COUNTRIES)
def test_postal_is_total_and_stable(text: str, country: str) -> None:
    display = normalize_postal(text, country=country)
    if display is not None:
        assert normalize_postal(display, country=country) == display
    key = postal_key(text)
    assert postal_key(key) == key and key == key.upper()
    postal_key(text, country=country)


PHONE_LIKE = st.from_regex(
    r"[+(]?1?[ .-]?\(?[2-9]\d{2}\)?[ .-]?\d{3}[ .-]?\d{4}( (poste|ext\.?|x|#) ?\d{1,4})?", fullmatch=True
)


@PROPERTY
@given(st.one_of(TEXT, PHONE_LIKE), COUNTRIES)
def test_phone_is_total_and_e164_stable(text: str, country: str) -> None:
    phone = normalize_phone(text, country=country)
    if phone is not None and phone.e164 is not None:
        again = normalize_phone(phone.e164, country=country)
        assert again is not None and again.e164 == phone.e164 and again.valid == phone.valid


@PROPERTY
@given(URL_LIKE)
def test_web_contacts_are_total_and_stable(text: str) -> None:
    url = normalize_website(text)
    if url is not None:
        assert normalize_website(url) == url
        assert website_host(url) == website_host(text) is not None
    email = normalize_email(text)
    if email is not None:
        assert normalize_email(email) == email
    social = normalize_social(text)
    if social is not None:
        assert normalize_social(social) == social and classify_social(social) is not None
    for field in SOCIAL_FIELDS:
        in_column = normalize_social(text, field)
        if in_column is not None:
            assert normalize_social(in_column, field) == in_column
    sort_social([text, None])
    split_contacts(text, {"facebook": text, "instagram_url": text, "linkedin": text})


@PROPERTY
@given(st.text(max_size=300), st.integers(min_value=2, max_value=120))
def test_description_is_total_and_bounded(text: str, max_length: int) -> None:
    out = safe_description(text, max_length=max_length)
    if out is not None:
        assert len(out) <= max_length
        assert not any(ch in out for ch in "\x00\x07\u200b\ufeff\u202e")
        assert out == out.strip()
