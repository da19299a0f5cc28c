-- Registry reads that run on every model shown: the newest live version of each stage (the
-- `latest_versions` of a model) is one seek here instead of a scan of the model's versions.
CREATE INDEX model_versions_live_by_stage ON model_versions (rm_id, current_stage, version) WHERE deleted = 0;

-- "Is any version of this model a prompt?" (model-version searches exclude prompts) is one seek
-- instead of a scan of the tags of every version of the model.
CREATE INDEX model_version_tags_by_key ON model_version_tags (rm_id, key, value);
