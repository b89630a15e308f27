-- Core schema: variants, suites, runs, metrics, per-sample records.
CREATE TABLE variants (
    name        VARCHAR PRIMARY KEY,   -- what users type: --variant NAME
    path        VARCHAR,               -- HF directory, adapter directory or hub id
    parent      VARCHAR,               -- variant this one was tuned from (NULL for a base)
    base        VARCHAR,               -- root of the lineage
    method      VARCHAR,               -- base | dapt | lora | qlora | full | ner_head | ...
    kind        VARCHAR,               -- causal | encoder
    lineage     JSON,                  -- config, data files + sha256, seed, code version, timings
    created_at  TIMESTAMP DEFAULT current_timestamp
);

CREATE TABLE suites (
    name         VARCHAR,
    version_hash VARCHAR,              -- sha256 of the suite file(s) and its functions
    family       VARCHAR,              -- medical_qa | ner | general | perplexity | ...
    type         VARCHAR,              -- multiple_choice | perplexity | ner | ...
    spec         JSON,
    created_at   TIMESTAMP DEFAULT current_timestamp,
    PRIMARY KEY (name, version_hash)
);

CREATE TABLE runs (
    run_id        VARCHAR PRIMARY KEY,
    run_key       VARCHAR NOT NULL,    -- hash of (variant, suite version, settings): the cache key
    variant       VARCHAR NOT NULL,
    suite         VARCHAR NOT NULL,
    suite_hash    VARCHAR NOT NULL,
    engine        VARCHAR NOT NULL,    -- native | lm-eval
    settings      JSON,                -- limit, num_fewshot, seed, options, dtype, batch size...
    model         JSON,                -- ModelInfo
    code_version  VARCHAR,
    machine       JSON,
    n_samples     INTEGER,
    started_at    TIMESTAMP,
    finished_at   TIMESTAMP,
    duration_s    DOUBLE,
    samples_per_s DOUBLE
);
CREATE INDEX runs_key ON runs(run_key);

CREATE TABLE metrics (
    run_id   VARCHAR NOT NULL,
    metric   VARCHAR NOT NULL,
    value    DOUBLE,
    ci_low   DOUBLE,
    ci_high  DOUBLE,
    n        INTEGER,
    PRIMARY KEY (run_id, metric)
);

CREATE TABLE samples (
    run_id     VARCHAR NOT NULL,
    sample_idx INTEGER NOT NULL,       -- position in the suite's document order
    doc_id     VARCHAR NOT NULL,       -- stable id of the item in its source file
    target     VARCHAR,                -- gold answer (option index, label, text)
    prediction VARCHAR,                -- chosen option index / predicted label / generation
    correct    BOOLEAN,
    score      DOUBLE,                 -- the sample's primary score (1/0 for acc, F1, logprob...)
    scores     JSON,                   -- every per-sample score (acc, acc_norm, f1, ...)
    record     JSON,                   -- prompt, options, loglikelihoods, entities ... for drill-down
    PRIMARY KEY (run_id, sample_idx)
);
