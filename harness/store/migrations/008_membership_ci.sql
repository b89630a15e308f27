-- 008_membership_ci: a 95% bootstrap CI beside each membership-inference AUROC (members and
-- non-members resampled separately). Audits written before this migration keep NULL.
ALTER TABLE membership_inference ADD COLUMN ci_low DOUBLE;
ALTER TABLE membership_inference ADD COLUMN ci_high DOUBLE;
