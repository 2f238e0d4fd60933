"""Realistic, deterministic listings that look like a Québec DMO export: for demos, tests and benchmarks.

`generate_listings(n, seed=...)` returns rows keyed by `CSV_COLUMNS` (all values are strings, empty when
missing), the way a destination marketing organisation's CSV export looks: French and English business
names with accents and apostrophes, civic addresses with French street types, postal codes of the city's
real forward sortation areas (written inconsistently), phones in mixed formats, reserved domains only
(`.example`, `example.com`, `images.example.org`), coordinates inside each city's bounding box, and
free-text hours. About 2% of rows are branches of a few fictional chains (same name, other addresses).
`demo_image_urls` builds image URLs on the demo's own image host: the demo sites and the bundled samples
use it instead of the rows' `Images` (whose count they keep).

Only the standard library is used, and the output depends only on the arguments: the same seed gives the
same rows on every machine (no `hash()`, no set iteration, one `random.Random` per call). The first `k`
rows of `generate_listings(n)` are `generate_listings(k)` for `k <= n`.

Phone numbers use the fictional 555-01xx range; business names are assembled from common words, first
names, family names and place names, never from real trademarks on purpose.
"""

from __future__ import annotations

import bisect
import csv
import itertools
import random
import re
import unicodedata
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "CATEGORIES",
    "CITIES",
    "CSV_COLUMNS",
    "DEMO_IMAGE_HOST",
    "LAURENTIDES",
    "City",
    "UniqueSlugs",
    "category_label",
    "category_of",
    "demo_image_urls",
    "describe",
    "generate_listings",
    "opening_hours",
    "phone_number",
    "slugify",
    "write_csv",
]

CSV_COLUMNS: list[str] = [
    "ID",
    "Name",
    "Category",
    "Address1",
    "Address2",
    "City",
    "Province",
    "Postal",
    "Country",
    "Phone",
    "Email",
    "Website",
    "Facebook",
    "Instagram",
    "Latitude",
    "Longitude",
    "Description",
    "Hours",
    "Images",
]


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


# --------------------------------------------------------------------------------------------------------
# Cities
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class City:
    name: str
    weight: float
    lat: tuple[float, float]
    lng: tuple[float, float]
    fsas: tuple[str, ...]  # real forward sortation areas (first three characters of the postal code)
    area_codes: tuple[str, ...]
    districts: tuple[str, ...]  # neighbourhoods / sectors
    streets: tuple[str, ...]  # "type name" as Canada Post writes it in French
    big: bool = False  # has named neighbourhoods worth mentioning in descriptions


_MTL_FSAS = _words(
    "H1A H1B H1E H1G H1H H1J H1K H1L H1M H1N H1P H1R H1S H1T H1V H1W H1X H1Y H1Z H2A H2B H2C H2E H2G "
    "H2H H2J H2K H2L H2M H2N H2P H2R H2S H2T H2V H2W H2X H2Y H2Z H3A H3B H3C H3E H3G H3H H3J H3K H3L "
    "H3M H3N H3P H3R H3S H3T H3V H3W H3X H4A H4B H4C H4E H4G H4H H4J H4K H4L H4M H4N H4P H4R H4S H4T "
    "H4V H4W H4X H4Y H4Z H8N H8P H8R H8S H8T H8Y H8Z H9A H9B H9C H9E H9G H9H H9J H9K H9P H9R H9S H9W H9X"
)

