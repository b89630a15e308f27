-- Catastrophic forgetting: a variant's scores against its parent and its base, on the same items.
CREATE TABLE forgetting (
    variant         VARCHAR NOT NULL,
    reference       VARCHAR NOT NULL,     -- the parent or base variant compared against
    reference_role  VARCHAR NOT NULL,     -- parent | base
    suite           VARCHAR NOT NULL,
    family          VARCHAR,              -- general | medical_qa | perplexity ...
    metric          VARCHAR NOT NULL,     -- acc, acc_norm, word_perplexity ...
    higher_is_better BOOLEAN,
    variant_value   DOUBLE,
    reference_value DOUBLE,
    delta           DOUBLE,               -- variant - reference (in the metric's own direction)
    ci_low          DOUBLE,               -- 95% paired bootstrap CI of delta
    ci_high         DOUBLE,
    p_value         DOUBLE,
    test            VARCHAR,              -- mcnemar | paired_bootstrap
    n               INTEGER,
    variant_run     VARCHAR,
    reference_run   VARCHAR,
    computed_at     TIMESTAMP DEFAULT current_timestamp
);

CREATE TABLE forgetting_summary (
    variant           VARCHAR NOT NULL,
    reference         VARCHAR NOT NULL,
    reference_role    VARCHAR NOT NULL,   -- parent | base
    forgetting_index  DOUBLE,             -- mean drop (reference - variant) over HellaSwag, ARC-Challenge, WinoGrande
    fi_ci_low         DOUBLE,
    fi_ci_high        DOUBLE,
    fi_tasks          JSON,               -- the tasks that entered the index
    domain_gain       DOUBLE,             -- mean change (variant - reference) over the medical QA suites
    dg_ci_low         DOUBLE,
    dg_ci_high        DOUBLE,
    dg_suites         JSON,
    computed_at       TIMESTAMP DEFAULT current_timestamp
);
