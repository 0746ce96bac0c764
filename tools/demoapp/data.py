# SPDX-License-Identifier: GPL-2.0-only
"""The demo application's records (a small fictional sales team), the same for the monolith and
the modern services, so that a service that answers like the monolith answers byte for byte
alike; and the sessions the monolith's login hands out."""

import hashlib

LEADS = [
    {"id": 101, "company": "Northwind Kayaks", "contact": "I. Berg", "stage": "proposal",
     "value_eur": 18500},
    {"id": 102, "company": "Blue Heron Bakery", "contact": "M. Okafor", "stage": "qualified",
     "value_eur": 4200},
    {"id": 103, "company": "Kestrel Freight", "contact": "A. Lindqvist", "stage": "new",
     "value_eur": 31000},
    {"id": 104, "company": "Vale Street Dental", "contact": "R. Moreau", "stage": "won",
     "value_eur": 9900},
]

EVENTS = [
    {"id": 7, "name": "Spring product webinar", "date": "2026-04-14", "signups": 212},
    {"id": 8, "name": "Logistics fair, Hall B", "date": "2026-05-20", "signups": 58},
    {"id": 9, "name": "Customer day", "date": "2026-06-03", "signups": 131},
]

ITEMS = ["paddle set", "sourdough starter kit", "pallet labels", "dental chair lamp",
         "dry bag 20 l", "cold-chain sensor"]


def session_for(user):
    """The session id the login hands out: derived from the user name, so that a run of the
    demo puts the same users in the same canary buckets (strgd hashes the session cookie)."""
    return hashlib.sha256(b"strg-demo-session:" + user.encode()).hexdigest()[:20]


def orders_for(session):
    """Three orders of the user holding the session, the same every time."""
    seed = int(session[:8], 16)
    out = []
    for i in range(3):
        n = (seed >> (4 * i)) & 0xFFF
        out.append({"id": 5000 + n, "item": ITEMS[n % len(ITEMS)],
                    "total_eur": 20 + n % 480, "status": ("shipped", "packed", "paid")[i]})
    return out


def every(counter, percent):
    """True for exactly `percent` % of the counter's values 1, 2, 3... (spread evenly)."""
    return int(counter * percent / 100) != int((counter - 1) * percent / 100)