CITIES: dict[str, City] = {
    c.name: c
    for c in (
        City(
            "Montréal",
            35,
            (45.41, 45.70),
            (-73.97, -73.48),
            tuple(_MTL_FSAS),
            ("514", "438"),
            (
                "Plateau-Mont-Royal",
                "Mile End",
                "Vieux-Montréal",
                "Griffintown",
                "Rosemont",
                "Villeray",
                "Hochelaga",
                "Outremont",
                "Verdun",
                "Saint-Henri",
                "Petite-Italie",
                "Quartier latin",
                "Centre-Sud",
                "Notre-Dame-de-Grâce",
                "Côte-des-Neiges",
                "Ahuntsic",
                "Petite-Patrie",
                "Pointe-Saint-Charles",
                "Quartier chinois",
                "Parc-Extension",
                "Lachine",
                "Centre-ville",
            ),
            (
                "rue Sainte-Catherine Ouest",
                "rue Sainte-Catherine Est",
                "boulevard Saint-Laurent",
                "rue Saint-Denis",
                "avenue du Parc",
                "avenue du Mont-Royal Est",
                "rue Sherbrooke Ouest",
                "rue Sherbrooke Est",
                "rue Notre-Dame Ouest",
                "rue Saint-Paul Ouest",
                "rue de la Commune Est",
                "avenue Laurier Ouest",
                "rue Bernard Ouest",
                "rue Saint-Viateur Ouest",
                "boulevard René-Lévesque Ouest",
                "rue Peel",
                "rue Crescent",
                "rue Masson",
                "rue Beaubien Est",
                "rue Jean-Talon Est",
                "rue Ontario Est",
                "rue Wellington",
                "avenue Duluth Est",
                "rue Rachel Est",
                "avenue Papineau",
                "rue De Bleury",
                "avenue Greene",
                "rue Saint-Hubert",
                "boulevard De Maisonneuve Ouest",
                "chemin de la Côte-des-Neiges",
                "avenue Monkland",
                "rue Saint-Jacques",
                "rue Amherst",
                "avenue Fairmount Ouest",
                "rue Dante",
                "rue Ottawa",
                "boulevard Saint-Joseph Est",
                "rue Fleury Est",
            ),
            big=True,
        ),
        City(
            "Québec",
            15,
            (46.73, 46.98),
            (-71.55, -71.15),
            _words(
                "G1B G1C G1E G1G G1H G1J G1K G1L G1M G1N G1P G1R G1S G1T G1V G1W G1X G1Y G2A G2B G2C G2E "
                "G2G G2J G2K G2L G2M G2N"
            ),
            ("418", "581"),
            (
                "Vieux-Québec",
                "Saint-Roch",
                "Limoilou",
                "Montcalm",
                "Sillery",
                "Saint-Jean-Baptiste",
                "Saint-Sauveur",
                "Petit-Champlain",
                "Sainte-Foy",
                "Charlesbourg",
                "Beauport",
                "Vieux-Port",
            ),
            (
                "rue Saint-Jean",
                "Grande Allée Est",
                "rue Saint-Joseph Est",
                "boulevard Charest Est",
                "rue du Petit-Champlain",
                "rue Saint-Paul",
                "3e Avenue",
                "chemin Sainte-Foy",
                "boulevard Laurier",
                "côte de la Fabrique",
                "avenue Cartier",
                "rue Saint-Louis",
                "rue Sous-le-Fort",
                "rue Dalhousie",
                "boulevard René-Lévesque Ouest",
                "avenue Maguire",
                "rue Saint-Vallier Est",
                "boulevard Wilfrid-Hamel",
                "avenue Royale",
                "rue du Trésor",
                "rue Sainte-Anne",
                "rue De Buade",
                "rue Saint-Pierre",
                "boulevard Champlain",
            ),
            big=True,
        ),
        City(
            "Laval",
            5,
            (45.52, 45.69),
            (-73.88, -73.53),
            _words("H7A H7B H7C H7E H7G H7H H7J H7K H7L H7M H7N H7P H7R H7S H7T H7V H7W H7X H7Y"),
            ("450", "579"),
            (
                "Chomedey",
                "Sainte-Rose",
                "Vimont",
                "Sainte-Dorothée",
                "Laval-des-Rapides",
                "Pont-Viau",
                "Auteuil",
                "Fabreville",
            ),
            (
                "boulevard Le Corbusier",
                "boulevard Saint-Martin Ouest",
                "boulevard des Laurentides",
                "boulevard Chomedey",
                "boulevard de la Concorde Est",
                "avenue Terry-Fox",
                "boulevard Curé-Labelle",
                "boulevard Lévesque Est",
                "boulevard Daniel-Johnson",
                "boulevard Sainte-Rose",
            ),
            big=True,
        ),
        City(
            "Longueuil",
            4,
            (45.46, 45.58),
            (-73.52, -73.38),
            ("J4G", "J4H", "J4J", "J4K", "J4L", "J4M", "J4N", "J3Y", "J4T"),
            ("450", "579"),
            ("Vieux-Longueuil", "Saint-Hubert", "Greenfield Park", "LeMoyne"),
            (
                "rue Saint-Charles Ouest",
                "chemin de Chambly",
                "boulevard Taschereau",
                "boulevard Roland-Therrien",
                "rue Saint-Laurent Ouest",
                "boulevard Jacques-Cartier Est",
                "rue Saint-Jean",
                "boulevard Cousineau",
            ),
            big=True,
        ),
        City(
            "Gatineau",
            5,
            (45.41, 45.53),
            (-75.90, -75.50),
            ("J8L", "J8M", "J8P", "J8R", "J8T", "J8V", "J8X", "J8Y", "J8Z", "J9A", "J9H", "J9J"),
            ("819", "873"),
            ("Hull", "Vieux-Hull", "Aylmer", "Buckingham", "Masson-Angers", "Plateau", "Touraine"),
            (
                "rue Laval",
                "boulevard Saint-Joseph",
                "rue Principale",
                "boulevard Maloney Ouest",
                "rue Montcalm",
                "promenade du Portage",
                "boulevard Alexandre-Taché",
                "chemin d'Aylmer",
                "boulevard Gréber",
                "rue Eddy",
            ),
            big=True,
        ),
        City(
            "Sherbrooke",
            4,
            (45.34, 45.46),
            (-72.01, -71.83),
            ("J1C", "J1E", "J1G", "J1H", "J1J", "J1K", "J1L", "J1M", "J1N"),
            ("819", "873"),
            ("Centre-ville", "Lennoxville", "Fleurimont", "Jacques-Cartier", "Rock Forest", "Vieux-Nord"),
            (
                "rue King Ouest",
                "rue Wellington Nord",
                "rue Wellington Sud",
                "boulevard de Portland",
                "rue Frontenac",
                "rue Belvédère Nord",
                "boulevard Jacques-Cartier Nord",
                "rue Galt Ouest",
                "rue Dufferin",
            ),
            big=True,
        ),
        City(
            "Trois-Rivières",
            4,
            (46.30, 46.41),
            (-72.68, -72.47),
            ("G8T", "G8V", "G8W", "G8Y", "G8Z", "G9A", "G9B", "G9C"),
            ("819", "873"),
            ("Centre-ville", "Cap-de-la-Madeleine", "Trois-Rivières-Ouest", "Pointe-du-Lac", "Platon"),
            (
                "rue des Forges",
                "rue Notre-Dame Centre",
                "boulevard des Forges",
                "rue Royale",
                "rue Hart",
                "boulevard du Saint-Maurice",
                "rue Badeaux",
                "boulevard des Récollets",
                "rue Bonaventure",
            ),
            big=True,
        ),
        City(
            "Lévis",
            2,
            (46.68, 46.83),
            (-71.32, -71.05),
            ("G6V", "G6W", "G6X", "G6Y", "G6Z", "G6J", "G6K", "G7A"),
            ("418", "581"),
            ("Vieux-Lévis", "Desjardins", "Saint-Romuald", "Charny", "Saint-Nicolas"),
            (
                "rue Saint-Laurent",
                "côte du Passage",
                "boulevard Guillaume-Couture",
                "rue Commerciale",
                "route des Rivières",
                "rue Wolfe",
            ),
        ),
        City(
            "Magog",
            2,
            (45.23, 45.30),
            (-72.20, -72.09),
            ("J1X",),
            ("819", "873"),
            ("Centre-ville", "Omerville"),
            ("rue Principale Ouest", "rue Merry Nord", "chemin de la Rivière-aux-Cerises", "rue Sherbrooke"),
        ),
        City(
            "Baie-Saint-Paul",
            1.5,
            (47.41, 47.47),
            (-70.54, -70.46),
            ("G3Z",),
            ("418", "581"),
            ("Centre-ville",),
            (
                "rue Saint-Jean-Baptiste",
                "rue Sainte-Anne",
                "boulevard Monseigneur-De Laval",
                "rue Ambroise-Fafard",
            ),
        ),
        City(
            "Tadoussac",
            1,
            (48.13, 48.17),
            (-69.74, -69.68),
            ("G0T",),
            ("418",),
            ("Village",),
            ("rue du Bord-de-l'Eau", "rue des Pionniers", "rue du Bateau-Passeur", "rue de la Cale-Sèche"),
        ),
        City(
            "Bromont",
            1.5,
            (45.27, 45.35),
            (-72.72, -72.60),
            ("J2L",),
            ("450", "579"),
            ("Vieux-Village",),
            ("boulevard de Bromont", "rue Shefford", "chemin de Gaspé", "rue du Ciel"),
        ),
        # Laurentides
        City(
            "Mont-Tremblant",
            7,
            (46.10, 46.26),
            (-74.70, -74.52),
            ("J8E",),
            ("819", "873"),
            ("Village", "Station", "Centre-ville", "Lac-Mercier", "Saint-Jovite"),
            (
                "chemin du Village",
                "rue de Saint-Jovite",
                "chemin de Kandahar",
                "montée Ryan",
                "chemin Duplessis",
                "rue Labelle",
                "chemin du Lac-Tremblant Nord",
                "chemin des Pléiades",
                "rue Coupal",
            ),
        ),
        City(
            "Saint-Sauveur",
            3,
            (45.86, 45.93),
            (-74.22, -74.13),
            ("J0R",),
            ("450", "579"),
            ("Village", "Mont-Habitant"),
            (
                "rue Principale",
                "avenue de l'Église",
                "chemin du Lac-Millette",
                "rue de la Gare",
                "avenue Saint-Denis",
                "chemin Jean-Adam",
            ),
        ),
        City(
            "Sainte-Adèle",
            3,
            (45.93, 46.00),
            (-74.18, -74.09),
            ("J8B",),
            ("450", "579"),
            ("Centre-ville", "Mont-Rolland"),
            (
                "boulevard de Sainte-Adèle",
                "rue Valiquette",
                "chemin du Chantecler",
                "rue Morin",
                "chemin Pierre-Péladeau",
            ),
        ),
        City(
            "Saint-Jérôme",
            3,
            (45.74, 45.83),
            (-74.07, -73.96),
            ("J7Y", "J7Z", "J5L"),
            ("450", "579"),
            ("Centre-ville", "Bellefeuille", "Lafontaine"),
            (
                "rue Saint-Georges",
                "boulevard Labelle",
                "rue De Martigny Ouest",
                "rue Parent",
                "rue Castonguay",
                "boulevard des Hauteurs",
            ),
        ),
        City(
            "Val-David",
            1.5,
            (46.01, 46.05),
            (-74.24, -74.18),
            ("J0T",),
            ("819", "873"),
            ("Village",),
            ("rue de l'Église", "chemin de la Rivière", "rue Principale", "chemin de l'Île"),
        ),
        City(
            "Sainte-Agathe-des-Monts",
            1.5,
            (46.03, 46.08),
            (-74.31, -74.26),
            ("J8C",),
            ("819", "873"),
            ("Centre-ville",),
            ("rue Principale Est", "rue Saint-Vincent", "chemin du Lac-des-Sables", "rue Préfontaine Ouest"),
        ),
        City(
            "Mirabel",
            1,
            (45.62, 45.76),
            (-74.15, -73.95),
            ("J7J", "J7N"),
            ("450", "579"),
            ("Saint-Canut", "Saint-Janvier", "Saint-Augustin"),
            ("rue Victor", "boulevard de Saint-Canut", "route Arthur-Sauvé", "montée Sainte-Marianne"),
        ),
        City(
            "Blainville",
            1,
            (45.64, 45.70),
            (-73.93, -73.83),
            ("J7B", "J7C", "J7E"),
            ("450", "579"),
            ("Centre-ville", "Fontainebleau"),
            ("boulevard Curé-Labelle", "boulevard de la Seigneurie Ouest", "chemin du Plan-Bouchard"),
        ),
    )
}

LAURENTIDES: tuple[str, ...] = (
    "Mont-Tremblant",
    "Saint-Sauveur",
    "Sainte-Adèle",
    "Saint-Jérôme",
    "Val-David",
    "Sainte-Agathe-des-Monts",
    "Mirabel",
    "Blainville",
)

# --------------------------------------------------------------------------------------------------------
# Categories: key -> (French labels, English labels), as DMOs write them
# --------------------------------------------------------------------------------------------------------

CATEGORIES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "hotel": (("Hôtel", "Hôtel", "Hébergement - Hôtel", "Hôtels"), ("Hotel", "Hotels")),
    "motel": (("Motel", "Hébergement - Motel"), ("Motel",)),
    "bed_and_breakfast": (("Gîte", "Gîte touristique", "Gîte (B&B)"), ("Bed & Breakfast", "B&B")),
    "campground": (("Camping", "Terrain de camping"), ("Campground", "Camping")),
    "restaurant": (("Restaurant", "Restaurant", "Restauration"), ("Restaurant", "Dining")),
    "cafe": (("Café", "Café-bistro"), ("Café", "Coffee shop")),
    "bar": (("Bar", "Bar et boîte de nuit"), ("Bar", "Pub")),
    "brewery": (("Microbrasserie", "Brasserie artisanale"), ("Brewery", "Microbrewery")),
    "museum": (("Musée", "Musée et centre d'interprétation"), ("Museum",)),
    "gallery": (("Galerie d'art", "Galerie"), ("Art gallery", "Gallery")),
    "park": (("Parc", "Parc et espace vert"), ("Park",)),
    "attraction": (("Attrait", "Attraction touristique", "Attraits"), ("Attraction", "Attractions")),
    "spa": (("Spa", "Centre de santé"), ("Spa", "Spa & wellness")),
    "shop": (("Boutique", "Magasinage", "Commerce"), ("Shopping", "Shop")),
    "market": (("Marché public", "Marché"), ("Market", "Farmers' market")),
    "theatre": (("Théâtre", "Salle de spectacle"), ("Theatre", "Performance venue")),
    "festival_venue": (
        ("Site de festival", "Festival et événement"),
        ("Festival venue", "Festivals & events"),
    ),
    "ski_resort": (("Station de ski", "Centre de ski"), ("Ski resort",)),
    "golf": (("Golf", "Club de golf"), ("Golf course", "Golf")),
    "tour_operator": (("Excursion", "Visite guidée", "Croisière et excursion"), ("Tour operator", "Tours")),
}

