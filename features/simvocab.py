"""Vocabulary of the simulated retailer: categories, tiers, brands, regions, rhythms and review wording."""

from __future__ import annotations

import numpy as np

# category -> (typical good-tier price, product nouns, extra units per line, complementary category)
CATEGORIES: dict[str, tuple[float, tuple[str, ...], float, str]] = {
    "coffee & tea": (5.0, ("coffee beans", "ground coffee", "green tea", "espresso pods"), 0.6, "kitchen"),
    "snacks": (2.5, ("crisps", "chocolate bar", "cookies", "nut mix"), 1.0, "beverages"),
    "beverages": (2.0, ("sparkling water", "orange juice", "cola", "iced tea"), 1.2, "snacks"),
    "household": (4.0, ("dish soap", "paper towels", "laundry pods", "sponges"), 0.5, "garden"),
    "personal care": (6.0, ("shampoo", "toothpaste", "shower gel", "hand cream"), 0.3, "household"),
    "kitchen": (18.0, ("frying pan", "kettle", "knife set", "mixing bowl"), 0.05, "coffee & tea"),
    "electronics": (45.0, ("headphones", "charger", "bluetooth speaker", "smart plug"), 0.05, "electronics"),
    "apparel": (20.0, ("t-shirt", "hoodie", "socks", "rain jacket"), 0.2, "apparel"),
    "toys": (15.0, ("puzzle", "building blocks", "plush bear", "board game"), 0.1, "electronics"),
    "garden": (12.0, ("plant pot", "seed packet", "garden gloves", "watering can"), 0.2, "garden"),
}
TIER_NAMES = np.array(["good", "better", "best"], dtype=object)
TIER_PRICE = np.array([1.0, 1.6, 2.6])  # noise below keeps tiers of one category from overlapping
TIER_LABEL = np.array(["Basic", "Select", "Premium"], dtype=object)
BRANDS = ("Acme", "Northwind", "Globex", "Initech", "Umbra", "Hearth", "Verdant", "Solace", "Brightside")
REGIONS = ("North", "South", "East", "West", "Central")
WEEKLY = np.array([0.85, 0.85, 0.9, 0.95, 1.1, 1.45, 1.3])  # Monday .. Sunday
STORE_HOURS = np.array([0] * 9 + [1, 1.5, 2, 2.4, 2.2, 2, 2, 2.3, 2.6, 2.4, 1.6, 1] + [0] * 3)

# specifications per category: (name, (good, better, best) choices); a higher tier draws from better values, so an
# upgrade adds something real (a longer warranty, a better material, a bigger pack). Every product also gets
# "type" (its noun) first; `SAME` marks a specification whose choices do not depend on the tier.
Spec = tuple[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]]


def _same(*values: str) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    return (values, values, values)


COLOURS = _same("black", "white", "grey", "red", "blue", "green")
# fmt: off
SPECS: dict[str, tuple[Spec, ...]] = {
    "coffee & tea": (
        ("origin", _same("Colombia", "Ethiopia", "Brazil", "Kenya", "India")),
        ("pack size", (("250 g",), ("500 g",), ("1 kg",))),
        ("certification", (("none",), ("Fairtrade",), ("organic, Fairtrade",))),
    ),
    "snacks": (
        ("pack size", (("100 g", "150 g"), ("200 g", "250 g"), ("300 g", "400 g"))),
        ("ingredients", (("standard",), ("no artificial colours",), ("organic", "hand-made, organic"))),
        ("dietary", _same("vegetarian", "vegan", "gluten free", "contains nuts")),
    ),
    "beverages": (
        ("volume", (("330 ml", "500 ml"), ("1 l",), ("1.5 l", "6 x 330 ml"))),
        ("sugar", _same("regular", "reduced sugar", "no added sugar")),
        ("packaging", (("plastic bottle",), ("can", "recycled bottle"), ("glass bottle",))),
    ),
    "household": (
        ("pack size", (("single",), ("twin pack",), ("family pack",))),
        ("scent", _same("unscented", "lemon", "lavender", "fresh linen")),
        ("eco label", (("none",), ("biodegradable",), ("biodegradable, refill pack",))),
    ),
    "personal care": (
        ("volume", (("200 ml",), ("300 ml",), ("500 ml",))),
        ("skin type", _same("all skin types", "sensitive", "dry")),
        ("formula", (("standard",), ("dermatologically tested",), ("natural ingredients, dermatologically tested",))),
    ),
    "kitchen": (
        ("colour", COLOURS),
        ("material", (("aluminium", "plastic"), ("stainless steel",), ("cast iron", "copper-clad steel"))),
        ("dishwasher safe", (("no",), ("yes",), ("yes",))),
        ("warranty", (("1 year",), ("2 years",), ("5 years",))),
    ),
    "electronics": (
        ("colour", COLOURS),
        ("battery life", (("8 hours",), ("15 hours",), ("30 hours",))),
        ("connectivity", (("USB",), ("Bluetooth 5.0",), ("Bluetooth 5.3, Wi-Fi",))),
        ("warranty", (("1 year",), ("2 years",), ("3 years",))),
    ),
    "apparel": (
        ("colour", COLOURS),
        ("size", _same("S", "M", "L", "XL")),
        ("material", (("polyester", "cotton blend"), ("cotton",), ("organic cotton", "merino wool"))),
        ("care", (("machine wash 30 C",), ("machine wash 40 C",), ("machine wash 40 C, tumble dry",))),
    ),
    "toys": (
        ("age", _same("3+", "5+", "8+")),
        ("material", (("plastic",), ("recycled plastic", "cotton"), ("FSC wood", "organic cotton"))),
        ("pieces", (("10", "24"), ("50", "100"), ("250", "500"))),
        ("warranty", (("6 months",), ("1 year",), ("2 years",))),
    ),
    "garden": (
        ("colour", _same("green", "terracotta", "black", "grey")),
        ("material", (("plastic",), ("recycled plastic", "steel"), ("ceramic", "galvanised steel"))),
        ("weather resistant", (("no",), ("yes",), ("yes, UV and frost",))),
        ("warranty", (("none",), ("1 year",), ("3 years",))),
    ),
}
TIER_PITCH = np.array(["Everyday value.", "A step up in quality.", "Our finest: built to last."], dtype=object)
# fmt: on

