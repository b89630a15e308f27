-- 011_monitor: `medtune monitor` (issue 26): a deployed variant's traffic, its profiles per time window,
-- drift against a reference, sampled quality and alert checks. Traffic is written one transaction per file;
-- an analysis (`monitor profile` / `monitor check`) writes its rows in one transaction at the end.
CREATE TABLE traffic_files (
    variant       VARCHAR NOT NULL,
    file_sha256   VARCHAR NOT NULL,    -- content hash of the file: ingesting it again adds nothing
    path          VARCHAR,
    format        VARCHAR,             -- jsonl | parquet
    mapping       JSON,                -- the field mapping used (NULL: the default chat layout)
    n_read        INTEGER,             -- records read (good ones)
    n_added       INTEGER,             -- records stored
    n_duplicates  INTEGER,             -- records already stored (same record hash), not stored again
    n_skipped     INTEGER,             -- bad lines skipped (--skip-bad)
    skipped       JSON,                -- the first bad lines: [{line, error}]
    ts_min        TIMESTAMP,
    ts_max        TIMESTAMP,
    ingested_at   TIMESTAMP DEFAULT current_timestamp,
    PRIMARY KEY (variant, file_sha256)
);

-- One row per served request (no primary key index: duplicates are dropped by an anti-join on record_hash
-- at ingest, which keeps the table cheap at millions of rows).
CREATE TABLE traffic (
    variant         VARCHAR NOT NULL,
    record_hash     VARCHAR NOT NULL,  -- blake2b-128 of the record's id, or of its time, model, prompt, response
    file_sha256     VARCHAR NOT NULL,  -- the traffic_files row it came from
    line            INTEGER,           -- its line (Parquet: row) in that file
    ts              TIMESTAMP NOT NULL, -- UTC
    model           VARCHAR,
    prompt          VARCHAR,
    response        VARCHAR,
    feedback        DOUBLE,            -- user feedback / label as a number (thumbs up 1, down 0), NULL if none
    prompt_chars    INTEGER,
    response_chars  INTEGER,
    prompt_words    INTEGER,
    response_words  INTEGER,
    language        VARCHAR,           -- the prompt's language (heuristic, harness/monitor/features.py)
    refusal         BOOLEAN,           -- the response holds a refusal phrase
    pii_kinds       VARCHAR,           -- PII kinds found in the response, comma-separated ('' none)
    pii_count       INTEGER,
    response_key    BIGINT,            -- hash of the normalised response (answer collapse)
    first_token     VARCHAR            -- first word of the normalised response
);

-- Embeddings of texts (prompts, responses, suite prompts), cached by text hash and encoder.
CREATE TABLE monitor_embeddings (
    text_hash  VARCHAR NOT NULL,
    encoder    VARCHAR NOT NULL,       -- minilm-l6 | hash-256 | ...
    vector     FLOAT[],
    PRIMARY KEY (text_hash, encoder)
);

-- One row per analysis: `medtune monitor profile` (policy NULL) or `medtune monitor check`.
CREATE TABLE monitor_runs (
    run_id        VARCHAR PRIMARY KEY,
    variant       VARCHAR NOT NULL,
    granularity   VARCHAR NOT NULL,    -- hour | day | week
    reference     VARCHAR,             -- suites | window:<start> | file:<path>
    settings      JSON,                -- embedder, sample sizes, seed, significance, correction
    policy        JSON,                -- the validated policy (NULL for a profile)
    passed        BOOLEAN,             -- NULL for a profile
    n_failed      INTEGER,
    code_version  VARCHAR,
    created_at    TIMESTAMP DEFAULT current_timestamp
);

-- The profile of each window (and of the reference, role = 'reference').
CREATE TABLE monitor_windows (
    run_id               VARCHAR NOT NULL,
    role                 VARCHAR NOT NULL,   -- window | reference
    window_start         TIMESTAMP,          -- NULL for a reference that is not a window
    n                    BIGINT,
    prompt_chars_mean    DOUBLE,
    prompt_chars_p50     DOUBLE,
    prompt_chars_p95     DOUBLE,
    response_chars_mean  DOUBLE,
    response_chars_p50   DOUBLE,
    response_chars_p95   DOUBLE,
    languages            JSON,               -- {language: share}
    refusal_rate         DOUBLE,
    pii_rate             DOUBLE,             -- share of responses with PII found
    pii_count            BIGINT,
    pii_kinds            JSON,               -- {kind: responses}
    top_response_share   DOUBLE,             -- share of the commonest normalised response
    top_first_token      VARCHAR,
    top_first_token_share DOUBLE,
    feedback_n           BIGINT,
    embedded             INTEGER,            -- records embedded (the seeded sample)
    prompt_embedding     JSON,               -- mean vector of the sample's prompt embeddings
    response_embedding   JSON,
    embedding_stats      JSON,               -- spread, centroid cosine to the reference, ...
    nearest_suites       JSON,               -- [{suite, cosine}] by the prompt embedding mean
    examples             JSON                -- a few prompts of the window (seeded sample)
);

-- Per window and feature: the two-sample test against the reference and its effect size.
CREATE TABLE monitor_drift (
    run_id        VARCHAR NOT NULL,
    window_start  TIMESTAMP NOT NULL,
    feature       VARCHAR NOT NULL,    -- prompt_chars | response_chars | language | first_token | *_embedding
    kind          VARCHAR,             -- numeric | categorical | embedding
    test          VARCHAR,             -- ks | chi2 | mmd
    statistic     DOUBLE,
    p_value       DOUBLE,
    p_adjusted    DOUBLE,              -- Holm or Benjamini-Hochberg over every test of the run
    effect_name   VARCHAR,             -- psi | mmd
    effect        DOUBLE,
    threshold     DOUBLE,              -- the effect a policy calls drift (default or the policy's)
    drifted       BOOLEAN,             -- p_adjusted < significance and effect >= threshold
    n_window      BIGINT,
    n_reference   BIGINT,
    PRIMARY KEY (run_id, window_start, feature)
);

-- Sampled quality per window: the grader's mean score with a 95% CI, against the pre-deployment score.
CREATE TABLE monitor_quality (
    run_id            VARCHAR NOT NULL,
    window_start      TIMESTAMP NOT NULL,
    grader            VARCHAR,         -- feedback | the rubric judge's name
    n                 INTEGER,
    value             DOUBLE,
    ci_low            DOUBLE,
    ci_high           DOUBLE,
    reference_value   DOUBLE,
    reference_n       INTEGER,         -- graded records of a reference sample (NULL: a stored pre-deployment score)
    reference_source  VARCHAR,         -- pre-deployment <suite> <metric> (run <run_id>) | reference window ...
    delta             DOUBLE,          -- value - reference_value
    delta_ci_low      DOUBLE,          -- 95% CI of delta (a reference sample's own noise included)
    delta_ci_high     DOUBLE,
    PRIMARY KEY (run_id, window_start)
);

-- `monitor check`: one row per rule and window judged (like gate_results).
CREATE TABLE monitor_alerts (
    run_id        VARCHAR NOT NULL,
    rule          VARCHAR NOT NULL,
    label         VARCHAR,
    window_start  TIMESTAMP,
    status        VARCHAR NOT NULL,    -- pass | fail | not_measured
    passed        BOOLEAN NOT NULL,
    observed      DOUBLE,
    threshold     DOUBLE,
    p_value       DOUBLE,
    detail        VARCHAR
);
