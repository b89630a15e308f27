-- 002_tuning: loss curves of tuning runs (one row per logged step), written with the variant row
-- in one transaction when training finishes. Read by the dashboard (join on variants.name).
CREATE TABLE training_curves (
    variant        VARCHAR NOT NULL,   -- variants.name of the trained variant
    step           INTEGER NOT NULL,   -- optimizer step (global_step)
    epoch          DOUBLE,             -- fractional epoch at this step
    train_loss     DOUBLE,             -- training loss averaged since the previous log (NULL on eval-only rows)
    eval_loss      DOUBLE,             -- validation loss at this step (NULL where no eval ran)
    learning_rate  DOUBLE,
    tokens_seen    BIGINT,             -- training tokens (non-padding) processed up to this step
    logged_at      TIMESTAMP,
    PRIMARY KEY (variant, step)
);