_CATEGORY_WEIGHTS: dict[str, float] = {
    "restaurant": 24,
    "hotel": 9,
    "cafe": 8,
    "shop": 8,
    "bar": 7,
    "attraction": 6,
    "bed_and_breakfast": 5,
    "park": 4,
    "tour_operator": 4,
    "campground": 3,
    "brewery": 3,
    "museum": 3,
    "gallery": 3,
    "motel": 2,
    "spa": 2,
    "market": 2,
    "theatre": 2,
    "festival_venue": 2,
    "golf": 2,
    "ski_resort": 1,
}

_LABEL_TO_KEY: dict[str, str] = {}
for _key, (_fr, _en) in CATEGORIES.items():
    for _label in (*_fr, *_en):
        _LABEL_TO_KEY.setdefault(_label.casefold(), _key)


def category_of(label: str) -> str | None:
    """The category key for a label written by `generate_listings` ("Hôtel", "HÔTEL", "Coffee shop"...)."""
    return _LABEL_TO_KEY.get(label.strip().casefold())


def category_label(rng: random.Random, category: str, lang: str = "fr") -> str:
    """A label for `category` as a DMO would write it, in `lang` ("fr" or "en")."""
    fr, en = CATEGORIES[category]
    return rng.choice(fr if lang == "fr" else en)


# --------------------------------------------------------------------------------------------------------
# Name parts
# --------------------------------------------------------------------------------------------------------

_FIRST_FR = _words(
    "Émile Marguerite Léon Gaston Rosalie Antoine Jeanne Olivier Mathilde Félix Camille Louis Éloïse Henri "
    "Béatrice Gabriel Juliette Étienne Clémence Jules Simone Raphaël Adèle Hector Colette Théo Yvette "
    "Marcel Lucienne Arthur Florence Hugo Noémie Maxime Aurélie Benoît Chloé Denis Geneviève Réjean "
    "Ginette Gisèle Rémi Thérèse Aimé Lise Normand Solange Gilles Huguette Jacques Madeleine Pierre Suzanne "
    "Victor Rose Alphonse Irène Fernand Cécile Lucien Odette Ovide Rita Zoé Anatole Blanche Édouard "
    "Germaine Honoré Laurette Napoléon Pauline Roméo Yolande"
)
_FIRST_OTHER = _words(
    "Sam Molly Jack Nora Giuseppe Luigi Maria Sofia Niko Yannis Mei Hiro Ravi Amir Leila Omar Rosa Pablo "
    "Sean Fiona Ben Lucy Dmitri Anya Kenji Tomas Eleni Marco Lina Karim Ana Paolo Ines Viktor Ingrid"
)
_FIRST = _FIRST_FR + _FIRST_OTHER

_LAST = _words(
    "Tremblay Gagnon Roy Côté Bouchard Gauthier Morin Lavoie Fortin Gagné Ouellet Pelletier Bélanger "
    "Lévesque Bergeron Leblanc Paquette Girard Simard Boucher Caron Beaulieu Cloutier Dubé Poirier Fournier "
    "Lapointe Leclerc Lefebvre Poulin Thibault St-Pierre Nadeau Martin Landry Martel Bédard Grenier Lessard "
    "Bernier Richard Michaud Hébert Desjardins Couture Turcotte Lachance Parent Blais Gosselin Savard "
    "Proulx Beaudoin Demers Perron Boudreau Charbonneau Lemieux Dufour Mercier Deschênes Marchand Rousseau "
    "Vachon Lacroix Robitaille Giroux Dion Laflamme Plante Brassard Carrier Guay Labelle Dumont Tessier "
    "Veilleux Vaillancourt Gendron Jobin Drolet Laliberté Bilodeau Thériault Dionne Lambert Béland Maltais "
    "Rioux Sirois Fontaine Paradis Hamel Langlois Audet Ménard Lalonde Chartrand Champagne Brunet D'Amours "
    "O'Brien MacDonald Fraser Campbell Murphy Ross Stewart Kennedy Russo Esposito Romano Costa "
    "Papadopoulos Nguyen Tran Chen Wong Singh Cohen Levy Schwartz Kovacs Silva Santos Haddad Khoury "
    "Desrosiers Larochelle Beauchemin Gingras Lamontagne Lauzon Bisson Duchesne Trudel Provencher "
    "Lafrance Archambault Bourassa Cormier Doucet Vézina Asselin Bolduc Pagé Tardif Thivierge Séguin"
)

# (article, noun) pairs; the article drives "le/la/l'/les" and "du/de la/de l'/des" forms.
# (article, noun, feminine); the article drives the "le/la/l'/les" and "du/de la/de l'/des" forms.
_NOUNS: tuple[tuple[str, str, bool], ...] = (
    *(
        ("le", n, False)
        for n in _words(
            "Moulin Phare Clocher Pignon Quai Jardin Fleuve Rocher Sommet Ruisseau Verger Grenier Comptoir "
            "Carré Sentier Bouleau Huard Castor Cerf Renard Hibou Loup Pommier Tournesol Chêne Canot Bleuet "
            "Cormoran Héron Nordet Belvédère Fanal Manoir Relais Bivouac Lilas Fjord Portage Chenal Coteau "
            "Marais Boisé Traversier Grand-Duc Caribou Saumon Pic-Bois"
        )
    ),
    *(
        ("la", n, True)
        for n in _words(
            "Fontaine Grange Chouette Baie Colline Montagne Rivière Forêt Marée Lanterne Cabane Tuque Raquette "
            "Chaloupe Cerisaie Boussole Passerelle Perdrix Sapinière Tanière Vigne Falaise Prairie Pinède "
            "Savane Roseraie Citadelle Goélette Mésange Sarcelle Tourterelle Luciole Framboise Noisette"
        )
    ),
    *(("l'", n, False) for n in _words("Érable Orignal Atelier Ours Estuaire Orme Églantier Îlot Écureuil")),
    *(
        ("l'", n, True)
        for n in _words(
            "Escale Étoile Aurore Outarde Île Ancre Oasis Hirondelle Éclipse Alouette Anse Épinette"
        )
    ),
)
# Plural names take no adjective; picked less often so they do not dominate repeats.
_PLURAL_NOUNS: tuple[str, ...] = _words(
    "Voyageurs Érables Pionniers Sommets Rapides Cèdres Trois-Pignons Deux-Rives Quatre-Vents Mille-Îles "
    "Bûcherons Draveurs"
)

# Pre-noun adjectives (masculine, feminine) and post-noun adjectives (masculine, feminine).
_PRE_ADJ = (
    ("Petit", "Petite"),
    ("Vieux", "Vieille"),
    ("Grand", "Grande"),
    ("Bon", "Bonne"),
    ("Beau", "Belle"),
)
_POST_ADJ = tuple(
    tuple(pair.split("/")) if "/" in pair else (pair, pair)
    for pair in _words(
        "Rouge Bleu/Bleue Sauvage Gourmand/Gourmande Doré/Dorée Joyeux/Joyeuse Boréal/Boréale Blanc/Blanche "
        "Noir/Noire Fou/Folle Heureux/Heureuse Enchanté/Enchantée Vagabond/Vagabonde Secret/Secrète "
        "Urbain/Urbaine Céleste Sucré/Sucrée Nomade Tranquille Rieur/Rieuse Cuivré/Cuivrée Fleuri/Fleurie "
        "Givré/Givrée Étoilé/Étoilée Perché/Perchée Affamé/Affamée Rustique Gourmet Espiègle Vert/Verte "
        "Argenté/Argentée Endormi/Endormie Ensoleillé/Ensoleillée Nordique Curieux/Curieuse Bohème "
        "Timide Fidèle Rebelle Paisible Moqueur/Moqueuse"
    )
)

_EN_ADJ = _words(
    "Little Old Golden Blue Red Wild Happy Hungry Rusty Silver Northern Maple Green Salty Lucky Crooked "
    "Cozy Brave Copper Quiet Jolly Smoky Sunny Velvet Wandering Black Iron Cedar Twin Stormy Sleepy "
    "Clever Frosty Honest Humble Rolling Spicy Sweet Tipsy Urban Whistling Howling Dancing Laughing Lazy "
    "Proud Curious Noble Bold Grumpy"
)
_EN_NOUN = _words(
    "Fox Bear Moose Owl Spoon Kettle Lantern Anchor Barrel Pine Birch Harbour Ferry Loon Beaver Oak Mill "
    "Pantry Table Fork Compass Canoe Heron Raven Otter Lynx Acorn Ember Orchard Willow Thistle Bison "
    "Paddle Sparrow Hearth Cabin Lighthouse Trail Goose Crow Wolf Rabbit Salmon Trout Badger Walrus "
    "Pelican Hare Stag Wren Finch Cricket Thimble Teapot Skillet Mitten Toboggan Snowshoe Chickadee"
)

# Faraway place names (any category: "Hôtel Sorrento") and food words (food and drink only: "Café Olimpico").
_FOREIGN = _words(
    "Napoli Amalfi Portofino Toscana Sorrento Capri Santorini Mykonos Ithaka Lisboa Porto Alfama Byblos "
    "Beyrouth Oaxaca Tulum Havana Marrakech Saigon Hanoï Bangkok Seoul Kyoto Lima Cuzco Dakar Istanbul "
    "Odessa Valencia Sevilla Bologna Palermo Verona Trastevere"
)
_FOOD_WORDS = _words(
    "Olimpico Vesuvio Bellavista Piazza Sakura Kaizen Hanami Umami Sabor Zaatar Dolce Nonna Mamma-Rosa "
    "Basilico Limone Oliva Mezzaluna Fuego Zucca Aroma Sapori Cortado Mokador Akané Tamarind"
)
_FOOD_CATEGORIES = frozenset({"restaurant", "cafe", "bar", "brewery", "market"})

