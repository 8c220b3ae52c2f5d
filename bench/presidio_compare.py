# Compare with crates/aigis-data/benches/pii.rs: python3 bench/presidio_compare.py 300
"""Presidio's regex recognizers (no spaCy model: a blank English pipeline) on the same
kind of cells as benches/pii.rs, for a throughput comparison."""
import sys, time, random
import spacy
from presidio_analyzer import AnalyzerEngine
from presidio_analyzer.nlp_engine import SpacyNlpEngine

class BlankEngine(SpacyNlpEngine):
    def __init__(self):
        self.nlp = {"en": spacy.blank("en")}
        self.models = [{"lang_code": "en", "model_name": "blank"}]
        self.ner_model_configuration = None
    def load(self): pass

eng = BlankEngine()
try:
    from presidio_analyzer.nlp_engine import NerModelConfiguration
    eng.ner_model_configuration = NerModelConfiguration()
except Exception:
    pass
analyzer = AnalyzerEngine(nlp_engine=eng, supported_languages=["en"])
ents = sys.argv[2].split(",") if len(sys.argv) > 2 else ["EMAIL_ADDRESS","PHONE_NUMBER","CREDIT_CARD","US_SSN","IBAN_CODE","IP_ADDRESS"]
random.seed(1)
words = "customer asked about the refund for order delivered late and package was damaged please call back before Friday".split()
cells = []
for i in range(int(sys.argv[1]) if len(sys.argv) > 1 else 3000):
    cells += [f"Ana Lopez", f"ana.{i%997}x@example.com", f"+1 415 555 {random.randrange(10000):04}",
              f"{random.randrange(5000)}.{random.randrange(100):02}", f"2024-{1+random.randrange(12):02}-{1+random.randrange(28):02}",
              f"ORD-{random.randrange(10**8):08}", "US", f"10.{random.randrange(256)}.{random.randrange(256)}.{1+random.randrange(254)}",
              "4111 1111 1111 1111", " ".join(random.choice(words) for _ in range(16))]
n = sum(len(c.encode()) for c in cells)
# Warm up: tldextract falls back to its bundled suffix list once it cannot fetch one.
analyzer.analyze(text="ana@example.com 10.0.0.1", entities=ents, language="en")
t = time.perf_counter()
found = 0
for c in cells:
    found += len(analyzer.analyze(text=c, entities=ents, language="en"))
dt = time.perf_counter() - t
print(f"presidio-analyzer (regex recognizers, blank spaCy): {len(cells)} cells, {n/1e6:.2f} MB in {dt:.1f} s = {n/dt/1e6:.3f} MB/s, {found} findings")
