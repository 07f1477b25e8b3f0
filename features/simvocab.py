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