_SAINTS = _words(
    "Saint-Antoine Saint-Gabriel Saint-Louis Sainte-Anne Saint-Laurent Saint-Jean Saint-Joseph Saint-Ours "
    "Sainte-Rose Saint-Michel Saint-Paul Sainte-Catherine Saint-Roch Saint-Sulpice Saint-Benoît "
    "Saint-Hilaire Sainte-Famille Saint-Charles Saint-Denis Sainte-Marie Saint-Vallier Saint-Viateur "
    "Saint-Ambroise Sainte-Cécile Saint-Zotique Saint-Hubert Sainte-Julie Saint-Mathieu"
)

_MUSEUM_SUBJECTS = (
    "des beaux-arts",
    "d'archéologie",
    "de la civilisation",
    "d'histoire naturelle",
    "du chemin de fer",
    "de la mer",
    "du costume",
    "des sciences",
    "de l'aviation",
    "de la photographie",
    "du patrimoine",
    "d'art contemporain",
    "de la ferme",
    "de la musique",
    "du jouet",
    "de l'érable",
    "du hockey",
    "des cultures autochtones",
    "de la poste",
    "des pompiers",
    "de la pêche",
    "du bûcheron",
    "de la chanson",
    "de l'imprimerie",
    "du textile",
    "de la radio",
    "des automates",
    "du fleuve",
)
_EN_SUBJECTS = (
    "Fine Arts",
    "Natural History",
    "Railways",
    "Costume",
    "Science",
    "Aviation",
    "Photography",
    "Contemporary Art",
    "Music",
    "Toys",
    "Hockey",
    "Maritime History",
    "Printing",
    "Radio",
)
_CRAFTS = (
    "du fromage",
    "du chocolat",
    "du verre soufflé",
    "de la poterie",
    "du savon",
    "du cuir",
    "de la forge",
    "du bois",
    "du pain",
    "de la laine",
    "du cidre",
    "de l'hydromel",
)

# Fictional chains: (name, category, domain slug). ~2% of rows are one of their branches.
_CHAINS: tuple[tuple[str, str, str], ...] = (
    ("Café Nordet", "cafe", "cafe-nordet"),
    ("Brûlerie Saint-Ours", "cafe", "bruleriesaintours"),
    ("Pizzeria Vesuvio Express", "restaurant", "vesuvio-express"),
    ("Rôtisserie Chez Gaston", "restaurant", "chezgaston"),
    ("Hôtel Escale Boréale", "hotel", "escale-boreale"),
    ("Motel Relais du Huard", "motel", "relaisduhuard"),
    ("Microbrasserie Le Castor Joyeux", "brewery", "castorjoyeux"),
    ("Northern Lantern Inn & Suites", "hotel", "northernlanterninn"),
    ("Boulangerie Pain d'Antan", "shop", "paindantan"),
)

# --------------------------------------------------------------------------------------------------------
# Slots for name templates. Each slot is a function (rng, city) -> str.
# --------------------------------------------------------------------------------------------------------

_Slot = Callable[[random.Random, City], str]


def _elide(article: str, noun: str, *, de: bool) -> str:
    if de:
        return {"le": f"du {noun}", "la": f"de la {noun}", "l'": f"de l'{noun}", "les": f"des {noun}"}[
            article
        ]
    return {"le": f"Le {noun}", "la": f"La {noun}", "l'": f"L'{noun}", "les": f"Les {noun}"}[article]


def _adj_noun(rng: random.Random, *, de: bool = False) -> str:
    if rng.random() < 0.04:
        return _elide("les", rng.choice(_PLURAL_NOUNS), de=de)
    article, noun, feminine = rng.choice(_NOUNS)
    roll = rng.random()
    if article != "l'" and roll < 0.3:
        noun = f"{rng.choice(_PRE_ADJ)[feminine]} {noun}"
    elif roll < 0.88:
        noun = f"{noun} {rng.choice(_POST_ADJ)[feminine]}"
    return _elide(article, noun, de=de)


def _slot_adjnoun(rng: random.Random, city: City) -> str:
    return _adj_noun(rng)


def _slot_du(rng: random.Random, city: City) -> str:
    return _adj_noun(rng, de=True)


def _slot_last(rng: random.Random, city: City) -> str:
    return rng.choice(_LAST)


def _slot_first(rng: random.Random, city: City) -> str:
    return rng.choice(_FIRST)


def _slot_first_fr(rng: random.Random, city: City) -> str:
    return rng.choice(_FIRST_FR)


def _slot_fullname(rng: random.Random, city: City) -> str:
    return f"{rng.choice(_FIRST_FR)}-{rng.choice(_LAST)}"


def _slot_two_first(rng: random.Random, city: City) -> str:
    a, b = rng.sample(_FIRST_FR, 2)
    return f"{a} et {b}"


def _slot_foreign(rng: random.Random, city: City) -> str:
    return rng.choice(_FOREIGN)


def _slot_food(rng: random.Random, city: City) -> str:
    return rng.choice(_FOOD_WORDS)


def _slot_saint(rng: random.Random, city: City) -> str:
    return rng.choice(_SAINTS)


def _slot_hood(rng: random.Random, city: City) -> str:
    return rng.choice(city.districts) if city.big else city.name


def _slot_place(rng: random.Random, city: City) -> str:
    return rng.choice(city.districts) if city.big and rng.random() < 0.5 else city.name


def _slot_street(rng: random.Random, city: City) -> str:
    # "rue Saint-Viateur Ouest" -> "Saint-Viateur", "chemin des Pléiades" -> "des Pléiades",
    # "Grande Allée Est" -> "Grande Allée" (no leading street type to drop).
    street = rng.choice(city.streets)
    kind, _, rest = street.partition(" ")
    if kind[:1].islower() and rest:
        street = rest
    for suffix in (" Ouest", " Est", " Nord", " Sud", " Centre"):
        street = street.removesuffix(suffix)
    return street


def _slot_en_street(rng: random.Random, city: City) -> str:
    # English names drop the French article: "des Pléiades" -> "Pléiades".
    street = _slot_street(rng, city)
    for article in ("de la ", "de l'", "du ", "des ", "de "):
        if street.startswith(article):
            return street[len(article) :]
    return street


def _slot_en_adjnoun(rng: random.Random, city: City) -> str:
    return f"{rng.choice(_EN_ADJ)} {rng.choice(_EN_NOUN)}"


def _slot_en_noun(rng: random.Random, city: City) -> str:
    return rng.choice(_EN_NOUN)


def _slot_en_pair(rng: random.Random, city: City) -> str:
    a, b = rng.sample(_EN_NOUN, 2)
    return f"{a} & {b}"


def _slot_subject(rng: random.Random, city: City) -> str:
    return rng.choice(_MUSEUM_SUBJECTS)


def _slot_en_subject(rng: random.Random, city: City) -> str:
    return rng.choice(_EN_SUBJECTS)


def _slot_craft(rng: random.Random, city: City) -> str:
    return rng.choice(_CRAFTS)


_SLOTS: dict[str, _Slot] = {
    "adjnoun": _slot_adjnoun,
    "du": _slot_du,
    "last": _slot_last,
    "first": _slot_first,
    "firstfr": _slot_first_fr,
    "fullname": _slot_fullname,
    "twofirst": _slot_two_first,
    "foreign": _slot_foreign,
    "food": _slot_food,
    "saint": _slot_saint,
    "hood": _slot_hood,
    "place": _slot_place,
    "street": _slot_street,
    "enstreet": _slot_en_street,
    "enadj": _slot_en_adjnoun,
    "enpair": _slot_en_pair,
    "ennoun": _slot_en_noun,
    "subject": _slot_subject,
    "ensubject": _slot_en_subject,
    "craft": _slot_craft,
}

# French cores that follow a type word ("Bistro" + core); weights favour the large pools.
_CORE_FR: tuple[tuple[str, float], ...] = (
    ("{adjnoun}", 34),
    ("{du}", 18),
    ("{last}", 9),
    ("{firstfr} {last}", 6),
    ("chez {firstfr}", 5),
    ("{street}", 5),
    ("{saint}", 4),
    ("{foreign}", 7),
    ("{adjnoun} {place}", 6),
    ("{last} {place}", 6),
)
# English cores that precede a type word (core + "Kitchen").
_CORE_EN: tuple[tuple[str, float], ...] = (
    ("{enadj}", 36),
    ("The {enadj}", 14),
    ("{enpair}", 14),
    ("{last}'s", 8),
    ("{first}'s", 6),
    ("{foreign}", 6),
    ("{place} {ennoun}", 8),
    ("{enstreet} {ennoun}", 8),
)

