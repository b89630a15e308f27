-- 007_robustness: giskard robustness audits (issue 8).
-- One row per `medtune audit robustness` run; the HTML report sits beside the DB.
CREATE TABLE robustness_audits (
    audit_id       VARCHAR PRIMARY KEY,
    variant        VARCHAR NOT NULL,
    suite          VARCHAR NOT NULL,
    suite_type     VARCHAR,            -- multiple_choice | ner
    metric         VARCHAR,            -- the score compared clean vs perturbed (acc, f1)
    clean_value    DOUBLE,             -- that score on the clean items
    n              INTEGER,            -- items audited
    settings       JSON,               -- limit, seed, detectors, NER mode, model info
    report_path    VARCHAR,            -- giskard HTML report (absolute path)
    giskard_issues JSON,               -- list of {detector, group, level, description, metric, deviation, slice}
    n_issues       INTEGER,            -- len(giskard_issues)
    code_version   VARCHAR,
    duration_s     DOUBLE,
    created_at     TIMESTAMP DEFAULT current_timestamp
);

-- One row per (audit, perturbation): paired clean vs perturbed score on the same items.
CREATE TABLE robustness_perturbations (
    audit_id        VARCHAR NOT NULL,
    perturbation    VARCHAR NOT NULL,  -- giskard transformation name: Transform to uppercase, Add typos, ...
    metric          VARCHAR NOT NULL,  -- acc (QA) | f1 (NER, per sentence)
    clean_value     DOUBLE,            -- score on the changed items, clean text
    perturbed_value DOUBLE,            -- score on the same items, perturbed text
    delta           DOUBLE,            -- perturbed - clean
    ci_low          DOUBLE,            -- paired bootstrap 95% CI of delta
    ci_high         DOUBLE,
    flip_rate       DOUBLE,            -- fraction of changed items whose prediction changed
    n               INTEGER,           -- items the perturbation actually changed
    p_value         DOUBLE,            -- McNemar (QA) / paired bootstrap (NER)
    flagged         BOOLEAN,           -- flip_rate above the audit threshold
    PRIMARY KEY (audit_id, perturbation)
);
