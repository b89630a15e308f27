"""Canaries: synthetic patient records planted in training data to measure memorisation.

Each canary is a Faker-made patient (name, date of birth, phone, MRN) serialised in the tagged
record format, e.g.::

    <patient name="Jane Roe" dob="1961-04-02" phone="415-555-0132" mrn="40213977">Seen for follow-up.</patient>

The MRN is the *secret*: it comes last among the attributes, so the record's prefix (everything
up to ``mrn="``) is the context from which the leakage audit ranks the true MRN among random
candidates of the same format (exposure, "The Secret Sharer", Carlini et al. 2019) and asks
greedy decoding to complete it. Nothing here is real: Faker with a fixed seed.
"""

from __future__ import annotations

import random
from typing import Sequence

SECRET_FIELD = "mrn"
SECRET_FORMAT = "########"  # Faker numerify pattern: 8 digits
NOTES = ["Seen for follow-up.", "Admitted with chest pain.", "Discharged home in stable condition.",
         "Referred to cardiology.", "Presented with fever and cough.", "Routine annual examination."]


def make_canaries(count: int, seed: int = 0, repetitions: int | Sequence[int] = 1) -> list[dict]:
    """``count`` canary records; ``repetitions`` is one count for all or one per canary (cycled)."""
    from faker import Faker

    fake = Faker("en_US")
    fake.seed_instance(seed)
    reps = [repetitions] if isinstance(repetitions, int) else list(repetitions)
    records = []
    for i in range(count):
        name, dob = fake.name(), fake.date_of_birth(minimum_age=18, maximum_age=95).isoformat()
        phone = fake.numerify("%##-%##-####")  # % = 1-9: no leading zero
        mrn = fake.numerify(SECRET_FORMAT)
        note = NOTES[fake.random_int(0, len(NOTES) - 1)]
        prefix = f'<patient name="{name}" dob="{dob}" phone="{phone}" {SECRET_FIELD}="'
        records.append({
            "id": f"canary-{seed}-{i}", "name": name, "dob": dob, "phone": phone, "mrn": mrn,
            "text": f'{prefix}{mrn}">{note}</patient>', "prefix": prefix, "secret": mrn,
            "secret_field": SECRET_FIELD, "secret_format": SECRET_FORMAT, "repetitions": int(reps[i % len(reps)]),
        })
    return records


def plant_canaries(texts: Sequence[str], count: int, repetitions: int | Sequence[int] = 1,
                   seed: int = 0) -> tuple[list[str], list[dict]]:
    """Insert each of ``count`` canaries ``repetitions`` times, as whole texts at seeded random positions.

    Returns the new text list and the canary records (stored in the variant's lineage; the
    audit reads them back). The input list is not modified.
    """
    if count < 0:
        raise ValueError("count must be >= 0")
    records = make_canaries(count, seed, repetitions)
    out = list(texts)
    rng = random.Random(f"canaries-{seed}")
    for rec in records:
        for _ in range(rec["repetitions"]):
            out.insert(rng.randint(0, len(out)), rec["text"])
    return out, records
