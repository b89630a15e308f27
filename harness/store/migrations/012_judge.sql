-- 012_judge: rubric grading by a model judge (issue 25). judge_cache: one verdict per (judge, prompt version,
-- criterion, response), written in small transactions while a run grades, so a killed run resumes without
-- asking again; only parsed verdicts are cached (a judge_failed criterion is asked again next time).
-- judge_agreement: `medtune judge check`, a judge's agreement with human criterion-level labels.
CREATE TABLE judge_cache (
    judge_id        VARCHAR NOT NULL,  -- mock | hf:<model> | http://host:port/v1|<model> (no key, ever)
    prompt_version  VARCHAR NOT NULL,  -- harness.judge.PROMPT_VERSION
    criterion_sha   VARCHAR NOT NULL,  -- sha256 of the criterion text (and its sign)
    response_sha    VARCHAR NOT NULL,  -- sha256 of the conversation and the graded response
    met             BOOLEAN NOT NULL,
    reason          VARCHAR,
    created_at      TIMESTAMP DEFAULT current_timestamp,
    PRIMARY KEY (judge_id, prompt_version, criterion_sha, response_sha)
);

CREATE TABLE judge_agreement (
    check_id        VARCHAR PRIMARY KEY,
    judge_id        VARCHAR NOT NULL,
    prompt_version  VARCHAR NOT NULL,
    labels_path     VARCHAR,
    labels_sha256   VARCHAR,
    n               INTEGER,           -- labelled criteria with a judge verdict
    n_failed        INTEGER,           -- labelled criteria the judge failed on (judge_failed: left out)
    macro_f1        DOUBLE,
    macro_f1_low    DOUBLE,
    macro_f1_high   DOUBLE,
    kappa           DOUBLE,
    kappa_low       DOUBLE,
    kappa_high      DOUBLE,
    accuracy        DOUBLE,
    created_at      TIMESTAMP DEFAULT current_timestamp
);
