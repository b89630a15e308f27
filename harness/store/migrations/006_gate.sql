-- CI gate: one row per `medtune gate` run, one row per rule (and suite) it judged.
CREATE TABLE gate_runs (
    gate_id     VARCHAR PRIMARY KEY,
    candidate   VARCHAR NOT NULL,
    baseline    VARCHAR,
    policy      JSON,                  -- the validated policy, as run
    passed      BOOLEAN NOT NULL,
    n_failed    INTEGER,
    code_version VARCHAR,
    created_at  TIMESTAMP DEFAULT current_timestamp
);

CREATE TABLE gate_results (
    gate_id    VARCHAR NOT NULL,
    rule       VARCHAR NOT NULL,       -- min_score | max_drop | max_forgetting_index | max_contamination | max_canary_exposure
    suite      VARCHAR,                -- suite judged (NULL for variant-level rules)
    status     VARCHAR NOT NULL,       -- pass | fail | not_measured
    passed     BOOLEAN NOT NULL,       -- what the gate counted (not_measured may count either way, per policy)
    observed   DOUBLE,
    threshold  DOUBLE,
    p_value    DOUBLE,
    detail     VARCHAR                 -- one readable line: the numbers and the test used
);
