-- 009_metric_direction: each metric row carries its direction (true: higher is better), from the suite
-- type's metric declaration (harness.metrics) when the run was written. Rows written before this
-- migration keep NULL; readers fall back to the declaration.
ALTER TABLE metrics ADD COLUMN higher_is_better BOOLEAN;