# Per category: French type words (prefixes), extra French templates, English type words (suffixes),
# extra English templates. Extras always combine at least two slots so names rarely repeat.
_NAME_SPEC: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "hotel": (
        ("Hôtel", "Hôtel", "Hôtel", "Hôtel-boutique", "Auberge", "Manoir", "Château", "Hôtel & Suites"),
        ("Hôtel Le {last} {place}", "Hôtel {adjnoun} {hood}", "Auberge {saint} {du}", "Hôtel {last} {place}"),
        ("Hotel", "Hotel", "Inn", "Suites", "Lodge", "House Hotel", "Inn & Suites"),
        ("Hotel {enadj}", "The {enadj} Inn", "{last} House Hotel {place}"),
    ),
    "motel": (
        ("Motel", "Motel", "Motel", "Motel-Hôtel"),
        ("Motel {du} {place}", "Motel {last} {place}"),
        ("Motel", "Motor Inn", "Motor Lodge"),
        ("Motel {enadj}",),
    ),
    "bed_and_breakfast": (
        ("Gîte", "Gîte", "B&B", "Auberge", "Au Gîte", "Gîte touristique"),
        ("Gîte chez {firstfr} et {firstfr}", "Gîte La Maison {last}", "La Maison {firstfr}-{last}"),
        ("B&B", "Bed & Breakfast", "House B&B", "Guest House"),
        ("The {enadj} Bed & Breakfast", "{last} House B&B {place}"),
    ),
    "campground": (
        ("Camping", "Camping", "Domaine", "Camping et Marina", "Camping familial"),
        ("Camping Lac-{last}", "Camping Plage {last}", "Camping {du} {place}"),
        ("Campground", "Camp", "RV Park", "Campsite"),
        ("Camp {enadj}", "{last} Lake Campground"),
    ),
    "restaurant": (
        (
            "Restaurant",
            "Restaurant",
            "Bistro",
            "Bistro",
            "Brasserie",
            "Resto",
            "Bistrot",
            "Buvette",
            "Cantine",
            "Casse-croûte",
            "Rôtisserie",
            "Crêperie",
            "Grill",
            "Resto-bar",
            "Trattoria",
            "Pizzeria",
            "Taverne",
            "Sushi",
            "Boucherie-bistro",
            "Table champêtre",
        ),
        (
            "Chez {twofirst}",
            "La Table de {firstfr} {last}",
            "La Table {du}",
            "Les Délices de {firstfr} {last}",
            "Cabane à sucre {last} {place}",
            "Restaurant {food} {hood}",
        ),
        (
            "Kitchen",
            "Grill",
            "Diner",
            "Bistro",
            "Eatery",
            "Smokehouse",
            "Bar & Grill",
            "Cantina",
            "Deli",
            "Steakhouse",
            "Noodle Bar",
            "Burger Co.",
            "Pizza",
            "Fish & Chips",
        ),
        ("{first}'s Diner {place}", "{food} Trattoria {hood}"),
    ),
    "cafe": (
        ("Café", "Café", "Café", "Brûlerie", "Café-bistro", "Boulangerie-café", "Salon de thé", "Pâtisserie"),
        ("Café {food} {hood}", "Pâtisserie {firstfr} {last}", "Café chez {firstfr} {place}"),
        ("Coffee", "Café", "Espresso Bar", "Coffee Co.", "Bakery & Café", "Tea House", "Roasters"),
        ("Café {enadj}",),
    ),
    "bar": (
        (
            "Bar",
            "Bar",
            "Taverne",
            "Bar à vin",
            "Pub",
            "Buvette",
            "Bar à cocktails",
            "Brasserie",
            "Bar laitier",
        ),
        ("Buvette chez {firstfr} {place}", "Le Bar à {firstfr} {last}"),
        ("Pub", "Lounge", "Tavern", "Cocktail Bar", "Wine Bar", "Taproom", "Saloon", "Speakeasy"),
        ("The {enadj}",),
    ),
    "brewery": (
        ("Microbrasserie", "Microbrasserie", "Brasserie artisanale", "Broue Pub", "Brasseurs", "Brasserie"),
        ("Les Brasseurs {du}", "Microbrasserie {adjnoun} {place}"),
        ("Brewing Co.", "Brewery", "Brewpub", "Beer Co.", "Ale House", "Craft Brewers"),
        (),
    ),
    "museum": (
        ("Musée", "Maison", "Centre d'interprétation", "Lieu historique", "Site historique"),
        (
            "Musée {subject} de {place}",
            "Musée {subject} {du}",
            "Maison {fullname}",
            "Centre d'interprétation {subject} de {place}",
            "Économusée {craft} {du}",
            "Site historique {fullname}",
            "Musée {fullname}",
        ),
        ("Museum", "Heritage Centre", "Historic Site", "Interpretation Centre"),
        ("{place} Museum of {ensubject}", "{last} House Museum", "Museum of {ensubject} {place}"),
    ),
    "gallery": (
        ("Galerie", "Galerie", "Atelier-galerie", "Galerie d'art", "Centre d'artistes", "Atelier"),
        ("Galerie {firstfr} {last}", "Galerie d'art {firstfr} {last}"),
        ("Gallery", "Fine Art", "Art Space", "Studio Gallery"),
        ("{first} {last} Fine Art", "Gallery {hood} {enadj}"),
    ),
    "park": (
        (
            "Parc",
            "Parc",
            "Parc-nature",
            "Parc régional",
            "Parc linéaire",
            "Jardin",
            "Sentier",
            "Parc riverain",
        ),
        ("Parc {fullname}", "Place {fullname}", "Jardins {du}", "Parc {du} {place}"),
        ("Park", "Trail", "Gardens", "Nature Reserve", "Green"),
        ("{first} {last} Memorial Park",),
    ),
    "attraction": (
        (
            "Observatoire",
            "Croisières",
            "Labyrinthe",
            "Village",
            "Ferme",
            "Verger",
            "Érablière",
            "Mini-golf",
            "Escalade",
            "Salle d'évasion",
            "Tyrolienne",
            "Vignoble",
            "Cidrerie",
            "Centre équestre",
            "Arbre en arbre",
        ),
        (
            "Ferme {fullname}",
            "Vignoble {fullname}",
            "Cabane à sucre {du}",
        ),
        ("Escape Rooms", "Farm", "Adventure Park", "Orchard", "Zipline", "Vineyard", "Cider House", "Maze"),
        (),
    ),
    "spa": (
        ("Spa", "Spa", "Spa nordique", "Bains", "Thermes", "Centre de santé", "Spa urbain"),
        ("Spa {du} {place}", "Spa nordique {adjnoun} {place}"),
        ("Spa", "Nordic Spa", "Wellness", "Nordic Baths", "Day Spa"),
        (),
    ),
    "shop": (
        (
            "Boutique",
            "Boutique",
            "Librairie",
            "Fromagerie",
            "Chocolaterie",
            "Boulangerie",
            "Épicerie fine",
            "Quincaillerie",
            "Antiquités",
            "Fleuriste",
            "Friperie",
            "Savonnerie",
            "Poterie",
            "Artisans",
            "Confiserie",
            "Boucherie",
        ),
        ("{last} et Fils", "{last} et Filles", "Épicerie fine chez {firstfr} {last}"),
        (
            "Books",
            "& Sons",
            "Boutique",
            "Outfitters",
            "Trading Post",
            "General Store",
            "Candy Shop",
            "Antiques",
        ),
        (),
    ),
    "market": (
        ("Marché", "Marché", "Marché fermier", "Marché aux puces", "Halles", "Marché public"),
        ("Marché {fullname}", "Marché de Noël {du}"),
        ("Market", "Farmers' Market", "Night Market", "Flea Market", "Public Market"),
        (),
    ),
    "theatre": (
        ("Théâtre", "Théâtre", "Salle", "Cabaret", "Salle de spectacle", "Théâtre d'été"),
        ("Théâtre {fullname}", "Salle {fullname}", "Maison de la culture {fullname}"),
        ("Theatre", "Playhouse", "Comedy Club", "Music Hall", "Cabaret"),
        (),
    ),
    "festival_venue": (
        ("Place", "Espace", "Amphithéâtre", "Agora", "Esplanade", "Scène", "Festival"),
        (
            "Site du Festival {du}",
            "Place {fullname}",
            "Festival {du} de {place}",
            "Parc des festivals {fullname}",
        ),
        ("Festival Grounds", "Festival", "Amphitheatre", "Bandshell", "Music Festival"),
        (),
    ),
    "ski_resort": (
        ("Mont", "Station de ski", "Centre de ski", "Station", "Club de ski", "Ski"),
        (
            "Mont {last}",
            "Mont {saint} {du}",
            "Mont-{firstfr} {du}",
            "Les Sommets {du}",
            "Station {last} {place}",
        ),
        ("Mountain", "Ski Hill", "Ski Resort", "Ski Club", "Ski Area"),
        ("Mount {last} {place}",),
    ),
    "golf": (
        ("Club de golf", "Club de golf", "Golf", "Le Golf", "Club de golf et curling"),
        ("Club de golf {last} {place}", "Golf {fullname}"),
        ("Golf Club", "Golf & Country Club", "Golf Course", "Golf Links"),
        (),
    ),
    "tour_operator": (
        (
            "Tours",
            "Excursions",
            "Visites guidées",
            "Kayak",
            "Vélo",
            "Aventures",
            "Traîneaux à chiens",
            "Circuits",
            "Guides",
            "Randonnées",
            "Croisières",
            "Rafting",
        ),
        ("Excursions {du} {place}", "Visites {fullname}"),
        ("Tours", "Adventures", "Walking Tours", "Expeditions", "Kayak Co.", "Outfitters", "Food Tours"),
        (),
    ),
}

_TEMPLATE_PART = re.compile(r"\{(\w+)\}")
_Template = tuple[tuple[str, str | None], ...]  # (literal, slot name or None)