# fmt: off
OPENINGS = (  # review wording by tone (negative, neutral, positive); "{}" is the product noun
    ("Disappointed with this {}.", "Poor quality {}.", "Terrible {}, would not buy again.",
     "The {} broke after a week.", "Awful {}, a real letdown."),
    ("The {} is okay.", "Average {}, does the job.", "An alright {}.",
     "Decent {} for the price, nothing special.", "The {} is fine, as expected."),
    ("Love this {}!", "Great {}, exactly as described.", "Excellent quality {}.",
     "Really happy with this {}.", "Fantastic {}, works perfectly."),
)
REMARKS = (
    ("Waste of money.", "Returned it.", "Would avoid this brand.", "Stopped working quickly.",
     "Very poor value."),
    ("Delivery was on time.", "Not sure I would buy it again.", "Some things could be better.",
     "It is what it is.", "Does what it says."),
    ("Would recommend it to friends.", "Will buy again.", "Great value for money.", "Highly recommend.",
     "My family loves it."),
)
# fmt: on

# customers' names (made up; first x last gives 2,500 distinct names before they repeat)
FIRST_NAMES = (
    "Amelia",
    "Oliver",
    "Isla",
    "George",
    "Ava",
    "Noah",
    "Mia",
    "Arthur",
    "Ivy",
    "Leo",
    "Freya",
    "Oscar",
    "Lily",
    "Harry",
    "Grace",
    "Jack",
    "Sophia",
    "Charlie",
    "Ella",
    "Theo",
    "Evie",
    "Henry",
    "Poppy",
    "Alfie",
    "Rosie",
    "Finley",
    "Willow",
    "Jacob",
    "Daisy",
    "Thomas",
    "Ruby",
    "Samuel",
    "Alice",
    "Joshua",
    "Florence",
    "Ethan",
    "Matilda",
    "Mohammed",
    "Emily",
    "William",
    "Sienna",
    "Isaac",
    "Phoebe",
    "Lucas",
    "Elsie",
    "James",
    "Harper",
    "Muhammad",
    "Zara",
    "Adam",
)
LAST_NAMES = (
    "Smith",
    "Jones",
    "Taylor",
    "Brown",
    "Williams",
    "Wilson",
    "Johnson",
    "Davies",
    "Patel",
    "Robinson",
    "Wright",
    "Thompson",
    "Evans",
    "Walker",
    "White",
    "Roberts",
    "Green",
    "Hall",
    "Thomas",
    "Clarke",
    "Jackson",
    "Wood",
    "Harris",
    "Edwards",
    "Turner",
    "Martin",
    "Cooper",
    "Hill",
    "Ward",
    "Hughes",
    "Moore",
    "Clark",
    "King",
    "Harrison",
    "Lewis",
    "Baker",
    "Lee",
    "Allen",
    "Morris",
    "Khan",
    "Scott",
    "Watson",
    "Davis",
    "Parker",
    "James",
    "Bennett",
    "Young",
    "Phillips",
    "Richardson",
    "Mitchell",
)
