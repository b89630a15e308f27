-- 005_leakage: `medtune audit leakage` results. One leakage_audits row per audit; the other
-- tables hang off audit_id. Written in one transaction at the end of an audit.
CREATE TABLE leakage_audits (
    audit_id    VARCHAR PRIMARY KEY,
    variant     VARCHAR NOT NULL,
    created_at  TIMESTAMP DEFAULT current_timestamp,
    settings    JSON,                  -- n, jaccard threshold, num_perm, suites, data files + sha256
    summary     JSON                   -- per-suite contaminated counts, MIA AUROC, max exposure, PII hits
);

-- Train/eval contamination, one row per suite item checked.
CREATE TABLE leakage_items (
    audit_id          VARCHAR NOT NULL,
    suite             VARCHAR NOT NULL,
    doc_id            VARCHAR NOT NULL,
    ngram_overlap     DOUBLE,          -- share of the item's n-grams found in the training text
    near_dup_jaccard  DOUBLE,          -- best estimated Jaccard (MinHash) against a training text, 0 if none
    contaminated      BOOLEAN,         -- flagged by either test
    matched_source    VARCHAR,         -- training file (and line) of the best near-duplicate / first n-gram hit
    PRIMARY KEY (audit_id, suite, doc_id)
);

-- Each suite's metrics on all items and on the clean (not contaminated) subset.
CREATE TABLE leakage_clean_metrics (
    audit_id      VARCHAR NOT NULL,
    suite         VARCHAR NOT NULL,
    run_id        VARCHAR,             -- the variant's run whose samples were re-scored
    metric        VARCHAR NOT NULL,
    full_value    DOUBLE,
    full_n        INTEGER,
    clean_value   DOUBLE,
    clean_n       INTEGER,
    clean_ci_low  DOUBLE,
    clean_ci_high DOUBLE,
    PRIMARY KEY (audit_id, suite, metric)
);

-- Overlap between a suite's own splits (PubMedQA train/test, NER train/devel/test).
CREATE TABLE split_overlap (
    audit_id  VARCHAR NOT NULL,
    suite     VARCHAR NOT NULL,        -- suite or dataset name
    split_a   VARCHAR NOT NULL,
    split_b   VARCHAR NOT NULL,
    n_a       INTEGER,
    n_b       INTEGER,
    exact     INTEGER,                 -- items of split_b whose normalised text occurs in split_a
    near      INTEGER,                 -- items of split_b with a MinHash near-duplicate in split_a (exact included)
    PRIMARY KEY (audit_id, suite, split_a, split_b)
);

-- Membership inference on member (trained-on) vs non-member (held-out) texts.
CREATE TABLE membership_inference (
    audit_id      VARCHAR NOT NULL,
    method        VARCHAR NOT NULL,    -- min_k | min_k_plus_plus | loss
    auroc         DOUBLE,
    n_members     INTEGER,
    n_nonmembers  INTEGER,
    k             DOUBLE,              -- fraction of lowest-scoring tokens averaged
    members_source    VARCHAR,
    nonmembers_source VARCHAR,
    PRIMARY KEY (audit_id, method)
);

-- Planted canaries: exposure and verbatim reproduction.
CREATE TABLE canary_exposure (
    audit_id     VARCHAR NOT NULL,
    canary_id    VARCHAR NOT NULL,
    repetitions  INTEGER,
    exposure     DOUBLE,               -- log2|R| - log2 rank
    rank         INTEGER,              -- rank of the true secret among candidates (1 = most likely)
    candidates   INTEGER,              -- |R|
    reproduced   BOOLEAN,              -- greedy decoding from the prefix emits the secret
    secret_field VARCHAR,              -- mrn | phone | ...
    generation   VARCHAR,
    PRIMARY KEY (audit_id, canary_id)
);

-- PII found in generated text by the regex / known-value scan.
CREATE TABLE pii_findings (
    audit_id  VARCHAR NOT NULL,
    source    VARCHAR NOT NULL,        -- canary:<id> or the text's origin
    kind      VARCHAR NOT NULL,        -- mrn | phone | dob | name
    value     VARCHAR,
    known     BOOLEAN                  -- matches a planted canary value
);