def _compile(template: str) -> _Template:
    parts: list[tuple[str, str | None]] = []
    pos = 0
    for m in _TEMPLATE_PART.finditer(template):
        parts.append((template[pos : m.start()], m.group(1)))
        pos = m.end()
    parts.append((template[pos:], None))
    for _lit, slot in parts:
        if slot is not None and slot not in _SLOTS:
            raise ValueError(f"unknown slot {slot!r} in {template!r}")
    return tuple(parts)


class _Weighted:
    """Weighted choice with precomputed cumulative weights (`random.choices` rebuilds them on every call)."""

    def __init__(self, weights: Sequence[float]) -> None:
        self.cum = list(itertools.accumulate(weights))
        self.total = self.cum[-1]

    def index(self, rng: random.Random) -> int:
        return bisect.bisect_right(self.cum, rng.random() * self.total)


@dataclass(frozen=True)
class _CompiledSpec:
    fr_types: tuple[str, ...]
    fr_extra: tuple[_Template, ...]
    en_types: tuple[str, ...]
    en_extra: tuple[_Template, ...]


def _fill(rng: random.Random, template: _Template, city: City) -> str:
    return "".join(lit + (_SLOTS[slot](rng, city) if slot else "") for lit, slot in template)


class _Cores:
    def __init__(self, cores: Sequence[tuple[str, float]]) -> None:
        self.templates = tuple(_compile(t) for t, _w in cores)
        self.pick = _Weighted([w for _t, w in cores])

    def fill(self, rng: random.Random, city: City) -> str:
        return _fill(rng, self.templates[self.pick.index(rng)], city)


_FOOD_CORE = ("{food}", 4.0)
_CORES_FR = _Cores(_CORE_FR)
_CORES_FR_FOOD = _Cores((*_CORE_FR, _FOOD_CORE))
_CORES_EN = _Cores(_CORE_EN)
_CORES_EN_FOOD = _Cores((*_CORE_EN, _FOOD_CORE))
_SPECS: dict[str, _CompiledSpec] = {
    key: _CompiledSpec(
        fr_types, tuple(_compile(t) for t in fr_extra), en_types, tuple(_compile(t) for t in en_extra)
    )
    for key, (fr_types, fr_extra, en_types, en_extra) in _NAME_SPEC.items()
}


def _business_name(rng: random.Random, category: str, city: City, lang: str) -> str:
    spec = _SPECS[category]
    if lang == "en":
        if spec.en_extra and rng.random() < 0.15:
            name = _fill(rng, rng.choice(spec.en_extra), city)
        else:
            core = (_CORES_EN_FOOD if category in _FOOD_CATEGORIES else _CORES_EN).fill(rng, city)
            name = f"{core} {rng.choice(spec.en_types)}"
    elif rng.random() < 0.2:
        name = _fill(rng, rng.choice(spec.fr_extra), city)
    else:
        core = (_CORES_FR_FOOD if category in _FOOD_CATEGORIES else _CORES_FR).fill(rng, city)
        name = f"{rng.choice(spec.fr_types)} {core}"
    if rng.random() < 0.06:
        # Location suffix, as DMOs list multi-site or ambiguous businesses.
        name = f"{name} {rng.choice(('-', '–', '|'))} {_slot_place(rng, city)}"
    return name


# --------------------------------------------------------------------------------------------------------
# Field generators
# --------------------------------------------------------------------------------------------------------

_POSTAL_LETTERS = "ABCEGHJKLMNPRSTVWXYZ"
_GENERIC_STREET_TYPES = (
    "rue",
    "rue",
    "rue",
    "avenue",
    "boulevard",
    "chemin",
    "route",
    "montée",
    "place",
    "côte",
)
_GENERIC_STREETS = (
    "Saint-Georges",
    "des Érables",
    "du Lac",
    "des Pins",
    "Champlain",
    "Papineau",
    "de la Montagne",
    "des Pionniers",
    "du Moulin",
    "Principale",
    "de l'Église",
    "Notre-Dame",
    "Saint-Jean-Baptiste",
    "des Bouleaux",
    "du Rocher",
    "Lafontaine",
    "Laurier",
    "Cartier",
    "des Cèdres",
    "de la Rivière",
    "Dollard",
    "Frontenac",
    "des Ormes",
    "du Golf",
    "des Sommets",
    "de la Gare",
    "Maisonneuve",
    "Lionel-Groulx",
    "Jeanne-Mance",
    "Marie-Victorin",
    "Louis-Hébert",
    "des Tilleuls",
    "du Boisé",
)

_ADDRESS2 = (
    "Suite 200",
    "Suite 101",
    "local 3",
    "local 110",
    "bureau 210",
    "Bureau 4",
    "app. 2",
    "Unit 5",
    "2e étage",
    "RC",
    "Porte B",
    "C.P. 148",
    "Local A-12",
    "suite 1200",
)

_EN_STREET_TYPES = {
    "rue": ("Street", "St."),
    "avenue": ("Avenue", "Ave."),
    "boulevard": ("Boulevard", "Blvd."),
}
_EN_CARDINALS = {
    "Ouest": ("West", "W."),
    "Est": ("East", "E."),
    "Nord": ("North", "N."),
    "Sud": ("South", "S."),
}


def _street(rng: random.Random, city: City) -> str:
    if rng.random() < 0.75:
        return rng.choice(city.streets)
    return f"{rng.choice(_GENERIC_STREET_TYPES)} {rng.choice(_GENERIC_STREETS)}"


def _english_street(street: str, abbreviate: bool) -> str | None:
    kind, _, rest = street.partition(" ")
    if kind not in _EN_STREET_TYPES or not rest[:1].isupper():
        return None
    words = rest.split(" ")
    cardinal = ""
    if words[-1] in _EN_CARDINALS:
        cardinal = " " + _EN_CARDINALS[words[-1]][abbreviate]
        words = words[:-1]
    return f"{' '.join(words)} {_EN_STREET_TYPES[kind][abbreviate]}{cardinal}"


def _civic_number(rng: random.Random) -> str:
    number = max(1, min(9999, int(10 ** rng.uniform(0.3, 4.0))))
    suffix = rng.choice("ABC") if rng.random() < 0.02 else ""
    return f"{number}{suffix}"


def _address1(rng: random.Random, city: City, lang: str) -> str:
    number = _civic_number(rng)
    street = _street(rng, city)
    roll = rng.random()
    if lang == "en" and roll < 0.4:
        english = _english_street(street, abbreviate=rng.random() < 0.5)
        if english:
            return f"{number} {english}"
    if roll < 0.55:
        return f"{number}, {street}"
    if roll < 0.92:
        return f"{number} {street}"
    if roll < 0.97:
        return f"{number} {street[0].upper()}{street[1:]}"
    return f"{rng.randint(1, 12)}{rng.choice(('00', '01', '10'))}-{number}, {street}"  # unit-civic


def _postal(rng: random.Random, city: City) -> str:
    fsa = rng.choice(city.fsas)
    ldu = f"{rng.randint(0, 9)}{rng.choice(_POSTAL_LETTERS)}{rng.randint(0, 9)}"
    roll = rng.random()
    if roll < 0.84:
        return f"{fsa} {ldu}"
    if roll < 0.95:
        return f"{fsa}{ldu}"
    return f"{fsa} {ldu}".lower() if roll < 0.98 else f"{fsa}{ldu}".lower()


def phone_number(rng: random.Random, city: City | str) -> str:
    """A fictional number (555-01xx) in the city's area code, in one of the formats found in real exports."""
    c = CITIES[city] if isinstance(city, str) else city
    area = rng.choice(c.area_codes)
    line = f"01{rng.randint(0, 99):02d}"
    roll = rng.random()
    if roll < 0.30:
        out = f"{area}-555-{line}"
    elif roll < 0.50:
        out = f"({area}) 555-{line}"
    elif roll < 0.62:
        out = f"+1 {area} 555 {line}"
    elif roll < 0.72:
        out = f"{area} 555-{line}"
    elif roll < 0.80:
        out = f"{area}.555.{line}"
    elif roll < 0.86:
        out = f"1 {area} 555-{line}"
    elif roll < 0.90:
        out = f"{area}555{line}"
    elif roll < 0.94:
        out = f"+1-{area}-555-{line}"
    else:
        out = f"1-{rng.choice(('800', '888', '877', '866'))}-555-{line}"
    if rng.random() < 0.03:
        out += rng.choice((" poste ", " ext. ", " #", " x")) + str(rng.randint(1, 250))
    return out


_STRIP_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def slugify(text: str) -> str:
    """ASCII slug for domain names: "Bistro Chez Émile" -> "bistro-chez-emile"."""
    text = text.replace("œ", "oe").replace("Œ", "Oe").replace("'", "").replace("’", "")
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    slug = _STRIP_NON_ALNUM.sub("-", ascii_text).strip("-")
    if len(slug) > 40:
        slug = slug[:40].rsplit("-", 1)[0]
    return slug or "listing"


def _website(rng: random.Random, slug: str) -> tuple[str, str]:
    """(website URL, email domain)."""
    roll = rng.random()
    if roll < 0.08:
        domain = f"{slug}.example.com"
        return f"https://{domain}/", domain
    domain = f"{slug}.example"
    if roll < 0.50:
        return f"https://www.{domain}/", domain
    if roll < 0.64:
        return f"https://{domain}/", domain
    if roll < 0.74:
        return f"http://www.{domain}", domain
    if roll < 0.84:
        return f"www.{domain}", domain
    if roll < 0.92:
        return f"https://www.{domain}/{rng.choice(('fr', 'en', 'fr/accueil', 'en/home'))}/", domain
    return f"https://{domain}/?utm_source=dmo&utm_medium=listing", domain


