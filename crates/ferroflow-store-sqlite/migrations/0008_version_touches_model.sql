-- A new version updates its model's last-updated time in the same statement, so registering
-- a version is a single INSERT (no transaction of its own to begin and commit).
CREATE TRIGGER model_versions_touch_model AFTER INSERT ON model_versions BEGIN
    UPDATE registered_models SET last_updated_time = new.creation_time WHERE id = new.rm_id;
END;
