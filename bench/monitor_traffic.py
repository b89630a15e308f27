"""Synthetic traffic logs of a deployed medical assistant, with a known injected drift.

    python bench/monitor_traffic.py OUT.jsonl [--records 1000000] [--days 7] [--drift-day 5] [--drift-days 1]
                                    [--start 2026-12-01] [--seed 0] [--format jsonl|parquet] [--data-root DIR]

Each day gets the same number of records, at random times of that day, in time order, in the OpenAI-style
chat layout ``medtune monitor ingest`` reads by default (``timestamp``, ``model``, ``messages``, ``response``,
``feedback`` on about 30% of them).

Clean days: questions drawn from a fixed mix: real exam questions (MedQA-USMLE and MedMCQA without its
Pediatrics subject, from the data root when it is there) and adult patient questions made from templates
with Faker names, ages and drugs; 3% of them in Spanish; 2% of responses refuse; thumbs up on 80% of
the feedback. The drift (days ``drift_day`` .. ``drift_day + drift_days - 1``): 60% of the questions are
paediatric (MedMCQA's Pediatrics subject and parents' questions about their children), and thumbs up falls to
65%. Everything else is unchanged, so a monitor should alert on exactly those days.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ADULT = [
    "I'm {age} and have had {symptom} for {days} days. Should I be worried?",
    "My doctor prescribed {drug} {dose} mg. Can I take it with {drug2}?",
    "What are the common side effects of {drug}?",
    "I am a {age}-year-old {sex} with {condition}. What lifestyle changes help?",
    "Is {symptom} after starting {drug} a reason to stop the medication?",
    "My {relative}, aged {old}, was diagnosed with {condition}. What is the usual treatment?",
    "How long does it take for {drug} to work for {condition}?",
    "What does an HbA1c of {hba1c}% mean for someone with {condition}?",
]
PAEDIATRIC = [
    "My {months}-month-old baby has had a fever of {temp} C since yesterday. When should I see a doctor?",
    "My {kid_age}-year-old {child} has a rash and {symptom}. Could it be measles or chickenpox?",
    "What dose of paracetamol is safe for a {kid_age}-year-old child weighing {kg} kg?",
    "My newborn is {days} days old and looks yellow. Is neonatal jaundice dangerous?",
    "My toddler ({kid_age} years) keeps pulling at his ear and cries at night. Is it an ear infection?",
    "When should my {months}-month-old infant get the MMR vaccine?",
    "My {kid_age}-year-old {child} wets the bed every night. Is that normal at this age?",
    "Our {months}-month-old breastfed baby is not gaining weight. What should we check?",
]
SPANISH = [
    "Tengo {age} años y tengo {symptom_es} desde hace {days} días. ¿Debo ir al médico?",
    "¿Cuáles son los efectos secundarios de {drug}?",
    "Mi médico me recetó {drug}. ¿Puedo tomarlo con alcohol?",
]
SYMPTOMS = ["headache", "chest pain", "a dry cough", "dizziness", "back pain", "shortness of breath", "nausea",
            "joint pain", "palpitations", "fatigue", "a sore throat", "abdominal pain"]
SYMPTOMS_ES = ["dolor de cabeza", "tos seca", "mareos", "dolor de espalda", "náuseas", "fiebre"]
DRUGS = ["metformin", "lisinopril", "atorvastatin", "amlodipine", "omeprazole", "levothyroxine", "sertraline",
         "ibuprofen", "warfarin", "prednisone", "amoxicillin", "metoprolol"]
CONDITIONS = ["type 2 diabetes", "hypertension", "asthma", "COPD", "atrial fibrillation", "hypothyroidism",
              "osteoarthritis", "depression", "heart failure", "chronic kidney disease"]
OPENERS = ["Based on the information given,", "The most likely answer is that", "In short,", "Generally speaking,",
           "From what you describe,", "Clinically,"]
BODIES = ["this is usually managed with {drug} and follow-up in two weeks.",
          "the key step is to confirm the diagnosis with an examination and basic blood tests.",
          "most cases resolve on their own, but watch for warning signs such as high fever or trouble breathing.",
          "the first-line option is {drug}, adjusted to kidney function.",
          "answer {letter} is correct because it best explains the findings.",
          "you should discuss the dose with your doctor or pharmacist before changing anything."]
REFUSALS = ["I'm sorry, but I can't provide a diagnosis. Please see a clinician in person.",
            "I cannot provide dosing advice for this situation; please contact your doctor."]


def _exam_questions(data_root: Path | None) -> tuple[list[str], list[str]]:
    """(clean, paediatric) real exam questions from the data root, or two empty lists."""
    clean, paed = [], []
    if data_root is None:
        return clean, paed
    medqa, medmcqa = data_root / "medqa_usmle" / "test.jsonl", data_root / "medmcqa" / "dev.jsonl"
    if medqa.exists():
        clean += [json.loads(line)["question"] for line in medqa.open(encoding="utf-8") if line.strip()]
    if medmcqa.exists():
        for line in medmcqa.open(encoding="utf-8"):
            if line.strip():
                rec = json.loads(line)
                if rec.get("subject_name") == "Pediatrics":
                    paed.append(rec["question"])
                elif rec.get("subject_name") not in ("Dental", "Gynaecology & Obstetrics"):
                    clean.append(rec["question"])
    return clean, paed


def _fill(template: str, rng: random.Random, fake) -> str:
    return template.format(
        age=rng.randint(25, 80), old=rng.randint(55, 90), symptom=rng.choice(SYMPTOMS),
        symptom_es=rng.choice(SYMPTOMS_ES), days=rng.randint(1, 14), drug=rng.choice(DRUGS), drug2=rng.choice(DRUGS),
        dose=rng.choice([5, 10, 20, 25, 50, 100, 500]), sex=rng.choice(["man", "woman"]),
        condition=rng.choice(CONDITIONS), relative=rng.choice(["father", "mother", "uncle", "aunt"]),
        hba1c=round(rng.uniform(5.5, 10.5), 1), months=rng.randint(1, 23), temp=round(rng.uniform(37.8, 40.2), 1),
        kid_age=rng.randint(2, 11), child=rng.choice(["son", "daughter"]), kg=rng.randint(10, 40),
        letter=rng.choice("ABCD"), name=fake.first_name())


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def pools(seed: int = 0, data_root: Path | None = None, size: int = 3000) -> dict[str, list[str]]:
    """Question pools: clean (exam + adult templates), paediatric (exam + parent templates), spanish."""
    from faker import Faker

    rng = random.Random(seed)
    fake = Faker("en_US")
    fake.seed_instance(seed)
    clean_exam, paed_exam = _exam_questions(data_root)
    adult = [_fill(rng.choice(ADULT), rng, fake) for _ in range(size)]
    kids = [_fill(rng.choice(PAEDIATRIC), rng, fake) for _ in range(size)]
    return {"clean": clean_exam + adult, "paediatric": paed_exam + kids,
            "spanish": [_fill(rng.choice(SPANISH), rng, fake) for _ in range(300)]}


def records(n: int, days: int = 7, drift_day: int = 5, drift_days: int = 1, start: str = "2026-12-01",
            seed: int = 0, data_root: Path | None = None, model: str = "smollm2-dapt-lora", pii_rate: float = 0.0,
            pool_size: int = 3000):
    """Yield ``n`` records over ``days`` days (day 1 = ``start``), drift on days drift_day.. (1-based)."""
    rng = random.Random(seed)
    qs = pools(seed, data_root, pool_size)
    t0 = datetime.fromisoformat(start)
    per_day = [n // days + (1 if d < n % days else 0) for d in range(days)]
    drifted = set(range(drift_day, drift_day + drift_days)) if drift_day else set()
    for d in range(days):
        drift = (d + 1) in drifted
        secs = sorted(rng.random() * 86400 for _ in range(per_day[d]))
        for s in secs:
            r = rng.random()
            if r < 0.03:
                prompt = rng.choice(qs["spanish"])
            elif rng.random() < (0.6 if drift else 0.02):
                prompt = rng.choice(qs["paediatric"])
            else:
                prompt = rng.choice(qs["clean"])
            if rng.random() < 0.02:
                response = rng.choice(REFUSALS)
            else:
                bodies = [rng.choice(BODIES).format(drug=rng.choice(DRUGS), letter=rng.choice("ABCD"))
                          for _ in range(rng.randint(1, 4))]
                response = " ".join([rng.choice(OPENERS), bodies[0]] + [_cap(b) for b in bodies[1:]])
            if pii_rate and rng.random() < pii_rate:
                response += f" Your record MRN {rng.randint(10**7, 10**8 - 1)} shows this."
            rec = {"timestamp": (t0 + timedelta(days=d, seconds=s)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                   "model": model, "messages": [{"role": "user", "content": prompt}],
                   "response": {"role": "assistant", "content": response}}
            if rng.random() < 0.3:
                rec["feedback"] = {"thumbs": "up" if rng.random() < (0.65 if drift else 0.8) else "down"}
            yield rec


def write(path: str | Path, n: int, fmt: str = "jsonl", **kwargs) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        writer, batch = None, []
        try:
            for rec in records(n, **kwargs):
                rec = {**rec, "feedback": json.dumps(rec.get("feedback"))}  # one column type for every row
                batch.append(rec)
                if len(batch) >= 50_000:
                    table = pa.Table.from_pylist(batch)
                    writer = writer or pq.ParquetWriter(path, table.schema)
                    writer.write_table(table)
                    batch = []
            if batch or writer is None:
                table = pa.Table.from_pylist(batch)
                writer = writer or pq.ParquetWriter(path, table.schema)
                writer.write_table(table)
        finally:
            if writer is not None:
                writer.close()
        return path
    with open(path, "w", encoding="utf-8") as f:
        for rec in records(n, **kwargs):
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
    return path


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out")
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--drift-day", type=int, default=5, help="first drifted day (1-based; 0: no drift)")
    ap.add_argument("--drift-days", type=int, default=1)
    ap.add_argument("--start", default="2026-12-01")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--format", choices=["jsonl", "parquet"], default="jsonl")
    ap.add_argument("--pii-rate", type=float, default=0.0)
    ap.add_argument("--data-root", default=os.environ.get("MEDTUNE_DATA"))
    a = ap.parse_args(argv)
    root = Path(a.data_root) if a.data_root and Path(a.data_root).is_dir() else None
    out = write(a.out, a.records, a.format, days=a.days, drift_day=a.drift_day, drift_days=a.drift_days,
                start=a.start, seed=a.seed, data_root=root, pii_rate=a.pii_rate)
    print(f"{out}: {a.records} records over {a.days} days, drift on day(s) "
          f"{list(range(a.drift_day, a.drift_day + a.drift_days)) if a.drift_day else 'none'}")


if __name__ == "__main__":
    main()