def _email(rng: random.Random, slug: str, domain: str | None) -> str:
    if domain is None or rng.random() < 0.12:
        return f"{slug.replace('-', '')[:24]}@example.net"
    box = rng.choice(
        ("info", "info", "info", "reservations", "bonjour", "contact", "hello", "admin", "accueil")
    )
    email = f"{box}@{domain}"
    return email.capitalize() if rng.random() < 0.03 else email


def _social(rng: random.Random, slug: str) -> tuple[str, str]:
    handle = slug.replace("-", rng.choice(("", ".", "_"))) if rng.random() < 0.6 else slug.replace("-", "")
    facebook = ""
    if rng.random() < 0.4:
        facebook = rng.choice(
            (
                f"https://www.facebook.com/{handle}",
                f"https://www.facebook.com/{handle}/",
                f"https://fr-ca.facebook.com/{handle}/",
                f"facebook.com/{handle}",
                f"https://m.facebook.com/{handle}",
            )
        )
    instagram = ""
    if rng.random() < 0.32:
        instagram = rng.choice(
            (
                f"https://www.instagram.com/{handle}/",
                f"https://instagram.com/{handle}",
                f"@{handle}",
                f"instagram.com/{handle}",
            )
        )
    return facebook, instagram


# --- opening hours -------------------------------------------------------------------------------------

_HOURS_FR = (
    "Lun-Ven 9h-17h",
    "Lun-Ven 9 h à 17 h; Sam 10 h à 16 h",
    "Tous les jours 7h à 19h",
    "Tous les jours, 11 h 30 à 22 h",
    "Mar-Dim 11h30-22h",
    "Mer-Dim 17h-23h",
    "Fermé le lundi",
    "Lun: Fermé | Mar-Ven: 10h-18h | Sam-Dim: 9h-17h",
    "Ouvert 7 jours sur 7",
    "Sur réservation seulement",
    "Horaire variable, consultez notre site web",
    "Lundi au vendredi de 8 h à 16 h",
    "Jeu-Sam 16h-1h",
    "Ouvert tous les jours de 10h à 18h (fermé le 25 décembre)",
)
_HOURS_EN = (
    "Mon-Fri 9am-5pm",
    "Mon-Fri 9:00-17:00, Sat 10:00-16:00",
    "Daily 11:00-23:00",
    "Daily 7am-7pm",
    "Tue-Sun 11:30am-10pm",
    "closed Mondays",
    "Wed-Sun 5pm-11pm",
    "Open 7 days a week",
    "By appointment only",
    "Mo-Fr 08:00-18:00; Sa 09:00-17:00",
    "Mon–Sat 10 a.m. – 6 p.m.; Sun noon – 5 p.m.",
    "Thu-Sat 4pm-1am",
)
_HOURS_LODGING = (
    "24/7",
    "24/7",
    "Réception 24 h",
    "Front desk open 24 hours",
    "Arrivée 15h / Départ 11h",
    "Check-in 3pm, check-out 11am",
    "Réception 8h-22h",
)
_HOURS_SEASONAL_FR = (
    "Saisonnier (mai à octobre)",
    "De la mi-juin à la fête du Travail, tous les jours 10h-18h",
    "Hiver: 8h30-16h | Été: fermé",
    "Ouvert de décembre à avril selon les conditions",
)
_HOURS_SEASONAL_EN = (
    "Seasonal (May to October)",
    "Mid-June to Labour Day, daily 10am-6pm",
    "Winter: 8:30am-4pm",
    "Open December to April, weather permitting",
)
_LODGING = frozenset({"hotel", "motel", "bed_and_breakfast", "campground"})
_SEASONAL = frozenset(
    {"campground", "ski_resort", "golf", "park", "festival_venue", "tour_operator", "market"}
)


def opening_hours(rng: random.Random, category: str, lang: str = "fr") -> str:
    """Free-text opening hours in one of the many formats DMOs publish; empty about 12% of the time."""
    if rng.random() < 0.12:
        return ""
    if category in _LODGING and rng.random() < 0.8:
        return rng.choice(_HOURS_LODGING)
    if category in _SEASONAL and rng.random() < 0.5:
        return rng.choice(_HOURS_SEASONAL_FR if lang == "fr" else _HOURS_SEASONAL_EN)
    return rng.choice(_HOURS_FR if lang == "fr" else _HOURS_EN)


# --- descriptions --------------------------------------------------------------------------------------

_KIND_FR = {
    "hotel": ("un hôtel", "un hôtel-boutique", "un établissement hôtelier"),
    "motel": ("un motel", "un motel familial"),
    "bed_and_breakfast": ("un gîte", "un gîte touristique", "une maison d'hôtes"),
    "campground": ("un camping", "un terrain de camping"),
    "restaurant": ("un restaurant", "un bistro", "une table de quartier"),
    "cafe": ("un café", "un café de quartier", "une brûlerie"),
    "bar": ("un bar", "un bar de quartier", "un bar à cocktails"),
    "brewery": ("une microbrasserie", "une brasserie artisanale"),
    "museum": ("un musée", "un centre d'interprétation"),
    "gallery": ("une galerie d'art", "un centre d'artistes"),
    "park": ("un parc", "un espace vert"),
    "attraction": ("une attraction", "un attrait incontournable"),
    "spa": ("un spa", "un spa nordique", "un centre de santé"),
    "shop": ("une boutique", "un commerce de proximité"),
    "market": ("un marché public", "un marché"),
    "theatre": ("une salle de spectacle", "un théâtre"),
    "festival_venue": ("un site de festivals", "un lieu de diffusion extérieur"),
    "ski_resort": ("une station de ski", "un centre de ski"),
    "golf": ("un club de golf", "un parcours de golf"),
    "tour_operator": ("une entreprise d'excursions guidées", "un organisateur de visites"),
}
_KIND_EN = {
    "hotel": ("a hotel", "a boutique hotel"),
    "motel": ("a motel", "a family-run motel"),
    "bed_and_breakfast": ("a bed and breakfast", "a charming B&B"),
    "campground": ("a campground",),
    "restaurant": ("a restaurant", "a neighbourhood bistro"),
    "cafe": ("a café", "a neighbourhood coffee shop"),
    "bar": ("a bar", "a cocktail bar"),
    "brewery": ("a craft brewery", "a brewpub"),
    "museum": ("a museum", "an interpretation centre"),
    "gallery": ("an art gallery",),
    "park": ("a park", "a green space"),
    "attraction": ("an attraction", "a must-see attraction"),
    "spa": ("a spa", "a Nordic spa"),
    "shop": ("a shop", "an independent boutique"),
    "market": ("a public market",),
    "theatre": ("a theatre", "a performance venue"),
    "festival_venue": ("a festival site", "an outdoor venue"),
    "ski_resort": ("a ski resort",),
    "golf": ("a golf club", "a golf course"),
    "tour_operator": ("a tour operator", "a guided-tour company"),
}
_GROUP = {
    "hotel": "lodging",
    "motel": "lodging",
    "bed_and_breakfast": "lodging",
    "campground": "lodging",
    "restaurant": "food",
    "cafe": "food",
    "bar": "food",
    "brewery": "food",
    "market": "food",
    "museum": "culture",
    "gallery": "culture",
    "theatre": "culture",
    "festival_venue": "culture",
    "park": "outdoors",
    "ski_resort": "outdoors",
    "golf": "outdoors",
    "tour_operator": "outdoors",
    "attraction": "outdoors",
    "spa": "other",
    "shop": "other",
}
_FEATURES_FR = {
    "lodging": (
        "Chambres confortables, déjeuner inclus et stationnement gratuit sur place.",
        "Toutes les chambres sont climatisées et offrent le Wi-Fi gratuit.",
        "Idéal pour les familles comme pour les voyageurs d'affaires.",
        "Piscine extérieure ouverte en saison et terrasse avec vue.",
        "Animaux de compagnie acceptés sur demande.",
    ),
    "food": (
        "Cuisine du marché mettant en valeur les produits du Québec.",
        "Menu du jour le midi et terrasse l'été.",
        "Options végétariennes et sans gluten disponibles.",
        "Une belle sélection de bières de microbrasseries et de vins d'importation privée.",
        "Apportez votre vin!",
        "Réservation recommandée les fins de semaine.",
    ),
    "culture": (
        "Expositions permanentes et temporaires, visites guidées sur réservation.",
        "Programmation variée toute l'année: concerts, théâtre et humour.",
        "Activités pour toute la famille pendant la relâche scolaire.",
        "Boutique et café sur place.",
    ),
    "outdoors": (
        "Sentiers balisés, aires de pique-nique et points de vue sur la rivière.",
        "Location d'équipement sur place.",
        "Activités quatre saisons pour petits et grands.",
        "Départs quotidiens en saison; réservation en ligne recommandée.",
    ),
    "other": (
        "Produits locaux et artisanaux fabriqués au Québec.",
        "Soins de massothérapie, bains nordiques et aire de détente.",
        "Service personnalisé dans une ambiance chaleureuse.",
        "Cartes-cadeaux disponibles.",
    ),
}
_FEATURES_EN = {
    "lodging": (
        "Comfortable rooms, breakfast included and free on-site parking.",
        "All rooms are air-conditioned with free Wi-Fi.",
        "Perfect for families and business travellers alike.",
        "Seasonal outdoor pool and a terrace with a view.",
        "Pets welcome on request.",
    ),
    "food": (
        "Market cuisine showcasing Québec products.",
        "Daily lunch specials and a summer terrace.",
        "Vegetarian and gluten-free options available.",
        "A great selection of local craft beers and natural wines.",
        "Bring your own wine!",
        "Reservations recommended on weekends.",
    ),
    "culture": (
        "Permanent and temporary exhibitions, guided tours by reservation.",
        "A varied programme all year round: concerts, theatre and comedy.",
        "Family activities during spring break.",
        "Gift shop and café on site.",
    ),
    "outdoors": (
        "Marked trails, picnic areas and river lookouts.",
        "Equipment rental on site.",
        "Four-season activities for all ages.",
        "Daily departures in season; online booking recommended.",
    ),
    "other": (
        "Local, handmade products from Québec.",
        "Massage therapy, Nordic baths and relaxation areas.",
        "Friendly, personalised service.",
        "Gift cards available.",
    ),
}
_CLOSING_FR = (
    "Accessible aux personnes à mobilité réduite.",
    "Stationnement à proximité.",
    "À deux pas du transport en commun.",
    "Bienvenue aux groupes.",
    "Paiement par carte seulement.",
)
_CLOSING_EN = (
    "Wheelchair accessible.",
    "Parking nearby.",
    "Steps from public transit.",
    "Groups welcome.",
    "Card payments only.",
)


