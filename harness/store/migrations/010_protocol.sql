-- 010_protocol: each run's scoring protocol (suites._protocol): a short hash of its fields and a short
-- label ("cloze 0-shot", "generative/letter chat 5-shot"); the full protocol is in settings->protocol.
-- Runs written before this migration keep NULL (an unknown protocol: paired like before).
ALTER TABLE runs ADD COLUMN protocol_id VARCHAR;
ALTER TABLE runs ADD COLUMN protocol VARCHAR;