def describe(rng: random.Random, name: str, category: str, city: City | str, lang: str = "fr") -> str:
    """A 1-3 sentence description of a listing in French ("fr") or English ("en")."""
    c = CITIES[city] if isinstance(city, str) else city
    group = _GROUP[category]
    if lang == "fr":
        kind = rng.choice(_KIND_FR[category])
        if c.big and rng.random() < 0.6:
            where = f"dans le quartier {rng.choice(c.districts)}, à {c.name}"
        else:
            where = rng.choice((f"au cœur de {c.name}", f"à {c.name}", f"en plein centre de {c.name}"))
        first = f"{name} est {kind} situé{'e' if kind.startswith('une') else ''} {where}."
        features, closing = _FEATURES_FR[group], _CLOSING_FR
    else:
        kind = rng.choice(_KIND_EN[category])
        if c.big and rng.random() < 0.6:
            where = f"in the {rng.choice(c.districts)} neighbourhood of {c.name}"
        else:
            where = rng.choice((f"in the heart of {c.name}", f"in {c.name}", f"in downtown {c.name}"))
        first = f"{name} is {kind} {where}."
        features, closing = _FEATURES_EN[group], _CLOSING_EN
    sentences = [first]
    count = rng.choice((1, 2, 2, 3, 3))
    if count >= 2:
        sentences.append(rng.choice(features))
    if count >= 3:
        sentences.append(rng.choice(closing))
    separator = "\n" if rng.random() < 0.03 else " "  # some exports keep line breaks inside the field
    text = separator.join(sentences)
    if rng.random() < 0.3:
        text = text.replace("'", "’")
    return text


_IMAGE_COUNT = _Weighted((20, 30, 25, 15, 10))  # index == number of images


def _images(rng: random.Random, prefix: str, number: int, slug: str) -> str:
    count = _IMAGE_COUNT.index(rng)
    if rng.random() < 0.5:
        urls = [f"https://images.example.org/{prefix}/{number:06d}-{k}.jpg" for k in range(1, count + 1)]
    else:
        urls = [f"https://images.example.org/listings/{slug}/{k}.jpg" for k in range(1, count + 1)]
    return "|".join(urls)


# --------------------------------------------------------------------------------------------------------
# Demo image URLs
# --------------------------------------------------------------------------------------------------------

# The demo's image host: `listings_dev.demo_sites.DemoSites` on `make demo`'s fixed port serves any
# `/images/<path>.<jpg|png|webp>`. The static samples (include/samples/) point at it; the demo sites use
# their own base URL instead, so that tests running them on a random port get URLs on that port.
DEMO_IMAGE_HOST = "http://127.0.0.1:8765"


def _image_extension(path: str) -> str:
    """Mostly jpg, about one in ten png and one in ten webp; fixed by the path (no random state used)."""
    roll = zlib.crc32(path.encode()) % 10
    return "png" if roll == 0 else "webp" if roll == 1 else "jpg"


def demo_image_urls(base_url: str, site: str, slug: str, count: int) -> list[str]:
    """`count` image URLs on the demo image host: `{base_url}/images/{site}/{slug}-{k}.{ext}`, k from 1."""
    base = base_url.rstrip("/")
    urls = []
    for k in range(1, count + 1):
        path = f"{site}/{slug}-{k}"
        urls.append(f"{base}/images/{path}.{_image_extension(path)}")
    return urls


class UniqueSlugs:
    """`slugify` with repeats told apart, as a CMS does: "bistro", "bistro-2", "bistro-3"..."""

    def __init__(self) -> None:
        self._seen: set[str] = set()

    def __call__(self, text: str) -> str:
        base = slugify(text)
        slug, n = base, 2
        while slug in self._seen:
            slug, n = f"{base}-{n}", n + 1
        self._seen.add(slug)
        return slug


# --------------------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------------------


def _weighted(names: Sequence[str]) -> tuple[list[City], list[float]]:
    unknown = [n for n in names if n not in CITIES]
    if unknown:
        raise ValueError(f"unknown cities {unknown}; known: {sorted(CITIES)}")
    cities = [CITIES[n] for n in names]
    return cities, [c.weight for c in cities]


def generate_listings(
    n: int, *, seed: int = 0, id_prefix: str = "MTL", cities: Sequence[str] | None = None
) -> list[dict[str, str]]:
    """`n` listings as CSV rows keyed by `CSV_COLUMNS`; IDs are `f"{id_prefix}-{i:06d}"` from 1.

    `cities` restricts the cities (names from `CITIES`, keeping their relative weights); default: all.
    """
    if n < 0:
        raise ValueError("n must be >= 0")
    rng = random.Random(seed)
    city_pool, city_weights = _weighted(list(cities) if cities is not None else list(CITIES))
    city_pick = _Weighted(city_weights)
    cat_keys = list(_CATEGORY_WEIGHTS)
    cat_pick = _Weighted(list(_CATEGORY_WEIGHTS.values()))
    image_prefix = slugify(id_prefix)
    rows: list[dict[str, str]] = []
    for i in range(1, n + 1):
        city = city_pool[city_pick.index(rng)]
        lang = "fr" if rng.random() < 0.7 else "en"
        chain: tuple[str, str, str] | None = rng.choice(_CHAINS) if rng.random() < 0.02 else None
        if chain is not None:
            name, category, slug = chain
        else:
            category = cat_keys[cat_pick.index(rng)]
            name = _business_name(rng, category, city, lang)
            slug = slugify(name)

        label = category_label(rng, category, "fr" if rng.random() < 0.8 else "en")
        roll = rng.random()
        if roll < 0.02:
            label = label.upper()
        elif roll < 0.04:
            label = label.lower()

        address2 = rng.choice(_ADDRESS2) if rng.random() < 0.15 else ""
        province_roll = rng.random()
        province = "QC" if province_roll < 0.86 else "Québec" if province_roll < 0.95 else "Quebec"

        phone = phone_number(rng, city) if rng.random() < 0.9 else ""
        website, domain = ("", None)
        if rng.random() < 0.8:
            website, domain = _website(rng, slug)
            if chain is not None:
                website = (
                    f"https://www.{slug}.example/{rng.choice(('fr', 'en'))}/succursales/{slugify(city.name)}"
                )
                domain = f"{slug}.example"
        email = _email(rng, slug, domain) if rng.random() < 0.7 else ""
        facebook, instagram = _social(rng, slug)

        if rng.random() < 0.1:
            lat = lng = ""
        else:
            lat = f"{rng.uniform(*city.lat):.6f}"
            lng = f"{rng.uniform(*city.lng):.6f}"

        rows.append(
            {
                "ID": f"{id_prefix}-{i:06d}",
                "Name": name,
                "Category": label,
                "Address1": _address1(rng, city, lang),
                "Address2": address2,
                "City": city.name,
                "Province": province,
                "Postal": _postal(rng, city),
                "Country": "CA",
                "Phone": phone,
                "Email": email,
                "Website": website,
                "Facebook": facebook,
                "Instagram": instagram,
                "Latitude": lat,
                "Longitude": lng,
                "Description": describe(rng, name, category, city, lang),
                "Hours": opening_hours(rng, category, lang),
                "Images": _images(rng, image_prefix, i, slug),
            }
        )
    return rows


def write_csv(
    path: Path,
    rows: Iterable[Mapping[str, str]],
    *,
    columns: Sequence[str] = CSV_COLUMNS,
    encoding: str = "utf-8",
    delimiter: str = ",",
) -> None:
    """Write `rows` as CSV with a header of `columns` (keys not in `columns` are ignored, missing ones empty).

    `encoding="utf-8-sig"` writes a BOM; an encoding that cannot represent a value raises
    `UnicodeEncodeError` rather than writing a lossy file. Lines end with CRLF, like spreadsheet exports.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding=encoding, newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(columns), delimiter=delimiter, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
